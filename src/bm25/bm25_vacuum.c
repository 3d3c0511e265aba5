/*-------------------------------------------------------------------------
 *
 * bm25_vacuum.c
 *	  ambulkdelete / amvacuumcleanup for BM25.
 *
 * ambulkdelete asks the callback about every indexed TID:
 *	- segments: dead documents get the deleted flag in the doc table (a
 *	  scan never returns them again), and when a segment lost documents,
 *	  each term entry's df is decreased by the number of its postings that
 *	  point to them (one pass over the segment's postings);
 *	- the write buffer (and a sealed chain): the last fragment of a dead
 *	  document gets the deleted flag;
 *	- the metapage: N and the total length lose the removed documents.
 * So after VACUUM, N, n and avgdl count exactly the live rows.  Before
 * VACUUM, deleted and updated-away rows still count, like Lucene's deleted
 * documents before a merge.
 *
 * VACUUM holds the heavyweight flush lock (see bm25_buffer.c) so that no
 * flush copies a buffered document while it is being marked.
 *
 * Postings of deleted documents stay in their segments (skipped by scans)
 * until a merge rewrites the segment without them.  amvacuumcleanup makes
 * released pages that no scan can read any more reusable and releases the
 * pages nothing refers to (bm25_space.c's sweep).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#include "bm25.h"

typedef struct VacuumCounts
{
	int64		removed;
	int64		removed_length;
	int64		live;
} VacuumCounts;

/* Decrease df of every term of the segment by its dead postings. */
static void
fix_document_frequencies(Relation index, const Bm25SegmentRef *seg, Bm25Reader *r,
						 const Bm25SegmentHeader *hdr, const uint8 *dead,
						 BufferAccessStrategy strategy)
{
	for (uint32 s = 0; s < hdr->nbuckets; s++)
	{
		Bm25Bucket	bk;
		Bm25TermHeader th;
		uint32		ndead = 0;
		uint64		skips_off;
		uint32		prev = 0;

		vacuum_delay_point();
		bm25_read(r, hdr->bucket_off + (uint64) s * sizeof(Bm25Bucket), &bk, sizeof(bk));
		if (bk.term == 0)
			continue;
		bm25_read(r, bk.term, &th, sizeof(th));
		skips_off = bk.term + sizeof(th) + th.len;
		for (uint32 bl = 0; bl < th.nblocks; bl++)
		{
			Bm25Skip	sk;
			uint8		data[BM25_BLOCK_SIZE * 15];
			const uint8 *p = data;
			bool		ok = true;

			bm25_read(r, skips_off + (uint64) bl * sizeof(Bm25Skip), &sk, sizeof(sk));
			if (sk.nbytes > sizeof(data) || sk.ndocs > BM25_BLOCK_SIZE)
				bm25_corrupted(index, "bad postings skip entry");
			bm25_read(r, sk.offset, data, sk.nbytes);
			for (uint32 i = 0; i < sk.ndocs; i++)
			{
				prev += bm25_varint_get(&p, data + sk.nbytes, &ok);
				(void) bm25_varint_get(&p, data + sk.nbytes, &ok);
				(void) bm25_varint_get(&p, data + sk.nbytes, &ok);
				if (!ok || prev >= hdr->ndocs)
					bm25_corrupted(index, "bad postings block");
				if (dead[prev / 8] & (1 << (prev % 8)))
					ndead++;
			}
		}
		if (ndead > 0)
		{
			BlockNumber blkno = seg->start + (BlockNumber) (bk.term / BM25_PAGE_DATA);
			Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
			RetrievalPageWrite write;
			Page		page;
			Bm25TermHeader *wth;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			retrieval_write_begin(&write, index, false);
			page = retrieval_write_page(&write, buf, false);
			wth = (Bm25TermHeader *) (PageGetContents(page) + bk.term % BM25_PAGE_DATA);
			wth->df = wth->df >= ndead ? wth->df - ndead : 0;
			retrieval_write_finish(&write);
			UnlockReleaseBuffer(buf);
		}
	}
}

static void
vacuum_segment(Relation index, const Bm25SegmentRef *seg, IndexBulkDeleteCallback callback,
			   void *callback_state, BufferAccessStrategy strategy, VacuumCounts *counts)
{
	Bm25Reader	r;
	Bm25SegmentHeader hdr;
	uint8	   *dead;
	int64		newly_dead = 0;

	bm25_reader_init(&r, index, seg);
	r.strategy = strategy;
	bm25_segment_header(&r, &hdr);
	dead = palloc_extended((hdr.ndocs + 7) / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	for (uint32 first = 0; first < hdr.ndocs; first += BM25_DOCS_PER_PAGE)
	{
		uint32		n = Min((uint32) BM25_DOCS_PER_PAGE, hdr.ndocs - first);
		BlockNumber blkno = seg->start + (BlockNumber) ((hdr.doc_off / BM25_PAGE_DATA) + first / BM25_DOCS_PER_PAGE);
		Buffer		buf;
		Bm25DocEntry *entries;
		uint32		nmark = 0;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		entries = (Bm25DocEntry *) PageGetContents(BufferGetPage(buf));
		for (uint32 i = 0; i < n; i++)
		{
			if (entries[i].flags & BM25_DOC_DELETED)
				continue;
			if (callback(&entries[i].tid, callback_state))
			{
				dead[(first + i) / 8] |= 1 << ((first + i) % 8);
				nmark++;
			}
			else
				counts->live++;
		}
		if (nmark > 0)
		{
			RetrievalPageWrite write;
			Page		page;

			retrieval_write_begin(&write, index, false);
			page = retrieval_write_page(&write, buf, false);
			entries = (Bm25DocEntry *) PageGetContents(page);
			for (uint32 i = 0; i < n; i++)
				if (dead[(first + i) / 8] & (1 << ((first + i) % 8)))
				{
					entries[i].flags |= BM25_DOC_DELETED;
					counts->removed_length += entries[i].length;
				}
			retrieval_write_finish(&write);
			newly_dead += nmark;
		}
		UnlockReleaseBuffer(buf);
	}
	counts->removed += newly_dead;
	if (newly_dead > 0)
		fix_document_frequencies(index, seg, &r, &hdr, dead, strategy);
	bm25_reader_end(&r);
	pfree(dead);
}

#define FRAG_HEADER		offsetof(Bm25BufferTuple, data)

static void
vacuum_chain(Relation index, BlockNumber blkno, IndexBulkDeleteCallback callback,
			 void *callback_state, BufferAccessStrategy strategy, VacuumCounts *counts)
{
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		OffsetNumber marks[MaxOffsetNumber];
		int			nmarks = 0;
		BlockNumber next;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			Bm25BufferTuple *tup;

			if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < FRAG_HEADER)
				continue;
			tup = (Bm25BufferTuple *) PageGetItem(page, iid);
			/*
			 * The LAST fragment carries the flag: only complete documents
			 * were counted in N (a crash can cut a long insert short).
			 */
			if (!(tup->frag & BM25_FRAG_LAST) || tup->deleted)
				continue;
			if (callback(&tup->tid, callback_state))
				marks[nmarks++] = off;
			else
				counts->live++;
		}
		if (nmarks > 0)
		{
			RetrievalPageWrite write;

			retrieval_write_begin(&write, index, false);
			page = retrieval_write_page(&write, buf, false);
			for (int i = 0; i < nmarks; i++)
			{
				Bm25BufferTuple *tup = (Bm25BufferTuple *) PageGetItem(page, PageGetItemId(page, marks[i]));

				tup->deleted = 1;
				counts->removed++;
				counts->removed_length += tup->length;
			}
			retrieval_write_finish(&write);
		}
		next = RetrievalPageGetOpaque(BufferGetPage(buf))->next;
		UnlockReleaseBuffer(buf);
		blkno = next;
	}
}

IndexBulkDeleteResult *
bm25_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	Bm25MetaData meta;
	VacuumCounts counts;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	memset(&counts, 0, sizeof(counts));

	LockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
	bm25_meta_read(index, &meta);
	for (uint32 s = 0; s < meta.nsegments; s++)
		vacuum_segment(index, &meta.segments[s], callback, callback_state, info->strategy, &counts);
	if (BlockNumberIsValid(meta.sealed_head))
		vacuum_chain(index, meta.sealed_head, callback, callback_state, info->strategy, &counts);
	vacuum_chain(index, meta.buffer_head, callback, callback_state, info->strategy, &counts);

	if (counts.removed > 0)
	{
		Buffer		metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
		RetrievalPageWrite write;
		Bm25MetaData *wmeta;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		retrieval_write_begin(&write, index, false);
		wmeta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
		wmeta->ndocs = Max(wmeta->ndocs - counts.removed, 0);
		wmeta->total_length = Max(wmeta->total_length - counts.removed_length, 0);
		retrieval_write_finish(&write);
		UnlockReleaseBuffer(metabuf);
	}
	UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);

	stats->tuples_removed += counts.removed;
	stats->num_index_tuples = counts.live;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}

IndexBulkDeleteResult *
bm25_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Bm25MetaData meta;
	BlockNumber released;

	if (info->analyze_only)
		return stats;
	/*
	 * Pages no scan can read any more become reusable, and pages nothing
	 * refers to (a flush or merge cut short) are released (bm25_space.c).
	 */
	released = bm25_space_sweep(info->index);
	if (released > 0)			/* rare: after a crash or an error mid-flush */
		ereport(LOG,
				(errmsg("BM25 index \"%s\": %u unreferenced pages (of an interrupted flush or merge) released",
						RelationGetRelationName(info->index), released)));
	bm25_meta_read(info->index, &meta);
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_index_tuples = (double) meta.ndocs;
		stats->estimated_count = false;
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->pages_free = (BlockNumber) bm25_space_free_pages(&meta);
	return stats;
}
