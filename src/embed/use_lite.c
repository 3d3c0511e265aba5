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
 * activation arena (embed_ops.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/mman.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "embed_model.h"
#include "embed_ops.h"
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
	const float *inv_timescales;

	model_file_open(f, path, missing_hint);
	if (strncmp(f->header->arch, "use-lite", sizeof(f->header->arch)) != 0 ||
		f->header->dims != USE_LITE_DIMS || f->header->max_tokens != USE_LITE_MAX_TOKENS ||
		f->header->vocab_size != USE_LITE_VOCAB)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding model file \"%s\" is not a USE-lite model", path)));

	m->tokens = model_file_tensor(f, "embed.tokens", MODEL_DT_F32, MODEL_LAYOUT_ROWMAJOR,
								  USE_LITE_EMBED_ROWS, 256);
	inv_timescales = vec(f, "embed.inv_timescales", 128);

	/*
	 * The sinusoidal timing signal of every position, once: 32k sin/cos per
	 * backend instead of 256 per token (3% of a pass).  128 kB, allocated
	 * with the model.
	 */
	m->timing = palloc(sizeof(float) * USE_LITE_MAX_TOKENS * 256);
	for (int p = 0; p < USE_LITE_MAX_TOKENS; p++)
		for (int i = 0; i < 128; i++)
		{
			float		ang = (float) p * inv_timescales[i];

			m->timing[p * 256 + i] = (float) sin((double) ang);
			m->timing[p * 256 + 128 + i] = (float) cos((double) ang);
		}
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

/*
 * acc[i] += src[i]: the pooling sums.  restrict lets GCC vectorise it
 * (per element the order of the additions is unchanged); as plain loops
 * over the arena these were 2% of a pass.
 */
static inline void
add_row(float *restrict acc, const float *restrict src, int n)
{
	for (int i = 0; i < n; i++)
		acc[i] += src[i];
}

/* x0 = E[id] + (E[id] + timing[p]): the graph's own order of the sums */
static inline void
embed_row(float *restrict x0, const float *restrict e, const float *restrict t)
{
	for (int i = 0; i < 256; i++)
		x0[i] = e[i] + (e[i] + t[i]);
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
	char	   *start PG_USED_FOR_ASSERTS_ONLY;
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

#define ABYTES(nfloats) EMBED_ARENA_BYTES(nfloats)
	need = ABYTES(rows * 256) + 2 * ABYTES(rows * 512) + ABYTES(rows * 1536) +
		ABYTES(rows * 512) + ABYTES(rows * USE_LITE_FFN) +
		ABYTES(embed_attention_ws_floats(longest, 512 / USE_LITE_HEADS)) +
		ABYTES(nseq * 512) + ABYTES(nseq * USE_LITE_FFN);
#undef ABYTES
	cursor = embed_arena(need);
	start = cursor;
	x0 = embed_arena_carve(&cursor, rows * 256);
	x = embed_arena_carve(&cursor, rows * 512);
	h = embed_arena_carve(&cursor, rows * 512);
	qkv = embed_arena_carve(&cursor, rows * 1536);
	att = embed_arena_carve(&cursor, rows * 512);
	ff = embed_arena_carve(&cursor, rows * USE_LITE_FFN);
	ws = embed_arena_carve(&cursor, embed_attention_ws_floats(longest, 512 / USE_LITE_HEADS));
	pooled = embed_arena_carve(&cursor, (size_t) nseq * 512);
	fmean = embed_arena_carve(&cursor, (size_t) nseq * USE_LITE_FFN);
	Assert(cursor <= start + need);
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
			const float *t = m->timing + p * 256;
			float	   *xr = x0 + r * 256;

			if (id < 0 || id >= USE_LITE_EMBED_ROWS)
				elog(ERROR, "token id %d out of range", id);
			e = m->tokens + (long) id * 256;
			embed_row(xr, e, t);
		}
	}

	for (int l = 0; l < USE_LITE_LAYERS; l++)
	{
		const UseLiteLayer *L = &m->layers[l];
		int			d = L->d;
		const float *xin = (l == 0) ? x0 : x;

		CHECK_FOR_INTERRUPTS();
		k->layer_norm(xin, rows, d, L->ln1_scale, L->ln1_bias, LN_EPS, h);
		k->gemm(h, rows, d, L->qkv_w, L->qkv_b, qkv, 3 * d, 0);
		embed_attention(k, qkv, d, d / USE_LITE_HEADS, nseq, lens, att, ws);
		if (L->res_w)
			k->gemm(x0, rows, 256, L->res_w, L->res_b, x, 512, 0);
		k->gemm(att, rows, d, L->out_w, L->out_b, x, 512, EMBED_GEMM_ACCUMULATE);
		CHECK_FOR_INTERRUPTS();
		k->layer_norm(x, rows, 512, L->ln2_scale, L->ln2_bias, LN_EPS, h);
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
				add_row(pr, x + r * 512, 512);
				add_row(fr, ff + r * USE_LITE_FFN, USE_LITE_FFN);
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

/* ---------------------------------------------------------------------
 * The EmbedModel interface (embed_model.h)
 * ---------------------------------------------------------------------
 */

/* The ids embed() feeds the network: at most 128, and [0] for empty text. */
static int32 *
use_lite_tokens(const EmbedModel *em, const char *utf8, int len, bool all, int *count)
{
	const UseLiteModel *m = em->impl;
	int32	   *ids = sp_tokenize(&m->tokenizer, utf8, len, all ? 0 : USE_LITE_MAX_TOKENS, count);

	if (*count == 0 && !all)
	{
		ids[0] = 0;
		*count = 1;
	}
	return ids;
}

static void
use_lite_em_forward(const EmbedModel *em, int nseq, const int32 *const *ids,
					const int *lens, float *out)
{
	use_lite_forward(em->impl, nseq, ids, lens, out);
}

static void
use_lite_unload(EmbedModel *em)
{
	UseLiteModel *m = em->impl;

	if (m && m->file.base)
		munmap((void *) m->file.base, m->file.size);
}

void
embed_use_lite_open(EmbedModel *em, const char *path, const char *missing_hint)
{
	UseLiteModel *m = palloc0(sizeof(UseLiteModel));

	PG_TRY();
	{
		use_lite_load(m, path, missing_hint);
	}
	PG_CATCH();
	{
		/* do not leak the mapping of a file that failed validation */
		if (m->file.base)
			munmap((void *) m->file.base, m->file.size);
		PG_RE_THROW();
	}
	PG_END_TRY();
	em->kind = EMBED_KIND_USE_LITE;
	em->dims = USE_LITE_DIMS;
	em->max_tokens = USE_LITE_MAX_TOKENS;

	/*
	 * Up to 512 tokens per pass (a batch of 32 queries in one pass): every
	 * pass streams the 28 MB of weights from memory, so fewer passes make
	 * batches faster (measured against 128 tokens per pass: +25% for
	 * queries, +8% for passages; the GEMM's row blocking keeps the
	 * activations it reuses in L2 at any pass size).  Costs an activation
	 * arena of up to 11 MB in a backend that embeds batches.
	 */
	em->pass_rows = 4 * USE_LITE_MAX_TOKENS;
	em->impl = m;
	em->tokens = use_lite_tokens;
	em->forward = use_lite_em_forward;
	em->unload = use_lite_unload;
}
