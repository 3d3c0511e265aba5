/*-------------------------------------------------------------------------
 *
 * quantize_kernels.c
 *	  The code-distance inner loops: scalar versions, and AVX2+FMA versions
 *	  compiled with per-function target attributes (the library still runs
 *	  on any x86-64 CPU), selected at run time.
 *
 * The sq8 loop widens 8 code bytes at a time to floats and uses FMA; the
 * binary lookup-table sum is a chain of dependent-free loads, which the
 * scalar version already runs at full speed with four accumulators.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "quantize_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_QUANT_KERNELS 1
#endif

static float
sq8_dot_scalar(const float *w, const uint8 *code, int n)
{
	float		acc = 0.0f;

	for (int i = 0; i < n; i++)
		acc += w[i] * (float) code[i];
	return acc;
}

static float
lut_sum_scalar(const float *lut, const uint8 *code, int nbytes)
{
	float		s0 = 0.0f,
				s1 = 0.0f,
				s2 = 0.0f,
				s3 = 0.0f;
	int			j = 0;

	for (; j + 4 <= nbytes; j += 4)
	{
		s0 += lut[256 * j + code[j]];
		s1 += lut[256 * (j + 1) + code[j + 1]];
		s2 += lut[256 * (j + 2) + code[j + 2]];
		s3 += lut[256 * (j + 3) + code[j + 3]];
	}
	for (; j < nbytes; j++)
		s0 += lut[256 * j + code[j]];
	return (s0 + s1) + (s2 + s3);
}

static const QuantKernels kernels_scalar = {sq8_dot_scalar, lut_sum_scalar};

#ifdef HAVE_X86_QUANT_KERNELS

__attribute__((target("avx2,fma")))
static inline float
hsum256(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);

	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
	return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma")))
static inline __m256
load8_codes(const uint8 *code)
{
	__m128i		c8 = _mm_loadl_epi64((const __m128i *) code);

	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c8));
}

__attribute__((target("avx2,fma")))
static float
sq8_dot_avx2(const float *w, const uint8 *code, int n)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	int			i = 0;
	float		tail = 0.0f;

	for (; i + 16 <= n; i += 16)
	{
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), load8_codes(code + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), load8_codes(code + i + 8), acc1);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), load8_codes(code + i), acc0);
	if (i < n)
		tail = sq8_dot_scalar(w + i, code + i, n - i);
	return hsum256(_mm256_add_ps(acc0, acc1)) + tail;
}

static const QuantKernels kernels_avx2 = {sq8_dot_avx2, lut_sum_scalar};
#endif

const QuantKernels *
quant_kernels(void)
{
	static const QuantKernels *chosen = NULL;

	if (chosen == NULL)
	{
		chosen = &kernels_scalar;
#ifdef HAVE_X86_QUANT_KERNELS
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
			chosen = &kernels_avx2;
#endif
	}
	return chosen;
}
