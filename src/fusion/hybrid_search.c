/*-------------------------------------------------------------------------
 *
 * hybrid_search.c
 *	  retrieval.search(index, query, k, fusion, ...): the top k rows of a
 *	  text index with each part's rank and score, as a set-returning
 *	  function usable in a join (ON t.ctid = s.ctid).
 *
 *	fusion = 'rrf'		reciprocal rank fusion of the BM25 and the semantic
 *						lists (each `depth` long): sum of 1 / (rrf_k + rank)
 *	fusion = 'score'	the <=> ranking (score = 1 - its distance)
 *	fusion = 'bm25' / 'semantic'	one part alone
 *
 * Each list is read through the index's own ordered scans (the same code
 * as ORDER BY body <@> / <~> / <=>), with the active snapshot: only rows
 * visible to the caller are returned, with the TID of their visible
 * version.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/snapmgr.h"

#include "hybrid.h"

PG_FUNCTION_INFO_V1(retrieval_search);

typedef struct SearchRow
{
	ItemPointerData tid;		/* hash key */
	float8		score;
	int32		bm25_rank;		/* 0: not in the list */
	float8		bm25_score;
	int32		semantic_rank;
	float8		semantic_distance;
	int32		fused_rank;
} SearchRow;

/* Read up to n rows of one ordered scan into the table; returns rows read. */
static int
read_list(Relation heap, Relation index, int strategy, text *query, int n, HTAB *rows,
		  SearchRow **order)
{
	Snapshot	snapshot = GetActiveSnapshot();
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	int			got = 0;

	ScanKeyEntryInitialize(&key, SK_ORDER_BY, 1, strategy, TEXTOID, InvalidOid, InvalidOid,
						   PointerGetDatum(query));
	scan = index_beginscan(heap, index, snapshot, 0, 1);
	index_rescan(scan, NULL, 0, &key, 1);
	while (got < n && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		found;
		SearchRow  *row;
		float8		value = DatumGetFloat8(scan->xs_orderbyvals[0]);

		CHECK_FOR_INTERRUPTS();
		row = hash_search(rows, &slot->tts_tid, HASH_ENTER, &found);
		if (!found)
		{
			memset((char *) row + sizeof(ItemPointerData), 0,
				   sizeof(SearchRow) - sizeof(ItemPointerData));
		}
		else if ((strategy == HYBRID_STRATEGY_BM25 && row->bm25_rank) ||
				 (strategy == HYBRID_STRATEGY_SEMANTIC && row->semantic_rank) ||
				 (strategy == HYBRID_STRATEGY_FUSED && row->fused_rank))
			continue;			/* another version of a row already listed */
		got++;
		switch (strategy)
		{
			case HYBRID_STRATEGY_BM25:
				row->bm25_rank = got;
				row->bm25_score = -value;
				break;
			case HYBRID_STRATEGY_SEMANTIC:
				row->semantic_rank = got;
				row->semantic_distance = value;
				break;
			default:
				row->fused_rank = got;
				row->score = 1.0 - value;
				if (order)
					order[got - 1] = row;
				break;
		}
		ExecClearTuple(slot);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return got;
}

static int
compare_score_desc(const void *a, const void *b)
{
	const SearchRow *ra = *(SearchRow *const *) a;
	const SearchRow *rb = *(SearchRow *const *) b;

	if (ra->score != rb->score)
		return ra->score > rb->score ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &ra->tid, (ItemPointer) &rb->tid);
}

/*
 * retrieval.search(index regclass, query text, k int, fusion text, rrf_k int,
 *                  depth int)
 *   RETURNS TABLE (ctid tid, score float8, bm25_rank int, bm25_score float8,
 *                  semantic_rank int, semantic_distance float8)
 */
Datum
retrieval_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			indexoid;
	text	   *query;
	int32		k;
	char	   *fusion;
	int32		rrf_k;
	int32		depth;
	Relation	index;
	Relation	heap;
	HASHCTL		ctl;
	HTAB	   *rows;
	SearchRow **order;
	int			norder = 0;
	bool		hybrid;
	HASH_SEQ_STATUS status;
	SearchRow  *row;

	/* NULL arguments (but depth): no rows */
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
		{
			InitMaterializedSRF(fcinfo, 0);
			return (Datum) 0;
		}
	indexoid = PG_GETARG_OID(0);
	query = PG_GETARG_TEXT_PP(1);
	k = PG_GETARG_INT32(2);
	fusion = text_to_cstring(PG_GETARG_TEXT_PP(3));
	rrf_k = PG_GETARG_INT32(4);
	depth = PG_ARGISNULL(5) ? Max(k, 100) : PG_GETARG_INT32(5);

	if (k < 0 || depth < 1 || rrf_k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k and rrf_k must not be negative and depth must be positive")));
	if (strcmp(fusion, "rrf") != 0 && strcmp(fusion, "score") != 0 &&
		strcmp(fusion, "bm25") != 0 && strcmp(fusion, "semantic") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid fusion \"%s\"", fusion),
				 errhint("Valid values are \"rrf\", \"score\", \"bm25\" and \"semantic\".")));

	InitMaterializedSRF(fcinfo, 0);
	index = bm25_open_index(indexoid);
	hybrid = text_index_is_hybrid(index);
	if (!hybrid && strcmp(fusion, "bm25") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fusion \"%s\" needs an index with embeddings", fusion),
				 errdetail("Index \"%s\" was built without an embedding model.",
						   RelationGetRelationName(index)),
				 errhint("Use fusion => 'bm25', or create the index with a model.")));
	heap = table_open(index->rd_index->indrelid, AccessShareLock);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(SearchRow);
	ctl.hcxt = CurrentMemoryContext;
	rows = hash_create("retrieval search rows", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (k > 0)
	{
		/* the lists: each part to `depth` (k for a single-part ranking) */
		bool		want_bm25 = strcmp(fusion, "semantic") != 0;
		bool		want_semantic = strcmp(fusion, "bm25") != 0 && hybrid;

		if (strcmp(fusion, "score") == 0)
		{
			(void) read_list(heap, index, HYBRID_STRATEGY_FUSED, query, k, rows, NULL);
			want_bm25 = want_semantic = true;
		}
		if (want_bm25)
			(void) read_list(heap, index, HYBRID_STRATEGY_BM25, query,
							 strcmp(fusion, "bm25") == 0 ? k : depth, rows, NULL);
		if (want_semantic)
			(void) read_list(heap, index, HYBRID_STRATEGY_SEMANTIC, query,
							 strcmp(fusion, "semantic") == 0 ? k : depth, rows, NULL);
	}

	order = palloc(sizeof(SearchRow *) * Max(hash_get_num_entries(rows), 1));
	hash_seq_init(&status, rows);
	while ((row = hash_seq_search(&status)) != NULL)
	{
		if (strcmp(fusion, "rrf") == 0)
			row->score = (row->bm25_rank ? 1.0 / (rrf_k + row->bm25_rank) : 0.0) +
				(row->semantic_rank ? 1.0 / (rrf_k + row->semantic_rank) : 0.0);
		else if (strcmp(fusion, "bm25") == 0)
			row->score = row->bm25_score;
		else if (strcmp(fusion, "semantic") == 0)
			row->score = 1.0 - row->semantic_distance;
		else if (!row->fused_rank)
			continue;			/* 'score': only the fused top k */
		if (row->score > 0 || strcmp(fusion, "rrf") != 0)
			order[norder++] = row;
	}
	qsort(order, norder, sizeof(SearchRow *), compare_score_desc);

	for (int i = 0; i < norder && i < k; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		row = order[i];
		*tid = row->tid;
		values[0] = PointerGetDatum(tid);
		values[1] = Float8GetDatum(row->score);
		values[2] = Int32GetDatum(row->bm25_rank);
		values[3] = Float8GetDatum(row->bm25_score);
		values[4] = Int32GetDatum(row->semantic_rank);
		values[5] = Float8GetDatum(row->semantic_distance);
		nulls[2] = nulls[3] = row->bm25_rank == 0;
		nulls[4] = nulls[5] = row->semantic_rank == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	table_close(heap, AccessShareLock);
	index_close(index, AccessShareLock);
	return (Datum) 0;
}
