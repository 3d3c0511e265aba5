/*-------------------------------------------------------------------------
 *
 * bm25_merge.c
 *	  Merging segments: the newest segments are rewritten as one, without
 *	  the documents VACUUM deleted.
 *
 * Policy (checked after every buffer flush, under the flush lock): merge
 * the longest run of newest segments in which each older segment holds at
 * most BM25_MERGE_RATIO times the documents of all newer ones of the run.
 * Segment sizes then grow geometrically: an index has O(log N) segments
 * and a document is rewritten O(log N) times.  When the segment list is
 * nearly full, everything is merged.
 *
 * A merge reads the doc tables of its segments (oldest first) and assigns
 * new, dense ids to the live documents, then copies every term's postings
 * segment by segment through the id map, so each term's ids keep growing;
 * block maxima and df are recomputed by the writer.  The new segment is
 * written in reused or new pages (full-page WAL images); one WAL record
 * then replaces the merged segments in the metapage and releases their
 * pages (reusable once no scan can read them, bm25_space.c).  A crash
 * before that record leaves the old segments in place and the new pages
 * unreferenced (tested by killing the server while
 * retrieval.bm25_merge_pause holds a merge there).
 *
 * XXX: the merge runs in the inserting backend that flushed (a background
 * worker would spare that insert the latency) and holds the merged
 * postings in memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "bm25.h"

#define BM25_MERGE_RATIO	4

/* Copy the live postings of one segment into the builder through map. */
static void
copy_postings(Bm25Builder *bld, Bm25Reader *r, const Bm25SegmentHeader *hdr, const uint32 *map)
{
	char	   *term = palloc(64);
	int			termcap = 64;

	for (uint32 s = 0; s < hdr->nbuckets; s++)
	{
		Bm25Bucket	bk;
		Bm25TermHeader th;
		Bm25TermCount tc;
		uint64		skips_off;
		uint32		prev = 0;

		CHECK_FOR_INTERRUPTS();
		bm25_read(r, hdr->bucket_off + (uint64) s * sizeof(Bm25Bucket), &bk, sizeof(bk));
		if (bk.term == 0)
			continue;
		bm25_read(r, bk.term, &th, sizeof(th));
		if (th.len > MaxAllocSize / 2)
			bm25_corrupted(r->index, "bad term entry");
		if ((int) th.len > termcap)
		{
			termcap = (int) th.len;
			term = repalloc(term, termcap);
		}
		bm25_read(r, bk.term + sizeof(th), term, th.len);
		tc.term = term;
		tc.len = (int) th.len;
		tc.hash = bm25_hash(term, tc.len);
		tc.count = 0;
		skips_off = bk.term + sizeof(th) + th.len;
		for (uint32 bl = 0; bl < th.nblocks; bl++)
		{
			Bm25Skip	sk;
			uint8		data[BM25_BLOCK_SIZE * 15];
			const uint8 *p = data;
			bool		ok = true;

			bm25_read(r, skips_off + (uint64) bl * sizeof(Bm25Skip), &sk, sizeof(sk));
			if (sk.nbytes > sizeof(data) || sk.ndocs > BM25_BLOCK_SIZE)
				bm25_corrupted(r->index, "bad postings skip entry");
			bm25_read(r, sk.offset, data, sk.nbytes);
			for (uint32 i = 0; i < sk.ndocs; i++)
			{
				uint32		tf;
				uint32		len;

				prev += bm25_varint_get(&p, data + sk.nbytes, &ok);
				tf = bm25_varint_get(&p, data + sk.nbytes, &ok);
				len = bm25_varint_get(&p, data + sk.nbytes, &ok);
				if (!ok || prev >= hdr->ndocs)
					bm25_corrupted(r->index, "bad postings block");
				if (map[prev] != BM25_NO_DOC)
					bm25_builder_add_posting(bld, &tc, map[prev], tf, len);
			}
		}
	}
	pfree(term);
}

/*
 * Write the live documents of segs[0..nsegs-1] (oldest first) as one
 * segment; false when none is live (nothing written).
 */
bool
bm25_merge_segments(Relation index, const Bm25SegmentRef *segs, int nsegs, Bm25SegmentRef *merged)
{
	Bm25Builder *bld = bm25_builder_create(CurrentMemoryContext);
	Bm25Reader *readers = palloc(sizeof(Bm25Reader) * nsegs);
	Bm25SegmentHeader *hdrs = palloc(sizeof(Bm25SegmentHeader) * nsegs);
	uint32	  **maps = palloc(sizeof(uint32 *) * nsegs);
	bool		written;

	for (int i = 0; i < nsegs; i++)
	{
		bm25_reader_init(&readers[i], index, &segs[i]);
		bm25_segment_header(&readers[i], &hdrs[i]);
		maps[i] = palloc_extended(sizeof(uint32) * Max(hdrs[i].ndocs, 1), MCXT_ALLOC_HUGE);
		for (uint32 d = 0; d < hdrs[i].ndocs; d++)
		{
			Bm25DocEntry e;

			if ((d & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			bm25_segment_doc(&readers[i], &hdrs[i], d, &e);
			maps[i][d] = (e.flags & BM25_DOC_DELETED) ? BM25_NO_DOC
				: bm25_builder_add_doc(bld, &e.tid, e.length);
		}
	}
	for (int i = 0; i < nsegs; i++)
	{
		copy_postings(bld, &readers[i], &hdrs[i], maps[i]);
		bm25_reader_end(&readers[i]);
		pfree(maps[i]);
	}
	written = bm25_builder_write(bld, index, false, merged);
	bm25_builder_destroy(bld);
	pfree(readers);
	pfree(hdrs);
	pfree(maps);
	return written;
}

/* The caller holds the flush lock (no other flush, merge or VACUUM). */
void
bm25_merge_if_needed(Relation index)
{
	Bm25MetaData meta;
	int			n;
	int			k;
	int			first;
	uint64		total;
	Bm25SegmentRef merged;
	bool		have_merged;
	Buffer		metabuf;
	RetrievalPageWrite write;
	Bm25MetaData *wmeta;

	bm25_meta_read(index, &meta);
	n = (int) meta.nsegments;
	if (n < 2)
		return;
	k = 1;
	total = meta.segments[n - 1].ndocs;
	while (k < n && meta.segments[n - 1 - k].ndocs <= BM25_MERGE_RATIO * total)
	{
		total += meta.segments[n - 1 - k].ndocs;
		k++;
	}
	if (n >= BM25_MAX_SEGMENTS - 1)
		k = n;
	if (k < 2)
		return;
	first = n - k;

	have_merged = bm25_merge_segments(index, &meta.segments[first], k, &merged);
	bm25_merge_pause(index);	/* crash tests strike here */

	metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_write_begin(&write, index, false);
	wmeta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
	/* only flushes and merges change the list, and we hold their lock */
	if ((int) wmeta->nsegments != n ||
		memcmp(&wmeta->segments[first], &meta.segments[first], sizeof(Bm25SegmentRef) * k) != 0)
		elog(ERROR, "segment list of BM25 index \"%s\" changed during a merge",
			 RelationGetRelationName(index));
	/* reusable once no scan that listed them can still be running */
	for (int i = first; i < n; i++)
		bm25_space_release(wmeta, wmeta->segments[i].start, wmeta->segments[i].npages);
	if (have_merged)
		wmeta->segments[first++] = merged;
	wmeta->nsegments = first;
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(metabuf);
}
