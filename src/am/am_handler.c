/*-------------------------------------------------------------------------
 *
 * am_handler.c
 *	  The handler of the retrieval access method and the one place where a
 *	  callback is routed to an index kind.
 *
 * The AM's capabilities are the union of its kinds' (ordering by operator,
 * no uniqueness, one key column); each callback looks up the kind from the
 * index's operator class and forwards to that kind's routine table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "retrieval_am.h"

PG_FUNCTION_INFO_V1(retrieval_am_handler);
PG_FUNCTION_INFO_V1(retrieval_vector_l2_support);
PG_FUNCTION_INFO_V1(retrieval_vector_ip_support);
PG_FUNCTION_INFO_V1(retrieval_vector_cosine_support);
PG_FUNCTION_INFO_V1(retrieval_text_bm25_support);

/* Support function 1 of each operator class: which kind and metric. */
Datum
retrieval_vector_l2_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OPCLASS_VECTOR_L2);
}

Datum
retrieval_vector_ip_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OPCLASS_VECTOR_IP);
}

Datum
retrieval_vector_cosine_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OPCLASS_VECTOR_COSINE);
}

/* bm25 */
Datum
retrieval_text_bm25_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OPCLASS_TEXT_BM25);
}

/*
 * The operator class code of an index, cached in rd_amcache (which the
 * relcache frees whenever the index's definition may have changed).  The
 * AM layer owns rd_amcache: index kinds must not use it.
 */
RetrievalOpclassCode
retrieval_opclass_code(Relation index)
{
	RegProcedure proc;
	RetrievalOpclassCode code;

	if (index->rd_amcache != NULL)
		return *(RetrievalOpclassCode *) index->rd_amcache;

	proc = index_getprocid(index, 1, RETRIEVAL_SUPPORT_PROC);
	if (!RegProcedureIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator class of index \"%s\" has no retrieval support function",
						RelationGetRelationName(index))));
	code = (RetrievalOpclassCode) DatumGetInt32(OidFunctionCall1(proc, PointerGetDatum(NULL)));
	index->rd_amcache = MemoryContextAlloc(index->rd_indexcxt, sizeof(RetrievalOpclassCode));
	*(RetrievalOpclassCode *) index->rd_amcache = code;
	return code;
}

RetrievalOpclassCode
retrieval_opclass_code_by_oid(Oid indexoid)
{
	Relation	index = index_open(indexoid, AccessShareLock);
	RetrievalOpclassCode code = retrieval_opclass_code(index);

	index_close(index, AccessShareLock);
	return code;
}

static const IndexKindRoutine *
routine_for_code(RetrievalOpclassCode code)
{
	switch (code)
	{
		case OPCLASS_VECTOR_L2:
		case OPCLASS_VECTOR_IP:
		case OPCLASS_VECTOR_COSINE:
			return &hnsw_routine;
	}
	if (code == OPCLASS_TEXT_BM25)	/* bm25, hybrid, n-gram part */
		return &text_routine;
	if (code == OPCLASS_INT4_NGRAM)
		return &ngram_routine;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("unknown retrieval operator class code %d", (int) code)));
	pg_unreachable();
}

static inline const IndexKindRoutine *
routine_for(Relation index)
{
	return routine_for_code(retrieval_opclass_code(index));
}

static IndexBuildResult *
dispatch_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	return routine_for(index)->build(heap, index, indexInfo);
}

static void
dispatch_buildempty(Relation index)
{
	routine_for(index)->buildempty(index);
}

static bool
dispatch_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
				Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
				bool indexUnchanged,
#endif
				IndexInfo *indexInfo)
{
	return routine_for(index)->insert(index, values, isnull, heap_tid, heap, checkUnique,
#if PG_VERSION_NUM >= 140000
									  indexUnchanged,
#endif
									  indexInfo);
}

static IndexBulkDeleteResult *
dispatch_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
					IndexBulkDeleteCallback callback, void *callback_state)
{
	return routine_for(info->index)->bulkdelete(info, stats, callback, callback_state);
}

static IndexBulkDeleteResult *
dispatch_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	return routine_for(info->index)->vacuumcleanup(info, stats);
}

static void
dispatch_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					  Cost *indexStartupCost, Cost *indexTotalCost,
					  Selectivity *indexSelectivity, double *indexCorrelation,
					  double *indexPages)
{
	const IndexKindRoutine *routine =
		routine_for_code(retrieval_opclass_code_by_oid(path->indexinfo->indexoid));

	routine->costestimate(root, path, loop_count, indexStartupCost, indexTotalCost,
						  indexSelectivity, indexCorrelation, indexPages);
}

static IndexScanDesc
dispatch_beginscan(Relation index, int nkeys, int norderbys)
{
	return routine_for(index)->beginscan(index, nkeys, norderbys);
}

static void
dispatch_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	routine_for(scan->indexRelation)->rescan(scan, keys, nkeys, orderbys, norderbys);
}

static bool
dispatch_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	return routine_for(scan->indexRelation)->gettuple(scan, dir);
}

static void
dispatch_endscan(IndexScanDesc scan)
{
	routine_for(scan->indexRelation)->endscan(scan);
}

/*
 * Before a build's table scan: the table's row count from its statistics as
 * tuples_total in pg_stat_progress_create_index, so that tuples_done can be
 * read as a fraction of the work.  It is the estimate VACUUM or ANALYZE left
 * (the scan may find more or fewer rows); a table that never had one gets
 * no total, as before.
 */
void
retrieval_build_progress_total(Relation heap)
{
	if (heap->rd_rel->reltuples >= 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
									 (int64) heap->rd_rel->reltuples);
}

static char *
retrieval_buildphasename(int64 phase)
{
	switch (phase)
	{
		case 1:
			return "building graph in memory";
		case 2:
			return "writing index pages";
		case 3:
			return "inserting remaining rows";
		case 4:					/* bm25 */
			return "analyzing documents";
		case 5:					/* bm25 */
			return "writing segments";
		default:
			return NULL;
	}
}

Datum
retrieval_am_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = RETRIEVAL_NUM_SUPPORT;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = true;
#if PG_VERSION_NUM >= 160000
	am->amsummarizing = false;
#endif
#if PG_VERSION_NUM >= 170000
	am->amcanbuildparallel = false;
#endif
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = dispatch_build;
	am->ambuildempty = dispatch_buildempty;
	am->aminsert = dispatch_insert;
#if PG_VERSION_NUM >= 170000
	am->aminsertcleanup = NULL;
#endif
	am->ambulkdelete = dispatch_bulkdelete;
	am->amvacuumcleanup = dispatch_vacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = dispatch_costestimate;
	am->amoptions = retrieval_amoptions;
	am->amproperty = NULL;
	am->ambuildphasename = retrieval_buildphasename;
	am->amvalidate = retrieval_amvalidate;
	am->amadjustmembers = NULL;
	am->ambeginscan = dispatch_beginscan;
	am->amrescan = dispatch_rescan;
	am->amgettuple = dispatch_gettuple;
	am->amgetbitmap = NULL;
	am->amendscan = dispatch_endscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}
