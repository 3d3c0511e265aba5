/*-------------------------------------------------------------------------
 *
 * distance_avx2.c
 *	  AVX2 + FMA distance kernels (x86-64 only).
 *
 * Two independent 8-lane accumulators hide the FMA latency; the tail (n not
 * a multiple of 8) is finished in scalar code.  All loads are unaligned
 * loads, so callers may pass any float pointer (vectors inside tuples are
 * only 4-byte aligned).  Compiled with a target attribute rather than
 * -mavx2 so that nothing else in the library depends on AVX2.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "distance_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))

AVX2_TARGET static inline float
hsum256(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);
	__m128		s = _mm_add_ps(lo, hi);

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2_TARGET static float
avx2_l2_squared(const float *a, const float *b, int n)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	int			i = 0;
	float		sum;

	for (; i + 16 <= n; i += 16)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));

		acc0 = _mm256_fmadd_ps(d0, d0, acc0);
		acc1 = _mm256_fmadd_ps(d1, d1, acc1);
	}
	for (; i + 8 <= n; i += 8)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		acc0 = _mm256_fmadd_ps(d0, d0, acc0);
	}
	sum = hsum256(_mm256_add_ps(acc0, acc1));
	for (; i < n; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

AVX2_TARGET static float
avx2_inner_product(const float *a, const float *b, int n)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	int			i = 0;
	float		sum;

	for (; i + 16 <= n; i += 16)
	{
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
	sum = hsum256(_mm256_add_ps(acc0, acc1));
	for (; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

AVX2_TARGET static CosineSums
avx2_cosine_sums(const float *a, const float *b, int n)
{
	__m256		dot = _mm256_setzero_ps();
	__m256		na = _mm256_setzero_ps();
	__m256		nb = _mm256_setzero_ps();
	CosineSums	s;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		va = _mm256_loadu_ps(a + i);
		__m256		vb = _mm256_loadu_ps(b + i);

		dot = _mm256_fmadd_ps(va, vb, dot);
		na = _mm256_fmadd_ps(va, va, na);
		nb = _mm256_fmadd_ps(vb, vb, nb);
	}
	s.dot = hsum256(dot);
	s.norm_a = hsum256(na);
	s.norm_b = hsum256(nb);
	for (; i < n; i++)
	{
		s.dot += a[i] * b[i];
		s.norm_a += a[i] * a[i];
		s.norm_b += b[i] * b[i];
	}
	return s;
}

AVX2_TARGET static float
avx2_l1(const float *a, const float *b, int n)
{
	const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	int			i = 0;
	float		sum;

	for (; i + 16 <= n; i += 16)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));

		acc0 = _mm256_add_ps(acc0, _mm256_and_ps(d0, sign_mask));
		acc1 = _mm256_add_ps(acc1, _mm256_and_ps(d1, sign_mask));
	}
	for (; i + 8 <= n; i += 8)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		acc0 = _mm256_add_ps(acc0, _mm256_and_ps(d0, sign_mask));
	}
	sum = hsum256(_mm256_add_ps(acc0, acc1));
	for (; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

const DistanceKernels distance_kernels_avx2 = {
	.name = "avx2",
	.l2_squared = avx2_l2_squared,
	.inner_product = avx2_inner_product,
	.cosine_sums = avx2_cosine_sums,
	.l1 = avx2_l1,
};

#endif							/* __x86_64__ && __GNUC__ */
