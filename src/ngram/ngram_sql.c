/*-------------------------------------------------------------------------
 *
 * ngram_sql.c
 *	  SQL side of the n-gram index: retrieval.ngram_count, ngram_next,
 *	  ngram_docs, seal_search, ngram_stats, the per-row <%> operator, and
 *	  the settings.  Text arguments go with byte-mode parts (text indexes
 *	  WITH (ngrams = on)), integer arrays with token-mode ones (ngram_ops).
 *
 * Rows come back by ctid, and only rows visible to the statement's
 * snapshot (each document's heap TID is fetched through the table AM,
 * following HOT chains); counts are over the index's documents, which
 * include deleted rows until VACUUM (ngram.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "../bm25/bm25.h"
#include "ngram.h"

PG_FUNCTION_INFO_V1(retrieval_ngram_count_text);
PG_FUNCTION_INFO_V1(retrieval_ngram_count_tokens);
PG_FUNCTION_INFO_V1(retrieval_ngram_next_text);
PG_FUNCTION_INFO_V1(retrieval_ngram_next_tokens);
PG_FUNCTION_INFO_V1(retrieval_ngram_docs_text);
PG_FUNCTION_INFO_V1(retrieval_ngram_docs_tokens);
PG_FUNCTION_INFO_V1(retrieval_seal_search_text);
PG_FUNCTION_INFO_V1(retrieval_seal_search_tokens);
PG_FUNCTION_INFO_V1(retrieval_seal_distance);
PG_FUNCTION_INFO_V1(retrieval_ngram_stats);
PG_FUNCTION_INFO_V1(retrieval_int4_ngram_support);

static const struct config_enum_entry seal_runs_options[] = {
	{"longest", SEAL_RUNS_LONGEST, false},
	{"all", SEAL_RUNS_ALL, false},
	{NULL, 0, false}
};

void
ngram_settings_init(void)
{
	DefineCustomEnumVariable("retrieval.seal_query_ngrams",
							 "Which n-grams of the query text <%> scores.",
							 "longest: from each word, the longest word run that occurs in the corpus "
							 "(skipping runs inside the previous one); all: every word run that occurs.",
							 &seal_query_runs,
							 SEAL_RUNS_LONGEST, seal_runs_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("retrieval.seal_max_occurrences",
							"N-grams occurring more often than this are left out of SEAL queries.",
							"Each occurrence of a query n-gram costs a locate in the FM-index; "
							"such frequent n-grams weigh almost nothing.",
							&seal_max_occurrences,
							10000, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/* Support function 1 of ngram_ops. */
Datum
retrieval_int4_ngram_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OPCLASS_INT4_NGRAM);
}

/* ---- opening ---- */

BlockNumber
ngram_part_of(Relation index)
{
	RetrievalOpclassCode code = retrieval_opclass_code(index);

	if (code == OPCLASS_INT4_NGRAM)
		return 0;
	if (code == OPCLASS_TEXT_BM25)
	{
		Bm25MetaData meta;

		bm25_meta_read(index, &meta);
		if (meta.ngram_meta != 0)
			return meta.ngram_meta;
	}
	return InvalidBlockNumber;
}

Relation
ngram_open_index(Oid indexoid, BlockNumber *metablk)
{
	char	   *name = get_rel_name(indexoid);
	Relation	index;
	AclResult	acl;
	Oid			heapoid;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index with OID %u does not exist", indexoid)));
	if (get_rel_relkind(indexoid) != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name)));
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam != get_index_am_oid("retrieval", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("index \"%s\" is not a retrieval index", name)));
	heapoid = index->rd_index->indrelid;
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));
	*metablk = ngram_part_of(index);
	if (!BlockNumberIsValid(*metablk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has no n-gram index", name),
				 errhint("Create a text index WITH (ngrams = on), or an index on an integer array "
						 "with operator class ngram_ops.")));
	return index;
}

/* The metapage's mode must match the argument's type. */
static void
check_mode(Relation index, const NgramQuery *q, uint32 mode)
{
	if (q->meta.mode != mode)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("index \"%s\" indexes %s", RelationGetRelationName(index),
						q->meta.mode == NGRAM_MODE_BYTES ? "text" : "token ids"),
				 errhint(q->meta.mode == NGRAM_MODE_BYTES ?
						 "Pass the n-gram as text." : "Pass the n-gram as an integer array.")));
}

typedef struct NgramArg
{
	Relation	index;
	NgramQuery	q;
	uint32	   *symbols;
	uint32		len;
} NgramArg;

/* Open the index named by argument 0 and read the n-gram of argument 1. */
static void
open_with_ngram(FunctionCallInfo fcinfo, uint32 mode, NgramArg *a)
{
	BlockNumber metablk;
	NgramDoc	doc;

	a->index = ngram_open_index(PG_GETARG_OID(0), &metablk);
	ngram_query_open(&a->q, a->index, metablk);
	check_mode(a->index, &a->q, mode);
	if (mode == NGRAM_MODE_BYTES)
		ngram_value_symbols(mode, PG_GETARG_DATUM(1), &doc);
	else
		ngram_value_symbols(mode, PG_GETARG_DATUM(1), &doc);
	a->symbols = doc.symbols;
	a->len = doc.len;
}

static void
close_arg(NgramArg *a)
{
	ngram_query_close(&a->q);
	index_close(a->index, AccessShareLock);
}

/* ---- ngram_count ---- */

static Datum
ngram_count_common(FunctionCallInfo fcinfo, uint32 mode)
{
	NgramArg	a;
	uint64		count;

	open_with_ngram(fcinfo, mode, &a);
	count = ngram_count_symbols(&a.q, a.symbols, a.len);
	close_arg(&a);
	PG_RETURN_INT64((int64) count);
}

Datum
retrieval_ngram_count_text(PG_FUNCTION_ARGS)
{
	return ngram_count_common(fcinfo, NGRAM_MODE_BYTES);
}

Datum
retrieval_ngram_count_tokens(PG_FUNCTION_ARGS)
{
	return ngram_count_common(fcinfo, NGRAM_MODE_TOKENS);
}

/* ---- ngram_next ---- */

static NgramCursor *
cursor_for(NgramArg *a)
{
	NgramCursor *c = palloc(sizeof(NgramCursor));

	ngram_cursor_init(&a->q, c);
	for (uint32 i = 0; i < a->len; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!ngram_cursor_extend(&a->q, c, a->symbols[i]))
			break;
	}
	return c;
}

/* argument argno as a result count: if_null when NULL, at least min */
static int32
get_k(FunctionCallInfo fcinfo, int argno, int32 if_null, int32 min)
{
	int32		k;

	if (PG_ARGISNULL(argno))
		return if_null;
	k = PG_GETARG_INT32(argno);
	if (k < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 min > 0 ? errmsg("k must be positive (or NULL for every continuation)")
				 : errmsg("k must not be negative")));
	return k;
}

Datum
retrieval_ngram_next_tokens(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NgramArg	a;
	NgramCursor *c;
	int32		k;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	k = get_k(fcinfo, 2, 0, 1);
	InitMaterializedSRF(fcinfo, 0);
	open_with_ngram(fcinfo, NGRAM_MODE_TOKENS, &a);
	c = cursor_for(&a);
	if (!PG_ARGISNULL(3))
	{
		/* verify the caller's candidates: each once, in the given order */
		NgramDoc	cands;
		uint64	   *counts;

		ngram_value_symbols(NGRAM_MODE_TOKENS, PG_GETARG_DATUM(3), &cands);
		counts = palloc(sizeof(uint64) * Max(cands.len, 1));
		ngram_next_counts(&a.q, c, cands.symbols, cands.len, counts);
		for (uint32 i = 0; i < cands.len; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			bool		dup = false;

			for (uint32 j = 0; j < i && !dup; j++)
				dup = cands.symbols[j] == cands.symbols[i];
			if (dup)
				continue;
			values[0] = Int32GetDatum((int32) cands.symbols[i]);
			values[1] = Int64GetDatum((int64) counts[i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	else
	{
		uint32		n;
		NgramNext  *next = ngram_next(&a.q, c, (uint32) k, &n);

		for (uint32 i = 0; i < n; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = Int32GetDatum((int32) next[i].symbol);
			values[1] = Int64GetDatum((int64) next[i].count);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	close_arg(&a);
	return (Datum) 0;
}

/*
 * Byte mode: the next CHARACTER.  A best-first search over byte strings:
 * a partial UTF-8 sequence counts at least as much as any character it
 * starts, and sorts before them, so popping (count desc, bytes asc) emits
 * complete characters in exactly that order, and only the sequences
 * needed for the top k are ever expanded.
 */
typedef struct CharNode
{
	uint8		bytes[4];
	int			nbytes;
	int			need;			/* bytes of the character */
	uint64		count;
	NgramCursor *cursor;		/* of the prefix + bytes[0..nbytes-1], made on expansion */
} CharNode;

static int
utf8_need(uint8 b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF)
		return 3;
	if (b >= 0xF0 && b <= 0xF4)
		return 4;
	return 0;					/* not a lead byte */
}

static bool
node_before(const CharNode *x, const CharNode *y)
{
	int			n = Min(x->nbytes, y->nbytes);
	int			cmp;

	if (x->count != y->count)
		return x->count > y->count;
	cmp = memcmp(x->bytes, y->bytes, n);
	if (cmp != 0)
		return cmp < 0;
	return x->nbytes < y->nbytes;
}

typedef struct CharHeap
{
	CharNode  **nodes;
	int			n;
	int			cap;
} CharHeap;

static void
heap_push(CharHeap *h, CharNode *node)
{
	int			i;

	if (h->n == h->cap)
	{
		h->cap = Max(h->cap * 2, 64);
		h->nodes = h->nodes ? repalloc(h->nodes, sizeof(CharNode *) * h->cap)
			: palloc(sizeof(CharNode *) * h->cap);
	}
	i = h->n++;
	while (i > 0 && node_before(node, h->nodes[(i - 1) / 2]))
	{
		h->nodes[i] = h->nodes[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->nodes[i] = node;
}

static CharNode *
heap_pop(CharHeap *h)
{
	CharNode   *top = h->nodes[0];
	CharNode   *last = h->nodes[--h->n];
	int			i = 0;

	for (;;)
	{
		int			l = 2 * i + 1;
		int			best = i;
		CharNode   *bestnode = last;

		if (l >= h->n)
			break;
		if (node_before(h->nodes[l], bestnode))
		{
			best = l;
			bestnode = h->nodes[l];
		}
		if (l + 1 < h->n && node_before(h->nodes[l + 1], bestnode))
			best = l + 1;
		if (best == i)
			break;
		h->nodes[i] = h->nodes[best];
		i = best;
	}
	if (h->n > 0)
		h->nodes[i] = last;
	return top;
}

/* Push the children of a node (or of the root when parent is NULL). */
static void
expand(NgramQuery *q, CharHeap *h, const CharNode *parent, const NgramCursor *cursor)
{
	uint32		n;
	NgramNext  *next = ngram_next(q, cursor, 0, &n);

	for (uint32 i = 0; i < n; i++)
	{
		uint8		b = (uint8) next[i].symbol;
		CharNode   *child;

		if (next[i].symbol > 0xFF)
			continue;
		if (parent != NULL ? (b & 0xC0) != 0x80 : utf8_need(b) == 0)
			continue;			/* not valid UTF-8 here */
		child = palloc0(sizeof(CharNode));
		if (parent)
		{
			memcpy(child->bytes, parent->bytes, parent->nbytes);
			child->nbytes = parent->nbytes;
			child->need = parent->need;
		}
		else
			child->need = utf8_need(b);
		child->bytes[child->nbytes++] = b;
		child->count = next[i].count;
		heap_push(h, child);
	}
}

Datum
retrieval_ngram_next_text(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NgramArg	a;
	NgramCursor *root;
	CharHeap	h = {0};
	int32		k;
	int32		emitted = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	k = get_k(fcinfo, 2, 0, 1);
	InitMaterializedSRF(fcinfo, 0);
	open_with_ngram(fcinfo, NGRAM_MODE_BYTES, &a);
	root = cursor_for(&a);
	if (root->count > 0)
		expand(&a.q, &h, NULL, root);
	while (h.n > 0 && (k == 0 || emitted < k))
	{
		CharNode   *node = heap_pop(&h);
		NgramCursor *c;

		CHECK_FOR_INTERRUPTS();
		if (node->nbytes == node->need)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			char		utf8[5];
			char	   *s;

			/* NUL-terminated: pg_any_to_server may return its input as is */
			memcpy(utf8, node->bytes, node->nbytes);
			utf8[node->nbytes] = '\0';
			s = pg_any_to_server(utf8, node->nbytes, PG_UTF8);
			values[0] = PointerGetDatum(cstring_to_text(s));
			values[1] = Int64GetDatum((int64) node->count);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			emitted++;
			continue;
		}
		/* the cursor of prefix + node's bytes */
		c = palloc(sizeof(NgramCursor));
		ngram_cursor_copy(&a.q, c, root);
		for (int i = 0; i < node->nbytes; i++)
			ngram_cursor_extend(&a.q, c, node->bytes[i]);
		expand(&a.q, &h, node, c);
	}
	close_arg(&a);
	return (Datum) 0;
}

/* ---- rows ---- */

typedef struct RowFetcher
{
	Relation	heap;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	Snapshot	snapshot;
} RowFetcher;

static void
fetcher_begin(RowFetcher *f, Relation index)
{
	f->heap = table_open(index->rd_index->indrelid, AccessShareLock);
	f->fetch = table_index_fetch_begin(f->heap);
	f->slot = table_slot_create(f->heap, NULL);
	f->snapshot = GetActiveSnapshot();
}

/* the visible version of the row of key (HOT chains followed) into *tid */
static bool
fetch_visible(RowFetcher *f, uint64 key, ItemPointer tid)
{
	bool		call_again = false;
	bool		all_dead = false;
	ItemPointerData root;
	bool		found;

	ngram_key_tid(key, &root);
	found = table_index_fetch_tuple(f->fetch, &root, f->snapshot, f->slot, &call_again,
									&all_dead);
	if (found)
		*tid = f->slot->tts_tid;
	ExecClearTuple(f->slot);
	return found;
}

static void
fetcher_end(RowFetcher *f)
{
	ExecDropSingleTupleTableSlot(f->slot);
	table_index_fetch_end(f->fetch);
	table_close(f->heap, AccessShareLock);
}

static Datum
ngram_docs_common(FunctionCallInfo fcinfo, uint32 mode)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NgramArg	a;
	NgramCursor *c;
	NgramDocHit *hits;
	uint32		n;
	RowFetcher	f;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	open_with_ngram(fcinfo, mode, &a);
	if (a.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the n-gram must not be empty")));
	c = cursor_for(&a);
	hits = ngram_cursor_docs(&a.q, c, &n);
	fetcher_begin(&f, a.index);
	for (uint32 i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(&f, hits[i].key, tid))
			continue;
		values[0] = PointerGetDatum(tid);
		values[1] = Int32GetDatum((int32) Min(hits[i].occurrences, PG_INT32_MAX));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	fetcher_end(&f);
	close_arg(&a);
	return (Datum) 0;
}

Datum
retrieval_ngram_docs_text(PG_FUNCTION_ARGS)
{
	return ngram_docs_common(fcinfo, NGRAM_MODE_BYTES);
}

Datum
retrieval_ngram_docs_tokens(PG_FUNCTION_ARGS)
{
	return ngram_docs_common(fcinfo, NGRAM_MODE_TOKENS);
}

/* ---- seal_search ---- */

/* top k visible rows of a ranking into the result */
static void
emit_ranked(ReturnSetInfo *rsinfo, Relation index, const SealHit *hits, uint32 n, int32 k)
{
	RowFetcher	f;
	int32		got = 0;

	fetcher_begin(&f, index);
	for (uint32 i = 0; i < n && got < k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(&f, hits[i].key, tid))
			continue;
		values[0] = PointerGetDatum(tid);
		values[1] = Float8GetDatum(hits[i].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		got++;
	}
	fetcher_end(&f);
}

static float8 *
read_logprobs(FunctionCallInfo fcinfo, int argno, int expected)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float8	   *out;

	if (PG_ARGISNULL(argno))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d log probabilities given for %d n-grams", n, expected)));
	out = palloc(sizeof(float8) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("log probabilities cannot be null")));
		out[i] = DatumGetFloat8(elems[i]);
	}
	return out;
}

Datum
retrieval_seal_search_text(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BlockNumber metablk;
	Relation	index;
	NgramQuery	q;
	SealQuery	sq = {0};
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float8	   *logprobs;
	int32		k;
	SealHit    *hits;
	uint32		nhits;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	k = get_k(fcinfo, 3, 10, 0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	logprobs = read_logprobs(fcinfo, 2, n);
	index = ngram_open_index(PG_GETARG_OID(0), &metablk);
	ngram_query_open(&q, index, metablk);
	check_mode(index, &q, NGRAM_MODE_BYTES);
	for (int i = 0; i < n; i++)
	{
		NgramDoc	doc;

		if (nulls[i])
			continue;
		ngram_value_symbols(NGRAM_MODE_BYTES, elems[i], &doc);
		seal_query_add(&q, &sq, doc.symbols, doc.len,
					   logprobs ? logprobs[i] : SEAL_UNSUPERVISED_LOGPROB);
	}
	seal_query_finish(&sq);
	hits = seal_rank(&q, &sq, &nhits);
	emit_ranked(rsinfo, index, hits, nhits, k);
	ngram_query_close(&q);
	index_close(index, AccessShareLock);
	return (Datum) 0;
}

/* token n-grams: one int4[] with -1 between n-grams */
Datum
retrieval_seal_search_tokens(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BlockNumber metablk;
	Relation	index;
	NgramQuery	q;
	SealQuery	sq = {0};
	ArrayType  *arr;
	int32	   *ids;
	int			n;
	int			nngrams = 0;
	float8	   *logprobs;
	int32		k;
	SealHit    *hits;
	uint32		nhits;
	uint32	   *buf;
	uint32		len = 0;
	int			which = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	k = get_k(fcinfo, 3, 10, 0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1 || (ARR_HASNULL(arr) && array_contains_nulls(arr)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n-grams must be a one-dimensional integer array without nulls, "
						"with -1 between n-grams")));
	n = ARR_NDIM(arr) == 0 ? 0 : ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	ids = (int32 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
	{
		if (ids[i] < -1)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("token id %d is out of range for an n-gram index", ids[i])));
		if (ids[i] != -1 && (i + 1 == n || ids[i + 1] == -1))
			nngrams++;
	}
	logprobs = read_logprobs(fcinfo, 2, nngrams);
	index = ngram_open_index(PG_GETARG_OID(0), &metablk);
	ngram_query_open(&q, index, metablk);
	check_mode(index, &q, NGRAM_MODE_TOKENS);
	buf = palloc(sizeof(uint32) * Max(n, 1));
	for (int i = 0; i <= n; i++)
	{
		if (i == n || ids[i] == -1)
		{
			if (len > 0)
			{
				seal_query_add(&q, &sq, buf, len,
							   logprobs ? logprobs[which] : SEAL_UNSUPERVISED_LOGPROB);
				which++;
			}
			len = 0;
			continue;
		}
		buf[len++] = (uint32) ids[i];
	}
	seal_query_finish(&sq);
	hits = seal_rank(&q, &sq, &nhits);
	emit_ranked(rsinfo, index, hits, nhits, k);
	ngram_query_close(&q);
	index_close(index, AccessShareLock);
	return (Datum) 0;
}

/* ---- text <%> text, one row ---- */

typedef struct SealRowCache
{
	Oid			indexoid;
	char	   *qtext;
	int			qlen;
	SealQuery	sq;
	MemoryContext context;
} SealRowCache;

/* The unsupervised query of a text (UTF-8 first) against an open query of the index. */
void
seal_query_for_text(NgramQuery *q, const char *qtext, int qlen, SealQuery *sq)
{
	const char *utf8 = (const char *) pg_do_encoding_conversion((unsigned char *) qtext, qlen,
																GetDatabaseEncoding(), PG_UTF8);

	if (utf8 != qtext)
		qlen = strlen(utf8);
	check_mode(q->index, q, NGRAM_MODE_BYTES);
	memset(sq, 0, sizeof(*sq));
	seal_query_unsupervised(q, sq, (const uint8 *) utf8, qlen);
	seal_query_finish(sq);
}

Datum
retrieval_seal_distance(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	text	   *qt = PG_GETARG_TEXT_PP(1);
	Oid			indexoid;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(qt), VARSIZE_ANY_EXHDR(qt), &indexoid, &qlen);
	SealRowCache *cache = fcinfo->flinfo->fn_extra;
	NgramDoc	d;
	float8		score;

	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("operator <%%> needs the n-gram index of its left operand"),
				 errdetail("SEAL scores use the n-gram counts of an index; none was found for this expression."),
				 errhint("Create one with CREATE INDEX ... USING retrieval (column) WITH (ngrams = on), "
						 "or name it: column <%%> retrieval.bm25_query('query', 'index_name').")));
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SealRowCache));
		cache->context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retrieval seal row scorer",
											   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->indexoid != indexoid || cache->qlen != qlen ||
		memcmp(cache->qtext, qtext, qlen) != 0)
	{
		MemoryContext old;
		Relation	index;
		BlockNumber metablk;
		NgramQuery	q;

		MemoryContextReset(cache->context);
		cache->indexoid = InvalidOid;
		old = MemoryContextSwitchTo(cache->context);
		index = ngram_open_index(indexoid, &metablk);
		ngram_query_open(&q, index, metablk);
		seal_query_for_text(&q, qtext, qlen, &cache->sq);
		ngram_query_close(&q);
		index_close(index, AccessShareLock);
		cache->qtext = palloc(qlen + 1);
		memcpy(cache->qtext, qtext, qlen);
		cache->qlen = qlen;
		cache->indexoid = indexoid;
		MemoryContextSwitchTo(old);
	}
	ngram_value_symbols(NGRAM_MODE_BYTES, PointerGetDatum(doc), &d);
	score = seal_score_symbols(&cache->sq, d.symbols, d.len);
	pfree(d.symbols);
	PG_RETURN_FLOAT8(score > 0 ? -score : 0.0);
}

/* ---- ngram_stats ---- */

Datum
retrieval_ngram_stats(PG_FUNCTION_ARGS)
{
	BlockNumber metablk;
	Relation	index = ngram_open_index(PG_GETARG_OID(0), &metablk);
	NgramMetaData meta;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};
	int64		segment_pages = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	ngram_meta_read(index, metablk, &meta);
	for (uint32 i = 0; i < meta.nsegments; i++)
		segment_pages += meta.segments[i].npages;
	values[0] = CStringGetTextDatum(meta.mode == NGRAM_MODE_BYTES ? "bytes" : "tokens");
	values[1] = Int64GetDatum(meta.ndocs);
	values[2] = Int64GetDatum(meta.nsymbols);
	values[3] = Int32GetDatum((int32) meta.nsegments);
	values[4] = Int32GetDatum((int32) meta.buffer_docs);
	values[5] = Int64GetDatum(segment_pages * BLCKSZ);
	index_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
