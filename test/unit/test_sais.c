/*
 * test_sais.c
 *	  sais_build must return exactly the suffix array of its input.
 *
 * Small texts (n <= 2000) are compared with a naive suffix sort (qsort of
 * all suffixes, comparing symbol by symbol): random texts over several
 * alphabet sizes, highly repetitive texts (one symbol, periods, Fibonacci
 * and Thue-Morse words, runs) that drive the recursion deep, and the real
 * layout of the n-gram index (documents of bytes + 2 separated by 1, ending
 * in the sentinel 0).  Large texts (n = 1e6) are checked without a
 * reference: the result must be a permutation, and consecutive suffixes
 * a = sa[k], b = sa[k+1] must satisfy t[a] < t[b], or t[a] == t[b] and
 * rank[a+1] < rank[b+1] (this pairwise condition characterizes the suffix
 * array, and costs O(n) even on repetitive texts); random large texts are
 * also compared suffix by suffix with a bounded loop.
 *
 * The allocator counts live blocks and bytes: every block must be released
 * and the peak scratch must stay within the documented bound.  Invalid
 * inputs must give -1.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ngram/sais.h"

static int	failures = 0;
static int	checks = 0;

/* Deterministic xorshift PRNG so failures are reproducible. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t
rnd(uint32_t bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t) ((rng_state >> 11) % bound);
}

/* ---- counting allocator ---- */

typedef union
{
	size_t		size;
	max_align_t align;
} BlockHeader;

static size_t live_bytes = 0;
static size_t peak_bytes = 0;
static long live_blocks = 0;
static long check_calls = 0;

static void *
test_alloc(size_t size)
{
	BlockHeader *h = malloc(sizeof(BlockHeader) + size);

	if (h == NULL)
	{
		fprintf(stderr, "out of memory (%zu bytes)\n", size);
		exit(2);
	}
	h->size = size;
	live_bytes += size;
	live_blocks++;
	if (live_bytes > peak_bytes)
		peak_bytes = live_bytes;
	return h + 1;
}

static void
test_release(void *ptr)
{
	BlockHeader *h = (BlockHeader *) ptr - 1;

	live_bytes -= h->size;
	live_blocks--;
	free(h);
}

static void
test_check(void)
{
	check_calls++;
}

static const NgramAllocator allocator = {test_alloc, test_release, test_check};

/* ---- reference ---- */

static const uint32_t *cmp_text;

static int
cmp_suffix(const void *a, const void *b)
{
	uint32_t	i = *(const uint32_t *) a;
	uint32_t	j = *(const uint32_t *) b;

	/* the unique sentinel stops the loop before either end */
	while (cmp_text[i] == cmp_text[j])
	{
		i++;
		j++;
	}
	return cmp_text[i] < cmp_text[j] ? -1 : 1;
}

static void
fail(const char *what, uint32_t n, uint32_t sigma, const char *detail)
{
	failures++;
	if (failures <= 20)
		fprintf(stderr, "FAIL %s n=%u sigma=%u: %s\n", what, n, sigma, detail);
}

/*
 * Runs sais_build and checks the result against the naive sort; also that
 * no scratch leaks and the peak stays within 2 * sigma + n / 2 words plus
 * slack (see the memory notes in sais.c).
 */
static void
check_small(const char *what, const uint32_t *t, uint32_t n, uint32_t sigma)
{
	uint32_t   *sa = malloc((n + 1) * sizeof(uint32_t));
	uint32_t   *ref = malloc((n + 1) * sizeof(uint32_t));
	size_t		bound = ((size_t) 2 * sigma + n / 2 + 65536) * sizeof(uint32_t);
	int			rc;

	checks++;
	sa[n] = 0xDEADBEEF;			/* guard */
	peak_bytes = 0;
	rc = sais_build(t, sa, n, sigma, &allocator);
	if (rc != 0)
	{
		fail(what, n, sigma, "returned non-zero");
		goto done;
	}
	if (sa[n] != 0xDEADBEEF)
		fail(what, n, sigma, "wrote past sa[n-1]");
	if (live_blocks != 0 || live_bytes != 0)
		fail(what, n, sigma, "scratch not released");
	if (peak_bytes > bound)
		fail(what, n, sigma, "peak scratch above bound");

	for (uint32_t i = 0; i < n; i++)
		ref[i] = i;
	cmp_text = t;
	qsort(ref, n, sizeof(uint32_t), cmp_suffix);
	if (memcmp(sa, ref, n * sizeof(uint32_t)) != 0)
		fail(what, n, sigma, "differs from naive suffix sort");

done:
	free(sa);
	free(ref);
}

/*
 * Large texts: permutation + pairwise rank condition (+ optional direct
 * comparison of consecutive suffixes, bounded by the sentinel).
 */
static void
check_large(const char *what, const uint32_t *t, uint32_t n, uint32_t sigma,
			int direct)
{
	uint32_t   *sa = malloc(n * sizeof(uint32_t));
	uint32_t   *rank = malloc(n * sizeof(uint32_t));
	size_t		bound = ((size_t) 2 * sigma + n / 2 + 65536) * sizeof(uint32_t);
	long		calls_before = check_calls;
	int			ok = 1;

	checks++;
	peak_bytes = 0;
	if (sais_build(t, sa, n, sigma, &allocator) != 0)
	{
		fail(what, n, sigma, "returned non-zero");
		goto done;
	}
	if (live_blocks != 0 || live_bytes != 0)
		fail(what, n, sigma, "scratch not released");
	if (peak_bytes > bound)
		fail(what, n, sigma, "peak scratch above bound");
	if (check_calls - calls_before < 5)
		fail(what, n, sigma, "allocator->check hardly called");

	for (uint32_t i = 0; i < n; i++)
		rank[i] = UINT32_MAX;
	for (uint32_t k = 0; k < n; k++)
	{
		if (sa[k] >= n || rank[sa[k]] != UINT32_MAX)
		{
			fail(what, n, sigma, "not a permutation");
			goto done;
		}
		rank[sa[k]] = k;
	}
	for (uint32_t k = 0; k + 1 < n && ok; k++)
	{
		uint32_t	a = sa[k];
		uint32_t	b = sa[k + 1];

		if (t[a] > t[b] || (t[a] == t[b] && rank[a + 1] > rank[b + 1]))
			ok = 0;
		if (direct && ok)
		{
			uint32_t	i = a;
			uint32_t	j = b;

			while (i < n && j < n && t[i] == t[j])
			{
				i++;
				j++;
			}
			if (i >= n || j >= n || t[i] > t[j])
				ok = 0;
		}
	}
	if (!ok)
		fail(what, n, sigma, "suffixes out of order");

done:
	free(sa);
	free(rank);
}

/* ---- texts ---- */

/* n - 1 random symbols in [1, k], then the sentinel; sigma >= k + 1 */
static void
fill_random(uint32_t *t, uint32_t n, uint32_t k)
{
	for (uint32_t i = 0; i + 1 < n; i++)
		t[i] = 1 + rnd(k);
	t[n - 1] = 0;
}

static void
test_random(void)
{
	static const uint32_t alphabets[] = {1, 2, 3, 4, 26, 258, 70000};
	uint32_t   *t = malloc(2000 * sizeof(uint32_t));

	for (size_t a = 0; a < sizeof(alphabets) / sizeof(alphabets[0]); a++)
	{
		for (int rep = 0; rep < 150; rep++)
		{
			uint32_t	n = rep < 20 ? (uint32_t) rep + 1 : 1 + rnd(2000);
			uint32_t	k = alphabets[a];
			/* sometimes a larger sigma than needed: empty buckets */
			uint32_t	sigma = k + 1 + (rep % 3 == 0 ? rnd(100) : 0);

			fill_random(t, n, k);
			check_small("random", t, n, sigma);
		}
	}
	free(t);
}

static void
test_repetitive(void)
{
	uint32_t   *t = malloc(2001 * sizeof(uint32_t));
	static const uint32_t lengths[] = {2, 3, 4, 5, 7, 8, 16, 17, 100, 1000, 2000};

	for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++)
	{
		uint32_t	n = lengths[l];

		/* one symbol */
		for (uint32_t i = 0; i + 1 < n; i++)
			t[i] = 5;
		t[n - 1] = 0;
		check_small("same symbol", t, n, 6);

		/* periods 2..7, also periods of a random pattern */
		for (uint32_t p = 2; p <= 7; p++)
		{
			uint32_t	pat[7];

			for (uint32_t i = 0; i + 1 < n; i++)
				t[i] = 1 + i % p;
			t[n - 1] = 0;
			check_small("periodic", t, n, p + 1);
			for (uint32_t i = 0; i < p; i++)
				pat[i] = 1 + rnd(3);
			for (uint32_t i = 0; i + 1 < n; i++)
				t[i] = pat[i % p];
			t[n - 1] = 0;
			check_small("periodic random pattern", t, n, 4);
		}

		/* Thue-Morse */
		for (uint32_t i = 0; i + 1 < n; i++)
		{
			uint32_t	bits = 0;

			for (uint32_t x = i; x != 0; x &= x - 1)
				bits++;
			t[i] = 1 + (bits & 1);
		}
		t[n - 1] = 0;
		check_small("thue-morse", t, n, 3);
	}

	/* Fibonacci words of every length up to 2000 in a few steps */
	{
		char	   *f = malloc(4200);
		char	   *g = malloc(4200);
		size_t		lf = 1;
		size_t		lg = 1;

		/* f = "b", g = "a"; next g = g + f: a, ab, aba, abaab, ... */
		strcpy(f, "b");
		strcpy(g, "a");
		while (lg < 2000)
		{
			char	   *h = malloc(4200);
			size_t		lh = lg + lf;

			memcpy(h, g, lg);
			memcpy(h + lg, f, lf);
			h[lh] = '\0';
			free(f);
			f = g;
			lf = lg;
			g = h;
			lg = lh;
		}
		for (uint32_t n = 2; n <= 2000; n += (n < 100 ? 1 : 37))
		{
			for (uint32_t i = 0; i + 1 < n; i++)
				t[i] = (uint32_t) (g[i] - 'a' + 1);
			t[n - 1] = 0;
			check_small("fibonacci", t, n, 3);
		}
		free(f);
		free(g);
	}

	/* runs of random length of random symbols */
	for (int rep = 0; rep < 60; rep++)
	{
		uint32_t	n = 1 + rnd(2000);
		uint32_t	k = 1 + rnd(rep % 2 ? 3 : 300);
		uint32_t	i = 0;

		while (i + 1 < n)
		{
			uint32_t	c = 1 + rnd(k);
			uint32_t	len = 1 + rnd(rep % 3 ? 20 : 200);

			while (len-- > 0 && i + 1 < n)
				t[i++] = c;
		}
		t[n - 1] = 0;
		check_small("runs", t, n, k + 1);
	}

	/* squares of random strings, repeated (deep recursion) */
	for (int rep = 0; rep < 30; rep++)
	{
		uint32_t	unit = 1 + rnd(50);
		uint32_t	n = 2 + rnd(1999);
		uint32_t	pat[50];

		for (uint32_t i = 0; i < unit; i++)
			pat[i] = 1 + rnd(2);
		for (uint32_t i = 0; i + 1 < n; i++)
			t[i] = pat[i % unit] + ((i / unit) % 7 == 6 ? 1 : 0);
		t[n - 1] = 0;
		check_small("near-periodic", t, n, 4);
	}
	free(t);
}

/*
 * The index layout: documents of bytes + 2, separated by 1, then 0.  Some
 * documents are repeated verbatim, some use few distinct bytes.
 */
static uint32_t
fill_documents(uint32_t *t, uint32_t cap)
{
	uint32_t	n = 0;
	uint32_t	ndocs = 1 + rnd(30);
	uint32_t	first_start = 0;
	uint32_t	first_len = 0;

	for (uint32_t d = 0; d < ndocs; d++)
	{
		uint32_t	len = rnd(100);
		uint32_t	bytes = rnd(2) ? 256 : 1 + rnd(4);

		if (n + len + 2 > cap)
			break;
		if (d > 0)
			t[n++] = 1;
		if (d > 0 && rnd(4) == 0 && n + first_len + 2 <= cap)
		{
			memmove(t + n, t + first_start, first_len * sizeof(uint32_t));
			n += first_len;
			continue;
		}
		if (d == 0)
		{
			first_start = n;
			first_len = len;
		}
		for (uint32_t i = 0; i < len; i++)
			t[n++] = 2 + rnd(bytes);
	}
	t[n++] = 0;
	return n;
}

static void
test_documents(void)
{
	uint32_t   *t = malloc(4000 * sizeof(uint32_t));

	for (int rep = 0; rep < 200; rep++)
	{
		uint32_t	n = fill_documents(t, 4000);

		check_small("documents", t, n, 258);
	}
	free(t);
}

static void
test_large(void)
{
	uint32_t	n = 1000000;
	uint32_t   *t = malloc(n * sizeof(uint32_t));

	fill_random(t, n, 257);
	check_large("large random 258", t, n, 258, 1);
	fill_random(t, n, 49999);
	check_large("large random 50000", t, n, 50000, 1);

	/* documents, rank check only */
	{
		uint32_t	i = 0;

		while (i + 1 < n)
		{
			uint32_t	len = 1 + rnd(400);

			for (uint32_t j = 0; j < len && i + 1 < n; j++)
				t[i++] = 2 + rnd(4);
			if (i + 1 < n)
				t[i++] = 1;
		}
		t[n - 1] = 0;
		check_large("large documents", t, n, 258, 0);
	}

	for (uint32_t i = 0; i + 1 < n; i++)
		t[i] = 1;
	t[n - 1] = 0;
	check_large("large same symbol", t, n, 2, 0);

	for (uint32_t i = 0; i + 1 < n; i++)
		t[i] = 1 + (i % 3 == 2);
	t[n - 1] = 0;
	check_large("large periodic", t, n, 3, 0);

	/* Fibonacci (Sturmian) word: floor((i+2)/phi) - floor((i+1)/phi) */
	{
		double		phi = 1.6180339887498949;

		for (uint32_t i = 0; i + 1 < n; i++)
			t[i] = 1 + (uint32_t) ((uint64_t) ((i + 2) / phi) -
								   (uint64_t) ((i + 1) / phi));
		t[n - 1] = 0;
		check_large("large fibonacci", t, n, 3, 0);
	}
	free(t);
}

static void
expect_invalid(const char *what, const uint32_t *t, uint32_t n, uint32_t sigma)
{
	uint32_t	sa[8];

	checks++;
	if (sais_build(t, sa, n, sigma, &allocator) != -1)
		fail(what, n, sigma, "expected -1");
	if (live_blocks != 0)
		fail(what, n, sigma, "scratch not released");
}

static void
test_invalid(void)
{
	uint32_t	no_sentinel[] = {3, 1, 2};
	uint32_t	zero_inside[] = {3, 0, 2, 0};
	uint32_t	too_big[] = {3, 1, 9, 0};
	uint32_t	ok[] = {3, 1, 2, 0};
	uint32_t	only_zero[] = {0};
	uint32_t	sa[4];

	expect_invalid("no sentinel", no_sentinel, 3, 4);
	expect_invalid("zero inside", zero_inside, 4, 4);
	expect_invalid("symbol >= sigma", too_big, 4, 9);
	expect_invalid("symbol == sigma", ok, 4, 3);
	expect_invalid("empty", ok, 0, 4);
	expect_invalid("sigma 0", only_zero, 1, 0);

	checks++;
	if (sais_build(only_zero, sa, 1, 1, &allocator) != 0 || sa[0] != 0)
		fail("only sentinel", 1, 1, "wrong");
	checks++;
	if (sais_build(ok, sa, 4, 4, &allocator) != 0 ||
		sa[0] != 3 || sa[1] != 1 || sa[2] != 2 || sa[3] != 0)
		fail("tiny", 4, 4, "wrong");
}

int
main(void)
{
	test_invalid();
	test_random();
	test_repetitive();
	test_documents();
	test_large();

	printf("test_sais: %d checks, %d failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
