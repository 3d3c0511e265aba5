/*-------------------------------------------------------------------------
 *
 * hybrid.h
 *	  The hybrid text index: BM25 and embeddings in one index, and the
 *	  operators that rank by either or by both.
 *
 * Design notes
 * ------------
 * A retrieval index on a text column (operator class text_bm25_ops) is a
 * BM25 index (src/bm25/).  With a model (option `model`; by default the
 * default model when it is installed, else none) it also has a DENSE PART
 * in the same relation: an HNSW graph (src/hnsw/, unchanged algorithms and
 * page formats) over the embeddings of the indexed text.
 *
 *	block 0		BM25 metapage; dense_meta = 1
 *	block 1		HNSW metapage of the dense part (dims = the model's, cosine,
 *				the model's name and sha256 in its EmbedModelStamp)
 *	others		HNSW pages (page type 2) and BM25 pages (page type 3),
 *				interleaved as each part extends the relation; each part
 *				only ever reads, reuses or frees pages of its own type
 *
 * Keys.  Every row has one element in the graph (its embedding, kept as
 * float4 in the element: embeddings are in no heap row) and, if its text
 * has terms, one BM25 document.  The BM25 document's "TID" is the TID of
 * the row's ELEMENT, not the heap TID: a document found by BM25 then
 * reaches its embedding with one page read, and the element gives the
 * heap TID.  A candidate found by the graph gets its BM25 score by
 * analyzing the row's text (fetched from the heap with the scan's
 * snapshot), exactly as the per-row operator computes it.
 *
 * Operators on text (all three in text_bm25_ops, ORDER BY only):
 *	<@>		negated BM25 score (src/bm25/)
 *	<~>		cosine distance 1 - cos(embed(row), embed(query))
 *	<=>		fused distance 1 - (w * bm25 / bm25max(q) + (1 - w) * cos),
 *			where bm25max(q) = (k1 + 1) * sum of count * idf over the
 *			query's terms that occur in the corpus (the score's supremum,
 *			tf -> infinity), so the BM25 part is in [0, 1]; w is the index's
 *			fusion_weight unless retrieval.fusion_weight overrides it.
 *			Without a dense part, <=> equals <@>.
 * Every value is computable for one row from the row, the query and the
 * index's statistics (fusion_score.c), so a sequential scan plus sort
 * returns what the index scan returns, up to the graph's approximation.
 *
 * The fused scan (hybrid_scan.c) is Fagin's threshold algorithm over two
 * streams: BM25 in score order (bm25_stream.c) and the graph in distance
 * order (HNSW rounds).  Each candidate is scored exactly; the best one is
 * returned once no unseen row can beat it: an unseen row has at most the
 * last BM25 score and the last cosine seen in each stream, so the
 * threshold is w * bm25_last / bm25max + (1 - w) * cos_last.  Filters
 * only make the scan read deeper.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_HYBRID_H
#define RETRIEVAL_HYBRID_H

#include "postgres.h"

#include "access/amapi.h"
#include "fmgr.h"
#include "utils/relcache.h"

#include "../bm25/bm25.h"
#include "../embed/embed_index_stamp.h"
#include "../embed/embed_model.h"

/* Bm25MetaData.dense_flags */
#define HYBRID_DENSE_LOWERCASE	0x0001	/* ASCII lower-cased before embedding */

/* Strategy numbers of the text operator class. */
#define HYBRID_STRATEGY_BM25		1	/* <@> */
#define HYBRID_STRATEGY_SEMANTIC	2	/* <~> */
#define HYBRID_STRATEGY_FUSED		3	/* <=> */

/* retrieval.fusion_weight: < 0 means "the index's own weight" */
extern double hybrid_fusion_weight_setting;

/* hybrid_sql.c */
extern void hybrid_settings_init(void);

/* hybrid_embed.c: models */
extern const char *hybrid_model_for_build(Relation index);
extern void hybrid_dense_stamp(Relation index, EmbedModelStamp *stamp);
extern const EmbedModel *hybrid_index_model(Relation index, const EmbedModelStamp *stamp);
extern bool hybrid_embed_query(const EmbedModel *model, text *query, float *out);
/* the row cache is keyed by the model's sha256 and the text preparation */
#define HYBRID_CACHE_KEY_LEN	72
extern void hybrid_cache_key(char *key, const char *fingerprint, bool lowercase);
extern text *hybrid_embedding_input(text *doc, bool lowercase);
extern bool hybrid_embed_unit(const EmbedModel *model, const char *fingerprint, bool lowercase,
							  text *doc, float *unit);
extern const float *hybrid_cached_row_embedding(const char *key, text *doc);
extern void hybrid_cache_row_embedding(const char *key, int dims, text *doc, const float *unit);
extern void hybrid_cache_row_bm25(const char *key, text *doc, Oid indexoid,
								  const char *query, int qlen, float8 bm25);
extern bool hybrid_cached_row_bm25(const char *key, text *doc, Oid indexoid,
								   const char *query, int qlen, float8 *bm25);

/* hybrid_build.c */
extern IndexBuildResult *hybrid_build(Relation heap, Relation index, IndexInfo *indexInfo,
									  const char *model);
extern void hybrid_buildempty(Relation index, const char *model);

/* text_am.c */
extern bool text_index_is_hybrid(Relation index);

/* hybrid_vacuum.c */
extern IndexBulkDeleteResult *hybrid_bulkdelete(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats,
												IndexBulkDeleteCallback callback,
												void *callback_state);
extern IndexBulkDeleteResult *hybrid_vacuumcleanup(IndexVacuumInfo *info,
												   IndexBulkDeleteResult *stats);

/* hybrid_scan.c */
extern IndexScanDesc hybrid_beginscan(Relation index, int nkeys, int norderbys);
extern void hybrid_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						  int norderbys);
extern bool hybrid_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void hybrid_endscan(IndexScanDesc scan);
extern void hybrid_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
								Cost *indexStartupCost, Cost *indexTotalCost,
								Selectivity *indexSelectivity, double *indexCorrelation,
								double *indexPages);

/* fusion_score.c: the one place the fused value is computed */
extern float8 fusion_bm25_max(const Bm25Query *q);
extern float8 fusion_distance(float8 weight, float8 bm25, float8 bm25max, float cosine_distance);
extern float8 fusion_weight_for(Relation index);

#endif							/* RETRIEVAL_HYBRID_H */
