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
 *	   live element left without an incoming layer-0 link is linked from
 *	   its nearest neighbour;
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

/* Pass 2b: an incoming layer-0 link for every live element */
typedef struct NodeCountEntry
{
	uint64		key;
	char		status;
	uint32		count;
} NodeCountEntry;

#define SH_PREFIX		nodecount
#define SH_ELEMENT_TYPE NodeCountEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) hnsw_node_hash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct LiveList
{
	VacuumState *vs;
	HnswNode   *nodes;
	int			count;
	int			capacity;
} LiveList;

static void
remember_live(void *arg, HnswNode node, HnswElementTuple etup)
{
	LiveList   *ll = (LiveList *) arg;

	if (!survives(ll->vs, node, etup))
		return;
	if (ll->count == ll->capacity)
	{
		ll->capacity *= 2;
		ll->nodes = repalloc_huge(ll->nodes, sizeof(HnswNode) * ll->capacity);
	}
	ll->nodes[ll->count++] = node;
}

static void
connect_orphans(VacuumState *vs)
{
	HnswDiskGraph *dg = hnsw_disk_graph_create(vs->index, &vs->meta, true);
	HnswGraph  *graph = hnsw_disk_graph_base(dg);
	HnswNode   *neighbors = palloc(sizeof(HnswNode) * 2 * vs->meta.m);
	LiveList	ll = {vs, palloc(sizeof(HnswNode) * 1024), 0, 1024};
	nodecount_hash *indegree;
	HnswMetaData meta;
	HnswNode	entry;

	for_each_element(vs->index, vs->strategy, remember_live, NULL, &ll);
	indegree = nodecount_create(CurrentMemoryContext, Max(ll.count, 16), NULL);
	for (int i = 0; i < ll.count; i++)
	{
		int			n = graph->neighbors(graph, ll.nodes[i], 0, neighbors);

		for (int j = 0; j < n; j++)
		{
			bool		found;
			NodeCountEntry *e;

			if (nodeset_lookup(vs->dead, neighbors[j]) != NULL)
				continue;
			e = nodecount_insert(indegree, neighbors[j], &found);
			e->count = found ? e->count + 1 : 1;
		}
		CHECK_FOR_INTERRUPTS();
	}

	hnsw_meta_read(vs->index, &meta);
	entry = ItemPointerIsValid(&meta.entry) ? hnsw_node_from_tid(&meta.entry) : HNSW_INVALID_NODE;
	for (int i = 0; i < ll.count; i++)
	{
		int			n;
		HnswNode	nearest = HNSW_INVALID_NODE;
		float		best = 0;

		if (ll.nodes[i] == entry || nodecount_lookup(indegree, ll.nodes[i]) != NULL)
			continue;
		n = graph->neighbors(graph, ll.nodes[i], 0, neighbors);
		for (int j = 0; j < n; j++)
		{
			float		d;

			if (nodeset_lookup(vs->dead, neighbors[j]) != NULL)
				continue;
			d = graph->pair_distance(graph, ll.nodes[i], neighbors[j]);
			if (nearest == HNSW_INVALID_NODE || d < best)
			{
				nearest = neighbors[j];
				best = d;
			}
		}
		if (nearest != HNSW_INVALID_NODE)
			hnsw_disk_add_link(vs->index, dg, nearest, 0, ll.nodes[i], vs->meta.m, true, false);
		CHECK_FOR_INTERRUPTS();
	}
	hnsw_disk_graph_destroy(dg);
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

	memset(&vs, 0, sizeof(vs));
	vs.index = info->index;
	vs.strategy = info->strategy;
	hnsw_meta_read(info->index, &vs.meta);
	vs.dead = nodeset_create(context, 1024, NULL);
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
		connect_orphans(&vs);
		mark_deleted(&vs);
	}

	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = vs.live;
	stats->tuples_removed += vs.nnewly_dead;

	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return stats;
}

static void
count_live(void *arg, HnswNode node, HnswElementTuple etup)
{
	(void) node;
	if (!etup->deleted)
		(*(double *) arg)++;
}

IndexBulkDeleteResult *
hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	double		live = 0;

	if (info->analyze_only)
		return stats;
	if (stats != NULL)
		return stats;

	/* no bulkdelete happened: count the live elements ourselves */
	stats = palloc0(sizeof(IndexBulkDeleteResult));
	for_each_element(info->index, info->strategy, count_live, NULL, &live);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = live;
	return stats;
}
