/*-------------------------------------------------------------------------
 *
 * hnsw_graph.c
 *	  The HNSW algorithms (Malkov & Yashunin, 2016), independent of where
 *	  the graph lives: best-first layer search (resumable, for streaming
 *	  scans), greedy descent through the upper layers, the neighbour
 *	  selection heuristic, and random level assignment.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "hnsw.h"

/* ------------------------------------------------------------------------
 * Candidate heaps
 * ------------------------------------------------------------------------
 */

void
hnsw_heap_init(HnswHeap *heap, int capacity, bool furthest_first)
{
	heap->capacity = Max(capacity, 8);
	heap->items = palloc(sizeof(HnswCandidate) * heap->capacity);
	heap->count = 0;
	heap->furthest_first = furthest_first;
}

void
hnsw_heap_free(HnswHeap *heap)
{
	if (heap->items)
		pfree(heap->items);
	heap->items = NULL;
	heap->count = 0;
}

/* Does a belong above b in this heap? */
static inline bool
heap_before(const HnswHeap *heap, const HnswCandidate *a, const HnswCandidate *b)
{
	return heap->furthest_first ? a->distance > b->distance : a->distance < b->distance;
}

/* Store an item after the last one (growing the array); its index. */
static inline int
append(HnswHeap *heap, HnswNode node, float distance)
{
	if (heap->count == heap->capacity)
	{
		heap->capacity *= 2;
		heap->items = repalloc_huge(heap->items, sizeof(HnswCandidate) * heap->capacity);
	}
	heap->items[heap->count].node = node;
	heap->items[heap->count].distance = distance;
	return heap->count++;
}

void
hnsw_heap_push(HnswHeap *heap, HnswNode node, float distance)
{
	int			i = append(heap, node, distance);

	while (i > 0)
	{
		int			parent = (i - 1) / 2;
		HnswCandidate tmp;

		if (!heap_before(heap, &heap->items[i], &heap->items[parent]))
			break;
		tmp = heap->items[i];
		heap->items[i] = heap->items[parent];
		heap->items[parent] = tmp;
		i = parent;
	}
}

/* Move the item at the root down to its place. */
static inline void
sift_down(HnswHeap *heap)
{
	int			i = 0;

	for (;;)
	{
		int			left = 2 * i + 1;
		int			best = i;
		HnswCandidate tmp;

		if (left < heap->count && heap_before(heap, &heap->items[left], &heap->items[best]))
			best = left;
		if (left + 1 < heap->count && heap_before(heap, &heap->items[left + 1], &heap->items[best]))
			best = left + 1;
		if (best == i)
			break;
		tmp = heap->items[i];
		heap->items[i] = heap->items[best];
		heap->items[best] = tmp;
		i = best;
	}
}

HnswCandidate
hnsw_heap_pop(HnswHeap *heap)
{
	HnswCandidate top = heap->items[0];

	Assert(heap->count > 0);
	heap->items[0] = heap->items[--heap->count];
	sift_down(heap);
	return top;
}

/*
 * Pop the top and push (node, distance) in one sift instead of two: how a
 * bounded result heap takes a better candidate.
 */
HnswCandidate
hnsw_heap_replace_top(HnswHeap *heap, HnswNode node, float distance)
{
	HnswCandidate top = heap->items[0];

	Assert(heap->count > 0);
	heap->items[0].node = node;
	heap->items[0].distance = distance;
	sift_down(heap);
	return top;
}

/* Add to an unordered bag (a heap's storage, no heap order). */
static inline void
bag_add(HnswHeap *bag, HnswNode node, float distance)
{
	(void) append(bag, node, distance);
}

static inline const HnswCandidate *
heap_top(const HnswHeap *heap)
{
	return heap->count > 0 ? &heap->items[0] : NULL;
}

/* ------------------------------------------------------------------------
 * Layer search
 * ------------------------------------------------------------------------
 */

/* Keep a candidate this round does not return, if a next round may need it. */
static inline void
discard(HnswSearch *search, HnswNode node, float distance)
{
	if (search->resumable)
		bag_add(&search->discarded, node, distance);
}

/*
 * Offer a visited candidate to this round's results, which keep the ef
 * nearest; what they do not keep is discarded.
 */
static void
offer_result(HnswSearch *search, HnswNode node, float distance, int ef)
{
	if (search->results.count < ef)
		hnsw_heap_push(&search->results, node, distance);
	else if (distance < heap_top(&search->results)->distance)
	{
		HnswCandidate evicted = hnsw_heap_replace_top(&search->results, node, distance);

		discard(search, evicted.node, evicted.distance);
	}
	else
		discard(search, node, distance);
}

void
hnsw_search_begin(HnswGraph *graph, HnswSearch *search, int level,
				  const HnswCandidate *entries, int nentries, bool resumable)
{
	search->level = level;
	search->resumable = resumable;
	hnsw_heap_init(&search->pending, 64, false);
	hnsw_heap_init(&search->results, 64, true);
	hnsw_heap_init(&search->discarded, 64, false);
	graph->reset_visits(graph);
	for (int i = 0; i < nentries; i++)
	{
		if (graph->visit(graph, entries[i].node))
			bag_add(&search->discarded, entries[i].node, entries[i].distance);
	}
}

/*
 * Run one round: starting from everything discarded so far (the entry
 * points on the first round), expand candidates best-first until the ef
 * best found cannot improve.  Writes this round's results to out, nearest
 * first, and returns how many; 0 means the reachable graph is exhausted.
 * Each node is returned by at most one round.
 */
int
hnsw_search_round(HnswGraph *graph, HnswSearch *search, int ef, HnswCandidate *out)
{
	HnswNode   *neighbors = palloc(sizeof(HnswNode) * 2 * graph->m);
	int			n;

	/*
	 * The previous round's leftovers (the entry points on the first round)
	 * compete again.  Take the whole bag first: offer_result() refills
	 * search->discarded with what this round cannot keep.
	 */
	if (search->discarded.count > 0)
	{
		HnswHeap	leftovers = search->discarded;

		hnsw_heap_init(&search->discarded, leftovers.count, false);
		for (int i = 0; i < leftovers.count; i++)
		{
			HnswCandidate c = leftovers.items[i];

			hnsw_heap_push(&search->pending, c.node, c.distance);
			offer_result(search, c.node, c.distance, ef);
		}
		hnsw_heap_free(&leftovers);
	}

	while (search->pending.count > 0)
	{
		HnswCandidate c = *heap_top(&search->pending);
		int			count;

		if (search->results.count >= ef && c.distance > heap_top(&search->results)->distance)
			break;
		hnsw_heap_pop(&search->pending);
		CHECK_FOR_INTERRUPTS();

		/* the next candidate's list loads while this one is expanded */
		if (graph->prefetch_neighbors && search->pending.count > 0)
			graph->prefetch_neighbors(graph, heap_top(&search->pending)->node, search->level);

		count = graph->neighbors(graph, c.node, search->level, neighbors);

		/*
		 * Keep the unvisited neighbours, and let the graph start loading
		 * their vectors before the first distance needs one: on graphs
		 * larger than the CPU caches, memory latency dominates.
		 */
		{
			int			unvisited = 0;

			for (int i = 0; i < count; i++)
			{
				if (graph->visit(graph, neighbors[i]))
					neighbors[unvisited++] = neighbors[i];
			}
			count = unvisited;
		}
		if (graph->prefetch)
			for (int i = 0; i < count; i++)
				graph->prefetch(graph, neighbors[i]);

		for (int i = 0; i < count; i++)
		{
			float		d;

			d = graph->query_distance(graph, neighbors[i]);
			if (search->results.count < ef || d < heap_top(&search->results)->distance)
			{
				hnsw_heap_push(&search->pending, neighbors[i], d);
				offer_result(search, neighbors[i], d, ef);
			}
			else
				discard(search, neighbors[i], d);
		}
	}
	pfree(neighbors);

	/* results heap pops furthest first: fill out back to front */
	n = search->results.count;
	for (int i = n - 1; i >= 0; i--)
		out[i] = hnsw_heap_pop(&search->results);
	return n;
}

/*
 * Mark everything reachable from start on layer 0, breadth first.  The
 * caller numbers the elements 0..n-1 (reached and queue have n entries)
 * and its neighbors() gives an element's layer-0 links in that numbering,
 * leaving out those it does not number; out holds 2m entries.  CREATE
 * INDEX walks its arrays with it, VACUUM the pages.
 */
void
hnsw_mark_reachable(uint32 start, bool *reached, uint32 *queue, uint32 *out,
					HnswNumberedNeighbors neighbors, void *arg)
{
	uint32		head = 0,
				tail = 0;

	if (reached[start])
		return;
	reached[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		int			n = neighbors(arg, queue[head++], out);

		if ((head & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < n; j++)
			if (!reached[out[j]])
			{
				reached[out[j]] = true;
				queue[tail++] = out[j];
			}
	}
}

/*
 * The next round of a resumable search that started from a descent: when
 * everything reachable from where the descent landed is done, go on from
 * the entry point (unless the search has visited it already).  A layer's
 * graph is directed: what is reachable from the entry point, which CREATE
 * INDEX and VACUUM make sure is everything, need not be reachable from the
 * descent's landing point.
 */
int
hnsw_search_next_round(HnswGraph *graph, HnswSearch *search, int ef, HnswCandidate *out,
					   HnswNode entry)
{
	int			n = hnsw_search_round(graph, search, ef, out);

	Assert(search->resumable);
	if (n == 0 && entry != HNSW_INVALID_NODE && graph->visit(graph, entry))
	{
		bag_add(&search->discarded, entry, graph->query_distance(graph, entry));
		n = hnsw_search_round(graph, search, ef, out);
	}
	return n;
}

void
hnsw_search_end(HnswSearch *search)
{
	hnsw_heap_free(&search->pending);
	hnsw_heap_free(&search->results);
	hnsw_heap_free(&search->discarded);
}

/* One-shot search of a layer: the ef nearest reachable nodes, nearest first. */
int
hnsw_search_layer(HnswGraph *graph, const HnswCandidate *entries, int nentries,
				  int ef, int level, HnswCandidate *out)
{
	HnswSearch	search;
	int			n;

	hnsw_search_begin(graph, &search, level, entries, nentries, false);
	n = hnsw_search_round(graph, &search, ef, out);
	hnsw_search_end(&search);
	return n;
}

/* Greedy descent (ef = 1) from from_level down to to_level (exclusive). */
HnswCandidate
hnsw_descend(HnswGraph *graph, HnswCandidate entry, int from_level, int to_level)
{
	for (int level = from_level; level > to_level; level--)
	{
		HnswCandidate best;

		if (hnsw_search_layer(graph, &entry, 1, 1, level, &best) > 0)
			entry = best;
	}
	return entry;
}

/*
 * The neighbour selection heuristic (the paper's Algorithm 4, without
 * extending candidates, as in hnswlib): take candidates nearest first and
 * keep one only if it is closer to the base than to every neighbour kept
 * so far.  This keeps links pointing in diverse directions, which is what
 * makes the graph navigable on clustered data.  candidates must be sorted
 * nearest first by distance to base.
 */
int
hnsw_select_neighbors(HnswGraph *graph, HnswNode base, HnswCandidate *candidates,
					  int ncandidates, int max_neighbors, HnswNode *out)
{
	int			nselected = 0;

	(void) base;
	if (ncandidates <= max_neighbors)
	{
		for (int i = 0; i < ncandidates; i++)
			out[i] = candidates[i].node;
		return ncandidates;
	}

	for (int i = 0; i < ncandidates && nselected < max_neighbors; i++)
	{
		bool		keep = true;

		for (int j = 0; j < nselected; j++)
		{
			if (graph->pair_distance(graph, candidates[i].node, out[j]) < candidates[i].distance)
			{
				keep = false;
				break;
			}
		}
		if (keep)
			out[nselected++] = candidates[i].node;
	}
	return nselected;
}

static int
compare_candidates(const void *a, const void *b)
{
	float		da = ((const HnswCandidate *) a)->distance;
	float		db = ((const HnswCandidate *) b)->distance;

	return da < db ? -1 : (da > db ? 1 : 0);
}

/* Sort candidates nearest first. */
void
hnsw_sort_candidates(HnswCandidate *candidates, int n)
{
	qsort(candidates, n, sizeof(HnswCandidate), compare_candidates);
}

/* Level of a new element: floor(-ln(U) * mL) with mL = 1 / ln(m). */
int
hnsw_random_level(pg_prng_state *state, int m)
{
	double		u = pg_prng_double(state);
	int			level;

	if (u <= 0.0)
		u = DBL_MIN;
	level = (int) floor(-log(u) / log((double) m));
	return Min(level, HNSW_MAX_LEVEL);
}
