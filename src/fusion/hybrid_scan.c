/*-------------------------------------------------------------------------
 *
 * hybrid_scan.c
 *	  Ordered scans of a text index with a dense part, for its three
 *	  operators:
 *
 *	<@>	BM25 (bm25_stream.c) over element keys; each key is turned into
 *		its heap TID through the element tuple (a deleted element's
 *		document is skipped: VACUUM removes both);
 *	<~>	the graph, searched with the query's embedding in rounds of
 *		retrieval.ef_search (as src/hnsw/hnsw_scan.c does), each row's
 *		value the exact cosine distance to the embedding in its element;
 *	<=>	both streams fused with Fagin's threshold algorithm (see
 *		hybrid.h): candidates from either stream are scored exactly and
 *		kept in a heap; the best is returned once its distance is at most
 *		the threshold, the best distance an unseen row could have.  A
 *		candidate from the graph gets its BM25 score by analyzing the
 *		row's indexed value (heap row, scan snapshot; a row the snapshot
 *		does not see is dropped, as the executor would drop it).
 *
 * Rows come in the operator's order (<~> and <=> up to the graph's
 * approximation: HNSW rounds are sorted, a later round can hold a closer
 * row); the values are exact, so the executor rechecks nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "lib/pairingheap.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "../hnsw/hnsw.h"
#include "hybrid.h"

/*
 * The first batch of the BM25 stream in a fused scan.  The threshold
 * algorithm reads past the lexical top 10 for most queries (on the first
 * en-985k passages: 11 to 25 BM25 documents for a LIMIT 10), and a stream
 * that starts at 10 then computes its top 10 and, again from scratch, its
 * top 40: starting at 40 computes one top-k instead of two.
 */
#define FUSED_LEXICAL_FIRST_K 40

typedef struct Candidate
{
	pairingheap_node ph;
	float8		distance;		/* the operator's value */
	ItemPointerData heaptid;
	HnswNode	node;			/* its element */
	float8		bm25;			/* its BM25 score (<=>) */
} Candidate;

typedef struct HybridScanOpaqueData
{
	MemoryContext context;		/* everything below lives here */
	MemoryContext row_context;	/* reset per analyzed row */
	int			strategy;
	bool		done;			/* nothing (more) to return */
	Bm25MetaData meta;
	HnswMetaData dmeta;
	const EmbedModel *model;

	/* lexical */
	Bm25Query	query;
	Bm25Stream	bstream;
	bool		b_exhausted;
	float8		b_last;			/* score of the last document read */
	float8		bm25max;
	float8		weight;
	Oid			query_index;	/* whose statistics: this index or the bound one */
	const char *qtext;			/* the query text, unbound */
	int			qlen;

	/* semantic */
	float	   *qvec;			/* unit length */
	bool		has_qvec;
	HnswDiskGraph *graph;
	bool		d_started;
	bool		d_exhausted;
	HnswSearch	search;
	HnswCandidate *batch;
	int			nbatch;
	int			next;
	float		d_last;			/* cosine distance of the last element read */

	/* fused */
	HTAB	   *seen;			/* element nodes already scored */
	pairingheap *candidates;	/* nearest first */
	bool		pull_lexical;	/* alternate between the streams */
	int64		n_lexical;		/* candidates read from each stream */
	int64		n_semantic;
	int64		n_analyzed;		/* graph candidates analyzed from the heap */

	/* reading indexed values from the heap (graph candidates of <=>) */
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	IndexInfo  *index_info;
	EState	   *estate;
} HybridScanOpaqueData;

typedef HybridScanOpaqueData *HybridScanOpaque;

static int
candidate_cmp(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	const Candidate *ca = pairingheap_const_container(Candidate, ph, a);
	const Candidate *cb = pairingheap_const_container(Candidate, ph, b);

	(void) arg;
	/* pairingheap keeps the greatest first: invert for nearest first */
	if (ca->distance < cb->distance)
		return 1;
	if (ca->distance > cb->distance)
		return -1;
	return -ItemPointerCompare((ItemPointer) &ca->heaptid, (ItemPointer) &cb->heaptid);
}

IndexScanDesc
hybrid_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = retrieval_scan_begin(index, nkeys, norderbys);
	HybridScanOpaque so = palloc0(sizeof(HybridScanOpaqueData));

	so->context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid scan",
										ALLOCSET_DEFAULT_SIZES);
	so->row_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid scan row",
											ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/* The query text without the index binding, as a text datum. */
static text *
plain_query(Datum arg)
{
	text	   *t = DatumGetTextPP(arg);
	Oid			named;
	int			qlen;
	const char *q = bm25_query_unwrap(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &named, &qlen);

	return cstring_to_text_with_len(q, qlen);
}

/* End what row_value() set up (it lives in so->context). */
static void
release_heap_access(HybridScanOpaque so)
{
	if (so->slot)
		ExecDropSingleTupleTableSlot(so->slot);
	if (so->fetch)
		table_index_fetch_end(so->fetch);
	if (so->estate)
		FreeExecutorState(so->estate);
	so->slot = NULL;
	so->fetch = NULL;
	so->estate = NULL;
}

void
hybrid_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	HybridScanOpaque so = (HybridScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	MemoryContext old;
	HASHCTL		ctl;
	Oid			bound;

	(void) nkeys;
	(void) norderbys;
	retrieval_scan_set_keys(scan, keys, orderbys);
	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a text index can only be scanned in distance order"),
				 errhint("Use ORDER BY column <=> 'query' (or <@>, <~>).")));

	release_heap_access(so);
	MemoryContextReset(so->context);
	so->graph = NULL;
	so->d_started = false;
	old = MemoryContextSwitchTo(so->context);
	so->strategy = scan->orderByData[0].sk_strategy;
	so->done = (scan->orderByData[0].sk_flags & SK_ISNULL) != 0;
	so->b_exhausted = so->d_exhausted = false;
	so->b_last = 0.0;
	so->d_last = 0.0f;
	so->nbatch = so->next = 0;
	so->pull_lexical = true;
	so->n_lexical = so->n_semantic = so->n_analyzed = 0;
	so->has_qvec = false;
	so->model = NULL;
	memset(&so->query, 0, sizeof(so->query));

	bm25_meta_read(index, &so->meta);
	hnsw_meta_read(index, &so->dmeta);
	/* <@> needs no model: its rows only go through the elements */
	if (so->strategy != HYBRID_STRATEGY_BM25)
	{
		so->model = hybrid_index_model(index, &so->dmeta.model);
		if ((int) so->dmeta.dims != so->model->dims)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has embeddings of %u dimensions, its model makes %d",
							RelationGetRelationName(index), so->dmeta.dims, so->model->dims),
					 errhint("REINDEX the index.")));
	}
	so->weight = fusion_weight_for(index);
	so->graph = hnsw_disk_graph_create(index, &so->dmeta, false);

	if (!so->done)
	{
		Datum		arg = scan->orderByData[0].sk_argument;

		{
			text	   *t = DatumGetTextPP(arg);
			Oid			named;

			so->qtext = bm25_query_unwrap(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &named, &so->qlen);
		}
		so->query_index = RelationGetRelid(index);
		if (so->strategy != HYBRID_STRATEGY_SEMANTIC)
		{
			bm25_scan_query(index, &so->meta, arg, &so->query, &bound);
			if (OidIsValid(bound))
			{
				/* an equivalent index stands in: its weight, as the operator */
				Relation	other = bm25_open_index(bound);

				so->query_index = bound;
				so->weight = fusion_weight_for(other);
				index_close(other, NoLock);
			}
			so->bm25max = fusion_bm25_max(&so->query);
			bm25_stream_init(&so->bstream, index, &so->meta, &so->query,
							 so->strategy == HYBRID_STRATEGY_FUSED ?
							 FUSED_LEXICAL_FIRST_K : BM25_STREAM_FIRST_K);
			so->b_exhausted = so->query.bag.nterms == 0;
		}
		else
			so->b_exhausted = true;
		if (so->strategy != HYBRID_STRATEGY_BM25)
		{
			so->qvec = palloc(sizeof(float) * so->model->dims);
			so->has_qvec = hybrid_embed_unit(so->model, so->dmeta.model.sha256,
											 (so->meta.dense_flags & HYBRID_DENSE_LOWERCASE) != 0,
											 plain_query(arg), so->qvec);
			if (so->has_qvec)
				hnsw_disk_graph_set_query(so->graph, so->qvec);
		}
		if (!so->has_qvec || so->strategy == HYBRID_STRATEGY_BM25)
			so->d_exhausted = true;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(HnswNode);
	ctl.entrysize = sizeof(HnswNode);
	ctl.hcxt = so->context;
	so->seen = hash_create("retrieval hybrid seen elements", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	so->candidates = pairingheap_allocate(candidate_cmp, NULL);
	MemoryContextSwitchTo(old);
}

/* Exact cosine distance (the <~> value) from the query to an element. */
static float8
element_distance(HybridScanOpaque so, HnswNode node)
{
	float		d;

	if (so->dmeta.quantization == QUANT_NONE)
	{
		HnswGraph  *g = hnsw_disk_graph_base(so->graph);

		d = g->query_distance(g, node);
	}
	else
		d = hnsw_distance(HNSW_METRIC_COSINE, so->qvec,
						  hnsw_disk_node_vector(so->graph, node), so->model->dims);
	return hnsw_operator_value(HNSW_METRIC_COSINE, d);
}

/* The next element of the graph stream, nearest first within a round. */
static bool
dense_next(HybridScanOpaque so, HnswCandidate *out)
{
	HnswGraph  *graph = hnsw_disk_graph_base(so->graph);

	if (so->d_exhausted)
		return false;
	if (!so->d_started)
	{
		HnswCandidate entry;

		so->d_started = true;
		if (!ItemPointerIsValid(&so->dmeta.entry))
		{
			so->d_exhausted = true;
			return false;
		}
		entry.node = hnsw_node_from_tid(&so->dmeta.entry);
		entry.distance = graph->query_distance(graph, entry.node);
		entry = hnsw_descend(graph, entry, so->dmeta.entry_level, 0);
		hnsw_search_begin(graph, &so->search, 0, &entry, 1, true);
		so->batch = palloc(sizeof(HnswCandidate) * hnsw_ef_search);
	}
	while (so->next >= so->nbatch)
	{
		so->nbatch = hnsw_search_next_round(graph, &so->search, hnsw_ef_search, so->batch,
											hnsw_node_from_tid(&so->dmeta.entry));
		so->next = 0;
		if (so->nbatch == 0)
		{
			so->d_exhausted = true;
			return false;
		}
	}
	*out = so->batch[so->next++];
	return true;
}

/*
 * The indexed value of a heap row as the scan's snapshot sees it (the
 * column, or the index expression), or NULL.  Allocated in row_context.
 */
static text *
row_value(IndexScanDesc scan, HybridScanOpaque so, ItemPointer heaptid)
{
	ItemPointerData tid = *heaptid;
	bool		call_again = false;
	bool		all_dead = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	text	   *result = NULL;

	if (so->fetch == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(so->context);

		if (scan->heapRelation == NULL)
			elog(ERROR, "the fused scan needs the heap relation");
		so->fetch = table_index_fetch_begin(scan->heapRelation);
		so->slot = table_slot_create(scan->heapRelation, NULL);
		so->index_info = BuildIndexInfo(scan->indexRelation);
		so->estate = CreateExecutorState();
		MemoryContextSwitchTo(old);
	}
	if (!table_index_fetch_tuple(so->fetch, &tid, scan->xs_snapshot, so->slot,
								 &call_again, &all_dead))
		return NULL;
	{
		ExprContext *econtext = GetPerTupleExprContext(so->estate);
		MemoryContext old;

		econtext->ecxt_scantuple = so->slot;
		FormIndexDatum(so->index_info, so->slot, so->estate, values, isnull);
		old = MemoryContextSwitchTo(so->row_context);
		if (!isnull[0])
			result = (text *) PG_DETOAST_DATUM_COPY(values[0]);
		MemoryContextSwitchTo(old);
		ResetExprContext(econtext);
	}
	ExecClearTuple(so->slot);
	return result;
}

static void
add_candidate(HybridScanOpaque so, float8 distance, ItemPointer heaptid, HnswNode node,
			  float8 bm25)
{
	Candidate  *c = MemoryContextAlloc(so->context, sizeof(Candidate));

	c->bm25 = bm25;
	c->distance = distance;
	c->heaptid = *heaptid;
	c->node = node;
	pairingheap_add(so->candidates, &c->ph);
}

/* Mark an element seen; false if it was already. */
static bool
first_sight(HybridScanOpaque so, HnswNode node)
{
	bool		found;

	hash_search(so->seen, &node, HASH_ENTER, &found);
	return !found;
}

/* Read one document of the BM25 stream into the candidates. */
static void
pull_lexical(HybridScanOpaque so)
{
	Bm25Hit		hit;
	HnswNode	node;
	ItemPointerData heaptid;

	if (!bm25_stream_next(&so->bstream, &hit))
	{
		so->b_exhausted = true;
		so->b_last = 0.0;
		return;
	}
	so->b_last = hit.score;
	so->n_lexical++;
	node = hnsw_node_from_tid(&hit.tid);
	if (!first_sight(so, node) ||
		!hnsw_disk_element_info(so->graph, node, &heaptid, NULL))
		return;
	add_candidate(so, fusion_distance(so->weight, hit.score, so->bm25max,
									  so->has_qvec ? element_distance(so, node) : 1.0f),
				  &heaptid, node, hit.score);
}

/* Read one element of the graph stream into the candidates. */
static void
pull_semantic(IndexScanDesc scan, HybridScanOpaque so)
{
	HnswCandidate c;
	ItemPointerData heaptid;
	float8		distance;
	float8		bm25 = 0.0;
	text	   *value;

	if (!dense_next(so, &c))
	{
		so->d_last = 2.0f;
		return;
	}
	if (!first_sight(so, c.node) ||
		!hnsw_disk_element_info(so->graph, c.node, &heaptid, NULL))
		return;
	distance = element_distance(so, c.node);
	so->d_last = (float) distance;
	so->n_semantic++;
	if (so->query.bag.nterms > 0)
	{
		MemoryContext old;

		so->n_analyzed++;
		value = row_value(scan, so, &heaptid);
		if (value == NULL)
		{
			MemoryContextReset(so->row_context);
			return;				/* not visible to this scan */
		}
		old = MemoryContextSwitchTo(so->row_context);
		bm25 = bm25_score_bag(&so->query,
							  bm25_analyze(&so->meta, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)));
		MemoryContextSwitchTo(old);
		MemoryContextReset(so->row_context);
	}
	add_candidate(so, fusion_distance(so->weight, bm25, so->bm25max, (float) distance), &heaptid,
				  c.node, bm25);
}

/*
 * The best distance a row neither stream has returned yet can have.  An
 * exhausted graph stream proves nothing about the rows it did not reach:
 * an element can be unreachable (many identical embeddings link only
 * among themselves: the HNSW issue's open XXX), so from then on an unseen
 * row is only bounded by BM25 (and a cosine distance of 0).  An exhausted
 * BM25 stream does prove that unseen rows contain no query term.
 */
static float8
threshold(HybridScanOpaque so)
{
	float8		b = so->b_exhausted ? 0.0 : so->b_last;
	float		d = so->d_exhausted ? 0.0f : so->d_last;

	if (!so->has_qvec)
		d = 1.0f;
	return fusion_distance(so->weight, b, so->bm25max, d);
}

/*
 * Leave the returned row's text and embedding in the backend's row cache
 * (hybrid_embed.c), where the per-row operator that PostgreSQL evaluates
 * again for the target list finds them instead of embedding the row.
 */
static void
cache_returned_row(IndexScanDesc scan, HybridScanOpaque so, ItemPointer heaptid, HnswNode node,
				   const Candidate *c)
{
	text	   *value = row_value(scan, so, heaptid);
	char		key[HYBRID_CACHE_KEY_LEN];

	hybrid_cache_key(key, so->dmeta.model.sha256,
					 (so->meta.dense_flags & HYBRID_DENSE_LOWERCASE) != 0);
	if (value != NULL)
	{
		hybrid_cache_row_embedding(key, so->model->dims, value,
								   hnsw_disk_node_vector(so->graph, node));
		if (c)
			hybrid_cache_row_bm25(key, value, so->query_index, so->qtext, so->qlen, c->bm25);
	}
	MemoryContextReset(so->row_context);
}

static bool
return_row(IndexScanDesc scan, ItemPointer heaptid, float8 value)
{
	scan->xs_heaptid = *heaptid;
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	scan->xs_orderbyvals[0] = Float8GetDatum(value);
	scan->xs_orderbynulls[0] = false;
	return true;
}

bool
hybrid_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	HybridScanOpaque so = (HybridScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->context);
	bool		found = false;

	(void) dir;
	while (!so->done && !found)
	{
		CHECK_FOR_INTERRUPTS();
		switch (so->strategy)
		{
			case HYBRID_STRATEGY_BM25:
				{
					Bm25Hit		hit;
					ItemPointerData heaptid;

					if (!bm25_stream_next(&so->bstream, &hit))
						so->done = true;
					else if (hnsw_disk_element_info(so->graph, hnsw_node_from_tid(&hit.tid),
													&heaptid, NULL))
						found = return_row(scan, &heaptid, hit.score > 0 ? -hit.score : 0.0);
					break;
				}
			case HYBRID_STRATEGY_SEMANTIC:
				{
					HnswCandidate c;
					ItemPointerData heaptid;

					if (!dense_next(so, &c))
						so->done = true;
					else if (hnsw_disk_element_info(so->graph, c.node, &heaptid, NULL))
					{
						cache_returned_row(scan, so, &heaptid, c.node, NULL);
						found = return_row(scan, &heaptid, element_distance(so, c.node));
					}
					break;
				}
			default:
				{
					bool		both_done = so->b_exhausted && so->d_exhausted;

					if (!pairingheap_is_empty(so->candidates))
					{
						Candidate  *best = pairingheap_container(Candidate, ph,
																 pairingheap_first(so->candidates));

						if (both_done || best->distance <= threshold(so))
						{
							(void) pairingheap_remove_first(so->candidates);
							if (so->has_qvec)
								cache_returned_row(scan, so, &best->heaptid, best->node, best);
							found = return_row(scan, &best->heaptid, best->distance);
							pfree(best);
							break;
						}
					}
					else if (both_done)
					{
						so->done = true;
						break;
					}
					/* read deeper: alternate, or whichever stream is left */
					if (!so->b_exhausted && (so->pull_lexical || so->d_exhausted))
						pull_lexical(so);
					else
						pull_semantic(scan, so);
					so->pull_lexical = !so->pull_lexical;
					break;
				}
		}
	}
	MemoryContextSwitchTo(old);
	return found;
}

void
hybrid_endscan(IndexScanDesc scan)
{
	HybridScanOpaque so = (HybridScanOpaque) scan->opaque;

	if (so->strategy == HYBRID_STRATEGY_FUSED)
		elog(DEBUG1, "fused scan of \"%s\" read " INT64_FORMAT " BM25 and " INT64_FORMAT " graph candidates, analyzed " INT64_FORMAT " rows",
			 RelationGetRelationName(scan->indexRelation), so->n_lexical, so->n_semantic,
			 so->n_analyzed);
	release_heap_access(so);
	MemoryContextDelete(so->context);
	MemoryContextDelete(so->row_context);
	pfree(so);
	scan->opaque = NULL;
}
