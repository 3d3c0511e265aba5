/*-------------------------------------------------------------------------
 *
 * bm25_scan.c
 *	  Ordered index scans: ORDER BY col <@> 'query' [LIMIT k].
 *
 * rescan analyzes the query and computes its statistics once (N, avgdl
 * and n of each term, from one copy of the metapage), so every row of the
 * scan is scored against the same numbers.  gettuple returns the rows of
 * a Bm25Stream (bm25_stream.c): exact top-k batches of growing k, so
 * WHERE clauses that reject rows never cut the LIMIT short.  Only rows
 * containing at least one query term are returned (their score is > 0).
 *
 * XXX: the TIDs of a computed batch are not protected against VACUUM
 * removing the rows and the heap reusing the line pointers before they
 * are returned (the same holds for the HNSW scan).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relscan.h"
#include "catalog/pg_am_d.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "bm25.h"

typedef struct Bm25ScanOpaqueData
{
	MemoryContext context;		/* everything below lives here */
	Bm25MetaData meta;
	Bm25Query	query;
	bool		has_query;
	Bm25Stream	stream;
	BlockNumber heap_nblocks;	/* heap size when last looked up */
} Bm25ScanOpaqueData;

typedef Bm25ScanOpaqueData *Bm25ScanOpaque;

IndexScanDesc
bm25_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = retrieval_scan_begin(index, nkeys, norderbys);
	Bm25ScanOpaque so = palloc0(sizeof(Bm25ScanOpaqueData));

	so->context = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 scan",
										ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void
bm25_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	Bm25ScanOpaque so = (Bm25ScanOpaque) scan->opaque;
	MemoryContext old;

	(void) nkeys;
	(void) norderbys;
	retrieval_scan_set_keys(scan, keys, orderbys);

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a BM25 index can only be scanned in score order"),
				 errhint("Use ORDER BY column <@> 'query'.")));

	MemoryContextReset(so->context);
	old = MemoryContextSwitchTo(so->context);
	so->has_query = false;

	bm25_meta_read(scan->indexRelation, &so->meta);
	if (!(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		bm25_scan_query(scan->indexRelation, &so->meta, scan->orderByData[0].sk_argument,
						&so->query, NULL);
		so->has_query = so->query.bag.nterms > 0;
		bm25_stream_init(&so->stream, scan->indexRelation, &so->meta, &so->query,
						 BM25_STREAM_FIRST_K);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The query of an ORDER BY argument (a text, possibly bound to an index by
 * retrieval.bm25_query) with its statistics from this index, or from the
 * index it is bound to.  *bound_to (if not NULL) gets that index's OID, or
 * InvalidOid.
 */
void
bm25_scan_query(Relation index, const Bm25MetaData *meta, Datum arg, Bm25Query *q,
				Oid *bound_to)
{
	text	   *t = DatumGetTextPP(arg);
	Oid			named;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &named, &qlen);
	Bm25Bag    *bag = bm25_analyze(meta, qtext, qlen);

	memset(q, 0, sizeof(Bm25Query));
	q->bag = *bag;
	if (bound_to)
		*bound_to = InvalidOid;
	if (OidIsValid(named) && named != RelationGetRelid(index))
	{
		/*
		 * The query was bound to another index (the planner chose this
		 * one, e.g. while REINDEX CONCURRENTLY swaps them): score with that
		 * index's statistics, so the values equal the per-row operator's.
		 * Only an equivalent index can stand in.
		 */
		Relation	other = bm25_open_index(named);
		Bm25MetaData ometa;

		bm25_meta_read(other, &ometa);
		if (other->rd_index->indrelid != index->rd_index->indrelid ||
			strcmp(ometa.tokenizer, meta->tokenizer) != 0 ||
			strcmp(ometa.language, meta->language) != 0 ||
			ometa.k1 != meta->k1 || ometa.b != meta->b ||
			(ometa.dense_meta != 0) != (meta->dense_meta != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the query is bound to index \"%s\", which is not equivalent to the scanned index \"%s\"",
							RelationGetRelationName(other), RelationGetRelationName(index)),
					 errhint("Bind the query to the index of the ORDER BY expression.")));
		bm25_query_stats(other, &ometa, q);
		index_close(other, NoLock);
		if (bound_to)
			*bound_to = named;
	}
	else
		bm25_query_stats(index, meta, q);
}

/*
 * A TID read from a damaged or reused index page may name a heap block
 * beyond the end of the table, which the heap fetch would report as a
 * missing file.  Heap tables only (other table AMs may map TIDs freely);
 * the size is looked up again only when a TID lies beyond the cached one,
 * as rows added since are legitimately in the index.
 */
static void
check_heap_tid(IndexScanDesc scan, Bm25ScanOpaque so, ItemPointer tid)
{
	Relation	heap = scan->heapRelation;
	BlockNumber blkno = ItemPointerGetBlockNumberNoCheck(tid);

	if (heap == NULL || heap->rd_rel->relam != HEAP_TABLE_AM_OID)
		return;
	if (ItemPointerGetOffsetNumberNoCheck(tid) < FirstOffsetNumber ||
		ItemPointerGetOffsetNumberNoCheck(tid) > MaxHeapTuplesPerPage)
		bm25_corrupted(scan->indexRelation, "heap TID with an invalid offset");
	if (blkno >= so->heap_nblocks)
	{
		so->heap_nblocks = RelationGetNumberOfBlocks(heap);
		if (blkno >= so->heap_nblocks)
			bm25_corrupted(scan->indexRelation, "heap TID beyond the end of the table");
	}
}

bool
bm25_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	Bm25ScanOpaque so = (Bm25ScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->context);
	Bm25Hit		hit;

	(void) dir;
	if (!so->has_query)
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	if (bm25_stream_next(&so->stream, &hit))
	{
		check_heap_tid(scan, so, &hit.tid);
		scan->xs_heaptid = hit.tid;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbyvals[0] = Float8GetDatum(hit.score > 0 ? -hit.score : 0.0);
		scan->xs_orderbynulls[0] = false;
		MemoryContextSwitchTo(old);
		return true;
	}
	MemoryContextSwitchTo(old);
	return false;
}

void
bm25_endscan(IndexScanDesc scan)
{
	Bm25ScanOpaque so = (Bm25ScanOpaque) scan->opaque;

	MemoryContextDelete(so->context);
	pfree(so);
	scan->opaque = NULL;
}
