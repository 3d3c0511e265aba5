/*-------------------------------------------------------------------------
 *
 * hnsw_insert.c
 *	  aminsert for HNSW: add one element to the on-disk graph.
 *
 * Steps (the paper's Algorithm 1 over index pages):
 *	1. read the metapage: entry point, dimensions, m;
 *	2. find the new element's neighbours on each layer (no locks held
 *	   across pages; see hnsw_disk.c);
 *	3. write the element and its neighbour list to the insert page, or to
 *	   a new page (one WAL record);
 *	4. add the reverse links, one neighbour list at a time;
 *	5. if the element is higher than the entry point, or the graph was
 *	   empty, update the metapage.
 * A concurrent insert into an empty graph can make step 2 find nothing
 * while another element becomes the entry point; step 5 notices and links
 * the element then, so no element is left unreachable.
 *
 * The same code serves a build that ran out of maintenance_work_mem
 * (building = true: pages are not WAL-logged one by one, the build logs
 * them all at the end).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "../vector/vector.h"
#include "hnsw.h"

/*
 * Write the element and its neighbour tuple on one page; return the
 * element's node id and set *neighbortid.
 */
static HnswNode
place_element(Relation index, const HnswMetaData *meta, const QuantCodec *codec,
			  const float *vec, int level, ItemPointer heaptid, HnswNode **neighbors,
			  const int *counts, ItemPointer neighbortid, bool building)
{
	int			m = meta->m;
	HnswLayout	layout;
	Size		esize;
	Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(level, m);
	HnswElementTuple etup;
	HnswNeighborTuple ntup = palloc0(nsize);
	BlockNumber blkno = meta->insert_page;
	bool		together;
	Size		needed;
	Buffer		buf = InvalidBuffer;
	Buffer		nbuf = InvalidBuffer;
	RetrievalPageWrite write;
	Page		page;
	Page		npage;
	bool		new_page = false;
	BlockNumber last_block;
	OffsetNumber eoff;
	ItemPointerData etid;

	hnsw_layout_from_meta(&layout, meta);
	esize = layout.element_size;
	etup = palloc0(esize);
	together = hnsw_tuples_fit_together(esize, nsize);
	needed = together ? esize + nsize + sizeof(ItemIdData) : esize;

	/* try the insert page, else add a page */
	if (BlockNumberIsValid(blkno) && blkno < RelationGetNumberOfBlocks(index))
	{
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buf)) < needed)
		{
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
	}
	if (!BufferIsValid(buf))
	{
		buf = retrieval_new_buffer(index, MAIN_FORKNUM);
		new_page = true;
	}
	/* an element too large to share its page: neighbour list on a new page */
	if (!together)
		nbuf = retrieval_new_buffer(index, MAIN_FORKNUM);

	retrieval_write_begin(&write, index, building);
	page = retrieval_write_page(&write, buf, new_page);
	if (new_page)
		retrieval_page_init(page, RETRIEVAL_PAGE_HNSW);
	npage = page;
	if (!together)
	{
		npage = retrieval_write_page(&write, nbuf, true);
		retrieval_page_init(npage, RETRIEVAL_PAGE_HNSW);
	}

	eoff = OffsetNumberNext(PageGetMaxOffsetNumber(page));
	ItemPointerSet(&etid, BufferGetBlockNumber(buf), eoff);
	if (together)
		ItemPointerSet(neighbortid, BufferGetBlockNumber(buf), OffsetNumberNext(eoff));
	else
		ItemPointerSet(neighbortid, BufferGetBlockNumber(nbuf), FirstOffsetNumber);

	etup->type = HNSW_ELEMENT_TUPLE;
	etup->level = level;
	etup->heaptid = *heaptid;
	etup->neighbortid = *neighbortid;
	if (layout.has_vector)
		memcpy(etup->vec, vec, sizeof(float) * meta->dims);
	if (codec)
		quant_encode(codec, vec, hnsw_element_code(etup, &layout));

	ntup->type = HNSW_NEIGHBOR_TUPLE;
	ntup->count = (level + 2) * m;
	for (int i = 0; i < ntup->count; i++)
		ItemPointerSetInvalid(&ntup->tids[i]);
	for (int l = 0; l <= level; l++)
		for (int i = 0; i < counts[l]; i++)
			hnsw_node_to_tid(neighbors[l][i], &ntup->tids[hnsw_layer_offset(l, m) + i]);

	if (PageAddItem(page, (Item) etup, esize, eoff, false, false) != eoff ||
		PageAddItem(npage, (Item) ntup, nsize, ItemPointerGetOffsetNumber(neighbortid), false, false) !=
		ItemPointerGetOffsetNumber(neighbortid))
		elog(ERROR, "failed to add HNSW element to index \"%s\"", RelationGetRelationName(index));
	retrieval_write_finish(&write);
	/* later inserts continue on the last page used */
	last_block = BufferGetBlockNumber(BufferIsValid(nbuf) ? nbuf : buf);
	new_page = new_page || BufferIsValid(nbuf);
	UnlockReleaseBuffer(buf);
	if (BufferIsValid(nbuf))
		UnlockReleaseBuffer(nbuf);

	/* remember the new page in the metapage (a hint: no lock is held now) */
	if (new_page)
	{
		Buffer		metabuf = ReadBuffer(index, hnsw_meta_blkno(index));
		HnswMetaData *metadata;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		retrieval_write_begin(&write, index, building);
		page = retrieval_write_page(&write, metabuf, false);
		metadata = (HnswMetaData *) PageGetContents(page);
		if (!BlockNumberIsValid(metadata->insert_page) ||
			metadata->insert_page < last_block)
			metadata->insert_page = last_block;
		retrieval_write_finish(&write);
		UnlockReleaseBuffer(metabuf);
	}
	pfree(etup);
	pfree(ntup);
	return hnsw_node_from_tid(&etid);
}

/*
 * Make node the entry point if the graph is empty or node is higher than
 * the current entry point.  Returns false when the graph turned out to
 * have an entry point that this insert did not know about (see header).
 */
static bool
update_entry_point(Relation index, HnswNode node, int level, bool knew_entry, bool building)
{
	Buffer		metabuf = ReadBuffer(index, hnsw_meta_blkno(index));
	RetrievalPageWrite write;
	HnswMetaData *meta;
	bool		consistent = true;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaData *) PageGetContents(BufferGetPage(metabuf));
	if (!knew_entry && ItemPointerIsValid(&meta->entry))
	{
		/*
		 * The graph got an entry point after we looked: do not take it over
		 * (the caller would then search from ourselves and find nothing);
		 * the caller links us to the graph first and retries.
		 */
		consistent = false;
	}
	else if (!ItemPointerIsValid(&meta->entry) || level > meta->entry_level)
	{
		retrieval_write_begin(&write, index, building);
		meta = (HnswMetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
		hnsw_node_to_tid(node, &meta->entry);
		meta->entry_level = level;
		retrieval_write_finish(&write);
	}
	UnlockReleaseBuffer(metabuf);
	return consistent;
}

static void
link_element(Relation index, HnswDiskGraph *dg, const HnswMetaData *meta, HnswNode node,
			 int level, HnswNode **neighbors, const int *counts, bool building)
{
	for (int l = 0; l <= level; l++)
	{
		bool		linked = false;

		for (int i = 0; i < counts[l]; i++)
			linked |= hnsw_disk_add_link(index, dg, neighbors[l][i], l, node, meta->m, false, building);

		/*
		 * Every element needs an incoming link on layer 0, or no search can
		 * reach it: if all neighbours preferred their current links, the
		 * nearest one takes the new element in place of its farthest.
		 */
		if (l == 0 && !linked && counts[0] > 0)
			hnsw_disk_add_link(index, dg, neighbors[0][0], 0, node, meta->m, true, building);
	}
}

bool
hnsw_insert_vector(Relation index, const float *raw, int dims, ItemPointer heap_tid,
				   bool building, ItemPointer elemtid)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hnsw insert",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	HnswMetaData meta;
	HnswDiskGraph *dg;
	HnswNode  **neighbors;
	int		   *counts;
	float	   *vec;
	int			level;
	bool		knew_entry;
	HnswNode	node;
	ItemPointerData neighbortid;

	hnsw_meta_read(index, &meta);
	if (!building)
		embed_stamp_check(index, &meta.model);
	if ((int) meta.dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %u dimensions, not %d", meta.dims, dims)));

	vec = palloc(sizeof(float) * dims);
	if (!hnsw_prepare_vector((HnswMetric) meta.metric, raw, vec, dims))
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(context);
		return false;
	}

	level = hnsw_random_level(&pg_global_prng_state, meta.m);
	neighbors = palloc(sizeof(HnswNode *) * (level + 1));
	counts = palloc(sizeof(int) * (level + 1));
	dg = hnsw_disk_graph_create(index, &meta, true);
	knew_entry = ItemPointerIsValid(&meta.entry);
	hnsw_disk_find_neighbors(dg, &meta, vec, level, meta.ef_construction, neighbors, counts);

	node = place_element(index, &meta, hnsw_disk_graph_codec(dg), vec, level, heap_tid,
						 neighbors, counts, &neighbortid, building);
	if (elemtid)
		hnsw_node_to_tid(node, elemtid);
	link_element(index, dg, &meta, node, level, neighbors, counts, building);

	if ((!knew_entry || level > meta.entry_level) &&
		!update_entry_point(index, node, level, knew_entry, building))
	{
		/* another element became the entry point meanwhile: connect to it */
		hnsw_meta_read(index, &meta);
		hnsw_disk_find_neighbors(dg, &meta, vec, level, meta.ef_construction, neighbors, counts);
		for (int l = 0; l <= level; l++)
		{
			int			cap = hnsw_layer_capacity(l, meta.m);
			HnswNode   *current = palloc(sizeof(HnswNode) * cap);
			HnswNode   *merged = palloc(sizeof(HnswNode) * cap);
			int			n = 0;

			/* never link the element to itself */
			for (int i = 0; i < counts[l]; i++)
				if (neighbors[l][i] != node)
					neighbors[l][n++] = neighbors[l][i];
			counts[l] = n;

			/* keep links that concurrent inserts added to our list meanwhile */
			for (int attempt = 0; attempt < 3; attempt++)
			{
				int			ncurrent = hnsw_disk_graph_base(dg)->neighbors(hnsw_disk_graph_base(dg),
																		  node, l, current);
				int			nmerged = 0;

				for (int i = 0; i < n && nmerged < cap; i++)
					merged[nmerged++] = neighbors[l][i];
				for (int i = 0; i < ncurrent && nmerged < cap; i++)
				{
					bool		dup = false;

					for (int j = 0; j < n && !dup; j++)
						dup = current[i] == neighbors[l][j];
					if (!dup)
						merged[nmerged++] = current[i];
				}
				if (hnsw_disk_write_layer(index, &neighbortid, l, meta.m, merged, nmerged,
										  current, ncurrent, building))
					break;
			}
			pfree(current);
			pfree(merged);
		}
		link_element(index, dg, &meta, node, level, neighbors, counts, building);
		if (level > meta.entry_level)
			update_entry_point(index, node, level, true, building);
	}

	hnsw_disk_graph_destroy(dg);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return true;
}

bool
hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
			bool indexUnchanged,
#endif
			IndexInfo *indexInfo)
{
	Vector	   *v;
	bool		inserted;

	/* no uniqueness, no bottom-up deletion hints, no per-statement state */
	(void) heap;
	(void) checkUnique;
#if PG_VERSION_NUM >= 140000
	(void) indexUnchanged;
#endif
	(void) indexInfo;
	if (isnull[0])
		return false;
	v = DatumGetVector(values[0]);
	inserted = hnsw_insert_vector(index, v->x, v->dim, heap_tid, false, NULL);
	if ((Pointer) v != DatumGetPointer(values[0]))
		pfree(v);
	return inserted;
}
