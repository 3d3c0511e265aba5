/*-------------------------------------------------------------------------
 *
 * distance_avx512.c
 *	  AVX-512F distance kernels (x86-64 only).
 *
 * 16-lane accumulators; the tail uses a masked load, so no scalar loop is
 * needed and odd lengths cost one extra iteration.  Masked-off lanes load
 * as zero and never touch memory, so reading past the end of a short
 * vector cannot fault.
 *
 *-------------------------------------------------------------------------
 */
#include "distance_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512_TARGET __attribute__((target("avx512f")))

AVX512_TARGET static inline __mmask16
tail_mask(int remaining)
{
	return (__mmask16) ((1u << remaining) - 1u);
}

AVX512_TARGET static float
avx512_l2_squared(const float *a, const float *b, int n)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));

		acc0 = _mm512_fmadd_ps(d0, d0, acc0);
		acc1 = _mm512_fmadd_ps(d1, d1, acc1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? (__mmask16) 0xffff : tail_mask(n - i);
		__m512		d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
									   _mm512_maskz_loadu_ps(m, b + i));

		acc0 = _mm512_fmadd_ps(d0, d0, acc0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512_TARGET static float
avx512_inner_product(const float *a, const float *b, int n)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
		acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? (__mmask16) 0xffff : tail_mask(n - i);

		acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
							   _mm512_maskz_loadu_ps(m, b + i), acc0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512_TARGET static CosineSums
avx512_cosine_sums(const float *a, const float *b, int n)
{
	__m512		dot = _mm512_setzero_ps();
	__m512		na = _mm512_setzero_ps();
	__m512		nb = _mm512_setzero_ps();
	CosineSums	s;

	for (int i = 0; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? (__mmask16) 0xffff : tail_mask(n - i);
		__m512		va = _mm512_maskz_loadu_ps(m, a + i);
		__m512		vb = _mm512_maskz_loadu_ps(m, b + i);

		dot = _mm512_fmadd_ps(va, vb, dot);
		na = _mm512_fmadd_ps(va, va, na);
		nb = _mm512_fmadd_ps(vb, vb, nb);
	}
	s.dot = _mm512_reduce_add_ps(dot);
	s.norm_a = _mm512_reduce_add_ps(na);
	s.norm_b = _mm512_reduce_add_ps(nb);
	return s;
}

AVX512_TARGET static float
avx512_l1(const float *a, const float *b, int n)
{
	__m512		acc = _mm512_setzero_ps();

	for (int i = 0; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? (__mmask16) 0xffff : tail_mask(n - i);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
									  _mm512_maskz_loadu_ps(m, b + i));

		acc = _mm512_add_ps(acc, _mm512_abs_ps(d));
	}
	return _mm512_reduce_add_ps(acc);
}

const DistanceKernels distance_kernels_avx512 = {
	.name = "avx512",
	.l2_squared = avx512_l2_squared,
	.inner_product = avx512_inner_product,
	.cosine_sums = avx512_cosine_sums,
	.l1 = avx512_l1,
};

#endif							/* __x86_64__ && __GNUC__ */
