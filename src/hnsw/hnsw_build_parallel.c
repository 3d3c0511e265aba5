/*-------------------------------------------------------------------------
 *
 * hnsw_build_parallel.c
 *	  Parallel HNSW build: how many workers, the shared graph's memory, the
 *	  launch of the workers, and a worker's part of the build.
 *
 * PostgreSQL before 17 gives index access methods no parallel build, so the
 * build launches its own workers (as pgvector does on these versions):
 * EnterParallelMode, a ParallelContext naming this library's worker entry
 * point, a parallel table scan in the DSM segment.  The leader and the
 * workers scan the heap in parallel and insert into one graph in the
 * segment, with the insertion code of the serial build (hnsw_build.c: the
 * same search and neighbour selection through the HnswGraph callbacks),
 * which locks each element's neighbour lists and the entry point when the
 * graph is shared.  The leader then writes the pages and WAL-logs them as
 * the serial build does.
 *
 * Memory: the segment holds as many elements as maintenance_work_mem
 * allows (fewer when the table's statistics say fewer rows are coming).
 * When it is full, the participant that finds out writes the graph built
 * so far and every participant inserts its remaining rows on disk, as the
 * serial build does.
 *
 * Parallel builds are not reproducible (which participant inserts which
 * row when is up to the scheduler); the serial build still is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "hnsw_build.h"

#define KEY_SHARED	UINT64CONST(0xB7D0000000000001)
#define KEY_GRAPH	UINT64CONST(0xB7D0000000000002)

#define LOCK_TRANCHE_NAME	"retrieval_hnsw_build"

PGDLLEXPORT void retrieval_hnsw_build_main(dsm_segment *seg, shm_toc *toc);

static inline ParallelTableScanDesc
shared_scan(HnswBuildShared *shared)
{
	return (ParallelTableScanDesc) ((char *) shared + BUFFERALIGN(sizeof(HnswBuildShared)));
}

/*
 * Workers for building index on heap (0: serial build).
 * plan_create_index_workers() applies what core applies to B-tree builds:
 * max_parallel_maintenance_workers, the table's parallel_workers option,
 * its size against min_parallel_table_scan_size, parallel safety of index
 * expressions and predicate, and 32MB of maintenance_work_mem per
 * participant.
 *
 * XXX: core measures the main fork only.  Vectors over about 500
 * dimensions are TOASTed, the main fork is then small and no worker is
 * planned unless the table's parallel_workers is set (or
 * min_parallel_table_scan_size lowered); counting the TOAST pages would
 * mean re-implementing compute_parallel_worker().
 */
int
hnsw_parallel_workers(Relation heap, Relation index)
{
	return plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index));
}

/* The element-lock tranche: one id per backend that builds (never freed). */
static int
lock_tranche(void)
{
	static int	tranche = 0;

	if (tranche == 0)
		tranche = LWLockNewTrancheId();
	LWLockRegisterTranche(tranche, LOCK_TRANCHE_NAME);
	return tranche;
}

/*
 * Size the graph chunk: capacity, upper arena and the offsets of the
 * arrays (in shared), and return its size.  Participants also keep visit
 * tags of their own (4 bytes per element each), counted here too.
 */
static Size
plan_graph(HnswBuildState *bs, HnswBuildShared *shared, int nparticipants)
{
	int			m = bs->m;
	double		upper_per_element = 2.0 * (1 + m) / Max(m - 1, 1);
	double		per_element = sizeof(BuildElement) + sizeof(LWLock) +
		sizeof(float) * (double) bs->dims + sizeof(uint32) * (1 + 2 * m) +
		sizeof(uint32) * upper_per_element + sizeof(VisitTag) * (double) nparticipants;
	double		capacity = (double) maintenance_work_mem * 1024.0 / per_element;
	Size		offset = 0;

	/*
	 * A table that has statistics (ANALYZE, VACUUM or an earlier index
	 * build) tells how many rows to expect: take twice as much and no more,
	 * as the segment is allocated whole.  Without statistics the estimate
	 * depends on a guessed row width (off by far for TOASTed vectors), so
	 * take maintenance_work_mem.
	 */
	if (bs->heap->rd_rel->relpages > 0 && bs->heap->rd_rel->reltuples >= 0)
	{
		BlockNumber pages;
		double		tuples;
		double		allvisfrac;

		estimate_rel_size(bs->heap, NULL, &pages, &tuples, &allvisfrac);
		capacity = Min(capacity, 2.0 * tuples + 10000.0);
	}
	capacity = Min(capacity, (double) (PG_INT32_MAX / 2));
	/* whole chunks, at least one */
	shared->capacity = Max((uint32) capacity & ~(uint32) HNSW_BUILD_CHUNK_MASK,
						   HNSW_BUILD_CHUNK_SIZE);
	shared->upper_capacity = (Size) (shared->capacity * upper_per_element) +
		hnsw_build_upper_words(HNSW_MAX_LEVEL, m) * 64;
	shared->upper_capacity = Min(shared->upper_capacity, (Size) PG_UINT32_MAX);

	shared->elements_off = offset;
	offset += CACHELINEALIGN(sizeof(BuildElement) * (Size) shared->capacity);
	shared->locks_off = offset;
	offset += CACHELINEALIGN(sizeof(LWLock) * (Size) shared->capacity);
	shared->vectors_off = offset;
	offset += CACHELINEALIGN(sizeof(float) * (Size) bs->dims * shared->capacity);
	shared->l0_off = offset;
	offset += CACHELINEALIGN(sizeof(uint32) * (Size) (1 + 2 * m) * shared->capacity);
	shared->upper_off = offset;
	offset += CACHELINEALIGN(sizeof(uint32) * shared->upper_capacity);
	return offset;
}

/* Point a participant's build state at the shared graph. */
static void
attach_graph(HnswBuildState *bs, HnswBuildShared *shared, char *graph)
{
	uint32	   *l0 = (uint32 *) (graph + shared->l0_off);
	float	   *vectors = (float *) (graph + shared->vectors_off);

	bs->shared = shared;
	bs->capacity = shared->capacity;
	bs->elements = (BuildElement *) (graph + shared->elements_off);
	bs->locks = (LWLock *) (graph + shared->locks_off);
	bs->upper_base = (uint32 *) (graph + shared->upper_off);
	bs->upper_capacity = shared->upper_capacity;
	bs->nchunks = (int) (shared->capacity >> HNSW_BUILD_CHUNK_SHIFT);
	bs->vec_chunks = palloc(sizeof(float *) * bs->nchunks);
	bs->l0_chunks = palloc(sizeof(uint32 *) * bs->nchunks);
	for (int c = 0; c < bs->nchunks; c++)
	{
		bs->vec_chunks[c] = vectors + (Size) c * HNSW_BUILD_CHUNK_SIZE * bs->dims;
		bs->l0_chunks[c] = l0 + (Size) c * HNSW_BUILD_CHUNK_SIZE * (1 + 2 * bs->m);
	}
	bs->visit_tags = palloc_extended(sizeof(VisitTag) * bs->capacity,
									 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	/* the leader (number -1) draws the serial build's levels */
	pg_prng_seed(&bs->prng, UINT64CONST(0x5245545249455641) + (uint64) (ParallelWorkerNumber + 1));
}

/*
 * A new element number and the element's upper-layer space, or false when
 * the graph is full (and from then on for every participant).
 */
bool
hnsw_parallel_reserve(HnswBuildState *bs, int level, uint32 *id)
{
	HnswBuildShared *shared = bs->shared;
	Size		words = level > 0 ? hnsw_build_upper_words(level, bs->m) : 0;
	Size		upper = 0;
	bool		ok;

	SpinLockAcquire(&shared->mutex);
	ok = !shared->full && shared->nelements < shared->capacity &&
		shared->upper_used + words <= shared->upper_capacity;
	if (ok)
	{
		*id = shared->nelements++;
		upper = shared->upper_used;
		shared->upper_used += words;
	}
	else
		shared->full = true;
	SpinLockRelease(&shared->mutex);
	if (ok)
		bs->elements[*id].upper = (uint32) upper;
	return ok;
}

/*
 * Copy the shared element count and entry point into bs before writing the
 * graph.  The caller makes sure no in-memory insert is running.
 */
void
hnsw_parallel_sync(HnswBuildState *bs)
{
	HnswBuildShared *shared = bs->shared;

	SpinLockAcquire(&shared->mutex);
	bs->nelements = shared->nelements;
	SpinLockRelease(&shared->mutex);
	bs->entry = shared->entry;
	bs->entry_level = shared->entry_level;
}

/* Scan this participant's share of the heap into the shared graph. */
static void
participate(HnswBuildState *bs, IndexInfo *indexInfo, bool progress)
{
	HnswBuildShared *shared = bs->shared;
	TableScanDesc scan = table_beginscan_parallel(bs->heap, shared_scan(shared));
	double		reltuples;

	reltuples = table_index_build_scan(bs->heap, bs->index, indexInfo, true, progress,
									   hnsw_build_callback, (void *) bs, scan);
	hnsw_build_finish_rows(bs);
	SpinLockAcquire(&shared->mutex);
	shared->reltuples += reltuples;
	shared->indtuples += bs->indtuples;
	shared->nparticipants_done++;
	SpinLockRelease(&shared->mutex);
	ConditionVariableSignal(&shared->done_cv);
}

/*
 * Build the graph with nworkers parallel workers and the leader, and write
 * it.  Returns false, having done nothing, when no worker could be
 * launched: the caller then builds serially.
 */
bool
hnsw_parallel_build(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers)
{
	Relation	heap = bs->heap;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswBuildShared plan;
	HnswBuildShared *shared;
	Size		shared_size;
	Size		graph_size;
	char	   *graph;
	int			launched;
	int			tranche = lock_tranche();

	EnterParallelMode();
	pcxt = CreateParallelContext("retrieval", "retrieval_hnsw_build_main", nworkers);

	/* as for B-tree: all tuples unless concurrent, then an MVCC snapshot */
	snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	memset(&plan, 0, sizeof(plan));
	graph_size = plan_graph(bs, &plan, nworkers + 1);
	shared_size = add_size(BUFFERALIGN(sizeof(HnswBuildShared)),
						   table_parallelscan_estimate(heap, snapshot));
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, graph_size);
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);

	shared = shm_toc_allocate(pcxt->toc, shared_size);
	*shared = plan;
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(bs->index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	shared->lock_tranche = tranche;
	SpinLockInit(&shared->mutex);
	LWLockInitialize(&shared->entry_lock, tranche);
	LWLockInitialize(&shared->flush_lock, tranche);
	shared->entry = -1;
	shared->entry_level = -1;
	pg_atomic_init_u64(&shared->tuples_done, 0);
	ConditionVariableInit(&shared->done_cv);
	table_parallelscan_initialize(heap, shared_scan(shared), snapshot);
	graph = shm_toc_allocate(pcxt->toc, graph_size);
	shm_toc_insert(pcxt->toc, KEY_SHARED, shared);
	shm_toc_insert(pcxt->toc, KEY_GRAPH, graph);

	LaunchParallelWorkers(pcxt);
	launched = pcxt->nworkers_launched;
	ereport(DEBUG1,
			(errmsg("parallel build of HNSW index \"%s\": %d of %d workers launched, room for %u elements",
					RelationGetRelationName(bs->index), launched, nworkers, shared->capacity)));
	if (launched == 0)
	{
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}
	/* a worker that failed to start would otherwise be waited for forever */
	WaitForParallelWorkersToAttach(pcxt);

	attach_graph(bs, shared, graph);
	participate(bs, indexInfo, true);

	/* wait for the workers, reporting their progress meanwhile */
	for (;;)
	{
		int			done;

		SpinLockAcquire(&shared->mutex);
		done = shared->nparticipants_done;
		SpinLockRelease(&shared->mutex);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) pg_atomic_read_u64(&shared->tuples_done));
		if (done == launched + 1)
			break;
		ConditionVariableTimedSleep(&shared->done_cv, 1000L, WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();
	WaitForParallelWorkersToFinish(pcxt);

	/* the leader writes the graph, unless a participant did when it filled up */
	if (!shared->flushed)
	{
		hnsw_parallel_sync(bs);
		hnsw_build_write_graph(bs);
	}
	bs->reltuples = shared->reltuples;
	bs->indtuples = shared->indtuples;
	bs->shared = NULL;
	bs->locks = NULL;

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

/* A parallel worker's entry point (named in CreateParallelContext()). */
void
retrieval_hnsw_build_main(dsm_segment *seg, shm_toc *toc)
{
	HnswBuildShared *shared = shm_toc_lookup(toc, KEY_SHARED, false);
	char	   *graph = shm_toc_lookup(toc, KEY_GRAPH, false);
	LOCKMODE	heap_lockmode;
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	HnswBuildState bs;

	(void) seg;
	LWLockRegisterTranche(shared->lock_tranche, LOCK_TRANCHE_NAME);

	/* the leader's locks, as in a parallel B-tree build */
	heap_lockmode = shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	heap = table_open(shared->heaprelid, heap_lockmode);
	index = index_open(shared->indexrelid, RowExclusiveLock);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = shared->isconcurrent;

	hnsw_build_state_init(&bs, heap, index);
	attach_graph(&bs, shared, graph);
	participate(&bs, indexInfo, false);

	index_close(index, RowExclusiveLock);
	table_close(heap, heap_lockmode);
}
