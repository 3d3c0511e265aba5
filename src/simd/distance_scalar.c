/*-------------------------------------------------------------------------
 *
 * distance_scalar.c
 *	  Portable scalar distance kernels: the reference every SIMD path is
 *	  tested against, and the path used on CPUs without AVX2.
 *
 * The loops are written plainly; the compiler may auto-vectorise them with
 * the baseline instruction set (SSE2 on x86-64), which is fine: results
 * only have to agree with the SIMD paths within float rounding.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "distance_kernels.h"

static float
scalar_l2_squared(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

static float
scalar_inner_product(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

static CosineSums
scalar_cosine_sums(const float *a, const float *b, int n)
{
	CosineSums	s = {0.0f, 0.0f, 0.0f};

	for (int i = 0; i < n; i++)
	{
		s.dot += a[i] * b[i];
		s.norm_a += a[i] * a[i];
		s.norm_b += b[i] * b[i];
	}
	return s;
}

static float
scalar_l1(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

const DistanceKernels distance_kernels_scalar = {
	.name = "scalar",
	.l2_squared = scalar_l2_squared,
	.inner_product = scalar_inner_product,
	.cosine_sums = scalar_cosine_sums,
	.l1 = scalar_l1,
};
