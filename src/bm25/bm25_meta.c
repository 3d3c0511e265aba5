/*-------------------------------------------------------------------------
 *
 * bm25_meta.c
 *	  The BM25 metapage and the byte-stream reader over a segment's
 *	  contiguous pages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
}

void
bm25_corrupted(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("BM25 index \"%s\" is corrupted: %s", RelationGetRelationName(index), what),
			 errhint("REINDEX the index.")));
}

void
bm25_reader_init(Bm25Reader *r, Relation index, const Bm25SegmentRef *seg)
{
	r->index = index;
	r->start = seg->start;
	r->npages = seg->npages;
	r->buf = InvalidBuffer;
	r->blkno = InvalidBlockNumber;
	r->strategy = NULL;
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
		}
		LockBuffer(r->buf, BUFFER_LOCK_SHARE);
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
