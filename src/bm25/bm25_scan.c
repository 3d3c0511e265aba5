/*-------------------------------------------------------------------------
 *
 * bm25_scan.c
 *	  Ordered index scans: ORDER BY col <@> 'query' [LIMIT k].
 *
 * rescan analyzes the query and computes its statistics once (N, avgdl
 * and n of each term, from one copy of the metapage), so every row of the
 * scan is scored against the same numbers.  The first gettuple computes
 * the exact top-k (bm25_topk.c) with k = BM25_FIRST_K; when the executor
 * asks for more rows (a WHERE clause rejected some, or there is no
 * LIMIT), the top-k is computed again with 4 x k and the rows not returned
 * yet are streamed in order; a hash set of returned TIDs guarantees each
 * row is returned once even if the index changed in between.  Only rows
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

#define BM25_FIRST_K	10

typedef struct Bm25ScanOpaqueData
{
	MemoryContext context;		/* everything below lives here */
	Bm25MetaData meta;
	Bm25Query	query;
	bool		has_query;
	bool		exhausted;
	int			k;				/* size of the current batch's top-k */
	Bm25Hit    *hits;
	int			nhits;
	int			next;
	HTAB	   *returned;		/* TIDs already returned */
	BlockNumber heap_nblocks;	/* heap size when last looked up */
} Bm25ScanOpaqueData;

typedef Bm25ScanOpaqueData *Bm25ScanOpaque;

IndexScanDesc
bm25_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	Bm25ScanOpaque so = palloc0(sizeof(Bm25ScanOpaqueData));

	so->context = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 scan",
										ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	memset(scan->xs_orderbynulls, true, sizeof(bool) * Max(norderbys, 1));
	return scan;
}

void
bm25_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	Bm25ScanOpaque so = (Bm25ScanOpaque) scan->opaque;
	MemoryContext old;
	HASHCTL		ctl;

	(void) nkeys;
	(void) norderbys;
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a BM25 index can only be scanned in score order"),
				 errhint("Use ORDER BY column <@> 'query'.")));

	MemoryContextReset(so->context);
	old = MemoryContextSwitchTo(so->context);
	so->has_query = false;
	so->exhausted = false;
	so->k = 0;
	so->hits = NULL;
	so->nhits = so->next = 0;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = so->context;
	so->returned = hash_create("retrieval bm25 returned TIDs", 256, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	bm25_meta_read(scan->indexRelation, &so->meta);
	if (!(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		text	   *t = DatumGetTextPP(scan->orderByData[0].sk_argument);
		Oid			named;
		int			qlen;
		const char *qtext = bm25_query_unwrap(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &named, &qlen);
		Bm25Bag    *bag = bm25_analyze(&so->meta, qtext, qlen);

		memset(&so->query, 0, sizeof(so->query));
		so->query.bag = *bag;
		if (OidIsValid(named) && named != RelationGetRelid(scan->indexRelation))
		{
			/*
			 * The query was bound to another index (the planner chose this
			 * one, e.g. while REINDEX CONCURRENTLY swaps them): score with
			 * that index's statistics, so the values equal the per-row
			 * operator's.  Only an equivalent index can stand in.
			 */
			Relation	other = bm25_open_index(named);
			Bm25MetaData ometa;

			bm25_meta_read(other, &ometa);
			if (other->rd_index->indrelid != scan->indexRelation->rd_index->indrelid ||
				strcmp(ometa.tokenizer, so->meta.tokenizer) != 0 ||
				strcmp(ometa.language, so->meta.language) != 0 ||
				ometa.k1 != so->meta.k1 || ometa.b != so->meta.b)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the query is bound to index \"%s\", which is not equivalent to the scanned index \"%s\"",
								RelationGetRelationName(other), RelationGetRelationName(scan->indexRelation)),
						 errhint("Bind the query to the index of the ORDER BY expression.")));
			bm25_query_stats(other, &ometa, &so->query);
			index_close(other, NoLock);
		}
		else
			bm25_query_stats(scan->indexRelation, &so->meta, &so->query);
		so->has_query = bag->nterms > 0;
	}
	MemoryContextSwitchTo(old);
}

/* Compute the next, larger batch. */
static void
next_batch(IndexScanDesc scan, Bm25ScanOpaque so)
{
	int64		k;

	/*
	 * 10, 40, 160, ... documents, but no more than the index holds (+1, so
	 * that a full batch proves nothing is left when the index did not grow).
	 */
	k = so->k == 0 ? BM25_FIRST_K : (int64) so->k * 4;
	k = Min(k, Max(so->meta.ndocs, (int64) so->k) + 1);
	k = Min(k, (int64) (INT_MAX / 2));
	if (so->hits)
		pfree(so->hits);
	so->hits = palloc_extended(sizeof(Bm25Hit) * k, MCXT_ALLOC_HUGE);
	so->nhits = bm25_topk(scan->indexRelation, &so->meta, &so->query, (int) k, so->hits);
	so->next = 0;
	/* fewer than k documents match: this batch holds all of them */
	if (so->nhits < k)
		so->exhausted = true;
	so->k = k;
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

	(void) dir;
	if (!so->has_query)
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	for (;;)
	{
		Bm25Hit    *h;
		bool		found;

		if (so->next >= so->nhits)
		{
			if (so->exhausted)
				break;
			next_batch(scan, so);
			if (so->nhits == 0)
				break;
		}
		h = &so->hits[so->next++];
		hash_search(so->returned, &h->tid, HASH_ENTER, &found);
		if (found)
			continue;
		check_heap_tid(scan, so, &h->tid);
		scan->xs_heaptid = h->tid;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbyvals[0] = Float8GetDatum(h->score > 0 ? -h->score : 0.0);
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
