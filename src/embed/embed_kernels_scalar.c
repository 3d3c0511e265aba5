/*-------------------------------------------------------------------------
 *
 * embed_kernels_scalar.c
 *	  Portable reference implementation of the embedding kernels.
 *
 * Used on CPUs without AVX2+FMA, and as the reference the unit test compares
 * the vector set against.  Same packed layout, same accumulation order per
 * output element (k ascending), so the products differ from the AVX2 set
 * only by FMA rounding; GELU and softmax use libm's erfcf and expf per
 * element (the AVX2 set has its own vectorised approximations).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "embed_kernels.h"

/* x/2 (1 + erf(x/sqrt 2)) as x/2 erfc(-x/sqrt 2): no cancellation for x < 0 */
static void
scalar_gelu(float *x, long n)
{
	for (long i = 0; i < n; i++)
		x[i] = 0.5f * x[i] * erfcf(x[i] * -0.70710678118654752f);
}

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
			if (flags & EMBED_GEMM_GELU)
				scalar_gelu(y, 16);
		}
	}
}

static void
scalar_softmax(float *row, int n, float scale)
{
	float		mx = -INFINITY,
				sum = 0.0f,
				inv;

	for (int j = 0; j < n; j++)
	{
		row[j] *= scale;
		if (row[j] > mx)
			mx = row[j];
	}
	for (int j = 0; j < n; j++)
	{
		row[j] = expf(row[j] - mx);
		sum += row[j];
	}
	inv = 1.0f / sum;
	for (int j = 0; j < n; j++)
		row[j] *= inv;
}

static void
scalar_layer_norm(const float *x, long rows, int d, const float *scale,
				  const float *bias, double eps, float *y)
{
	for (long r = 0; r < rows; r++)
	{
		const float *xr = x + r * d;
		float	   *yr = y + r * d;
		double		mean = 0,
					var = 0;
		float		fmean,
					inv;

		for (int i = 0; i < d; i++)
			mean += xr[i];
		mean /= d;
		for (int i = 0; i < d; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= d;
		fmean = (float) mean;
		inv = (float) (1.0 / sqrt(var + eps));
		for (int i = 0; i < d; i++)
			yr[i] = (xr[i] - fmean) * inv * scale[i] + bias[i];
	}
}

const EmbedKernels embed_kernels_scalar = {
	.name = "scalar",
	.gemm = scalar_gemm,
	.gelu = scalar_gelu,
	.softmax = scalar_softmax,
	.layer_norm = scalar_layer_norm,
};
