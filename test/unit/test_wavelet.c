/*
 * test_wavelet.c
 *	  Rank bitvectors and the wavelet matrix (src/ngram/wavelet.c) against
 *	  brute force.
 *
 * Every read goes through a line source that copies the requested line
 * into one shared 64-byte buffer, so code that keeps a line pointer across
 * two reads sees the wrong line and fails; the source also checks that no
 * line outside the image is read and counts reads, which bounds the lines
 * per rank and shows that top-k does not enumerate every distinct symbol.
 * Images are built at a nonzero first line inside a larger buffer (garbage
 * around them) half of the time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ngram/wavelet.h"

static int	failures = 0;
static long checks = 0;

#define CHECK(cond, ...) \
	do { \
		checks++; \
		if (!(cond)) \
		{ \
			failures++; \
			if (failures <= 30) \
			{ \
				fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
				fprintf(stderr, __VA_ARGS__); \
				fprintf(stderr, "\n"); \
			} \
		} \
	} while (0)

/* deterministic xorshift so failures are reproducible */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint32_t
rnd_below(uint64_t bound)
{
	return bound == 0 ? 0 : (uint32_t) (rnd() % bound);
}

/* ---- allocator: malloc with live-block and check() accounting ---- */

static long live_blocks = 0;
static long check_calls = 0;

static void *
t_alloc(size_t size)
{
	void	   *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	live_blocks++;
	return p;
}

static void
t_release(void *p)
{
	live_blocks--;
	free(p);
}

static void
t_check(void)
{
	check_calls++;
}

static const NgramAllocator allocator = {t_alloc, t_release, t_check};

/* ---- line source: one shared buffer, bounds check, read counter ---- */

typedef struct TestSource
{
	const uint8_t *base;
	uint64_t	lo;				/* first readable line */
	uint64_t	hi;				/* one past the last readable line */
	uint64_t	reads;
	uint8_t		buf[NGRAM_LINE_BYTES];
} TestSource;

static const uint8_t *
test_line(void *ctx, uint64_t lineno)
{
	TestSource *ts = ctx;

	ts->reads++;
	if (lineno < ts->lo || lineno >= ts->hi)
	{
		failures++;
		if (failures <= 30)
			fprintf(stderr, "FAIL line %llu outside [%llu, %llu)\n",
					(unsigned long long) lineno, (unsigned long long) ts->lo,
					(unsigned long long) ts->hi);
		memset(ts->buf, 0xEE, sizeof(ts->buf));
		return ts->buf;
	}
	memcpy(ts->buf, ngram_memory_line((void *) ts->base, lineno), NGRAM_LINE_BYTES);
	return ts->buf;
}

/* an image of `lines` lines placed at line `first` of a garbage-filled buffer */
static uint8_t *
make_image(uint64_t first, uint64_t lines)
{
	uint64_t	total = (first + lines + 2) * NGRAM_LINE_BYTES;
	uint8_t    *buf = malloc(total);
	uint64_t	j;

	for (j = 0; j < total; j++)
		buf[j] = (uint8_t) rnd();
	return buf;
}

/* ---- bitvectors ---- */

static void
test_bitvec_one(uint32_t nbits, int density, uint64_t first)
{
	uint64_t	words = (uint64_t) nbits / 64 + 2;
	uint64_t   *bits = malloc(words * 8);
	uint64_t	lines = bitvec_lines(nbits);
	uint8_t    *img = make_image(first, lines);
	TestSource	ts;
	NgramLineSource src = {test_line, &ts};
	uint32_t	i,
				ones = 0;

	/* garbage past nbits too: the build must ignore it */
	for (i = 0; i < words; i++)
	{
		uint64_t	w = rnd();

		if (density == 0)
			w = 0;
		else if (density == 1)
			w = ~UINT64_C(0);
		else if (density == 2)
			w &= rnd() & rnd() & rnd();
		bits[i] = w;
	}
	for (i = nbits; i < (uint32_t) (words * 64) && i - nbits < 64 * 2; i++)
		bits[i / 64] |= (uint64_t) (rnd() & 1) << (i % 64);

	CHECK(lines == (nbits == 0 ? 1 : ((uint64_t) nbits + 479) / 480),
		  "bitvec_lines(%u) = %llu", nbits, (unsigned long long) lines);
	bitvec_build(bits, nbits, img + first * NGRAM_LINE_BYTES);

	/* the image must not depend on the bits past nbits */
	{
		uint64_t   *bits2 = malloc(words * 8);
		uint8_t    *img2 = malloc(lines * NGRAM_LINE_BYTES);

		memcpy(bits2, bits, words * 8);
		for (i = nbits; i < (uint32_t) (words * 64); i++)
			bits2[i / 64] ^= (uint64_t) 1 << (i % 64);
		bitvec_build(bits2, nbits, img2);
		CHECK(memcmp(img2, img + first * NGRAM_LINE_BYTES, lines * NGRAM_LINE_BYTES) == 0,
			  "bitvec n=%u: image depends on bits past nbits", nbits);
		free(bits2);
		free(img2);
	}
	ts.base = img;
	ts.lo = first;
	ts.hi = first + lines;

	for (i = 0; i <= nbits; i++)
	{
		uint32_t	r;

		ts.reads = 0;
		r = bitvec_rank1(&src, first, i);
		CHECK(r == ones, "bitvec n=%u rank1(%u) = %u want %u", nbits, i, r, ones);
		CHECK(ts.reads <= 1, "bitvec rank1 read %llu lines", (unsigned long long) ts.reads);
		if (i < nbits)
		{
			bool		want = (bits[i / 64] >> (i % 64)) & 1;
			uint32_t	ra = 12345;
			bool		b;

			ts.reads = 0;
			b = bitvec_access(&src, first, i, &ra);
			CHECK(b == want && ra == ones, "bitvec n=%u access(%u) = %d/%u want %d/%u",
				  nbits, i, b, ra, want, ones);
			CHECK(ts.reads == 1, "bitvec access read %llu lines", (unsigned long long) ts.reads);
			ones += want;
		}
	}
	free(bits);
	free(img);
}

static void
test_bitvec(void)
{
	static const uint32_t lens[] = {0, 1, 63, 64, 65, 447, 448, 449, 479, 480, 481,
	959, 960, 961, 1440, 4800};
	size_t		j;
	int			d;

	for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
		for (d = 0; d < 4; d++)
			test_bitvec_one(lens[j], d, (j + d) % 2 ? 3 : 0);
	for (j = 0; j < 12; j++)
		test_bitvec_one(rnd_below(100001), (int) (j % 4), j % 2 ? 7 : 0);
	test_bitvec_one(100000, 3, 1);
	test_bitvec_one(96000, 1, 2);	/* multiple of 480, all ones */
}

/* ---- brute force helpers ---- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a;
	uint32_t	y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

static int
cmp_count(const void *a, const void *b)
{
	const WaveletCount *x = a;
	const WaveletCount *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->symbol > y->symbol) - (x->symbol < y->symbol);
}

/* distinct symbols >= min_symbol of seq[sp..ep) with counts, symbol order */
static uint32_t
brute_distinct(const uint32_t *seq, uint32_t sp, uint32_t ep, uint32_t min_symbol,
			   WaveletCount *out)
{
	uint32_t   *tmp = malloc(((size_t) (ep - sp) + 1) * sizeof(uint32_t));
	uint32_t	m = 0,
				d = 0,
				j;

	for (j = sp; j < ep; j++)
		if (seq[j] >= min_symbol)
			tmp[m++] = seq[j];
	qsort(tmp, m, sizeof(uint32_t), cmp_u32);
	for (j = 0; j < m; j++)
	{
		if (d > 0 && out[d - 1].symbol == tmp[j])
			out[d - 1].count++;
		else
		{
			out[d].symbol = tmp[j];
			out[d].count = 1;
			d++;
		}
	}
	free(tmp);
	return d;
}

typedef struct EmitState
{
	WaveletCount *got;
	uint32_t	n;
	uint32_t	stop_after;		/* return false on this emit (1-based), 0 never */
	const NgramLineSource *src;
	uint64_t	any_line;
	bool		after_stop;
} EmitState;

static bool
emit_cb(void *arg, uint32_t symbol, uint32_t count)
{
	EmitState  *es = arg;
	const uint8_t *l;

	if (es->after_stop)
	{
		failures++;
		fprintf(stderr, "FAIL distinct emitted after stop\n");
	}
	es->got[es->n].symbol = symbol;
	es->got[es->n].count = count;
	es->n++;
	/* clobber the shared line buffer: the descent must not rely on it */
	l = ngram_line(es->src, es->any_line);
	(void) l;
	if (es->stop_after != 0 && es->n == es->stop_after)
	{
		es->after_stop = true;
		return false;
	}
	return true;
}

/* ---- wavelet matrix ---- */

static void
check_ranges(const uint32_t *seq, uint32_t n, const WaveletInfo *info,
			 const NgramLineSource *src, TestSource *ts, uint32_t sp, uint32_t ep)
{
	static const uint32_t mins[] = {0, 2, 5};
	static const uint32_t ks[] = {1, 5, 20, 0};
	WaveletCount *want = malloc(((size_t) (ep - sp) + 1) * sizeof(WaveletCount));
	WaveletCount *got = malloc(((size_t) (ep - sp) + 1) * sizeof(WaveletCount));
	WaveletCount *sorted = malloc(((size_t) (ep - sp) + 1) * sizeof(WaveletCount));
	size_t		mi,
				ki;

	(void) n;
	for (mi = 0; mi < sizeof(mins) / sizeof(mins[0]); mi++)
	{
		uint32_t	d = brute_distinct(seq, sp, ep, mins[mi], want);
		uint32_t	j;
		EmitState	es;

		memcpy(sorted, want, (size_t) d * sizeof(WaveletCount));
		qsort(sorted, d, sizeof(WaveletCount), cmp_count);

		for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
		{
			uint32_t	k = ks[ki] ? ks[ki] : d + 3;
			uint32_t	expect = k < d ? k : d;
			uint32_t	r;
			WaveletCount *o = malloc(((size_t) k + 1) * sizeof(WaveletCount));

			r = wavelet_top_k(info, src, sp, ep, mins[mi], k, o, &allocator);
			CHECK(r == expect, "top_k sigma=%u n=%u [%u,%u) min=%u k=%u returned %u want %u",
				  info->sigma, info->n, sp, ep, mins[mi], k, r, expect);
			for (j = 0; j < r && j < expect; j++)
				CHECK(o[j].symbol == sorted[j].symbol && o[j].count == sorted[j].count,
					  "top_k sigma=%u [%u,%u) min=%u k=%u #%u = %u:%u want %u:%u",
					  info->sigma, sp, ep, mins[mi], k, j, o[j].symbol, o[j].count,
					  sorted[j].symbol, sorted[j].count);
			free(o);
		}

		/* full enumeration, then early stops */
		memset(&es, 0, sizeof(es));
		es.got = got;
		es.src = src;
		es.any_line = ts->lo;
		wavelet_distinct(info, src, sp, ep, mins[mi], emit_cb, &es, &allocator);
		CHECK(es.n == d, "distinct sigma=%u [%u,%u) min=%u: %u symbols want %u",
			  info->sigma, sp, ep, mins[mi], es.n, d);
		for (j = 0; j < es.n && j < d; j++)
			CHECK(got[j].symbol == want[j].symbol && got[j].count == want[j].count,
				  "distinct #%u = %u:%u want %u:%u", j, got[j].symbol, got[j].count,
				  want[j].symbol, want[j].count);
		if (d > 0)
		{
			uint32_t	stops[3] = {1, 3, 1 + rnd_below(d)};
			int			s;

			for (s = 0; s < 3; s++)
			{
				uint32_t	st = stops[s] < d ? stops[s] : d;

				memset(&es, 0, sizeof(es));
				es.got = got;
				es.src = src;
				es.any_line = ts->hi - 1;
				es.stop_after = st;
				wavelet_distinct(info, src, sp, ep, mins[mi], emit_cb, &es, &allocator);
				CHECK(es.n == st, "distinct stop after %u emitted %u", st, es.n);
				for (j = 0; j < es.n && j < st; j++)
					CHECK(got[j].symbol == want[j].symbol && got[j].count == want[j].count,
						  "distinct(stop) #%u", j);
			}
		}
	}
	free(want);
	free(got);
	free(sorted);
}

static void
test_wavelet_one(uint32_t sigma, uint32_t n, uint64_t first)
{
	uint32_t   *seq = malloc(((size_t) n + 1) * sizeof(uint32_t));
	uint32_t	levels = wavelet_levels_for(sigma);
	uint64_t	lines = wavelet_lines(n, levels);
	uint8_t    *img = make_image(first, lines);
	uint32_t	heavy[6];
	uint32_t   *cnt;
	uint32_t	track[8];
	uint32_t   *pre[8];
	WaveletInfo info;
	TestSource	ts;
	NgramLineSource src = {test_line, &ts};
	uint32_t	i,
				t,
				j;
	long		live_before = live_blocks;
	int			rc;
	bool		small_sigma = sigma <= (1u << 20);
	uint32_t	step = 1;

	/* a mix of a few frequent symbols (ties, deep runs) and uniform ones */
	heavy[0] = 0;
	heavy[1] = sigma - 1;
	heavy[2] = sigma / 2;
	heavy[3] = rnd_below(sigma);
	heavy[4] = rnd_below(sigma);
	heavy[5] = sigma > 5 ? 5 : 0;
	for (i = 0; i < n; i++)
		seq[i] = (rnd() & 1) ? heavy[rnd_below(6)] : rnd_below(sigma);

	rc = wavelet_build(seq, n, sigma, first, img + first * NGRAM_LINE_BYTES, &info, &allocator);
	CHECK(rc == 0, "build sigma=%u n=%u rc=%d", sigma, n, rc);
	CHECK(live_blocks == live_before, "build leaked %ld blocks", live_blocks - live_before);
	CHECK(info.n == n && info.sigma == sigma && info.levels == levels &&
		  info.first_line == first && info.level_lines == bitvec_lines(n),
		  "info fields sigma=%u n=%u", sigma, n);
	CHECK(levels >= 1 && levels <= 32 && (levels == 32 || ((uint64_t) sigma <= (1ull << levels))) &&
		  (levels == 1 || (uint64_t) sigma > (1ull << (levels - 1))),
		  "levels_for(%u) = %u", sigma, levels);
	ts.base = img;
	ts.lo = first;
	ts.hi = first + lines;

	/* symbols whose rank we track at every position */
	for (t = 0; t < 6; t++)
		track[t] = heavy[t];
	track[6] = rnd_below(sigma);
	track[7] = sigma;			/* out of range: rank 0 */
	for (t = 0; t < 8; t++)
	{
		pre[t] = malloc(((size_t) n + 1) * sizeof(uint32_t));
		pre[t][0] = 0;
		for (i = 0; i < n; i++)
			pre[t][i + 1] = pre[t][i] + (seq[i] == track[t]);
	}

	cnt = small_sigma ? calloc(sigma, sizeof(uint32_t)) : NULL;
	if (!small_sigma && n > 2000)
		step = n / 2000;

	for (i = 0; i <= n; i++)
	{
		uint32_t	r;

		/* rank and access against running counts */
		if (i < n && cnt != NULL)
		{
			uint32_t	rk = 99;
			uint32_t	s;

			ts.reads = 0;
			s = wavelet_access_rank(&info, &src, i, &rk);
			CHECK(s == seq[i] && rk == cnt[seq[i]],
				  "access_rank sigma=%u n=%u i=%u = %u/%u want %u/%u",
				  sigma, n, i, s, rk, seq[i], cnt[seq[i]]);
			CHECK(ts.reads <= 2 * levels, "access_rank read %llu lines, levels %u",
				  (unsigned long long) ts.reads, levels);

			ts.reads = 0;
			r = wavelet_rank(&info, &src, seq[i], i);
			CHECK(r == cnt[seq[i]], "rank sigma=%u n=%u c=%u i=%u = %u want %u",
				  sigma, n, seq[i], i, r, cnt[seq[i]]);
			CHECK(ts.reads <= 2 * levels, "rank read %llu lines", (unsigned long long) ts.reads);

			{
				uint32_t	c = rnd_below(sigma);

				r = wavelet_rank(&info, &src, c, i);
				CHECK(r == cnt[c], "rank sigma=%u c=%u i=%u = %u want %u", sigma, c, i, r, cnt[c]);
			}
		}
		else if (i < n && i % step == 0)
		{
			/* huge sigma: brute force by scanning (positions sampled) */
			uint32_t	rk = 99,
						want = 0,
						s;

			for (j = 0; j < i; j++)
				want += seq[j] == seq[i];
			s = wavelet_access_rank(&info, &src, i, &rk);
			CHECK(s == seq[i] && rk == want, "access_rank(big sigma) i=%u", i);
			r = wavelet_rank(&info, &src, seq[i], i);
			CHECK(r == want, "rank(big sigma) i=%u = %u want %u", i, r, want);
		}
		if (i % step == 0 || i == n)
			for (t = 0; t < 8; t++)
			{
				r = wavelet_rank(&info, &src, track[t], i);
				CHECK(r == pre[t][i], "rank sigma=%u n=%u c=%u i=%u = %u want %u",
					  sigma, n, track[t], i, r, pre[t][i]);
			}
		if (i < n && cnt != NULL)
			cnt[seq[i]]++;
	}

	/* rank_pair: random pairs, edges, equal positions */
	for (j = 0; j < (n < 3000 ? 3 * n + 10 : 20000); j++)
	{
		uint32_t	a = rnd_below((uint64_t) n + 1);
		uint32_t	b = rnd_below((uint64_t) n + 1);
		uint32_t	rs = 7,
					re = 7;
		uint32_t	c;

		if (j % 7 == 0)
			b = a;
		if (j % 11 == 0)
			a = 0;
		if (j % 13 == 0)
			b = n;
		if (a > b)
		{
			uint32_t	x = a;

			a = b;
			b = x;
		}
		t = j % 8;
		c = track[t];
		ts.reads = 0;
		wavelet_rank_pair(&info, &src, c, a, b, &rs, &re);
		CHECK(rs == pre[t][a] && re == pre[t][b],
			  "rank_pair sigma=%u n=%u c=%u [%u,%u) = %u,%u want %u,%u",
			  sigma, n, c, a, b, rs, re, pre[t][a], pre[t][b]);
		CHECK(ts.reads <= 3 * levels, "rank_pair read %llu lines", (unsigned long long) ts.reads);

		/* any symbol: agree with two single ranks */
		c = rnd_below(sigma);
		wavelet_rank_pair(&info, &src, c, a, b, &rs, &re);
		CHECK(rs == wavelet_rank(&info, &src, c, a) && re == wavelet_rank(&info, &src, c, b),
			  "rank_pair vs rank sigma=%u c=%u", sigma, c);
	}

	/* top_k and distinct over a few ranges */
	{
		int			nr = n <= 5000 ? 12 : 4;
		int			q;

		check_ranges(seq, n, &info, &src, &ts, 0, n);
		for (q = 0; q < nr; q++)
		{
			uint32_t	a = rnd_below((uint64_t) n + 1);
			uint32_t	b = rnd_below((uint64_t) n + 1);

			if (q % 4 == 0)
				b = a + 1 <= n ? a + 1 : a;	/* single position */
			if (a > b)
			{
				uint32_t	x = a;

				a = b;
				b = x;
			}
			check_ranges(seq, n, &info, &src, &ts, a, b);
		}
	}
	CHECK(live_blocks == live_before, "queries leaked %ld blocks", live_blocks - live_before);

	for (t = 0; t < 8; t++)
		free(pre[t]);
	free(cnt);
	free(seq);
	free(img);
}

/* hand-made tie case: counts 3:2, 5:2, 7:2, 1:1 */
static void
test_ties(void)
{
	static const uint32_t seq[] = {7, 3, 5, 3, 7, 5, 1};
	uint32_t	n = 7;
	uint8_t    *img = make_image(0, wavelet_lines(n, wavelet_levels_for(8)));
	WaveletInfo info;
	TestSource	ts;
	NgramLineSource src = {test_line, &ts};
	WaveletCount o[8];
	uint32_t	r;

	CHECK(wavelet_build(seq, n, 8, 0, img, &info, &allocator) == 0, "tie build");
	ts.base = img;
	ts.lo = 0;
	ts.hi = wavelet_lines(n, info.levels);
	r = wavelet_top_k(&info, &src, 0, n, 0, 3, o, &allocator);
	CHECK(r == 3 && o[0].symbol == 3 && o[1].symbol == 5 && o[2].symbol == 7 &&
		  o[0].count == 2 && o[1].count == 2 && o[2].count == 2, "ties: top 3 = 3,5,7");
	r = wavelet_top_k(&info, &src, 0, n, 4, 8, o, &allocator);
	CHECK(r == 2 && o[0].symbol == 5 && o[1].symbol == 7, "ties with min_symbol 4");
	r = wavelet_top_k(&info, &src, 1, 7, 0, 8, o, &allocator);
	CHECK(r == 4 && o[0].symbol == 3 && o[0].count == 2 && o[1].symbol == 5 &&
		  o[2].symbol == 1 && o[3].symbol == 7, "ties in [1,7)");
	free(img);
}

static void
test_bad_symbol(void)
{
	uint32_t	seq[5] = {0, 1, 2, 3, 4};
	uint8_t    *img = make_image(0, wavelet_lines(5, 3));
	WaveletInfo info;
	long		live_before = live_blocks;

	CHECK(wavelet_build(seq, 5, 4, 0, img, &info, &allocator) == -1, "symbol >= sigma");
	CHECK(wavelet_build(seq, 5, 5, 0, img, &info, &allocator) == 0, "symbol < sigma");
	seq[2] = 1000;
	CHECK(wavelet_build(seq, 5, 1000, 0, img, &info, &allocator) == -1, "symbol == sigma");
	CHECK(live_blocks == live_before, "bad symbol leaked");
	free(img);
}

/*
 * Top-k on a long range with tens of thousands of distinct symbols must read
 * far fewer lines than enumerating them (here: skewed counts, as in real
 * continuations).
 */
static void
test_top_k_cost(void)
{
	uint32_t	n = 300000,
				sigma = 65536;
	uint32_t   *seq = malloc(n * sizeof(uint32_t));
	uint32_t	levels = wavelet_levels_for(sigma);
	uint8_t    *img = make_image(0, wavelet_lines(n, levels));
	WaveletInfo info;
	TestSource	ts;
	NgramLineSource src = {test_line, &ts};
	WaveletCount o[5];
	WaveletCount *want = malloc(n * sizeof(WaveletCount));
	EmitState	es;
	uint32_t	i,
				d,
				r;
	uint64_t	topk_reads,
				distinct_reads;

	for (i = 0; i < n; i++)
	{
		uint64_t	x = rnd();

		/* a Zipf-like head: symbol j*977 with probability ~ 2^-(j+1) */
		if (x & 1)
			seq[i] = (uint32_t) (__builtin_ctzll((x >> 1) | (UINT64_C(1) << 40)) * 977) % sigma;
		else
			seq[i] = rnd_below(sigma);
	}
	CHECK(wavelet_build(seq, n, sigma, 0, img, &info, &allocator) == 0, "cost build");
	ts.base = img;
	ts.lo = 0;
	ts.hi = wavelet_lines(n, levels);

	d = brute_distinct(seq, 0, n, 0, want);
	qsort(want, d, sizeof(WaveletCount), cmp_count);
	ts.reads = 0;
	r = wavelet_top_k(&info, &src, 0, n, 0, 5, o, &allocator);
	topk_reads = ts.reads;
	CHECK(r == 5, "cost top_k returned %u", r);
	for (i = 0; i < r; i++)
		CHECK(o[i].symbol == want[i].symbol && o[i].count == want[i].count, "cost top_k #%u", i);

	memset(&es, 0, sizeof(es));
	es.got = want;
	es.src = &src;
	es.any_line = 0;
	ts.reads = 0;
	wavelet_distinct(&info, &src, 0, n, 0, emit_cb, &es, &allocator);
	distinct_reads = ts.reads - es.n;	/* minus the emit callback's own reads */
	CHECK(es.n == d, "cost distinct %u want %u", es.n, d);
	CHECK(topk_reads <= 200, "top_k k=5 read %llu lines (distinct: %llu, %u symbols)",
		  (unsigned long long) topk_reads, (unsigned long long) distinct_reads, d);
	printf("top_k cost: n=%u, %u distinct symbols: top-5 read %llu lines, "
		   "full distinct read %llu lines\n", n, d, (unsigned long long) topk_reads,
		   (unsigned long long) distinct_reads);
	free(seq);
	free(want);
	free(img);
}

/* a build long enough to call allocator->check, spot-checked */
static void
test_large_build(void)
{
	uint32_t	n = (1u << 21) + 123,
				sigma = 1000;
	uint32_t   *seq = malloc(n * sizeof(uint32_t));
	uint32_t   *pre = malloc(((size_t) n + 1) * sizeof(uint32_t));
	uint32_t	levels = wavelet_levels_for(sigma);
	uint8_t    *img = make_image(0, wavelet_lines(n, levels));
	WaveletInfo info;
	TestSource	ts;
	NgramLineSource src = {test_line, &ts};
	uint32_t	i;
	long		before = check_calls;

	for (i = 0; i < n; i++)
		seq[i] = (rnd() & 3) ? 17 : rnd_below(sigma);
	pre[0] = 0;
	for (i = 0; i < n; i++)
		pre[i + 1] = pre[i] + (seq[i] == 17);
	CHECK(wavelet_build(seq, n, sigma, 0, img, &info, &allocator) == 0, "large build");
	CHECK(check_calls > before, "allocator check() never called in a %u-symbol build", n);
	ts.base = img;
	ts.lo = 0;
	ts.hi = wavelet_lines(n, levels);
	for (i = 0; i < 20000; i++)
	{
		uint32_t	a = (i == 0) ? n : rnd_below((uint64_t) n + 1);
		uint32_t	rk,
					s;

		CHECK(wavelet_rank(&info, &src, 17, a) == pre[a], "large rank at %u", a);
		if (a < n)
		{
			s = wavelet_access_rank(&info, &src, a, &rk);
			CHECK(s == seq[a] && (s != 17 || rk == pre[a]), "large access_rank at %u", a);
		}
	}
	free(seq);
	free(pre);
	free(img);
}

int
main(void)
{
	static const uint32_t sigmas[] = {2, 3, 255, 258, 1000, 65536, 70000};
	static const uint32_t lens[] = {1, 2, 100, 5000, 100000};
	size_t		s,
				l;
	int			cfg = 0;

	test_bitvec();
	printf("bitvectors: done (%ld checks, %d failures)\n", checks, failures);

	test_ties();
	test_bad_symbol();
	for (s = 0; s < sizeof(sigmas) / sizeof(sigmas[0]); s++)
		for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			test_wavelet_one(sigmas[s], lens[l], (cfg++ % 2) ? 5 : 0);
	/* edge alphabets and lengths at line boundaries */
	test_wavelet_one(1, 50, 1);
	test_wavelet_one(258, 480, 0);
	test_wavelet_one(258, 960, 2);
	test_wavelet_one(5, 961, 0);
	test_wavelet_one(UINT32_C(0xFFFFFFFF), 3000, 3);	/* 32 levels */
	test_wavelet_one(UINT32_C(0x80000001), 500, 0);
	printf("wavelet matrix: done (%ld checks, %d failures)\n", checks, failures);

	test_top_k_cost();
	test_large_build();

	printf("test_wavelet: %ld checks, %d failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
