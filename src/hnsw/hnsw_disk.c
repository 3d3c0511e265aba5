/*-------------------------------------------------------------------------
 *
 * hnsw_disk.c
 *	  The HNSW graph as stored in index pages: metapage access, the
 *	  HnswGraph callbacks over element and neighbour tuples (used by
 *	  inserts, scans and VACUUM), neighbour search for a new element and
 *	  adding a link to an existing neighbour list.
 *
 * Concurrency: pages are read under a share lock and changed under an
 * exclusive lock, one page at a time (never two locks held at once except
 * when a new page is added, which no reader can see yet), so there is no
 * lock ordering to get wrong.  A neighbour list is updated optimistically:
 * read it, compute the new list without holding the lock (that needs other
 * pages), then lock and write only if the list is unchanged; otherwise
 * retry.  Readers always see a complete list because a list fits in one
 * tuple on one page and is rewritten under the exclusive lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "../vector/vector.h"
#include "hnsw.h"

/* ------------------------------------------------------------------------
 * Metapage
 * ------------------------------------------------------------------------
 */

void
hnsw_meta_init_page(Page page, int dims, int m, int ef_construction, HnswMetric metric,
					QuantKind quant, uint16 flags)
{
	HnswMetaData *meta;

	retrieval_page_init(page, RETRIEVAL_PAGE_META);
	meta = (HnswMetaData *) PageGetContents(page);
	memset(meta, 0, sizeof(HnswMetaData));
	meta->header.magic = RETRIEVAL_MAGIC;
	meta->header.version = HNSW_FORMAT_VERSION;
	meta->header.kind = INDEX_KIND_HNSW;
	meta->dims = dims;
	meta->m = m;
	meta->ef_construction = ef_construction;
	meta->metric = metric;
	meta->entry_level = -1;
	ItemPointerSetInvalid(&meta->entry);
	meta->insert_page = InvalidBlockNumber;
	meta->quantization = quant;
	meta->flags = flags;
	meta->codec_page = 0;
	meta->codec_rows = 0;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(HnswMetaData)) - (char *) page;
}

void
hnsw_meta_read(Relation index, HnswMetaData *meta)
{
	Buffer		buf = ReadBuffer(index, hnsw_meta_blkno(index));
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	retrieval_meta_check(index, page, INDEX_KIND_HNSW, HNSW_FORMAT_VERSION);
	memcpy(meta, PageGetContents(page), sizeof(HnswMetaData));
	UnlockReleaseBuffer(buf);
}

/* Free space of an empty index page for one tuple (and its line pointer). */
Size
hnsw_page_capacity(void)
{
	return BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -
		MAXALIGN(sizeof(RetrievalPageOpaqueData)) - sizeof(ItemIdData);
}

void
hnsw_layout_init(HnswLayout *layout, int dims, QuantKind quant, bool has_vector)
{
	layout->dims = dims;
	layout->quant = quant;
	layout->has_vector = quant == QUANT_NONE || has_vector;
	layout->code_bytes = quant_code_bytes(quant, dims);
	layout->element_size = MAXALIGN(offsetof(HnswElementTupleData, vec) +
									(layout->has_vector ? sizeof(float) * dims : 0) +
									layout->code_bytes);
}

void
hnsw_layout_from_meta(HnswLayout *layout, const HnswMetaData *meta)
{
	hnsw_layout_init(layout, meta->dims, (QuantKind) meta->quantization,
					 (meta->flags & HNSW_META_VECTORS_IN_INDEX) != 0);
}

/*
 * Largest dimension count whose element tuple fits on a page.  The
 * neighbour tuple goes to the same page when both fit, else to the next
 * page (then expanding that element costs two buffer accesses).
 */
int
hnsw_max_dims(QuantKind quant, bool has_vector)
{
	int			lo = 0;
	int			hi = VECTOR_MAX_DIM_FOR_HNSW;

	/* the element size grows with dims: largest that fits, by bisection */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;
		HnswLayout	layout;

		hnsw_layout_init(&layout, mid, quant, has_vector);
		if (layout.element_size <= hnsw_page_capacity())
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* ------------------------------------------------------------------------
 * Codec pages
 * ------------------------------------------------------------------------
 */

static int
codec_floats_per_page(void)
{
	Size		room = hnsw_page_capacity() - MAXALIGN(offsetof(HnswCodecTupleData, values));

	/* whole MAXALIGN units, so the aligned tuple size still fits */
	return (int) ((room & ~((Size) MAXIMUM_ALIGNOF - 1)) / sizeof(float));
}

/*
 * Write the codec's parameters on new pages of fork (during a build: no
 * WAL here, the build logs every page at the end); return the first block.
 */
BlockNumber
hnsw_codec_write(Relation index, ForkNumber fork, const QuantCodec *codec)
{
	int			total = quant_param_count(codec->kind, codec->dims);
	int			per_page = codec_floats_per_page();
	HnswCodecTupleData *tup = palloc0(hnsw_page_capacity());
	BlockNumber first = InvalidBlockNumber;
	Buffer		prev = InvalidBuffer;

	for (int done = 0; done < total; done += per_page)
	{
		int			n = Min(per_page, total - done);
		Size		size = MAXALIGN(offsetof(HnswCodecTupleData, values) + sizeof(float) * n);
		Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		retrieval_page_init(page, RETRIEVAL_PAGE_HNSW);
		tup->type = HNSW_CODEC_TUPLE;
		tup->count = n;
		memcpy(tup->values, codec->params + done, sizeof(float) * n);
		if (PageAddItem(page, (Item) tup, size, FirstOffsetNumber, false, false) != FirstOffsetNumber)
			elog(ERROR, "failed to add codec tuple to index \"%s\"", RelationGetRelationName(index));
		MarkBufferDirty(buf);
		if (BufferIsValid(prev))
		{
			RetrievalPageGetOpaque(BufferGetPage(prev))->next = BufferGetBlockNumber(buf);
			UnlockReleaseBuffer(prev);
		}
		else
			first = BufferGetBlockNumber(buf);
		prev = buf;
	}
	if (BufferIsValid(prev))
		UnlockReleaseBuffer(prev);
	pfree(tup);
	return first;
}

/* The index's codec, read from its codec pages (NULL for 'none'). */
QuantCodec *
hnsw_codec_read(Relation index, const HnswMetaData *meta)
{
	QuantKind	kind = (QuantKind) meta->quantization;
	int			total = quant_param_count(kind, meta->dims);
	float	   *params;
	int			got = 0;
	BlockNumber blkno = meta->codec_page;

	if (kind == QUANT_NONE)
		return NULL;
	params = palloc(sizeof(float) * total);
	while (got < total)
	{
		Buffer		buf;
		Page		page;
		HnswCodecTupleData *tup;
		ItemId		iid;

		if (blkno <= hnsw_meta_blkno(index) || !BlockNumberIsValid(blkno) ||
			blkno >= RelationGetNumberOfBlocks(index))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has an invalid codec page reference %u",
							RelationGetRelationName(index), blkno),
					 errhint("REINDEX the index.")));
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		iid = PageGetMaxOffsetNumber(page) >= FirstOffsetNumber ?
			PageGetItemId(page, FirstOffsetNumber) : NULL;
		tup = iid && ItemIdIsNormal(iid) ? (HnswCodecTupleData *) PageGetItem(page, iid) : NULL;
		if (tup == NULL || tup->type != HNSW_CODEC_TUPLE || tup->count > (uint32) (total - got) ||
			tup->count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has an invalid codec page %u",
							RelationGetRelationName(index), blkno),
					 errhint("REINDEX the index.")));
		memcpy(params + got, tup->values, sizeof(float) * tup->count);
		got += tup->count;
		blkno = RetrievalPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	return quant_codec_create(kind, (QuantMetric) meta->metric, meta->dims, params);
}

/* ------------------------------------------------------------------------
 * The graph over index pages
 * ------------------------------------------------------------------------
 */

typedef struct DiskNode
{
	uint64		key;
	char		status;			/* simplehash */
	bool		loaded;
	bool		deleted;
	uint8		level;
	uint32		visit_epoch;
	uint32		distance_epoch;
	float		distance;
	ItemPointerData heaptid;
	ItemPointerData neighbortid;
	float	   *vec;			/* cached copy, or NULL */
} DiskNode;

#define SH_PREFIX		disknode
#define SH_ELEMENT_TYPE DiskNode
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) hnsw_node_hash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

struct HnswDiskGraph
{
	HnswGraph	base;			/* must be first */
	Relation	index;
	HnswMetric	metric;
	int			dims;
	bool		keep_vectors;
	const float *query;
	HnswLayout	layout;
	QuantCodec *codec;			/* NULL for none */
	QuantQuery	qquery;			/* query prepared for the codec */
	/* binary codes decode poorly: node vectors come from the heap rows */
	Relation	heap;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	uint32		visit_epoch;
	uint32		query_epoch;
	MemoryContext context;
	disknode_hash *nodes;
	HnswBufferHints *hints;		/* where pages were last seen, or NULL */

	/*
	 * Prefetch window: the nodes the search announced (prefetch callback)
	 * before computing their distances, in the order it will ask for them.
	 * Their line pointers are prefetched when announced; their element
	 * tuples a few distances ahead of use (see disk_prefetch).
	 */
	HnswNode   *pf_nodes;
	int			pf_count;
	int			pf_used;		/* distances taken from the window so far */
	int			pf_issued;		/* element tuples prefetched so far */
	bool		pf_consuming;	/* the next announcement starts a new window */
	Size		pf_bytes;		/* how much of an element tuple to prefetch */
};

/* element tuples prefetched ahead of the distance that reads them */
#define PREFETCH_AHEAD		8
/* beyond this, the hardware prefetcher follows the sequential reads */
#define PREFETCH_MAX_BYTES	1024

static void
corrupted(Relation index, HnswNode node, const char *what)
{
	ItemPointerData tid;

	hnsw_node_to_tid(node, &tid);
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" has an invalid %s at (%u,%u)",
					RelationGetRelationName(index), what,
					ItemPointerGetBlockNumberNoCheck(&tid),
					ItemPointerGetOffsetNumberNoCheck(&tid)),
			 errhint("REINDEX the index.")));
}

/* The tuple at tid on a locked page, checked to be of the expected type. */
static void *
tuple_at(Relation index, Page page, ItemPointer tid, uint8 type)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	ItemId		iid;
	uint8	   *tuple;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		corrupted(index, hnsw_node_from_tid(tid), type == HNSW_ELEMENT_TUPLE ? "element" : "neighbor list");
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid))
		corrupted(index, hnsw_node_from_tid(tid), type == HNSW_ELEMENT_TUPLE ? "element" : "neighbor list");
	tuple = (uint8 *) PageGetItem(page, iid);
	if (*tuple != type)
		corrupted(index, hnsw_node_from_tid(tid), type == HNSW_ELEMENT_TUPLE ? "element" : "neighbor list");
	return tuple;
}

/*
 * The full-precision vector of a heap row, for node-to-node distances.
 * Any version of the row will do (an HOT chain shares the indexed value),
 * so SnapshotAny; false when the row is gone.
 */
static bool
heap_vector(HnswDiskGraph *dg, ItemPointer heaptid, float *out)
{
	ItemPointerData tid = *heaptid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;
	Datum		value;
	Vector	   *v;
	bool		ok;

	if (!ItemPointerIsValid(&tid))
		return false;
	if (dg->fetch == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(dg->context);

		dg->fetch = table_index_fetch_begin(dg->heap);
		dg->slot = table_slot_create(dg->heap, NULL);
		MemoryContextSwitchTo(old);
	}
	if (!table_index_fetch_tuple(dg->fetch, &tid, SnapshotAny, dg->slot, &call_again, &all_dead))
		return false;
	value = slot_getattr(dg->slot, dg->index->rd_index->indkey.values[0], &isnull);
	ok = !isnull;
	if (ok)
	{
		v = DatumGetVector(value);
		ok = v->dim == dg->dims && hnsw_prepare_vector(dg->metric, v->x, out, v->dim);
		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
	}
	ExecClearTuple(dg->slot);
	return ok;
}

/*
 * Read node's element tuple into its entry: header always, vector copied
 * when wanted; the query distance is computed while the page is locked so
 * scans never copy vectors.
 */
static void
load_node(HnswDiskGraph *dg, DiskNode *entry, bool want_vector)
{
	ItemPointerData tid;
	Buffer		buf;
	Page		page;
	HnswElementTuple etup;
	bool		from_heap = false;

	hnsw_node_to_tid(entry->key, &tid);
	if (!BlockNumberIsValid(ItemPointerGetBlockNumberNoCheck(&tid)) ||
		ItemPointerGetBlockNumberNoCheck(&tid) <= hnsw_meta_blkno(dg->index))
		corrupted(dg->index, entry->key, "element reference");
	buf = hnsw_read_buffer(dg->index, dg->hints, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	etup = (HnswElementTuple) tuple_at(dg->index, page, &tid, HNSW_ELEMENT_TUPLE);

	entry->loaded = true;
	entry->deleted = etup->deleted != 0;
	entry->level = etup->level;
	entry->heaptid = etup->heaptid;
	entry->neighbortid = etup->neighbortid;
	if (dg->query)
	{
		if (dg->codec)
			entry->distance = quant_query_distance(&dg->qquery,
												   hnsw_element_code(etup, &dg->layout));
		else
			entry->distance = hnsw_distance(dg->metric, dg->query, etup->vec, dg->dims);
		entry->distance_epoch = dg->query_epoch;
	}
	if (want_vector && entry->vec == NULL)
	{
		entry->vec = MemoryContextAlloc(dg->context, sizeof(float) * dg->dims);
		if (dg->layout.has_vector)
			memcpy(entry->vec, etup->vec, sizeof(float) * dg->dims);
		else
		{
			/* decoded now; replaced by the heap row's vector below if there is one */
			quant_decode(dg->codec, hnsw_element_code(etup, &dg->layout), entry->vec);
			from_heap = dg->heap != NULL;
		}
	}
	UnlockReleaseBuffer(buf);
	/* the heap is read with no index page locked */
	if (from_heap)
		(void) heap_vector(dg, &entry->heaptid, entry->vec);
}

static DiskNode *
get_node(HnswDiskGraph *dg, HnswNode node)
{
	bool		found;
	DiskNode   *entry = disknode_insert(dg->nodes, node, &found);

	if (!found)
	{
		entry->loaded = false;
		entry->vec = NULL;
		entry->visit_epoch = 0;
		entry->distance_epoch = 0;
	}
	return entry;
}

/* Prefetch the element tuple of the window's next node not yet prefetched. */
static inline void
prefetch_next_tuple(HnswDiskGraph *dg)
{
	ItemPointerData tid;

	hnsw_node_to_tid(dg->pf_nodes[dg->pf_issued++], &tid);
	hnsw_prefetch_tuple(dg->hints, &tid, dg->pf_bytes);
}

/*
 * The search announces the unvisited neighbours of the node it expands,
 * then asks for their distances in the same order.  Announcing prefetches
 * each line pointer (their cache misses overlap instead of queueing one
 * behind the other); the first distance prefetches the first
 * PREFETCH_AHEAD element tuples (their line pointers have arrived by now)
 * and each distance one more, so a tuple is in the cache when its distance
 * reads it.
 */
static void
disk_prefetch(HnswGraph *graph, HnswNode node)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	ItemPointerData tid;

	if (dg->pf_consuming)
	{
		dg->pf_count = dg->pf_used = dg->pf_issued = 0;
		dg->pf_consuming = false;
	}
	if (dg->pf_count >= 2 * graph->m)
		return;
	dg->pf_nodes[dg->pf_count++] = node;
	hnsw_node_to_tid(node, &tid);
	hnsw_prefetch_item(dg->hints, &tid);
}

/* A distance is asked: move the prefetch window if node is its next one. */
static inline void
advance_prefetch(HnswDiskGraph *dg, HnswNode node)
{
	if (dg->pf_used >= dg->pf_count)
		return;
	if (!dg->pf_consuming)
	{
		dg->pf_consuming = true;
		while (dg->pf_issued < Min(dg->pf_count, PREFETCH_AHEAD))
			prefetch_next_tuple(dg);
	}
	if (dg->pf_nodes[dg->pf_used] != node)
		return;
	dg->pf_used++;
	if (dg->pf_issued < dg->pf_count)
		prefetch_next_tuple(dg);
}

static float
disk_query_distance(HnswGraph *graph, HnswNode node)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	DiskNode   *entry;

	if (dg->hints)
		advance_prefetch(dg, node);
	entry = get_node(dg, node);

	if (entry->distance_epoch == dg->query_epoch)
		return entry->distance;
	/* a cached vector is exact, or decoded (as good as the code) */
	if (entry->vec)
		entry->distance = hnsw_distance(dg->metric, dg->query, entry->vec, dg->dims);
	else
	{
		load_node(dg, entry, dg->keep_vectors);
		return entry->distance;
	}
	entry->distance_epoch = dg->query_epoch;
	return entry->distance;
}

const float *
hnsw_disk_node_vector(HnswDiskGraph *dg, HnswNode node)
{
	DiskNode   *entry = get_node(dg, node);

	if (entry->vec == NULL)
		load_node(dg, entry, true);
	return entry->vec;
}

static float
disk_pair_distance(HnswGraph *graph, HnswNode a, HnswNode b)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	const float *va = hnsw_disk_node_vector(dg, a);
	const float *vb = hnsw_disk_node_vector(dg, b);

	return hnsw_distance(dg->metric, va, vb, dg->dims);
}

/* Copy the valid slots of one layer of a neighbour tuple. */
static int
copy_layer(HnswNeighborTuple ntup, int level, int m, HnswNode *out)
{
	int			start = hnsw_layer_offset(level, m);
	int			cap = hnsw_layer_capacity(level, m);
	int			n = 0;

	if (start + cap > ntup->count)
		return 0;
	for (int i = 0; i < cap; i++)
	{
		ItemPointer tid = &ntup->tids[start + i];

		if (ItemPointerIsValid(tid))
			out[n++] = hnsw_node_from_tid(tid);
	}
	return n;
}

/* One layer of the neighbour list at tid on the pinned buffer buf; unpins it. */
static int
copy_layer_and_release(Relation index, Buffer buf, ItemPointer tid, int level, int m,
					   HnswNode *out)
{
	int			n;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	n = copy_layer((HnswNeighborTuple) tuple_at(index, BufferGetPage(buf), tid, HNSW_NEIGHBOR_TUPLE),
				   level, m, out);
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * One layer of the neighbour list at neighbortid, read from its page (no
 * node cache: VACUUM walks whole graphs with it).
 */
int
hnsw_disk_read_layer(Relation index, BufferAccessStrategy strategy, ItemPointer neighbortid,
					 int level, int m, HnswNode *out)
{
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, ItemPointerGetBlockNumber(neighbortid),
										 RBM_NORMAL, strategy);

	return copy_layer_and_release(index, buf, neighbortid, level, m, out);
}

/*
 * The search will expand node next: start loading its neighbour tuple's
 * buffer descriptor, page header and line pointer (stage 1 of
 * hnsw_buffers.c) while the current node is expanded.
 */
static void
disk_prefetch_neighbors(HnswGraph *graph, HnswNode node, int level)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	DiskNode   *entry = disknode_lookup(dg->nodes, node);

	if (dg->hints && entry && entry->loaded && level <= entry->level)
		hnsw_prefetch_item(dg->hints, &entry->neighbortid);
}

static int
disk_neighbors(HnswGraph *graph, HnswNode node, int level, HnswNode *out)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	DiskNode   *entry = get_node(dg, node);
	Buffer		buf;

	if (!entry->loaded)
		load_node(dg, entry, dg->keep_vectors);
	if (level > entry->level)
		return 0;
	buf = hnsw_read_buffer(dg->index, dg->hints, ItemPointerGetBlockNumber(&entry->neighbortid));
	return copy_layer_and_release(dg->index, buf, &entry->neighbortid, level, graph->m, out);
}

static bool
disk_visit(HnswGraph *graph, HnswNode node)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) graph;
	DiskNode   *entry = get_node(dg, node);

	if (entry->visit_epoch == dg->visit_epoch)
		return false;
	entry->visit_epoch = dg->visit_epoch;
	return true;
}

static void
disk_reset_visits(HnswGraph *graph)
{
	((HnswDiskGraph *) graph)->visit_epoch++;
}

HnswDiskGraph *
hnsw_disk_graph_create(Relation index, const HnswMetaData *meta, bool keep_vectors)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw graph",
												  ALLOCSET_DEFAULT_SIZES);
	HnswDiskGraph *dg = MemoryContextAllocZero(context, sizeof(HnswDiskGraph));

	dg->base.m = meta->m;
	dg->base.query_distance = disk_query_distance;
	dg->base.neighbors = disk_neighbors;
	dg->base.pair_distance = disk_pair_distance;
	dg->base.visit = disk_visit;
	dg->base.reset_visits = disk_reset_visits;
	dg->base.prefetch = disk_prefetch;
	dg->base.prefetch_neighbors = disk_prefetch_neighbors;
	dg->index = index;
	dg->metric = (HnswMetric) meta->metric;
	dg->dims = meta->dims;
	dg->keep_vectors = keep_vectors;
	hnsw_layout_from_meta(&dg->layout, meta);
	{
		MemoryContext old = MemoryContextSwitchTo(context);

		dg->codec = hnsw_codec_read(index, meta);
		MemoryContextSwitchTo(old);
	}

	/*
	 * Inserts and VACUUM compare nodes with each other (neighbour pruning,
	 * repair searches).  An sq8 code decodes to within half a step per
	 * dimension, but a binary code only keeps a direction: there the
	 * heap row's vector is used (the caller holds a lock on the table).
	 */
	if (keep_vectors && dg->codec && dg->codec->kind == QUANT_BINARY && !dg->layout.has_vector)
		dg->heap = table_open(index->rd_index->indrelid, AccessShareLock);
	dg->visit_epoch = 1;
	dg->query_epoch = 1;
	dg->context = context;
	/* a scan at the default ef_search visits ~650 nodes: no regrowth */
	dg->nodes = disknode_create(context, 768, NULL);
	dg->hints = hnsw_buffer_hints(index);
	dg->pf_nodes = MemoryContextAlloc(context, sizeof(HnswNode) * 2 * meta->m);
	dg->pf_bytes = Min(dg->layout.element_size, PREFETCH_MAX_BYTES);
	return dg;
}

HnswGraph *
hnsw_disk_graph_base(HnswDiskGraph *dg)
{
	return &dg->base;
}

void
hnsw_disk_graph_set_query(HnswDiskGraph *dg, const float *query)
{
	dg->query = query;
	dg->query_epoch++;
	if (dg->codec)
	{
		MemoryContext old = MemoryContextSwitchTo(dg->context);

		quant_query_free(&dg->qquery);
		quant_query_prepare(dg->codec, query, &dg->qquery);
		MemoryContextSwitchTo(old);
	}
}

const QuantCodec *
hnsw_disk_graph_codec(HnswDiskGraph *dg)
{
	return dg->codec;
}

/* Heap TID and level of a node; false if VACUUM has deleted it. */
bool
hnsw_disk_element_info(HnswDiskGraph *dg, HnswNode node, ItemPointer heaptid, int *level)
{
	DiskNode   *entry = get_node(dg, node);

	if (!entry->loaded)
		load_node(dg, entry, false);
	if (heaptid)
		*heaptid = entry->heaptid;
	if (level)
		*level = entry->level;
	return !entry->deleted;
}

void
hnsw_disk_graph_destroy(HnswDiskGraph *dg)
{
	if (dg->slot)
		ExecDropSingleTupleTableSlot(dg->slot);
	if (dg->fetch)
		table_index_fetch_end(dg->fetch);
	if (dg->heap)
		table_close(dg->heap, AccessShareLock);
	MemoryContextDelete(dg->context);
}

/* ------------------------------------------------------------------------
 * Insertion support
 * ------------------------------------------------------------------------
 */

/*
 * Neighbours of a new element with vector vec and the given level, per
 * layer 0 .. min(level, entry level): the paper's Algorithm 1 without the
 * linking.  Deleted elements are never chosen.  neighbors[l] is palloc'd
 * (room for the layer's capacity); counts[l] is 0 above the entry level.
 */
void
hnsw_disk_find_neighbors(HnswDiskGraph *dg, const HnswMetaData *meta, const float *vec,
						 int level, int ef, HnswNode **neighbors, int *counts)
{
	HnswGraph  *graph = &dg->base;
	int			m = meta->m;
	int			top = Min(level, (int) meta->entry_level);
	HnswCandidate *found = palloc(sizeof(HnswCandidate) * Max(ef, 2 * m));
	HnswCandidate *entries = palloc(sizeof(HnswCandidate) * Max(ef, 2 * m));
	HnswCandidate *live = palloc(sizeof(HnswCandidate) * Max(ef, 2 * m));
	int			nentries = 1;

	for (int l = 0; l <= level; l++)
	{
		neighbors[l] = palloc(sizeof(HnswNode) * hnsw_layer_capacity(l, m));
		counts[l] = 0;
	}
	if (!ItemPointerIsValid(&meta->entry))
		return;

	hnsw_disk_graph_set_query(dg, vec);
	entries[0].node = hnsw_node_from_tid((ItemPointer) &meta->entry);
	entries[0].distance = graph->query_distance(graph, entries[0].node);
	entries[0] = hnsw_descend(graph, entries[0], meta->entry_level, top);

	for (int l = top; l >= 0; l--)
	{
		int			n = hnsw_search_layer(graph, entries, nentries, ef, l, found);
		int			nlive = 0;

		for (int i = 0; i < n; i++)
		{
			if (hnsw_disk_element_info(dg, found[i].node, NULL, NULL))
				live[nlive++] = found[i];
		}
		counts[l] = hnsw_select_neighbors(graph, HNSW_INVALID_NODE, live, nlive,
										  hnsw_layer_capacity(l, m), neighbors[l]);
		if (n > 0)
		{
			memcpy(entries, found, sizeof(HnswCandidate) * n);
			nentries = n;
		}
	}
	pfree(found);
	pfree(entries);
	pfree(live);
}

/*
 * Add x to owner's list on a layer if it has a free slot (never prunes).
 * Used to give a neighbour that a pruning just dropped another incoming
 * link, so pruning does not leave it unreachable.
 */
static void
adopt_if_room(Relation index, HnswDiskGraph *dg, HnswNode owner, int level, HnswNode x,
			  int m, bool building)
{
	HnswGraph  *graph = &dg->base;
	int			cap = hnsw_layer_capacity(level, m);
	HnswNode   *current = palloc(sizeof(HnswNode) * (cap + 1));
	DiskNode   *entry = get_node(dg, owner);
	ItemPointerData neighbortid;

	if (!entry->loaded)
		load_node(dg, entry, false);
	if (level > entry->level || owner == x)
		return;
	neighbortid = entry->neighbortid;
	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			n = graph->neighbors(graph, owner, level, current);
		bool		present = false;

		for (int i = 0; i < n && !present; i++)
			present = current[i] == x;
		if (present || n >= cap)
			break;
		current[n] = x;
		if (hnsw_disk_write_layer(index, &neighbortid, level, m, current, n + 1, current, n, building))
			break;
	}
	pfree(current);
}

/*
 * Make newnode a neighbour of node on the given layer: append it when the
 * list has room, otherwise re-select the list with the heuristic among the
 * old neighbours and newnode.
 */
bool
hnsw_disk_add_link(Relation index, HnswDiskGraph *dg, HnswNode node, int level,
				   HnswNode newnode, int m, bool force, bool building)
{
	HnswGraph  *graph = &dg->base;
	int			cap = hnsw_layer_capacity(level, m);
	HnswNode   *current = palloc(sizeof(HnswNode) * (cap + 1));
	HnswNode   *recheck = palloc(sizeof(HnswNode) * (cap + 1));
	HnswNode   *updated = palloc(sizeof(HnswNode) * (cap + 1));
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * (cap + 1));
	DiskNode   *entry = get_node(dg, node);
	bool		kept = false;
	ItemPointerData neighbortid;

	if (!entry->loaded)
		load_node(dg, entry, true);
	if (level > entry->level)
		return false;

	/*
	 * Copy what we need: the pair_distance() calls below add nodes to the
	 * hash table, which may move its entries.
	 */
	neighbortid = entry->neighbortid;
	entry = NULL;

	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			ncurrent = graph->neighbors(graph, node, level, current);
		int			nupdated;
		Buffer		buf;
		Page		page;
		HnswNeighborTuple ntup;
		RetrievalPageWrite write;
		bool		unchanged;
		int			start = hnsw_layer_offset(level, m);

		for (int i = 0; i < ncurrent; i++)
			if (current[i] == newnode)
				return true;

		if (ncurrent < cap)
		{
			memcpy(updated, current, sizeof(HnswNode) * ncurrent);
			updated[ncurrent] = newnode;
			nupdated = ncurrent + 1;
		}
		else
		{
			for (int i = 0; i < ncurrent; i++)
			{
				cands[i].node = current[i];
				cands[i].distance = graph->pair_distance(graph, node, current[i]);
			}
			cands[ncurrent].node = newnode;
			cands[ncurrent].distance = graph->pair_distance(graph, node, newnode);
			hnsw_sort_candidates(cands, ncurrent + 1);
			nupdated = hnsw_select_neighbors(graph, node, cands, ncurrent + 1, cap, updated);

			/*
			 * force: the caller needs this link (no other neighbour kept
			 * newnode, which would leave it unreachable): take the place of
			 * the farthest neighbour.
			 */
			if (force)
			{
				bool		present = false;

				for (int i = 0; i < nupdated && !present; i++)
					present = updated[i] == newnode;
				if (!present)
				{
					/* the nearest cap - 1 old neighbours, then newnode */
					nupdated = 0;
					for (int i = 0; i <= ncurrent && nupdated < cap - 1; i++)
						if (cands[i].node != newnode)
							updated[nupdated++] = cands[i].node;
					updated[nupdated++] = newnode;
				}
			}
		}
		kept = false;
		for (int i = 0; i < nupdated && !kept; i++)
			kept = updated[i] == newnode;

		/* write it if nobody changed the list meanwhile */
		buf = ReadBuffer(index, ItemPointerGetBlockNumber(&neighbortid));
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		ntup = (HnswNeighborTuple) tuple_at(index, page, &neighbortid, HNSW_NEIGHBOR_TUPLE);
		unchanged = copy_layer(ntup, level, m, recheck) == ncurrent &&
			memcmp(recheck, current, sizeof(HnswNode) * ncurrent) == 0;
		if (unchanged)
		{
			retrieval_write_begin(&write, index, building);
			page = retrieval_write_page(&write, buf, false);
			ntup = (HnswNeighborTuple) tuple_at(index, page, &neighbortid, HNSW_NEIGHBOR_TUPLE);
			for (int i = 0; i < cap; i++)
			{
				if (i < nupdated)
					hnsw_node_to_tid(updated[i], &ntup->tids[start + i]);
				else
					ItemPointerSetInvalid(&ntup->tids[start + i]);
			}
			retrieval_write_finish(&write);
		}
		UnlockReleaseBuffer(buf);
		if (unchanged)
		{
			/* neighbours the pruning dropped: newnode links to them if it can */
			for (int i = 0; i < ncurrent; i++)
			{
				bool		still = false;

				for (int j = 0; j < nupdated && !still; j++)
					still = updated[j] == current[i];
				if (!still)
					adopt_if_room(index, dg, newnode, level, current[i], m, building);
			}
			break;
		}
	}
	pfree(current);
	pfree(recheck);
	pfree(updated);
	pfree(cands);
	return kept;
}

/*
 * Overwrite one layer of a neighbour list.  With expected != NULL, only if
 * the layer still holds exactly expected[0..nexpected) (optimistic update,
 * see the file header); returns whether it wrote.
 */
bool
hnsw_disk_write_layer(Relation index, ItemPointer neighbortid, int level, int m,
					  const HnswNode *nodes, int count,
					  const HnswNode *expected, int nexpected, bool building)
{
	Buffer		buf = ReadBuffer(index, ItemPointerGetBlockNumber(neighbortid));
	RetrievalPageWrite write;
	Page		page;
	HnswNeighborTuple ntup;
	int			start = hnsw_layer_offset(level, m);
	int			cap = hnsw_layer_capacity(level, m);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	ntup = (HnswNeighborTuple) tuple_at(index, BufferGetPage(buf), neighbortid, HNSW_NEIGHBOR_TUPLE);
	if (start + cap > ntup->count)
		corrupted(index, hnsw_node_from_tid(neighbortid), "neighbor list");
	if (expected != NULL)
	{
		HnswNode   *current = palloc(sizeof(HnswNode) * cap);
		bool		unchanged = copy_layer(ntup, level, m, current) == nexpected &&
			memcmp(current, expected, sizeof(HnswNode) * nexpected) == 0;

		pfree(current);
		if (!unchanged)
		{
			UnlockReleaseBuffer(buf);
			return false;
		}
	}

	retrieval_write_begin(&write, index, building);
	page = retrieval_write_page(&write, buf, false);
	ntup = (HnswNeighborTuple) tuple_at(index, page, neighbortid, HNSW_NEIGHBOR_TUPLE);
	for (int i = 0; i < cap; i++)
	{
		if (i < count)
			hnsw_node_to_tid(nodes[i], &ntup->tids[start + i]);
		else
			ItemPointerSetInvalid(&ntup->tids[start + i]);
	}
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(buf);
	return true;
}
