/*-------------------------------------------------------------------------
 *
 * kernel_bench.c
 *	  Nanoseconds per distance for every supported kernel set.
 *
 *	  make test/bench/kernel_bench
 *	  test/bench/kernel_bench [--tsv] [--runs N] [--min-ms M]
 *							  [--dims 100,128,...] [--kernels scalar,avx2]
 *
 * For every dimension, function (l2_squared, inner_product, cosine_sums,
 * l1) and kernel set the CPU supports, the function is called REPS times
 * on one pair of vectors that stays in cache; REPS is calibrated so that
 * one timed run lasts about --min-ms milliseconds.  Each cell is timed
 * --runs times and the median (and min/max) ns per call is reported, with
 * the speedup of the median against the scalar set.
 *
 * The work cannot be optimised away: the kernels live in other translation
 * units and are called through the function-pointer tables (no LTO), every
 * result is accumulated into a sum that is stored to a volatile at the end,
 * and an empty asm with a memory clobber in the loop tells the compiler that
 * the inputs may have changed between calls.
 *
 * The first vector is 64-byte aligned; the second is deliberately offset by
 * one float, like vectors inside heap tuples (only 4-byte aligned), so the
 * unaligned-load paths are what is measured.
 *
 * Before timing, each kernel's result is checked against the scalar one
 * (relative difference), so a broken SIMD path is not reported as "fast".
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/simd/distance_kernels.h"

#define MAX_DIMS 32
#define MAX_RUNS 101

enum
{
	FN_L2, FN_IP, FN_COS, FN_L1, FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
	"l2_squared", "inner_product", "cosine_sums", "l1"
};

static volatile float sink;

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* One call of function fn of set k; returns a float that depends on it. */
static inline float
call_one(const DistanceKernels *k, int fn, const float *a, const float *b, int n)
{
	switch (fn)
	{
		case FN_L2:
			return k->l2_squared(a, b, n);
		case FN_IP:
			return k->inner_product(a, b, n);
		case FN_COS:
			{
				CosineSums	s = k->cosine_sums(a, b, n);

				return s.dot + s.norm_a + s.norm_b;
			}
		default:
			return k->l1(a, b, n);
	}
}

/* Time reps calls; returns elapsed ns. */
static double
timed_loop(const DistanceKernels *k, int fn, const float *a, const float *b,
		   int n, long reps)
{
	float		acc = 0.0f;
	double		t0,
				t1;

	/* Hoist the switch out of the loop so that only the call is measured. */
	t0 = now_ns();
	switch (fn)
	{
		case FN_L2:
			for (long r = 0; r < reps; r++)
			{
				__asm__ volatile ("" : : "r"(a), "r"(b) : "memory");
				acc += k->l2_squared(a, b, n);
			}
			break;
		case FN_IP:
			for (long r = 0; r < reps; r++)
			{
				__asm__ volatile ("" : : "r"(a), "r"(b) : "memory");
				acc += k->inner_product(a, b, n);
			}
			break;
		case FN_COS:
			for (long r = 0; r < reps; r++)
			{
				CosineSums	s;

				__asm__ volatile ("" : : "r"(a), "r"(b) : "memory");
				s = k->cosine_sums(a, b, n);
				acc += s.dot + s.norm_a + s.norm_b;
			}
			break;
		default:
			for (long r = 0; r < reps; r++)
			{
				__asm__ volatile ("" : : "r"(a), "r"(b) : "memory");
				acc += k->l1(a, b, n);
			}
			break;
	}
	t1 = now_ns();
	sink = acc;
	return t1 - t0;
}

static int
cmp_double(const void *x, const void *y)
{
	double		a = *(const double *) x;
	double		b = *(const double *) y;

	return (a > b) - (a < b);
}

static int
parse_list(const char *s, int *out, int max)
{
	int			count = 0;
	char	   *copy = strdup(s);
	char	   *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok && count < max;
		 tok = strtok_r(NULL, ",", &save))
	{
		out[count] = atoi(tok);
		if (out[count] <= 0)
		{
			fprintf(stderr, "kernel_bench: bad dimension \"%s\"\n", tok);
			exit(2);
		}
		count++;
	}
	free(copy);
	return count;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: kernel_bench [--tsv] [--runs N] [--min-ms M] [--dims D1,D2,...]"
			" [--kernels name,...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int			dims[MAX_DIMS] = {100, 128, 384, 768, 784, 1536, 4000};
	int			ndims = 7;
	int			runs = 7;
	double		min_ms = 20.0;
	int			tsv = 0;
	const char *only_kernels = NULL;
	int			use[DISTANCE_KERNEL_COUNT];
	int			maxdim = 0;
	float	   *abuf,
			   *bbuf,
			   *a,
			   *b;
	/* medians[kind][fn][dim index] */
	static double medians[DISTANCE_KERNEL_COUNT][FN_COUNT][MAX_DIMS];
	static double mins[DISTANCE_KERNEL_COUNT][FN_COUNT][MAX_DIMS];
	static double maxs[DISTANCE_KERNEL_COUNT][FN_COUNT][MAX_DIMS];
	int			failures = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--tsv") == 0)
			tsv = 1;
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
			min_ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--dims") == 0 && i + 1 < argc)
			ndims = parse_list(argv[++i], dims, MAX_DIMS);
		else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc)
			only_kernels = argv[++i];
		else
			usage();
	}
	if (runs < 1 || runs > MAX_RUNS || min_ms <= 0 || ndims < 1)
		usage();

	for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
	{
		const DistanceKernels *set = distance_kernel_sets[k];

		use[k] = set != NULL && distance_kernel_supported((DistanceKernelKind) k);
		if (use[k] && only_kernels != NULL)
		{
			char		pattern[64];
			char		list[256];

			snprintf(pattern, sizeof(pattern), ",%s,", set->name);
			snprintf(list, sizeof(list), ",%s,", only_kernels);
			use[k] = strstr(list, pattern) != NULL;
		}
	}
	/* Speedups are relative to scalar, so scalar is always measured. */
	use[DISTANCE_KERNEL_SCALAR] = 1;

	for (int d = 0; d < ndims; d++)
		if (dims[d] > maxdim)
			maxdim = dims[d];

	abuf = aligned_alloc(64, ((size_t) maxdim * sizeof(float) + 64 + 63) / 64 * 64);
	bbuf = aligned_alloc(64, ((size_t) maxdim * sizeof(float) + 64 + 63) / 64 * 64);
	if (abuf == NULL || bbuf == NULL)
	{
		fprintf(stderr, "kernel_bench: out of memory\n");
		return 1;
	}
	a = abuf;
	b = bbuf + 1;				/* 4-byte aligned only, like a tuple */
	srand(12345);
	for (int i = 0; i < maxdim; i++)
	{
		a[i] = (float) rand() / (float) RAND_MAX * 2.0f - 1.0f;
		b[i] = (float) rand() / (float) RAND_MAX * 2.0f - 1.0f;
	}

	if (tsv)
		printf("kernel\tfunction\tdim\tns_median\tns_min\tns_max\truns\treps\n");

	for (int d = 0; d < ndims; d++)
	{
		int			n = dims[d];

		for (int fn = 0; fn < FN_COUNT; fn++)
		{
			float		ref = call_one(&distance_kernels_scalar, fn, a, b, n);
			long		reps[DISTANCE_KERNEL_COUNT];
			double		samples[DISTANCE_KERNEL_COUNT][MAX_RUNS];

			for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
			{
				const DistanceKernels *set = distance_kernel_sets[k];
				double		elapsed;
				float		got;

				if (!use[k])
					continue;

				/* Correctness first: a wrong kernel must not look fast. */
				got = call_one(set, fn, a, b, n);
				if (fabsf(got - ref) > 1e-4f * fmaxf(1.0f, fabsf(ref)))
				{
					fprintf(stderr, "kernel_bench: %s %s dim %d = %.9g, scalar %.9g\n",
							set->name, fn_names[fn], n, got, ref);
					failures++;
				}

				/* Calibrate: grow reps until a run takes >= min_ms / 4. */
				reps[k] = 1000;
				for (;;)
				{
					elapsed = timed_loop(set, fn, a, b, n, reps[k]);
					if (elapsed >= min_ms * 1e6 / 4 || reps[k] > (1L << 40))
						break;
					reps[k] *= 2;
				}
				reps[k] = (long) ((double) reps[k] * (min_ms * 1e6) / elapsed) + 1;
			}

			/*
			 * Interleave the kernel sets run by run, so that a slow phase of
			 * the (shared, virtual) machine hits all of them alike and the
			 * speedups stay meaningful.
			 */
			for (int r = 0; r < runs; r++)
				for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
					if (use[k])
						samples[k][r] = timed_loop(distance_kernel_sets[k], fn, a, b, n,
												   reps[k]) / (double) reps[k];

			for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
			{
				if (!use[k])
					continue;
				qsort(samples[k], runs, sizeof(double), cmp_double);
				medians[k][fn][d] = runs % 2 ? samples[k][runs / 2]
					: (samples[k][runs / 2 - 1] + samples[k][runs / 2]) / 2.0;
				mins[k][fn][d] = samples[k][0];
				maxs[k][fn][d] = samples[k][runs - 1];
				if (tsv)
				{
					printf("%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%d\t%ld\n",
						   distance_kernel_sets[k]->name, fn_names[fn], n,
						   medians[k][fn][d], mins[k][fn][d], maxs[k][fn][d],
						   runs, reps[k]);
					fflush(stdout);
				}
			}
		}
	}

	if (!tsv)
	{
		printf("ns per distance call, median of %d runs of ~%.0f ms each "
			   "(speedup = scalar median / median)\n\n", runs, min_ms);
		printf("%-14s %6s", "function", "dim");
		for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
			if (use[k])
				printf(" %10s", distance_kernel_sets[k]->name);
		for (int k = 1; k < DISTANCE_KERNEL_COUNT; k++)
			if (use[k])
				printf(" %10s", "speedup");
		printf("\n");
		for (int fn = 0; fn < FN_COUNT; fn++)
			for (int d = 0; d < ndims; d++)
			{
				printf("%-14s %6d", fn_names[fn], dims[d]);
				for (int k = 0; k < DISTANCE_KERNEL_COUNT; k++)
					if (use[k])
						printf(" %10.2f", medians[k][fn][d]);
				for (int k = 1; k < DISTANCE_KERNEL_COUNT; k++)
					if (use[k])
						printf(" %9.2fx", medians[0][fn][d] / medians[k][fn][d]);
				printf("\n");
			}
	}

	free(abuf);
	free(bbuf);
	if (failures)
		fprintf(stderr, "kernel_bench: %d result mismatches against scalar\n", failures);
	return failures ? 1 : 0;
}
