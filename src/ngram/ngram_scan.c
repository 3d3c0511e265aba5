/*-------------------------------------------------------------------------
 *
 * ngram_scan.c
 *	  ORDER BY body <%> 'query' on a text index WITH (ngrams = on): the
 *	  unsupervised SEAL ranking (seal_score.c) as an ordered index scan,
 *	  and its cost estimate.
 *
 * rescan builds the query's n-grams and ranks every document containing
 * one (a locate per occurrence; seal_max_occurrences bounds the work per
 * n-gram); gettuple returns them best first, with the negated score as
 * the ORDER BY value, so WHERE clauses that reject rows just take the next
 * ones.  Only rows containing at least one query n-gram are returned (the
 * others score 0), as the BM25 scan does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "../bm25/bm25.h"
#include "ngram.h"

typedef struct SealScanState
{
	MemoryContext context;
	SealHit    *hits;
	uint32		nhits;
	uint32		next;
} SealScanState;

void *
seal_scan_begin(void)
{
	SealScanState *st = palloc0(sizeof(SealScanState));

	st->context = AllocSetContextCreate(CurrentMemoryContext, "retrieval seal scan",
										ALLOCSET_DEFAULT_SIZES);
	return st;
}

void
seal_scan_rescan(IndexScanDesc scan)
{
	SealScanState *st = scan->opaque;
	Relation	index = scan->indexRelation;
	MemoryContext old;
	BlockNumber metablk;

	MemoryContextReset(st->context);
	st->hits = NULL;
	st->nhits = 0;
	st->next = 0;
	metablk = ngram_part_of(index);
	if (!BlockNumberIsValid(metablk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has no n-gram index", RelationGetRelationName(index)),
				 errhint("Create it WITH (ngrams = on).")));
	if (scan->orderByData[0].sk_flags & SK_ISNULL)
		return;
	old = MemoryContextSwitchTo(st->context);
	{
		text	   *qt = DatumGetTextPP(scan->orderByData[0].sk_argument);
		Oid			inner;
		int			qlen;
		const char *qtext = bm25_query_unwrap(VARDATA_ANY(qt), VARSIZE_ANY_EXHDR(qt), &inner,
											  &qlen);
		SealQuery	sq;
		NgramQuery	q;

		/* one copy of the metapage and buffer for the query's n-grams and the ranking */
		ngram_query_open(&q, index, metablk);
		seal_query_for_text(&q, qtext, qlen, &sq);
		st->hits = seal_rank(&q, &sq, &st->nhits);
		ngram_query_close(&q);
	}
	MemoryContextSwitchTo(old);
}

bool
seal_scan_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	SealScanState *st = scan->opaque;

	if (dir != ForwardScanDirection)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("retrieval index scans only go forward")));
	if (st->next >= st->nhits)
		return false;
	ngram_key_tid(st->hits[st->next].key, &scan->xs_heaptid);
	scan->xs_orderbyvals[0] = Float8GetDatum(-st->hits[st->next].score);
	scan->xs_orderbynulls[0] = false;
	scan->xs_recheckorderby = false;
	scan->xs_recheck = false;
	st->next++;
	return true;
}

void
seal_scan_end(IndexScanDesc scan)
{
	SealScanState *st = scan->opaque;

	MemoryContextDelete(st->context);
	pfree(st);
}

/*
 * The whole ranking is made before the first row: charge it as startup
 * (a few dozen page reads per query n-gram), then a tuple per row.  The
 * per-row alternative pays the <%> function's COST for every row.
 */
void
seal_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation, double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1.0);

	(void) root;
	(void) loop_count;
	*indexStartupCost = 8 * 40 * random_page_cost + tuples * 0.01 * cpu_operator_cost;
	*indexTotalCost = *indexStartupCost + tuples * cpu_index_tuple_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}
