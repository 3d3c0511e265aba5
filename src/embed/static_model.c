/*-------------------------------------------------------------------------
 *
 * static_model.c
 *	  Static embedding models (Model2Vec-like): a token-to-vector table
 *	  (model.safetensors, one [vocab][dims] tensor, "embeddings" when there
 *	  are several) and a WordPiece tokenizer.json; the embedding of a text
 *	  is the mean of its tokens' vectors, optionally L2-normalised
 *	  (config.json "normalize").
 *
 * As Model2Vec does: no special tokens, unknown-token ids dropped, at most
 * 512 tokens (after the tokenizer's own truncation, if any), and a text
 * without tokens embeds as the zero vector.  The table stays in the shared
 * read-only mapping when stored as aligned F32; nothing else is private
 * but the tokenizer's vocabulary index.
 *
 * XXX: Model2Vec first cuts a long text to max_length times the median
 * token length in characters, a speed heuristic that can change which
 * tokens are kept; we keep the first 512 tokens exactly instead.
 * XXX: without truncation in tokenizer.json, a long text is tokenized in
 * full before the unknown ids are dropped (linear in its length).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "embed_json.h"
#include "embed_model.h"
#include "safetensors.h"
#include "wordpiece_tokenizer.h"

#define STATIC_MAX_TOKENS 512

typedef struct StaticModel
{
	SafeTensors st;
	WordPieceTokenizer tok;
	const float *table;			/* [rows][dims] */
	int			rows;
	bool		normalize;
} StaticModel;

static int32 *
static_tokens(const EmbedModel *m, const char *utf8, int len, bool all, int *count)
{
	const StaticModel *sm = m->impl;
	int			n,
				k = 0;
	int32	   *ids = wordpiece_tokenize(&sm->tok, utf8, len, sm->tok.truncation, &n);

	for (int i = 0; i < n; i++)
		if (ids[i] != sm->tok.unk_id)
			ids[k++] = ids[i];
	if (!all && k > m->max_tokens)
		k = m->max_tokens;
	*count = k;
	return ids;
}

static void
static_forward(const EmbedModel *m, int nseq, const int32 *const *ids,
			   const int *lens, float *out)
{
	const StaticModel *sm = m->impl;
	int			d = m->dims;
	double	   *acc = palloc(d * sizeof(double));

	for (int s = 0; s < nseq; s++)
	{
		float	   *o = out + (size_t) s * d;
		double		norm = 0;

		CHECK_FOR_INTERRUPTS();
		memset(acc, 0, d * sizeof(double));
		for (int p = 0; p < lens[s]; p++)
		{
			const float *e;

			if (ids[s][p] < 0 || ids[s][p] >= sm->rows)
				elog(ERROR, "token id %d out of range", ids[s][p]);
			e = sm->table + (size_t) ids[s][p] * d;
			for (int i = 0; i < d; i++)
				acc[i] += e[i];
		}
		for (int i = 0; i < d; i++)
		{
			o[i] = lens[s] > 0 ? (float) (acc[i] / lens[s]) : 0.0f;
			norm += (double) o[i] * o[i];
		}
		if (sm->normalize && norm > 0)
		{
			norm = Max(sqrt(norm), 1e-12);
			for (int i = 0; i < d; i++)
				o[i] = (float) (o[i] / norm);
		}
	}
	pfree(acc);
}

static void
static_unload(EmbedModel *m)
{
	StaticModel *sm = m->impl;

	if (sm)
		safetensors_close(&sm->st);
}

void
static_model_open(EmbedModel *m, const char *dir, JsonbContainer *cfg)
{
	StaticModel *sm = palloc0(sizeof(StaticModel));
	char	   *tpath = psprintf("%s/tokenizer.json", dir);
	char	   *wpath = psprintf("%s/model.safetensors", dir);
	const StTensor *t;

	sm->normalize = cfg ? embed_json_bool_opt(cfg, "normalize", false, psprintf("%s/config.json", dir)) : false;
	{
		/* the parsed file is garbage once the tokenizer is built */
		MemoryContext scratch = embed_json_scratch();
		MemoryContext old = MemoryContextSwitchTo(scratch);
		JsonbContainer *tj = embed_json_read_file(tpath, true);

		MemoryContextSwitchTo(old);
		wordpiece_load(&sm->tok, tj, tpath);
		MemoryContextDelete(scratch);
	}

	safetensors_open(&sm->st, wpath);
	PG_TRY();
	{
		t = safetensors_find(&sm->st, "embeddings");
		if (t == NULL && sm->st.ntensors == 1)
			t = &sm->st.tensors[0];
		if (t == NULL)
			embed_json_invalid(wpath, "no \"embeddings\" tensor");
		if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > 16000 ||
			t->shape[0] > 16000000)
			embed_json_invalid(wpath, "the embedding table is not a [vocab, dims] matrix of at most 16000 dimensions");
		if (sm->tok.vocab_size > t->shape[0])
			embed_json_invalid(tpath, "the tokenizer has more ids than the embedding table has rows");
		sm->rows = (int) t->shape[0];
		sm->table = safetensors_f32(t);
	}
	PG_CATCH();
	{
		safetensors_close(&sm->st);
		PG_RE_THROW();
	}
	PG_END_TRY();

	m->kind = EMBED_KIND_STATIC;
	m->dims = (int) t->shape[1];
	m->max_tokens = STATIC_MAX_TOKENS;
	m->pass_rows = 4096;
	m->impl = sm;
	m->tokens = static_tokens;
	m->forward = static_forward;
	m->unload = static_unload;
}
