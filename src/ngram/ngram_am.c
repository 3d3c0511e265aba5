/*-------------------------------------------------------------------------
 *
 * ngram_am.c
 *	  The index kind of int4[] columns with operator class ngram_ops: an
 *	  n-gram part in token mode rooted at block 0, and nothing else.  It is
 *	  queried through the retrieval.ngram_* and seal_search functions; it
 *	  has no operators, so the planner never scans it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "catalog/index.h"
#include "utils/float.h"

#include "ngram.h"

static IndexBuildResult *
ngram_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc0(sizeof(IndexBuildResult));
	double		nrows;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	(void) ngram_part_build(heap, index, indexInfo, NGRAM_MODE_TOKENS, 0, &nrows);
	result->heap_tuples = nrows;
	result->index_tuples = nrows;
	return result;
}

static void
ngram_buildempty(Relation index)
{
	(void) ngram_part_buildempty(index, NGRAM_MODE_TOKENS);
}

static bool
ngram_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
			 IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
			 bool indexUnchanged,
#endif
			 IndexInfo *indexInfo)
{
	(void) heap;
	(void) checkUnique;
#if PG_VERSION_NUM >= 140000
	(void) indexUnchanged;
#endif
	(void) indexInfo;
	if (!isnull[0])
		ngram_part_insert(index, 0, values[0], heap_tid);
	return false;
}

static IndexBulkDeleteResult *
ngram_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	ngram_part_bulkdelete(info->index, 0, callback, callback_state, stats);
	return stats;
}

static IndexBulkDeleteResult *
ngram_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	ngram_part_stats(info->index, 0, stats);
	return stats;
}

static void
ngram_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				   Cost *indexStartupCost, Cost *indexTotalCost,
				   Selectivity *indexSelectivity, double *indexCorrelation,
				   double *indexPages)
{
	(void) root;
	(void) path;
	(void) loop_count;
	*indexStartupCost = get_float8_infinity();
	*indexTotalCost = get_float8_infinity();
	*indexSelectivity = 0;
	*indexCorrelation = 0;
	*indexPages = 0;
}

static IndexScanDesc
ngram_beginscan(Relation index, int nkeys, int norderbys)
{
	(void) nkeys;
	(void) norderbys;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("n-gram index \"%s\" cannot be scanned", RelationGetRelationName(index)),
			 errhint("Query it with retrieval.ngram_count, ngram_next, ngram_docs or seal_search.")));
	pg_unreachable();
}

static void
ngram_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	(void) scan;
	(void) keys;
	(void) nkeys;
	(void) orderbys;
	(void) norderbys;
}

static bool
ngram_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	(void) scan;
	(void) dir;
	return false;
}

static void
ngram_endscan(IndexScanDesc scan)
{
	(void) scan;
}

const IndexKindRoutine ngram_routine = {
	.name = "ngram",
	.build = ngram_build,
	.buildempty = ngram_buildempty,
	.insert = ngram_insert,
	.bulkdelete = ngram_bulkdelete,
	.vacuumcleanup = ngram_vacuumcleanup,
	.costestimate = ngram_costestimate,
	.beginscan = ngram_beginscan,
	.rescan = ngram_rescan,
	.gettuple = ngram_gettuple,
	.endscan = ngram_endscan,
};
