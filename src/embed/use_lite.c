/*-------------------------------------------------------------------------
 *
 * use_lite.c
 *	  The Universal Sentence Encoder Lite forward pass.
 *
 * Exactly the computation of MODEL.md (docs/architecture.md, "Forward
 * pass"), in float32 like the TF.js reference:
 *
 *   x = 2 E[id] + timing(p)            (the graph adds E twice: E + (E + t))
 *   layer 0 (d 256, 4 heads of 64):  x = (x Wres + bres) + Attn(LN(x)) Wo + bo
 *                                    x = x + relu(LN(x) W1 + b1) W2 + b2
 *   layer 1 (d 512, 4 heads of 128): same, identity residual
 *   y = tanh(mean_t(x) Wh + bh);  out = y / max(|y|, 1e-6)
 *
 * Batching: the sequences of a call are packed one after the other, without
 * padding.  Every matrix product is per row, so only attention needs to
 * know where a sequence ends, and it simply never looks past it.  That is
 * the reference's padding mask (-1e9 before softmax: exp underflows to
 * exactly 0 in float32) without computing the padded rows at all.
 *
 * The weights stay in the read-only mapping; the only private memory is the
 * activation arena (below).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "embed_kernels.h"
#include "use_lite.h"

#define LN_EPS 1e-6

static const float *
mat(const ModelFile *f, const char *name, uint32 rows, uint32 cols)
{
	return model_file_tensor(f, name, MODEL_DT_F32, MODEL_LAYOUT_P16, rows, cols);
}

static const float *
vec(const ModelFile *f, const char *name, uint32 n)
{
	return model_file_tensor(f, name, MODEL_DT_F32, MODEL_LAYOUT_ROWMAJOR, n, 1);
}

void
use_lite_load(UseLiteModel *m, const char *path, const char *missing_hint)
{
	ModelFile  *f = &m->file;
	const uint32 *offsets;
	const uint8 *bytes;

	model_file_open(f, path, missing_hint);
	if (strncmp(f->header->arch, "use-lite", sizeof(f->header->arch)) != 0 ||
		f->header->dims != USE_LITE_DIMS || f->header->max_tokens != USE_LITE_MAX_TOKENS ||
		f->header->vocab_size != USE_LITE_VOCAB)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding model file \"%s\" is not a USE-lite model", path)));

	m->tokens = model_file_tensor(f, "embed.tokens", MODEL_DT_F32, MODEL_LAYOUT_ROWMAJOR,
								  USE_LITE_EMBED_ROWS, 256);
	m->inv_timescales = vec(f, "embed.inv_timescales", 128);
	for (int i = 0; i < USE_LITE_LAYERS; i++)
	{
		UseLiteLayer *L = &m->layers[i];
		int			d = i == 0 ? 256 : 512;
		char		name[40];

#define T(suffix) (snprintf(name, sizeof(name), "l%d.%s", i, suffix), name)
		L->d = d;
		L->ln1_scale = vec(f, T("ln1.scale"), d);
		L->ln1_bias = vec(f, T("ln1.bias"), d);
		L->qkv_w = mat(f, T("qkv.w"), d, 3 * d);
		L->qkv_b = vec(f, T("qkv.b"), 3 * d);
		L->out_w = mat(f, T("out.w"), d, 512);
		L->out_b = vec(f, T("out.b"), 512);
		if (i == 0)
		{
			L->res_w = mat(f, T("res.w"), 256, 512);
			L->res_b = vec(f, T("res.b"), 512);
		}
		else
			L->res_w = L->res_b = NULL;
		L->ln2_scale = vec(f, T("ln2.scale"), 512);
		L->ln2_bias = vec(f, T("ln2.bias"), 512);
		L->ffn1_w = mat(f, T("ffn1.w"), 512, USE_LITE_FFN);
		L->ffn1_b = vec(f, T("ffn1.b"), USE_LITE_FFN);
		L->ffn2_w = mat(f, T("ffn2.w"), USE_LITE_FFN, 512);
		L->ffn2_b = vec(f, T("ffn2.b"), 512);
#undef T
	}
	m->head_w = mat(f, "head.w", 512, 512);
	m->head_b = vec(f, "head.b", 512);

	offsets = model_file_tensor(f, "vocab.offsets", MODEL_DT_U32, MODEL_LAYOUT_ROWMAJOR,
								USE_LITE_VOCAB + 1, 1);
	bytes = model_file_tensor(f, "vocab.bytes", MODEL_DT_U8, MODEL_LAYOUT_ROWMAJOR, 0, 1);
	sp_tokenizer_init(&m->tokenizer, USE_LITE_VOCAB, 6,
					  model_file_tensor(f, "vocab.scores", MODEL_DT_F64, MODEL_LAYOUT_ROWMAJOR,
										USE_LITE_VOCAB, 1),
					  offsets, bytes, model_file_tensor_rows(f, "vocab.bytes"));
}

/* y = LN(x) * scale + bias over rows of width d (biased variance). */
static void
layer_norm(const float *x, int rows, int d, const float *scale, const float *bias, float *y)
{
	for (int r = 0; r < rows; r++)
	{
		const float *xr = x + (long) r * d;
		float	   *yr = y + (long) r * d;
		double		mean = 0,
					var = 0;
		float		fmean,
					inv;

		for (int i = 0; i < d; i++)
			mean += xr[i];
		mean /= d;
		for (int i = 0; i < d; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= d;
		fmean = (float) mean;
		inv = (float) (1.0 / sqrt(var + LN_EPS));
		for (int i = 0; i < d; i++)
			yr[i] = (xr[i] - fmean) * inv * scale[i] + bias[i];
	}
}

/*
 * Multi-head self-attention of every sequence over itself.  qkv rows are
 * [q | k | v] of width 3d; heads are consecutive dh-wide slices of each.
 *
 * Per sequence and head, both products go through the GEMM kernel rather
 * than a dot product per (query, key) pair, whose call and horizontal-sum
 * overhead cost about a fifth of the whole forward pass at 128 tokens:
 *   S = Q K^T: Q copied contiguous (n x dh), K^T packed as P16 panels of 16
 *              keys (zero-padded to npad = n rounded up to 16);
 *   O = P V:   P the softmax rows (n x npad, zero beyond n), V packed P16.
 * ws is scratch of attention_ws_floats(longest sequence) floats, 64-byte
 * aligned (the kernel's weight loads are aligned loads).
 */
#define NPAD(n) (((n) + 15) & ~15)

static size_t
attention_ws_floats(int n)
{
	size_t		npad = NPAD(n);
	size_t		dh = 512 / USE_LITE_HEADS;	/* the widest heads */

	/* packed k^T, packed v, scores, q, out */
	return 2 * npad * dh + (size_t) n * npad + 2 * (size_t) n * dh;
}

static void
attention(const EmbedKernels *k, const float *qkv, int d, int dh,
		  int nseq, const int *lens, float *att, float *ws)
{
	int			ld = 3 * d;
	float		scale = 1.0f / sqrtf((float) dh);
	long		o = 0;

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
				float		mx = -INFINITY,
							sum = 0.0f,
							inv;

				for (int j = 0; j < n; j++)
				{
					row[j] *= scale;
					if (row[j] > mx)
						mx = row[j];
				}
				for (int j = 0; j < n; j++)
				{
					row[j] = expf(row[j] - mx);
					sum += row[j];
				}
				inv = 1.0f / sum;
				for (int j = 0; j < n; j++)
					row[j] *= inv;
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

/*
 * The activations live in a per-backend arena (TopMemoryContext) that grows
 * to the largest pass seen and is then reused: fresh memory on every call
 * cost page faults and zeroing inside the matrix products (about a tenth of
 * a 128-token pass), and the caller bounds a pass to 128 tokens, so the
 * arena stays under 2.6 MB (about 250 kB for short queries).
 */
static char *arena_raw = NULL;
static size_t arena_bytes = 0;

static float *
arena_carve(char **cursor, size_t nfloats)
{
	float	   *p = (float *) *cursor;

	*cursor += TYPEALIGN(64, nfloats * sizeof(float));
	return p;
}

void
use_lite_forward(const UseLiteModel *m, int nseq, const int32 *const *ids,
				 const int *lens, float *out)
{
	const EmbedKernels *k = embed_kernels_best();
	long		rows = 0;
	int			longest = 0;
	size_t		need;
	char	   *cursor;
	float	   *x0,
			   *x,
			   *h,
			   *qkv,
			   *att,
			   *ff,
			   *ws,
			   *pooled,
			   *fmean;
	long		r;

	for (int s = 0; s < nseq; s++)
	{
		if (lens[s] < 1 || lens[s] > USE_LITE_MAX_TOKENS)
			elog(ERROR, "sequence length %d out of range", lens[s]);
		rows += lens[s];
		longest = Max(longest, lens[s]);
	}

#define ABYTES(nfloats) TYPEALIGN(64, (size_t) (nfloats) * sizeof(float))
	need = ABYTES(rows * 256) + 2 * ABYTES(rows * 512) + ABYTES(rows * 1536) +
		ABYTES(rows * 512) + ABYTES(rows * USE_LITE_FFN) + ABYTES(attention_ws_floats(longest)) +
		ABYTES(nseq * 512) + ABYTES(nseq * USE_LITE_FFN) + 64;
#undef ABYTES
	if (need > arena_bytes)
	{
		if (arena_raw)
			pfree(arena_raw);
		arena_raw = NULL;
		arena_bytes = 0;
		arena_raw = MemoryContextAllocHuge(TopMemoryContext, need);
		arena_bytes = need;
	}
	cursor = (char *) TYPEALIGN(64, arena_raw);
	x0 = arena_carve(&cursor, rows * 256);
	x = arena_carve(&cursor, rows * 512);
	h = arena_carve(&cursor, rows * 512);
	qkv = arena_carve(&cursor, rows * 1536);
	att = arena_carve(&cursor, rows * 512);
	ff = arena_carve(&cursor, rows * USE_LITE_FFN);
	ws = arena_carve(&cursor, attention_ws_floats(longest));
	pooled = arena_carve(&cursor, (size_t) nseq * 512);
	fmean = arena_carve(&cursor, (size_t) nseq * USE_LITE_FFN);
	Assert(cursor <= arena_raw + arena_bytes);
	memset(pooled, 0, (size_t) nseq * 512 * sizeof(float));
	memset(fmean, 0, (size_t) nseq * USE_LITE_FFN * sizeof(float));

	/* token embeddings, twice, plus the sinusoidal timing signal */
	r = 0;
	for (int s = 0; s < nseq; s++)
	{
		for (int p = 0; p < lens[s]; p++, r++)
		{
			int32		id = ids[s][p];
			const float *e;
			float	   *xr = x0 + r * 256;

			if (id < 0 || id >= USE_LITE_EMBED_ROWS)
				elog(ERROR, "token id %d out of range", id);
			e = m->tokens + (long) id * 256;
			for (int i = 0; i < 128; i++)
			{
				float		ang = (float) p * m->inv_timescales[i];

				xr[i] = e[i] + (e[i] + (float) sin((double) ang));
				xr[128 + i] = e[128 + i] + (e[128 + i] + (float) cos((double) ang));
			}
		}
	}

	for (int l = 0; l < USE_LITE_LAYERS; l++)
	{
		const UseLiteLayer *L = &m->layers[l];
		int			d = L->d;
		const float *xin = (l == 0) ? x0 : x;

		CHECK_FOR_INTERRUPTS();
		layer_norm(xin, rows, d, L->ln1_scale, L->ln1_bias, h);
		k->gemm(h, rows, d, L->qkv_w, L->qkv_b, qkv, 3 * d, 0);
		attention(k, qkv, d, d / USE_LITE_HEADS, nseq, lens, att, ws);
		if (L->res_w)
			k->gemm(x0, rows, 256, L->res_w, L->res_b, x, 512, 0);
		k->gemm(att, rows, d, L->out_w, L->out_b, x, 512, EMBED_GEMM_ACCUMULATE);
		CHECK_FOR_INTERRUPTS();
		layer_norm(x, rows, 512, L->ln2_scale, L->ln2_bias, h);
		k->gemm(h, rows, 512, L->ffn1_w, L->ffn1_b, ff, USE_LITE_FFN, EMBED_GEMM_RELU);
		if (l < USE_LITE_LAYERS - 1)
			k->gemm(ff, rows, USE_LITE_FFN, L->ffn2_w, L->ffn2_b, x, 512, EMBED_GEMM_ACCUMULATE);
	}

	/*
	 * Mean over each sequence's tokens.  Only this mean of the last layer's
	 * output is used, and the last operation of that layer is linear:
	 * mean(x + f W2 + b2) = mean(x) + mean(f) W2 + b2.  So the last FFN
	 * down-projection (1536 -> 512, a sixth of all the arithmetic) is applied
	 * once per sequence to the mean ReLU activations instead of once per
	 * token.  Exact up to float rounding order.
	 */
	{
		const UseLiteLayer *L = &m->layers[USE_LITE_LAYERS - 1];

		r = 0;
		for (int s = 0; s < nseq; s++)
		{
			float	   *pr = pooled + (long) s * 512;
			float	   *fr = fmean + (long) s * USE_LITE_FFN;
			float		inv = 1.0f / (float) lens[s];

			for (int p = 0; p < lens[s]; p++, r++)
			{
				for (int i = 0; i < 512; i++)
					pr[i] += x[r * 512 + i];
				for (int i = 0; i < USE_LITE_FFN; i++)
					fr[i] += ff[r * USE_LITE_FFN + i];
			}
			for (int i = 0; i < 512; i++)
				pr[i] *= inv;
			for (int i = 0; i < USE_LITE_FFN; i++)
				fr[i] *= inv;
		}
		k->gemm(fmean, nseq, USE_LITE_FFN, L->ffn2_w, L->ffn2_b, pooled, 512, EMBED_GEMM_ACCUMULATE);
	}

	/* output head, tanh, L2 normalisation */
	k->gemm(pooled, nseq, 512, m->head_w, m->head_b, out, 512, 0);
	for (int s = 0; s < nseq; s++)
	{
		float	   *o = out + (long) s * 512;
		double		norm = 0;
		float		inv;

		for (int i = 0; i < 512; i++)
		{
			o[i] = tanhf(o[i]);
			norm += (double) o[i] * o[i];
		}
		inv = (float) (1.0 / Max(sqrt(norm), 1e-6));
		for (int i = 0; i < 512; i++)
			o[i] *= inv;
	}
}
