/*-------------------------------------------------------------------------
 *
 * fm_index.c
 *	  Builds an FM-index segment's line image from a set of documents, and
 *	  answers the per-segment queries: extend an n-gram on the right, count,
 *	  list or check continuations, locate occurrences, recover the text.
 *	  Layout and conventions: fm_index.h.  PostgreSQL-free.
 *
 * Build, in the order that keeps the peak at about 12 bytes per symbol:
 * lay out T (4n); SA-IS (4n for SA plus its scratch); one pass over SA
 * marks the sampled rows, copies their positions, and overwrites SA[i] by
 * BWT[i] = T[SA[i] - 1] (the row is not needed again); T is freed; the
 * wavelet matrix is built over the BWT into the image.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "fm_index.h"
#include "sais.h"

#define PER_LINE32	(NGRAM_LINE_BYTES / 4)
#define PER_LINE64	(NGRAM_LINE_BYTES / 8)

/* ---- reading arrays stored in lines ---- */

static inline uint32_t
read_u32(const NgramLineSource *src, uint64_t first_line, uint64_t i)
{
	const uint8_t *line = ngram_line(src, first_line + i / PER_LINE32);
	uint32_t	v;

	memcpy(&v, line + (i % PER_LINE32) * 4, 4);
	return v;
}

static inline uint64_t
read_u64(const NgramLineSource *src, uint64_t first_line, uint64_t i)
{
	const uint8_t *line = ngram_line(src, first_line + i / PER_LINE64);
	uint64_t	v;

	memcpy(&v, line + (i % PER_LINE64) * 8, 8);
	return v;
}

/* ---- collecting documents ---- */

void
fm_layout_init(FmLayout *layout, const NgramAllocator *allocator)
{
	memset(layout, 0, sizeof(*layout));
	layout->allocator = allocator;
	layout->cap = 1024;
	layout->text = allocator->alloc(layout->cap * sizeof(uint32_t));
	layout->text[0] = FM_SEP;
	layout->len = 1;
	layout->doc_cap = 64;
	layout->doc_start = allocator->alloc(((size_t) layout->doc_cap + 1) * sizeof(uint32_t));
	layout->doc_keys = allocator->alloc((size_t) layout->doc_cap * sizeof(uint64_t));
	layout->max_symbol = FM_END;
}

static void *
grow(const NgramAllocator *allocator, void *old, size_t oldsize, size_t newsize)
{
	void	   *p = allocator->alloc(newsize);

	memcpy(p, old, oldsize);
	allocator->release(old);
	return p;
}

/*
 * Room for len more symbols, a separator and the final END; false when
 * the segment would exceed FM_MAX_SYMBOLS.
 */
static bool
layout_reserve(FmLayout *layout, uint32_t len)
{
	uint64_t	need = layout->len + (uint64_t) len + 2;

	if (need > FM_MAX_SYMBOLS || layout->ndocs >= FM_MAX_SYMBOLS / 2)
		return false;
	if (need > layout->cap)
	{
		uint64_t	cap = layout->cap;

		while (cap < need)
			cap *= 2;
		layout->text = grow(layout->allocator, layout->text, layout->len * sizeof(uint32_t),
							cap * sizeof(uint32_t));
		layout->cap = cap;
	}
	if (layout->ndocs == layout->doc_cap)
	{
		uint32_t	cap = layout->doc_cap * 2;

		layout->doc_start = grow(layout->allocator, layout->doc_start,
								 ((size_t) layout->ndocs + 1) * sizeof(uint32_t),
								 ((size_t) cap + 1) * sizeof(uint32_t));
		layout->doc_keys = grow(layout->allocator, layout->doc_keys,
								(size_t) layout->ndocs * sizeof(uint64_t),
								(size_t) cap * sizeof(uint64_t));
		layout->doc_cap = cap;
	}
	return true;
}

static void
layout_close_doc(FmLayout *layout, uint32_t start, uint64_t key)
{
	layout->doc_start[layout->ndocs] = start;
	layout->doc_keys[layout->ndocs] = key;
	layout->ndocs++;
	layout->text[layout->len++] = FM_SEP;
}

/* symbols of 1 or 4 bytes, reversed and shifted past END and SEP */
static bool
layout_add(FmLayout *layout, const void *symbols, int width, uint32_t len, uint64_t key)
{
	uint32_t	start;

	if (!layout_reserve(layout, len))
		return false;
	start = (uint32_t) layout->len;
	for (uint32_t i = 0; i < len; i++)
	{
		uint32_t	j = len - 1 - i;
		uint32_t	c = (width == 1 ? ((const uint8_t *) symbols)[j]
						 : ((const uint32_t *) symbols)[j]) + FM_FIRST_SYMBOL;

		layout->text[start + i] = c;
		if (c > layout->max_symbol)
			layout->max_symbol = c;
	}
	layout->len += len;
	layout_close_doc(layout, start, key);
	return true;
}

bool
fm_layout_add(FmLayout *layout, const uint32_t *symbols, uint32_t len, uint64_t key)
{
	return layout_add(layout, symbols, 4, len, key);
}

bool
fm_layout_add_bytes(FmLayout *layout, const uint8_t *bytes, uint32_t len, uint64_t key)
{
	return layout_add(layout, bytes, 1, len, key);
}

void
fm_layout_free(FmLayout *layout)
{
	const NgramAllocator *a = layout->allocator;

	if (layout->text)
		a->release(layout->text);
	if (layout->doc_start)
		a->release(layout->doc_start);
	if (layout->doc_keys)
		a->release(layout->doc_keys);
	layout->text = NULL;
	layout->doc_start = NULL;
	layout->doc_keys = NULL;
}

uint64_t
fm_build_memory(uint64_t nsymbols, uint32_t ndocs)
{
	uint64_t	n = nsymbols + ndocs + 2;

	/* T, SA and SA-IS scratch (4n each), the image (under 2n), doc arrays */
	return n * 14 + (uint64_t) ndocs * 12 + (1 << 20);
}

/* ---- build ---- */

int
fm_build(FmLayout *layout, uint32_t sample_rate, uint32_t sigma_min, uint8_t **image,
		 uint64_t *nlines)
{
	const NgramAllocator *a = layout->allocator;
	FmHeader	h;
	uint32_t	n;
	uint32_t   *text;
	uint32_t   *sa;
	uint32_t   *counts;
	uint64_t   *sampled_bits;
	uint8_t    *img;
	uint64_t	line;
	uint32_t	nsamples;
	uint32_t	k;
	int			rc;

	if (sample_rate < 1)
		sample_rate = 1;
	/* the final END; doc_start[D] points at it */
	layout->text[layout->len] = FM_END;
	layout->doc_start[layout->ndocs] = (uint32_t) layout->len;
	layout->len++;
	n = (uint32_t) layout->len;
	text = layout->text;

	memset(&h, 0, sizeof(h));
	h.magic = FM_MAGIC;
	h.version = FM_VERSION;
	h.n = n;
	h.ndocs = layout->ndocs;
	h.sigma = layout->max_symbol + 1;
	if (h.sigma < sigma_min)
		h.sigma = sigma_min;
	if (h.sigma < FM_FIRST_SYMBOL)
		h.sigma = FM_FIRST_SYMBOL;
	h.sample_rate = sample_rate;
	h.nsymbols = (uint64_t) n - h.ndocs - 2;

	/* the layout of the image */
	nsamples = (n - 1) / sample_rate + 1;	/* positions 0, s, 2s, ... < n */
	line = FM_HEADER_LINES;
	h.c_line = line;
	line += ngram_lines_for_bytes(((uint64_t) h.sigma + 1) * 4);
	h.wavelet.first_line = line;
	line += wavelet_lines(n, wavelet_levels_for(h.sigma));
	h.sampled_line = line;
	line += bitvec_lines(n);
	h.samples_line = line;
	line += ngram_lines_for_bytes((uint64_t) nsamples * 4);
	h.doc_start_line = line;
	line += ngram_lines_for_bytes(((uint64_t) h.ndocs + 1) * 4);
	h.doc_keys_line = line;
	line += ngram_lines_for_bytes((uint64_t) h.ndocs * 8);
	if (h.ndocs == 0)
		line++;					/* keep every section non-empty */
	h.total_lines = line;

	img = a->alloc(h.total_lines * NGRAM_LINE_BYTES);
	memset(img, 0, h.total_lines * NGRAM_LINE_BYTES);

	/* C */
	counts = a->alloc(((size_t) h.sigma + 1) * sizeof(uint32_t));
	memset(counts, 0, ((size_t) h.sigma + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < n; i++)
		counts[text[i] + 1]++;
	for (uint32_t c = 1; c <= h.sigma; c++)
		counts[c] += counts[c - 1];
	memcpy(img + h.c_line * NGRAM_LINE_BYTES, counts, ((size_t) h.sigma + 1) * 4);
	a->release(counts);

	/* documents */
	memcpy(img + h.doc_start_line * NGRAM_LINE_BYTES, layout->doc_start,
		   ((size_t) h.ndocs + 1) * 4);
	if (h.ndocs > 0)
		memcpy(img + h.doc_keys_line * NGRAM_LINE_BYTES, layout->doc_keys,
			   (size_t) h.ndocs * 8);
	a->release(layout->doc_start);
	a->release(layout->doc_keys);
	layout->doc_start = NULL;
	layout->doc_keys = NULL;

	/* suffix array */
	sa = a->alloc((size_t) n * sizeof(uint32_t));
	rc = sais_build(text, sa, n, h.sigma, a);
	if (rc != 0)
	{
		a->release(sa);
		a->release(img);
		fm_layout_free(layout);
		return -1;
	}

	/* samples, then SA[i] becomes BWT[i] */
	sampled_bits = a->alloc(((size_t) n / 64 + 1) * sizeof(uint64_t));
	memset(sampled_bits, 0, ((size_t) n / 64 + 1) * sizeof(uint64_t));
	k = 0;
	{
		uint8_t    *samples = img + h.samples_line * NGRAM_LINE_BYTES;

		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	p = sa[i];

			if (p % sample_rate == 0)
			{
				sampled_bits[i / 64] |= (uint64_t) 1 << (i % 64);
				memcpy(samples + (uint64_t) k * 4, &p, 4);
				k++;
			}
			sa[i] = p > 0 ? text[p - 1] : text[n - 1];
			if (a->check && (i & 0xFFFFF) == 0)
				a->check();
		}
	}
	if (k != nsamples)
	{
		a->release(sampled_bits);
		a->release(sa);
		a->release(img);
		fm_layout_free(layout);
		return -1;
	}
	bitvec_build(sampled_bits, n, img + h.sampled_line * NGRAM_LINE_BYTES);
	a->release(sampled_bits);
	fm_layout_free(layout);

	rc = wavelet_build(sa, n, h.sigma, h.wavelet.first_line,
					   img + h.wavelet.first_line * NGRAM_LINE_BYTES, &h.wavelet, a);
	a->release(sa);
	if (rc != 0)
	{
		a->release(img);
		return -1;
	}

	memcpy(img, &h, sizeof(h));
	*image = img;
	*nlines = h.total_lines;
	return 0;
}

/* ---- queries ---- */

bool
fm_open(FmSegment *seg, NgramLineSource src)
{
	FmHeader   *h = &seg->header;
	uint8_t		buf[FM_HEADER_LINES * NGRAM_LINE_BYTES];

	for (int i = 0; i < FM_HEADER_LINES; i++)
		memcpy(buf + i * NGRAM_LINE_BYTES, ngram_line(&src, i), NGRAM_LINE_BYTES);
	memcpy(h, buf, sizeof(*h));
	seg->src = src;
	if (h->magic != FM_MAGIC || h->version != FM_VERSION)
		return false;
	if (h->n < 2 || h->sigma < FM_FIRST_SYMBOL || h->sample_rate < 1 ||
		h->nsymbols != (uint64_t) h->n - h->ndocs - 2 ||
		h->wavelet.n != h->n || h->wavelet.sigma != h->sigma ||
		h->wavelet.levels != wavelet_levels_for(h->sigma) ||
		h->wavelet.level_lines != bitvec_lines(h->n) ||
		h->wavelet.first_line + wavelet_lines(h->n, h->wavelet.levels) > h->sampled_line ||
		h->c_line < FM_HEADER_LINES || h->c_line >= h->wavelet.first_line ||
		h->sampled_line >= h->samples_line || h->samples_line >= h->doc_start_line ||
		h->doc_start_line >= h->doc_keys_line || h->doc_keys_line >= h->total_lines)
		return false;
	return true;
}

static inline uint32_t
c_of(const FmSegment *seg, uint32_t c)
{
	return read_u32(&seg->src, seg->header.c_line, c);
}

bool
fm_extend(const FmSegment *seg, FmRange *r, uint32_t s)
{
	uint32_t	c = s + FM_FIRST_SYMBOL;
	uint32_t	rsp,
				rep,
				base;

	if (s >= seg->header.sigma - FM_FIRST_SYMBOL || r->sp >= r->ep)
	{
		r->sp = r->ep = 0;
		return false;
	}
	wavelet_rank_pair(&seg->header.wavelet, &seg->src, c, r->sp, r->ep, &rsp, &rep);
	base = c_of(seg, c);
	r->sp = base + rsp;
	r->ep = base + rep;
	return r->sp < r->ep;
}

uint32_t
fm_next_count(const FmSegment *seg, const FmRange *r, uint32_t s)
{
	uint32_t	rsp,
				rep;

	if (s >= seg->header.sigma - FM_FIRST_SYMBOL || r->sp >= r->ep)
		return 0;
	wavelet_rank_pair(&seg->header.wavelet, &seg->src, s + FM_FIRST_SYMBOL, r->sp, r->ep,
					  &rsp, &rep);
	return rep - rsp;
}

uint32_t
fm_next_top_k(const FmSegment *seg, const FmRange *r, uint32_t k, WaveletCount *out,
			  const NgramAllocator *allocator)
{
	uint32_t	got;

	if (r->sp >= r->ep || k == 0)
		return 0;
	got = wavelet_top_k(&seg->header.wavelet, &seg->src, r->sp, r->ep, FM_FIRST_SYMBOL, k, out,
						allocator);
	for (uint32_t i = 0; i < got; i++)
		out[i].symbol -= FM_FIRST_SYMBOL;
	return got;
}

typedef struct UnshiftArg
{
	bool		(*emit) (void *arg, uint32_t symbol, uint32_t count);
	void	   *arg;
} UnshiftArg;

static bool
unshift_emit(void *arg, uint32_t symbol, uint32_t count)
{
	UnshiftArg *u = arg;

	return u->emit(u->arg, symbol - FM_FIRST_SYMBOL, count);
}

void
fm_next_all(const FmSegment *seg, const FmRange *r,
			bool (*emit) (void *arg, uint32_t symbol, uint32_t count), void *arg,
			const NgramAllocator *allocator)
{
	UnshiftArg	u = {emit, arg};

	if (r->sp >= r->ep)
		return;
	wavelet_distinct(&seg->header.wavelet, &seg->src, r->sp, r->ep, FM_FIRST_SYMBOL,
					 unshift_emit, &u, allocator);
}

/* LF(row) = C[c] + rank(c, row), c = BWT[row] */
static inline uint32_t
lf(const FmSegment *seg, uint32_t row, uint32_t *symbol)
{
	uint32_t	rank;
	uint32_t	c = wavelet_access_rank(&seg->header.wavelet, &seg->src, row, &rank);

	*symbol = c;
	return c_of(seg, c) + rank;
}

uint32_t
fm_locate(const FmSegment *seg, uint32_t row)
{
	uint32_t	steps = 0;

	for (;;)
	{
		uint32_t	rank1;
		uint32_t	c;

		if (bitvec_access(&seg->src, seg->header.sampled_line, row, &rank1))
			return read_u32(&seg->src, seg->header.samples_line, rank1) + steps;
		row = lf(seg, row, &c);
		steps++;
		/* a valid image reaches a sample within sample_rate steps */
		if (steps > seg->header.sample_rate)
			return UINT32_MAX;
	}
}

/* ---- locating a whole range ---- */

static int
row_range_cmp(const void *x, const void *y)
{
	const uint32_t a = *(const uint32_t *) x;
	const uint32_t b = *(const uint32_t *) y;

	return a < b ? -1 : a > b;
}

typedef struct SymbolList
{
	WaveletCount *items;
	uint32_t	n;
	uint32_t	cap;
	const NgramAllocator *allocator;
} SymbolList;

static bool
collect_symbol(void *arg, uint32_t symbol, uint32_t count)
{
	SymbolList *l = arg;

	if (l->n == l->cap)
	{
		uint32_t	cap = l->cap ? l->cap * 2 : 16;

		l->items = l->items ? grow(l->allocator, l->items, l->n * sizeof(WaveletCount),
								   cap * sizeof(WaveletCount))
			: l->allocator->alloc(cap * sizeof(WaveletCount));
		l->cap = cap;
	}
	l->items[l->n].symbol = symbol;
	l->items[l->n].count = count;
	l->n++;
	return true;
}

/* ranges this short are walked row by row */
#define LOCATE_ROW_BY_ROW	4

typedef struct RowRange
{
	uint32_t	a;
	uint32_t	b;
} RowRange;

/*
 * SA[sp..ep) as a multiset of positions (not per row: callers only need
 * where the occurrences are), into out (room for ep - sp).
 *
 * Rather than walking LF from each row to a sample (sample_rate random
 * accesses per row), whole ranges are walked: at step k every range of
 * LF^k([sp, ep)) gives its sampled rows' positions + k through one rank of
 * the sampled bitvector and consecutive samples, then splits by preceding
 * symbol into the ranges of step k + 1.  A row at text position p is
 * sampled at step p mod sample_rate and at no other step below
 * sample_rate, so every occurrence is reported exactly once after
 * sample_rate steps.  Ranges stay long while occurrences share their left
 * context, and their lines are read in order.
 */
uint32_t
fm_locate_range(const FmSegment *seg, uint32_t sp, uint32_t ep, uint32_t *out,
				const NgramAllocator *allocator)
{
	const FmHeader *h = &seg->header;
	uint32_t	nout = 0;
	RowRange   *cur;
	RowRange   *next;
	uint32_t	ncur = 0;
	uint32_t	cap = 64;
	SymbolList	syms = {NULL, 0, 0, allocator};

	if (sp >= ep)
		return 0;
	cur = allocator->alloc(cap * sizeof(RowRange));
	next = allocator->alloc(cap * sizeof(RowRange));
	cur[ncur].a = sp;
	cur[ncur].b = ep;
	ncur++;
	for (uint32_t k = 0; k < h->sample_rate && ncur > 0 && nout < ep - sp; k++)
	{
		uint32_t	nnext = 0;

		if (allocator->check)
			allocator->check();
		for (uint32_t r = 0; r < ncur; r++)
		{
			uint32_t	a = cur[r].a;
			uint32_t	b = cur[r].b;
			uint32_t	s0;
			uint32_t	s1;

			if (b - a <= LOCATE_ROW_BY_ROW)
			{
				/* short ranges: one LF per row is cheaper than splitting */
				for (uint32_t row = a; row < b && nout < ep - sp; row++)
				{
					uint32_t	rank1;
					uint32_t	c;
					uint32_t	to;

					if (bitvec_access(&seg->src, h->sampled_line, row, &rank1))
					{
						out[nout++] = read_u32(&seg->src, h->samples_line, rank1) + k;
						continue;
					}
					if (k + 1 == h->sample_rate)
						continue;
					to = lf(seg, row, &c);
					if (c == FM_END)
						continue;
					if (nnext == cap)
					{
						next = grow(allocator, next, nnext * sizeof(RowRange),
									cap * 2 * sizeof(RowRange));
						cur = grow(allocator, cur, ncur * sizeof(RowRange),
								   cap * 2 * sizeof(RowRange));
						cap *= 2;
					}
					next[nnext].a = to;
					next[nnext].b = to + 1;
					nnext++;
				}
				continue;
			}
			s0 = bitvec_rank1(&seg->src, h->sampled_line, a);
			s1 = bitvec_rank1(&seg->src, h->sampled_line, b);

			for (uint32_t i = s0; i < s1 && nout < ep - sp; i++)
				out[nout++] = read_u32(&seg->src, h->samples_line, i) + k;
			if (s1 - s0 == b - a || k + 1 == h->sample_rate)
				continue;		/* every row sampled: nothing left to find here */
			syms.n = 0;
			wavelet_distinct(&h->wavelet, &seg->src, a, b, FM_SEP, collect_symbol, &syms,
							 allocator);
			for (uint32_t j = 0; j < syms.n; j++)
			{
				uint32_t	c = syms.items[j].symbol;
				uint32_t	ra,
							rb,
							base = c_of(seg, c);

				wavelet_rank_pair(&h->wavelet, &seg->src, c, a, b, &ra, &rb);
				if (nnext == cap)
				{
					RowRange   *bigger_next = grow(allocator, next, nnext * sizeof(RowRange),
												   cap * 2 * sizeof(RowRange));
					RowRange   *bigger_cur = grow(allocator, cur, ncur * sizeof(RowRange),
												  cap * 2 * sizeof(RowRange));

					next = bigger_next;
					cur = bigger_cur;
					cap *= 2;
				}
				next[nnext].a = base + ra;
				next[nnext].b = base + rb;
				nnext++;
			}
		}
		/* the next step reads its ranges in row order */
		{
			RowRange   *t = cur;

			cur = next;
			next = t;
			ncur = nnext;
		}
		if (ncur > 1)
			qsort(cur, ncur, sizeof(RowRange), row_range_cmp);
	}
	allocator->release(cur);
	allocator->release(next);
	if (syms.items)
		allocator->release(syms.items);
	return nout;
}

uint32_t
fm_position_doc(const FmSegment *seg, uint32_t p)
{
	uint32_t	lo = 0,
				hi = seg->header.ndocs;	/* doc_start[lo] <= p < doc_start[hi] */

	if (seg->header.ndocs == 0)
		return UINT32_MAX;
	while (hi - lo > 1)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (read_u32(&seg->src, seg->header.doc_start_line, mid) <= p)
			lo = mid;
		else
			hi = mid;
	}
	if (p < read_u32(&seg->src, seg->header.doc_start_line, lo) ||
		p >= read_u32(&seg->src, seg->header.doc_start_line, lo + 1))
		return UINT32_MAX;
	return lo;
}

uint32_t
fm_occurrence_doc(const FmSegment *seg, uint32_t row, uint32_t len, uint32_t *offset)
{
	uint32_t	p = fm_locate(seg, row);
	uint32_t	doc;
	uint32_t	start,
				doclen,
				q;

	if (p == UINT32_MAX || (doc = fm_position_doc(seg, p)) == UINT32_MAX)
		return UINT32_MAX;
	start = read_u32(&seg->src, seg->header.doc_start_line, doc);
	doclen = read_u32(&seg->src, seg->header.doc_start_line, doc + 1) - start - 1;
	q = p - start;
	if (q + len > doclen)
		return UINT32_MAX;
	*offset = doclen - q - len;
	return doc;
}

uint64_t
fm_doc_key(const FmSegment *seg, uint32_t doc)
{
	return read_u64(&seg->src, seg->header.doc_keys_line, doc);
}

uint32_t
fm_doc_length(const FmSegment *seg, uint32_t doc)
{
	return read_u32(&seg->src, seg->header.doc_start_line, doc + 1) -
		read_u32(&seg->src, seg->header.doc_start_line, doc) - 1;
}

void
fm_extract_all(const FmSegment *seg,
			   bool (*emit) (void *arg, uint32_t doc, const uint32_t *symbols, uint32_t len),
			   void *arg, const NgramAllocator *allocator)
{
	const FmHeader *h = &seg->header;
	uint32_t	maxlen = 0;
	uint32_t   *buf;
	uint32_t	row = 0;		/* the suffix END */
	uint32_t	c;
	uint64_t	steps = 0;

	if (h->ndocs == 0)
		return;
	for (uint32_t d = 0; d < h->ndocs; d++)
	{
		uint32_t	len = fm_doc_length(seg, d);

		if (len > maxlen)
			maxlen = len;
	}
	buf = allocator->alloc(((size_t) maxlen + 1) * sizeof(uint32_t));

	/* BWT[0] = T[n - 2] = the SEP closing the last document */
	row = lf(seg, row, &c);
	for (uint32_t d = h->ndocs; d-- > 0;)
	{
		uint32_t	len = fm_doc_length(seg, d);

		/* reading T backwards yields each document forwards */
		for (uint32_t i = 0; i < len; i++)
		{
			row = lf(seg, row, &c);
			buf[i] = c - FM_FIRST_SYMBOL;
			if (allocator->check && (++steps & 0xFFFF) == 0)
				allocator->check();
		}
		row = lf(seg, row, &c);	/* the SEP opening the document */
		if (!emit(arg, d, buf, len))
			break;
	}
	allocator->release(buf);
}
