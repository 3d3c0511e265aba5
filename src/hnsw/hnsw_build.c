/*-------------------------------------------------------------------------
 *
 * hnsw_build.c
 *	  ambuild / ambuildempty for HNSW: the in-memory graph, its insertion
 *	  code (serial and shared), and writing it to pages.
 *
 * CREATE INDEX builds the whole graph in memory (the HnswGraph callbacks
 * over plain arrays, so the same algorithms as inserts), then writes it
 * out in two sequential passes: element and neighbour tuples with empty
 * neighbour slots first (which fixes every element's TID), then the slots.
 * Pages are written without WAL and logged at the end with
 * log_newpage_range().
 *
 * Memory: the in-memory graph is bounded by maintenance_work_mem.  When it
 * is full, the graph built so far is written out and the remaining rows
 * are inserted one by one into the on-disk graph (the aminsert path, still
 * without per-change WAL).  That is slower but never fails; a NOTICE says
 * so and suggests raising maintenance_work_mem.
 *
 * With parallel workers (hnsw_build_parallel.c), the graph lives in shared
 * memory (the layout in hnsw_build.h) and the same insertion code below
 * runs in every participant, locking per element; this file still writes
 * the pages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "../vector/vector.h"
#include "hnsw_build.h"

#define PHASE_BUILD_GRAPH	1
#define PHASE_WRITE_PAGES	2
#define PHASE_INSERT_REST	3

#define CHUNK_SHIFT		HNSW_BUILD_CHUNK_SHIFT
#define CHUNK_SIZE		HNSW_BUILD_CHUNK_SIZE
#define CHUNK_MASK		HNSW_BUILD_CHUNK_MASK

static inline float *
elem_vec(HnswBuildState *bs, HnswNode node)
{
	return bs->vec_chunks[node >> CHUNK_SHIFT] + (Size) (node & CHUNK_MASK) * bs->dims;
}

/* Does the element have lists on this layer? */
static inline bool
has_layer(HnswBuildState *bs, HnswNode node, int level)
{
	return level == 0 || level <= bs->elements[node].level;
}

/* Count of a layer's list; its slots follow it (layer 0) or are elsewhere. */
static inline uint32 *
layer_count(HnswBuildState *bs, HnswNode node, int level)
{
	if (level == 0)
		return bs->l0_chunks[node >> CHUNK_SHIFT] + (Size) (node & CHUNK_MASK) * (1 + 2 * bs->m);
	return bs->upper_base + bs->elements[node].upper + (level - 1);
}

static inline uint32 *
layer_slots(HnswBuildState *bs, HnswNode node, int level)
{
	if (level == 0)
		return layer_count(bs, node, 0) + 1;
	return bs->upper_base + bs->elements[node].upper + bs->elements[node].level + (level - 1) * bs->m;
}

/*
 * A parallel build's per-element lock guards the element's neighbour lists
 * (its vector and level never change once it is linked).  The serial build
 * has no locks.
 */
static inline void
lock_element(HnswBuildState *bs, HnswNode node, LWLockMode mode)
{
	if (bs->locks)
		LWLockAcquire(&bs->locks[node], mode);
}

static inline void
unlock_element(HnswBuildState *bs, HnswNode node)
{
	if (bs->locks)
		LWLockRelease(&bs->locks[node]);
}

/* ------------------------------------------------------------------------
 * HnswGraph callbacks over the in-memory arrays
 * ------------------------------------------------------------------------
 */

static float
mem_query_distance(HnswGraph *graph, HnswNode node)
{
	HnswBuildState *bs = (HnswBuildState *) graph;

	return hnsw_distance(bs->metric, bs->query, elem_vec(bs, node), bs->dims);
}

static int
mem_neighbors(HnswGraph *graph, HnswNode node, int level, HnswNode *out)
{
	HnswBuildState *bs = (HnswBuildState *) graph;
	uint32	   *count;
	uint32	   *slots;

	int			n;

	if (!has_layer(bs, node, level))
		return 0;
	lock_element(bs, node, LW_SHARED);
	count = layer_count(bs, node, level);
	slots = layer_slots(bs, node, level);
	n = (int) *count;
	for (int i = 0; i < n; i++)
		out[i] = slots[i];
	unlock_element(bs, node);
	return n;
}

static float
mem_pair_distance(HnswGraph *graph, HnswNode a, HnswNode b)
{
	HnswBuildState *bs = (HnswBuildState *) graph;

	return hnsw_distance(bs->metric, elem_vec(bs, a), elem_vec(bs, b), bs->dims);
}

static bool
mem_visit(HnswGraph *graph, HnswNode node)
{
	HnswBuildState *bs = (HnswBuildState *) graph;

	if (bs->visit_tags[node] == bs->visit_tag)
		return false;
	bs->visit_tags[node] = bs->visit_tag;
	return true;
}

static void
mem_prefetch(HnswGraph *graph, HnswNode node)
{
	HnswBuildState *bs = (HnswBuildState *) graph;
	const char *p = (const char *) elem_vec(bs, node);
	Size		bytes = sizeof(float) * bs->dims;

	for (Size off = 0; off < bytes && off < 512; off += 64)
		__builtin_prefetch(p + off);
}

/*
 * Start loading a layer's list.  On layer 0 (nearly every search) the count
 * and its 2m slots are contiguous; upper layers, rare, get their count only.
 */
static void
mem_prefetch_neighbors(HnswGraph *graph, HnswNode node, int level)
{
	HnswBuildState *bs = (HnswBuildState *) graph;
	const char *p;
	Size		bytes;

	if (!has_layer(bs, node, level))
		return;
	p = (const char *) layer_count(bs, node, level);
	bytes = level == 0 ? sizeof(uint32) * (1 + 2 * bs->m) : sizeof(uint32);
	for (Size off = 0; off < bytes; off += 64)
		__builtin_prefetch(p + off);
}

static void
mem_reset_visits(HnswGraph *graph)
{
	HnswBuildState *bs = (HnswBuildState *) graph;

	if (++bs->visit_tag == 0)
	{
		/* wrapped: clear the tags so no stale one matches */
		memset(bs->visit_tags, 0, sizeof(VisitTag) * bs->capacity);
		bs->visit_tag = 1;
	}
}

/* ------------------------------------------------------------------------
 * In-memory insertion
 * ------------------------------------------------------------------------
 */

/* Add link e -> newnode on a layer, re-selecting e's list when full. */
static void
mem_add_link(HnswBuildState *bs, uint32 e, int level, uint32 newnode)
{
	int			cap = hnsw_layer_capacity(level, bs->m);
	uint32	   *count = layer_count(bs, e, level);
	uint32	   *slots = layer_slots(bs, e, level);
	int			n;

	lock_element(bs, e, LW_EXCLUSIVE);
	n = (int) *count;
	if (n < cap)
	{
		slots[n] = newnode;
		(*count)++;
		unlock_element(bs, e);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		bs->cands[i].node = slots[i];
		bs->cands[i].distance = mem_pair_distance(&bs->graph, e, slots[i]);
	}
	bs->cands[n].node = newnode;
	bs->cands[n].distance = mem_pair_distance(&bs->graph, e, newnode);
	hnsw_sort_candidates(bs->cands, n + 1);
	n = hnsw_select_neighbors(&bs->graph, e, bs->cands, n + 1, cap, bs->selected);
	for (int i = 0; i < n; i++)
		slots[i] = (uint32) bs->selected[i];
	*count = n;
	unlock_element(bs, e);
}

static void
grow_arrays(HnswBuildState *bs)
{
	uint32		newcap = bs->capacity == 0 ? 1024 : bs->capacity * 2;
	MemoryContext old = MemoryContextSwitchTo(bs->graph_context);

	if (bs->elements == NULL)
	{
		bs->elements = palloc_extended(sizeof(BuildElement) * newcap, MCXT_ALLOC_HUGE);
		bs->visit_tags = palloc_extended(sizeof(VisitTag) * newcap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	}
	else
	{
		bs->elements = repalloc_huge(bs->elements, sizeof(BuildElement) * newcap);
		bs->visit_tags = repalloc_huge(bs->visit_tags, sizeof(VisitTag) * newcap);
		memset(bs->visit_tags + bs->capacity, 0, sizeof(VisitTag) * (newcap - bs->capacity));
	}
	bs->memory_used += (sizeof(BuildElement) + sizeof(VisitTag)) * (newcap - bs->capacity);

	/* chunks for the new capacity */
	{
		int			needed = (int) ((newcap + CHUNK_SIZE - 1) >> CHUNK_SHIFT);

		if (bs->vec_chunks == NULL)
		{
			bs->vec_chunks = palloc0(sizeof(float *) * needed);
			bs->l0_chunks = palloc0(sizeof(uint32 *) * needed);
		}
		else
		{
			bs->vec_chunks = repalloc(bs->vec_chunks, sizeof(float *) * needed);
			bs->l0_chunks = repalloc(bs->l0_chunks, sizeof(uint32 *) * needed);
		}
		for (int c = bs->nchunks; c < needed; c++)
		{
			bs->vec_chunks[c] = palloc_extended(sizeof(float) * bs->dims * CHUNK_SIZE, MCXT_ALLOC_HUGE);
			bs->l0_chunks[c] = palloc_extended(sizeof(uint32) * (1 + 2 * bs->m) * CHUNK_SIZE,
											   MCXT_ALLOC_HUGE);
			bs->memory_used += (sizeof(float) * bs->dims + sizeof(uint32) * (1 + 2 * bs->m)) * CHUNK_SIZE;
		}
		bs->nchunks = needed;
	}
	bs->capacity = newcap;
	MemoryContextSwitchTo(old);
}

/* Memory the next grow_arrays() call will take (0 if there is room). */
static Size
growth_memory(HnswBuildState *bs)
{
	uint32		newcap;
	int			newchunks;

	if (bs->nelements < bs->capacity)
		return 0;
	newcap = bs->capacity == 0 ? 1024 : bs->capacity * 2;
	newchunks = (int) ((newcap + CHUNK_SIZE - 1) >> CHUNK_SHIFT) - bs->nchunks;
	return (sizeof(BuildElement) + sizeof(uint32)) * (newcap - bs->capacity) +
		(Size) newchunks * (sizeof(float) * bs->dims + sizeof(uint32) * (1 + 2 * bs->m)) * CHUNK_SIZE;
}

static Size
element_memory(HnswBuildState *bs, int level)
{
	/* vectors and layer-0 lists are charged per chunk in grow_arrays() */
	return level > 0 ? sizeof(uint32) * (level + level * bs->m) + 16 : 0;
}

/*
 * Serial build: a new element number, and the element's upper-layer lists
 * in the arena (which grows like the other arrays; offsets survive
 * repalloc).
 */
static uint32
serial_reserve(HnswBuildState *bs, int level)
{
	uint32		id;

	if (bs->nelements == bs->capacity)
		grow_arrays(bs);
	id = bs->nelements++;
	bs->elements[id].upper = 0;
	if (level > 0)
	{
		Size		words = hnsw_build_upper_words(level, bs->m);

		if (bs->upper_used + words > bs->upper_capacity)
		{
			Size		newcap = Max(Max(bs->upper_capacity * 2, bs->upper_used + words), 1024);
			MemoryContext old = MemoryContextSwitchTo(bs->graph_context);

			if (bs->upper_base == NULL)
				bs->upper_base = palloc_extended(sizeof(uint32) * newcap, MCXT_ALLOC_HUGE);
			else
				bs->upper_base = repalloc_huge(bs->upper_base, sizeof(uint32) * newcap);
			bs->upper_capacity = newcap;
			MemoryContextSwitchTo(old);
		}
		bs->elements[id].upper = (uint32) bs->upper_used;
		bs->upper_used += words;
	}
	bs->memory_used += element_memory(bs, level);
	return id;
}

/*
 * Insert element id (its number and upper-arena space already reserved)
 * into the in-memory graph.  In a parallel build, every insert holds the
 * entry-point lock shared, and exclusively when the element may become the
 * new entry point (as pgvector does): the upper layers then stay
 * consistent with the entry point, at the cost of serialising the rare
 * high-level inserts.
 */
static void
mem_insert(HnswBuildState *bs, uint32 id, const float *vec, ItemPointer heaptid, int level)
{
	BuildElement *el = &bs->elements[id];
	HnswBuildShared *shared = bs->shared;
	int64		entry;
	int			entry_level;
	int			nentries = 1;

	el->heaptid = *heaptid;
	el->level = level;
	*layer_count(bs, id, 0) = 0;
	if (level > 0)
		memset(bs->upper_base + el->upper, 0, sizeof(uint32) * hnsw_build_upper_words(level, bs->m));
	memcpy(elem_vec(bs, id), vec, sizeof(float) * bs->dims);
	/* nobody can see the element before it is linked: initialise its lock */
	if (shared)
		LWLockInitialize(&bs->locks[id], shared->lock_tranche);

	if (shared)
	{
		LWLockAcquire(&shared->entry_lock, LW_SHARED);
		if (shared->entry < 0 || level > shared->entry_level)
		{
			LWLockRelease(&shared->entry_lock);
			LWLockAcquire(&shared->entry_lock, LW_EXCLUSIVE);
		}
		entry = shared->entry;
		entry_level = shared->entry_level;
	}
	else
	{
		entry = bs->entry;
		entry_level = bs->entry_level;
	}

	if (entry >= 0)
	{
		int			top = Min(level, entry_level);
		int			nsel[HNSW_MAX_LEVEL + 1];
		int			stride = 2 * bs->m;

		bs->query = elem_vec(bs, id);
		bs->entries[0].node = entry;
		bs->entries[0].distance = mem_query_distance(&bs->graph, entry);
		bs->entries[0] = hnsw_descend(&bs->graph, bs->entries[0], entry_level, top);

		/* neighbours on every layer first ... */
		for (int l = top; l >= 0; l--)
		{
			int			n = hnsw_search_layer(&bs->graph, bs->entries, nentries,
											  bs->ef_construction, l, bs->found);

			nsel[l] = hnsw_select_neighbors(&bs->graph, id, bs->found, n,
											hnsw_layer_capacity(l, bs->m), bs->links + l * stride);
			memcpy(bs->entries, bs->found, sizeof(HnswCandidate) * n);
			nentries = n;
		}

		/*
		 * ... then the element's own lists, all of them before any other
		 * element links to it: in a parallel build, an element reachable on
		 * an upper layer with its lower lists still empty would be a dead
		 * end for concurrent inserts (they would link only to it, and lose
		 * those links when the lists are written), which leaves whole
		 * clusters unreachable.  The serial build's result is the same
		 * either way (a layer's search reads only that layer's lists).
		 */
		lock_element(bs, id, LW_EXCLUSIVE);
		for (int l = top; l >= 0; l--)
		{
			uint32	   *slots = layer_slots(bs, id, l);

			for (int i = 0; i < nsel[l]; i++)
				slots[i] = (uint32) bs->links[l * stride + i];
			*layer_count(bs, id, l) = nsel[l];
		}
		unlock_element(bs, id);

		/* ... and last the reverse links, which make it reachable */
		for (int l = top; l >= 0; l--)
			for (int i = 0; i < nsel[l]; i++)
				mem_add_link(bs, (uint32) bs->links[l * stride + i], l, id);
	}

	if (entry < 0 || level > entry_level)
	{
		if (shared)
		{
			shared->entry = id;
			shared->entry_level = level;
		}
		else
		{
			bs->entry = id;
			bs->entry_level = level;
		}
	}
	if (shared)
		LWLockRelease(&shared->entry_lock);
}

/*
 * Link "from -> to" on layer 0: in a free slot of from's list, or in place
 * of from's farthest neighbour that has other in-links (indegree counts
 * layer-0 in-links and is kept up to date).  False when every neighbour of
 * from is someone's only in-link.
 */
static bool
force_link(HnswBuildState *bs, uint32 from, uint32 to, uint32 *indegree)
{
	int			cap = hnsw_layer_capacity(0, bs->m);
	uint32	   *ncount = layer_count(bs, from, 0);
	uint32	   *nslots = layer_slots(bs, from, 0);
	int			victim = -1;
	float		worst = 0;

	for (uint32 j = 0; j < *ncount; j++)
		if (nslots[j] == to)
			return true;
	if (*ncount < (uint32) cap)
	{
		nslots[(*ncount)++] = to;
		indegree[to]++;
		return true;
	}
	for (uint32 j = 0; j < *ncount; j++)
	{
		float		d;

		if (indegree[nslots[j]] < 2)
			continue;
		d = mem_pair_distance(&bs->graph, from, nslots[j]);
		if (victim < 0 || d > worst)
		{
			victim = j;
			worst = d;
		}
	}
	if (victim < 0)
		return false;
	indegree[nslots[victim]]--;
	nslots[victim] = to;
	indegree[to]++;
	return true;
}

/*
 * Give every element an incoming link on layer 0.  The neighbour
 * selection heuristic can prune the last link to an element; no search
 * could then reach it, and a filtered scan could never return its row.
 * For each such orphan, its nearest out-neighbour takes it in.
 */
static void
connect_orphans(HnswBuildState *bs, uint32 *indegree)
{
	for (uint32 i = 0; i < bs->nelements; i++)
	{
		uint32	   *slots = layer_slots(bs, i, 0);
		uint32		n = *layer_count(bs, i, 0);
		int64		nearest = -1;
		float		best = 0;

		CHECK_FOR_INTERRUPTS();
		if (indegree[i] > 0 || (int64) i == bs->entry || n == 0)
			continue;
		for (uint32 j = 0; j < n; j++)
		{
			float		d = mem_pair_distance(&bs->graph, i, slots[j]);

			if (nearest < 0 || d < best)
			{
				nearest = slots[j];
				best = d;
			}
		}
		(void) force_link(bs, (uint32) nearest, i, indegree);
	}
}

/* hnsw_mark_reachable()'s view of the in-memory lists */
static int
numbered_neighbors(void *arg, uint32 element, uint32 *out)
{
	HnswBuildState *bs = (HnswBuildState *) arg;
	uint32		n = *layer_count(bs, element, 0);

	memcpy(out, layer_slots(bs, element, 0), sizeof(uint32) * n);
	return (int) n;
}

/*
 * Make every element reachable from the entry point on layer 0.  An
 * element with an in-link can still be unreachable: a group of elements
 * may link only among themselves (an island).  Many rows with the same
 * vector make one: the duplicates are at distance 0 from each other, fill
 * each other's lists, and the heuristic then keeps no link from them to
 * the rest.  A breadth-first walk from the entry point finds what no
 * search can reach; for each element it missed, a search for that
 * element's vector (which can only return reachable elements) gives the
 * nearest reachable one, which links to it, and the walk continues from
 * there, taking in the whole island.
 */
static void
connect_islands(HnswBuildState *bs, uint32 *indegree)
{
	bool	   *reached = palloc_extended(sizeof(bool) * bs->nelements,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	uint32	   *queue = palloc_extended(sizeof(uint32) * bs->nelements, MCXT_ALLOC_HUGE);
	uint32	   *out = palloc(sizeof(uint32) * hnsw_layer_capacity(0, bs->m));
	int64		islands = 0,
				stranded = 0;

	hnsw_mark_reachable((uint32) bs->entry, reached, queue, out, numbered_neighbors, bs);
	for (uint32 u = 0; u < bs->nelements; u++)
	{
		HnswCandidate entry;
		int			n;
		bool		linked = false;

		CHECK_FOR_INTERRUPTS();
		if (reached[u])
			continue;
		bs->query = elem_vec(bs, u);
		entry.node = bs->entry;
		entry.distance = mem_query_distance(&bs->graph, bs->entry);
		entry = hnsw_descend(&bs->graph, entry, bs->entry_level, 0);
		n = hnsw_search_layer(&bs->graph, &entry, 1, bs->ef_construction, 0, bs->found);
		for (int k = 0; k < n && !linked; k++)
			if (reached[bs->found[k].node])
				linked = force_link(bs, (uint32) bs->found[k].node, u, indegree);
		if (!linked)
		{
			stranded++;
			continue;
		}
		islands++;
		hnsw_mark_reachable(u, reached, queue, out, numbered_neighbors, bs);
	}
	if (islands > 0 || stranded > 0)
		elog(DEBUG1, "index \"%s\": linked %lld unreachable groups of elements, %lld left unreachable",
			 RelationGetRelationName(bs->index), (long long) islands, (long long) stranded);
	pfree(out);
	pfree(queue);
	pfree(reached);
}

/* Orphans first (cheap, the common case), then islands. */
static void
connect_unreachable(HnswBuildState *bs)
{
	uint32	   *indegree;

	if (bs->nelements < 2 || bs->entry < 0)
		return;
	indegree = palloc_extended(sizeof(uint32) * bs->nelements, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint32 i = 0; i < bs->nelements; i++)
	{
		uint32	   *slots = layer_slots(bs, i, 0);

		for (uint32 j = 0; j < *layer_count(bs, i, 0); j++)
			indegree[slots[j]]++;
	}
	connect_orphans(bs, indegree);
	connect_islands(bs, indegree);
	pfree(indegree);
}

/* ------------------------------------------------------------------------
 * Writing the graph to pages
 * ------------------------------------------------------------------------
 */

static Buffer
new_build_page(Relation index, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_page_init(BufferGetPage(buf), RETRIEVAL_PAGE_HNSW);
	return buf;
}

/*
 * Store the codec's parameters on pages after the metapage and point the
 * metapage at them.
 */
static void
write_codec(Relation index, ForkNumber fork, const QuantCodec *codec, int64 rows)
{
	BlockNumber first = hnsw_codec_write(index, fork, codec);
	Buffer		metabuf = ReadBufferExtended(index, fork, hnsw_meta_blkno(index), RBM_NORMAL, NULL);
	HnswMetaData *meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaData *) PageGetContents(BufferGetPage(metabuf));
	meta->codec_page = first;
	meta->codec_rows = (uint32) Min(rows, (int64) PG_UINT32_MAX);
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);
}

/*
 * Train the codec on the rows in memory (all rows, unless the build ran
 * out of maintenance_work_mem: then the rows read so far), then write it.
 */
static void
train_and_write_codec(HnswBuildState *bs)
{
	QuantTrainer *trainer = quant_trainer_create(bs->codec);
	int64		rows;

	for (uint32 i = 0; i < bs->nelements; i++)
		quant_trainer_add(trainer, elem_vec(bs, i));
	rows = quant_trainer_finish(trainer, bs->codec);
	if (rows == 0 && bs->codec->kind == QUANT_BINARY && bs->metric != HNSW_METRIC_COSINE)
		ereport(NOTICE,
				(errmsg("binary codes of index \"%s\" are not centred because the table is empty",
						RelationGetRelationName(bs->index)),
				 errhint("REINDEX after loading the data so that the centre is learnt from it.")));
	write_codec(bs->index, MAIN_FORKNUM, bs->codec, rows);
}

/*
 * Write the in-memory graph to pages (without WAL).  In a parallel build
 * this runs in one process, after every in-memory insert has finished.
 */
void
hnsw_build_write_graph(HnswBuildState *bs)
{
	Relation	index = bs->index;
	Size		esize = bs->layout.element_size;
	HnswElementTuple etup = palloc0(esize);
	HnswNeighborTuple ntup = palloc0(HNSW_NEIGHBOR_TUPLE_SIZE(HNSW_MAX_LEVEL, bs->m));
	Buffer		buf = InvalidBuffer;
	Buffer		metabuf;
	HnswMetaData *meta;
	BlockNumber last_block = InvalidBlockNumber;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE_PAGES);
	connect_unreachable(bs);
	if (bs->codec)
		train_and_write_codec(bs);

	/* pass 1: tuples, with neighbour slots still empty */
	for (uint32 i = 0; i < bs->nelements; i++)
	{
		BuildElement *el = &bs->elements[i];
		Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(el->level, bs->m);
		Page		page;
		OffsetNumber off;
		bool		together;

		CHECK_FOR_INTERRUPTS();
		together = hnsw_tuples_fit_together(esize, nsize);
		if (!BufferIsValid(buf) ||
			PageGetFreeSpace(BufferGetPage(buf)) < (together ? esize + nsize + sizeof(ItemIdData) : esize))
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = new_build_page(index, MAIN_FORKNUM);
		}
		page = BufferGetPage(buf);
		off = OffsetNumberNext(PageGetMaxOffsetNumber(page));
		ItemPointerSet(&el->elemtid, BufferGetBlockNumber(buf), off);
		/* a large element's neighbour list starts the next page */
		if (together)
			ItemPointerSet(&el->neighbortid, BufferGetBlockNumber(buf), OffsetNumberNext(off));
		else
			ItemPointerSet(&el->neighbortid, BufferGetBlockNumber(buf) + 1, FirstOffsetNumber);

		memset(etup, 0, esize);
		etup->type = HNSW_ELEMENT_TUPLE;
		etup->level = el->level;
		etup->heaptid = el->heaptid;
		etup->neighbortid = el->neighbortid;
		if (bs->layout.has_vector)
			memcpy(etup->vec, elem_vec(bs, i), sizeof(float) * bs->dims);
		if (bs->codec)
			quant_encode(bs->codec, elem_vec(bs, i), hnsw_element_code(etup, &bs->layout));

		memset(ntup, 0, nsize);
		ntup->type = HNSW_NEIGHBOR_TUPLE;
		ntup->count = (el->level + 2) * bs->m;
		for (int s = 0; s < ntup->count; s++)
			ItemPointerSetInvalid(&ntup->tids[s]);

		if (PageAddItem(page, (Item) etup, esize, off, false, false) != off)
			elog(ERROR, "failed to add HNSW element to index \"%s\"", RelationGetRelationName(index));
		if (!together)
		{
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
			buf = new_build_page(index, MAIN_FORKNUM);
			if (BufferGetBlockNumber(buf) != ItemPointerGetBlockNumber(&el->neighbortid))
				elog(ERROR, "unexpected block number while building index \"%s\"", RelationGetRelationName(index));
			page = BufferGetPage(buf);
		}
		if (PageAddItem(page, (Item) ntup, nsize, ItemPointerGetOffsetNumber(&el->neighbortid), false, false) !=
			ItemPointerGetOffsetNumber(&el->neighbortid))
			elog(ERROR, "failed to add HNSW neighbor list to index \"%s\"", RelationGetRelationName(index));
	}
	if (BufferIsValid(buf))
	{
		last_block = BufferGetBlockNumber(buf);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		buf = InvalidBuffer;
	}

	/* pass 2: neighbour slots, now that every element has its TID */
	for (uint32 i = 0; i < bs->nelements; i++)
	{
		BuildElement *el = &bs->elements[i];
		BlockNumber blkno = ItemPointerGetBlockNumber(&el->neighbortid);
		Page		page;
		HnswNeighborTuple disk;

		CHECK_FOR_INTERRUPTS();
		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != blkno)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = ReadBuffer(index, blkno);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		}
		page = BufferGetPage(buf);
		disk = (HnswNeighborTuple) PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(&el->neighbortid)));
		for (int l = 0; l <= el->level; l++)
		{
			uint32	   *slots = layer_slots(bs, i, l);
			ItemPointer tids = disk->tids + hnsw_layer_offset(l, bs->m);

			for (uint32 s = 0; s < *layer_count(bs, i, l); s++)
				tids[s] = bs->elements[slots[s]].elemtid;
		}
	}
	if (BufferIsValid(buf))
	{
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}

	/* metapage: entry point and insert page */
	metabuf = ReadBuffer(index, hnsw_meta_blkno(index));
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaData *) PageGetContents(BufferGetPage(metabuf));
	if (bs->entry >= 0)
	{
		meta->entry = bs->elements[bs->entry].elemtid;
		meta->entry_level = bs->entry_level;
	}
	meta->insert_page = last_block;
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	pfree(etup);
	pfree(ntup);
}

/* ------------------------------------------------------------------------
 * Build
 * ------------------------------------------------------------------------
 */

static void
spill_notice(uint32 nelements)
{
	ereport(NOTICE,
			(errmsg("HNSW graph no longer fits into maintenance_work_mem after %u rows",
					nelements),
			 errdetail("The remaining rows are inserted one by one, which is slower."),
			 errhint("Increase maintenance_work_mem to speed up the build.")));
}

/*
 * Serial build: add the prepared row (bs->scratch) to the in-memory graph,
 * or, when maintenance_work_mem is used up, write the graph and return
 * false (the caller inserts the row on disk).
 */
static bool
serial_add(HnswBuildState *bs, ItemPointer tid, int level)
{
	if (bs->memory_used + growth_memory(bs) + element_memory(bs, level) > bs->memory_limit &&
		bs->nelements > 0)
	{
		spill_notice(bs->nelements);
		hnsw_build_write_graph(bs);
		MemoryContextReset(bs->graph_context);
		bs->elements = NULL;
		bs->vec_chunks = NULL;
		bs->l0_chunks = NULL;
		bs->upper_base = NULL;
		bs->spilled = true;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PHASE_INSERT_REST);
		return false;
	}
	mem_insert(bs, serial_reserve(bs, level), bs->scratch, tid, level);
	return true;
}

/*
 * Parallel build: the same, with the shared graph.  Whichever participant
 * first finds it full writes it, once every in-memory insert in progress
 * has finished (they hold flush_lock shared); from then on all
 * participants insert on disk.
 */
static bool
parallel_add(HnswBuildState *bs, ItemPointer tid, int level)
{
	HnswBuildShared *shared = bs->shared;
	uint32		id;

	LWLockAcquire(&shared->flush_lock, LW_SHARED);
	if (!shared->flushed && hnsw_parallel_reserve(bs, level, &id))
	{
		mem_insert(bs, id, bs->scratch, tid, level);
		LWLockRelease(&shared->flush_lock);
		return true;
	}
	LWLockRelease(&shared->flush_lock);

	LWLockAcquire(&shared->flush_lock, LW_EXCLUSIVE);
	if (!shared->flushed)
	{
		hnsw_parallel_sync(bs);
		spill_notice(bs->nelements);
		hnsw_build_write_graph(bs);
		shared->flushed = true;
	}
	LWLockRelease(&shared->flush_lock);
	bs->spilled = true;
	if (!IsParallelWorker())
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PHASE_INSERT_REST);
	return false;
}

/* One more row indexed: count it, and report the count of all participants. */
static void
row_indexed(HnswBuildState *bs)
{
	bs->indtuples++;
	if (bs->shared)
	{
		uint64		done = pg_atomic_add_fetch_u64(&bs->shared->tuples_done, 1);

		if (!IsParallelWorker())
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) done);
	}
	else
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
}

/*
 * Add one row's vector (raw, as the column holds it) to the graph: in
 * memory, or on disk once memory ran out.  Called in tuple_context.
 */
void
hnsw_build_add_vector(HnswBuildState *bs, ItemPointer tid, const float *vec, int dims)
{
	bool		indexed = false;

	if (dims != bs->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", bs->dims, dims)));

	if (bs->spilled)
		indexed = hnsw_insert_vector(bs->index, vec, dims, tid, true, NULL);
	else if (hnsw_prepare_vector(bs->metric, vec, bs->scratch, bs->dims))
	{
		int			level = hnsw_random_level(&bs->prng, bs->m);

		if (bs->shared ? parallel_add(bs, tid, level) : serial_add(bs, tid, level))
			indexed = true;
		else
			indexed = hnsw_insert_vector(bs->index, vec, dims, tid, true, NULL);
	}
	if (indexed)
		row_indexed(bs);
}

/* The build scan's callback, in the leader and in parallel workers. */
void
hnsw_build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
					bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;

	(void) index;
	(void) tupleIsAlive;		/* the build scan already skips dead rows */
	if (isnull[0])
		return;

	if (bs->source)
		bs->source->add(bs->source, bs, tid, values[0]);
	else
	{
		Vector	   *v;

		old = MemoryContextSwitchTo(bs->tuple_context);
		v = DatumGetVector(values[0]);
		hnsw_build_add_vector(bs, tid, v->x, v->dim);
		MemoryContextSwitchTo(old);
		MemoryContextReset(bs->tuple_context);
	}
	CHECK_FOR_INTERRUPTS();
}

/* After the build scan: rows a source still holds. */
void
hnsw_build_finish_rows(HnswBuildState *bs)
{
	if (bs->source)
		bs->source->finish(bs->source, bs);
}

/* Dimensions from the column's type modifier: required, as in pgvector. */
static int
index_dimensions(Relation index)
{
	int			dims = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	if (dims < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as vector(n), or index an expression cast to vector(n).")));
	return dims;
}

static void
init_meta_page(Relation index, ForkNumber fork, int dims, int m, int ef_construction,
			   HnswMetric metric, QuantKind quant, bool has_vector,
			   const EmbedModelStamp *stamp)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	Assert(BufferGetBlockNumber(buf) == hnsw_meta_blkno(index));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_meta_init_page(BufferGetPage(buf), dims, m, ef_construction, metric, quant,
						quant != QUANT_NONE && has_vector ? HNSW_META_VECTORS_IN_INDEX : 0);
	/* the model behind an embed() expression, checked by scans and inserts */
	if (stamp)
		((HnswMetaData *) PageGetContents(BufferGetPage(buf)))->model = *stamp;
	else
		embed_stamp_for_index(index, &((HnswMetaData *) PageGetContents(BufferGetPage(buf)))->model);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* The quantization option, checked again (the reloption validator did it). */
static QuantKind
index_quantization(Relation index)
{
	bool		ok;
	QuantKind	kind = quant_kind_from_name(retrieval_option_quantization(index), &ok);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for quantization option: \"%s\"",
						retrieval_option_quantization(index))));
	return kind;
}

/*
 * Re-ranking reads full-precision vectors from the heap row, which only
 * holds them for a plain column: an expression index keeps them in the
 * index (see hnsw.h).
 */
static bool
index_keeps_vectors(Relation index)
{
	/* a hybrid index's embeddings are in no heap row either */
	return index->rd_index->indkey.values[0] == 0 ||
		retrieval_opclass_code(index) == OPCLASS_TEXT_BM25;
}

static void
check_options(Relation index, int dims, int m, int ef_construction, QuantKind quant,
			  bool has_vector)
{
	int			max_dims = hnsw_max_dims(quant, has_vector);

	if (ef_construction < 2 * m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m"),
				 errdetail("m is %d and ef_construction is %d.", m, ef_construction)));
	if (dims > max_dims)
	{
		if (quant == QUANT_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("column cannot have more than %d dimensions for an HNSW index with quantization = 'none'",
							max_dims),
					 errhint("Use quantization = 'sq8' (up to %d dimensions) or 'binary' (up to %d), which keep compact codes in the index and re-rank with the table's vectors.",
							 hnsw_max_dims(QUANT_SQ8, false), hnsw_max_dims(QUANT_BINARY, false))));
		else if (has_vector && dims <= hnsw_max_dims(quant, false))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("expression index cannot have more than %d dimensions for an HNSW index with quantization = '%s'",
							max_dims, quant_kind_name(quant)),
					 errdetail("An expression index stores full-precision vectors for re-ranking."),
					 errhint("Index a vector column instead of an expression.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("column cannot have more than %d dimensions for an HNSW index with quantization = '%s'",
							max_dims, quant_kind_name(quant))));
	}
	(void) index;
}

/*
 * A build state for this index: options, callbacks, scratch space.  The
 * graph arrays come later (grow_arrays(), or the parallel build's shared
 * memory).
 */
void
hnsw_build_state_init(HnswBuildState *bs, Relation heap, Relation index)
{
	int			maxcands;

	memset(bs, 0, sizeof(*bs));
	bs->graph.m = retrieval_option_m(index);
	bs->graph.query_distance = mem_query_distance;
	bs->graph.neighbors = mem_neighbors;
	bs->graph.pair_distance = mem_pair_distance;
	bs->graph.visit = mem_visit;
	bs->graph.reset_visits = mem_reset_visits;
	bs->graph.prefetch_neighbors = mem_prefetch_neighbors;
	bs->graph.prefetch = mem_prefetch;
	bs->heap = heap;
	bs->index = index;
	bs->metric = hnsw_metric_for_index(index);
	if (retrieval_opclass_code(index) == OPCLASS_TEXT_BM25)
	{
		bs->source = hybrid_embed_source(index);
		bs->dims = bs->source->dims;
	}
	else
		bs->dims = index_dimensions(index);
	bs->m = bs->graph.m;
	bs->ef_construction = retrieval_option_ef_construction(index);
	hnsw_layout_init(&bs->layout, bs->dims, index_quantization(index), index_keeps_vectors(index));
	bs->entry = -1;
	bs->entry_level = -1;
	pg_prng_seed(&bs->prng, UINT64CONST(0x5245545249455641));
	bs->visit_tag = 1;
	bs->memory_limit = (Size) maintenance_work_mem * 1024;
	if (bs->layout.quant != QUANT_NONE)
		bs->codec = quant_codec_create(bs->layout.quant, (QuantMetric) bs->metric, bs->dims, NULL);

	bs->graph_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw build graph",
											  ALLOCSET_DEFAULT_SIZES);
	bs->tuple_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw build tuple",
											  ALLOCSET_DEFAULT_SIZES);
	maxcands = Max(bs->ef_construction, 2 * bs->m) + 1;
	bs->scratch = palloc(sizeof(float) * bs->dims);
	bs->found = palloc(sizeof(HnswCandidate) * maxcands);
	bs->entries = palloc(sizeof(HnswCandidate) * maxcands);
	bs->cands = palloc(sizeof(HnswCandidate) * maxcands);
	bs->selected = palloc(sizeof(HnswNode) * maxcands);
	bs->links = palloc(sizeof(HnswNode) * 2 * bs->m * (HNSW_MAX_LEVEL + 1));
}

/*
 * Build the graph of the index (its HNSW metapage first), without WAL:
 * the caller logs the pages.  stamp: the embedding model to record, or
 * NULL to find it in the index expression.
 */
void
hnsw_build_graph(Relation heap, Relation index, IndexInfo *indexInfo,
				 const EmbedModelStamp *stamp, double *reltuples, double *indtuples)
{
	HnswBuildState bs;
	int			nworkers;

	hnsw_build_state_init(&bs, heap, index);
	check_options(index, bs.dims, bs.m, bs.ef_construction, bs.layout.quant,
				  index_keeps_vectors(index));
	init_meta_page(index, MAIN_FORKNUM, bs.dims, bs.m, bs.ef_construction, bs.metric,
				   bs.layout.quant, index_keeps_vectors(index), stamp);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PHASE_BUILD_GRAPH);
	retrieval_build_progress_total(heap);
	nworkers = hnsw_parallel_workers(heap, index);
	if (nworkers == 0 || !hnsw_parallel_build(&bs, indexInfo, nworkers))
	{
		bs.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											  hnsw_build_callback, (void *) &bs, NULL);
		hnsw_build_finish_rows(&bs);
		if (!bs.spilled)
			hnsw_build_write_graph(&bs);
	}

	MemoryContextDelete(bs.graph_context);
	MemoryContextDelete(bs.tuple_context);
	*reltuples = bs.reltuples;
	*indtuples = bs.indtuples;
}

/*
 * ambuild.  With parallel workers (hnsw_build_parallel.c) the graph is
 * built in shared memory; without (none planned or none launched) the
 * serial build runs, reproducibly.  Either way this process writes the
 * pages (unless a participant already did when memory ran out) and
 * WAL-logs them all at the end.
 */
IndexBuildResult *
hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	hnsw_build_graph(heap, index, indexInfo, NULL, &result->heap_tuples, &result->index_tuples);
	retrieval_log_build(index, MAIN_FORKNUM);
	return result;
}

/* The init fork of an unlogged table's index: an empty graph. */
void
hnsw_buildempty(Relation index)
{
	hnsw_buildempty_graph(index, index_dimensions(index), NULL);
	retrieval_log_build(index, INIT_FORKNUM);
}

/*
 * The pages of an empty graph in the init fork (its metapage, and the
 * codec's pages), not WAL-logged yet.
 */
void
hnsw_buildempty_graph(Relation index, int dims, const EmbedModelStamp *stamp)
{
	int			m = retrieval_option_m(index);
	int			ef_construction = retrieval_option_ef_construction(index);
	QuantKind	quant = index_quantization(index);
	HnswMetric	metric = hnsw_metric_for_index(index);

	check_options(index, dims, m, ef_construction, quant, index_keeps_vectors(index));
	init_meta_page(index, INIT_FORKNUM, dims, m, ef_construction, metric, quant,
				   index_keeps_vectors(index), stamp);
	if (quant != QUANT_NONE)
		write_codec(index, INIT_FORKNUM,
					quant_codec_create(quant, (QuantMetric) metric, dims, NULL), 0);
}
