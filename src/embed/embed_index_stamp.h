/*-------------------------------------------------------------------------
 *
 * embed_index_stamp.h
 *	  Which embedding model an index depends on, recorded in the index.
 *
 * An index whose expression calls retrieval.embed(..., 'name') (or the
 * default model's retrieval.embed(text)) holds vectors computed by the
 * model registered under that name when the index was built.  If the name
 * is later unregistered and registered again with another model, the
 * index would silently mix two models.  The index therefore records the
 * model's sha256 fingerprint in its metapage (EmbedModelStamp) and refuses
 * scans and inserts when the registry's fingerprint for the name differs;
 * REINDEX records the new one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_INDEX_STAMP_H
#define RETRIEVAL_EMBED_INDEX_STAMP_H

#include "postgres.h"

#include "utils/rel.h"

/* a model was recorded (name, sha256) */
#define EMBED_STAMP_RECORDED	0x0001
/* the expression calls embed() with a model name that is not a constant */
#define EMBED_STAMP_UNKNOWN_MODEL	0x0002
/* the expression calls embed() with several models: only the first is recorded */
#define EMBED_STAMP_SEVERAL_MODELS	0x0004

/*
 * Stored in index metapages, so its size and layout are part of the
 * on-disk format.  All zero: the index depends on no model (or was
 * created before stamps existed).
 */
typedef struct EmbedModelStamp
{
	uint32		flags;			/* EMBED_STAMP_* */
	char		name[64];		/* model name, NUL-terminated */
	char		sha256[68];		/* 64 hex digits, NUL-terminated, padding */
} EmbedModelStamp;

StaticAssertDecl(sizeof(EmbedModelStamp) == 136, "EmbedModelStamp is an on-disk struct");

/* Fill *stamp for the index being built (zeroes when no embed() call). */
extern void embed_stamp_for_index(Relation index, EmbedModelStamp *stamp);

/* Fill *stamp for a model named directly (the hybrid text index's option). */
extern void embed_stamp_for_model(const char *name, EmbedModelStamp *stamp);

/* ERROR when the recorded model is no longer the one registered. */
extern void embed_stamp_check(Relation index, const EmbedModelStamp *stamp);

#endif							/* RETRIEVAL_EMBED_INDEX_STAMP_H */
