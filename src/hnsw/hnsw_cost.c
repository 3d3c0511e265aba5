/*-------------------------------------------------------------------------
 *
 * hnsw_cost.c
 *	  amcostestimate for HNSW.
 *
 * Cost model: finding the first ef_search results visits about
 * ef_search * m / 2 nodes (a buffer access and a distance each); that is
 * the startup cost.  Each further row streamed costs about m / 2 visits,
 * so the total cost is that of streaming the whole graph.  With LIMIT k and a WHERE clause of selectivity s, the planner
 * charges startup + total * k / (rows * s): the cost rises as the filter
 * gets more selective, so a very selective filter makes an exact plan
 * (filter first, then sort) cheaper, while unfiltered or mildly filtered
 * LIMIT queries use the index.
 *
 * Quantized indexes (sq8, binary) re-rank every round's ef_search
 * candidates with exact distances from the heap row (hnsw_scan.c): one heap
 * fetch per returned row, plus the TOAST chunks of a vector stored out of
 * line; an expression index re-reads the vector kept in the index page
 * instead.  That is charged per row on top of the graph walk, and the first
 * round's ef_search fetches in the startup cost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heaptoast.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"

#include "hnsw.h"

void
hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	double		tuples = Max(index->tuples, 1.0);
	int			dims = 0;
	int			m = RETRIEVAL_DEFAULT_M;
	double		per_node;
	double		per_row;
	double		first_batch;
	double		random_page_cost;
	double		per_rerank = 0.0;
	QuantKind	quant;
	bool		vectors_in_index;

	/* without ORDER BY an HNSW index is useless: make sure it is not used */
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	{
		Relation	rel = index_open(index->indexoid, NoLock);

		m = retrieval_option_m(rel);
		dims = TupleDescAttr(RelationGetDescr(rel), 0)->atttypmod;
		/* as the build decides it (no metapage read while planning) */
		{
			bool		ok;

			quant = quant_kind_from_name(retrieval_option_quantization(rel), &ok);
			if (!ok)
				quant = QUANT_NONE;
		}
		vectors_in_index = rel->rd_index->indkey.values[0] == 0;
		index_close(rel, NoLock);
	}
	if (dims < 1)
		dims = 128;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	get_tablespace_page_costs(index->reltablespace, &random_page_cost, NULL);

	/*
	 * One visited node costs a buffer access (charged like a cached page:
	 * measured, it costs about as much as the planner's seq_page_cost unit
	 * on this kind of machine) plus a distance computation.  A search
	 * visits about m/2 nodes per row it returns (measured: GloVe-200k,
	 * m = 16, ~9 nodes per streamed row, ~8 * ef_search for the first
	 * batch).
	 */
	per_node = 2.0 * seq_page_cost + cpu_operator_cost * (1.0 + dims / 32.0) + cpu_index_tuple_cost;
	per_row = Max(1.0, m / 2.0) * per_node;
	first_batch = Min((double) hnsw_ef_search, tuples) * Max(1.0, m / 2.0) +
		log(tuples) / log((double) m) * m;	/* upper-layer descent */

	/*
	 * Re-ranking, per candidate: one page access (the heap row, or the
	 * element's index page for an expression index), the exact distance,
	 * and for a heap row its visibility check and, when the vector is too
	 * large to stay in the row (storage EXTERNAL beyond the toast
	 * threshold), a TOAST index descent and the chunk pages.
	 */
	if (quant != QUANT_NONE)
	{
		double		vector_bytes = 8.0 + 4.0 * dims;

		per_rerank = seq_page_cost + cpu_operator_cost * (1.0 + dims / 32.0);
		if (!vectors_in_index)
		{
			per_rerank += cpu_tuple_cost;
			if (vector_bytes > TOAST_TUPLE_THRESHOLD)
				per_rerank += seq_page_cost *
					(2.0 + ceil(vector_bytes / TOAST_MAX_CHUNK_SIZE)) +
					cpu_tuple_cost * ceil(vector_bytes / TOAST_MAX_CHUNK_SIZE);
		}
	}

	(void) random_page_cost;
	*indexStartupCost = first_batch * per_node +
		Min((double) hnsw_ef_search, tuples) * per_rerank;
	*indexTotalCost = *indexStartupCost + tuples * (per_row + per_rerank);
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}
