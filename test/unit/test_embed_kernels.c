/*
 * test_embed_kernels.c: the embedding kernels (src/embed/embed_kernels_*.c)
 * without PostgreSQL.  Every kernel set the CPU supports is compared with a
 * double-precision reference: the matrix product (P16 packed weights) for
 * many row counts and shapes, with and without bias, accumulate and ReLU.
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
			for (int flags = 0; flags < 4; flags++)
			{
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


int
main(void)
{
	const EmbedKernels *sets[] = {
		&embed_kernels_scalar,
#if defined(__x86_64__) && defined(__GNUC__)
		&embed_kernels_avx2,
#endif
	};

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
	{
		const EmbedKernels *k = sets[s];

		if (k != &embed_kernels_scalar && k != embed_kernels_best())
		{
			printf("embed kernels %s: skipped (not supported by this CPU)\n", k->name);
			continue;
		}
		test_gemm(k);
		printf("embed kernels %s: %s\n", k->name, failures ? "FAILED" : "ok");
	}
	return failures ? 1 : 0;
}
