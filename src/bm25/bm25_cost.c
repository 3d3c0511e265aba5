/*-------------------------------------------------------------------------
 *
 * bm25_cost.c
 *	  amcostestimate for BM25, and the routine table of the kind.
 *
 * Cost model: without ORDER BY the index is useless (infinite cost).  A
 * top-k search reads, per query term and segment, a few dictionary pages
 * and then postings; Block-Max WAND touches a fraction of the postings
 * that shrinks as k falls.  Without the query's terms at plan time we
 * charge: startup = the dictionary lookups plus scoring about sqrt(N)
 * postings per term (2 terms assumed), and a total that streams the whole
 * index, so that with LIMIT k and a WHERE clause of selectivity s the
 * planner charges about startup + total * k / (N * s): selective filters
 * pick a filter-first plan, the others the index.  The alternative plan
 * computes the score per row, whose function cost (COST 100 in the
 * install script: one analysis of the document) makes the index win
 * unfiltered top-k queries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/selfuncs.h"

#include "bm25.h"

void
bm25_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1.0);
	double		terms = 2.0;
	double		per_posting = cpu_operator_cost * 4;

	(void) root;
	(void) loop_count;
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}
	*indexStartupCost = terms * (3 * random_page_cost + sqrt(tuples) * per_posting);
	*indexTotalCost = *indexStartupCost + tuples * (terms * per_posting + cpu_index_tuple_cost) +
		index->pages * seq_page_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}

const IndexKindRoutine bm25_routine = {
	.name = "bm25",
	.build = bm25_build,
	.buildempty = bm25_buildempty,
	.insert = bm25_insert,
	.bulkdelete = bm25_bulkdelete,
	.vacuumcleanup = bm25_vacuumcleanup,
	.costestimate = bm25_costestimate,
	.beginscan = bm25_beginscan,
	.rescan = bm25_rescan,
	.gettuple = bm25_gettuple,
	.endscan = bm25_endscan,
};
