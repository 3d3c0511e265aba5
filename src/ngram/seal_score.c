/*-------------------------------------------------------------------------
 *
 * seal_score.c
 *	  SEAL scoring: n-gram weights from the index's counts, the
 *	  "intersective" document score, the unsupervised query (the longest
 *	  n-grams of the query text that occur in the corpus), and the ranking
 *	  of documents.  The index scan of <%>, the per-row <%> and
 *	  retrieval.seal_search all score through here, so they agree.
 *
 * Weight of an n-gram n for a query q:
 *	  w(n, q) = max(0, logit P(n|q) - logit P(n)),  P(n) = (F(n) + 5) / (N + 5)
 * with F(n) its occurrences and N the symbols of the corpus; P(n|q) comes
 * from the caller as a natural log probability, or is the constant 1/2
 * (logit 0) without one, which makes w the log of (N - F) / (F + 5), a
 * phrase inverse frequency.
 *
 * Document score: the n-grams of the query that occur in the document,
 * each once, highest weight first (ties: query order); an n-gram adds
 *	  w^2 * (1 - alpha + alpha * new / tokens)
 * where tokens is the number of its distinct tokens (token ids in token
 * mode; whitespace-separated words in byte mode) and new how many of them
 * no higher-weight n-gram of this document already covered; alpha = 0.8.
 *
 * N-grams occurring more than retrieval.seal_max_occurrences times are
 * left out of the query (they would cost a locate per occurrence for a
 * weight close to zero); so are those that do not occur.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/hsearch.h"

#include "ngram.h"

int			seal_max_occurrences = 10000;
int			seal_query_runs = SEAL_RUNS_LONGEST;

float8
seal_weight(float8 logprob, uint64 count, uint64 nsymbols)
{
	float8		p = ((float8) count + SEAL_SMOOTHING) / ((float8) nsymbols + SEAL_SMOOTHING);
	float8		logit_p;
	float8		logit_q;
	float8		w;

	if (p >= 1.0)
		return 0.0;
	logit_p = log(p) - log1p(-p);
	if (logprob >= 0.0)
		return INFINITY;		/* P(n|q) = 1: rejected by the callers */
	logit_q = logprob - log1p(-exp(logprob));
	w = logit_q - logit_p;
	return w > 0.0 ? w : 0.0;
}

static int
uint64_cmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y;
}

static inline bool
is_space(uint32 c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The distinct tokens of an n-gram: ids, or hashes of its words. */
void
seal_ngram_tokens(uint32 mode, SealNgram *ng)
{
	int			n = 0;

	ng->tokens = palloc(sizeof(uint64) * Max(ng->len, 1));
	if (mode == NGRAM_MODE_TOKENS)
	{
		for (uint32 i = 0; i < ng->len; i++)
			ng->tokens[n++] = ng->symbols[i];
	}
	else
	{
		uint32		i = 0;

		while (i < ng->len)
		{
			uint32		start;
			char		word[1024];
			uint32		wl = 0;

			while (i < ng->len && is_space(ng->symbols[i]))
				i++;
			start = i;
			while (i < ng->len && !is_space(ng->symbols[i]))
			{
				if (wl < sizeof(word))
					word[wl++] = (char) ng->symbols[i];
				i++;
			}
			if (i > start)
				ng->tokens[n++] = hash_bytes_extended((const unsigned char *) word, wl, 0);
		}
	}
	qsort(ng->tokens, n, sizeof(uint64), uint64_cmp);
	/* distinct */
	{
		int			m = 0;

		for (int j = 0; j < n; j++)
			if (m == 0 || ng->tokens[m - 1] != ng->tokens[j])
				ng->tokens[m++] = ng->tokens[j];
		ng->ntokens = m;
	}
}

static const SealNgram *order_base;

static int
weight_desc(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	if (order_base[x].weight != order_base[y].weight)
		return order_base[x].weight > order_base[y].weight ? -1 : 1;
	return x - y;
}

int *
seal_weight_order(const SealNgram *ngrams, int nngrams)
{
	int		   *order = palloc(sizeof(int) * Max(nngrams, 1));

	for (int i = 0; i < nngrams; i++)
		order[i] = i;
	order_base = ngrams;
	qsort(order, nngrams, sizeof(int), weight_desc);
	order_base = NULL;
	return order;
}

float8
seal_doc_score(const SealNgram *ngrams, int nngrams, const int *order, const bool *present)
{
	uint64		covered_local[64];
	uint64	   *covered = covered_local;
	int			ncovered = 0;
	int			cap = lengthof(covered_local);
	float8		score = 0.0;

	for (int r = 0; r < nngrams; r++)
	{
		const SealNgram *ng = &ngrams[order[r]];
		int			fresh = 0;
		float8		factor;

		if (!present[order[r]])
			continue;
		for (int t = 0; t < ng->ntokens; t++)
		{
			bool		seen = false;

			for (int c = 0; c < ncovered && !seen; c++)
				seen = covered[c] == ng->tokens[t];
			if (!seen)
			{
				fresh++;
				if (ncovered == cap)
				{
					uint64	   *bigger = palloc(sizeof(uint64) * cap * 2);

					memcpy(bigger, covered, sizeof(uint64) * ncovered);
					if (covered != covered_local)
						pfree(covered);
					covered = bigger;
					cap *= 2;
				}
				covered[ncovered++] = ng->tokens[t];
			}
		}
		factor = ng->ntokens > 0 ?
			1.0 - SEAL_ALPHA + SEAL_ALPHA * (float8) fresh / ng->ntokens : 1.0 - SEAL_ALPHA;
		score += ng->weight * ng->weight * factor;
	}
	if (covered != covered_local)
		pfree(covered);
	return score;
}

/* ---- building a query ---- */

/*
 * Add an n-gram (symbols copied) with its weight computed from the index;
 * duplicates keep their first occurrence with the larger weight.
 */
void
seal_query_add(NgramQuery *q, SealQuery *sq, const uint32 *symbols, uint32 len, float8 logprob)
{
	SealNgram  *ng;
	uint64		count;
	float8		w;

	if (len == 0)
		return;
	if (logprob >= 0.0 || isnan(logprob))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log probabilities of n-grams must be negative, got %g", logprob)));
	count = ngram_count_symbols(q, symbols, len);
	if (count == 0 || count > (uint64) seal_max_occurrences)
		return;
	w = seal_weight(logprob, count, (uint64) q->meta.nsymbols);
	if (w <= 0.0)
		return;
	for (int i = 0; i < sq->n; i++)
		if (sq->ngrams[i].len == len &&
			memcmp(sq->ngrams[i].symbols, symbols, sizeof(uint32) * len) == 0)
		{
			sq->ngrams[i].weight = Max(sq->ngrams[i].weight, w);
			return;
		}
	if (sq->n == sq->cap)
	{
		sq->cap = Max(sq->cap * 2, 16);
		sq->ngrams = sq->ngrams ? repalloc(sq->ngrams, sizeof(SealNgram) * sq->cap)
			: palloc(sizeof(SealNgram) * sq->cap);
	}
	ng = &sq->ngrams[sq->n++];
	memset(ng, 0, sizeof(*ng));
	ng->symbols = palloc(sizeof(uint32) * len);
	memcpy(ng->symbols, symbols, sizeof(uint32) * len);
	ng->len = len;
	ng->count = count;
	ng->weight = w;
	seal_ngram_tokens(q->meta.mode, ng);
}

/*
 * The unsupervised query of a text (byte mode): its words, and from each
 * word the longest run of words, joined by single spaces, that occurs in
 * the corpus; runs contained in the previous one are skipped.  U+001E
 * (record separator) ends a phrase: no run crosses it.
 */
void
seal_query_unsupervised(NgramQuery *q, SealQuery *sq, const uint8 *text, int len)
{
	int			nwords = 0;
	int		   *wstart = palloc(sizeof(int) * (len / 2 + 2));
	int		   *wend = palloc(sizeof(int) * (len / 2 + 2));
	int		   *phrase = palloc(sizeof(int) * (len / 2 + 2));
	int			ph = 0;
	int			prev_end = -1;
	uint32	   *buf = palloc(sizeof(uint32) * (len + 1));

	for (int i = 0; i < len;)
	{
		if (text[i] == 0x1E)
		{
			ph++;
			i++;
			continue;
		}
		if (is_space(text[i]))
		{
			i++;
			continue;
		}
		wstart[nwords] = i;
		while (i < len && !is_space(text[i]) && text[i] != 0x1E)
			i++;
		wend[nwords] = i;
		phrase[nwords] = ph;
		nwords++;
	}

	for (int s = 0; s < nwords; s++)
	{
		NgramCursor c;
		int			best = -1;	/* last word of the longest run from s */
		uint32		blen = 0;
		uint32		n = 0;

		CHECK_FOR_INTERRUPTS();
		ngram_cursor_init(q, &c);
		for (int e = s; e < nwords && phrase[e] == phrase[s]; e++)
		{
			bool		ok = true;

			if (e > s)
			{
				ok = ngram_cursor_extend(q, &c, ' ');
				buf[n++] = ' ';
			}
			for (int i = wstart[e]; ok && i < wend[e]; i++)
			{
				ok = ngram_cursor_extend(q, &c, text[i]);
				buf[n++] = text[i];
			}
			if (!ok)
				break;
			best = e;
			blen = n;
			if (seal_query_runs == SEAL_RUNS_ALL)
				seal_query_add(q, sq, buf, blen, SEAL_UNSUPERVISED_LOGPROB);
		}
		if (seal_query_runs == SEAL_RUNS_LONGEST && best >= 0 && best > prev_end)
		{
			seal_query_add(q, sq, buf, blen, SEAL_UNSUPERVISED_LOGPROB);
			prev_end = best;
		}
	}
}

void
seal_query_finish(SealQuery *sq)
{
	sq->order = seal_weight_order(sq->ngrams, sq->n);
}

/* ---- ranking documents through the index ---- */

typedef struct DocEntry
{
	uint64		key;
	bool	   *present;
} DocEntry;

static int
hit_score_cmp(const void *a, const void *b)
{
	const SealHit *x = a;
	const SealHit *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Every document containing an n-gram of the query, best first (ties: key). */
SealHit *
seal_rank(NgramQuery *q, SealQuery *sq, uint32 *nhits)
{
	HASHCTL		ctl;
	HTAB	   *docs;
	HASH_SEQ_STATUS seq;
	DocEntry   *e;
	SealHit    *hits;
	uint32		n = 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(DocEntry);
	ctl.hcxt = CurrentMemoryContext;
	docs = hash_create("seal documents", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < sq->n; i++)
	{
		NgramCursor c;
		NgramDocHit *dh;
		uint32		nd;

		ngram_cursor_init(q, &c);
		for (uint32 j = 0; j < sq->ngrams[i].len; j++)
			if (!ngram_cursor_extend(q, &c, sq->ngrams[i].symbols[j]))
				break;
		dh = ngram_cursor_docs(q, &c, &nd);
		for (uint32 d = 0; d < nd; d++)
		{
			bool		found;

			e = hash_search(docs, &dh[d].key, HASH_ENTER, &found);
			if (!found)
				e->present = palloc0(sizeof(bool) * sq->n);
			e->present[i] = true;
		}
		pfree(dh);
	}
	hits = palloc_extended(sizeof(SealHit) * Max(hash_get_num_entries(docs), 1), MCXT_ALLOC_HUGE);
	hash_seq_init(&seq, docs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		hits[n].key = e->key;
		hits[n].score = seal_doc_score(sq->ngrams, sq->n, sq->order, e->present);
		n++;
	}
	qsort(hits, n, sizeof(SealHit), hit_score_cmp);
	*nhits = n;
	return hits;
}

/* ---- one row ---- */

static bool
contains(const uint32 *doc, uint32 len, const uint32 *pat, uint32 plen)
{
	if (plen > len)
		return false;
	for (uint32 i = 0; i + plen <= len; i++)
		if (doc[i] == pat[0] && memcmp(doc + i, pat, sizeof(uint32) * plen) == 0)
			return true;
	return false;
}

float8
seal_score_symbols(const SealQuery *sq, const uint32 *doc, uint32 len)
{
	bool	   *present = palloc(sizeof(bool) * Max(sq->n, 1));
	bool		any = false;
	float8		score;

	for (int i = 0; i < sq->n; i++)
	{
		present[i] = contains(doc, len, sq->ngrams[i].symbols, sq->ngrams[i].len);
		any |= present[i];
	}
	score = any ? seal_doc_score(sq->ngrams, sq->n, sq->order, present) : 0.0;
	pfree(present);
	return score;
}
