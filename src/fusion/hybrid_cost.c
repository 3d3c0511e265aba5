/*-------------------------------------------------------------------------
 *
 * hybrid_cost.c
 *	  amcostestimate of text indexes, per ORDER BY operator.
 *
 * <@> costs what a BM25 scan costs (bm25_cost.c).  <~> and <=> need the
 * dense part: on a BM25-only index they cost infinity, so the planner
 * never picks the index and the per-row operator reports the problem.  On
 * a hybrid index: embedding the query (the per-row functions' COST, one
 * forward pass), the graph's cost as for an HNSW index (a visited node:
 * two cached page accesses and a distance; about m/2 visits per row and
 * ef_search * m/2 for the first round), and for <=> the BM25 part plus,
 * per graph candidate, fetching the heap row and analyzing it (the <@>
 * function's COST).  Like the HNSW and BM25 kinds, the total is the cost
 * of streaming every row, so with LIMIT k and a selective filter the
 * planner prefers a filter-first plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "catalog/pg_opfamily.h"
#include "nodes/pathnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

#include "../hnsw/hnsw.h"
#include "../ngram/ngram.h"
#include "hybrid.h"

/*
 * COST of the per-row embedding operators in the install script: one
 * forward pass of the default model takes 3 to 12 ms here, about a
 * thousand times a visited graph node (which the HNSW cost model charges
 * about 2 units), so a filter-first plan that embeds every qualifying row
 * is chosen only when very few rows qualify (measured: at 1% of 20,000
 * rows, sorting the 200 rows by the per-row operator took 5 s against
 * 0.2 s for the index scan).
 */
#define EMBED_FUNCTION_COST		400000.0
/* COST of the per-row BM25 operator (one analysis) */
#define ANALYZE_FUNCTION_COST	100.0

static int
orderby_strategy(IndexPath *path)
{
	Expr	   *clause = (Expr *) linitial(path->indexorderbys);
	int			strategy;
	Oid			lefttype;
	Oid			righttype;

	if (!IsA(clause, OpExpr))
		return 0;
	/* an ORDER BY operator (amoppurpose 'o') */
	get_op_opfamily_properties(((OpExpr *) clause)->opno, path->indexinfo->opfamily[0], true,
							   &strategy, &lefttype, &righttype);
	return strategy;
}

void
hybrid_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					Cost *indexStartupCost, Cost *indexTotalCost,
					Selectivity *indexSelectivity, double *indexCorrelation,
					double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1.0);
	int			strategy;
	bool		hybrid;
	int			dims = 512;
	int			m;
	double		per_node;
	double		per_row;
	double		first_round;
	Cost		lexical_startup = 0;
	Cost		lexical_total = 0;

	bm25_costestimate(root, path, loop_count, indexStartupCost, indexTotalCost,
					  indexSelectivity, indexCorrelation, indexPages);
	if (path->indexorderbys == NIL)
		return;
	strategy = orderby_strategy(path);
	if (strategy == HYBRID_STRATEGY_BM25)
		return;
	if (strategy == TEXT_STRATEGY_SEAL)
	{
		Relation	rel = index_open(index->indexoid, NoLock);
		bool		has_ngrams = BlockNumberIsValid(ngram_part_of(rel));

		index_close(rel, NoLock);
		if (has_ngrams)
			seal_costestimate(root, path, loop_count, indexStartupCost, indexTotalCost,
							  indexSelectivity, indexCorrelation, indexPages);
		else
		{
			*indexStartupCost = get_float8_infinity();
			*indexTotalCost = get_float8_infinity();
		}
		return;
	}
	lexical_startup = *indexStartupCost;
	lexical_total = *indexTotalCost - *indexStartupCost;

	{
		Relation	rel = index_open(index->indexoid, NoLock);

		hybrid = text_index_is_hybrid(rel);
		if (hybrid)
		{
			HnswMetaData meta;

			hnsw_meta_read(rel, &meta);
			dims = (int) meta.dims;
			m = meta.m;
		}
		else
			m = retrieval_option_m(rel);
		index_close(rel, NoLock);
	}
	if (!hybrid)
	{
		/* <=> equals <@> there (the BM25 scan serves it); <~> cannot be served */
		if (strategy != HYBRID_STRATEGY_FUSED)
		{
			*indexStartupCost = get_float8_infinity();
			*indexTotalCost = get_float8_infinity();
		}
		return;
	}

	per_node = 2.0 * seq_page_cost + cpu_operator_cost * (1.0 + dims / 32.0) + cpu_index_tuple_cost;
	per_row = Max(1.0, m / 2.0) * per_node;
	first_round = (Min((double) hnsw_ef_search, tuples) * Max(1.0, m / 2.0) +
				   log(tuples) / log((double) Max(m, 2)) * m) * per_node;

	*indexStartupCost = EMBED_FUNCTION_COST * cpu_operator_cost + first_round;
	*indexTotalCost = *indexStartupCost + tuples * per_row;
	if (strategy == HYBRID_STRATEGY_FUSED)
	{
		double		per_candidate = seq_page_cost + cpu_tuple_cost +
			ANALYZE_FUNCTION_COST * cpu_operator_cost;

		*indexStartupCost += lexical_startup +
			Min((double) hnsw_ef_search, tuples) * per_candidate;
		*indexTotalCost += lexical_startup + lexical_total + tuples * per_candidate;
	}
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}
