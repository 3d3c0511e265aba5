/*-------------------------------------------------------------------------
 *
 * sais.c
 *	  Suffix array construction by induced sorting (SA-IS; Nong, Zhang and
 *	  Chan, 2009) over an integer alphabet (PostgreSQL-free).
 *
 * This file owns sais_build() and nothing else: it turns a sentinel-
 * terminated text of uint32 symbols into its suffix array.  The FM-index
 * builder feeds it the concatenated documents (0 = end sentinel,
 * 1 = document separator, 2.. = bytes + 2 or token ids + 2).
 *
 * Algorithm outline (one recursion level, text t of length n):
 *
 *	 Suffix i is S-type if t[i..] < t[i+1..], L-type otherwise; the sentinel
 *	 is S.  i is LMS ("leftmost S") if it is S and i-1 is L.
 *
 *	 1. Put every LMS suffix at the end of its bucket (bucket = first
 *		symbol), in any order, then induce: a left-to-right scan places the
 *		L-type suffixes at bucket heads, a right-to-left scan places the
 *		S-type suffixes at bucket tails.  Afterwards the LMS suffixes are
 *		sorted by their LMS substrings (t[i..next LMS], inclusive).
 *	 2. Name the LMS substrings (equal substrings get equal names, names in
 *		sorted order) and write the names in text order: the reduced string
 *		s1, at most n/2 long, whose last symbol is the unique smallest name
 *		(the sentinel's).
 *	 3. If all names are distinct the suffix array of s1 is immediate,
 *		otherwise recurse on s1 with alphabet = number of names.
 *	 4. The suffix array of s1 is the true order of the LMS suffixes: put
 *		them at the bucket tails in that order and induce once more; this
 *		yields the complete suffix array.
 *
 * Memory layout (why the scratch stays small).  No type array is kept:
 * types are recomputed on the fly in right-to-left text scans, and inside
 * the induction scans the type of a predecessor follows from the symbols
 * and the bucket pointers (see induce_l / induce_s).  Lengths and names of
 * the LMS substrings live in sa[m..n) (m = number of LMS positions <= n/2;
 * LMS positions are >= 2 apart, so p/2 is a collision-free slot index).
 * For the recursion the reduced string lives in the tail sa[n-m..n), its
 * suffix array in the head sa[0..m), and the gap sa[m..n-m) is handed down
 * as spare room where the child keeps its bucket arrays when they fit.
 * Scratch from the allocator is therefore only the bucket arrays: two
 * arrays of sigma words at the top level (or one, recounting the text,
 * when sigma is large relative to n), and at a recursion level whose
 * buckets do not fit in the spare room either two small arrays or one
 * array of (alphabet of that level) <= n/2 words.  A level releases its
 * own bucket arrays before recursing, so the peak is at most
 * max(2 * sigma, n / 2 + 65536) words
 * (buckets_setup), within the "n + O(sigma)" budget of sais.h.  On byte or
 * vocabulary alphabets the recursion levels normally fit in the spare room
 * and the peak is just the top level's 2 * sigma words.
 *
 * Positions are uint32_t; UINT32_MAX marks an empty slot, so n may be up
 * to UINT32_MAX (all positions, names, lengths and bucket sums are < n or
 * <= n and fit in 32 bits).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sais.h"

#define SAIS_EMPTY			UINT32_MAX

/* allocator->check is called when the loop index has these bits all zero */
#define SAIS_CHECK_MASK		((UINT32_C(1) << 20) - 1)

/*
 * The induction scans read t[sa[i] - 1] at effectively random positions,
 * one cache miss each on large texts; the slots are read in a known order,
 * so the symbols this many slots ahead are prefetched (about 25% less time
 * in an A/B run on a 20M-symbol random text; 16 and 64 were slower than
 * 32).  A slot not yet filled just wastes one prefetch.
 */
#define SAIS_PREFETCH_DISTANCE	32

/*
 * Bucket arrays of one level.  cnt holds symbol counts and bkt the working
 * pointers; when cnt == bkt there is only one array and the counts are
 * recomputed from the text each time the pointers are reset (trading one
 * text scan for sigma words of memory).
 */
typedef struct SaisBuckets
{
	uint32_t   *cnt;
	uint32_t   *bkt;
	bool		owned;			/* allocated here (vs. spare room in sa) */
} SaisBuckets;

static void sais_level(const uint32_t *t, uint32_t *sa, uint32_t n,
					   uint32_t sigma, uint32_t *spare, uint32_t spare_len,
					   const NgramAllocator *allocator);

static inline void
prefetch_predecessor(const uint32_t *t, uint32_t p)
{
#if defined(__GNUC__) || defined(__clang__)
	if (p != SAIS_EMPTY && p > 0)
		__builtin_prefetch(t + p - 1);
#else
	(void) t;
	(void) p;
#endif
}

static inline void
sais_check(const NgramAllocator *allocator, uint32_t i)
{
	if ((i & SAIS_CHECK_MASK) == 0 && allocator->check != NULL)
		allocator->check();
}

static void
count_symbols(const uint32_t *t, uint32_t n, uint32_t sigma, uint32_t *cnt,
			  const NgramAllocator *allocator)
{
	memset(cnt, 0, (size_t) sigma * sizeof(uint32_t));
	for (uint32_t i = 0; i < n; i++)
	{
		sais_check(allocator, i);
		cnt[t[i]]++;
	}
}

/*
 * Chooses where the bucket arrays of a level live and fills the counts.
 * Two arrays when they fit in the spare room or are small next to n (the
 * usual case: bytes or a token vocabulary at the top level); otherwise a
 * single array and recounting, so that a level with a huge alphabet (a
 * reduced string with nearly all names distinct) costs at most sigma <= n
 * words.
 */
static void
buckets_setup(SaisBuckets *b, const uint32_t *t, uint32_t n, uint32_t sigma,
			  uint32_t *spare, uint32_t spare_len,
			  const NgramAllocator *allocator)
{
	uint64_t	two = (uint64_t) sigma * 2;

	if (spare != NULL && two <= spare_len)
	{
		b->cnt = spare;
		b->bkt = spare + sigma;
		b->owned = false;
	}
	else if (spare != NULL && sigma <= spare_len)
	{
		b->cnt = b->bkt = spare;
		b->owned = false;
	}
	else if (two <= (uint64_t) n / 2 + 65536)
	{
		b->cnt = allocator->alloc((size_t) two * sizeof(uint32_t));
		b->bkt = b->cnt + sigma;
		b->owned = true;
	}
	else
	{
		b->cnt = b->bkt = allocator->alloc((size_t) sigma * sizeof(uint32_t));
		b->owned = true;
	}

	if (b->cnt != b->bkt)
		count_symbols(t, n, sigma, b->cnt, allocator);
}

static void
buckets_release(SaisBuckets *b, const NgramAllocator *allocator)
{
	if (b->owned)
		allocator->release(b->cnt);
	b->cnt = b->bkt = NULL;
	b->owned = false;
}

/*
 * Resets the working pointers: bkt[c] = first slot of bucket c (heads), or
 * one past its last slot (tails).
 */
static void
buckets_reset(const SaisBuckets *b, const uint32_t *t, uint32_t n,
			  uint32_t sigma, bool tails, const NgramAllocator *allocator)
{
	uint32_t	sum = 0;

	if (b->cnt == b->bkt)
		count_symbols(t, n, sigma, b->bkt, allocator);

	for (uint32_t c = 0; c < sigma; c++)
	{
		uint32_t	k = b->cnt[c];

		sum += k;
		b->bkt[c] = tails ? sum : sum - k;
	}
}

/*
 * Left-to-right scan: for each suffix p in sa whose predecessor j = p-1 is
 * L-type, append j at the head of its bucket.
 *
 * When this runs, sa holds only LMS seeds and L-type suffixes, so p is LMS
 * or L.  If p is LMS, j is L and t[j] > t[p]; if p is L, j is L exactly when
 * t[j] >= t[p].  Hence "j is L iff t[j] >= t[p]" without a type array.
 */
static void
induce_l(const uint32_t *t, uint32_t *sa, uint32_t n, uint32_t sigma,
		 const SaisBuckets *b, const NgramAllocator *allocator)
{
	uint32_t   *bkt = b->bkt;

	buckets_reset(b, t, n, sigma, false, allocator);
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	p = sa[i];

		sais_check(allocator, i);
		if (i + SAIS_PREFETCH_DISTANCE < n)
			prefetch_predecessor(t, sa[i + SAIS_PREFETCH_DISTANCE]);
		if (p == SAIS_EMPTY || p == 0)
			continue;
		if (t[p - 1] >= t[p])
			sa[bkt[t[p - 1]]++] = p - 1;
	}
}

/*
 * Right-to-left scan: for each suffix p whose predecessor j = p-1 is
 * S-type, prepend j at the tail of its bucket.
 *
 * j is S if t[j] < t[p], L if t[j] > t[p], and has p's type if they are
 * equal.  p's type follows from where it sits: the S-type suffixes of
 * bucket c form its tail part, which this scan fills from the top down and
 * always before reading it, so slots at or above bkt[c] (the last write)
 * are S and the slots below are L.
 *
 * With collect (first round), the LMS suffixes are also gathered, sorted,
 * into sa[n-m..n); returns m.  p at slot i is LMS iff it is S and t[p-1] >
 * t[p] (equal would make p-1 S too); the sentinel is LMS by definition.
 * They are met largest first, and slots at or above i are dead for this
 * scan (inductions always write below the slot being read), so the k-th
 * LMS found goes to slot n-k >= i.  This costs nothing extra, unlike a
 * separate pass, which would reread t at random positions.
 */
static uint32_t
induce_s(const uint32_t *t, uint32_t *sa, uint32_t n, uint32_t sigma,
		 const SaisBuckets *b, bool collect, const NgramAllocator *allocator)
{
	uint32_t   *bkt = b->bkt;
	uint32_t	top = n;

	buckets_reset(b, t, n, sigma, true, allocator);
	for (uint32_t i = n; i-- > 0;)
	{
		uint32_t	p = sa[i];
		uint32_t	c;
		uint32_t	cj;
		bool		p_is_s;

		sais_check(allocator, i);
		if (i >= SAIS_PREFETCH_DISTANCE)
			prefetch_predecessor(t, sa[i - SAIS_PREFETCH_DISTANCE]);
		if (p == SAIS_EMPTY || p == 0)
			continue;
		c = t[p];
		cj = t[p - 1];
		p_is_s = i >= bkt[c];
		if (cj < c || (cj == c && p_is_s))
			sa[--bkt[cj]] = p - 1;
		if (collect && ((p_is_s && cj > c) || p == n - 1))
			sa[--top] = p;
	}
	return n - top;
}

/*
 * Names the sorted LMS substrings in sa[0..m) and leaves the reduced string
 * (names in text order) in sa[n-m..n).  Returns the number of names.
 *
 * First the substring lengths go to sa[m + p/2]; two LMS substrings are
 * equal iff they have the same length and the same symbols (the types
 * inside are then equal too: both end in an S symbol and types are
 * determined right to left by the symbols).  The sum of all lengths is
 * below n + m, so the comparisons are linear overall.
 */
static uint32_t
name_lms(const uint32_t *t, uint32_t *sa, uint32_t n, uint32_t m,
		 const NgramAllocator *allocator)
{
	uint32_t	names = 0;
	uint32_t	prev = SAIS_EMPTY;
	uint32_t	prev_len = 0;
	uint32_t	next_lms = n - 1;
	bool		next_s = true;
	uint32_t	k;
	uint64_t	work = 0;

	for (uint32_t i = m; i < n; i++)
	{
		sais_check(allocator, i);
		sa[i] = SAIS_EMPTY;
	}

	/*
	 * Lengths, t[p..next LMS] inclusive.  The sentinel is found first (i =
	 * n - 2 is L) and gets length 1.
	 */
	for (uint32_t i = n - 1; i-- > 0;)
	{
		bool		s = t[i] < t[i + 1] || (t[i] == t[i + 1] && next_s);

		sais_check(allocator, i);
		if (!s && next_s)
		{
			sa[m + (i + 1) / 2] = next_lms - (i + 1) + 1;
			next_lms = i + 1;
		}
		next_s = s;
	}

	for (uint32_t i = 0; i < m; i++)
	{
		uint32_t	p = sa[i];
		uint32_t	len = sa[m + p / 2];
		bool		same = (len == prev_len);

		sais_check(allocator, i);
		if (same)
		{
			for (uint32_t j = 0; j < len; j++)
			{
				if (t[p + j] != t[prev + j])
				{
					same = false;
					break;
				}
			}
			/* the inner loops add up to O(n): check by work done, too */
			work += len;
			if (work > SAIS_CHECK_MASK)
			{
				work = 0;
				if (allocator->check != NULL)
					allocator->check();
			}
		}
		if (!same)
			names++;
		prev = p;
		prev_len = len;
		sa[m + p / 2] = names - 1;
	}

	/*
	 * Gather the names to the tail in text order.  The write index never
	 * falls below the read index (at most n - i names lie in sa[i..n)).
	 */
	k = n;
	for (uint32_t i = n; i-- > m;)
	{
		sais_check(allocator, i);
		if (sa[i] != SAIS_EMPTY)
			sa[--k] = sa[i];
	}
	return names;
}

/*
 * Writes the LMS positions in text order to sa[n-m..n), from the right.
 */
static void
list_lms(const uint32_t *t, uint32_t *sa, uint32_t n,
		 const NgramAllocator *allocator)
{
	uint32_t	k = n;
	bool		next_s = true;

	for (uint32_t i = n - 1; i-- > 0;)
	{
		bool		s = t[i] < t[i + 1] || (t[i] == t[i + 1] && next_s);

		sais_check(allocator, i);
		if (!s && next_s)
			sa[--k] = i + 1;
		next_s = s;
	}
}

/*
 * One recursion level.  spare/spare_len: room the caller does not need
 * while this level runs (NULL/0 at the top).  n >= 2 and the sentinel
 * property hold.
 */
static void
sais_level(const uint32_t *t, uint32_t *sa, uint32_t n, uint32_t sigma,
		   uint32_t *spare, uint32_t spare_len,
		   const NgramAllocator *allocator)
{
	SaisBuckets b;
	uint32_t	m;
	uint32_t	names;
	uint32_t   *s1;

	buckets_setup(&b, t, n, sigma, spare, spare_len, allocator);

	/* step 1: LMS seeds at the bucket tails, in text order, then induce */
	for (uint32_t i = 0; i < n; i++)
	{
		sais_check(allocator, i);
		sa[i] = SAIS_EMPTY;
	}
	buckets_reset(&b, t, n, sigma, true, allocator);
	{
		bool		next_s = true;

		/* i = n - 2 is always L, so the sentinel is found as LMS too */
		for (uint32_t i = n - 1; i-- > 0;)
		{
			bool		s = t[i] < t[i + 1] || (t[i] == t[i + 1] && next_s);

			sais_check(allocator, i);
			if (!s && next_s)
				sa[--b.bkt[t[i + 1]]] = i + 1;
			next_s = s;
		}
	}
	induce_l(t, sa, n, sigma, &b, allocator);
	m = induce_s(t, sa, n, sigma, &b, true, allocator);
	/* m <= n/2, so the sorted LMS suffixes move without overlap */
	memcpy(sa, sa + (n - m), (size_t) m * sizeof(uint32_t));

	/* step 2: reduced string in sa[n-m..n) */
	names = name_lms(t, sa, n, m, allocator);
	s1 = sa + (n - m);

	/* step 3: suffix array of s1 in sa[0..m) */
	if (names < m)
	{
		/*
		 * Our buckets are rebuilt afterwards (one counting pass), so release
		 * them now: then only one level's buckets exist at a time.
		 */
		buckets_release(&b, allocator);
		sais_level(s1, sa, m, names, sa + m, n - 2 * m, allocator);
		buckets_setup(&b, t, n, sigma, spare, spare_len, allocator);
	}
	else
	{
		for (uint32_t i = 0; i < m; i++)
		{
			sais_check(allocator, i);
			sa[s1[i]] = i;
		}
	}

	/* step 4: map ranks of s1 back to text positions; s1 is overwritten */
	list_lms(t, sa, n, allocator);
	for (uint32_t i = 0; i < m; i++)
	{
		sais_check(allocator, i);
		sa[i] = s1[sa[i]];
	}
	for (uint32_t i = m; i < n; i++)
	{
		sais_check(allocator, i);
		sa[i] = SAIS_EMPTY;
	}

	/*
	 * Sorted LMS suffixes to their bucket tails, largest first: the target
	 * of the i-th is never below i (all smaller LMS suffixes precede it), so
	 * nothing unread is overwritten.
	 */
	buckets_reset(&b, t, n, sigma, true, allocator);
	for (uint32_t i = m; i-- > 0;)
	{
		uint32_t	p = sa[i];

		sais_check(allocator, i);
		sa[i] = SAIS_EMPTY;
		sa[--b.bkt[t[p]]] = p;
	}
	induce_l(t, sa, n, sigma, &b, allocator);
	(void) induce_s(t, sa, n, sigma, &b, false, allocator);

	buckets_release(&b, allocator);
}

int
sais_build(const uint32_t *text, uint32_t *sa, uint32_t n, uint32_t sigma,
		   const NgramAllocator *allocator)
{
	/* validate in one pass before touching sa */
	if (n == 0 || sigma == 0 || text[n - 1] != 0)
		return -1;
	for (uint32_t i = 0; i < n - 1; i++)
	{
		sais_check(allocator, i);
		if (text[i] == 0 || text[i] >= sigma)
			return -1;
	}

	if (n == 1)
	{
		sa[0] = 0;
		return 0;
	}
	sais_level(text, sa, n, sigma, NULL, 0, allocator);
	return 0;
}
