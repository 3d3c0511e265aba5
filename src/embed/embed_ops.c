/*-------------------------------------------------------------------------
 *
 * embed_ops.c
 *	  Packed-sequence self-attention, P16 weight packing and the activation
 *	  arena, shared by every forward pass (embed_ops.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "embed_ops.h"

/*
 * Per sequence and head, both products go through the GEMM kernel rather
 * than a dot product per (query, key) pair, whose call and horizontal-sum
 * overhead cost about a fifth of the whole USE-lite forward pass at 128
 * tokens:
 *   S = Q K^T: Q copied contiguous (n x dh), K^T packed as P16 panels of 16
 *              keys (zero-padded to npad = n rounded up to 16);
 *   O = P V:   P the softmax rows (n x npad, zero beyond n), V packed P16.
 * Packing the sequences without padding is exactly a padding mask whose
 * -inf/-1e9 scores underflow to 0 after the softmax, without computing the
 * padded rows at all.
 */
#define NPAD(n) (((n) + 15) & ~15)

size_t
embed_attention_ws_floats(int n, int dh)
{
	size_t		npad = NPAD(n);

	/* packed k^T, packed v, scores, q, out */
	return 2 * npad * dh + (size_t) n * npad + 2 * (size_t) n * dh;
}

void
embed_attention(const EmbedKernels *k, const float *qkv, int d, int dh,
				int nseq, const int *lens, float *att, float *ws)
{
	int			ld = 3 * d;
	float		scale = 1.0f / sqrtf((float) dh);
	long		o = 0;

	Assert(dh % 16 == 0 && d % dh == 0);
	for (int s = 0; s < nseq; s++)
	{
		int			n = lens[s];
		int			npad = NPAD(n);
		float	   *kt = ws;	/* npad * dh, first: aligned */
		float	   *vp = kt + (size_t) npad * dh;	/* npad * dh */
		float	   *sc = vp + (size_t) npad * dh;	/* n * npad */
		float	   *q = sc + (size_t) n * npad; /* n * dh */
		float	   *out = q + (size_t) n * dh;	/* n * dh */

		CHECK_FOR_INTERRUPTS();
		for (int h = 0; h < d / dh; h++)
		{
			/*
			 * K^T as panels of 16 keys: panel p, row c = K[16p + j][c].  Key
			 * by key, so the reads are sequential; a panel (dh x 16) is in L1.
			 */
			for (int key = 0; key < npad; key++)
			{
				float	   *dst = kt + (size_t) (key / 16) * dh * 16 + key % 16;

				if (key < n)
				{
					const float *src = qkv + (o + key) * ld + d + h * dh;

					for (int c = 0; c < dh; c++)
						dst[c * 16] = src[c];
				}
				else
					for (int c = 0; c < dh; c++)
						dst[c * 16] = 0.0f;
			}
			/* V as panels of 16 of its dh columns, rows = keys, zero-padded */
			for (int p = 0; p < dh / 16; p++)
				for (int j = 0; j < npad; j++)
				{
					float	   *dst = vp + ((size_t) p * npad + j) * 16;

					if (j < n)
						memcpy(dst, qkv + (o + j) * ld + 2 * d + h * dh + 16 * p, 16 * sizeof(float));
					else
						memset(dst, 0, 16 * sizeof(float));
				}
			for (int i = 0; i < n; i++)
				memcpy(q + (size_t) i * dh, qkv + (o + i) * ld + h * dh, dh * sizeof(float));

			k->gemm(q, n, dh, kt, NULL, sc, npad, 0);
			for (int i = 0; i < n; i++)
			{
				float	   *row = sc + (size_t) i * npad;

				k->softmax(row, n, scale);
				for (int j = n; j < npad; j++)
					row[j] = 0.0f;
			}
			k->gemm(sc, n, npad, vp, NULL, out, dh, 0);
			for (int i = 0; i < n; i++)
				memcpy(att + (o + i) * d + h * dh, out + (size_t) i * dh, dh * sizeof(float));
		}
		o += n;
	}
}

void
embed_pack_p16(const float *w, int out, int in, float *dst)
{
	Assert(out % 16 == 0);
	for (int p = 0; p < out / 16; p++)
		for (int k = 0; k < in; k++)
			for (int j = 0; j < 16; j++)
				*dst++ = w[(size_t) (16 * p + j) * in + k];
}

/*
 * The activations live in one per-backend arena (TopMemoryContext) that
 * grows to the largest pass seen and is then reused: fresh memory on every
 * call cost page faults and zeroing inside the matrix products (about a
 * tenth of a 128-token USE-lite pass).  Callers bound the tokens of a pass,
 * which bounds the arena.
 */
static char *arena_raw = NULL;
static size_t arena_bytes = 0;

char *
embed_arena(size_t bytes)
{
	bytes += 64;				/* room to align */
	if (bytes > arena_bytes)
	{
		if (arena_raw)
			pfree(arena_raw);
		arena_raw = NULL;
		arena_bytes = 0;
		arena_raw = MemoryContextAllocHuge(TopMemoryContext, bytes);
		arena_bytes = bytes;
	}
	return (char *) TYPEALIGN(64, arena_raw);
}
