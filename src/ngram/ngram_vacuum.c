/*-------------------------------------------------------------------------
 *
 * ngram_vacuum.c
 *	  VACUUM of the n-gram part: every segment holding a dead row is
 *	  rewritten without it (text recovered from the segment, ngram_insert.c),
 *	  and the write buffer is copied to a new chain without its dead rows,
 *	  so counts are exact over the live rows afterwards.
 *
 * XXX: a segment with one dead row is rewritten whole (cost proportional
 * to its size, under the write lock).  Masking dead documents until a
 * share of the segment is dead would be cheaper, at the price of counts
 * that include masked rows or a correction at query time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "ngram.h"

/* Does the segment hold a row the callback says is dead? */
static bool
segment_has_dead(Relation index, const NgramSegmentRef *seg, IndexBulkDeleteCallback callback,
				 void *callback_state)
{
	NgramPageSource ps;
	FmSegment	fm;
	bool		dead = false;

	ngram_source_open(&ps, index, seg, 1, &fm);
	for (uint32 d = 0; d < fm.header.ndocs && !dead; d++)
	{
		ItemPointerData tid;

		if ((d & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		ngram_key_tid(fm_doc_key(&fm, d), &tid);
		dead = callback(&tid, callback_state);
	}
	ngram_source_close(&ps);
	return dead;
}

void
ngram_part_bulkdelete(Relation index, BlockNumber metablk, IndexBulkDeleteCallback callback,
					  void *callback_state, IndexBulkDeleteResult *stats)
{
	NgramMetaData meta;
	bool		which[NGRAM_MAX_SEGMENTS] = {0};
	NgramSegmentRef picked[NGRAM_MAX_SEGMENTS];
	int			npicked = 0;
	int64		removed = 0;
	uint32		nbuf;
	NgramDoc   *bufdocs;
	bool		buffer_dead = false;

	ngram_write_lock(index, metablk);
	ngram_meta_read(index, metablk, &meta);

	for (uint32 i = 0; i < meta.nsegments; i++)
		if (segment_has_dead(index, &meta.segments[i], callback, callback_state))
		{
			which[i] = true;
			picked[npicked++] = meta.segments[i];
		}
	if (npicked > 0)
	{
		NgramSegmentRef *out;
		int			nout;
		int64		gone,
					gone_symbols;

		out = ngram_rewrite_segments(index, &meta, picked, npicked, callback,
									 callback_state, &nout, &gone, &gone_symbols);
		ngram_meta_replace(index, &meta, which, out, nout);
		meta.ndocs -= gone;
		meta.nsymbols -= gone_symbols;
		removed += gone;
	}

	/* the write buffer */
	bufdocs = ngram_buffer_read_limit(index, meta.buffer_head, meta.mode, meta.buffer_docs, &nbuf);
	for (uint32 i = 0; i < nbuf && !buffer_dead; i++)
	{
		ItemPointerData tid;

		ngram_key_tid(bufdocs[i].key, &tid);
		buffer_dead = callback(&tid, callback_state);
	}
	if (buffer_dead)
	{
		meta.ndocs -= meta.buffer_docs;
		meta.nsymbols -= meta.buffer_symbols;
		meta.buffer_docs = 0;
		meta.buffer_symbols = 0;
		ngram_release_chain(index, &meta, meta.buffer_head);
		meta.buffer_head = meta.buffer_tail = ngram_buffer_new_chain(index, &meta, false);
		/* filled first, then listed with the segments in one record (below) */
		for (uint32 i = 0; i < nbuf; i++)
		{
			ItemPointerData tid;

			CHECK_FOR_INTERRUPTS();
			ngram_key_tid(bufdocs[i].key, &tid);
			if (callback(&tid, callback_state))
				removed++;
			else
				ngram_buffer_append(index, metablk, &meta, &bufdocs[i], false);
		}
	}
	if (npicked > 0 || buffer_dead)
		ngram_meta_write(index, metablk, &meta);
	ngram_write_unlock(index, metablk);

	if (stats)
	{
		stats->tuples_removed += removed;
		stats->num_index_tuples = meta.ndocs;
	}
}

void
ngram_part_stats(Relation index, BlockNumber metablk, IndexBulkDeleteResult *stats)
{
	NgramMetaData meta;

	ngram_meta_read(index, metablk, &meta);
	stats->num_index_tuples = meta.ndocs;
	stats->num_pages = RelationGetNumberOfBlocks(index);
}
