/*-------------------------------------------------------------------------
 *
 * bm25_meta.c
 *	  The BM25 metapage and the byte-stream reader over a segment's
 *	  contiguous pages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "bm25.h"

void
bm25_meta_init_page(Page page, const char *tokenizer, const char *language, float8 k1, float8 b)
{
	Bm25MetaData *meta;

	StaticAssertStmt(sizeof(Bm25MetaData) <= BM25_PAGE_DATA, "BM25 metapage too large");
	retrieval_page_init(page, RETRIEVAL_PAGE_META);
	meta = (Bm25MetaData *) PageGetContents(page);
	memset(meta, 0, sizeof(Bm25MetaData));
	meta->header.magic = RETRIEVAL_MAGIC;
	meta->header.version = BM25_FORMAT_VERSION;
	meta->header.kind = INDEX_KIND_BM25;
	strlcpy(meta->tokenizer, tokenizer, BM25_NAME_LEN);
	strlcpy(meta->language, language, BM25_NAME_LEN);
	meta->k1 = k1;
	meta->b = b;
	meta->buffer_head = InvalidBlockNumber;
	meta->buffer_tail = InvalidBlockNumber;
	meta->sealed_head = InvalidBlockNumber;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(Bm25MetaData)) - (char *) page;
}

void
bm25_meta_read(Relation index, Bm25MetaData *meta)
{
	Buffer		buf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	retrieval_meta_check(index, page, INDEX_KIND_BM25, BM25_FORMAT_VERSION);
	memcpy(meta, PageGetContents(page), sizeof(Bm25MetaData));
	UnlockReleaseBuffer(buf);
	/* the counts index fixed-size arrays of the copy */
	if (meta->nsegments > BM25_MAX_SEGMENTS || meta->npending > BM25_MAX_PENDING ||
		meta->nfree > BM25_MAX_FREE)
		bm25_corrupted(index, "bad metapage list length");
}

/*
 * Bytes read from an index page are not what the format allows: a damaged
 * file, or a hot-standby scan that read a page the primary has meanwhile
 * reused (no recovery conflict protects it; see docs/architecture.md).
 */
void
bm25_corrupted(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" contains unexpected data: %s",
					RelationGetRelationName(index), what),
			 errdetail("The index file is damaged, or a query on a hot standby read a page that the primary has reused."),
			 errhint("REINDEX the index.")));
}

/*
 * A page about to be read as BM25 data (segment or write buffer): its
 * special space must lie where retrieval_page_init put it (else the opaque
 * pointer itself points outside the page) and name a BM25 page.
 */
void
bm25_check_page(Relation index, Page page)
{
	PageHeader	ph = (PageHeader) page;
	RetrievalPageOpaque opaque;

	if (ph->pd_special != BLCKSZ - MAXALIGN(sizeof(RetrievalPageOpaqueData)))
		bm25_corrupted(index, "bad page special space");
	opaque = RetrievalPageGetOpaque(page);
	if (opaque->page_type != RETRIEVAL_PAGE_BM25 || opaque->page_id != RETRIEVAL_PAGE_ID)
		bm25_corrupted(index, "not a BM25 data page");
}

/*
 * Is blkno a block of the index?  nblocks caches the relation size; it is
 * refreshed once before failing, as the relation may have grown since
 * (a write buffer page linked after the cache was filled).
 */
void
bm25_check_block(Relation index, BlockNumber blkno, BlockNumber *nblocks)
{
	if (blkno == RETRIEVAL_META_BLKNO || blkno >= *nblocks)
	{
		if (blkno != RETRIEVAL_META_BLKNO)
			*nblocks = RelationGetNumberOfBlocks(index);
		if (blkno == RETRIEVAL_META_BLKNO || blkno >= *nblocks)
			bm25_corrupted(index, "block number out of range");
	}
}

void
bm25_reader_init(Bm25Reader *r, Relation index, const Bm25SegmentRef *seg)
{
	BlockNumber nblocks;

	r->index = index;
	r->start = seg->start;
	r->npages = seg->npages;
	r->buf = InvalidBuffer;
	r->blkno = InvalidBlockNumber;
	r->strategy = NULL;
	r->checked = false;
	/*
	 * Every page of the run must exist (bm25_read only checks offsets
	 * against npages): one size lookup per segment opened, not per page.
	 */
	nblocks = RelationGetNumberOfBlocks(index);
	if (seg->npages == 0 || seg->start > MaxBlockNumber - seg->npages)
		bm25_corrupted(index, "bad segment page range");
	bm25_check_block(index, seg->start, &nblocks);
	bm25_check_block(index, seg->start + seg->npages - 1, &nblocks);
}

/*
 * Copy len bytes at logical offset off of the segment.  Segment pages are
 * immutable except for fields VACUUM rewrites in place, which never
 * straddle pages, so a share lock per page copied is enough.
 */
void
bm25_read(Bm25Reader *r, uint64 off, void *dst, Size len)
{
	char	   *out = dst;

	while (len > 0)
	{
		uint64		pageno = off / BM25_PAGE_DATA;
		Size		inpage = off % BM25_PAGE_DATA;
		Size		n = Min(len, BM25_PAGE_DATA - inpage);
		BlockNumber blkno;

		if (pageno >= r->npages)
			bm25_corrupted(r->index, "offset beyond the end of a segment");
		blkno = r->start + (BlockNumber) pageno;
		if (blkno != r->blkno)
		{
			if (BufferIsValid(r->buf))
				ReleaseBuffer(r->buf);
			r->buf = ReadBufferExtended(r->index, MAIN_FORKNUM, blkno, RBM_NORMAL, r->strategy);
			r->blkno = blkno;
			r->checked = false;
		}
		LockBuffer(r->buf, BUFFER_LOCK_SHARE);
		/* once per page loaded, not per read (ERROR releases the lock) */
		if (!r->checked)
		{
			bm25_check_page(r->index, BufferGetPage(r->buf));
			r->checked = true;
		}
		memcpy(out, PageGetContents(BufferGetPage(r->buf)) + inpage, n);
		LockBuffer(r->buf, BUFFER_LOCK_UNLOCK);
		out += n;
		off += n;
		len -= n;
	}
}

void
bm25_reader_end(Bm25Reader *r)
{
	if (BufferIsValid(r->buf))
		ReleaseBuffer(r->buf);
	r->buf = InvalidBuffer;
	r->blkno = InvalidBlockNumber;
}

/*
 * Record the block of the n-gram part's metapage (src/ngram/), after the
 * part was built.  The main fork's change goes through GenericXLog; the
 * init fork of an unlogged index is not covered by it (GenericXLog skips
 * relations that need no WAL), so its metapage is logged whole.
 */
void
bm25_meta_set_ngram(Relation index, ForkNumber fork, BlockNumber ngram_meta)
{
	Buffer		buf = ReadBufferExtended(index, fork, RETRIEVAL_META_BLKNO, RBM_NORMAL, NULL);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (fork == INIT_FORKNUM)
	{
		START_CRIT_SECTION();
		page = BufferGetPage(buf);
		((Bm25MetaData *) PageGetContents(page))->ngram_meta = ngram_meta;
		MarkBufferDirty(buf);
		log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
	}
	else
	{
		RetrievalPageWrite write;

		retrieval_write_begin(&write, index, false);
		page = retrieval_write_page(&write, buf, false);
		((Bm25MetaData *) PageGetContents(page))->ngram_meta = ngram_meta;
		retrieval_write_finish(&write);
	}
	UnlockReleaseBuffer(buf);
}
