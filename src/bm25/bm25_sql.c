/*-------------------------------------------------------------------------
 *
 * bm25_sql.c
 *	  SQL side of BM25: the <@> operator computed for one row, its planner
 *	  support function, retrieval.bm25_query / bm25_score / index_stats.
 *
 * The per-row operator needs the corpus statistics of "the index on that
 * column", which an operator function cannot see.  So the query carries
 * it: retrieval.bm25_query('q', idx) returns the text
 *	  "\x1Fbm25:<index oid>\x1F" || 'q'
 * which the operator and the index scan both unwrap.  For the bare form
 * (col <@> 'q', col <@> $1), the operator function's planner support
 * function (SupportRequestSimplify) sees the column, finds the one BM25
 * index on it (a plain column, varchar included, or the same expression as
 * an expression index) and rewrites the right operand into
 * retrieval.bm25_query(<operand>, '<index>'::regclass); the result is
 * still an OpExpr of <@>, so ORDER BY col <@> ... keeps matching the
 * index, and the per-row value equals the index scan's.  bm25_query is
 * STABLE, so it is evaluated at execution (parameters work; EXPLAIN shows
 * the index it chose).  Where no planner runs on the expression (PL/pgSQL
 * variables, several indexes on the column) the operator reports an error
 * with a hint to name the index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "bm25.h"

PG_FUNCTION_INFO_V1(retrieval_bm25_distance);
PG_FUNCTION_INFO_V1(retrieval_bm25_distance_support);
PG_FUNCTION_INFO_V1(retrieval_bm25_query);
PG_FUNCTION_INFO_V1(retrieval_bm25_score);
PG_FUNCTION_INFO_V1(retrieval_bm25_index_stats);

#define WRAP_PREFIX		"\x1F" "bm25:"
#define WRAP_PREFIX_LEN	6

/* ------------------------------------------------------------------------
 * The query wrapper
 * ------------------------------------------------------------------------
 */

const char *
bm25_query_unwrap(const char *text, int len, Oid *indexoid, int *qlen)
{
	*indexoid = InvalidOid;
	*qlen = len;
	if (len > WRAP_PREFIX_LEN && memcmp(text, WRAP_PREFIX, WRAP_PREFIX_LEN) == 0)
	{
		uint64		oid = 0;
		int			i = WRAP_PREFIX_LEN;

		while (i < len && i < WRAP_PREFIX_LEN + 11 && text[i] >= '0' && text[i] <= '9')
			oid = oid * 10 + (text[i++] - '0');
		if (i < len && text[i] == '\x1F' && i > WRAP_PREFIX_LEN && oid <= PG_UINT32_MAX)
		{
			*indexoid = (Oid) oid;
			*qlen = len - i - 1;
			return text + i + 1;
		}
	}
	return text;
}

/*
 * Open a BM25 index named by the user (by OID): it must be one, and the
 * user must be allowed to read its table (its statistics describe it).
 */
Relation
bm25_open_index(Oid indexoid)
{
	Relation	index;
	Oid			heapoid;
	AclResult	acl;

	char	   *name = get_rel_name(indexoid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index with OID %u does not exist", indexoid)));
	if (get_rel_relkind(indexoid) != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name),
				 errhint("Name an index created USING retrieval on a text column.")));
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam != get_index_am_oid("retrieval", false) ||
		retrieval_opclass_code(index) != OPCLASS_TEXT_BM25)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("index \"%s\" is not a BM25 index", RelationGetRelationName(index)),
				 errhint("Name an index created USING retrieval on a text column.")));
	heapoid = index->rd_index->indrelid;
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));
	return index;
}

/* retrieval.bm25_query(query text, index regclass) RETURNS text */
Datum
retrieval_bm25_query(PG_FUNCTION_ARGS)
{
	text	   *q = PG_GETARG_TEXT_PP(0);
	Oid			indexoid = PG_GETARG_OID(1);
	Oid			inner;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), &inner, &qlen);
	char		prefix[32];
	int			plen;
	text	   *result;

	/*
	 * Check now (a clear error here beats one from the scan), once per call
	 * site and index: a sequential scan evaluates this for every row.
	 */
	if (fcinfo->flinfo->fn_extra == NULL ||
		*(Oid *) fcinfo->flinfo->fn_extra != indexoid)
	{
		index_close(bm25_open_index(indexoid), AccessShareLock);
		if (fcinfo->flinfo->fn_extra == NULL)
			fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		*(Oid *) fcinfo->flinfo->fn_extra = indexoid;
	}
	plen = snprintf(prefix, sizeof(prefix), WRAP_PREFIX "%u\x1F", indexoid);
	result = (text *) palloc(VARHDRSZ + plen + qlen);
	SET_VARSIZE(result, VARHDRSZ + plen + qlen);
	memcpy(VARDATA(result), prefix, plen);
	memcpy(VARDATA(result) + plen, qtext, qlen);
	PG_RETURN_TEXT_P(result);
}

/* ------------------------------------------------------------------------
 * Per-row scoring
 * ------------------------------------------------------------------------
 */

typedef struct RowScorer
{
	MemoryContext context;
	Oid			indexoid;		/* Invalid: unused entry */
	char	   *qtext;
	int			qlen;
	Bm25MetaData meta;
	Bm25Query	q;
} RowScorer;

/*
 * A few queries per call site: a join can alternate between queries row by
 * row (queries x documents), and recomputing statistics per row would cost
 * a dictionary lookup per term and segment and a buffer scan each time.
 */
#define ROW_SCORERS		8

typedef struct RowScorerCache
{
	RowScorer	entries[ROW_SCORERS];
	int			next;			/* round-robin victim */
} RowScorerCache;

/* The statistics of query q against the index, cached across rows. */
static RowScorer *
row_scorer(FunctionCallInfo fcinfo, Oid indexoid, const char *qtext, int qlen)
{
	RowScorerCache *cache = (RowScorerCache *) fcinfo->flinfo->fn_extra;
	RowScorer  *rs;
	MemoryContext old;
	Relation	index;
	Bm25Bag    *bag;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowScorerCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	for (int i = 0; i < ROW_SCORERS; i++)
	{
		rs = &cache->entries[i];
		if (rs->indexoid == indexoid && OidIsValid(indexoid) && rs->qlen == qlen &&
			memcmp(rs->qtext, qtext, qlen) == 0)
			return rs;
	}
	rs = &cache->entries[cache->next];
	cache->next = (cache->next + 1) % ROW_SCORERS;
	if (rs->context == NULL)
		rs->context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retrieval bm25 row scorer",
											ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(rs->context);
	old = MemoryContextSwitchTo(rs->context);
	rs->indexoid = InvalidOid;	/* until complete */
	index = bm25_open_index(indexoid);
	bm25_meta_read(index, &rs->meta);
	rs->qtext = palloc(qlen + 1);
	memcpy(rs->qtext, qtext, qlen);
	rs->qlen = qlen;
	bag = bm25_analyze(&rs->meta, qtext, qlen);
	memset(&rs->q, 0, sizeof(rs->q));
	rs->q.bag = *bag;
	bm25_query_stats(index, &rs->meta, &rs->q);
	index_close(index, AccessShareLock);
	rs->indexoid = indexoid;
	MemoryContextSwitchTo(old);
	return rs;
}

static float8
score_row(FunctionCallInfo fcinfo, text *doc, Oid indexoid, const char *qtext, int qlen)
{
	RowScorer  *rs = row_scorer(fcinfo, indexoid, qtext, qlen);
	Bm25Bag    *bag;
	float8		score;

	if (rs->q.bag.nterms == 0)
		return 0.0;
	bag = bm25_analyze(&rs->meta, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc));
	score = bm25_score_bag(&rs->q, bag);
	return score;
}

/* text <@> text: the negated BM25 score of the left text for the query. */
Datum
retrieval_bm25_distance(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	text	   *q = PG_GETARG_TEXT_PP(1);
	Oid			indexoid;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), &indexoid, &qlen);
	float8		score;

	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("operator <@> needs the BM25 index of its left operand"),
				 errdetail("BM25 scores use the corpus statistics of an index; none was found for this expression "
						   "(no retrieval index on the column, several of them, or an expression the planner could not see)."),
				 errhint("Create one with CREATE INDEX ... USING retrieval (column), "
						 "or name it: column <@> retrieval.bm25_query('query', 'index_name').")));
	score = score_row(fcinfo, doc, indexoid, qtext, qlen);
	PG_RETURN_FLOAT8(score > 0 ? -score : 0.0);
}

/* retrieval.bm25_score(document text, query text, index regclass): the BM25 score */
Datum
retrieval_bm25_score(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	text	   *q = PG_GETARG_TEXT_PP(1);
	Oid			indexoid = PG_GETARG_OID(2);
	Oid			inner;
	int			qlen;
	const char *qtext = bm25_query_unwrap(VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), &inner, &qlen);

	PG_RETURN_FLOAT8(score_row(fcinfo, doc, indexoid, qtext, qlen));
}

/* ------------------------------------------------------------------------
 * Planner support: bind the bare form to the column's index
 * ------------------------------------------------------------------------
 */

static Node *
strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

/* Was the text index built WITH (ngrams = on)?  (its metapage says) */
static bool
text_index_has_ngrams(Relation index)
{
	Bm25MetaData meta;

	bm25_meta_read(index, &meta);
	return meta.ngram_meta != 0;
}

/*
 * The BM25 index whose key is expr (of range table entry varno), or
 * Invalid; with need_ngrams, only indexes with an n-gram part (<%>).
 * Valid, non-partial indexes are preferred to partial ones.
 * Several candidates are accepted only when they are interchangeable
 * (same options: the same analyzer, k1 and b, as during REINDEX
 * CONCURRENTLY, when the old and the new index are both valid for a
 * moment); the lowest OID is then chosen.  Otherwise the user must name one.
 */
static Oid
find_index_for(PlannerInfo *root, Node *expr, Index varno, bool need_ngrams)
{
	RangeTblEntry *rte = rt_fetch(varno, root->parse->rtable);
	Relation	heap;
	List	   *indexes;
	ListCell   *lc;
	Oid			found[2] = {InvalidOid, InvalidOid};	/* non-partial, partial */
	int			nfound[2] = {0, 0};
	bool		interchangeable[2] = {true, true};
	bytea	   *first_options[2] = {NULL, NULL};
	Oid			amoid = get_index_am_oid("retrieval", true);
	Node	   *key;

	if (rte->rtekind != RTE_RELATION || !OidIsValid(amoid))
		return InvalidOid;
	key = (Node *) copyObjectImpl(strip_relabel(expr));
	if (varno != 1)
		ChangeVarNodes(key, varno, 1, 0);

	heap = table_open(rte->relid, NoLock);
	indexes = RelationGetIndexList(heap);
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	index = index_open(indexoid, AccessShareLock);
		bool		match = false;
		int			kind;

		if (index->rd_rel->relam == amoid && index->rd_index->indnatts == 1 &&
			index->rd_index->indisvalid &&
			retrieval_opclass_code(index) == OPCLASS_TEXT_BM25 &&
			(!need_ngrams || text_index_has_ngrams(index)))
		{
			AttrNumber attno = index->rd_index->indkey.values[0];

			if (attno != 0)
				match = IsA(key, Var) && ((Var *) key)->varattno == attno &&
					((Var *) key)->varlevelsup == 0;
			else
			{
				List	   *exprs = RelationGetIndexExpressions(index);

				match = exprs != NIL && equal(strip_relabel(linitial(exprs)), key);
			}
		}
		if (match)
		{
			bytea	   *opts = (bytea *) index->rd_options;

			kind = heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) ? 0 : 1;
			if (nfound[kind] == 0)
				first_options[kind] = opts ? (bytea *) pnstrdup((char *) opts, VARSIZE(opts)) : NULL;
			else if ((opts == NULL) != (first_options[kind] == NULL) ||
					 (opts && (VARSIZE(opts) != VARSIZE(first_options[kind]) ||
							   memcmp(opts, first_options[kind], VARSIZE(opts)) != 0)))
				interchangeable[kind] = false;
			if (nfound[kind] == 0 || indexoid < found[kind])
				found[kind] = indexoid;
			nfound[kind]++;
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	table_close(heap, NoLock);
	for (int kind = 0; kind < 2; kind++)
		if (nfound[kind] > 0)
			return interchangeable[kind] ? found[kind] : InvalidOid;
	return InvalidOid;
}

static Oid
bm25_query_function(void)
{
	Oid			argtypes[2] = {TEXTOID, REGCLASSOID};

	return LookupFuncName(list_make2(makeString("retrieval"), makeString("bm25_query")), 2,
						  argtypes, true);
}

/* The text operators whose functions this support function serves. */
static const char *const text_operators[] = {"<@>", "<~>", "<=>", "<%>"};

Datum
retrieval_bm25_distance_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	FuncExpr   *fcall;
	Node	   *left;
	Node	   *right;
	Oid			queryfn;
	Relids		relids;
	int			varno;
	Oid			indexoid;
	FuncExpr   *wrapped;
	OpExpr	   *op;
	Oid			opno;
	char	   *nspname;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	fcall = req->fcall;
	if (req->root == NULL || list_length(fcall->args) != 2)
		PG_RETURN_POINTER(NULL);
	left = linitial(fcall->args);
	right = lsecond(fcall->args);

	/* already bound to an index (by the user or an earlier planning) */
	queryfn = bm25_query_function();
	if (!OidIsValid(queryfn))
		PG_RETURN_POINTER(NULL);
	if (IsA(right, FuncExpr) && ((FuncExpr *) right)->funcid == queryfn)
		PG_RETURN_POINTER(NULL);
	if (IsA(right, Const) && !((Const *) right)->constisnull)
	{
		Oid			inner;
		int			qlen;
		text	   *t = DatumGetTextPP(((Const *) right)->constvalue);

		(void) bm25_query_unwrap(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &inner, &qlen);
		if (OidIsValid(inner))
			PG_RETURN_POINTER(NULL);
	}

	/* the left operand: one relation of this query level, no sublinks */
	if (contain_vars_of_level(left, 1) || contain_subplans(left) ||
		checkExprHasSubLink(left))
		PG_RETURN_POINTER(NULL);
	relids = pull_varnos(req->root, left);
	if (!bms_get_singleton_member(relids, &varno) ||
		varno > list_length(req->root->parse->rtable))
		PG_RETURN_POINTER(NULL);

	/* the operator of this function: <@>, <~>, <=> (src/fusion/) or <%> (src/ngram/) */
	nspname = get_namespace_name(get_func_namespace(fcall->funcid));
	opno = InvalidOid;
	for (int i = 0; i < (int) lengthof(text_operators) && !OidIsValid(opno); i++)
	{
		Oid			candidate = OpernameGetOprid(list_make2(makeString(nspname),
															makeString((char *) text_operators[i])),
												 TEXTOID, TEXTOID);

		if (OidIsValid(candidate) && get_opcode(candidate) == fcall->funcid)
			opno = candidate;
	}
	if (!OidIsValid(opno))
		PG_RETURN_POINTER(NULL);

	/* <%> needs an index with an n-gram part: others on the column do not count */
	indexoid = find_index_for(req->root, left, (Index) varno,
							  strcmp(get_opname(opno), "<%>") == 0);
	if (!OidIsValid(indexoid))
		PG_RETURN_POINTER(NULL);

	wrapped = makeFuncExpr(queryfn, TEXTOID,
						   list_make2(right, makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
													   ObjectIdGetDatum(indexoid), false, true)),
						   InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
	op = makeNode(OpExpr);
	op->opno = opno;
	op->opfuncid = fcall->funcid;
	op->opresulttype = fcall->funcresulttype;
	op->opretset = false;
	op->opcollid = fcall->funccollid;
	op->inputcollid = fcall->inputcollid;
	op->args = list_make2(left, wrapped);
	op->location = fcall->location;
	PG_RETURN_POINTER(op);
}

/* ------------------------------------------------------------------------
 * retrieval.index_stats(regclass)
 * ------------------------------------------------------------------------
 */

static void
count_visit(void *arg, ItemPointer tid, uint32 length, const Bm25Bag *doc)
{
	(void) tid;
	(void) length;
	(void) doc;
	(*(int64 *) arg)++;
}

Datum
retrieval_bm25_index_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index = bm25_open_index(indexoid);
	Bm25MetaData meta;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	int64		segment_terms = 0;
	int64		segment_docs = 0;
	int64		buffered = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	bm25_meta_read(index, &meta);
	for (uint32 s = 0; s < meta.nsegments; s++)
	{
		segment_terms += meta.segments[s].nterms;
		segment_docs += meta.segments[s].ndocs;
	}
	if (BlockNumberIsValid(meta.sealed_head))
		bm25_buffer_scan(index, meta.sealed_head, false, count_visit, &buffered);
	bm25_buffer_scan(index, meta.buffer_head, false, count_visit, &buffered);
	index_close(index, AccessShareLock);

	values[0] = Int64GetDatum(meta.ndocs);
	values[1] = Float8GetDatum(meta.ndocs > 0 ? (float8) meta.total_length / meta.ndocs : 0.0);
	values[2] = Int32GetDatum((int32) meta.nsegments);
	values[3] = Int64GetDatum(segment_docs);
	values[4] = Int64GetDatum(segment_terms);
	values[5] = Int64GetDatum(buffered);
	values[6] = Int64GetDatum((int64) nblocks);
	values[7] = Int64GetDatum((int64) nblocks * BLCKSZ);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
