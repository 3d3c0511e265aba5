/*-------------------------------------------------------------------------
 *
 * ngram_insert.c
 *	  INSERT into the n-gram part: append to the write buffer, fold a full
 *	  buffer into a segment, merge segments of a full size tier.  Also the
 *	  rewriting of segments (merges here, VACUUM in ngram_vacuum.c) from
 *	  the text recovered out of the segments themselves.
 *
 * Tiers.  A segment's tier is floor(log8(symbols / NGRAM_BUFFER_SYMBOLS));
 * when NGRAM_MERGE_FANIN segments share a tier they are merged into one
 * (of the next tier), so a symbol is rewritten about once per tier,
 * log8(N / buffer) times in all.  Segments too large to be rebuilt within
 * maintenance_work_mem are never merged again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "ngram.h"

void
ngram_write_lock(Relation index, BlockNumber metablk)
{
	LockPage(index, metablk, ExclusiveLock);
}

void
ngram_write_unlock(Relation index, BlockNumber metablk)
{
	UnlockPage(index, metablk, ExclusiveLock);
}

/* ---- rewriting segments ---- */

typedef struct RewriteState
{
	NgramSegmentWriter *writer;
	NgramSegmentRef *seg;
	FmSegment  *fm;
	IndexBulkDeleteCallback callback;	/* NULL: keep every document */
	void	   *callback_state;
	int64		removed;
	int64		removed_symbols;
} RewriteState;

static bool
rewrite_emit(void *arg, uint32_t doc, const uint32_t *symbols, uint32_t len)
{
	RewriteState *rs = arg;
	NgramDoc	d;

	d.key = fm_doc_key(rs->fm, doc);
	d.len = len;
	d.symbols = (uint32 *) symbols;
	if (rs->callback)
	{
		ItemPointerData tid;

		ngram_key_tid(d.key, &tid);
		if (rs->callback(&tid, rs->callback_state))
		{
			rs->removed++;
			rs->removed_symbols += len;
			return true;
		}
	}
	ngram_writer_add(rs->writer, &d);
	return true;
}

/*
 * Every document of the segments (minus those callback says are dead) into
 * new segments.  Returns them; *removed gets the documents left out.
 */
NgramSegmentRef *
ngram_rewrite_segments(Relation index, NgramMetaData *meta, const NgramSegmentRef *segs,
					   int nsegs, IndexBulkDeleteCallback callback, void *callback_state,
					   int *nout, int64 *removed, int64 *removed_symbols)
{
	RewriteState rs;

	memset(&rs, 0, sizeof(rs));
	rs.writer = ngram_writer_begin(index, meta, meta->mode, (Size) maintenance_work_mem * 1024,
								   false);
	rs.callback = callback;
	rs.callback_state = callback_state;
	for (int i = 0; i < nsegs; i++)
	{
		NgramPageSource ps;
		FmSegment	fm;

		ngram_source_open(&ps, index, &segs[i], 1, &fm);
		rs.seg = (NgramSegmentRef *) &segs[i];
		rs.fm = &fm;
		fm_extract_all(&fm, rewrite_emit, &rs, ngram_allocator());
		ngram_source_close(&ps);
	}
	*removed = rs.removed;
	*removed_symbols = rs.removed_symbols;
	return ngram_writer_finish(rs.writer, nout);
}

/*
 * Replace segments [which] of meta by the new ones, releasing the old
 * ones' pages (meta is only changed in memory: the caller publishes it).
 */
void
ngram_meta_replace(Relation index, NgramMetaData *meta, const bool *which,
				   const NgramSegmentRef *add, int nadd)
{
	int			n = 0;
	RetrievalSpace space = ngram_space(meta);

	for (uint32 i = 0; i < meta->nsegments; i++)
	{
		if (!which || !which[i])
			meta->segments[n++] = meta->segments[i];
		else
			retrieval_space_release(&space, meta->segments[i].start, meta->segments[i].npages);
	}
	if (n + nadd > NGRAM_MAX_SEGMENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("n-gram part of index \"%s\" has too many segments",
						RelationGetRelationName(index)),
				 errhint("Raise maintenance_work_mem and REINDEX.")));
	for (int i = 0; i < nadd; i++)
		meta->segments[n++] = add[i];
	meta->nsegments = n;
}

/* ---- tiers and merges ---- */

static int
segment_tier(const NgramSegmentRef *seg)
{
	uint64		units = seg->nsymbols / NGRAM_BUFFER_SYMBOLS;
	int			tier = 0;

	while (units >= NGRAM_TIER_BASE)
	{
		units /= NGRAM_TIER_BASE;
		tier++;
	}
	return tier;
}

static bool
segment_mergeable(const NgramSegmentRef *seg)
{
	return fm_build_memory(seg->nsymbols * NGRAM_MERGE_FANIN, seg->ndocs * NGRAM_MERGE_FANIN) <=
		(uint64) maintenance_work_mem * 1024;
}

/* Merge while some tier holds NGRAM_MERGE_FANIN mergeable segments. */
void
ngram_merge_tiers(Relation index, BlockNumber metablk, NgramMetaData *meta)
{
	for (;;)
	{
		int			count[64] = {0};
		int			full = -1;
		bool		which[NGRAM_MAX_SEGMENTS] = {0};
		NgramSegmentRef picked[NGRAM_MAX_SEGMENTS];
		int			npicked = 0;
		NgramSegmentRef *out;
		int			nout;
		int64		removed,
					removed_symbols;

		for (uint32 i = 0; i < meta->nsegments; i++)
			if (segment_mergeable(&meta->segments[i]))
			{
				int			t = Min(segment_tier(&meta->segments[i]), 63);

				if (++count[t] >= NGRAM_MERGE_FANIN && full < 0)
					full = t;
			}
		if (full < 0)
			return;
		for (uint32 i = 0; i < meta->nsegments; i++)
			if (segment_mergeable(&meta->segments[i]) &&
				Min(segment_tier(&meta->segments[i]), 63) == full)
			{
				which[i] = true;
				picked[npicked++] = meta->segments[i];
			}
		out = ngram_rewrite_segments(index, meta, picked, npicked, NULL, NULL, &nout,
									 &removed, &removed_symbols);
		ngram_meta_replace(index, meta, which, out, nout);
		ngram_meta_write(index, metablk, meta);
		pfree(out);
	}
}

/* ---- fold ---- */

/* Release the pages of a chain that the metapage copy no longer lists. */
void
ngram_release_chain(Relation index, NgramMetaData *meta, BlockNumber head)
{
	int			n;
	BlockNumber *blocks = retrieval_chain_blocks(index, head, &n);
	RetrievalSpace space = ngram_space(meta);

	retrieval_space_release_blocks(&space, blocks, n);
	pfree(blocks);
}

static void
fold_buffer(Relation index, BlockNumber metablk, NgramMetaData *meta)
{
	uint32		ndocs;
	NgramDoc   *docs = ngram_buffer_read_limit(index, meta->buffer_head, meta->mode,
											   meta->buffer_docs, &ndocs);
	NgramSegmentWriter *w;
	NgramSegmentRef *refs;
	int			nrefs;

	if (ndocs != meta->buffer_docs)
		ngram_corrupted(index, "write buffer holds fewer documents than its metapage says");
	w = ngram_writer_begin(index, meta, meta->mode, (Size) maintenance_work_mem * 1024, false);
	for (uint32 i = 0; i < ndocs; i++)
		ngram_writer_add(w, &docs[i]);
	refs = ngram_writer_finish(w, &nrefs);
	ngram_meta_replace(index, meta, NULL, refs, nrefs);
	/* a new chain: readers of the old metapage keep a consistent view */
	ngram_release_chain(index, meta, meta->buffer_head);
	meta->buffer_head = meta->buffer_tail = ngram_buffer_new_chain(index, meta, false);
	meta->buffer_docs = 0;
	meta->buffer_symbols = 0;
	ngram_meta_write(index, metablk, meta);
	ngram_merge_tiers(index, metablk, meta);
}

/* ---- INSERT ---- */

void
ngram_part_insert(Relation index, BlockNumber metablk, Datum value, ItemPointer heap_tid)
{
	NgramMetaData meta;
	NgramDoc	doc;
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "n-gram insert",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);

	ngram_write_lock(index, metablk);
	ngram_meta_read(index, metablk, &meta);
	ngram_value_symbols(meta.mode, value, &doc);
	doc.key = ngram_tid_key(heap_tid);
	ngram_buffer_append(index, metablk, &meta, &doc, true);
	if (meta.buffer_symbols >= NGRAM_BUFFER_SYMBOLS)
		fold_buffer(index, metablk, &meta);
	ngram_write_unlock(index, metablk);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
}
