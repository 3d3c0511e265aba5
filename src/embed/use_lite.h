/*-------------------------------------------------------------------------
 *
 * use_lite.h
 *	  Universal Sentence Encoder Lite: weights bound from the mapped file,
 *	  and the forward pass.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_USE_LITE_H
#define RETRIEVAL_USE_LITE_H

#include "postgres.h"

#include "model_file.h"
#include "sp_tokenizer.h"

#define USE_LITE_DIMS		512
#define USE_LITE_MAX_TOKENS	128
#define USE_LITE_VOCAB		8000
#define USE_LITE_EMBED_ROWS	8002
#define USE_LITE_LAYERS		2
#define USE_LITE_HEADS		4
#define USE_LITE_FFN		1536

typedef struct UseLiteLayer
{
	int			d;				/* width of the layer input: 256, then 512 */
	const float *ln1_scale,
			   *ln1_bias;
	const float *qkv_w,
			   *qkv_b;			/* d -> 3d, q | k | v */
	const float *out_w,
			   *out_b;			/* d -> 512 */
	const float *res_w,
			   *res_b;			/* layer 0 only: residual projection 256 -> 512 */
	const float *ln2_scale,
			   *ln2_bias;
	const float *ffn1_w,
			   *ffn1_b;			/* 512 -> 1536, ReLU */
	const float *ffn2_w,
			   *ffn2_b;			/* 1536 -> 512 */
} UseLiteLayer;

typedef struct UseLiteModel
{
	ModelFile	file;
	const float *tokens;		/* [8002][256] token embeddings */
	float	   *timing;			/* [128 positions][256]: sin | cos, at load */
	UseLiteLayer layers[USE_LITE_LAYERS];
	const float *head_w,
			   *head_b;			/* 512 -> 512, tanh */
	SpTokenizer tokenizer;
} UseLiteModel;

/* Map the file at path and bind every tensor (ERROR on any problem). */
extern void use_lite_load(UseLiteModel *m, const char *path, const char *missing_hint);

/*
 * Embed nseq token sequences (each 1..128 ids in 0..8001) into
 * out[nseq][512].  Sequences are packed without padding; the caller bounds
 * the total number of tokens per call (memory is proportional to it).
 */
extern void use_lite_forward(const UseLiteModel *m, int nseq,
							 const int32 *const *ids, const int *lens, float *out);

#endif							/* RETRIEVAL_USE_LITE_H */
