/*-------------------------------------------------------------------------
 *
 * hnsw_buffers.c
 *	  Reading HNSW index pages from shared buffers cheaply: a per-backend
 *	  memory of which shared buffer held each index block last time
 *	  ("recent buffer" hints), pinning through it, and prefetching the
 *	  element tuples a search is about to read.
 *
 * Why: a graph search touches one index page per visited element, ~600
 * pages per query at ef_search 40, most of them a different page each
 * time.  Through ReadBuffer() each access costs a buffer-mapping hash
 * lookup under a partition lock before the pin, and the page's memory is
 * first touched only when the distance needs it: both are cache misses on
 * the critical path (profile in docs/benchmarks.md).  With the buffer id
 * remembered from an earlier access, ReadRecentBuffer() pins it directly
 * after checking its tag under the buffer header spinlock (a stale hint is
 * detected there and costs one failed check, then ReadBuffer as before),
 * and the search can issue cache prefetches for every neighbour's line
 * pointer and element tuple before computing the first distance, so those
 * misses overlap instead of being paid one after the other.
 *
 * The hints live in TopMemoryContext, one array of Buffer per index
 * relfilenode (4 bytes per index block), for the last few indexes used;
 * they survive between queries, which is what makes them useful (within
 * one query most pages are read once).  They are only hints: nothing is
 * ever read through one without the tag check, so a REINDEX, a truncation
 * or an eviction only turns hits into misses.
 *
 * XXX: ReadRecentBuffer() does not bump the buffer's usage count (it pins
 * with PinBuffer_Locked), so under buffer pressure index pages read
 * through hints age faster in the clock sweep than pages read with
 * ReadBuffer().  Every miss goes through ReadBuffer() and counts again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

/* indexes whose hints are kept per backend; the least recently used goes */
#define HINT_SLOTS			8
/* no hints for blocks beyond this (a 32 GB index; 16 MB of hints) */
#define HINT_MAX_BLOCKS		(1u << 22)

struct HnswBufferHints
{
#if PG_VERSION_NUM >= 160000
	RelFileLocator node;
#else
	RelFileNode node;
#endif
	bool		used;
	uint64		last_use;
	uint32		nblocks;		/* entries in buf[] */
	Buffer	   *buf;			/* InvalidBuffer: not known */
};

static HnswBufferHints hint_slots[HINT_SLOTS];
static uint64 hint_clock;

#if PG_VERSION_NUM >= 160000
#define INDEX_NODE(index)		((index)->rd_locator)
#define NODE_EQUAL(a, b)		RelFileLocatorEquals(a, b)
#else
#define INDEX_NODE(index)		((index)->rd_node)
#define NODE_EQUAL(a, b)		RelFileNodeEquals(a, b)
#endif

/*
 * The hints of index, or NULL when it uses local buffers (a temporary
 * index: its buffers are private and few, and not worth it).
 */
HnswBufferHints *
hnsw_buffer_hints(Relation index)
{
	HnswBufferHints *victim = NULL;

	if (RelationUsesLocalBuffers(index))
		return NULL;
	hint_clock++;
	for (int i = 0; i < HINT_SLOTS; i++)
	{
		HnswBufferHints *h = &hint_slots[i];

		if (h->used && NODE_EQUAL(h->node, INDEX_NODE(index)))
		{
			h->last_use = hint_clock;
			return h;
		}
		if (victim == NULL || !h->used || (victim->used && h->last_use < victim->last_use))
			victim = h;
	}
	/* a new relfilenode: reuse the least recently used slot */
	if (victim->buf)
		pfree(victim->buf);
	victim->buf = NULL;
	victim->nblocks = 0;
	victim->node = INDEX_NODE(index);
	victim->used = true;
	victim->last_use = hint_clock;
	return victim;
}

static void
remember(HnswBufferHints *h, BlockNumber blkno, Buffer buf)
{
	if (blkno >= h->nblocks)
	{
		uint32		n;

		if (blkno >= HINT_MAX_BLOCKS)
			return;
		/* room for the index as it is now, or double */
		n = Max((uint32) blkno + 1, Min(HINT_MAX_BLOCKS, Max(h->nblocks * 2, 1024)));
		if (h->buf == NULL)
			h->buf = MemoryContextAlloc(TopMemoryContext, sizeof(Buffer) * n);
		else
			h->buf = repalloc(h->buf, sizeof(Buffer) * n);
		for (uint32 i = h->nblocks; i < n; i++)
			h->buf[i] = InvalidBuffer;
		h->nblocks = n;
	}
	h->buf[blkno] = buf;
}

/*
 * ReadBuffer(index, blkno), through the hints when there are some (NULL
 * hints: plain ReadBuffer).  The caller locks and releases the buffer as
 * usual.
 */
Buffer
hnsw_read_buffer(Relation index, HnswBufferHints *hints, BlockNumber blkno)
{
	Buffer		buf;

	if (hints == NULL)
		return ReadBuffer(index, blkno);
	if (blkno < hints->nblocks && hints->buf[blkno] != InvalidBuffer &&
		ReadRecentBuffer(INDEX_NODE(index), MAIN_FORKNUM, blkno, hints->buf[blkno]))
		return hints->buf[blkno];
	buf = ReadBuffer(index, blkno);
	remember(hints, blkno, buf);
	return buf;
}

/*
 * The page the hints say holds blkno, for prefetching only (the buffer is
 * not pinned: it may hold another page by now, or be changing), or NULL.
 */
static inline Page
hinted_page(HnswBufferHints *hints, BlockNumber blkno)
{
	if (hints == NULL || blkno >= hints->nblocks || hints->buf[blkno] == InvalidBuffer)
		return NULL;
	return BufferGetPage(hints->buf[blkno]);
}

/*
 * Stage 1 of prefetching the tuple at tid: the buffer descriptor the pin
 * will change, its line pointer and the page header the tuple lookup
 * checks.
 */
void
hnsw_prefetch_item(HnswBufferHints *hints, ItemPointer tid)
{
	BlockNumber blkno = ItemPointerGetBlockNumberNoCheck(tid);
	Page		page = hinted_page(hints, blkno);
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(tid);

	if (page == NULL || off < FirstOffsetNumber || off > MaxOffsetNumber)
		return;
	__builtin_prefetch(GetBufferDescriptor(hints->buf[blkno] - 1), 1);
	__builtin_prefetch(page);
	__builtin_prefetch(PageGetItemId(page, off));
}

/*
 * Stage 2: the first `bytes` bytes of the tuple at tid, located through
 * its line pointer, which stage 1 should have brought into the cache by
 * now.  The line pointer is read without a lock: the value is only used
 * as a prefetch address, kept inside the page, so a concurrent change
 * can only make the prefetch useless.
 */
void
hnsw_prefetch_tuple(HnswBufferHints *hints, ItemPointer tid, Size bytes)
{
	Page		page = hinted_page(hints, ItemPointerGetBlockNumberNoCheck(tid));
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(tid);
	ItemIdData	iid;
	Size		start;
	Size		end;

	if (page == NULL || off < FirstOffsetNumber || off > MaxOffsetNumber)
		return;
	iid = *(volatile ItemIdData *) PageGetItemId(page, off);
	start = iid.lp_off;
	if (start >= BLCKSZ)
		return;
	end = Min((Size) BLCKSZ, start + Min(bytes, (Size) iid.lp_len));
	for (Size p = start & ~((Size) 63); p < end; p += 64)
		__builtin_prefetch((char *) page + p);
}
