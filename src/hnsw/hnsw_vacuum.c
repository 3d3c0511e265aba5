/*-------------------------------------------------------------------------
 *
 * hnsw_vacuum.c
 *	  ambulkdelete / amvacuumcleanup for HNSW.
 *
 * Three passes over the index:
 *	1. find the elements whose heap rows are dead (and those already
 *	   marked deleted by an earlier VACUUM);
 *	2. repair: every live element that links to a dead one gets that
 *	   layer's list re-selected (heuristic) from its live neighbours, the
 *	   live neighbours of the dead ones it linked to, and a fresh search
 *	   of the layer for its own vector (as an insert would do), so the
 *	   graph stays navigable and recall does not decay under churn; a dead
 *	   entry point is replaced by the highest live element; then every
 *	   live element is made reachable from the entry point (pass 2b below,
 *	   which a VACUUM with nothing to delete runs too, from
 *	   amvacuumcleanup: inserts alone can cut elements off);
 *	3. mark the dead elements deleted (never returned again; their heap
 *	   TIDs are cleared before the heap line pointers can be reused).
 *
 * XXX: the space of deleted elements is not reused yet; REINDEX compacts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "hnsw.h"

typedef struct NodeSetEntry
{
	uint64		key;
	char		status;
} NodeSetEntry;

#define SH_PREFIX		nodeset
#define SH_ELEMENT_TYPE NodeSetEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) hnsw_node_hash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct VacuumState
{
	Relation	index;
	BufferAccessStrategy strategy;
	HnswMetaData meta;
	nodeset_hash *dead;			/* dead now or deleted earlier */
	HnswNode   *newly_dead;
	int			nnewly_dead;
	int			newly_dead_cap;
	HnswNode	best_live;		/* replacement entry point */
	int			best_live_level;
	double		live;
} VacuumState;

/*
 * Call visit(arg, node, tuple) for every element tuple of the index, page
 * by page under a share lock; then page_done(arg), if given, after the
 * page is unlocked (for work that reads other pages).
 */
static void
for_each_element(Relation index, BufferAccessStrategy strategy, HnswElementVisitor visit,
				 void (*page_done) (void *arg), void *arg)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (BlockNumber blkno = hnsw_meta_blkno(index) + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		/* other kinds' pages share a hybrid index's relation */
		maxoff = retrieval_page_has_type(page, RETRIEVAL_PAGE_HNSW) ?
			PageGetMaxOffsetNumber(page) : InvalidOffsetNumber;
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;
			ItemPointerData tid;

			if (!ItemIdIsNormal(iid))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			if (etup->type != HNSW_ELEMENT_TUPLE)
				continue;
			ItemPointerSet(&tid, blkno, off);
			visit(arg, hnsw_node_from_tid(&tid), etup);
		}
		UnlockReleaseBuffer(buf);
		if (page_done)
			page_done(arg);
	}
}

/* Every element tuple of the index (the hybrid text index's build). */
void
hnsw_for_each_element(Relation index, BufferAccessStrategy strategy, HnswElementVisitor visit,
					  void *arg)
{
	for_each_element(index, strategy, visit, NULL, arg);
}

/* Is this element live after this VACUUM (not deleted, not dead now)? */
static inline bool
survives(VacuumState *vs, HnswNode node, HnswElementTuple etup)
{
	return !etup->deleted && nodeset_lookup(vs->dead, node) == NULL;
}

/* Pass 1 */
typedef struct CollectState
{
	VacuumState *vs;
	IndexBulkDeleteCallback callback;
	void	   *callback_state;
} CollectState;

static void
collect_element(void *arg, HnswNode node, HnswElementTuple etup)
{
	CollectState *cs = (CollectState *) arg;
	VacuumState *vs = cs->vs;
	bool		found;

	if (etup->deleted)
		nodeset_insert(vs->dead, node, &found);
	else if (cs->callback(&etup->heaptid, cs->callback_state))
	{
		nodeset_insert(vs->dead, node, &found);
		if (vs->nnewly_dead == vs->newly_dead_cap)
		{
			vs->newly_dead_cap *= 2;
			vs->newly_dead = repalloc_huge(vs->newly_dead, sizeof(HnswNode) * vs->newly_dead_cap);
		}
		vs->newly_dead[vs->nnewly_dead++] = node;
	}
	else
	{
		vs->live++;
		if (etup->level > vs->best_live_level)
		{
			vs->best_live = node;
			vs->best_live_level = etup->level;
		}
	}
}

static void
collect_dead(VacuumState *vs, IndexBulkDeleteCallback callback, void *callback_state)
{
	CollectState cs = {vs, callback, callback_state};

	vs->best_live = HNSW_INVALID_NODE;
	vs->best_live_level = -1;
	for_each_element(vs->index, vs->strategy, collect_element, NULL, &cs);
}

/*
 * Re-select one layer of node's list without the dead elements.  The list
 * is rewritten only if no insert changed it meanwhile; otherwise the
 * repair is recomputed from the new list (a few times at most).
 */
static void
repair_layer(VacuumState *vs, HnswDiskGraph *dg, HnswNode node, ItemPointer neighbortid,
			 int level, HnswCandidate entry, int entry_level)
{
	HnswGraph  *graph = hnsw_disk_graph_base(dg);
	int			m = vs->meta.m;
	int			cap = hnsw_layer_capacity(level, m);
	HnswNode   *current = palloc(sizeof(HnswNode) * 2 * m);
	HnswNode   *second = palloc(sizeof(HnswNode) * 2 * m);
	int			ef = Max(vs->meta.ef_construction, cap);
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * (cap + cap * 2 * m + ef));
	HnswCandidate *found = palloc(sizeof(HnswCandidate) * ef);
	HnswNode   *selected = palloc(sizeof(HnswNode) * cap);
	int			nfound = 0;

	/* search the layer for the element's own vector, from the entry point */
	if (entry.node != HNSW_INVALID_NODE && entry_level >= level)
	{
		hnsw_disk_graph_set_query(dg, hnsw_disk_node_vector(dg, node));
		entry.distance = graph->query_distance(graph, entry.node);
		entry = hnsw_descend(graph, entry, entry_level, level);
		nfound = hnsw_search_layer(graph, &entry, 1, ef, level, found);
	}

	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			ncands = 0;
		int			ncurrent = graph->neighbors(graph, node, level, current);
		int			nselected;

		graph->reset_visits(graph);
		graph->visit(graph, node);
		for (int i = 0; i < nfound; i++)
		{
			if (nodeset_lookup(vs->dead, found[i].node) != NULL || !graph->visit(graph, found[i].node) ||
				!hnsw_disk_element_info(dg, found[i].node, NULL, NULL))
				continue;
			cands[ncands].node = found[i].node;
			cands[ncands++].distance = found[i].distance;
		}
		for (int i = 0; i < ncurrent; i++)
		{
			int			nsecond;

			if (nodeset_lookup(vs->dead, current[i]) == NULL)
			{
				if (graph->visit(graph, current[i]))
				{
					cands[ncands].node = current[i];
					cands[ncands++].distance = graph->pair_distance(graph, node, current[i]);
				}
				continue;
			}
			/* a dead neighbour: its live neighbours become candidates */
			nsecond = graph->neighbors(graph, current[i], level, second);
			for (int j = 0; j < nsecond; j++)
			{
				if (nodeset_lookup(vs->dead, second[j]) != NULL || !graph->visit(graph, second[j]))
					continue;
				cands[ncands].node = second[j];
				cands[ncands++].distance = graph->pair_distance(graph, node, second[j]);
			}
		}
		hnsw_sort_candidates(cands, ncands);
		nselected = hnsw_select_neighbors(graph, node, cands, ncands, cap, selected);
		if (hnsw_disk_write_layer(vs->index, neighbortid, level, m, selected, nselected,
								  current, ncurrent, false))
			break;
	}

	pfree(current);
	pfree(second);
	pfree(cands);
	pfree(found);
	pfree(selected);
}

/* Pass 2 */
typedef struct RepairState
{
	VacuumState *vs;
	HnswDiskGraph *dg;
	HnswNode   *neighbors;
	HnswCandidate entry;		/* a live entry point for repair searches */
	int			entry_level;
	/* live elements of the current page, repaired once it is unlocked */
	int			nelements;
	HnswNode	elements[MaxOffsetNumber];
	ItemPointerData neighbortids[MaxOffsetNumber];
	uint8		levels[MaxOffsetNumber];
} RepairState;

static void
remember_live_element(void *arg, HnswNode node, HnswElementTuple etup)
{
	RepairState *rs = (RepairState *) arg;

	if (!survives(rs->vs, node, etup))
		return;
	rs->elements[rs->nelements] = node;
	rs->neighbortids[rs->nelements] = etup->neighbortid;
	rs->levels[rs->nelements++] = etup->level;
}

static void
repair_page_elements(void *arg)
{
	RepairState *rs = (RepairState *) arg;
	HnswGraph  *graph = hnsw_disk_graph_base(rs->dg);

	for (int e = 0; e < rs->nelements; e++)
	{
		for (int level = 0; level <= rs->levels[e]; level++)
		{
			int			n = graph->neighbors(graph, rs->elements[e], level, rs->neighbors);
			bool		needs_repair = false;

			for (int i = 0; i < n && !needs_repair; i++)
				needs_repair = nodeset_lookup(rs->vs->dead, rs->neighbors[i]) != NULL;
			if (needs_repair)
				repair_layer(rs->vs, rs->dg, rs->elements[e], &rs->neighbortids[e], level,
							 rs->entry, rs->entry_level);
		}
		CHECK_FOR_INTERRUPTS();
	}
	rs->nelements = 0;
}

static void
repair_links(VacuumState *vs)
{
	RepairState *rs = palloc0(sizeof(RepairState));

	rs->vs = vs;
	rs->dg = hnsw_disk_graph_create(vs->index, &vs->meta, true);
	rs->neighbors = palloc(sizeof(HnswNode) * 2 * vs->meta.m);
	rs->entry.node = HNSW_INVALID_NODE;
	if (ItemPointerIsValid(&vs->meta.entry) &&
		nodeset_lookup(vs->dead, hnsw_node_from_tid(&vs->meta.entry)) == NULL)
	{
		rs->entry.node = hnsw_node_from_tid(&vs->meta.entry);
		rs->entry_level = vs->meta.entry_level;
	}
	else if (vs->best_live != HNSW_INVALID_NODE)
	{
		rs->entry.node = vs->best_live;
		rs->entry_level = vs->best_live_level;
	}
	for_each_element(vs->index, vs->strategy, remember_live_element, repair_page_elements, rs);
	hnsw_disk_graph_destroy(rs->dg);
	pfree(rs->neighbors);
	pfree(rs);
}

/*
 * Pass 2b: reachability.  Every live element must be reachable on layer 0
 * from the entry point, or no search can return it (a filtered scan that
 * needs it would come back short).  Repairs and inserts can break that:
 * the selection heuristic may prune an element's last incoming link (an
 * orphan), or leave a group of elements linked only among themselves (an
 * island).  This pass runs in every VACUUM, since inserts alone can do it:
 *
 *	- one sequential pass over the elements lists the live ones and their
 *	  neighbour tuples, and a breadth-first walk of layer 0 from the entry
 *	  point checks that it reaches them all (the common case: done);
 *	- otherwise a pass over the lists counts incoming layer-0 links, and
 *	  each orphan is linked from its nearest out-neighbour;
 *	- a new walk finds what is still unreachable; for each such element,
 *	  a search for its vector (which can only return reachable elements)
 *	  gives the nearest reachable one with a free slot, which links to it,
 *	  and the walk continues from it, taking in its whole island.  This
 *	  mirrors the end of CREATE INDEX (connect_unreachable() in
 *	  hnsw_build.c) on the disk graph; the details for groups of equal
 *	  vectors are at the loop.
 *
 * Reachable from the entry point is what a scan covers: when the region
 * its descent landed in is exhausted, it goes on from the entry point
 * (hnsw_scan.c).
 *
 * Memory: about 40 bytes per live element (the index in the hash table,
 * neighbour TID, in-link count, walk flag and queue); neighbour lists are
 * read from the pages, not cached, and vectors are loaded only for the
 * elements being linked.
 */
typedef struct NodeIndexEntry
{
	uint64		key;
	char		status;
	uint32		index;			/* into LiveElements' arrays */
} NodeIndexEntry;

#define SH_PREFIX		nodeindex
#define SH_ELEMENT_TYPE NodeIndexEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) hnsw_node_hash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct LiveElements
{
	VacuumState *vs;
	HnswNode   *nodes;
	ItemPointerData *neighbortids;
	uint32		count;
	uint32		capacity;
} LiveElements;

static void
remember_live(void *arg, HnswNode node, HnswElementTuple etup)
{
	LiveElements *le = (LiveElements *) arg;

	if (!survives(le->vs, node, etup))
		return;
	if (le->count == le->capacity)
	{
		le->capacity *= 2;
		le->nodes = repalloc_huge(le->nodes, sizeof(HnswNode) * le->capacity);
		le->neighbortids = repalloc_huge(le->neighbortids, sizeof(ItemPointerData) * le->capacity);
	}
	le->nodes[le->count] = node;
	le->neighbortids[le->count] = etup->neighbortid;
	le->count++;
}

/* A live element's index in LiveElements, or -1. */
static inline int64
live_index(nodeindex_hash *live, HnswNode node)
{
	NodeIndexEntry *e = nodeindex_lookup(live, node);

	return e ? (int64) e->index : -1;
}

/* hnsw_mark_reachable()'s view of the pages: links to live elements */
typedef struct LiveWalk
{
	VacuumState *vs;
	LiveElements *le;
	nodeindex_hash *live;
	HnswNode   *list;
} LiveWalk;

static int
live_neighbors(void *arg, uint32 element, uint32 *out)
{
	LiveWalk   *w = (LiveWalk *) arg;
	int			n = hnsw_disk_read_layer(w->vs->index, w->vs->strategy,
										 &w->le->neighbortids[element], 0, w->vs->meta.m, w->list);
	int			count = 0;

	vacuum_delay_point();
	for (int j = 0; j < n; j++)
	{
		int64		v = live_index(w->live, w->list[j]);

		if (v >= 0)
			out[count++] = (uint32) v;
	}
	return count;
}

/*
 * host links to u on layer 0: in a free slot, else (if evict) in place of
 * its farthest neighbour that is dead or has another incoming link (as the
 * build's force_link(): evicting an element's only in-link would just move
 * the problem).  False when that is impossible.
 */
static bool
link_from(VacuumState *vs, HnswGraph *graph, LiveElements *le, nodeindex_hash *live,
		  uint32 *indegree, uint32 host, uint32 u, bool evict, HnswNode *list, HnswNode *updated)
{
	int			cap = hnsw_layer_capacity(0, vs->meta.m);

	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			n = hnsw_disk_read_layer(vs->index, vs->strategy, &le->neighbortids[host], 0,
											 vs->meta.m, list);
		int			count = n;
		int			victim = -1;
		float		worst = 0;

		for (int j = 0; j < n; j++)
			if (list[j] == le->nodes[u])
				return true;
		memcpy(updated, list, sizeof(HnswNode) * n);
		if (n < cap)
			updated[count++] = le->nodes[u];
		else if (!evict)
			return false;
		else
		{
			for (int j = 0; j < n; j++)
			{
				int64		v = live_index(live, list[j]);
				float		d;

				if (v >= 0 && indegree[v] < 2)
					continue;
				d = v < 0 ? get_float4_infinity() : graph->pair_distance(graph, le->nodes[host], list[j]);
				if (victim < 0 || d > worst)
				{
					victim = j;
					worst = d;
				}
			}
			if (victim < 0)
				return false;
			updated[victim] = le->nodes[u];
		}
		if (hnsw_disk_write_layer(vs->index, &le->neighbortids[host], 0, vs->meta.m,
								  updated, count, list, n, false))
		{
			indegree[u]++;
			if (victim >= 0 && live_index(live, list[victim]) >= 0)
				indegree[live_index(live, list[victim])]--;
			return true;
		}
	}
	return false;
}

/* elements looked at for a free slot, per unreachable element */
#define HOST_PROBES		4096

static double
connect_unreachable(VacuumState *vs)
{
	LiveElements le = {vs, palloc(sizeof(HnswNode) * 1024), palloc(sizeof(ItemPointerData) * 1024), 0, 1024};
	HnswNode   *list = palloc(sizeof(HnswNode) * 2 * vs->meta.m);
	HnswNode   *updated = palloc(sizeof(HnswNode) * 2 * vs->meta.m);
	uint32	   *out = palloc(sizeof(uint32) * 2 * vs->meta.m);
	LiveWalk	walk;
	HnswCandidate *found = palloc(sizeof(HnswCandidate) * Max(vs->meta.ef_construction, 1));
	nodeindex_hash *live;
	uint32	   *indegree;
	bool	   *reached;
	uint32	   *queue;
	HnswDiskGraph *dg;
	HnswGraph  *graph;
	HnswMetaData meta;
	int64		entry = -1;
	uint32		host_cursor = 0;
	int64		orphans = 0,
				islands = 0,
				stranded = 0;

	for_each_element(vs->index, vs->strategy, remember_live, NULL, &le);
	hnsw_meta_read(vs->index, &meta);
	if (le.count < 2 || !ItemPointerIsValid(&meta.entry))
		return le.count;

	live = nodeindex_create(CurrentMemoryContext, le.count, NULL);
	for (uint32 i = 0; i < le.count; i++)
	{
		bool		present;

		nodeindex_insert(live, le.nodes[i], &present)->index = i;
	}
	walk.vs = vs;
	walk.le = &le;
	walk.live = live;
	walk.list = list;
	entry = live_index(live, hnsw_node_from_tid(&meta.entry));
	if (entry < 0)
		return le.count;		/* a concurrent change; the next VACUUM looks again */
	reached = palloc_extended(sizeof(bool) * le.count, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	queue = palloc_extended(sizeof(uint32) * le.count, MCXT_ALLOC_HUGE);

	/* the common case: one walk finds everything */
	hnsw_mark_reachable((uint32) entry, reached, queue, out, live_neighbors, &walk);
	for (uint32 i = 0; i < le.count; i++)
		stranded += !reached[i];
	if (stranded == 0)
		return le.count;

	indegree = palloc_extended(sizeof(uint32) * le.count, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint32 i = 0; i < le.count; i++)
	{
		int			n = live_neighbors(&walk, i, out);

		for (int j = 0; j < n; j++)
			indegree[out[j]]++;
	}

	dg = hnsw_disk_graph_create(vs->index, &meta, false);
	graph = hnsw_disk_graph_base(dg);

	/* orphans: the nearest out-neighbour takes each in */
	for (uint32 i = 0; i < le.count; i++)
	{
		int64		nearest = -1;
		float		best = 0;
		int			n;

		if (indegree[i] > 0 || i == entry)
			continue;
		n = live_neighbors(&walk, i, out);
		for (int j = 0; j < n; j++)
		{
			float		d = graph->pair_distance(graph, le.nodes[i], le.nodes[out[j]]);

			if (nearest < 0 || d < best)
			{
				nearest = out[j];
				best = d;
			}
		}
		if (nearest >= 0 &&
			link_from(vs, graph, &le, live, indegree, (uint32) nearest, i, true, list, updated))
			orphans++;
		CHECK_FOR_INTERRUPTS();
	}

	/*
	 * islands: link each unreachable group from the nearest reachable
	 * element with a free slot.  Evicting a link is the last resort: the
	 * only in-link of a whole group of equal vectors looks like any other
	 * link (its target has other in-links, from inside the group), and
	 * evicting it cuts the group off.  So the walk is redone from scratch
	 * until it reaches everything (three rounds of linking at most).
	 */
	for (int round = 0;; round++)
	{
		memset(reached, 0, sizeof(bool) * le.count);
		hnsw_mark_reachable((uint32) entry, reached, queue, out, live_neighbors, &walk);
		stranded = 0;
		for (uint32 u = 0; u < le.count; u++)
			stranded += !reached[u];
		if (stranded == 0 || round == 3)
			break;
		for (uint32 u = 0; u < le.count; u++)
		{
			HnswCandidate start;
			bool		linked = false;
			int			n;

			CHECK_FOR_INTERRUPTS();
			if (reached[u])
				continue;
			hnsw_disk_graph_set_query(dg, hnsw_disk_node_vector(dg, le.nodes[u]));

			/*
			 * The upper layers can lead into the island itself, so if the
			 * usual descent finds nothing reachable, search layer 0 from
			 * the entry point, which finds only reachable elements.
			 */
			for (int descend = 1; descend >= 0 && !linked; descend--)
			{
				start.node = hnsw_node_from_tid(&meta.entry);
				start.distance = graph->query_distance(graph, start.node);
				if (descend)
					start = hnsw_descend(graph, start, meta.entry_level, 0);
				n = hnsw_search_layer(graph, &start, 1, Max(meta.ef_construction, 1), 0, found);
				for (int k = 0; k < n && !linked; k++)
				{
					int64		v = live_index(live, found[k].node);

					if (v >= 0 && reached[v])
						linked = link_from(vs, graph, &le, live, indegree, (uint32) v, u,
										   false, list, updated);
				}
			}

			/*
			 * Groups of many equal vectors fill every list near them: then
			 * any reachable element with a free slot, however far (they
			 * are common: a bounded look is enough) ...
			 */
			for (uint32 k = 0; k < Min(le.count, HOST_PROBES) && !linked; k++)
			{
				host_cursor = (host_cursor + 1) % le.count;
				if (reached[host_cursor])
					linked = link_from(vs, graph, &le, live, indegree, host_cursor, u, false,
									   list, updated);
			}

			/*
			 * ... and if the reachable part is such a group itself (the
			 * entry point can be one of the equal vectors), the nearest
			 * reachable element gives up a link to an element that has
			 * another in-link.
			 */
			for (int k = 0; k < n && !linked; k++)
			{
				int64		v = live_index(live, found[k].node);

				if (v >= 0 && reached[v])
					linked = link_from(vs, graph, &le, live, indegree, (uint32) v, u,
									   true, list, updated);
			}
			if (!linked)
				continue;
			islands++;
			hnsw_mark_reachable(u, reached, queue, out, live_neighbors, &walk);
		}
	}
	hnsw_disk_graph_destroy(dg);
	if (orphans > 0 || islands > 0 || stranded > 0)
		elog(DEBUG1, "index \"%s\": linked %lld orphaned elements and %lld unreachable groups, %lld left unreachable",
			 RelationGetRelationName(vs->index), (long long) orphans, (long long) islands,
			 (long long) stranded);
	return le.count;
}

/* Replace a dead entry point (or clear it when nothing is left). */
static void
repair_entry_point(VacuumState *vs)
{
	Buffer		metabuf = ReadBuffer(vs->index, hnsw_meta_blkno(vs->index));
	HnswMetaData *meta;
	RetrievalPageWrite write;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaData *) PageGetContents(BufferGetPage(metabuf));
	if (ItemPointerIsValid(&meta->entry) &&
		nodeset_lookup(vs->dead, hnsw_node_from_tid(&meta->entry)) != NULL)
	{
		retrieval_write_begin(&write, vs->index, false);
		meta = (HnswMetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
		if (vs->best_live != HNSW_INVALID_NODE)
		{
			hnsw_node_to_tid(vs->best_live, &meta->entry);
			meta->entry_level = vs->best_live_level;
		}
		else
		{
			ItemPointerSetInvalid(&meta->entry);
			meta->entry_level = -1;
		}
		retrieval_write_finish(&write);
	}
	UnlockReleaseBuffer(metabuf);
}

/* Pass 3 */
static void
mark_deleted(VacuumState *vs)
{
	for (int i = 0; i < vs->nnewly_dead; i++)
	{
		ItemPointerData tid;
		Buffer		buf;
		RetrievalPageWrite write;
		Page		page;
		HnswElementTuple etup;

		hnsw_node_to_tid(vs->newly_dead[i], &tid);
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, ItemPointerGetBlockNumber(&tid),
								 RBM_NORMAL, vs->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		retrieval_write_begin(&write, vs->index, false);
		page = retrieval_write_page(&write, buf, false);
		etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(&tid)));
		etup->deleted = 1;
		ItemPointerSetInvalid(&etup->heaptid);
		retrieval_write_finish(&write);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Start a VACUUM of the index (no dead elements known yet). */
static void
vacuum_state_init(VacuumState *vs, IndexVacuumInfo *info, MemoryContext context)
{
	memset(vs, 0, sizeof(*vs));
	vs->index = info->index;
	vs->strategy = info->strategy;
	hnsw_meta_read(info->index, &vs->meta);
	vs->dead = nodeset_create(context, 1024, NULL);
}

IndexBulkDeleteResult *
hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	return hnsw_bulkdelete_report(info, stats, callback, callback_state, NULL, NULL);
}

IndexBulkDeleteResult *
hnsw_bulkdelete_report(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
					   IndexBulkDeleteCallback callback, void *callback_state,
					   HnswDeadVisitor on_dead, void *arg)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw vacuum",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	VacuumState vs;

	if (stats == NULL)
		stats = MemoryContextAllocZero(old, sizeof(IndexBulkDeleteResult));

	vacuum_state_init(&vs, info, context);
	vs.newly_dead_cap = 1024;
	vs.newly_dead = palloc(sizeof(HnswNode) * vs.newly_dead_cap);

	collect_dead(&vs, callback, callback_state);
	if (on_dead)
	{
		nodeset_iterator it;
		NodeSetEntry *e;

		nodeset_start_iterate(vs.dead, &it);
		while ((e = nodeset_iterate(vs.dead, &it)) != NULL)
		{
			ItemPointerData tid;

			hnsw_node_to_tid(e->key, &tid);
			on_dead(arg, &tid);
		}
	}
	if (vs.nnewly_dead > 0)
	{
		repair_links(&vs);
		repair_entry_point(&vs);
		(void) connect_unreachable(&vs);
		mark_deleted(&vs);
	}

	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = vs.live;
	stats->tuples_removed += vs.nnewly_dead;

	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return stats;
}

IndexBulkDeleteResult *
hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	MemoryContext context;
	MemoryContext old;
	VacuumState vs;
	double		live;

	if (info->analyze_only)
		return stats;
	if (stats != NULL)
		return stats;

	/*
	 * No bulkdelete happened: inserts alone can still have left elements
	 * unreachable, so run the reachability pass, which also counts the
	 * live elements.
	 */
	context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw vacuum",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	vacuum_state_init(&vs, info, context);
	live = connect_unreachable(&vs);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);

	stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = live;
	return stats;
}
