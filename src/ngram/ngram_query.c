/*-------------------------------------------------------------------------
 *
 * ngram_query.c
 *	  One query over the whole n-gram part: every segment and the write
 *	  buffer as of one copy of the metapage.  An NgramCursor is an n-gram
 *	  being extended on the right: a BWT range per segment and the list of
 *	  its occurrences in the buffered documents.  Counts, continuations and
 *	  documents are the sums over both.
 *
 * Top-k continuations over several segments are exact: each segment's
 * top-k' list bounds what it can give a symbol it does not list (its k'-th
 * count), so once the k-th best exact total of the listed symbols reaches
 * the sum of those bounds no unlisted symbol can enter the top k; otherwise
 * k' grows and the lists are read again.  With one segment (after CREATE
 * INDEX) this is one best-first descent of the wavelet matrix.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "ngram.h"

void
ngram_query_open(NgramQuery *q, Relation index, BlockNumber metablk)
{
	memset(q, 0, sizeof(*q));
	q->index = index;
	ngram_meta_read(index, metablk, &q->meta);
	q->nsegs = (int) q->meta.nsegments;
	q->sources = palloc0(sizeof(NgramPageSource) * Max(q->nsegs, 1));
	q->segs = palloc0(sizeof(FmSegment) * Max(q->nsegs, 1));
	for (int i = 0; i < q->nsegs; i++)
		ngram_source_open(&q->sources[i], index, &q->meta.segments[i], q->nsegs, &q->segs[i]);
	q->buffer = ngram_buffer_read_limit(index, q->meta.buffer_head, q->meta.mode,
										q->meta.buffer_docs, &q->nbuffer);
	if (q->nbuffer != q->meta.buffer_docs)
		ngram_corrupted(index, "write buffer holds fewer documents than its metapage says");
}

void
ngram_query_close(NgramQuery *q)
{
	for (int i = 0; i < q->nsegs; i++)
		ngram_source_close(&q->sources[i]);
}

void
ngram_cursor_init(NgramQuery *q, NgramCursor *c)
{
	memset(c, 0, sizeof(*c));
	c->ranges = palloc(sizeof(FmRange) * Max(q->nsegs, 1));
	for (int i = 0; i < q->nsegs; i++)
		fm_full_range(&q->segs[i], &c->ranges[i]);
	c->symcap = 16;
	c->symbols = palloc(sizeof(uint32) * c->symcap);
	c->count = (uint64) q->meta.nsymbols;
}

void
ngram_cursor_copy(NgramQuery *q, NgramCursor *dst, const NgramCursor *src)
{
	*dst = *src;
	dst->ranges = palloc(sizeof(FmRange) * Max(q->nsegs, 1));
	memcpy(dst->ranges, src->ranges, sizeof(FmRange) * q->nsegs);
	dst->symbols = palloc(sizeof(uint32) * src->symcap);
	memcpy(dst->symbols, src->symbols, sizeof(uint32) * src->len);
	if (src->matchcap > 0)
	{
		dst->match_doc = palloc(sizeof(uint32) * src->matchcap);
		dst->match_off = palloc(sizeof(uint32) * src->matchcap);
		memcpy(dst->match_doc, src->match_doc, sizeof(uint32) * src->nmatches);
		memcpy(dst->match_off, src->match_off, sizeof(uint32) * src->nmatches);
	}
}

static void
add_match(NgramCursor *c, uint32 doc, uint32 off)
{
	if (c->nmatches == c->matchcap)
	{
		c->matchcap = Max(c->matchcap * 2, 64);
		if (c->match_doc)
		{
			c->match_doc = repalloc_huge(c->match_doc, sizeof(uint32) * c->matchcap);
			c->match_off = repalloc_huge(c->match_off, sizeof(uint32) * c->matchcap);
		}
		else
		{
			c->match_doc = palloc_extended(sizeof(uint32) * c->matchcap, MCXT_ALLOC_HUGE);
			c->match_off = palloc_extended(sizeof(uint32) * c->matchcap, MCXT_ALLOC_HUGE);
		}
	}
	c->match_doc[c->nmatches] = doc;
	c->match_off[c->nmatches] = off;
	c->nmatches++;
}

bool
ngram_cursor_extend(NgramQuery *q, NgramCursor *c, uint32 s)
{
	uint64		count = 0;

	for (int i = 0; i < q->nsegs; i++)
	{
		fm_extend(&q->segs[i], &c->ranges[i], s);
		count += fm_range_count(&c->ranges[i]);
	}
	if (c->len == 0)
	{
		/* the empty n-gram occurs everywhere: list the occurrences of s */
		for (uint32 d = 0; d < q->nbuffer; d++)
		{
			const NgramDoc *doc = &q->buffer[d];

			for (uint32 o = 0; o < doc->len; o++)
				if (doc->symbols[o] == s)
					add_match(c, d, o);
		}
	}
	else
	{
		uint32		kept = 0;

		for (uint32 m = 0; m < c->nmatches; m++)
		{
			const NgramDoc *doc = &q->buffer[c->match_doc[m]];
			uint32		end = c->match_off[m] + c->len;

			if (end < doc->len && doc->symbols[end] == s)
			{
				c->match_doc[kept] = c->match_doc[m];
				c->match_off[kept] = c->match_off[m];
				kept++;
			}
		}
		c->nmatches = kept;
	}
	count += c->nmatches;
	if (c->len == c->symcap)
	{
		c->symcap *= 2;
		c->symbols = repalloc(c->symbols, sizeof(uint32) * c->symcap);
	}
	c->symbols[c->len++] = s;
	c->count = count;
	return count > 0;
}

uint64
ngram_count_symbols(NgramQuery *q, const uint32 *symbols, uint32 len)
{
	NgramCursor c;

	ngram_cursor_init(q, &c);
	for (uint32 i = 0; i < len; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!ngram_cursor_extend(q, &c, symbols[i]))
			return 0;
	}
	return c.count;
}

/* ---- continuations ---- */

/* the symbol after each buffered occurrence (or after every position of the empty n-gram) */
typedef struct SymCount
{
	uint32		symbol;			/* hash key */
	uint64		count;
} SymCount;

static HTAB *
new_count_table(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(SymCount);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("n-gram continuations", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
add_count(HTAB *t, uint32 symbol, uint64 n)
{
	bool		found;
	SymCount   *e = hash_search(t, &symbol, HASH_ENTER, &found);

	if (!found)
		e->count = 0;
	e->count += n;
}

static void
buffer_continuations(NgramQuery *q, const NgramCursor *c, HTAB *t)
{
	if (c->len == 0)
	{
		for (uint32 d = 0; d < q->nbuffer; d++)
			for (uint32 o = 0; o < q->buffer[d].len; o++)
				add_count(t, q->buffer[d].symbols[o], 1);
		return;
	}
	for (uint32 m = 0; m < c->nmatches; m++)
	{
		const NgramDoc *doc = &q->buffer[c->match_doc[m]];
		uint32		end = c->match_off[m] + c->len;

		if (end < doc->len)
			add_count(t, doc->symbols[end], 1);
	}
}

static uint64
buffer_next_count(NgramQuery *q, const NgramCursor *c, uint32 s)
{
	uint64		n = 0;

	if (c->len == 0)
	{
		for (uint32 d = 0; d < q->nbuffer; d++)
			for (uint32 o = 0; o < q->buffer[d].len; o++)
				n += q->buffer[d].symbols[o] == s;
		return n;
	}
	for (uint32 m = 0; m < c->nmatches; m++)
	{
		const NgramDoc *doc = &q->buffer[c->match_doc[m]];
		uint32		end = c->match_off[m] + c->len;

		n += end < doc->len && doc->symbols[end] == s;
	}
	return n;
}

static int
next_cmp(const void *a, const void *b)
{
	const NgramNext *x = a;
	const NgramNext *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->symbol < y->symbol ? -1 : x->symbol > y->symbol;
}

typedef struct AllArg
{
	HTAB	   *table;
} AllArg;

static bool
all_emit(void *arg, uint32_t symbol, uint32_t count)
{
	add_count(((AllArg *) arg)->table, symbol, count);
	return true;
}

static NgramNext *
table_to_sorted(HTAB *t, uint32 *n)
{
	HASH_SEQ_STATUS seq;
	SymCount   *e;
	uint32		m = 0;
	NgramNext  *out = palloc(sizeof(NgramNext) * Max(hash_get_num_entries(t), 1));

	hash_seq_init(&seq, t);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->count == 0)
			continue;
		out[m].symbol = e->symbol;
		out[m].count = e->count;
		m++;
	}
	qsort(out, m, sizeof(NgramNext), next_cmp);
	*n = m;
	return out;
}

NgramNext *
ngram_next(NgramQuery *q, const NgramCursor *c, uint32 k, uint32 *n)
{
	uint32		kk = k;

	if (c->count == 0)
	{
		*n = 0;
		return palloc(sizeof(NgramNext));
	}
	if (k == 0)
	{
		HTAB	   *t = new_count_table();
		AllArg		arg = {t};

		for (int i = 0; i < q->nsegs; i++)
			fm_next_all(&q->segs[i], &c->ranges[i], all_emit, &arg, ngram_allocator());
		buffer_continuations(q, c, t);
		return table_to_sorted(t, n);
	}

	for (;;)
	{
		uint64		bound = 0;
		WaveletCount *top = palloc(sizeof(WaveletCount) * kk);
		HTAB	   *cands = new_count_table();
		NgramNext  *all;
		uint32		m;
		HASH_SEQ_STATUS seq;
		SymCount   *e;

		CHECK_FOR_INTERRUPTS();
		/* candidates: each segment's top kk, every buffered continuation */
		for (int i = 0; i < q->nsegs; i++)
		{
			uint32		got = fm_next_top_k(&q->segs[i], &c->ranges[i], kk, top,
											ngram_allocator());

			for (uint32 j = 0; j < got; j++)
				add_count(cands, top[j].symbol, 0);
			if (got == kk)
				bound += top[kk - 1].count;
		}
		buffer_continuations(q, c, cands);
		/* exact totals */
		hash_seq_init(&seq, cands);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			uint64		total = 0;

			for (int i = 0; i < q->nsegs; i++)
				total += fm_next_count(&q->segs[i], &c->ranges[i], e->symbol);
			e->count = total + buffer_next_count(q, c, e->symbol);
		}
		all = table_to_sorted(cands, &m);
		/*
		 * Done when no unlisted symbol can reach the k-th total: strictly
		 * (an equal one might sort before it on its symbol), except with a
		 * single segment and an empty buffer, where the wavelet matrix
		 * already breaks ties by symbol.
		 */
		if (bound == 0 || (m >= k && all[k - 1].count > bound) ||
			(q->nsegs == 1 && q->nbuffer == 0))
		{
			*n = Min(m, k);
			return all;
		}
		kk = kk * 4;
		pfree(top);
		hash_destroy(cands);
		pfree(all);
	}
}

void
ngram_next_counts(NgramQuery *q, const NgramCursor *c, const uint32 *cands, uint32 ncands,
				  uint64 *counts)
{
	for (uint32 j = 0; j < ncands; j++)
	{
		uint64		total = 0;

		if (c->count > 0)
		{
			for (int i = 0; i < q->nsegs; i++)
				total += fm_next_count(&q->segs[i], &c->ranges[i], cands[j]);
			total += buffer_next_count(q, c, cands[j]);
		}
		counts[j] = total;
	}
}

/* ---- documents ---- */

static int
uint32_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y;
}

static int
hit_cmp(const void *a, const void *b)
{
	const NgramDocHit *x = a;
	const NgramDocHit *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

NgramDocHit *
ngram_cursor_docs(NgramQuery *q, const NgramCursor *c, uint32 *n)
{
	uint64		total = c->count;
	NgramDocHit *hits;
	uint64		m = 0;
	uint32		out = 0;

	if (c->len == 0 || total == 0)
	{
		*n = 0;
		return palloc(sizeof(NgramDocHit));
	}
	hits = palloc_extended(sizeof(NgramDocHit) * total, MCXT_ALLOC_HUGE);
	for (int i = 0; i < q->nsegs; i++)
	{
		const FmRange *r = &c->ranges[i];
		uint32		n_in = fm_range_count(r);
		uint32	   *pos;
		uint32		got;
		uint32		prev_doc = UINT32_MAX;

		if (n_in == 0)
			continue;
		pos = palloc_extended(sizeof(uint32) * n_in, MCXT_ALLOC_HUGE);
		got = fm_locate_range(&q->segs[i], r->sp, r->ep, pos, ngram_allocator());
		if (got != n_in)
			ngram_corrupted(q->index, "occurrences not found by locate");
		/* in position order, the documents' binary searches share their lines */
		qsort(pos, got, sizeof(uint32), uint32_cmp);
		for (uint32 j = 0; j < got; j++)
		{
			uint32		doc = fm_position_doc(&q->segs[i], pos[j]);

			if (doc == UINT32_MAX)
				ngram_corrupted(q->index, "occurrence outside every document");
			if (doc == prev_doc)
			{
				hits[m - 1].occurrences++;
				continue;
			}
			hits[m].key = fm_doc_key(&q->segs[i], doc);
			hits[m].occurrences = 1;
			m++;
			prev_doc = doc;
		}
		pfree(pos);
	}
	for (uint32 j = 0; j < c->nmatches; j++)
	{
		hits[m].key = q->buffer[c->match_doc[j]].key;
		hits[m].occurrences = 1;
		m++;
	}
	qsort(hits, m, sizeof(NgramDocHit), hit_cmp);
	for (uint64 j = 0; j < m; j++)
	{
		if (out > 0 && hits[out - 1].key == hits[j].key)
			hits[out - 1].occurrences += hits[j].occurrences;
		else
			hits[out++] = hits[j];
	}
	*n = out;
	return hits;
}
