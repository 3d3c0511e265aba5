/*
 * test_embed_kernels.c: the embedding kernels (src/embed/embed_kernels_*.c)
 * without PostgreSQL.  Every kernel set the CPU supports is compared with a
 * double-precision reference: the matrix product (P16 packed weights) for
 * many row counts and shapes, with and without bias, accumulate, ReLU and
 * GELU; GELU, softmax and LayerNorm element by element with explicit error
 * bounds (the AVX2 set approximates erf and exp; the bounds are what it is
 * documented to meet).  The AVX-512 matrix product, GELU and softmax must
 * also be bit-identical to the AVX2 ones (same operations in the same
 * order), so the kernel set a server picks never changes an embedding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/embed/embed_kernels.h"

static int	failures = 0;

static float
frand(void)
{
	return (float) rand() / (float) RAND_MAX * 2.0f - 1.0f;
}

static void
check(const char *set, const char *what, double got, double want, double tol_scale, int a, int b, int c)
{
	if (fabs(got - want) > 1e-5 * tol_scale + 1e-6)
	{
		if (failures < 20)
			fprintf(stderr, "%s %s (%d,%d,%d): got %.9g want %.9g\n", set, what, a, b, c, got, want);
		failures++;
	}
}

static void
test_gemm(const EmbedKernels *k)
{
	static const int shapes[][2] = {{16, 16}, {7, 32}, {64, 128}, {256, 768}, {300, 48}, {512, 64}, {1536, 32}};
	static const int rows[] = {1, 2, 3, 4, 5, 6, 7, 12, 13, 31, 48, 49, 97, 128};

	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
	{
		int			K = shapes[si][0],
					N = shapes[si][1];
		float	   *W = aligned_alloc(64, sizeof(float) * K * N);
		float	   *Wp = aligned_alloc(64, sizeof(float) * K * N);
		float	   *bias = malloc(sizeof(float) * N);

		for (int i = 0; i < K * N; i++)
			W[i] = frand();
		for (int j = 0; j < N; j++)
			bias[j] = frand();
		/* pack as convert_use_lite.mjs does */
		for (int p = 0, o = 0; p < N / 16; p++)
			for (int kk = 0; kk < K; kk++)
				for (int j = 0; j < 16; j++)
					Wp[o++] = W[kk * N + 16 * p + j];

		for (size_t ri = 0; ri < sizeof(rows) / sizeof(rows[0]); ri++)
		{
			int			n = rows[ri];
			float	   *X = malloc(sizeof(float) * n * K);
			float	   *Y = malloc(sizeof(float) * n * N);
			float	   *Y0 = malloc(sizeof(float) * n * N);

			for (int i = 0; i < n * K; i++)
				X[i] = frand();
			for (int i = 0; i < n * N; i++)
				Y0[i] = frand();
			for (int flags = 0; flags < 8; flags++)
			{
				if ((flags & EMBED_GEMM_RELU) && (flags & EMBED_GEMM_GELU))
					continue;
				memcpy(Y, Y0, sizeof(float) * n * N);
				k->gemm(X, n, K, Wp, (flags & 1) ? NULL : bias, Y, N, flags);
				for (int r = 0; r < n; r++)
					for (int j = 0; j < N; j++)
					{
						double		want = (flags & 1) ? 0 : bias[j];
						double		mag = 1;

						for (int kk = 0; kk < K; kk++)
						{
							want += (double) X[r * K + kk] * W[kk * N + j];
							mag += fabs((double) X[r * K + kk] * W[kk * N + j]);
						}
						if (flags & EMBED_GEMM_ACCUMULATE)
							want += Y0[r * N + j];
						if ((flags & EMBED_GEMM_RELU) && want < 0)
							want = 0;
						if (flags & EMBED_GEMM_GELU)
							want = 0.5 * want * (1 + erf(want / sqrt(2.0)));
						check(k->name, "gemm", Y[r * N + j], want, mag, n, K, N);
					}
			}
			free(X);
			free(Y);
			free(Y0);
		}
		free(W);
		free(Wp);
		free(bias);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
static void
test_identical(const EmbedKernels *a, const EmbedKernels *b)
{
	static const int shapes[][2] = {{16, 16}, {64, 48}, {256, 768}, {300, 80}, {512, 1536}, {1536, 512}, {72, 32}, {40, 144}, {384, 1152}};
	static const int rows[] = {1, 2, 3, 5, 11, 12, 13, 47, 48, 49, 65, 128, 130};

	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
	{
		int			K = shapes[si][0],
					N = shapes[si][1];
		float	   *Wp = aligned_alloc(64, sizeof(float) * K * N);
		float	   *bias = malloc(sizeof(float) * N);

		for (int i = 0; i < K * N; i++)
			Wp[i] = frand();
		for (int j = 0; j < N; j++)
			bias[j] = frand() * 4;
		for (size_t ri = 0; ri < sizeof(rows) / sizeof(rows[0]); ri++)
		{
			int			n = rows[ri];
			float	   *X = malloc(sizeof(float) * n * K);
			float	   *Ya = malloc(sizeof(float) * n * N);
			float	   *Yb = malloc(sizeof(float) * n * N);

			for (int i = 0; i < n * K; i++)
				X[i] = frand();
			for (int flags = 0; flags < 8; flags++)
			{
				if ((flags & EMBED_GEMM_RELU) && (flags & EMBED_GEMM_GELU))
					continue;
				for (int i = 0; i < n * N; i++)
					Ya[i] = Yb[i] = (float) i / (n * N) - 0.5f;
				a->gemm(X, n, K, Wp, (flags & 1) ? NULL : bias, Ya, N, flags);
				b->gemm(X, n, K, Wp, (flags & 1) ? NULL : bias, Yb, N, flags);
				if (memcmp(Ya, Yb, sizeof(float) * n * N) != 0)
				{
					if (failures < 20)
						fprintf(stderr, "%s gemm differs from %s (%d,%d,%d) flags %d\n",
								a->name, b->name, n, K, N, flags);
					failures++;
				}
			}
			free(X);
			free(Ya);
			free(Yb);
		}
		free(Wp);
		free(bias);
	}

	/* GELU and softmax: every length up to a few vectors, and some long rows */
	for (int n = 1; n <= 300; n += (n < 70 ? 1 : 23))
	{
		float	   *xa = malloc(sizeof(float) * n);
		float	   *xb = malloc(sizeof(float) * n);

		for (int i = 0; i < n; i++)
			xa[i] = xb[i] = frand() * 8;
		a->gelu(xa, n);
		b->gelu(xb, n);
		if (memcmp(xa, xb, sizeof(float) * n) != 0)
		{
			fprintf(stderr, "%s gelu differs from %s (n = %d)\n", a->name, b->name, n);
			failures++;
		}
		for (int i = 0; i < n; i++)
			xa[i] = xb[i] = frand() * 30;
		a->softmax(xa, n, 0.125f);
		b->softmax(xb, n, 0.125f);
		if (memcmp(xa, xb, sizeof(float) * n) != 0)
		{
			fprintf(stderr, "%s softmax differs from %s (n = %d)\n", a->name, b->name, n);
			failures++;
		}
		free(xa);
		free(xb);
	}
}
#endif

/*
 * Bound on the relative error of gelu(x) against double precision:
 * GELU_REL_BOUND * max(1, x^2/2).  The x^2 term is inherent to float input:
 * rounding x/sqrt 2 to float alone moves erfc(x/sqrt 2) by about x^2 * 6e-8
 * relative (libm's erfcf has it too; measured worst: 3.8e-7 for |x| <= 1,
 * 1.7e-6 for |x| <= 4).
 */
#define GELU_REL_BOUND 5e-7

static void
test_gelu(const EmbedKernels *k)
{
	/* every 1/1024 in [-16, 16), then extremes; odd count: exercises the tail */
	int			n = 32 * 1024 + 7;
	float	   *x = malloc(sizeof(float) * n);
	float	   *y = malloc(sizeof(float) * n);
	double		worst = 0;

	for (int i = 0; i < 32 * 1024; i++)
		x[i] = (float) (i - 16 * 1024) / 1024.0f;
	x[n - 7] = 0.0f;
	x[n - 6] = -0.0f;
	x[n - 5] = 1e-30f;
	x[n - 4] = -1e-30f;
	x[n - 3] = -40.0f;
	x[n - 2] = 1e30f;
	x[n - 1] = -1e30f;
	memcpy(y, x, sizeof(float) * n);
	k->gelu(y, n);
	for (int i = 0; i < n; i++)
	{
		double		want = 0.5 * (double) x[i] * erfc(-(double) x[i] / sqrt(2.0));
		double		err = fabs(y[i] - want);

		/* near and below the smallest normal floats: precision is lost */
		if (fabs(want) < 1e-30)
		{
			if (fabs(y[i]) > 1e-30)
			{
				fprintf(stderr, "%s gelu(%g) = %g, want %g\n", k->name, x[i], y[i], want);
				failures++;
			}
			continue;
		}
		if (err / fabs(want) > worst && fabs(x[i]) <= 1)
			worst = err / fabs(want);
		if (err > GELU_REL_BOUND * fabs(want) * fmax(1.0, (double) x[i] * x[i] / 2))
		{
			if (failures < 20)
				fprintf(stderr, "%s gelu(%.9g) = %.9g, want %.9g\n", k->name, x[i], y[i], want);
			failures++;
		}
	}
	printf("embed kernels %s: gelu worst relative error for |x| <= 1: %.2g\n", k->name, worst);
	free(x);
	free(y);
}

static void
test_softmax(const EmbedKernels *k)
{
	static const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 64, 127, 128, 512};

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
	{
		int			n = lens[li];
		float	   *row = malloc(sizeof(float) * (n + 1));
		float	   *in = malloc(sizeof(float) * n);
		double		mx = -INFINITY,
					sum = 0;

		for (int j = 0; j < n; j++)
			in[j] = frand() * 30.0f;
		if (n > 2)
			in[1] = -1e30f;		/* underflows to exactly 0 */
		memcpy(row, in, sizeof(float) * n);
		row[n] = 12345.0f;		/* must not be touched */
		k->softmax(row, n, 0.125f);
		for (int j = 0; j < n; j++)
			mx = fmax(mx, 0.125 * in[j]);
		for (int j = 0; j < n; j++)
			sum += exp(0.125 * in[j] - mx);
		for (int j = 0; j < n; j++)
		{
			double		want = exp(0.125 * in[j] - mx) / sum;

			if (fabs(row[j] - want) > 1e-6 * want + 1e-30)
			{
				if (failures < 20)
					fprintf(stderr, "%s softmax n=%d [%d]: got %.9g want %.9g\n",
							k->name, n, j, row[j], want);
				failures++;
			}
		}
		if (row[n] != 12345.0f)
		{
			fprintf(stderr, "%s softmax n=%d wrote past the row\n", k->name, n);
			failures++;
		}
		free(row);
		free(in);
	}
}

static void
test_layer_norm(const EmbedKernels *k)
{
	static const int widths[] = {16, 20, 256, 384, 512};

	for (size_t wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++)
	{
		int			d = widths[wi],
					rows = 5;
		float	   *x = malloc(sizeof(float) * rows * d);
		float	   *y = malloc(sizeof(float) * rows * d);
		float	   *scale = malloc(sizeof(float) * d);
		float	   *bias = malloc(sizeof(float) * d);

		for (int i = 0; i < rows * d; i++)
			x[i] = frand() * 4.0f + 100.0f * (i / d);	/* rows with large means */
		for (int i = 0; i < d; i++)
		{
			scale[i] = frand();
			bias[i] = frand();
		}
		for (int inplace = 0; inplace < 2; inplace++)
		{
			float	   *out = inplace ? x : y;
			float	   *xc = malloc(sizeof(float) * rows * d);

			memcpy(xc, x, sizeof(float) * rows * d);
			k->layer_norm(x, rows, d, scale, bias, 1e-6, out);
			for (int r = 0; r < rows; r++)
			{
				double		mean = 0,
							var = 0;

				for (int i = 0; i < d; i++)
					mean += xc[r * d + i];
				mean /= d;
				for (int i = 0; i < d; i++)
					var += (xc[r * d + i] - mean) * (xc[r * d + i] - mean);
				var /= d;
				for (int i = 0; i < d; i++)
				{
					double		want = (xc[r * d + i] - mean) / sqrt(var + 1e-6) * scale[i] + bias[i];

					check(k->name, "layer_norm", out[r * d + i], want, 1 + 100 * fabs(scale[i]), r, i, d);
				}
			}
			memcpy(x, xc, sizeof(float) * rows * d);
			free(xc);
		}
		free(x);
		free(y);
		free(scale);
		free(bias);
	}
}

int
main(void)
{
	const EmbedKernels *sets[] = {
		&embed_kernels_scalar,
#if defined(__x86_64__) && defined(__GNUC__)
		&embed_kernels_avx2,
		&embed_kernels_avx512,
#endif
	};

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
	{
		const EmbedKernels *k = sets[s];

		if (!embed_kernels_supported(k))
		{
			printf("embed kernels %s: skipped (not supported by this CPU)\n", k->name);
			continue;
		}
		test_gemm(k);
		test_gelu(k);
		test_softmax(k);
		test_layer_norm(k);
#if defined(__x86_64__) && defined(__GNUC__)
		if (k == &embed_kernels_avx512)
			test_identical(k, &embed_kernels_avx2);
#endif
		printf("embed kernels %s: %s\n", k->name, failures ? "FAILED" : "ok");
	}
	return failures ? 1 : 0;
}
