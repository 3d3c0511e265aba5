/*-------------------------------------------------------------------------
 *
 * bm25_score.c
 *	  Text -> bag of distinct terms, and the BM25 formula.
 *
 * The index scan, the per-row operator and the upper bounds of the top-k
 * search all go through these functions, so the same document and query
 * give bit-identical scores on every path: per distinct query term (in
 * order of first occurrence in the query) a contribution
 *	  idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
 *	  idf = ln(1 + (N - n + 0.5) / (n + 0.5)),
 * multiplied by the term's number of occurrences in the query, summed in
 * that order in float8 (Lucene's formula, with exact document lengths).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "bm25.h"

uint32
bm25_hash(const char *term, int len)
{
	return hash_bytes((const unsigned char *) term, len);
}

/*
 * Analyze text with the index's analyzer and count distinct terms.  The
 * bag is palloc'd in CurrentMemoryContext.
 */
Bm25Bag *
bm25_analyze(const Bm25MetaData *meta, const char *text, int len)
{
	TextAnalyzer *analyzer = text_analyzer_get(meta->tokenizer, meta->language);
	AnalyzedText *at = text_analyze(analyzer, text, len);
	Bm25Bag    *bag = palloc(sizeof(Bm25Bag));
	uint32		nslots = 16;
	int		   *slots;

	while (nslots < (uint32) at->nterms * 2)
		nslots <<= 1;
	slots = palloc_extended(sizeof(int) * nslots, MCXT_ALLOC_HUGE);
	memset(slots, -1, sizeof(int) * nslots);
	bag->nterms = 0;
	bag->length = (uint32) at->nterms;
	bag->terms = palloc_extended(sizeof(Bm25TermCount) * Max(at->nterms, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < at->nterms; i++)
	{
		AnalyzedTerm *t = &at->terms[i];
		uint32		h = bm25_hash(t->term, t->len);
		uint32		s = h & (nslots - 1);

		while (slots[s] >= 0)
		{
			Bm25TermCount *tc = &bag->terms[slots[s]];

			if (tc->hash == h && tc->len == t->len && memcmp(tc->term, t->term, t->len) == 0)
				break;
			s = (s + 1) & (nslots - 1);
		}
		if (slots[s] >= 0)
			bag->terms[slots[s]].count++;
		else
		{
			Bm25TermCount *tc = &bag->terms[bag->nterms];

			tc->term = t->term;
			tc->len = t->len;
			tc->count = 1;
			tc->hash = h;
			slots[s] = bag->nterms++;
		}
	}
	pfree(slots);
	return bag;
}

/* A hash table of the query's terms, so documents are matched in O(terms). */
void
bm25_query_index_terms(Bm25Query *q)
{
	q->nslots = 16;
	while (q->nslots < (uint32) q->bag.nterms * 2)
		q->nslots <<= 1;
	q->slots = palloc(sizeof(int) * q->nslots);
	memset(q->slots, -1, sizeof(int) * q->nslots);
	for (int i = 0; i < q->bag.nterms; i++)
	{
		uint32		s = q->bag.terms[i].hash & (q->nslots - 1);

		while (q->slots[s] >= 0)
			s = (s + 1) & (q->nslots - 1);
		q->slots[s] = i;
	}
}

/* Index of the query term equal to term, or -1. */
int
bm25_query_find(const Bm25Query *q, const Bm25TermCount *term)
{
	for (uint32 s = term->hash & (q->nslots - 1);; s = (s + 1) & (q->nslots - 1))
	{
		int			i = q->slots[s];
		const Bm25TermCount *qt;

		if (i < 0)
			return -1;
		qt = &q->bag.terms[i];
		if (qt->hash == term->hash && qt->len == term->len &&
			memcmp(qt->term, term->term, term->len) == 0)
			return i;
	}
}

/* idf per query term from df, N and avgdl already in q. */
void
bm25_query_prepare(Bm25Query *q, const Bm25MetaData *meta)
{
	q->k1 = meta->k1;
	q->b = meta->b;
	q->idf = palloc(sizeof(float8) * Max(q->bag.nterms, 1));
	for (int i = 0; i < q->bag.nterms; i++)
	{
		float8		n = (float8) q->df[i];

		q->idf[i] = log(1.0 + (q->ndocs - n + 0.5) / (n + 0.5));
	}
}

float8
bm25_term_score(const Bm25Query *q, int i, uint32 tf, uint32 length)
{
	float8		ftf = (float8) tf;

	if (tf == 0)
		return 0.0;
	return q->idf[i] * ftf * (q->k1 + 1.0) /
		(ftf + q->k1 * (1.0 - q->b + q->b * (float8) length / q->avgdl));
}

/*
 * Bound of a term's contribution over a postings block: the score grows
 * with tf and falls with the length (k1, b >= 0), so (max tf, min length)
 * bounds every posting.  Multiplied by the query count like the score.
 */
float8
bm25_upper_bound(const Bm25Query *q, int i, uint32 max_tf, uint32 min_length)
{
	return (float8) q->bag.terms[i].count * bm25_term_score(q, i, max_tf, min_length);
}

/* The score from per-query-term contributions, always summed the same way. */
float8
bm25_sum(const Bm25Query *q, const float8 *contrib)
{
	float8		s = 0.0;

	for (int i = 0; i < q->bag.nterms; i++)
		s += (float8) q->bag.terms[i].count * contrib[i];
	return s;
}

/* Score of a whole analyzed document (the per-row path, buffered docs). */
float8
bm25_score_bag(const Bm25Query *q, const Bm25Bag *doc)
{
	float8	   *contrib = palloc0(sizeof(float8) * Max(q->bag.nterms, 1));
	float8		s;

	for (int j = 0; j < doc->nterms; j++)
	{
		int			i = bm25_query_find(q, &doc->terms[j]);

		if (i >= 0)
			contrib[i] = bm25_term_score(q, i, doc->terms[j].count, doc->length);
	}
	s = bm25_sum(q, contrib);
	pfree(contrib);
	return s;
}
