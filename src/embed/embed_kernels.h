/*-------------------------------------------------------------------------
 *
 * embed_kernels.h
 *	  Float32 kernels of the embedding engine, with run-time CPU dispatch.
 *
 * This file owns the interface of the inner loops of the forward pass: the
 * matrix product against a packed matrix (the weights, and in attention the
 * packed keys and values), which is almost all of the work, and the
 * element-wise passes over activations (GELU, softmax, LayerNorm), which
 * were a quarter of a BERT pass when done with libm per element.  Like src/simd/ it is free
 * of PostgreSQL headers; the scalar set is the reference, the AVX2+FMA and
 * AVX-512F sets are compiled with per-function target attributes and the
 * best one the CPU supports is chosen at run time.
 *
 * Packed weights ("P16" layout, written by convert_use_lite.mjs): a K x N
 * matrix W (y = x W) is stored as N/16 panels; panel p holds, for k = 0..K-1,
 * the 16 floats W[k][16p .. 16p+15].  N must be a multiple of 16.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_KERNELS_H
#define RETRIEVAL_EMBED_KERNELS_H

#define EMBED_GEMM_ACCUMULATE	1	/* Y += X W + b instead of Y = X W + b */
#define EMBED_GEMM_RELU			2	/* apply max(0, .) to the result */
#define EMBED_GEMM_GELU			4	/* apply gelu() (below) to the result */

typedef struct EmbedKernels
{
	const char *name;

	/*
	 * Y[n x N] (row stride N) = X[n x K] (row stride K) * Wp + bias, with
	 * the EMBED_GEMM_* flags.  bias may be NULL.
	 */
	void		(*gemm) (const float *X, int n, int K, const float *Wp,
						 const float *bias, float *Y, int N, int flags);

	/*
	 * In place, x = x/2 (1 + erf(x/sqrt 2)): the exact (erf) GELU, to
	 * 5e-7 max(1, x^2/2) relative (test/unit/test_embed_kernels.c).
	 */
	void		(*gelu) (float *x, long n);

	/*
	 * In place over row[0..n-1]: softmax(scale * row).  n >= 1.
	 */
	void		(*softmax) (float *row, int n, float scale);

	/*
	 * y = (x - mean) / sqrt(var + eps) * scale + bias over rows of width d
	 * (biased variance; sums in double).  y may equal x.
	 */
	void		(*layer_norm) (const float *x, long rows, int d, const float *scale,
							   const float *bias, double eps, float *y);
} EmbedKernels;

extern const EmbedKernels embed_kernels_scalar;
#if defined(__x86_64__) && defined(__GNUC__)
extern const EmbedKernels embed_kernels_avx2;
extern const EmbedKernels embed_kernels_avx512;

/* The AVX2 LayerNorm, which the AVX-512 set shares. */
extern void embed_avx2_layer_norm(const float *x, long rows, int d,
								  const float *scale, const float *bias,
								  double eps, float *y);
#endif

/* Whether this CPU (and OS) can run the set. */
extern int	embed_kernels_supported(const EmbedKernels *set);

/* The fastest set this CPU supports (decided once, then cached). */
extern const EmbedKernels *embed_kernels_best(void);

#endif							/* RETRIEVAL_EMBED_KERNELS_H */
