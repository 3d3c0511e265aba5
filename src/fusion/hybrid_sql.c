/*-------------------------------------------------------------------------
 *
 * hybrid_sql.c
 *	  The per-row forms of the text operators <~> and <=>, and the
 *	  retrieval.fusion_weight setting.
 *
 * Like <@> (src/bm25/bm25_sql.c), the operators need "the index on that
 * column" (its model, statistics and weight); the same planner support
 * function binds the bare form col <~> 'q' / col <=> 'q' to it through
 * retrieval.bm25_query('q', idx).  Per row, the row's text is embedded
 * with the index's model (embed_texts(), the path of retrieval.embed and
 * of the index build) and, for <=>, analyzed for BM25: the values equal
 * the index scan's (fusion_score.c computes both).  The query's embedding
 * and statistics are computed once per call site and query.
 *
 * When the query's or the row's embedding is zero (no direction), the
 * cosine similarity is taken as 0 (cosine distance 1).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "../hnsw/hnsw.h"
#include "hybrid.h"

PG_FUNCTION_INFO_V1(retrieval_text_semantic_distance);
PG_FUNCTION_INFO_V1(retrieval_text_fused_distance);

typedef struct RowQuery
{
	Oid			indexoid;
	char	   *qtext;
	int			qlen;
	bool		hybrid;
	Bm25MetaData meta;
	Bm25Query	query;
	float8		bm25max;
	float8		weight;
	const EmbedModel *model;
	char		fingerprint[68];	/* the model's sha256 */
	bool		lowercase;		/* HYBRID_DENSE_LOWERCASE */
	char		cache_key[HYBRID_CACHE_KEY_LEN];
	float	   *qvec;			/* unit length */
	bool		has_qvec;
	float	   *rowvec;			/* scratch */
} RowQuery;

typedef struct RowQueryCache
{
	MemoryContext context;		/* holds rq; reset for another query */
	RowQuery   *rq;
} RowQueryCache;

/* The query bound by the argument, prepared once per call site and query. */
static RowQuery *
row_query(FunctionCallInfo fcinfo, text *q, const char *opname)
{
	RowQueryCache *cache = (RowQueryCache *) fcinfo->flinfo->fn_extra;
	RowQuery   *rq = cache ? cache->rq : NULL;
	Oid			indexoid;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), &indexoid, &qlen);
	MemoryContext old;
	Relation	index;

	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("operator %s needs the retrieval index of its left operand", opname),
				 errdetail("The operator uses the embedding model and the corpus statistics of an index; none was found for this expression "
						   "(no retrieval index on the column, several of them, or an expression the planner could not see)."),
				 errhint("Create one with CREATE INDEX ... USING retrieval (column), "
						 "or name it: column %s retrieval.bm25_query('query', 'index_name').", opname)));
	if (rq != NULL && rq->indexoid == indexoid && rq->qlen == qlen &&
		memcmp(rq->qtext, qtext, qlen) == 0)
		return rq;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowQueryCache));
		cache->context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
											   "retrieval text operator query",
											   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	cache->rq = NULL;			/* until complete */
	MemoryContextReset(cache->context);
	old = MemoryContextSwitchTo(cache->context);
	rq = palloc0(sizeof(RowQuery));
	index = bm25_open_index(indexoid);
	bm25_meta_read(index, &rq->meta);
	rq->hybrid = rq->meta.dense_meta != 0;
	bm25_query_for_text(index, &rq->meta, qtext, qlen, &rq->query);
	rq->bm25max = fusion_bm25_max(&rq->query);
	rq->weight = fusion_weight_for(index);
	if (rq->hybrid)
	{
		EmbedModelStamp stamp;
		text	   *qt = cstring_to_text_with_len(qtext, qlen);

		hybrid_dense_stamp(index, &stamp);
		rq->model = hybrid_index_model(index, &stamp);
		strlcpy(rq->fingerprint, stamp.sha256, sizeof(rq->fingerprint));
		rq->qvec = palloc(sizeof(float) * rq->model->dims);
		rq->rowvec = palloc(sizeof(float) * rq->model->dims);
		rq->lowercase = (rq->meta.dense_flags & HYBRID_DENSE_LOWERCASE) != 0;
		hybrid_cache_key(rq->cache_key, rq->fingerprint, rq->lowercase);
		rq->has_qvec = hybrid_embed_unit(rq->model, rq->fingerprint, rq->lowercase, qt, rq->qvec);
	}
	index_close(index, AccessShareLock);
	rq->qtext = palloc(qlen + 1);
	memcpy(rq->qtext, qtext, qlen);
	rq->qlen = qlen;
	rq->indexoid = indexoid;
	cache->rq = rq;
	MemoryContextSwitchTo(old);
	return rq;
}

/* The <~> value of a row: its embedding's cosine distance to the query's. */
static float8
row_cosine_distance(RowQuery *rq, text *doc)
{
	/* a row an index scan just returned is in the row cache */
	if (!rq->has_qvec ||
		!hybrid_embed_unit(rq->model, rq->fingerprint, rq->lowercase, doc, rq->rowvec))
		return 1.0;
	return hnsw_operator_value(HNSW_METRIC_COSINE,
							   hnsw_distance(HNSW_METRIC_COSINE, rq->qvec, rq->rowvec,
											 rq->model->dims));
}

static void
require_embeddings(RowQuery *rq, const char *opname)
{
	if (!rq->hybrid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("operator %s needs an index with embeddings", opname),
				 errdetail("Index \"%s\" was built without an embedding model.",
						   get_rel_name(rq->indexoid)),
				 errhint("Create the index with a model: WITH (model = 'use-lite'), the default when the model is installed.")));
}

/* text <~> text: cosine distance between the embeddings */
Datum
retrieval_text_semantic_distance(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	RowQuery   *rq = row_query(fcinfo, PG_GETARG_TEXT_PP(1), "<~>");

	require_embeddings(rq, "<~>");
	PG_RETURN_FLOAT8(row_cosine_distance(rq, doc));
}

/* text <=> text: the fused distance (equals <@> without embeddings) */
Datum
retrieval_text_fused_distance(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	RowQuery   *rq = row_query(fcinfo, PG_GETARG_TEXT_PP(1), "<=>");
	float8		bm25 = 0.0;

	/* a row the fused scan just returned: its score is known */
	if (rq->query.bag.nterms > 0 &&
		!(rq->hybrid && hybrid_cached_row_bm25(rq->cache_key, doc, rq->indexoid, rq->qtext,
											   rq->qlen, &bm25)))
		bm25 = bm25_score_bag(&rq->query,
							  bm25_analyze(&rq->meta, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc)));
	if (!rq->hybrid)
		PG_RETURN_FLOAT8(bm25 > 0 ? -bm25 : 0.0);
	PG_RETURN_FLOAT8(fusion_distance(rq->weight, bm25, rq->bm25max,
									 (float) row_cosine_distance(rq, doc)));
}

void
hybrid_settings_init(void)
{
	DefineCustomRealVariable("retrieval.fusion_weight",
							 "Weight of normalised BM25 in the fused distance <=> of text indexes.",
							 "-1 (the default) uses each index's fusion_weight option; 0 to 1 overrides it for this session.",
							 &hybrid_fusion_weight_setting,
							 -1.0, -1.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}
