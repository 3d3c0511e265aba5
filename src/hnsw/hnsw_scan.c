/*-------------------------------------------------------------------------
 *
 * hnsw_scan.c
 *	  Ordered index scans of an HNSW graph: ORDER BY v <op> $1 [LIMIT k].
 *
 * The scan descends the upper layers greedily, then searches layer 0 with
 * ef = retrieval.ef_search and returns that round's results nearest first.
 * When the executor asks for more (a WHERE clause rejected rows, or there
 * is no LIMIT), the search resumes from the candidates it had set aside
 * (HnswSearch rounds), so the scan keeps streaming rows in approximately
 * increasing distance until the graph is exhausted: LIMIT k is met
 * whenever k rows qualify.  (When the region the descent landed in is
 * done, the search goes on from the entry point, from which CREATE INDEX
 * and VACUUM make every element reachable.)  Each round is sorted; across rounds a row
 * can come slightly out of order (as with pgvector's relaxed_order).
 *
 * With quantization = 'none', graph distances are exact.  With sq8 or
 * binary, the graph compares codes, so each round's candidates are
 * re-ranked before they are returned: the exact distance is computed from
 * the full-precision vector of the heap row (fetched by TID with the
 * scan's snapshot; a row the snapshot cannot see is dropped, as the
 * executor would drop it) or, for expression indexes, from the vector kept
 * in the index (see hnsw.h).  Either way the ORDER BY values returned are
 * exact and the executor does not recheck them; it could not anyway: code
 * distances are no lower bound of true distances, which
 * xs_recheckorderby would require.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "../vector/vector.h"
#include "hnsw.h"

typedef struct HnswScanOpaqueData
{
	MemoryContext context;		/* everything below lives here */
	HnswMetaData meta;
	HnswDiskGraph *graph;
	float	   *query;
	bool		has_query;		/* false: NULL or zero query, no rows */
	bool		started;
	bool		exhausted;
	HnswSearch	search;
	HnswCandidate *batch;		/* current round, nearest first */
	int			nbatch;
	int			next;
	int			ef;

	/* re-ranking (quantized indexes) */
	bool		rerank;
	bool		from_heap;		/* else from vectors in the index */
	MemoryContext scan_context; /* lives until endscan: fetch and slot */
	MemoryContext rerank_context;	/* reset per round */
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	float	   *exact;			/* a heap vector, prepared */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

IndexScanDesc
hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = retrieval_scan_begin(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw scan",
										ALLOCSET_DEFAULT_SIZES);
	so->scan_context = CurrentMemoryContext;
	so->rerank_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw rerank",
											   ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void
hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old;

	/* the counts were fixed at ambeginscan and are in scan->numberOf* */
	(void) nkeys;
	(void) norderbys;

	retrieval_scan_set_keys(scan, keys, orderbys);

	MemoryContextReset(so->context);
	so->graph = NULL;
	so->started = false;
	so->exhausted = false;
	so->nbatch = so->next = 0;
	so->has_query = false;

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an HNSW index can only be scanned in distance order"),
				 errhint("Use ORDER BY with a distance operator of the index's operator class.")));

	old = MemoryContextSwitchTo(so->context);
	hnsw_meta_read(scan->indexRelation, &so->meta);
	embed_stamp_check(scan->indexRelation, &so->meta.model);
	if (!(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		Vector	   *q = DatumGetVector(scan->orderByData[0].sk_argument);

		if (q->dim != (int) so->meta.dims)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("different vector dimensions %u and %d", so->meta.dims, q->dim)));
		so->query = palloc(sizeof(float) * q->dim);
		so->has_query = hnsw_prepare_vector((HnswMetric) so->meta.metric, q->x, so->query, q->dim);
	}
	so->ef = hnsw_ef_search;
	so->rerank = so->meta.quantization != QUANT_NONE;
	so->from_heap = so->rerank && !(so->meta.flags & HNSW_META_VECTORS_IN_INDEX);
	so->exact = palloc(sizeof(float) * so->meta.dims);
	MemoryContextSwitchTo(old);
}

/*
 * Exact ordering distance of a candidate from its heap row; false when the
 * scan's snapshot sees no version of the row.
 */
static bool
heap_distance(IndexScanDesc scan, HnswScanOpaque so, ItemPointer heaptid, float *distance)
{
	ItemPointerData tid = *heaptid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;
	Datum		value;
	Vector	   *v;
	bool		found;

	if (so->fetch == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(so->scan_context);

		if (scan->heapRelation == NULL)
			elog(ERROR, "HNSW re-ranking needs the heap relation");
		so->fetch = table_index_fetch_begin(scan->heapRelation);
		so->slot = table_slot_create(scan->heapRelation, NULL);
		MemoryContextSwitchTo(old);
	}
	found = table_index_fetch_tuple(so->fetch, &tid, scan->xs_snapshot, so->slot,
									&call_again, &all_dead);
	if (!found)
		return false;
	value = slot_getattr(so->slot, scan->indexRelation->rd_index->indkey.values[0], &isnull);
	if (isnull)
	{
		ExecClearTuple(so->slot);
		return false;
	}
	v = DatumGetVector(value);	/* detoasted into the rerank context */
	if (v->dim != (int) so->meta.dims ||
		!hnsw_prepare_vector((HnswMetric) so->meta.metric, v->x, so->exact, v->dim))
	{
		ExecClearTuple(so->slot);
		return false;
	}
	ExecClearTuple(so->slot);
	*distance = hnsw_distance((HnswMetric) so->meta.metric, so->query, so->exact,
							  so->meta.dims);
	return true;
}

/*
 * Replace the round's code distances by exact ones, drop candidates that
 * cannot be returned, and sort nearest first.
 */
static void
rerank_batch(IndexScanDesc scan, HnswScanOpaque so)
{
	MemoryContext old = MemoryContextSwitchTo(so->rerank_context);
	int			kept = 0;

	for (int i = 0; i < so->nbatch; i++)
	{
		HnswCandidate c = so->batch[i];
		ItemPointerData heaptid;

		if (!hnsw_disk_element_info(so->graph, c.node, &heaptid, NULL))
			continue;			/* deleted by VACUUM */
		if (so->from_heap)
		{
			if (!heap_distance(scan, so, &heaptid, &c.distance))
				continue;
		}
		else
			c.distance = hnsw_distance((HnswMetric) so->meta.metric, so->query,
									   hnsw_disk_node_vector(so->graph, c.node),
									   so->meta.dims);
		so->batch[kept++] = c;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(so->rerank_context);
	so->nbatch = kept;
	hnsw_sort_candidates(so->batch, kept);
}

/* Start the search: descend to layer 0 and run the first round. */
static void
start_search(IndexScanDesc scan, HnswScanOpaque so)
{
	HnswGraph  *graph;
	HnswCandidate entry;

	so->started = true;
	if (!so->has_query || !ItemPointerIsValid(&so->meta.entry))
	{
		so->exhausted = true;
		return;
	}
	so->graph = hnsw_disk_graph_create(scan->indexRelation, &so->meta, false);
	hnsw_disk_graph_set_query(so->graph, so->query);
	graph = hnsw_disk_graph_base(so->graph);

	entry.node = hnsw_node_from_tid(&so->meta.entry);
	entry.distance = graph->query_distance(graph, entry.node);
	entry = hnsw_descend(graph, entry, so->meta.entry_level, 0);
	hnsw_search_begin(graph, &so->search, 0, &entry, 1, true);
	so->batch = palloc(sizeof(HnswCandidate) * so->ef);
}

bool
hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->context);

	(void) dir;					/* amcanbackward is false: always forward */
	if (!so->started)
		start_search(scan, so);

	while (!so->exhausted)
	{
		HnswCandidate c;
		ItemPointerData heaptid;

		if (so->next >= so->nbatch)
		{
			so->nbatch = hnsw_search_next_round(hnsw_disk_graph_base(so->graph), &so->search,
												so->ef, so->batch,
												hnsw_node_from_tid(&so->meta.entry));
			so->next = 0;
			if (so->nbatch == 0)
			{
				so->exhausted = true;
				break;
			}
			if (so->rerank)
				rerank_batch(scan, so);
			continue;
		}
		c = so->batch[so->next++];
		if (!hnsw_disk_element_info(so->graph, c.node, &heaptid, NULL))
			continue;			/* deleted by VACUUM */

		scan->xs_heaptid = heaptid;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbyvals[0] =
			Float8GetDatum(hnsw_operator_value((HnswMetric) so->meta.metric, c.distance));
		scan->xs_orderbynulls[0] = false;
		MemoryContextSwitchTo(old);
		return true;
	}
	MemoryContextSwitchTo(old);
	return false;
}

void
hnsw_endscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (so->slot)
		ExecDropSingleTupleTableSlot(so->slot);
	if (so->fetch)
		table_index_fetch_end(so->fetch);
	MemoryContextDelete(so->context);
	MemoryContextDelete(so->rerank_context);
	pfree(so);
	scan->opaque = NULL;
}
