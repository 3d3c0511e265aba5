/*-------------------------------------------------------------------------
 *
 * ngram_page.c
 *	  Pages of the n-gram part: its metapage, segment pages read as an
 *	  NgramLineSource, and writing a segment's line image as a run of pages.
 *	  Also the allocator the PostgreSQL-free code runs with.
 *
 * A segment page holds NGRAM_LINES_PER_PAGE lines of 64 bytes right after
 * the page header (127 * 64 = 8128 bytes), so no line straddles two pages.
 * Listed segments never change (ngram.h), so their pages are read with a
 * pin and no content lock; the source keeps the last pages it read pinned
 * in a small direct-mapped table, which is what makes a rank (one line) cost
 * about a hash probe once the pages are hot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "ngram.h"

#define LINE_BYTES_PER_PAGE		(NGRAM_LINES_PER_PAGE * NGRAM_LINE_BYTES)

StaticAssertDecl(MAXALIGN(SizeOfPageHeaderData) + LINE_BYTES_PER_PAGE +
				 MAXALIGN(sizeof(RetrievalPageOpaqueData)) <= BLCKSZ,
				 "n-gram segment lines do not fit a page");
StaticAssertDecl(sizeof(NgramMetaData) <= BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -
				 MAXALIGN(sizeof(RetrievalPageOpaqueData)),
				 "n-gram metapage too large");
StaticAssertDecl(sizeof(FmHeader) <= FM_HEADER_LINES * NGRAM_LINE_BYTES,
				 "FM-index header larger than its lines");

void
ngram_corrupted(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("n-gram part of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), what),
			 errhint("REINDEX the index.")));
}

/* ---- the allocator of the PostgreSQL-free code ---- */

static void *
ngram_alloc(size_t size)
{
	return MemoryContextAllocHuge(CurrentMemoryContext, Max(size, 1));
}

static void
ngram_release(void *ptr)
{
	pfree(ptr);
}

static void
ngram_check(void)
{
	CHECK_FOR_INTERRUPTS();
}

static const NgramAllocator allocator = {ngram_alloc, ngram_release, ngram_check};

const NgramAllocator *
ngram_allocator(void)
{
	return &allocator;
}

/* ---- metapage ---- */

void
ngram_meta_init_page(Page page, uint32 mode)
{
	NgramMetaData *meta;

	retrieval_page_init(page, RETRIEVAL_PAGE_NGRAM_META);
	meta = (NgramMetaData *) PageGetContents(page);
	memset(meta, 0, sizeof(*meta));
	meta->header.magic = RETRIEVAL_MAGIC;
	meta->header.version = NGRAM_FORMAT_VERSION;
	meta->header.kind = INDEX_KIND_NGRAM;
	meta->mode = mode;
	meta->sample_rate = NGRAM_SAMPLE_RATE;
	meta->buffer_head = InvalidBlockNumber;
	meta->buffer_tail = InvalidBlockNumber;
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) + sizeof(NgramMetaData);
}

void
ngram_meta_read(Relation index, BlockNumber metablk, NgramMetaData *meta)
{
	Buffer		buf = ReadBuffer(index, metablk);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!retrieval_page_has_type(page, RETRIEVAL_PAGE_NGRAM_META))
		ngram_corrupted(index, "metapage not found");
	retrieval_meta_check(index, page, INDEX_KIND_NGRAM, NGRAM_FORMAT_VERSION);
	memcpy(meta, PageGetContents(page), sizeof(*meta));
	UnlockReleaseBuffer(buf);
	if ((meta->mode != NGRAM_MODE_BYTES && meta->mode != NGRAM_MODE_TOKENS) ||
		meta->nsegments > NGRAM_MAX_SEGMENTS || meta->sample_rate < 1 ||
		meta->npending > NGRAM_MAX_PENDING || meta->nfree > NGRAM_MAX_FREE)
		ngram_corrupted(index, "invalid metapage");
}

RetrievalSpace
ngram_space(NgramMetaData *meta)
{
	return RETRIEVAL_SPACE_OF(meta, NGRAM_MAX_PENDING, NGRAM_MAX_FREE);
}

/* One WAL record: the new metapage contents. */
void
ngram_meta_write(Relation index, BlockNumber metablk, const NgramMetaData *meta)
{
	Buffer		buf = ReadBuffer(index, metablk);
	RetrievalPageWrite write;
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_write_begin(&write, index, false);
	page = retrieval_write_page(&write, buf, false);
	memcpy(PageGetContents(page), meta, sizeof(*meta));
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(buf);
}

/* ---- segment pages as a line source ---- */

static const uint8_t *
page_source_line(void *ctx, uint64_t lineno)
{
	NgramPageSource *ps = ctx;
	BlockNumber rel = (BlockNumber) (lineno / NGRAM_LINES_PER_PAGE);
	BlockNumber blkno;
	int			slot;
	Page		page;

	if (lineno >= ps->seg.nlines)
		ngram_corrupted(ps->index, "line out of range");
	blkno = ps->seg.start + rel;
	slot = blkno & (ps->nslots - 1);
	if (ps->blocks[slot] != blkno)
	{
		if (BufferIsValid(ps->buffers[slot]))
			ReleaseBuffer(ps->buffers[slot]);
		ps->buffers[slot] = ReadBuffer(ps->index, blkno);
		ps->blocks[slot] = blkno;
		page = BufferGetPage(ps->buffers[slot]);
		if (!retrieval_page_has_type(page, RETRIEVAL_PAGE_NGRAM_SEGMENT))
			ngram_corrupted(ps->index, "segment page of the wrong type");
	}
	page = BufferGetPage(ps->buffers[slot]);
	return (const uint8_t *) PageGetContents(page) +
		(lineno % NGRAM_LINES_PER_PAGE) * NGRAM_LINE_BYTES;
}

void
ngram_source_open(NgramPageSource *ps, Relation index, const NgramSegmentRef *seg, int nsources,
				  FmSegment *fm)
{
	NgramLineSource src;
	uint32		budget = (uint32) Max(NBuffers / 16 / Max(nsources, 1), 1);

	ps->index = index;
	ps->seg = *seg;
	/*
	 * Enough slots for the whole segment when the budget allows (contiguous
	 * blocks then never collide: a small segment stays pinned whole), else
	 * the largest power of two within the budget.
	 */
	ps->nslots = 1;
	while (ps->nslots < Min(Max(seg->npages, 1), Min(budget, NGRAM_SOURCE_SLOTS)))
		ps->nslots *= 2;
	if (ps->nslots > budget && ps->nslots > 1)
		ps->nslots /= 2;
	ps->buffers = palloc(sizeof(Buffer) * ps->nslots);
	ps->blocks = palloc(sizeof(BlockNumber) * ps->nslots);
	for (uint32 i = 0; i < ps->nslots; i++)
	{
		ps->buffers[i] = InvalidBuffer;
		ps->blocks[i] = InvalidBlockNumber;
	}
	if (seg->nlines < FM_HEADER_LINES ||
		seg->nlines > (uint64) seg->npages * NGRAM_LINES_PER_PAGE)
		ngram_corrupted(index, "invalid segment reference");
	src.line = page_source_line;
	src.ctx = ps;
	if (!fm_open(fm, src) || fm->header.total_lines != seg->nlines ||
		fm->header.ndocs != seg->ndocs || fm->header.nsymbols != seg->nsymbols)
		ngram_corrupted(index, "invalid segment header");
}

void
ngram_source_close(NgramPageSource *ps)
{
	for (uint32 i = 0; i < ps->nslots; i++)
	{
		if (BufferIsValid(ps->buffers[i]))
			ReleaseBuffer(ps->buffers[i]);
		ps->buffers[i] = InvalidBuffer;
		ps->blocks[i] = InvalidBlockNumber;
	}
}

/* ---- writing a segment ---- */

/*
 * npages contiguous pages: a free run of meta's (taken in the copy the
 * caller publishes; a crash before that leaves the run free), else new
 * pages at the end of the relation.
 */
static BlockNumber
allocate_run(Relation index, NgramMetaData *meta, BlockNumber npages)
{
	if (meta != NULL)
	{
		RetrievalSpace space = ngram_space(meta);
		BlockNumber start;

		(void) retrieval_space_recycle(&space);
		start = retrieval_space_take(&space, npages);
		if (BlockNumberIsValid(start))
			return start;
	}
	return retrieval_extend_run(index, npages);
}

Buffer
ngram_new_page(Relation index, NgramMetaData *meta)
{
	BlockNumber blkno = allocate_run(index, meta, 1);

	/* reused or new, its old contents are dead: a zeroed page */
	return ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_ZERO_AND_LOCK, NULL);
}

void
ngram_segment_write(Relation index, NgramMetaData *meta, const uint8 *image, uint64 nlines,
					bool building, NgramSegmentRef *ref)
{
	BlockNumber npages = (BlockNumber) ((nlines + NGRAM_LINES_PER_PAGE - 1) / NGRAM_LINES_PER_PAGE);
	BlockNumber start = allocate_run(index, meta, npages);

	for (BlockNumber p = 0; p < npages; p++)
	{
		Buffer		buf;
		RetrievalPageWrite write;
		Page		page;
		uint64		first = (uint64) p * NGRAM_LINES_PER_PAGE;
		uint64		lines = Min((uint64) NGRAM_LINES_PER_PAGE, nlines - first);

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, start + p, RBM_ZERO_AND_LOCK, NULL);
		retrieval_write_begin(&write, index, building);
		page = retrieval_write_page(&write, buf, true);
		retrieval_page_init(page, RETRIEVAL_PAGE_NGRAM_SEGMENT);
		memcpy(PageGetContents(page), image + first * NGRAM_LINE_BYTES,
			   lines * NGRAM_LINE_BYTES);
		((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) + LINE_BYTES_PER_PAGE;
		retrieval_write_finish(&write);
		UnlockReleaseBuffer(buf);
	}
	memset(ref, 0, sizeof(*ref));
	ref->start = start;
	ref->npages = npages;
	ref->nlines = nlines;
	{
		FmHeader	h;

		memcpy(&h, image, sizeof(h));
		ref->nsymbols = h.nsymbols;
		ref->ndocs = h.ndocs;
	}
}
