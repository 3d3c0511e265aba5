/*-------------------------------------------------------------------------
 *
 * embed_model.h
 *	  What the SQL layer needs from any loaded embedding model, whatever its
 *	  kind (USE-lite file, BERT-family encoder, static embedding table).
 *
 * Each kind fills an EmbedModel with its dimensions, its limit and three
 * operations; embed_sql.c does the text conversion and batching once for
 * all kinds, and model_registry.c the naming, fingerprinting and caching.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_MODEL_H
#define RETRIEVAL_EMBED_MODEL_H

#include "postgres.h"

#include "utils/jsonb.h"

#define EMBED_KIND_USE_LITE	"use-lite"
#define EMBED_KIND_BERT		"bert"
#define EMBED_KIND_STATIC	"static"

typedef struct EmbedModel EmbedModel;

struct EmbedModel
{
	const char *kind;			/* EMBED_KIND_* */
	int			dims;			/* output dimensions */
	int			max_tokens;		/* longest sequence the network is fed */
	int			pass_rows;		/* bound on the tokens of one forward pass */
	void	   *impl;			/* the kind's own state */

	/*
	 * The ids the network is fed for a UTF-8 text (truncated to max_tokens,
	 * special tokens included), palloc'd; with all, the whole tokenization
	 * instead (retrieval.model_tokens).
	 */
	int32	   *(*tokens) (const EmbedModel *m, const char *utf8, int len, bool all, int *count);

	/*
	 * Embed nseq id sequences (from tokens(), all = false) into
	 * out[nseq][dims].  The caller keeps the sum of lens within pass_rows
	 * (or passes a single sequence).
	 */
	void		(*forward) (const EmbedModel *m, int nseq, const int32 *const *ids,
							const int *lens, float *out);

	/* Release what is not memory of the model's context (mappings). */
	void		(*unload) (EmbedModel *m);
};

/*
 * Loaders: bind everything in CurrentMemoryContext (the model's own),
 * ERROR on any problem after releasing what they mapped.  path is the
 * file (use-lite) or the directory (bert, static); fingerprint, when known
 * (verified), keys caches derived from the files.
 */
extern void embed_use_lite_open(EmbedModel *m, const char *path, const char *missing_hint);
extern void bert_model_open(EmbedModel *m, const char *dir, JsonbContainer *config,
							const char *fingerprint);
extern void static_model_open(EmbedModel *m, const char *dir, JsonbContainer *config);

#endif							/* RETRIEVAL_EMBED_MODEL_H */
