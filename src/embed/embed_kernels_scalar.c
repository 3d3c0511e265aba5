/*-------------------------------------------------------------------------
 *
 * embed_kernels_scalar.c
 *	  Portable reference implementation of the embedding kernels.
 *
 * Used on CPUs without AVX2+FMA, and as the reference the unit test compares
 * the vector set against.  Same packed layout, same accumulation order per
 * output element (k ascending), so results differ from the AVX2 set only by
 * FMA rounding.
 *
 *-------------------------------------------------------------------------
 */
#include "embed_kernels.h"

static void
scalar_gemm(const float *X, int n, int K, const float *Wp,
			const float *bias, float *Y, int N, int flags)
{
	for (int p = 0; p < N / 16; p++)
	{
		const float *panel = Wp + (long) p * K * 16;

		for (int r = 0; r < n; r++)
		{
			const float *x = X + (long) r * K;
			float	   *y = Y + (long) r * N + 16 * p;
			float		acc[16];

			for (int j = 0; j < 16; j++)
				acc[j] = 0.0f;
			for (int k = 0; k < K; k++)
			{
				const float *w = panel + (long) k * 16;
				float		xv = x[k];

				for (int j = 0; j < 16; j++)
					acc[j] += xv * w[j];
			}
			for (int j = 0; j < 16; j++)
			{
				float		v = acc[j] + (bias ? bias[16 * p + j] : 0.0f);

				if (flags & EMBED_GEMM_ACCUMULATE)
					v += y[j];
				if ((flags & EMBED_GEMM_RELU) && v < 0.0f)
					v = 0.0f;
				y[j] = v;
			}
		}
	}
}

const EmbedKernels embed_kernels_scalar = {
	.name = "scalar",
	.gemm = scalar_gemm,
};
