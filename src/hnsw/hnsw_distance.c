/*-------------------------------------------------------------------------
 *
 * hnsw_distance.c
 *	  Ordering distances of the HNSW graph for each operator class, and
 *	  their conversion to the SQL operators' values.
 *
 * Cosine vectors are stored and queried at unit length, so cosine distance
 * is 1 - dot product: one SIMD kernel call and no norms per comparison.
 * L2 orders by squared distance (no sqrt in the inner loop).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "../simd/distance_kernels.h"
#include "hnsw.h"

HnswMetric
hnsw_metric_for_index(Relation index)
{
	switch (retrieval_opclass_code(index))
	{
		case OPCLASS_VECTOR_L2:
			return HNSW_METRIC_L2;
		case OPCLASS_VECTOR_IP:
			return HNSW_METRIC_IP;
		case OPCLASS_VECTOR_COSINE:
			return HNSW_METRIC_COSINE;
	}
	/* the dense part of a hybrid text index: embeddings, by cosine */
	if (retrieval_opclass_code(index) == OPCLASS_TEXT_BM25)
		return HNSW_METRIC_COSINE;
	elog(ERROR, "index \"%s\" is not an HNSW index", RelationGetRelationName(index));
	pg_unreachable();
}

float
hnsw_distance(HnswMetric metric, const float *a, const float *b, int dims)
{
	switch (metric)
	{
		case HNSW_METRIC_L2:
			return distance_kernels->l2_squared(a, b, dims);
		case HNSW_METRIC_IP:
			return -distance_kernels->inner_product(a, b, dims);
		case HNSW_METRIC_COSINE:
			return 1.0f - distance_kernels->inner_product(a, b, dims);
	}
	pg_unreachable();
}

/* The value the SQL operator would return for this ordering distance. */
double
hnsw_operator_value(HnswMetric metric, float distance)
{
	switch (metric)
	{
		case HNSW_METRIC_L2:
			return sqrt((double) Max(distance, 0.0f));
		case HNSW_METRIC_IP:
			return (double) distance;
		case HNSW_METRIC_COSINE:
			return Max(0.0, Min(2.0, (double) distance));
	}
	pg_unreachable();
}

/*
 * Copy a vector into the form the graph stores: unit length for cosine.
 * Returns false when the vector cannot be indexed (a zero vector has no
 * direction: cosine distance to it is NaN, so it is left out of the index,
 * as the operator would never rank it).
 */
bool
hnsw_prepare_vector(HnswMetric metric, const float *in, float *out, int dims)
{
	double		norm = 0.0;

	memcpy(out, in, sizeof(float) * dims);
	if (metric != HNSW_METRIC_COSINE)
		return true;
	for (int i = 0; i < dims; i++)
		norm += (double) in[i] * in[i];
	if (norm <= 0.0)
		return false;
	norm = sqrt(norm);
	for (int i = 0; i < dims; i++)
		out[i] = (float) (in[i] / norm);
	return true;
}
