/*-------------------------------------------------------------------------
 *
 * bm25_space.c
 *	  Page space of a BM25 index: pages that flushes and merges unlink wait
 *	  in the metapage until no scan can still read them, then are reused
 *	  for new segments (contiguous runs) and write-buffer pages.
 *
 * The reuse rule and the lists are src/page/page_space.h's; this file
 * keeps BM25's side: its metapage's view of the lists, runs for new
 * segments, pages for write-buffer chains, and VACUUM's sweep.
 *
 * Both lists live in the metapage and change only in WAL records of the
 * metapage, under its exclusive buffer lock, so they are crash-safe and
 * always agree with the segment list: a page is in at most one of the
 * segment list, a chain, the pending runs or the free runs.  Taking pages
 * for a segment is logged before the segment is written; a crash before
 * the segment is published leaks those pages (as it did before page reuse;
 * REINDEX compacts).  The free space map is not used: it cannot hand out
 * contiguous runs, and a segment is one run.
 *
 * Pages nothing refers to (a flush or merge cut short by a crash or an
 * error after writing its segment; runs dropped because a list was full,
 * counted in lost_pages) are found and released by VACUUM's sweep.
 *
 * XXX: on a hot standby a query is not protected (no recovery conflict is
 * raised when the primary reuses a page, as nbtree's XLOG_BTREE_REUSE_PAGE
 * does); run standbys with hot_standby_feedback = on.  The file never
 * shrinks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "bm25.h"

/* The lists inside a BM25 metapage copy. */
static inline RetrievalSpace
space_of(Bm25MetaData *meta)
{
	return RETRIEVAL_SPACE_OF(meta, BM25_MAX_PENDING, BM25_MAX_FREE);
}

void
bm25_space_release(Bm25MetaData *meta, BlockNumber start, BlockNumber npages)
{
	RetrievalSpace s = space_of(meta);

	retrieval_space_release(&s, start, npages);
}

void
bm25_space_release_blocks(Bm25MetaData *meta, const BlockNumber *blocks, int nblocks)
{
	RetrievalSpace s = space_of(meta);

	retrieval_space_release_blocks(&s, blocks, nblocks);
}

bool
bm25_space_recycle(Bm25MetaData *meta)
{
	RetrievalSpace s = space_of(meta);

	return retrieval_space_recycle(&s);
}

BlockNumber
bm25_space_take(Bm25MetaData *meta, BlockNumber npages)
{
	RetrievalSpace s = space_of(meta);

	return retrieval_space_take(&s, npages);
}

uint64
bm25_space_free_pages(const Bm25MetaData *meta)
{
	RetrievalSpace s = space_of((Bm25MetaData *) meta);

	return retrieval_space_free_pages(&s);
}

BlockNumber *
bm25_space_chain_blocks(Relation index, BlockNumber head, int *nblocks)
{
	return retrieval_chain_blocks(index, head, nblocks);
}






/* Write a changed copy of the metapage back (WAL-logged); metabuf is locked. */
static void
write_meta(Relation index, Buffer metabuf, const Bm25MetaData *local)
{
	RetrievalPageWrite write;
	Page		page;

	retrieval_write_begin(&write, index, false);
	page = retrieval_write_page(&write, metabuf, false);
	memcpy(PageGetContents(page), local, sizeof(Bm25MetaData));
	retrieval_write_finish(&write);
}

/*
 * Take a run of npages for a segment, recycling pending runs first, in a
 * WAL record of the metapage (none when nothing changes).
 * InvalidBlockNumber: extend the relation instead.
 */
BlockNumber
bm25_space_take_run(Relation index, BlockNumber npages)
{
	Buffer		metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	Bm25MetaData local;
	bool		changed;
	BlockNumber start;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_meta_check(index, BufferGetPage(metabuf), INDEX_KIND_BM25, BM25_FORMAT_VERSION);
	memcpy(&local, PageGetContents(BufferGetPage(metabuf)), sizeof(Bm25MetaData));
	changed = bm25_space_recycle(&local);
	start = bm25_space_take(&local, npages);
	if (changed || BlockNumberIsValid(start))
		write_meta(index, metabuf, &local);
	UnlockReleaseBuffer(metabuf);
	return start;
}

/*
 * A page for a write-buffer chain, exclusively locked and not yet
 * registered: a free page if there is one (taken from wmeta, the metapage
 * being changed in the caller's WAL record), else a new one.  The caller
 * initialises it as a new page in the same record.
 */
Buffer
bm25_space_new_page(Relation index, Bm25MetaData *wmeta)
{
	BlockNumber blkno;

	(void) bm25_space_recycle(wmeta);
	blkno = bm25_space_take(wmeta, 1);
	if (!BlockNumberIsValid(blkno))
		return retrieval_new_buffer(index, MAIN_FORKNUM);
	/* its old contents are dead: no read, a zeroed page */
	return ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_ZERO_AND_LOCK, NULL);
}




static bool
mark_range(uint8 *used, BlockNumber nblocks, BlockNumber start, BlockNumber npages)
{
	if (start == 0 || start > nblocks || npages > nblocks - start)
		return false;
	for (BlockNumber b = start; b < start + npages; b++)
	{
		if (used[b / 8] & (1 << (b % 8)))
			return false;		/* one page in two places */
		used[b / 8] |= 1 << (b % 8);
	}
	return true;
}

static bool
mark_chain(Relation index, uint8 *used, BlockNumber nblocks, BlockNumber blkno)
{
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;

		CHECK_FOR_INTERRUPTS();
		if (!mark_range(used, nblocks, blkno, 1))
			return false;
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		blkno = RetrievalPageGetOpaque(BufferGetPage(buf))->next;
		UnlockReleaseBuffer(buf);
	}
	return true;
}

/*
 * The pages without the BM25 page type (hybrid indexes, n-gram parts), as a bitmap of
 * the first *nblocks blocks.  Read without the metapage lock: a page of
 * the dense part never becomes a BM25 page, and pages that are new now
 * count as foreign, so the picture can only be conservative.
 */
static uint8 *
foreign_pages(Relation index, BlockNumber *nblocks)
{
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	uint8	   *used;

	*nblocks = RelationGetNumberOfBlocks(index);
	used = palloc_extended(*nblocks / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (BlockNumber b = 1; b < *nblocks; b++)
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, b, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!retrieval_page_has_type(page, RETRIEVAL_PAGE_BM25))
			used[b / 8] |= 1 << (b % 8);
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);
	return used;
}

/*
 * VACUUM: find the pages nothing refers to (not the metapage, a segment,
 * a write-buffer chain, a pending or free run) and release them.  Those
 * are pages of a segment whose flush or merge was cut short by a crash or
 * an error before publishing it, and runs dropped because the pending list
 * was full (released with a new stamp, so a scan that may still read them
 * is respected).  Returns the number of pages released.
 *
 * Holding the flush lock excludes flushes and merges, the only writers of
 * unpublished pages; holding the metapage exclusively excludes appends,
 * which link every page they add in the metapage's own record.  So the
 * picture cannot change while it is taken.
 */
BlockNumber
bm25_space_sweep(Relation index)
{
	Buffer		metabuf;
	Bm25MetaData local;
	BlockNumber nblocks;
	uint8	   *used;
	bool		ok = true;
	bool		changed;
	BlockNumber released = 0;
	uint8	   *foreign = NULL;
	BlockNumber nforeign = 0;
	Bm25MetaData peek;

	bm25_meta_read(index, &peek);
	if (peek.dense_meta != 0 || peek.ngram_meta != 0)
		foreign = foreign_pages(index, &nforeign);

	LockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
	metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_meta_check(index, BufferGetPage(metabuf), INDEX_KIND_BM25, BM25_FORMAT_VERSION);
	memcpy(&local, PageGetContents(BufferGetPage(metabuf)), sizeof(Bm25MetaData));
	nblocks = RelationGetNumberOfBlocks(index);
	used = palloc_extended(nblocks / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	used[0] |= 1;				/* the metapage */
	for (uint32 i = 0; ok && i < local.nsegments && i < BM25_MAX_SEGMENTS; i++)
		ok = mark_range(used, nblocks, local.segments[i].start, local.segments[i].npages);
	for (uint32 i = 0; ok && i < local.npending && i < BM25_MAX_PENDING; i++)
		ok = mark_range(used, nblocks, local.pending[i].start, local.pending[i].npages);
	for (uint32 i = 0; ok && i < local.nfree && i < BM25_MAX_FREE; i++)
		ok = mark_range(used, nblocks, local.free[i].start, local.free[i].npages);
	if (ok)
		ok = mark_chain(index, used, nblocks, local.buffer_head);
	if (ok)
		ok = mark_chain(index, used, nblocks, local.sealed_head);
	if (!ok)
	{
		/* never free a page on a picture that does not add up */
		UnlockReleaseBuffer(metabuf);
		UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
		pfree(used);
		ereport(WARNING,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("BM25 index \"%s\" has pages referenced twice or out of range; unused pages were not reclaimed",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
		return 0;
	}

	/*
	 * A hybrid index shares the relation with its dense part (HNSW pages and
	 * its metapage), an index WITH (ngrams = on) with its n-gram part, which
	 * this metapage does not list: only pages that carry the BM25 page type
	 * can be ours.  XXX: this reads every page not listed here, i.e. the
	 * whole other parts, once per VACUUM (before taking the locks); and a
	 * BM25 page run allocated but never written (zero pages after a crash)
	 * is not recognised as ours in such an index.
	 */
	if (local.dense_meta != 0 || local.ngram_meta != 0)
	{
		for (BlockNumber b = 1; b < nblocks; b++)
			if (b >= nforeign || (foreign[b / 8] & (1 << (b % 8))))
				used[b / 8] |= 1 << (b % 8);
	}

	changed = bm25_space_recycle(&local);
	/* dropped runs are unreferenced: found again below (or dropped again) */
	changed |= local.lost_pages > 0;
	local.lost_pages = 0;
	for (BlockNumber b = 1; b < nblocks;)
	{
		BlockNumber start = b;

		if (used[b / 8] & (1 << (b % 8)))
		{
			b++;
			continue;
		}
		while (b < nblocks && !(used[b / 8] & (1 << (b % 8))))
			b++;
		bm25_space_release(&local, start, b - start);
		released += b - start;
	}
	if (changed || released > 0)
		write_meta(index, metabuf, &local);
	UnlockReleaseBuffer(metabuf);
	UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
	pfree(used);
	return released;
}
