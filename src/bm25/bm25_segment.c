/*-------------------------------------------------------------------------
 *
 * bm25_segment.c
 *	  Reading a segment: its header, term lookup in the on-disk hash
 *	  dictionary, doc-table entries, and postings cursors that decode one
 *	  block at a time and skip whole blocks through the skip entries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bm25.h"

void
bm25_segment_header(Bm25Reader *r, Bm25SegmentHeader *hdr)
{
	bm25_read(r, 0, hdr, sizeof(Bm25SegmentHeader));
	if (hdr->magic != BM25_SEGMENT_MAGIC ||
		hdr->nbuckets == 0 || (hdr->nbuckets & (hdr->nbuckets - 1)) != 0 ||
		hdr->end_off > (uint64) r->npages * BM25_PAGE_DATA)
		bm25_corrupted(r->index, "bad segment header");
	/* the sections in layout order, each large enough for its counts */
	if (hdr->doc_off > hdr->bucket_off || hdr->bucket_off > hdr->term_off ||
		hdr->term_off > hdr->postings_off || hdr->postings_off > hdr->end_off ||
		(uint64) hdr->nbuckets * sizeof(Bm25Bucket) > hdr->term_off - hdr->bucket_off ||
		(uint64) (hdr->ndocs / BM25_DOCS_PER_PAGE) * BM25_PAGE_DATA +
		(uint64) (hdr->ndocs % BM25_DOCS_PER_PAGE) * sizeof(Bm25DocEntry) >
		hdr->bucket_off - hdr->doc_off)
		bm25_corrupted(r->index, "bad segment section offsets");
}

/* Find a term: probe the buckets (linear probing) and compare bytes. */
void
bm25_segment_lookup(Bm25Reader *r, const Bm25SegmentHeader *hdr, const char *term, int len,
					uint32 hash, Bm25TermInfo *info)
{
	uint32		mask = hdr->nbuckets - 1;
	char		stackbuf[256];
	char	   *tbuf = len <= (int) sizeof(stackbuf) ? stackbuf : palloc(len);

	memset(info, 0, sizeof(*info));
	for (uint32 probes = 0, s = hash & mask; probes < hdr->nbuckets; probes++, s = (s + 1) & mask)
	{
		Bm25Bucket	b;
		Bm25TermHeader th;

		bm25_read(r, hdr->bucket_off + (uint64) s * sizeof(Bm25Bucket), &b, sizeof(b));
		if (b.term == 0)
			break;
		if (b.hash != hash)
			continue;
		if (b.term < hdr->term_off || b.term >= hdr->postings_off)
			bm25_corrupted(r->index, "bad dictionary bucket");
		bm25_read(r, b.term, &th, sizeof(th));
		if ((int) th.len != len)
			continue;
		bm25_read(r, b.term + sizeof(th), tbuf, len);
		if (memcmp(tbuf, term, len) != 0)
			continue;
		info->found = true;
		info->entry_off = b.term;
		info->df = th.df;
		info->nblocks = th.nblocks;
		info->skips_off = b.term + sizeof(th) + th.len;
		/* the skip entries are sized from nblocks: they end before the postings */
		if (info->skips_off > hdr->postings_off ||
			(uint64) th.nblocks * sizeof(Bm25Skip) > hdr->postings_off - info->skips_off)
			bm25_corrupted(r->index, "bad term entry");
		break;
	}
	if (tbuf != stackbuf)
		pfree(tbuf);
}

void
bm25_segment_doc(Bm25Reader *r, const Bm25SegmentHeader *hdr, uint32 doc, Bm25DocEntry *entry)
{
	uint64		off;

	if (doc >= hdr->ndocs)
		bm25_corrupted(r->index, "document id out of range");
	off = hdr->doc_off + (uint64) (doc / BM25_DOCS_PER_PAGE) * BM25_PAGE_DATA +
		(uint64) (doc % BM25_DOCS_PER_PAGE) * sizeof(Bm25DocEntry);
	bm25_read(r, off, entry, sizeof(Bm25DocEntry));
}

/* ------------------------------------------------------------------------
 * Cursors
 * ------------------------------------------------------------------------
 */

void
bm25_cursor_open(Bm25Cursor *c, Bm25Reader *r, const Bm25TermInfo *info, int qterm,
				 const Bm25Query *q)
{
	c->reader = r;
	c->qterm = qterm;
	c->nblocks = info->nblocks;
	c->skips = palloc(sizeof(Bm25Skip) * Max(c->nblocks, 1));
	c->block_max = palloc(sizeof(float8) * Max(c->nblocks, 1));
	bm25_read(r, info->skips_off, c->skips, sizeof(Bm25Skip) * c->nblocks);
	c->max_score = 0;
	for (uint32 i = 0; i < c->nblocks; i++)
	{
		if (c->skips[i].ndocs == 0 || c->skips[i].ndocs > BM25_BLOCK_SIZE ||
			(i > 0 && c->skips[i].last_doc <= c->skips[i - 1].last_doc))
			bm25_corrupted(r->index, "bad postings skip entry");
		c->block_max[i] = bm25_upper_bound(q, qterm, c->skips[i].max_tf, c->skips[i].min_length);
		c->max_score = Max(c->max_score, c->block_max[i]);
	}
	c->block = 0;
	c->decoded = false;
	c->pos = 0;
	c->count = 0;
}

static void
decode_block(Bm25Cursor *c)
{
	Bm25Skip   *sk = &c->skips[c->block];
	uint8		stackbuf[BM25_BLOCK_SIZE * 15];
	const uint8 *p = stackbuf;
	const uint8 *end;
	uint32		prev = c->block > 0 ? c->skips[c->block - 1].last_doc : 0;
	bool		ok = true;
	bool		ordered = true;

	if (sk->nbytes > sizeof(stackbuf))
		bm25_corrupted(c->reader->index, "postings block too large");
	bm25_read(c->reader, sk->offset, stackbuf, sk->nbytes);
	end = stackbuf + sk->nbytes;
	for (uint32 i = 0; i < sk->ndocs; i++)
	{
		uint32		delta = bm25_varint_get(&p, end, &ok);

		/*
		 * Doc ids strictly increase (only the very first may be 0) and do
		 * not wrap: the cursor seeks and WAND's pivot rely on that order.
		 */
		ordered &= (delta > 0 || (i == 0 && c->block == 0)) && prev + delta >= prev;
		prev += delta;
		c->docs[i] = prev;
		c->tfs[i] = bm25_varint_get(&p, end, &ok);
		c->lens[i] = bm25_varint_get(&p, end, &ok);
	}
	if (!ok || !ordered || p != end || prev != sk->last_doc)
		bm25_corrupted(c->reader->index, "bad postings block");
	c->count = (int) sk->ndocs;
	c->pos = 0;
	c->decoded = true;
}

uint32
bm25_cursor_doc(Bm25Cursor *c)
{
	if (c->block >= (int) c->nblocks)
		return BM25_NO_DOC;
	if (!c->decoded)
		decode_block(c);
	return c->docs[c->pos];
}

void
bm25_cursor_next(Bm25Cursor *c)
{
	if (c->block >= (int) c->nblocks)
		return;
	if (!c->decoded)
		decode_block(c);
	if (++c->pos >= c->count)
	{
		c->block++;
		c->decoded = false;
	}
}

/* Move to the block that may contain target, without decoding it. */
void
bm25_cursor_seek_block(Bm25Cursor *c, uint32 target)
{
	int			start = c->block;

	while (c->block < (int) c->nblocks && c->skips[c->block].last_doc < target)
		c->block++;
	if (c->block != start)
		c->decoded = false;
}

/* Move to the first posting >= target. */
void
bm25_cursor_seek(Bm25Cursor *c, uint32 target)
{
	bm25_cursor_seek_block(c, target);
	if (c->block >= (int) c->nblocks)
		return;
	if (!c->decoded)
		decode_block(c);
	while (c->docs[c->pos] < target)
		c->pos++;				/* the block's last doc is >= target */
}

/* Last doc id of the current block (the range its bound covers). */
uint32
bm25_cursor_block_last(Bm25Cursor *c)
{
	if (c->block >= (int) c->nblocks)
		return BM25_NO_DOC;
	return c->skips[c->block].last_doc;
}
