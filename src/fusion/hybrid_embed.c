/*-------------------------------------------------------------------------
 *
 * hybrid_embed.c
 *	  The embedding model of a hybrid text index: which one a build uses,
 *	  checking that it is still the one the index was built with, and
 *	  embedding rows (batched, for the build) and queries.
 *
 * Rows and queries go through embed_texts(), the code path of
 * retrieval.embed(), so the vectors in the index are bit for bit the ones
 * the per-row operators compute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "../embed/embed_text.h"
#include "../embed/model_registry.h"
#include "../hnsw/hnsw_build.h"
#include "hybrid.h"

/* texts embedded per forward-pass batch during a build */
#define HYBRID_BUILD_BATCH	32

/*
 * The model a build of this index uses, from the option `model`, or NULL
 * for a BM25-only index.  '' (the default) means the default model when
 * it is installed; 'none' means no dense part.
 */
const char *
hybrid_model_for_build(Relation index)
{
	const char *name = retrieval_option_model(index);

	if (strcmp(name, "none") == 0)
		return NULL;
	if (name[0] == '\0')
	{
		if (embed_model_fingerprint(NULL) == NULL)
		{
			ereport(NOTICE,
					(errmsg("index \"%s\" has no embeddings: the default embedding model is not installed",
							RelationGetRelationName(index)),
					 errdetail("The index ranks by BM25 only; <~> and <=> need embeddings."),
					 errhint("Install the model (make model && make install) and REINDEX, or create the index WITH (model = 'none') to silence this notice.")));
			return NULL;
		}
		return EMBED_DEFAULT_MODEL;
	}
	/* load it now: a missing or changed model is an error before any work */
	(void) embed_model_get(name);
	return name;
}

/* The stamp of the dense part's model (block 1). */
void
hybrid_dense_stamp(Relation index, EmbedModelStamp *stamp)
{
	HnswMetaData meta;

	hnsw_meta_read(index, &meta);
	*stamp = meta.model;
}

/*
 * The model of an index's dense part, after checking it is still the one
 * the index was built with (ERROR 55000 with a REINDEX hint otherwise).
 */
const EmbedModel *
hybrid_index_model(Relation index, const EmbedModelStamp *stamp)
{
	char		name[sizeof(stamp->name)];

	if (!(stamp->flags & EMBED_STAMP_RECORDED))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has embeddings but records no model",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
	embed_stamp_check(index, stamp);
	strlcpy(name, stamp->name, sizeof(name));
	return embed_model_get(name);
}

/* Embed one query; false when the embedding has no direction (zero). */
bool
hybrid_embed_query(const EmbedModel *model, text *query, float *out)
{
	double		norm = 0.0;

	embed_texts(model, 1, &query, out);
	for (int i = 0; i < model->dims; i++)
		norm += (double) out[i] * out[i];
	return norm > 0.0;
}

/*
 * The text given to the model: with lowercase, ASCII letters lower-cased.
 * The default model's vocabulary is lower-case and its tokenizer does not
 * fold case, so upper-case text falls apart into short pieces
 * (docs/benchmarks.md, "Hybrid fusion weight").  Only ASCII: the result is
 * the same in every database (no locale), and in every server encoding an
 * ASCII byte is an ASCII character.  Returns doc itself when nothing
 * changes.
 */
text *
hybrid_embedding_input(text *doc, bool lowercase)
{
	const char *s = VARDATA_ANY(doc);
	int			len = VARSIZE_ANY_EXHDR(doc);
	text	   *copy;
	char	   *d;
	int			i;

	if (!lowercase)
		return doc;
	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			break;
	if (i == len)
		return doc;
	copy = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(copy, VARHDRSZ + len);
	d = VARDATA(copy);
	for (i = 0; i < len; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + ('a' - 'A') : s[i];
	return copy;
}

/*
 * The unit-length embedding of a text as the graph stores it (false when it
 * has no direction), through the row cache: a query embedded by the index
 * scan is not embedded again by the per-row operator of the same query,
 * and a row the scan returned is not embedded again either.  The cache is
 * keyed by the text as stored (and the model); the model sees
 * hybrid_embedding_input() of it.
 */
bool
hybrid_embed_unit(const EmbedModel *model, const char *fingerprint, bool lowercase, text *doc,
				  float *unit)
{
	char		key[HYBRID_CACHE_KEY_LEN];
	const float *cached;
	float	   *raw;
	bool		ok;

	hybrid_cache_key(key, fingerprint, lowercase);
	cached = hybrid_cached_row_embedding(key, doc);
	if (cached)
	{
		memcpy(unit, cached, sizeof(float) * model->dims);
		return true;
	}
	raw = palloc(sizeof(float) * model->dims);
	ok = hybrid_embed_query(model, hybrid_embedding_input(doc, lowercase), raw) &&
		hnsw_prepare_vector(HNSW_METRIC_COSINE, raw, unit, model->dims);
	pfree(raw);
	if (ok)
		hybrid_cache_row_embedding(key, model->dims, doc, unit);
	return ok;
}

/* ------------------------------------------------------------------------
 * The build's row source: texts in, embeddings out, in batches
 * ------------------------------------------------------------------------
 */
typedef struct EmbedSource
{
	HnswRowSource base;
	const EmbedModel *model;
	bool		lowercase;
	MemoryContext batch_context;
	int			n;
	text	   *texts[HYBRID_BUILD_BATCH];
	ItemPointerData tids[HYBRID_BUILD_BATCH];
	float	   *out;
} EmbedSource;

static void
embed_flush(EmbedSource *es, HnswBuildState *bs)
{
	MemoryContext old;

	if (es->n == 0)
		return;
	old = MemoryContextSwitchTo(es->batch_context);
	embed_texts(es->model, es->n, es->texts, es->out);
	MemoryContextSwitchTo(bs->tuple_context);
	for (int i = 0; i < es->n; i++)
	{
		hnsw_build_add_vector(bs, &es->tids[i], es->out + (Size) i * es->model->dims,
							  es->model->dims);
		MemoryContextReset(bs->tuple_context);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(es->batch_context);
	es->n = 0;
}

static void
embed_add(HnswRowSource *src, HnswBuildState *bs, ItemPointer tid, Datum value)
{
	EmbedSource *es = (EmbedSource *) src;
	MemoryContext old = MemoryContextSwitchTo(es->batch_context);

	es->texts[es->n] = hybrid_embedding_input((text *) PG_DETOAST_DATUM_COPY(value), es->lowercase);
	es->tids[es->n++] = *tid;
	MemoryContextSwitchTo(old);
	if (es->n == HYBRID_BUILD_BATCH)
		embed_flush(es, bs);
}

static void
embed_finish(HnswRowSource *src, HnswBuildState *bs)
{
	embed_flush((EmbedSource *) src, bs);
}

/*
 * The rows of a hybrid text index for the HNSW build (leader and parallel
 * workers alike): each resolves the model from the index's options, which
 * name the same model in every participant.
 */
HnswRowSource *
hybrid_embed_source(Relation index)
{
	EmbedSource *es = palloc0(sizeof(EmbedSource));
	const char *name = hybrid_model_for_build(index);

	if (name == NULL)
		elog(ERROR, "index \"%s\" has no embedding model", RelationGetRelationName(index));
	es->model = embed_model_get(name);
	es->lowercase = retrieval_option_embed_lowercase(index);
	es->base.dims = es->model->dims;
	es->base.add = embed_add;
	es->base.finish = embed_finish;
	es->batch_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid embed batch",
											  ALLOCSET_DEFAULT_SIZES);
	es->out = palloc(sizeof(float) * HYBRID_BUILD_BATCH * es->model->dims);
	return &es->base;
}

/* ------------------------------------------------------------------------
 * Embeddings of the rows an index scan just returned
 * ------------------------------------------------------------------------
 *
 * PostgreSQL evaluates the ORDER BY expression again for every row an
 * index scan returns (it is a column of the target list), so a query
 * ORDER BY body <~> 'q' LIMIT 10 would embed each returned row once more
 * per row: ten forward passes, more than the whole index scan.  The scan
 * therefore leaves each returned row's text with its embedding (the unit
 * vector stored in its element, which is bit for bit what the per-row
 * operator computes) in this small per-backend cache, and the operator
 * looks its text up before embedding.  Queries go through the same cache
 * (the scan and the operator of one query embed it once).  Texts are
 * compared byte for byte: a hit is always the same text.
 */
#define ROW_CACHE_SIZE		64
#define ROW_CACHE_MAX_TEXT	(64 * 1024)

typedef struct RowEmbedding
{
	bool		used;
	char		model[HYBRID_CACHE_KEY_LEN];	/* hybrid_cache_key(): not a pointer, which can be reused */
	uint32		hash;
	int			len;
	char	   *text;
	float	   *vec;
	/* the row's BM25 score for one query of one index, if known */
	Oid			bm25_index;		/* InvalidOid: none */
	char	   *bm25_query;
	int			bm25_qlen;
	float8		bm25;
} RowEmbedding;

static RowEmbedding row_cache[ROW_CACHE_SIZE];

/*
 * What the cache is keyed by besides the text: the model's sha256 and how
 * the text was prepared for it.
 */
void
hybrid_cache_key(char *key, const char *fingerprint, bool lowercase)
{
	snprintf(key, HYBRID_CACHE_KEY_LEN, "%.64s%s", fingerprint, lowercase ? "+lc" : "");
}
static int	row_cache_next = 0;
static MemoryContext row_cache_context = NULL;

static RowEmbedding *
row_cache_find(const char *key, text *doc)
{
	int			len = VARSIZE_ANY_EXHDR(doc);
	uint32		hash;

	if (len > ROW_CACHE_MAX_TEXT || row_cache_context == NULL)
		return NULL;
	hash = hash_bytes((const unsigned char *) VARDATA_ANY(doc), len);
	for (int i = 0; i < ROW_CACHE_SIZE; i++)
	{
		RowEmbedding *e = &row_cache[i];

		if (e->used && e->hash == hash && e->len == len && strcmp(e->model, key) == 0 &&
			memcmp(e->text, VARDATA_ANY(doc), len) == 0)
			return e;
	}
	return NULL;
}

/* The cached unit embedding of this text by this model, or NULL. */
const float *
hybrid_cached_row_embedding(const char *key, text *doc)
{
	RowEmbedding *e = row_cache_find(key, doc);

	return e ? e->vec : NULL;
}

/*
 * The BM25 score of a cached row for a query of an index, as the fused
 * scan computed it (the per-row <=> then skips analyzing the row).
 */
void
hybrid_cache_row_bm25(const char *key, text *doc, Oid indexoid, const char *query,
					  int qlen, float8 bm25)
{
	RowEmbedding *e = row_cache_find(key, doc);

	if (e == NULL || qlen > 1024)
		return;
	if (e->bm25_query)
		pfree(e->bm25_query);
	e->bm25_index = InvalidOid;
	e->bm25_query = MemoryContextAlloc(row_cache_context, Max(qlen, 1));
	memcpy(e->bm25_query, query, qlen);
	e->bm25_qlen = qlen;
	e->bm25 = bm25;
	e->bm25_index = indexoid;
}

bool
hybrid_cached_row_bm25(const char *key, text *doc, Oid indexoid, const char *query,
					   int qlen, float8 *bm25)
{
	RowEmbedding *e = row_cache_find(key, doc);

	if (e == NULL || e->bm25_index != indexoid || e->bm25_qlen != qlen ||
		memcmp(e->bm25_query, query, qlen) != 0)
		return false;
	*bm25 = e->bm25;
	return true;
}

/* Remember the unit embedding of a row's text (a copy of both). */
void
hybrid_cache_row_embedding(const char *key, int dims, text *doc, const float *unit)
{
	int			len = VARSIZE_ANY_EXHDR(doc);
	RowEmbedding *e;

	if (len > ROW_CACHE_MAX_TEXT)
		return;
	if (row_cache_context == NULL)
		row_cache_context = AllocSetContextCreate(TopMemoryContext, "retrieval row embeddings",
												  ALLOCSET_DEFAULT_SIZES);
	e = &row_cache[row_cache_next];
	row_cache_next = (row_cache_next + 1) % ROW_CACHE_SIZE;
	if (e->text)
		pfree(e->text);
	if (e->vec)
		pfree(e->vec);
	if (e->bm25_query)
		pfree(e->bm25_query);
	e->text = NULL;
	e->vec = NULL;
	e->bm25_query = NULL;
	e->bm25_index = InvalidOid;
	e->used = false;			/* until complete */
	e->text = MemoryContextAlloc(row_cache_context, Max(len, 1));
	memcpy(e->text, VARDATA_ANY(doc), len);
	e->vec = MemoryContextAlloc(row_cache_context, sizeof(float) * dims);
	memcpy(e->vec, unit, sizeof(float) * dims);
	e->len = len;
	e->hash = hash_bytes((const unsigned char *) VARDATA_ANY(doc), len);
	strlcpy(e->model, key, sizeof(e->model));
	e->used = true;
}
