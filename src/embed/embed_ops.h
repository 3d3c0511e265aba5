/*-------------------------------------------------------------------------
 *
 * embed_ops.h
 *	  The building blocks every transformer forward pass of the engine
 *	  shares (besides the kernels' LayerNorm and GELU): packed-sequence
 *	  self-attention, weight packing into
 *	  the kernels' P16 layout, and the per-backend activation arena.
 *
 * One implementation each, used by use_lite.c and bert_model.c, so the two
 * architectures cannot drift apart in their arithmetic.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_OPS_H
#define RETRIEVAL_EMBED_OPS_H

#include "postgres.h"

#include "embed_kernels.h"

/*
 * Scratch floats attention() needs for sequences of at most n tokens and
 * heads of width dh.
 */
extern size_t embed_attention_ws_floats(int n, int dh);

/*
 * Multi-head self-attention of each of nseq packed sequences over itself
 * (no padding: a sequence never sees past its own end).  qkv rows are
 * [q | k | v] of width 3d; heads are consecutive dh-wide slices (dh a
 * multiple of 16).  att receives rows of width d.  ws: scratch of
 * embed_attention_ws_floats(longest, dh) floats, 64-byte aligned.
 */
extern void embed_attention(const EmbedKernels *k, const float *qkv, int d, int dh,
							int nseq, const int *lens, float *att, float *ws);

/*
 * Pack a PyTorch-layout linear weight W[out][in] (y = x W^T) into the P16
 * layout of the K = in by N = out matrix W^T (out a multiple of 16).
 */
extern void embed_pack_p16(const float *w, int out, int in, float *dst);

/*
 * The arena the activations of a forward pass are carved from: grown to
 * the largest request seen, then reused (TopMemoryContext).  Returns a
 * 64-byte aligned block of at least bytes.
 */
extern char *embed_arena(size_t bytes);

/* Carve nfloats floats, 64-byte aligned, from *cursor. */
static inline float *
embed_arena_carve(char **cursor, size_t nfloats)
{
	float	   *p = (float *) *cursor;

	*cursor += TYPEALIGN(64, nfloats * sizeof(float));
	return p;
}

#define EMBED_ARENA_BYTES(nfloats) TYPEALIGN(64, (size_t) (nfloats) * sizeof(float))

#endif							/* RETRIEVAL_EMBED_OPS_H */
