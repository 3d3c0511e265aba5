/*-------------------------------------------------------------------------
 *
 * bert_model.c
 *	  BERT-family sentence encoders in the Hugging Face layout: binding of
 *	  config.json + model.safetensors + tokenizer.json (+ the optional
 *	  sentence-transformers modules.json, 1_Pooling/config.json,
 *	  sentence_bert_config.json), and the forward pass.
 *
 * Forward pass (post-LayerNorm BERT, token_type_ids = 0), in float32:
 *
 *   x = LN_e(W_word[id] + W_pos[p] + W_type[0])
 *   per layer:  x = LN_1(x + Attn(x) Wo + bo)
 *               x = LN_2(x + gelu(x W1 + b1) W2 + b2)      gelu with erf
 *   pooled = x[CLS] or the mean over the sequence's tokens;
 *   optionally L2-normalised (sentence-transformers Normalize).
 *
 * The sequences of a call are packed without padding (embed_ops.c), which
 * is exactly BERT's attention mask.  The matrix products use the engine's
 * P16 kernels, so the PyTorch [out][in] weights are packed at load.
 *
 * The packed matrices live in a packed-weight cache file in the data
 * directory, keyed by the model's fingerprint (packed_cache.c): the first
 * backend to load a model packs and writes it, every backend maps it, so
 * they are shared like the safetensors file itself.  Only without a
 * fingerprint (never for registered models) or when the cache cannot be
 * written are they private to the backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "embed_json.h"
#include "embed_model.h"
#include "embed_ops.h"
#include "packed_cache.h"
#include "safetensors.h"
#include "wordpiece_tokenizer.h"

typedef struct BertLayer
{
	const float *qkv_w;			/* P16, H x 3H: q | k | v */
	float	   *qkv_b;
	const float *out_w;			/* P16, H x H */
	const float *out_b;
	const float *ln1_w,
			   *ln1_b;
	const float *ffn1_w;		/* P16, H x F */
	const float *ffn1_b;
	const float *ffn2_w;		/* P16, F x H */
	const float *ffn2_b;
	const float *ln2_w,
			   *ln2_b;
} BertLayer;

typedef struct BertModel
{
	SafeTensors st;
	WordPieceTokenizer tok;
	int			hidden,
				layers,
				heads,
				ffn,
				vocab;
	double		eps;
	bool		pool_cls;		/* else mean */
	bool		normalize;
	const float *word;			/* [vocab][hidden] */
	float	   *pos_type;		/* [max_tokens][hidden]: W_pos[p] + W_type[0] */
	const float *emb_ln_w,
			   *emb_ln_b;
	BertLayer  *L;
	void	   *cache_base;		/* mapping of the packed-weight cache, or NULL */
	size_t		cache_bytes;
} BertModel;

/* ---------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------
 */

static const StTensor *
tensor(BertModel *b, const char *prefix, const char *name, int ndim, int64 d0, int64 d1)
{
	return safetensors_get(&b->st, psprintf("%s%s", prefix, name), ndim, d0, d1);
}

/* A LayerNorm parameter: "<base>.weight"/".bias", or the older gamma/beta. */
static const float *
ln_param(BertModel *b, const char *prefix, const char *base, bool weight)
{
	char	   *name = psprintf("%s%s.%s", prefix, base, weight ? "weight" : "bias");

	if (safetensors_find(&b->st, name) == NULL)
		name = psprintf("%s%s.%s", prefix, base, weight ? "gamma" : "beta");
	return safetensors_f32(safetensors_get(&b->st, name, 1, b->hidden, -1));
}

/* Pack a linear layer's weight [out][in] into dst (P16). */
static void
pack_linear(BertModel *b, const char *name, int out, int in, float *dst)
{
	const StTensor *t = safetensors_get(&b->st, name, 2, out, in);
	const float *w = safetensors_f32(t);

	embed_pack_p16(w, out, in, dst);
	if (w != (const float *) t->data)
		pfree((void *) w);
}

static const float *
bias(BertModel *b, const char *name, int n)
{
	return safetensors_f32(safetensors_get(&b->st, name, 1, n, -1));
}

/* Pooling and normalisation from the sentence-transformers files. */
static void
load_pooling(BertModel *b, const char *dir)
{
	char	   *mpath = psprintf("%s/modules.json", dir);
	char	   *ppath = NULL;
	JsonbContainer *mods;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	b->pool_cls = false;		/* sentence-transformers' default: mean */
	b->normalize = false;
	mods = embed_json_read_file(mpath, false);
	if (mods == NULL)
		return;
	if (!JsonContainerIsArray(mods))
		embed_json_invalid(mpath, "not a JSON array");
	it = JsonbIteratorInit(mods);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbContainer *mod;
		char	   *type;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			embed_json_invalid(mpath, "a module is not an object");
		mod = v.val.binary.data;
		type = embed_json_string_opt(mod, "type", "", mpath);
		if (strstr(type, "Transformer") != NULL)
			continue;
		else if (strstr(type, "Pooling") != NULL)
			ppath = psprintf("%s/%s/config.json", dir, embed_json_string_opt(mod, "path", "1_Pooling", mpath));
		else if (strstr(type, "Normalize") != NULL)
			b->normalize = true;
		else
			embed_json_invalid(mpath, psprintf("module \"%s\" is not supported (only Transformer, Pooling, Normalize)", type));
	}
	if (ppath)
	{
		JsonbContainer *pc;
		bool		cls,
					mean;

		if (strstr(ppath, "..") != NULL)
			embed_json_invalid(mpath, "a module path leaves the model directory");
		pc = embed_json_read_file(ppath, true);
		cls = embed_json_bool_opt(pc, "pooling_mode_cls_token", false, ppath);
		mean = embed_json_bool_opt(pc, "pooling_mode_mean_tokens", false, ppath);
		if (cls == mean ||
			embed_json_bool_opt(pc, "pooling_mode_max_tokens", false, ppath) ||
			embed_json_bool_opt(pc, "pooling_mode_mean_sqrt_len_tokens", false, ppath) ||
			embed_json_bool_opt(pc, "pooling_mode_weightedmean_tokens", false, ppath) ||
			embed_json_bool_opt(pc, "pooling_mode_lasttoken", false, ppath))
			embed_json_invalid(ppath, "only CLS pooling or mean pooling (exactly one) is supported");
		b->pool_cls = cls;
	}
}

static int32 *bert_tokens(const EmbedModel *m, const char *utf8, int len, bool all, int *count);
static void bert_forward(const EmbedModel *m, int nseq, const int32 *const *ids,
						 const int *lens, float *out);

static void
bert_unload(EmbedModel *m)
{
	BertModel  *b = m->impl;

	if (b)
	{
		safetensors_close(&b->st);
		if (b->cache_base)
			munmap(b->cache_base, b->cache_bytes);
		b->cache_base = NULL;
	}
}

static void bind_packed(BertModel *b, const char *pfx, const char *fingerprint);

static void
bind_weights(EmbedModel *m, BertModel *b, int max_pos, int type_vocab, const char *fingerprint)
{
	const char *pfx;
	const StTensor *wt;
	const float *pos;
	const float *typ;
	int			H = b->hidden;

	pfx = safetensors_find(&b->st, "embeddings.word_embeddings.weight") ? "" :
		safetensors_find(&b->st, "bert.embeddings.word_embeddings.weight") ? "bert." : "";
	wt = tensor(b, pfx, "embeddings.word_embeddings.weight", 2, b->vocab, H);
	b->word = safetensors_f32(wt);
	pos = safetensors_f32(tensor(b, pfx, "embeddings.position_embeddings.weight", 2, max_pos, H));
	typ = safetensors_f32(tensor(b, pfx, "embeddings.token_type_embeddings.weight", 2, type_vocab, H));
	b->pos_type = palloc((size_t) m->max_tokens * H * sizeof(float));
	for (int p = 0; p < m->max_tokens; p++)
		for (int i = 0; i < H; i++)
			b->pos_type[(size_t) p * H + i] = pos[(size_t) p * H + i] + typ[i];
	b->emb_ln_w = ln_param(b, pfx, "embeddings.LayerNorm", true);
	b->emb_ln_b = ln_param(b, pfx, "embeddings.LayerNorm", false);

	b->L = palloc0(b->layers * sizeof(BertLayer));
	for (int l = 0; l < b->layers; l++)
	{
		BertLayer  *L = &b->L[l];
		char	   *lp = psprintf("%sencoder.layer.%d.", pfx, l);
		static const char *const qkv_names[3] = {"query", "key", "value"};

		L->qkv_b = palloc(3 * H * sizeof(float));
		for (int j = 0; j < 3; j++)
			safetensors_to_f32(safetensors_get(&b->st, psprintf("%sattention.self.%s.bias", lp, qkv_names[j]), 1, H, -1),
							   L->qkv_b + j * H);
		L->out_b = bias(b, psprintf("%sattention.output.dense.bias", lp), H);
		L->ln1_w = ln_param(b, lp, "attention.output.LayerNorm", true);
		L->ln1_b = ln_param(b, lp, "attention.output.LayerNorm", false);
		L->ffn1_b = bias(b, psprintf("%sintermediate.dense.bias", lp), b->ffn);
		L->ffn2_b = bias(b, psprintf("%soutput.dense.bias", lp), H);
		L->ln2_w = ln_param(b, lp, "output.LayerNorm", true);
		L->ln2_b = ln_param(b, lp, "output.LayerNorm", false);
	}
	bind_packed(b, pfx, fingerprint);
}

/* Floats of one layer's packed matrices: qkv, out, ffn1, ffn2. */
static size_t
layer_packed_floats(const BertModel *b)
{
	size_t		H = b->hidden;

	return 3 * H * H + H * H + 2 * H * b->ffn;
}

/* Point the layers' matrices into a block of packed floats. */
static void
assign_packed(BertModel *b, const float *block)
{
	size_t		H = b->hidden;

	for (int l = 0; l < b->layers; l++)
	{
		BertLayer  *L = &b->L[l];
		const float *p = block + (size_t) l * layer_packed_floats(b);

		L->qkv_w = p;
		L->out_w = p + 3 * H * H;
		L->ffn1_w = L->out_w + H * H;
		L->ffn2_w = L->ffn1_w + H * b->ffn;
	}
}

/*
 * The packed matrices: mapped from the packed-weight cache of this
 * fingerprint when there is one (shared by every backend), else packed
 * here, written to the cache, and mapped from it; private only when there
 * is no fingerprint (never for registered models) or the cache cannot be
 * written.
 */
static void
bind_packed(BertModel *b, const char *pfx, const char *fingerprint)
{
	size_t		total = (size_t) b->layers * layer_packed_floats(b);
	size_t		H = b->hidden;
	char	   *key = fingerprint ? psprintf("%s-bert-v1", fingerprint) : NULL;
	const float *mapped;
	char	   *raw;
	float	   *block;

	if (key && (mapped = packed_cache_map(key, total, &b->cache_base, &b->cache_bytes)) != NULL)
	{
		assign_packed(b, mapped);
		return;
	}

	raw = palloc_extended(total * sizeof(float) + 64, MCXT_ALLOC_HUGE);
	block = (float *) TYPEALIGN(64, raw);	/* the kernels' loads are aligned */
	for (int l = 0; l < b->layers; l++)
	{
		float	   *p = block + (size_t) l * layer_packed_floats(b);
		char	   *lp = psprintf("%sencoder.layer.%d.", pfx, l);
		float	   *qkv = palloc_extended((size_t) 3 * H * H * sizeof(float), MCXT_ALLOC_HUGE);
		static const char *const qkv_names[3] = {"query", "key", "value"};

		CHECK_FOR_INTERRUPTS();
		/* [3H][H] = q rows, k rows, v rows: one product gives q | k | v */
		for (int j = 0; j < 3; j++)
			safetensors_to_f32(safetensors_get(&b->st, psprintf("%sattention.self.%s.weight", lp, qkv_names[j]), 2, H, H),
							   qkv + (size_t) j * H * H);
		embed_pack_p16(qkv, 3 * H, H, p);
		pfree(qkv);
		pack_linear(b, psprintf("%sattention.output.dense.weight", lp), H, H, p + 3 * H * H);
		pack_linear(b, psprintf("%sintermediate.dense.weight", lp), b->ffn, H, p + 4 * H * H);
		pack_linear(b, psprintf("%soutput.dense.weight", lp), H, b->ffn, p + 4 * H * H + H * b->ffn);
	}
	if (key)
	{
		packed_cache_store(key, block, total);
		mapped = packed_cache_map(key, total, &b->cache_base, &b->cache_bytes);
		if (mapped)
		{
			assign_packed(b, mapped);
			pfree(raw);
			return;
		}
	}
	assign_packed(b, block);
}

void
bert_model_open(EmbedModel *m, const char *dir, JsonbContainer *cfg, const char *fingerprint)
{
	BertModel  *b = palloc0(sizeof(BertModel));
	char	   *cpath = psprintf("%s/config.json", dir);
	char	   *tpath = psprintf("%s/tokenizer.json", dir);
	char	   *spath = psprintf("%s/sentence_bert_config.json", dir);
	char	   *act;
	char	   *pos_type;
	JsonbContainer *sbert;
	int			max_pos,
				type_vocab;
	int64		max_tokens;

	b->hidden = (int) embed_json_int(cfg, "hidden_size", cpath);
	b->layers = (int) embed_json_int(cfg, "num_hidden_layers", cpath);
	b->heads = (int) embed_json_int(cfg, "num_attention_heads", cpath);
	b->ffn = (int) embed_json_int(cfg, "intermediate_size", cpath);
	b->vocab = (int) embed_json_int(cfg, "vocab_size", cpath);
	max_pos = (int) embed_json_int(cfg, "max_position_embeddings", cpath);
	type_vocab = (int) embed_json_int_opt(cfg, "type_vocab_size", 2, cpath);
	b->eps = embed_json_double_opt(cfg, "layer_norm_eps", 1e-12, cpath);
	act = embed_json_string_opt(cfg, "hidden_act", "gelu", cpath);
	pos_type = embed_json_string_opt(cfg, "position_embedding_type", "absolute", cpath);

	if (b->hidden < 16 || b->hidden > 8192 || b->layers < 1 || b->layers > 128 ||
		b->heads < 1 || b->heads > 256 || b->ffn < 16 || b->ffn > 65536 ||
		b->vocab < 1 || b->vocab > 4000000 || max_pos < 3 || max_pos > 65536 ||
		type_vocab < 1 || type_vocab > 1024 || !(b->eps > 0 && b->eps < 1))
		embed_json_invalid(cpath, "model dimensions out of range");
	if (b->hidden % b->heads != 0 || (b->hidden / b->heads) % 16 != 0 ||
		b->hidden % 16 != 0 || b->ffn % 16 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("BERT model \"%s\" is not supported", dir),
				 errdetail("The engine needs hidden_size, intermediate_size and the head width to be multiples of 16.")));
	if (strcmp(act, "gelu") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("BERT model \"%s\" is not supported", dir),
				 errdetail("hidden_act \"%s\": only \"gelu\" (erf) is implemented.", act)));
	if (strcmp(pos_type, "absolute") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("BERT model \"%s\" is not supported", dir),
				 errdetail("position_embedding_type \"%s\": only \"absolute\" is implemented.", pos_type)));

	{
		/* the parsed file is garbage once the tokenizer is built */
		MemoryContext scratch = embed_json_scratch();
		MemoryContext old = MemoryContextSwitchTo(scratch);
		JsonbContainer *tj = embed_json_read_file(tpath, true);

		MemoryContextSwitchTo(old);
		wordpiece_load(&b->tok, tj, tpath);
		MemoryContextDelete(scratch);
	}
	if (b->tok.vocab_size > b->vocab)
		embed_json_invalid(tpath, "the tokenizer has more ids than the model's vocab_size");
	load_pooling(b, dir);

	/* sequence limit: positions, tokenizer truncation, sentence-transformers */
	max_tokens = max_pos;
	if (b->tok.truncation > 0)
		max_tokens = Min(max_tokens, b->tok.truncation);
	sbert = embed_json_read_file(spath, false);
	if (sbert)
		max_tokens = Min(max_tokens, Max(embed_json_int_opt(sbert, "max_seq_length", max_tokens, spath), 1));
	if (max_tokens <= b->tok.n_before + b->tok.n_after)
		embed_json_invalid(cpath, "the maximum sequence length leaves no room for text");

	m->kind = EMBED_KIND_BERT;
	m->dims = b->hidden;
	m->max_tokens = (int) max_tokens;
	m->pass_rows = Max(m->max_tokens, 256);
	m->impl = b;
	m->tokens = bert_tokens;
	m->forward = bert_forward;
	m->unload = bert_unload;

	safetensors_open(&b->st, psprintf("%s/model.safetensors", dir));
	PG_TRY();
	{
		bind_weights(m, b, max_pos, type_vocab, fingerprint);
	}
	PG_CATCH();
	{
		bert_unload(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* ---------------------------------------------------------------------
 * Tokens and forward pass
 * ---------------------------------------------------------------------
 */

static int32 *
bert_tokens(const EmbedModel *m, const char *utf8, int len, bool all, int *count)
{
	const BertModel *b = m->impl;
	const WordPieceTokenizer *wp = &b->tok;
	int			room = m->max_tokens - wp->n_before - wp->n_after;
	int			n;
	int32	   *body = wordpiece_tokenize(wp, utf8, len, all ? 0 : room, &n);
	int32	   *ids = palloc((n + wp->n_before + wp->n_after + 1) * sizeof(int32));
	int			k = 0;

	for (int i = 0; i < wp->n_before; i++)
		ids[k++] = wp->before[i];
	memcpy(ids + k, body, n * sizeof(int32));
	k += n;
	for (int i = 0; i < wp->n_after; i++)
		ids[k++] = wp->after[i];
	/* a tokenizer without special tokens and an empty text: feed [UNK] */
	if (k == 0 && !all)
		ids[k++] = wp->unk_id;
	pfree(body);
	*count = k;
	return ids;
}

static void
bert_forward(const EmbedModel *m, int nseq, const int32 *const *ids,
			 const int *lens, float *out)
{
	const BertModel *b = m->impl;
	const EmbedKernels *k = embed_kernels_best();
	int			H = b->hidden;
	int			F = b->ffn;
	int			dh = H / b->heads;
	long		rows = 0;
	int			longest = 0;
	char	   *cursor;
	float	   *x,
			   *h,
			   *qkv,
			   *att,
			   *ff,
			   *ws;
	long		r;

	for (int s = 0; s < nseq; s++)
	{
		if (lens[s] < 1 || lens[s] > m->max_tokens)
			elog(ERROR, "sequence length %d out of range", lens[s]);
		rows += lens[s];
		longest = Max(longest, lens[s]);
	}
	cursor = embed_arena(2 * EMBED_ARENA_BYTES(rows * H) + EMBED_ARENA_BYTES(rows * 3 * H) +
						 EMBED_ARENA_BYTES(rows * H) + EMBED_ARENA_BYTES(rows * F) +
						 EMBED_ARENA_BYTES(embed_attention_ws_floats(longest, dh)));
	x = embed_arena_carve(&cursor, rows * H);
	h = embed_arena_carve(&cursor, rows * H);
	qkv = embed_arena_carve(&cursor, rows * 3 * H);
	att = embed_arena_carve(&cursor, rows * H);
	ff = embed_arena_carve(&cursor, rows * F);
	ws = embed_arena_carve(&cursor, embed_attention_ws_floats(longest, dh));

	r = 0;
	for (int s = 0; s < nseq; s++)
		for (int p = 0; p < lens[s]; p++, r++)
		{
			int32		id = ids[s][p];
			const float *e;
			const float *pt = b->pos_type + (size_t) p * H;
			float	   *xr = x + r * H;

			if (id < 0 || id >= b->vocab)
				elog(ERROR, "token id %d out of range", id);
			e = b->word + (size_t) id * H;
			for (int i = 0; i < H; i++)
				xr[i] = e[i] + pt[i];
		}
	k->layer_norm(x, rows, H, b->emb_ln_w, b->emb_ln_b, b->eps, x);

	for (int l = 0; l < b->layers; l++)
	{
		const BertLayer *L = &b->L[l];

		CHECK_FOR_INTERRUPTS();
		k->gemm(x, rows, H, L->qkv_w, L->qkv_b, qkv, 3 * H, 0);
		embed_attention(k, qkv, H, dh, nseq, lens, att, ws);
		memcpy(h, x, (size_t) rows * H * sizeof(float));
		k->gemm(att, rows, H, L->out_w, L->out_b, h, H, EMBED_GEMM_ACCUMULATE);
		k->layer_norm(h, rows, H, L->ln1_w, L->ln1_b, b->eps, x);
		CHECK_FOR_INTERRUPTS();
		k->gemm(x, rows, H, L->ffn1_w, L->ffn1_b, ff, F, EMBED_GEMM_GELU);
		memcpy(h, x, (size_t) rows * H * sizeof(float));
		k->gemm(ff, rows, F, L->ffn2_w, L->ffn2_b, h, H, EMBED_GEMM_ACCUMULATE);
		k->layer_norm(h, rows, H, L->ln2_w, L->ln2_b, b->eps, x);
	}

	r = 0;
	for (int s = 0; s < nseq; s++)
	{
		float	   *o = out + (size_t) s * H;

		if (b->pool_cls)
			memcpy(o, x + r * H, H * sizeof(float));
		else
		{
			/* accumulate in double: the mean of up to 512 rows */
			for (int i = 0; i < H; i++)
			{
				double		acc = 0;

				for (int p = 0; p < lens[s]; p++)
					acc += x[(r + p) * H + i];
				o[i] = (float) (acc / lens[s]);
			}
		}
		r += lens[s];
		if (b->normalize)
		{
			double		norm = 0;

			for (int i = 0; i < H; i++)
				norm += (double) o[i] * o[i];
			norm = Max(sqrt(norm), 1e-12);
			for (int i = 0; i < H; i++)
				o[i] = (float) (o[i] / norm);
		}
	}
}
