/*-------------------------------------------------------------------------
 *
 * embed_kernels_approx.h
 *	  The constants of the vectorised e^x and erfc of the embedding kernels.
 *
 * embed_kernels_avx2.c and embed_kernels_avx512.c evaluate the same
 * approximations at 8 and 16 lanes; both take their numbers from here, and
 * test/unit/test_embed_kernels.c checks that the two give bit-identical
 * results, so the two widths cannot drift apart.
 *
 * e^x: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so that n * hi is
 * exact), e^r = 1 + r + r^2 P(r) with the degree-5 P below (Cephes' expf),
 * n added to the exponent bits; 0 below EXP_MIN.
 *
 * erfc(z) = t exp(-z^2 + Q(t)), t = 1 / (1 + z/2), Q of degree 9 (Numerical
 * Recipes' erfcc, fractional error below 1.2e-7 for every z >= 0).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_KERNELS_APPROX_H
#define RETRIEVAL_EMBED_KERNELS_APPROX_H

#define EXP_MIN		(-87.33654f)	/* e^x leaves the normal floats */
#define EXP_MAX		88.0f
#define EXP_LOG2E	1.44269504088896341f
#define EXP_LN2_HI	0.693359375f
#define EXP_LN2_LO	(-2.12194440e-4f)
/* P(r), highest degree first */
#define EXP_P5		1.9875691500e-4f
#define EXP_P4		1.3981999507e-3f
#define EXP_P3		8.3334519073e-3f
#define EXP_P2		4.1665795894e-2f
#define EXP_P1		1.6666665459e-1f
#define EXP_P0		5.0000001201e-1f

#define ERFC_Z_MAX	10.0f			/* erfc(10) < 1e-44; z^2 must not overflow */
#define INV_SQRT2	0.70710678118654752f
/* Q(t), highest degree first */
#define ERFC_Q9		0.17087277f
#define ERFC_Q8		(-0.82215223f)
#define ERFC_Q7		1.48851587f
#define ERFC_Q6		(-1.13520398f)
#define ERFC_Q5		0.27886807f
#define ERFC_Q4		(-0.18628806f)
#define ERFC_Q3		0.09678418f
#define ERFC_Q2		0.37409196f
#define ERFC_Q1		1.00002368f
#define ERFC_Q0		(-1.26551223f)

#endif							/* RETRIEVAL_EMBED_KERNELS_APPROX_H */
