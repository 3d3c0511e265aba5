/*-------------------------------------------------------------------------
 *
 * quantize_kernels.h
 *	  Inner loops of the code distances (sq8 and binary), with run-time
 *	  selection of an AVX2 variant on x86-64.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_QUANTIZE_KERNELS_H
#define RETRIEVAL_QUANTIZE_KERNELS_H

#include "postgres.h"

typedef struct QuantKernels
{
	/* sum_i w[i] * code[i] */
	float		(*sq8_dot) (const float *w, const uint8 *code, int n);
	/* sum_j lut[256 j + code[j]] */
	float		(*lut_sum) (const float *lut, const uint8 *code, int nbytes);
} QuantKernels;

/* The fastest set this CPU supports (chosen on first call). */
extern const QuantKernels *quant_kernels(void);

#endif							/* RETRIEVAL_QUANTIZE_KERNELS_H */
