/*-------------------------------------------------------------------------
 *
 * vector_distance.c
 *	  SQL distance functions for the vector type (the <->, <=>, <#>
 *	  operators and their named forms).
 *
 * The sums themselves come from the SIMD kernel set chosen at load time
 * (src/simd); this file only checks arguments and turns sums into the
 * SQL-visible result, in double precision as pgvector does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "../simd/distance_kernels.h"
#include "vector.h"

PG_FUNCTION_INFO_V1(vector_l2_distance);
PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
PG_FUNCTION_INFO_V1(vector_inner_product);
PG_FUNCTION_INFO_V1(vector_negative_inner_product);
PG_FUNCTION_INFO_V1(vector_cosine_distance);
PG_FUNCTION_INFO_V1(vector_l1_distance);

/* Fetch both arguments, detoasted, and insist on equal dimensions. */
#define GET_VECTOR_PAIR(a, b) \
	Vector	   *a = PG_GETARG_VECTOR_P(0); \
	Vector	   *b = PG_GETARG_VECTOR_P(1); \
	vector_check_same_dims(a, b)

Datum
vector_l2_distance(PG_FUNCTION_ARGS)
{
	GET_VECTOR_PAIR(a, b);
	PG_RETURN_FLOAT8(sqrt((double) distance_kernels->l2_squared(a->x, b->x, a->dim)));
}

Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	GET_VECTOR_PAIR(a, b);
	PG_RETURN_FLOAT8((double) distance_kernels->l2_squared(a->x, b->x, a->dim));
}

Datum
vector_inner_product(PG_FUNCTION_ARGS)
{
	GET_VECTOR_PAIR(a, b);
	PG_RETURN_FLOAT8((double) distance_kernels->inner_product(a->x, b->x, a->dim));
}

Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	GET_VECTOR_PAIR(a, b);
	PG_RETURN_FLOAT8(-(double) distance_kernels->inner_product(a->x, b->x, a->dim));
}

/*
 * Cosine distance = 1 - cos(a, b).  A zero vector has no direction: the
 * result is NaN, as in pgvector (NaN sorts after every number, so such rows
 * come last in ORDER BY ... <=>).
 */
Datum
vector_cosine_distance(PG_FUNCTION_ARGS)
{
	double		similarity;
	CosineSums	s;

	GET_VECTOR_PAIR(a, b);
	s = distance_kernels->cosine_sums(a->x, b->x, a->dim);
	if ((double) s.norm_a * (double) s.norm_b == 0.0)
		PG_RETURN_FLOAT8(get_float8_nan());

	similarity = (double) s.dot / sqrt((double) s.norm_a * (double) s.norm_b);
	/* rounding can push |similarity| slightly above 1 */
	similarity = Max(-1.0, Min(1.0, similarity));
	PG_RETURN_FLOAT8(1.0 - similarity);
}

Datum
vector_l1_distance(PG_FUNCTION_ARGS)
{
	GET_VECTOR_PAIR(a, b);
	PG_RETURN_FLOAT8((double) distance_kernels->l1(a->x, b->x, a->dim));
}
