/*-------------------------------------------------------------------------
 *
 * fusion_score.c
 *	  The fused distance of the <=> operator on text: the one place it is
 *	  computed, for the index scan and the per-row operator alike.
 *
 *	  distance = 1 - (w * bm25 / bm25max(q) + (1 - w) * (1 - cosdist))
 *
 * bm25max(q) is the supremum of the BM25 score for the query: every term
 * contributes at most count * idf * (k1 + 1) (tf -> infinity), and terms
 * that occur in no indexed document contribute nothing, so they are left
 * out.  The normalised BM25 part is therefore in [0, 1], like the cosine
 * similarity of the semantic part is in [-1, 1], and the weight means the
 * same for every query.  It depends only on the query and the index's
 * statistics, so one row's value can be computed without seeing the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "hybrid.h"

double		hybrid_fusion_weight_setting = -1.0;

float8
fusion_bm25_max(const Bm25Query *q)
{
	float8		sum = 0.0;

	for (int i = 0; i < q->bag.nterms; i++)
		if (q->df[i] > 0)
			sum += (float8) q->bag.terms[i].count * q->idf[i];
	return sum * (q->k1 + 1.0);
}

/*
 * The fused distance from a BM25 score, the query's bm25max and the
 * cosine distance (the <~> value, in [0, 2]).
 */
float8
fusion_distance(float8 weight, float8 bm25, float8 bm25max, float cosine_distance)
{
	float8		lexical = bm25max > 0.0 ? bm25 / bm25max : 0.0;
	float8		semantic = 1.0 - (float8) cosine_distance;

	return 1.0 - (weight * lexical + (1.0 - weight) * semantic);
}

/*
 * The weight in effect: the session's setting, else the index's option
 * (read per query, so ALTER INDEX ... SET (fusion_weight = ...) needs no
 * REINDEX: the weight is not part of what the index stores).
 */
float8
fusion_weight_for(Relation index)
{
	if (hybrid_fusion_weight_setting >= 0.0)
		return hybrid_fusion_weight_setting;
	return retrieval_option_fusion_weight(index);
}
