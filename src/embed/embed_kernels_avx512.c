/*-------------------------------------------------------------------------
 *
 * embed_kernels_avx512.c
 *	  AVX-512F matrix product of the embedding engine (x86-64 only).
 *
 * Same packed-panel product as embed_kernels_avx2.c, with one zmm register
 * per row and panel instead of two ymm: the micro-kernel computes MR rows of
 * X times two adjacent 16-column panels (2 MR accumulators of the 32 zmm
 * registers), so each k costs two panel loads, MR broadcasts and 2 MR FMAs.
 * On a core with full-width 512-bit FMA units (AMD Zen 5, Intel server
 * parts) that is twice the work per instruction of the AVX2 kernel, which
 * was at 85% of the core's 256-bit peak: the whole USE-lite pass was bound
 * by it, and ONNX Runtime's own AVX-512 kernels ran 1.2-1.5x faster.
 *
 * Every output element is still bias (or Y + bias), then one FMA per k in
 * order, then the optional ReLU or GELU: exactly the operations of the AVX2
 * and scalar-FMA kernels in the same order, so the results are bit-identical
 * to the AVX2 set (test/unit/test_embed_kernels.c checks it), and batching
 * or the row tiling never changes a result.
 *
 * Blocking is the AVX2 kernel's: rows in blocks of MC, K in chunks of KC,
 * the panel pair's slice (2 x KC x 64 bytes) reused from L1 across the row
 * tiles of a block; the first tile of each panel pair prefetches the next
 * pair's slice into L2, since the weights normally come from memory.  A
 * single row (the pooled vector of a single call) takes a path of its own,
 * 8 panels wide (gemm_one_row).
 *
 * GELU and softmax are 16-lane versions of the AVX2 set's, with the same
 * constants and the same operations per element in the same order (the
 * softmax sum too is added up in the AVX2 kernel's 8-lane order), so they
 * are bit-identical as well; at 8 lanes they were 9% and 3% of a MiniLM
 * pass.  LayerNorm (sums in double, 1-2% of a pass) is the AVX2 set's:
 * mixing VEX and EVEX code costs nothing.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "embed_kernels.h"
#include "embed_kernels_approx.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512_TARGET __attribute__((target("avx2,fma,avx512f")))
#define KC 256
#define MC 48
#define MR 12
#define UNROLL_ROWS _Pragma("GCC unroll 12")

/* e^x per lane, as exp256() in embed_kernels_avx2.c; 0 below -87.3 */
AVX512_TARGET static inline __attribute__((always_inline)) __m512
exp512(__m512 x)
{
	__mmask16	under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_MIN), _CMP_LT_OQ);
	__m512		n,
				r,
				p;
	__m512i		e;

	x = _mm512_min_ps(x, _mm512_set1_ps(EXP_MAX));
	x = _mm512_max_ps(x, _mm512_set1_ps(EXP_MIN));
	n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)),
							 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_HI), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_LO), r);
	p = _mm512_set1_ps(EXP_P5);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P4));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P3));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P2));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P1));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P0));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
	return _mm512_maskz_mov_ps((__mmask16) ~under, p);
}

/* x Phi(x) per lane, as gelu256() in embed_kernels_avx2.c */
AVX512_TARGET static inline __attribute__((always_inline)) __m512
gelu512(__m512 x)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	const __m512 half = _mm512_set1_ps(0.5f);
	__m512		z = _mm512_min_ps(_mm512_mul_ps(_mm512_abs_ps(x),
												_mm512_set1_ps(INV_SQRT2)),
								  _mm512_set1_ps(ERFC_Z_MAX));
	__m512		t = _mm512_div_ps(one, _mm512_fmadd_ps(half, z, one));
	__m512		p,
				zz,
				zzlo,
				erfc,
				phi;
	__mmask16	negative = _mm512_test_epi32_mask(_mm512_castps_si512(x),
												  _mm512_set1_epi32((int) 0x80000000));

	p = _mm512_set1_ps(ERFC_Q9);
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q8));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q7));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q6));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q5));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q4));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q3));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q2));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q1));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERFC_Q0));
	zz = _mm512_mul_ps(z, z);
	zzlo = _mm512_fmsub_ps(z, z, zz);
	erfc = _mm512_mul_ps(t, exp512(_mm512_sub_ps(_mm512_sub_ps(p, zz), zzlo)));
	phi = _mm512_mul_ps(half, erfc);
	phi = _mm512_mask_blend_ps(negative, _mm512_sub_ps(one, phi), phi);
	return _mm512_mul_ps(x, phi);
}

/* lanes [0, n - i) of x + i, for the last partial vector */
AVX512_TARGET static inline __mmask16
tail_mask(long remaining)
{
	return remaining >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << remaining) - 1);
}

AVX512_TARGET static void
avx512_gelu(float *x, long n)
{
	for (long i = 0; i < n; i += 16)
	{
		__mmask16	m = tail_mask(n - i);

		_mm512_mask_storeu_ps(x + i, m, gelu512(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

AVX512_TARGET static inline float
hsum256(__m256 v)
{
	__m128		m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_add_ps(m, _mm_movehl_ps(m, m));
	m = _mm_add_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

/*
 * Scaling, the maximum and the exponentials are per element (the maximum is
 * exact in any order); the sum goes through 8-lane vectors in index order,
 * as the AVX2 kernel adds it.  Lanes past n are -inf while scaling (their
 * exponential is 0) and never stored.
 */
AVX512_TARGET static void
avx512_softmax(float *row, int n, float scale)
{
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	__m512		vs = _mm512_set1_ps(scale);
	__m512		vmax = ninf;
	__m256		vsum = _mm256_setzero_ps();
	__m512		vinv;
	float		max;
	int			j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	m = tail_mask(n - j);
		__m512		v = _mm512_mul_ps(_mm512_mask_loadu_ps(ninf, m, row + j), vs);

		_mm512_mask_storeu_ps(row + j, m, v);
		vmax = _mm512_max_ps(vmax, _mm512_mask_mov_ps(ninf, m, v));
	}
	max = _mm512_reduce_max_ps(vmax);
	for (j = 0; j < n; j += 16)
	{
		__mmask16	m = tail_mask(n - j);
		__m512		v = _mm512_mask_loadu_ps(ninf, m, row + j);

		_mm512_mask_storeu_ps(row + j, m, exp512(_mm512_sub_ps(v, _mm512_set1_ps(max))));
	}
	for (j = 0; j + 8 <= n; j += 8)
		vsum = _mm256_add_ps(vsum, _mm256_loadu_ps(row + j));
	if (j < n)
	{
		float		tail[8] = {0};

		memcpy(tail, row + j, (n - j) * sizeof(float));
		vsum = _mm256_add_ps(vsum, _mm256_loadu_ps(tail));
	}
	vinv = _mm512_set1_ps(1.0f / hsum256(vsum));
	for (j = 0; j < n; j += 16)
	{
		__mmask16	m = tail_mask(n - j);

		_mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), vinv));
	}
}

/*
 * R rows x NP (1 or 2) panels.  w is panel p's slice, w + pstride panel
 * p+1's.  init: 0 = continue from Y (later K chunk), 1 = bias, 2 = Y + bias.
 * pf: the next slice to prefetch (one line per panel and k), or NULL.
 */
AVX512_TARGET static inline __attribute__((always_inline)) void
micro(const int R, const int NP, const float *x, int ldx, const float *w,
	  long pstride, int kc, float *y, int ldy, int init, const float *bias,
	  int relu, const float *pf, long pfstride)
{
	__m512		c0[MR], c1[MR];
	__m512		b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
	const float *w1p = w + pstride;

	if (init && bias)
	{
		b0 = _mm512_loadu_ps(bias);
		if (NP == 2)
			b1 = _mm512_loadu_ps(bias + 16);
	}
	UNROLL_ROWS
	for (int r = 0; r < R; r++)
	{
		const float *yr = y + (long) r * ldy;

		if (init == 1)
		{
			c0[r] = b0;
			if (NP == 2)
				c1[r] = b1;
		}
		else if (init == 2)
		{
			c0[r] = _mm512_add_ps(_mm512_loadu_ps(yr), b0);
			if (NP == 2)
				c1[r] = _mm512_add_ps(_mm512_loadu_ps(yr + 16), b1);
		}
		else
		{
			c0[r] = _mm512_loadu_ps(yr);
			if (NP == 2)
				c1[r] = _mm512_loadu_ps(yr + 16);
		}
	}
	for (int k = 0; k < kc; k++)
	{
		__m512		w0 = _mm512_load_ps(w + 16 * k);
		__m512		w1 = NP == 2 ? _mm512_load_ps(w1p + 16 * k) : w0;

		if (pf)
		{
			_mm_prefetch((const char *) (pf + 16 * k), _MM_HINT_T1);
			if (NP == 2)
				_mm_prefetch((const char *) (pf + pfstride + 16 * k), _MM_HINT_T1);
		}

		UNROLL_ROWS
		for (int r = 0; r < R; r++)
		{
			__m512		xb = _mm512_set1_ps(x[(long) r * ldx + k]);

			c0[r] = _mm512_fmadd_ps(xb, w0, c0[r]);
			if (NP == 2)
				c1[r] = _mm512_fmadd_ps(xb, w1, c1[r]);
		}
	}
	if (relu)
	{
		__m512		z = _mm512_setzero_ps();

		UNROLL_ROWS
		for (int r = 0; r < R; r++)
		{
			c0[r] = _mm512_max_ps(c0[r], z);
			if (NP == 2)
				c1[r] = _mm512_max_ps(c1[r], z);
		}
	}
	UNROLL_ROWS
	for (int r = 0; r < R; r++)
	{
		_mm512_storeu_ps(y + (long) r * ldy, c0[r]);
		if (NP == 2)
			_mm512_storeu_ps(y + (long) r * ldy + 16, c1[r]);
	}
}

/* one row tile of R <= MR rows; R is a constant in every call of micro() */
#define MICRO_CASE(R_) \
	case R_: \
		if (np == 2) \
			micro(R_, 2, x, K, w, pstride, kc, y, N, init, bp, relu, pf, pfstride); \
		else \
			micro(R_, 1, x, K, w, pstride, kc, y, N, init, bp, relu, pf, pfstride); \
		break

/*
 * One row (a single text's pooled vector through the last FFN and the
 * output head, a fifth of the weights a short text reads): a 2-panel tile
 * would be two dependent FMA chains, bound by FMA latency instead of by
 * reading the weights.  Here a tile spans WIDE panels over all of K, so the
 * row has WIDE independent chains and the weights are read as WIDE
 * sequential streams, which the hardware prefetcher follows by itself
 * (software prefetch made it slower).  1536 x 512 with the weights in L3:
 * 56 -> 38 us; in memory: 91 -> 77 us (a throwaway harness over copies of
 * this file).  Two rows gained nothing.  Per output element the operations
 * and their order are unchanged.
 */
#define WIDE 8

AVX512_TARGET static inline __attribute__((always_inline)) void
micro_wide(const int R, const int NP, const float *x, int K, const float *w,
		   long pstride, float *y, int N, int flags, const float *bias)
{
	__m512		c[1][WIDE];

	_Pragma("GCC unroll 1")
	for (int r = 0; r < R; r++)
		_Pragma("GCC unroll 8")
		for (int q = 0; q < NP; q++)
		{
			__m512		b = bias ? _mm512_loadu_ps(bias + 16 * q) : _mm512_setzero_ps();

			if (flags & EMBED_GEMM_ACCUMULATE)
				c[r][q] = _mm512_add_ps(_mm512_loadu_ps(y + (long) r * N + 16 * q), b);
			else
				c[r][q] = b;
		}
	for (int k = 0; k < K; k++)
	{
		_Pragma("GCC unroll 1")
		for (int r = 0; r < R; r++)
		{
			__m512		xb = _mm512_set1_ps(x[(long) r * K + k]);

			_Pragma("GCC unroll 8")
			for (int q = 0; q < NP; q++)
				c[r][q] = _mm512_fmadd_ps(xb, _mm512_load_ps(w + q * pstride + 16 * k), c[r][q]);
		}
	}
	_Pragma("GCC unroll 1")
	for (int r = 0; r < R; r++)
		_Pragma("GCC unroll 8")
		for (int q = 0; q < NP; q++)
		{
			__m512		v = c[r][q];

			if (flags & EMBED_GEMM_RELU)
				v = _mm512_max_ps(v, _mm512_setzero_ps());
			else if (flags & EMBED_GEMM_GELU)
				v = gelu512(v);
			_mm512_storeu_ps(y + (long) r * N + 16 * q, v);
		}
}

/* Y = x Wp + bias for one row x: WIDE panels at a time, then single ones */
AVX512_TARGET static void
gemm_one_row(const float *X, int K, const float *Wp,
			 const float *bias, float *Y, int N, int flags)
{
	const int	panels = N / 16;
	const long	pstride = (long) K * 16;

	for (int p = 0; p < panels;)
	{
		int			np = panels - p >= WIDE ? WIDE : 1;
		const float *w = Wp + p * pstride;
		const float *bp = bias ? bias + 16 * p : NULL;
		float	   *y = Y + 16 * p;

		if (np == WIDE)
			micro_wide(1, WIDE, X, K, w, pstride, y, N, flags, bp);
		else
			micro_wide(1, 1, X, K, w, pstride, y, N, flags, bp);
		p += np;
	}
}

AVX512_TARGET static void
avx512_gemm(const float *X, int n, int K, const float *Wp,
			const float *bias, float *Y, int N, int flags)
{
	const int	panels = N / 16;
	const long	pstride = (long) K * 16;

	if (n == 1)
	{
		gemm_one_row(X, K, Wp, bias, Y, N, flags);
		return;
	}
	for (int m0 = 0; m0 < n; m0 += MC)
	{
		int			m1 = n - m0 < MC ? n : m0 + MC;

		for (int k0 = 0; k0 < K; k0 += KC)
		{
			int			kc = K - k0 < KC ? K - k0 : KC;
			int			init = k0 > 0 ? 0 : (flags & EMBED_GEMM_ACCUMULATE) ? 2 : 1;
			int			relu = (k0 + kc == K) && (flags & EMBED_GEMM_RELU);
			int			gelu = (k0 + kc == K) && (flags & EMBED_GEMM_GELU);

			for (int p = 0; p < panels; p += 2)
			{
				int			np = panels - p >= 2 ? 2 : 1;
				const float *w = Wp + p * pstride + (long) k0 * 16;
				const float *bp = bias ? bias + 16 * p : NULL;
				const float *next;
				int			next_np;
				long		pfstride;

				/* the next pair's slice, or the next K chunk's first pair */
				if (p + 2 < panels)
				{
					next = w + 2 * pstride;
					next_np = panels - (p + 2) >= 2 ? 2 : 1;
				}
				else
				{
					next = k0 + KC < K ? Wp + (long) (k0 + KC) * 16 : NULL;
					next_np = panels >= 2 ? 2 : 1;
				}
				pfstride = next_np == 2 ? pstride : 0;

				for (int r0 = m0; r0 < m1; r0 += MR)
				{
					const float *x = X + (long) r0 * K + k0;
					float	   *y = Y + (long) r0 * N + 16 * p;
					const float *pf = r0 == m0 ? next : NULL;

					switch (m1 - r0 >= MR ? MR : m1 - r0)
					{
							MICRO_CASE(12);
							MICRO_CASE(11);
							MICRO_CASE(10);
							MICRO_CASE(9);
							MICRO_CASE(8);
							MICRO_CASE(7);
							MICRO_CASE(6);
							MICRO_CASE(5);
							MICRO_CASE(4);
							MICRO_CASE(3);
							MICRO_CASE(2);
						default:
							MICRO_CASE(1);
					}
					/* the finished tile is still in L1: one pass less */
					if (gelu)
						for (int r = r0; r < m1 && r < r0 + MR; r++)
							for (int q = 0; q < np; q++)
							{
								float	   *yq = Y + (long) r * N + 16 * (p + q);

								_mm512_storeu_ps(yq, gelu512(_mm512_loadu_ps(yq)));
							}
				}
			}
		}
	}
}

const EmbedKernels embed_kernels_avx512 = {
	.name = "avx512",
	.gemm = avx512_gemm,
	.gelu = avx512_gelu,
	.softmax = avx512_softmax,
	.layer_norm = embed_avx2_layer_norm,
};

#endif							/* __x86_64__ && __GNUC__ */
