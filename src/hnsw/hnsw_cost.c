/*-------------------------------------------------------------------------
 *
 * hnsw_cost.c
 *	  amcostestimate for HNSW.
 *
 * Cost model: finding the first ef_search results costs about ef_search
 * node expansions (each one neighbour-list read and up to 2m distance
 * computations); that is the startup cost.  Streaming every row would
 * cost one expansion per element, so the total cost is that of the whole
 * graph.  With LIMIT k and a WHERE clause of selectivity s, the planner
 * charges startup + total * k / (rows * s): the cost rises as the filter
 * gets more selective, so a very selective filter makes an exact plan
 * (filter first, then sort) cheaper, while unfiltered or mildly filtered
 * LIMIT queries use the index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
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
	double		first_batch;
	double		random_page_cost;

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
		index_close(rel, NoLock);
	}
	if (dims < 1)
		dims = 128;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	get_tablespace_page_costs(index->reltablespace, &random_page_cost, NULL);

	/* one node expansion: a neighbour list plus up to 2m distances */
	per_node = 2 * m * (cpu_operator_cost * (1.0 + dims / 32.0)) + cpu_index_tuple_cost;
	/* pages are mostly cached after the first queries: charge a fraction */
	per_node += random_page_cost * Min(1.0, (double) index->pages / tuples) * 0.1;

	first_batch = Min((double) hnsw_ef_search, tuples) +
		log(tuples) / log((double) m) * m;	/* upper-layer descent */

	*indexStartupCost = first_batch * per_node;
	*indexTotalCost = *indexStartupCost + tuples * per_node;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}
