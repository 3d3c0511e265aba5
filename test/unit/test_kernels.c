/*
 * test_kernels.c
 *	  Every SIMD distance kernel set must return the scalar result, within
 *	  float rounding, on every length (odd lengths exercise the tails) and on
 *	  data that is not 16/32/64-byte aligned (vectors inside heap tuples are
 *	  only 4-byte aligned).
 *
 * Tolerance: summation order differs between paths, so two results may
 * differ by a few ulps of the sum of absolute terms.  We allow
 * 1e-5 * sum|terms| (float32 has ~6e-8 relative precision; the worst
 * accumulated difference for n = 16000 is far below this bound, while a
 * wrong tail or a skipped block changes the result by at least one whole
 * term and is caught).  Each path is also compared with a double-precision
 * reference.
 *
 * Kernel sets the CPU lacks are reported as skipped, not passed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/simd/distance_kernels.h"

static int	failures = 0;
static int	checks = 0;

/* Deterministic xorshift PRNG so failures are reproducible. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static float
next_float(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	/* mix of signs and magnitudes, including exact zeros */
	if ((rng_state & 31) == 0)
		return 0.0f;
	return (float) ((double) (rng_state >> 11) / (double) (1ULL << 53) * 4.0 - 2.0);
}

static void
check(const char *kernel, const char *what, int n, int offset,
	  double got, double want, double scale)
{
	double		tol = 1e-5 * scale + 1e-30;

	checks++;
	if (!(fabs(got - want) <= tol))
	{
		failures++;
		if (failures <= 20)
			fprintf(stderr, "FAIL %s %s n=%d offset=%d: got %.9g want %.9g (tol %.3g)\n",
					kernel, what, n, offset, got, want, tol);
	}
}

static void
test_set(const DistanceKernels *k, const float *a, const float *b, int n, int offset)
{
	const DistanceKernels *s = &distance_kernels_scalar;
	double		l2 = 0,
				ip = 0,
				na = 0,
				nb = 0,
				l1 = 0,
				abs_ip = 0;
	CosineSums	cs,
				ss;

	for (int i = 0; i < n; i++)
	{
		double		d = (double) a[i] - b[i];

		l2 += d * d;
		ip += (double) a[i] * b[i];
		abs_ip += fabs((double) a[i] * b[i]);
		na += (double) a[i] * a[i];
		nb += (double) b[i] * b[i];
		l1 += fabs(d);
	}

	check(k->name, "l2_squared/ref", n, offset, k->l2_squared(a, b, n), l2, l2);
	check(k->name, "l2_squared/scalar", n, offset, k->l2_squared(a, b, n), s->l2_squared(a, b, n), l2);
	check(k->name, "inner_product/ref", n, offset, k->inner_product(a, b, n), ip, abs_ip);
	check(k->name, "inner_product/scalar", n, offset, k->inner_product(a, b, n), s->inner_product(a, b, n), abs_ip);
	check(k->name, "l1/ref", n, offset, k->l1(a, b, n), l1, l1);
	check(k->name, "l1/scalar", n, offset, k->l1(a, b, n), s->l1(a, b, n), l1);

	cs = k->cosine_sums(a, b, n);
	ss = s->cosine_sums(a, b, n);
	check(k->name, "cosine.dot/ref", n, offset, cs.dot, ip, abs_ip);
	check(k->name, "cosine.dot/scalar", n, offset, cs.dot, ss.dot, abs_ip);
	check(k->name, "cosine.norm_a/ref", n, offset, cs.norm_a, na, na);
	check(k->name, "cosine.norm_b/scalar", n, offset, cs.norm_b, ss.norm_b, nb);
}

int
main(void)
{
	enum
	{
		MAXN = 16000, PAD = 16
	};
	static const int long_lengths[] = {511, 512, 513, 1000, 1023, 1536, 3999, 4000, 4001, 15999, 16000};
	float	   *abuf = malloc(sizeof(float) * (MAXN + PAD));
	float	   *bbuf = malloc(sizeof(float) * (MAXN + PAD));
	int			skipped = 0;

	for (int i = 0; i < MAXN + PAD; i++)
	{
		abuf[i] = next_float();
		bbuf[i] = next_float();
	}

	for (int kind = 0; kind < DISTANCE_KERNEL_COUNT; kind++)
	{
		const DistanceKernels *k = distance_kernel_sets[kind];
		int			before = failures;

		if (k == NULL)
			continue;
		if (!distance_kernel_supported((DistanceKernelKind) kind))
		{
			printf("kernel %-7s skipped: not supported by this CPU\n", k->name);
			skipped++;
			continue;
		}

		/* every length 1..300 at every float offset 0..15 (a and b offset differently) */
		for (int n = 1; n <= 300; n++)
			for (int off = 0; off < PAD; off++)
				test_set(k, abuf + off, bbuf + (PAD - 1 - off), n, off);
		for (size_t j = 0; j < sizeof(long_lengths) / sizeof(long_lengths[0]); j++)
			for (int off = 0; off < 3; off++)
				test_set(k, abuf + off, bbuf + off + 1, long_lengths[j], off);

		/* identical inputs: distances must be exactly zero on every path */
		for (int n = 1; n <= 70; n++)
		{
			checks++;
			if (k->l2_squared(abuf + 1, abuf + 1, n) != 0.0f || k->l1(abuf + 3, abuf + 3, n) != 0.0f)
			{
				failures++;
				fprintf(stderr, "FAIL %s: distance of a vector to itself is not 0 (n=%d)\n", k->name, n);
			}
		}
		printf("kernel %-7s %s\n", k->name, failures == before ? "ok" : "FAILED");
	}

	/* the dispatcher must never select an unsupported set */
	checks++;
	if (!distance_kernel_select(distance_kernel_best()))
	{
		failures++;
		fprintf(stderr, "FAIL: best kernel set cannot be selected\n");
	}

	printf("kernels: %d passed, %d failed, %d skipped\n", checks - failures, failures, skipped);
	free(abuf);
	free(bbuf);
	return failures == 0 ? 0 : 1;
}
