/*-------------------------------------------------------------------------
 *
 * wavelet.c
 *	  Rank bitvectors in the 64-byte line format and the wavelet matrix
 *	  over the BWT of an FM-index segment (PostgreSQL-free).
 *
 * This file owns the byte layout of a bitvector line, the construction of
 * bitvectors and of the wavelet matrix into a line image, and every query
 * on them: rank, access, rank of a symbol at one or two positions, access
 * together with rank, top-k most frequent symbols of a range and ordered
 * enumeration of the distinct symbols of a range.
 *
 * Line layout (NGRAM_LINE_BYTES = 64):
 *	 bytes  0.. 3  uint32, number of ones before this line (native order)
 *	 bytes  4..59  seven uint64 words, bits 0..447 of the line; bit k is
 *				   (word[k / 64] >> (k % 64)) & 1 (words in native order)
 *	 bytes 60..63  uint32, bits 448..479 of the line; bit k is
 *				   (half >> (k - 448)) & 1
 * Bits past the end of the bitvector are zero.  Words are read with memcpy
 * because the line pointer carries no alignment promise beyond a byte.
 *
 * Rank at the end of a line: rank1(i) for i > 0 reads line (i - 1) / 480
 * and counts i - 480 * line bits of it (1..480); rank1(0) is 0 without any
 * read.  So rank at i == nbits never touches a line past the last one, even
 * when nbits is a multiple of 480, and bitvec_lines(n) = max(1, ceil(n /
 * 480)) with no spare line.  Access at i < nbits reads line i / 480.
 *
 * Wavelet matrix ranks follow the block-start technique: besides the
 * position i, the descent tracks p, the position where the block of
 * symbols sharing c's leading bits starts, and the answer is i - p at the
 * bottom.  p needs a rank of its own at every level; it is served from the
 * line already read for i (or sp / ep) whenever it falls inside that line,
 * costs nothing while p == 0, and the descent stops as soon as the range
 * [p, i) is empty.  Without a stored table of per-symbol block starts this
 * is the minimum: one line per distinct line touched per level (at most 2
 * per level for rank and access_rank, 3 for rank_pair).
 *
 * Build scratch: n + (largest per-level count of ones) + 1 uint32 words,
 * i.e. about 1.5 n for random data; never malloc, only the allocator.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "wavelet.h"

/*
 * Rank is popcount-bound once the line is in cache, and the server is
 * built for the baseline x86-64 target, where __builtin_popcountll is a
 * library call.  So the hot entry points exist twice, the second compiled
 * for POPCNT, and a CPU check picks one on first use.  The query bodies
 * are always-inline so each copy gets its own code.  (Define
 * WAVELET_NO_POPCNT_DISPATCH to build only the portable copy.)
 */
#if defined(__GNUC__) || defined(__clang__)
#define WV_INLINE static inline __attribute__((always_inline))
#else
#define WV_INLINE static inline
#endif

#if (defined(__x86_64__) || defined(__i386__)) && \
	(defined(__GNUC__) || defined(__clang__)) && !defined(__POPCNT__) && \
	!defined(WAVELET_NO_POPCNT_DISPATCH)
#define WV_POPCNT_DISPATCH 1
#define WV_POPCNT_TARGET __attribute__((target("popcnt")))

static int	wv_have_popcnt = -1;

static inline bool
wv_use_popcnt(void)
{
	/* a benign race at worst: every caller computes the same value */
	if (wv_have_popcnt < 0)
	{
		__builtin_cpu_init();
		wv_have_popcnt = __builtin_cpu_supports("popcnt") ? 1 : 0;
	}
	return wv_have_popcnt == 1;
}
#endif

/* 64-bit words of a line that are complete, and where the tail half sits */
#define LINE_FULL_WORDS		7
#define LINE_HALF_OFFSET	(4 + 8 * LINE_FULL_WORDS)

/* check for interrupts about every million elements of a build pass */
#define CHECK_EVERY_LINES	2048

WV_INLINE uint32_t
load32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

WV_INLINE uint64_t
load64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

WV_INLINE uint32_t
line_rank(const uint8_t *line, uint32_t off)
{
	uint32_t	r = load32(line);
	uint32_t	full = off >> 6;
	uint32_t	rem = off & 63;
	uint32_t	j;

	for (j = 0; j < full; j++)
		r += (uint32_t) __builtin_popcountll(load64(line + 4 + 8 * j));
	if (rem != 0)
	{
		uint64_t	w;

		if (full < LINE_FULL_WORDS)
			w = load64(line + 4 + 8 * full);
		else
			w = load32(line + LINE_HALF_OFFSET);
		r += (uint32_t) __builtin_popcountll(w & ((UINT64_C(1) << rem) - 1));
	}
	return r;
}

/* bit off (< 480) of a line */
WV_INLINE bool
line_bit(const uint8_t *line, uint32_t off)
{
	uint32_t	j = off >> 6;

	if (j < LINE_FULL_WORDS)
		return (load64(line + 4 + 8 * j) >> (off & 63)) & 1;
	return (load32(line + LINE_HALF_OFFSET) >> (off - 64 * LINE_FULL_WORDS)) & 1;
}

/* the line that serves rank at x > 0 (see the header comment) */
WV_INLINE uint32_t
rank_line_of(uint32_t x)
{
	return (x - 1) / NGRAM_BITS_PER_LINE;
}

/*
 * A line read once and kept while later (larger) positions of the same
 * descent step still fall inside it.  The pointer is only used before the
 * next ngram_line call on the source, which this cache itself makes.
 */
typedef struct LineCursor
{
	const NgramLineSource *src;
	uint64_t	base;			/* first line of the bitvector */
	uint32_t	cur;			/* line index within the bitvector */
	bool		valid;
	const uint8_t *line;
} LineCursor;

WV_INLINE void
cursor_init(LineCursor *lc, const NgramLineSource *src, uint64_t base)
{
	lc->src = src;
	lc->base = base;
	lc->valid = false;
	lc->line = NULL;
	lc->cur = 0;
}

/*
 * rank1 at x; positions passed to one cursor must be non-decreasing.  A
 * line L serves every x with 480 L <= x <= 480 L + 480.
 */
WV_INLINE uint32_t
cursor_rank(LineCursor *lc, uint32_t x)
{
	if (x == 0)
		return 0;
	if (!lc->valid ||
		(uint64_t) x > (uint64_t) lc->cur * NGRAM_BITS_PER_LINE + NGRAM_BITS_PER_LINE)
	{
		lc->cur = rank_line_of(x);
		lc->line = ngram_line(lc->src, lc->base + lc->cur);
		lc->valid = true;
	}
	return line_rank(lc->line, x - lc->cur * NGRAM_BITS_PER_LINE);
}

/* ---- bitvectors ---- */

uint64_t
bitvec_lines(uint32_t nbits)
{
	uint64_t	lines = ((uint64_t) nbits + NGRAM_BITS_PER_LINE - 1) / NGRAM_BITS_PER_LINE;

	return lines == 0 ? 1 : lines;
}

/* 32-bit chunk c (bits 32c .. 32c+31) of bits, zero past nbits */
static inline uint32_t
chunk_of(const uint64_t *bits, uint32_t nbits, uint64_t c)
{
	uint64_t	first = c * 32;
	uint32_t	v;

	if (first >= nbits)
		return 0;
	v = (uint32_t) (bits[c >> 1] >> ((c & 1) * 32));
	/* clear bits the caller did not define */
	if (nbits - first < 32)
		v &= (UINT32_C(1) << (nbits - first)) - 1;
	return v;
}

void
bitvec_build(const uint64_t *bits, uint32_t nbits, uint8_t *out)
{
	uint64_t	nlines = bitvec_lines(nbits);
	uint64_t	line;
	uint32_t	ones = 0;

	/* 480 = 15 * 32: every line starts on a 32-bit chunk boundary */
	for (line = 0; line < nlines; line++)
	{
		uint8_t    *dst = out + line * NGRAM_LINE_BYTES;
		uint64_t	c = line * 15;
		int			j;
		uint32_t	half;

		memcpy(dst, &ones, sizeof(ones));
		for (j = 0; j < LINE_FULL_WORDS; j++)
		{
			uint64_t	w = (uint64_t) chunk_of(bits, nbits, c + 2 * j) |
				((uint64_t) chunk_of(bits, nbits, c + 2 * j + 1) << 32);

			memcpy(dst + 4 + 8 * j, &w, sizeof(w));
			ones += (uint32_t) __builtin_popcountll(w);
		}
		half = chunk_of(bits, nbits, c + 14);
		memcpy(dst + LINE_HALF_OFFSET, &half, sizeof(half));
		ones += (uint32_t) __builtin_popcount(half);
	}
}

WV_INLINE uint32_t
bitvec_rank1_impl(const NgramLineSource *src, uint64_t first_line, uint32_t i)
{
	uint32_t	line;

	if (i == 0)
		return 0;
	line = rank_line_of(i);
	return line_rank(ngram_line(src, first_line + line), i - line * NGRAM_BITS_PER_LINE);
}

#ifdef WV_POPCNT_DISPATCH
static uint32_t WV_POPCNT_TARGET
bitvec_rank1_popcnt(const NgramLineSource *src, uint64_t first_line, uint32_t i)
{
	return bitvec_rank1_impl(src, first_line, i);
}
#endif

uint32_t
bitvec_rank1(const NgramLineSource *src, uint64_t first_line, uint32_t i)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
		return bitvec_rank1_popcnt(src, first_line, i);
#endif
	return bitvec_rank1_impl(src, first_line, i);
}

WV_INLINE bool
bitvec_access_impl(const NgramLineSource *src, uint64_t first_line, uint32_t i,
				   uint32_t *rank1)
{
	uint32_t	line = i / NGRAM_BITS_PER_LINE;
	uint32_t	off = i - line * NGRAM_BITS_PER_LINE;
	const uint8_t *l = ngram_line(src, first_line + line);

	*rank1 = line_rank(l, off);
	return line_bit(l, off);
}

#ifdef WV_POPCNT_DISPATCH
static bool WV_POPCNT_TARGET
bitvec_access_popcnt(const NgramLineSource *src, uint64_t first_line, uint32_t i,
					 uint32_t *rank1)
{
	return bitvec_access_impl(src, first_line, i, rank1);
}
#endif

bool
bitvec_access(const NgramLineSource *src, uint64_t first_line, uint32_t i, uint32_t *rank1)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
		return bitvec_access_popcnt(src, first_line, i, rank1);
#endif
	return bitvec_access_impl(src, first_line, i, rank1);
}

/* ---- wavelet matrix: construction ---- */

uint32_t
wavelet_levels_for(uint32_t sigma)
{
	uint32_t	levels = 0;
	uint32_t	v;

	if (sigma <= 2)
		return 1;
	v = sigma - 1;
	while (v != 0)
	{
		levels++;
		v >>= 1;
	}
	return levels;
}

uint64_t
wavelet_lines(uint32_t n, uint32_t levels)
{
	return bitvec_lines(n) * levels;
}

/* where a build pass sends the values it partitions (see wavelet_build) */
typedef struct LevelSplit
{
	uint32_t   *zeros;			/* next level's order; zeros go here */
	uint32_t   *ones;			/* spill buffer for the ones */
	uint32_t	z;
	uint32_t	o;
} LevelSplit;

/*
 * Writes one level's bits, bit i = (cur[i] >> shift) & 1, as bitvector lines
 * at dst, directly (no intermediate bit array), and when split is given
 * partitions the values in the same pass, so each level reads the sequence
 * once.
 *
 * The partition is stable: zeros move down in split->zeros (which may be
 * cur itself: the write index never passes the read index), ones wait in
 * split->ones.  It is branch-free: each value is stored to both sides and
 * only the matching index advances, because the bit is a coin flip the
 * branch predictor cannot learn; so split->ones needs one spare word.
 */
static void
build_level(const uint32_t *cur, uint32_t n, uint32_t shift, uint8_t *dst, LevelSplit *split,
			const NgramAllocator *allocator)
{
	uint64_t	nlines = bitvec_lines(n);
	uint64_t	line;
	uint32_t	ones = 0;
	uint32_t	i = 0;
	uint32_t   *zs = split ? split->zeros : NULL;
	uint32_t   *os = split ? split->ones : NULL;
	uint32_t	z = 0;
	uint32_t	o = 0;

	for (line = 0; line < nlines; line++)
	{
		uint8_t    *l = dst + line * NGRAM_LINE_BYTES;
		uint32_t	end = (n - i < NGRAM_BITS_PER_LINE) ? n : i + NGRAM_BITS_PER_LINE;
		int			j;

		if (allocator->check != NULL && line % CHECK_EVERY_LINES == CHECK_EVERY_LINES - 1)
			allocator->check();

		memcpy(l, &ones, sizeof(ones));
		for (j = 0; j <= LINE_FULL_WORDS; j++)
		{
			uint32_t	width = (j < LINE_FULL_WORDS) ? 64 : 32;
			uint32_t	stop = (end - i < width) ? end : i + width;
			uint64_t	w = 0;
			uint32_t	b = 0;

			if (zs != NULL)
			{
				for (; i < stop; i++, b++)
				{
					uint32_t	v = cur[i];
					uint32_t	bit = (v >> shift) & 1;

					w |= (uint64_t) bit << b;
					zs[z] = v;
					os[o] = v;
					z += bit ^ 1;
					o += bit;
				}
			}
			else
			{
				for (; i < stop; i++, b++)
					w |= (uint64_t) ((cur[i] >> shift) & 1) << b;
			}
			ones += (uint32_t) __builtin_popcountll(w);
			if (j < LINE_FULL_WORDS)
				memcpy(l + 4 + 8 * j, &w, sizeof(w));
			else
			{
				uint32_t	half = (uint32_t) w;

				memcpy(l + LINE_HALF_OFFSET, &half, sizeof(half));
			}
		}
	}
	if (split != NULL)
	{
		split->z = z;
		split->o = o;
	}
}

int
wavelet_build(const uint32_t *seq, uint32_t n, uint32_t sigma, uint64_t first_line,
			  uint8_t *out, WaveletInfo *info, const NgramAllocator *allocator)
{
	uint32_t	levels = wavelet_levels_for(sigma);
	uint64_t	level_lines = bitvec_lines(n);
	uint32_t	ones[WAVELET_MAX_LEVELS];
	uint32_t	max_ones = 0;
	uint32_t   *cur = NULL;
	uint32_t   *tmp = NULL;
	uint32_t	i;
	uint32_t	l;

	memset(info, 0, sizeof(*info));
	memset(ones, 0, sizeof(ones));

	/*
	 * Validate, and count the ones of every level: a bit's count does not
	 * depend on the order, so this gives zeros[] and the largest number of
	 * ones any partition spills before anything is partitioned.  Blocks of
	 * 4096 keep the per-level loops in cache and vectorizable.
	 */
	for (i = 0; i < n;)
	{
		uint32_t	end = (n - i < 4096) ? n : i + 4096;
		uint32_t	mx = 0;
		uint32_t	j;

		for (j = i; j < end; j++)
			mx = seq[j] > mx ? seq[j] : mx;
		if (mx >= sigma)
			return -1;
		for (l = 0; l < levels; l++)
		{
			uint32_t	shift = levels - 1 - l;
			uint32_t	cnt = 0;

			for (j = i; j < end; j++)
				cnt += (seq[j] >> shift) & 1;
			ones[l] += cnt;
		}
		i = end;
		if (allocator->check != NULL && (i & ((1u << 20) - 1)) == 0)
			allocator->check();
	}

	info->n = n;
	info->sigma = sigma;
	info->levels = levels;
	info->first_line = first_line;
	info->level_lines = level_lines;
	for (l = 0; l < levels; l++)
	{
		info->zeros[l] = n - ones[l];
		/* the last level is never partitioned */
		if (l + 1 < levels && ones[l] > max_ones)
			max_ones = ones[l];
	}

	/*
	 * Scratch: the current level's order (n words) and the spill buffer for
	 * the ones (the largest count plus the spare word); for sigma just above
	 * a power of two the top level has few ones, otherwise about n / 2.
	 */
	if (levels > 1 && n > 0)
	{
		cur = allocator->alloc((size_t) n * sizeof(uint32_t));
		tmp = allocator->alloc(((size_t) max_ones + 1) * sizeof(uint32_t));
	}

	for (l = 0; l < levels; l++)
	{
		uint8_t    *dst = out + (uint64_t) l * level_lines * NGRAM_LINE_BYTES;
		const uint32_t *src = (l == 0) ? seq : cur;
		LevelSplit	split;

		if (l + 1 == levels || n == 0)
		{
			build_level(src, n, levels - 1 - l, dst, NULL, allocator);
			continue;
		}
		split.zeros = cur;
		split.ones = tmp;
		build_level(src, n, levels - 1 - l, dst, &split, allocator);
		if (split.o > 0)
			memcpy(cur + split.z, tmp, (size_t) split.o * sizeof(uint32_t));
	}

	if (cur != NULL)
		allocator->release(cur);
	if (tmp != NULL)
		allocator->release(tmp);
	return 0;
}

/* ---- wavelet matrix: point queries ---- */

WV_INLINE uint64_t
level_base(const WaveletInfo *info, uint32_t l)
{
	return info->first_line + (uint64_t) l * info->level_lines;
}

WV_INLINE uint32_t
wavelet_rank_impl(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
				  uint32_t i)
{
	uint32_t	p = 0;
	uint32_t	l;

	if (c >= info->sigma)
		return 0;
	for (l = 0; l < info->levels && p < i; l++)
	{
		LineCursor	lc;
		uint32_t	rp,
					ri;

		cursor_init(&lc, src, level_base(info, l));
		rp = cursor_rank(&lc, p);
		ri = cursor_rank(&lc, i);
		if ((c >> (info->levels - 1 - l)) & 1)
		{
			p = info->zeros[l] + rp;
			i = info->zeros[l] + ri;
		}
		else
		{
			p -= rp;
			i -= ri;
		}
	}
	return (p < i) ? i - p : 0;
}

#ifdef WV_POPCNT_DISPATCH
static uint32_t WV_POPCNT_TARGET
wavelet_rank_popcnt(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
					uint32_t i)
{
	return wavelet_rank_impl(info, src, c, i);
}
#endif

uint32_t
wavelet_rank(const WaveletInfo *info, const NgramLineSource *src, uint32_t c, uint32_t i)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
		return wavelet_rank_popcnt(info, src, c, i);
#endif
	return wavelet_rank_impl(info, src, c, i);
}

WV_INLINE void
wavelet_rank_pair_impl(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
					   uint32_t sp, uint32_t ep, uint32_t *rank_sp, uint32_t *rank_ep)
{
	uint32_t	p = 0;
	uint32_t	l;

	if (c >= info->sigma)
	{
		*rank_sp = *rank_ep = 0;
		return;
	}

	/* p <= sp <= ep holds at every level: each step is monotone */
	for (l = 0; l < info->levels && p < ep; l++)
	{
		LineCursor	lc;
		uint32_t	rp,
					rs,
					re;

		cursor_init(&lc, src, level_base(info, l));
		rp = cursor_rank(&lc, p);
		rs = (sp == p) ? rp : cursor_rank(&lc, sp);
		re = (ep == sp) ? rs : cursor_rank(&lc, ep);
		if ((c >> (info->levels - 1 - l)) & 1)
		{
			p = info->zeros[l] + rp;
			sp = info->zeros[l] + rs;
			ep = info->zeros[l] + re;
		}
		else
		{
			p -= rp;
			sp -= rs;
			ep -= re;
		}
	}
	if (p >= ep)
	{
		/* c does not occur before ep (loop may have stopped early) */
		*rank_sp = *rank_ep = 0;
		return;
	}
	*rank_sp = sp - p;
	*rank_ep = ep - p;
}

#ifdef WV_POPCNT_DISPATCH
static void WV_POPCNT_TARGET
wavelet_rank_pair_popcnt(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
						 uint32_t sp, uint32_t ep, uint32_t *rank_sp, uint32_t *rank_ep)
{
	wavelet_rank_pair_impl(info, src, c, sp, ep, rank_sp, rank_ep);
}
#endif

void
wavelet_rank_pair(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
				  uint32_t sp, uint32_t ep, uint32_t *rank_sp, uint32_t *rank_ep)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
	{
		wavelet_rank_pair_popcnt(info, src, c, sp, ep, rank_sp, rank_ep);
		return;
	}
#endif
	wavelet_rank_pair_impl(info, src, c, sp, ep, rank_sp, rank_ep);
}

WV_INLINE uint32_t
wavelet_access_rank_impl(const WaveletInfo *info, const NgramLineSource *src, uint32_t i,
						 uint32_t *rank)
{
	uint32_t	p = 0;
	uint32_t	sym = 0;
	uint32_t	l;

	for (l = 0; l < info->levels; l++)
	{
		uint64_t	base = level_base(info, l);
		uint32_t	li = i / NGRAM_BITS_PER_LINE;
		uint32_t	off = i - li * NGRAM_BITS_PER_LINE;
		const uint8_t *line = ngram_line(src, base + li);
		bool		bit = line_bit(line, off);
		uint32_t	ri = line_rank(line, off);
		uint32_t	rp;

		/* p <= i; p is in i's line unless it lies before the line start */
		if (p == 0)
			rp = 0;
		else if (p >= li * NGRAM_BITS_PER_LINE)
			rp = line_rank(line, p - li * NGRAM_BITS_PER_LINE);
		else
			rp = bitvec_rank1_impl(src, base, p);

		sym = (sym << 1) | (bit ? 1 : 0);
		if (bit)
		{
			p = info->zeros[l] + rp;
			i = info->zeros[l] + ri;
		}
		else
		{
			p -= rp;
			i -= ri;
		}
	}
	*rank = i - p;
	return sym;
}

#ifdef WV_POPCNT_DISPATCH
static uint32_t WV_POPCNT_TARGET
wavelet_access_rank_popcnt(const WaveletInfo *info, const NgramLineSource *src, uint32_t i,
						   uint32_t *rank)
{
	return wavelet_access_rank_impl(info, src, i, rank);
}
#endif

uint32_t
wavelet_access_rank(const WaveletInfo *info, const NgramLineSource *src, uint32_t i,
					uint32_t *rank)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
		return wavelet_access_rank_popcnt(info, src, i, rank);
#endif
	return wavelet_access_rank_impl(info, src, i, rank);
}

/* ---- wavelet matrix: range enumeration ---- */

/* a subtree of the descent: symbols with `prefix` as their top `level` bits */
typedef struct WaveletNode
{
	uint32_t	lo;
	uint32_t	hi;
	uint32_t	prefix;
	uint32_t	level;
} WaveletNode;

/* smallest symbol of a node's interval, and one past its largest */
static inline uint64_t
node_min_symbol(const WaveletInfo *info, const WaveletNode *nd)
{
	return (uint64_t) nd->prefix << (info->levels - nd->level);
}

static inline uint64_t
node_end_symbol(const WaveletInfo *info, const WaveletNode *nd)
{
	return ((uint64_t) nd->prefix + 1) << (info->levels - nd->level);
}

/*
 * Splits node into its children at level nd->level (one or two line reads),
 * writing those that are non-empty and not wholly below min_symbol; returns
 * how many (0..2), zero child first.
 */
WV_INLINE int
node_children_impl(const WaveletInfo *info, const NgramLineSource *src,
				   const WaveletNode *nd, uint32_t min_symbol, WaveletNode *child)
{
	LineCursor	lc;
	uint32_t	l = nd->level;
	uint32_t	rlo,
				rhi;
	WaveletNode c0,
				c1;
	int			nc = 0;

	cursor_init(&lc, src, level_base(info, l));
	rlo = cursor_rank(&lc, nd->lo);
	rhi = cursor_rank(&lc, nd->hi);

	c0.lo = nd->lo - rlo;
	c0.hi = nd->hi - rhi;
	c0.prefix = nd->prefix << 1;
	c0.level = l + 1;
	c1.lo = info->zeros[l] + rlo;
	c1.hi = info->zeros[l] + rhi;
	c1.prefix = (nd->prefix << 1) | 1;
	c1.level = l + 1;

	if (c0.lo < c0.hi && node_end_symbol(info, &c0) > min_symbol)
		child[nc++] = c0;
	if (c1.lo < c1.hi && node_end_symbol(info, &c1) > min_symbol)
		child[nc++] = c1;
	return nc;
}

#ifdef WV_POPCNT_DISPATCH
static int WV_POPCNT_TARGET
node_children_popcnt(const WaveletInfo *info, const NgramLineSource *src,
					 const WaveletNode *nd, uint32_t min_symbol, WaveletNode *child)
{
	return node_children_impl(info, src, nd, min_symbol, child);
}
#endif

static int
node_children(const WaveletInfo *info, const NgramLineSource *src, const WaveletNode *nd,
			  uint32_t min_symbol, WaveletNode *child)
{
#ifdef WV_POPCNT_DISPATCH
	if (wv_use_popcnt())
		return node_children_popcnt(info, src, nd, min_symbol, child);
#endif
	return node_children_impl(info, src, nd, min_symbol, child);
}

/* heap order: larger range first, then smaller symbol interval first */
static inline bool
node_before(const WaveletInfo *info, const WaveletNode *a, const WaveletNode *b)
{
	uint32_t	sa = a->hi - a->lo;
	uint32_t	sb = b->hi - b->lo;

	if (sa != sb)
		return sa > sb;
	return node_min_symbol(info, a) < node_min_symbol(info, b);
}

typedef struct NodeHeap
{
	WaveletNode *nodes;
	uint32_t	size;
	uint32_t	cap;
	const NgramAllocator *allocator;
} NodeHeap;

static void
heap_push(const WaveletInfo *info, NodeHeap *h, const WaveletNode *nd)
{
	uint32_t	i;

	if (h->size == h->cap)
	{
		/* the allocator has no realloc: allocate, copy, release */
		uint32_t	ncap = h->cap * 2;
		WaveletNode *nn = h->allocator->alloc((size_t) ncap * sizeof(WaveletNode));

		memcpy(nn, h->nodes, (size_t) h->size * sizeof(WaveletNode));
		h->allocator->release(h->nodes);
		h->nodes = nn;
		h->cap = ncap;
	}
	i = h->size++;
	while (i > 0)
	{
		uint32_t	parent = (i - 1) / 2;

		if (!node_before(info, nd, &h->nodes[parent]))
			break;
		h->nodes[i] = h->nodes[parent];
		i = parent;
	}
	h->nodes[i] = *nd;
}

static WaveletNode
heap_pop(const WaveletInfo *info, NodeHeap *h)
{
	WaveletNode top = h->nodes[0];
	WaveletNode last = h->nodes[--h->size];
	uint32_t	i = 0;

	if (h->size == 0)
		return top;
	for (;;)
	{
		uint32_t	c = 2 * i + 1;

		if (c >= h->size)
			break;
		if (c + 1 < h->size && node_before(info, &h->nodes[c + 1], &h->nodes[c]))
			c++;
		if (!node_before(info, &h->nodes[c], &last))
			break;
		h->nodes[i] = h->nodes[c];
		i = c;
	}
	h->nodes[i] = last;
	return top;
}

/*
 * Best-first: a node's range is at least as large as any range below it,
 * so when a leaf leaves the heap no unexpanded node can hold a more
 * frequent symbol.  Ties: the heap breaks equal sizes by the smallest
 * symbol of the interval; distinct nodes have disjoint aligned intervals,
 * so everything under a node that wins a tie is smaller than the symbol of
 * the leaf it beat, and the leaves come out count descending, symbol
 * ascending.  Work is bounded by the nodes whose range is at least the
 * k-th count, not by the number of distinct symbols.
 */
uint32_t
wavelet_top_k(const WaveletInfo *info, const NgramLineSource *src, uint32_t sp, uint32_t ep,
			  uint32_t min_symbol, uint32_t k, WaveletCount *out,
			  const NgramAllocator *allocator)
{
	NodeHeap	h;
	WaveletNode root;
	uint32_t	found = 0;

	if (k == 0 || sp >= ep || (uint64_t) min_symbol >= info->sigma)
		return 0;

	h.allocator = allocator;
	h.cap = 64;
	h.size = 0;
	h.nodes = allocator->alloc((size_t) h.cap * sizeof(WaveletNode));

	root.lo = sp;
	root.hi = ep;
	root.prefix = 0;
	root.level = 0;
	heap_push(info, &h, &root);

	while (h.size > 0 && found < k)
	{
		WaveletNode nd = heap_pop(info, &h);
		WaveletNode child[2];
		int			nc,
					j;

		if (nd.level == info->levels)
		{
			/* leaves below min_symbol were never pushed */
			out[found].symbol = nd.prefix;
			out[found].count = nd.hi - nd.lo;
			found++;
			continue;
		}
		nc = node_children(info, src, &nd, min_symbol, child);
		for (j = 0; j < nc; j++)
			heap_push(info, &h, &child[j]);
	}

	allocator->release(h.nodes);
	return found;
}

/*
 * Depth-first in symbol order with an explicit stack: pushing the one
 * child before the zero child keeps at most one pending sibling per level,
 * so levels + 1 entries suffice and no scratch memory is needed (the
 * allocator is accepted for interface symmetry).
 */
void
wavelet_distinct(const WaveletInfo *info, const NgramLineSource *src, uint32_t sp,
				 uint32_t ep, uint32_t min_symbol,
				 bool (*emit) (void *arg, uint32_t symbol, uint32_t count), void *arg,
				 const NgramAllocator *allocator)
{
	WaveletNode stack[WAVELET_MAX_LEVELS + 2];
	uint32_t	depth = 0;

	(void) allocator;
	if (sp >= ep || (uint64_t) min_symbol >= info->sigma)
		return;

	stack[0].lo = sp;
	stack[0].hi = ep;
	stack[0].prefix = 0;
	stack[0].level = 0;
	depth = 1;

	while (depth > 0)
	{
		WaveletNode nd = stack[--depth];
		WaveletNode child[2];
		int			nc;

		if (nd.level == info->levels)
		{
			if (!emit(arg, nd.prefix, nd.hi - nd.lo))
				return;
			continue;
		}
		nc = node_children(info, src, &nd, min_symbol, child);
		/* the larger symbols wait; the zero child is taken next */
		while (nc > 0)
			stack[depth++] = child[--nc];
	}
}
