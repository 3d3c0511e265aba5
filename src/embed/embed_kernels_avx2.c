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
 * Compiled with target attributes, not -mavx2, so nothing else in the
 * library can pick up AVX2 instructions (same rule as src/simd/).
 *
 *-------------------------------------------------------------------------
 */
#include "embed_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define KC 256
#define MC 48
#define UNROLL_ROWS _Pragma("GCC unroll 6")

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
				}
			}
		}
	}
}

const EmbedKernels embed_kernels_avx2 = {
	.name = "avx2",
	.gemm = avx2_gemm,
};

#endif							/* __x86_64__ && __GNUC__ */
