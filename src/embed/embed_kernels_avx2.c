/*-------------------------------------------------------------------------
 *
 * embed_kernels_avx2.c
 *	  AVX2 + FMA embedding kernels (x86-64 only).
 *
 * The matrix product is a register-blocked micro-kernel: 6 rows of X times
 * one 16-column panel of the packed weights, 12 ymm accumulators (enough
 * independent FMA chains to cover FMA latency on two FMA ports), one
 * broadcast per row and two panel loads per k.  Rows are processed in
 * blocks of MC and K in chunks of KC, so the slice of X reused across panels
 * (48 x 256 floats) stays in L2 and the panel slice reused across the rows
 * of a block stays in L1.  Without the row blocks a batch of 32 passages
 * (2,000+ rows) streamed X from L3 for every panel and ran at 60% of the
 * speed of one passage (test/bench/embed_gemm_bench.c).
 * Panels are 64-byte aligned in the mmap'd file (the loader checks), so the
 * weight loads are aligned; X and Y are arbitrary palloc'd memory.
 *
 * The first row block of each panel also prefetches (into L2) the panel
 * slice that comes next, one cache line per k: the weights are usually not
 * in cache at all (28 MB, read once per call), and the hardware prefetcher
 * does not cross 4 kB pages; this hides most of the memory latency, which
 * dominates short inputs (a quarter faster at 10 tokens).
 *
 * The row loops carry an unroll pragma: without full unrolling GCC keeps the
 * accumulator arrays on the stack and the kernel runs at a quarter speed.
 *
 * GELU, softmax and LayerNorm are vectorised too: with libm's erff and expf
 * per element the GELU alone was 18% of a MiniLM-shaped pass.  exp is the
 * classic range reduction (x = n ln2 + r, |r| <= ln2/2, n into the exponent
 * bits) with a degree-6 polynomial for e^r; erf goes through erfc(z) =
 * t exp(-z^2 + P(t)), t = 1/(1 + z/2), the Chebyshev fit with fractional error
 * below 1.2e-7 for every z >= 0 (Numerical Recipes' erfcc), so GELU's x Phi(x)
 * keeps a small relative error also for negative x, where 1 + erf(x) cancels.
 * The unit test bounds both against double precision.
 *
 * Compiled with target attributes, not -mavx2, so nothing else in the
 * library can pick up AVX2 instructions (same rule as src/simd/).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "embed_kernels.h"
#include "embed_kernels_approx.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define KC 256
#define MC 48
#define UNROLL_ROWS _Pragma("GCC unroll 6")

/* e^x per lane; 0 below -87.3 (where e^x leaves the normal floats). */
AVX2_TARGET static inline __attribute__((always_inline)) __m256
exp256(__m256 x)
{
	__m256		under = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_MIN), _CMP_LT_OQ);
	__m256		n,
				r,
				p;
	__m256i		e;

	x = _mm256_min_ps(x, _mm256_set1_ps(EXP_MAX));
	x = _mm256_max_ps(x, _mm256_set1_ps(EXP_MIN));
	n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)),
						_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	/* r = x - n ln2, ln2 split in two so that n * hi is exact */
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), r);
	p = _mm256_set1_ps(EXP_P5);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P1));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P0));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
	return _mm256_andnot_ps(under, p);
}

/* x Phi(x) = x/2 (1 + erf(x/sqrt 2)) per lane */
AVX2_TARGET static inline __attribute__((always_inline)) __m256
gelu256(__m256 x)
{
	const __m256 one = _mm256_set1_ps(1.0f);
	const __m256 half = _mm256_set1_ps(0.5f);
	/* z = |x|/sqrt 2, at most 10 (erfc(10) < 1e-44; z^2 must not overflow) */
	__m256		z = _mm256_min_ps(_mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x),
												_mm256_set1_ps(INV_SQRT2)),
								  _mm256_set1_ps(ERFC_Z_MAX));
	__m256		t = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
	__m256		p,
				zz,
				zzlo,
				erfc,
				phi;

	p = _mm256_set1_ps(ERFC_Q9);
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q8));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q7));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q6));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q5));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q4));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q3));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q2));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q1));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERFC_Q0));
	/* -z^2 as hi + lo (FMA), so the exponent's rounding stays ~1 ulp of e^. */
	zz = _mm256_mul_ps(z, z);
	zzlo = _mm256_fmsub_ps(z, z, zz);
	erfc = _mm256_mul_ps(t, exp256(_mm256_sub_ps(_mm256_sub_ps(p, zz), zzlo)));
	/* Phi(x) = erfc(z)/2 for x < 0, 1 - erfc(z)/2 for x >= 0 */
	phi = _mm256_mul_ps(half, erfc);
	phi = _mm256_blendv_ps(_mm256_sub_ps(one, phi), phi, x);
	return _mm256_mul_ps(x, phi);
}

AVX2_TARGET static void
avx2_gelu(float *x, long n)
{
	long		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, gelu256(_mm256_loadu_ps(x + i)));
	if (i < n)
	{
		float		tail[8] = {0};

		memcpy(tail, x + i, (n - i) * sizeof(float));
		_mm256_storeu_ps(tail, gelu256(_mm256_loadu_ps(tail)));
		memcpy(x + i, tail, (n - i) * sizeof(float));
	}
}

AVX2_TARGET static inline float
hmax256(__m256 v)
{
	__m128		m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

AVX2_TARGET static inline float
hsum256(__m256 v)
{
	__m128		m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_add_ps(m, _mm_movehl_ps(m, m));
	m = _mm_add_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

AVX2_TARGET static inline double
hsum256d(__m256d v)
{
	__m128d		m = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));

	return _mm_cvtsd_f64(_mm_add_sd(m, _mm_unpackhi_pd(m, m)));
}

/*
 * The row is handled in whole vectors; a partial last vector goes through a
 * stack copy padded with -inf, whose exponentials are 0.
 */
AVX2_TARGET static void
avx2_softmax(float *row, int n, float scale)
{
	__m256		vs = _mm256_set1_ps(scale);
	__m256		vmax = _mm256_set1_ps(-INFINITY);
	__m256		vsum = _mm256_setzero_ps();
	__m256		vinv;
	float		tail[8];
	int			full = n & ~7;
	int			j;

	for (j = 0; j < full; j += 8)
	{
		__m256		v = _mm256_mul_ps(_mm256_loadu_ps(row + j), vs);

		_mm256_storeu_ps(row + j, v);
		vmax = _mm256_max_ps(vmax, v);
	}
	if (full < n)
	{
		for (int i = 0; i < 8; i++)
			tail[i] = full + i < n ? row[full + i] * scale : -INFINITY;
		vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(tail));
	}
	vmax = _mm256_set1_ps(hmax256(vmax));
	for (j = 0; j < full; j += 8)
	{
		__m256		e = exp256(_mm256_sub_ps(_mm256_loadu_ps(row + j), vmax));

		_mm256_storeu_ps(row + j, e);
		vsum = _mm256_add_ps(vsum, e);
	}
	if (full < n)
	{
		__m256		e = exp256(_mm256_sub_ps(_mm256_loadu_ps(tail), vmax));

		_mm256_storeu_ps(tail, e);
		vsum = _mm256_add_ps(vsum, e);
	}
	vinv = _mm256_set1_ps(1.0f / hsum256(vsum));
	for (j = 0; j < full; j += 8)
		_mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), vinv));
	for (j = full; j < n; j++)
		row[j] = tail[j - full] * _mm256_cvtss_f32(vinv);
}

AVX2_TARGET void
embed_avx2_layer_norm(const float *x, long rows, int d, const float *scale,
				const float *bias, double eps, float *y)
{
	int			full = d & ~7;

	for (long r = 0; r < rows; r++)
	{
		const float *xr = x + r * d;
		float	   *yr = y + r * d;
		__m256d		a0 = _mm256_setzero_pd(),
					a1 = _mm256_setzero_pd();
		__m256d		vm;
		__m256		vfm,
					vinv;
		double		mean,
					var;
		float		fmean,
					inv;
		int			i;

		for (i = 0; i < full; i += 8)
		{
			__m256		v = _mm256_loadu_ps(xr + i);

			a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
			a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
		}
		mean = hsum256d(_mm256_add_pd(a0, a1));
		for (; i < d; i++)
			mean += xr[i];
		mean /= d;
		vm = _mm256_set1_pd(mean);
		a0 = a1 = _mm256_setzero_pd();
		for (i = 0; i < full; i += 8)
		{
			__m256		v = _mm256_loadu_ps(xr + i);
			__m256d		d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm);
			__m256d		d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm);

			a0 = _mm256_fmadd_pd(d0, d0, a0);
			a1 = _mm256_fmadd_pd(d1, d1, a1);
		}
		var = hsum256d(_mm256_add_pd(a0, a1));
		for (; i < d; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= d;
		fmean = (float) mean;
		inv = (float) (1.0 / sqrt(var + eps));
		vfm = _mm256_set1_ps(fmean);
		vinv = _mm256_set1_ps(inv);
		for (i = 0; i < full; i += 8)
		{
			__m256		v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vfm), vinv);

			_mm256_storeu_ps(yr + i, _mm256_fmadd_ps(v, _mm256_loadu_ps(scale + i),
													 _mm256_loadu_ps(bias + i)));
		}
		for (; i < d; i++)
			yr[i] = (xr[i] - fmean) * inv * scale[i] + bias[i];
	}
}

/* init: 0 = continue from Y (later K chunk), 1 = bias, 2 = Y + bias */
AVX2_TARGET static inline __attribute__((always_inline)) void
micro(const int R, const float *x, int ldx, const float *w, int kc,
	  float *y, int ldy, int init, const float *bias, int relu, const float *pf)
{
	__m256		c0[6], c1[6];
	__m256		b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();

	if (init && bias)
	{
		b0 = _mm256_loadu_ps(bias);
		b1 = _mm256_loadu_ps(bias + 8);
	}
	UNROLL_ROWS
	for (int r = 0; r < R; r++)
	{
		if (init == 1)
		{
			c0[r] = b0;
			c1[r] = b1;
		}
		else if (init == 2)
		{
			c0[r] = _mm256_add_ps(_mm256_loadu_ps(y + (long) r * ldy), b0);
			c1[r] = _mm256_add_ps(_mm256_loadu_ps(y + (long) r * ldy + 8), b1);
		}
		else
		{
			c0[r] = _mm256_loadu_ps(y + (long) r * ldy);
			c1[r] = _mm256_loadu_ps(y + (long) r * ldy + 8);
		}
	}
	for (int k = 0; k < kc; k++)
	{
		__m256		w0 = _mm256_load_ps(w + 16 * k);
		__m256		w1 = _mm256_load_ps(w + 16 * k + 8);

		if (pf)
			_mm_prefetch((const char *) (pf + 16 * k), _MM_HINT_T1);

		UNROLL_ROWS
		for (int r = 0; r < R; r++)
		{
			__m256		xb = _mm256_broadcast_ss(x + (long) r * ldx + k);

			c0[r] = _mm256_fmadd_ps(xb, w0, c0[r]);
			c1[r] = _mm256_fmadd_ps(xb, w1, c1[r]);
		}
	}
	if (relu)
	{
		__m256		z = _mm256_setzero_ps();

		UNROLL_ROWS
		for (int r = 0; r < R; r++)
		{
			c0[r] = _mm256_max_ps(c0[r], z);
			c1[r] = _mm256_max_ps(c1[r], z);
		}
	}
	UNROLL_ROWS
	for (int r = 0; r < R; r++)
	{
		_mm256_storeu_ps(y + (long) r * ldy, c0[r]);
		_mm256_storeu_ps(y + (long) r * ldy + 8, c1[r]);
	}
}

AVX2_TARGET static void
avx2_gemm(const float *X, int n, int K, const float *Wp,
		  const float *bias, float *Y, int N, int flags)
{
	for (int m0 = 0; m0 < n; m0 += MC)
	{
		int			m1 = n - m0 < MC ? n : m0 + MC;

		for (int k0 = 0; k0 < K; k0 += KC)
		{
			int			kc = K - k0 < KC ? K - k0 : KC;
			int			init = k0 > 0 ? 0 : (flags & EMBED_GEMM_ACCUMULATE) ? 2 : 1;
			int			relu = (k0 + kc == K) && (flags & EMBED_GEMM_RELU);
			int			gelu = (k0 + kc == K) && (flags & EMBED_GEMM_GELU);

			for (int p = 0; p < N / 16; p++)
			{
				const float *w = Wp + (long) p * K * 16 + (long) k0 * 16;
				const float *bp = bias ? bias + 16 * p : NULL;
				const float *next = (p + 1 < N / 16) ? w + (long) K * 16 :
					(k0 + KC < K) ? Wp + (long) (k0 + KC) * 16 : NULL;

				for (int r0 = m0; r0 < m1; r0 += 6)
				{
					const float *x = X + (long) r0 * K + k0;
					float	   *y = Y + (long) r0 * N + 16 * p;
					const float *pf = r0 == m0 ? next : NULL;

					switch (m1 - r0 >= 6 ? 6 : m1 - r0)
					{
						case 6:
							micro(6, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
						case 5:
							micro(5, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
						case 4:
							micro(4, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
						case 3:
							micro(3, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
						case 2:
							micro(2, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
						default:
							micro(1, x, K, w, kc, y, N, init, bp, relu, pf);
							break;
					}
					/* the finished tile is still in L1: one pass less */
					if (gelu)
						for (int r = r0; r < m1 && r < r0 + 6; r++)
						{
							float	   *yr = Y + (long) r * N + 16 * p;

							_mm256_storeu_ps(yr, gelu256(_mm256_loadu_ps(yr)));
							_mm256_storeu_ps(yr + 8, gelu256(_mm256_loadu_ps(yr + 8)));
						}
				}
			}
		}
	}
}

const EmbedKernels embed_kernels_avx2 = {
	.name = "avx2",
	.gemm = avx2_gemm,
	.gelu = avx2_gelu,
	.softmax = avx2_softmax,
	.layer_norm = embed_avx2_layer_norm,
};

#endif							/* __x86_64__ && __GNUC__ */
