/*-------------------------------------------------------------------------
 *
 * vector_math.c
 *	  Element-wise arithmetic and per-vector functions: +, -, *, ||,
 *	  vector_dims, vector_norm, l2_normalize, subvector.
 *
 * Arithmetic results must stay finite: an overflow raises
 * numeric_value_out_of_range instead of storing an infinity that the
 * input function would never have accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "vector.h"

PG_FUNCTION_INFO_V1(vector_add);
PG_FUNCTION_INFO_V1(vector_sub);
PG_FUNCTION_INFO_V1(vector_mul);
PG_FUNCTION_INFO_V1(vector_concat);
PG_FUNCTION_INFO_V1(vector_dims);
PG_FUNCTION_INFO_V1(vector_norm);
PG_FUNCTION_INFO_V1(vector_l2_normalize);
PG_FUNCTION_INFO_V1(vector_subvector);

typedef enum ElementOp
{
	ELEMENT_ADD,
	ELEMENT_SUB,
	ELEMENT_MUL
} ElementOp;

static void
check_result_finite(const Vector *v)
{
	for (int i = 0; i < v->dim; i++)
		if (isinf(v->x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow")));
}

static Vector *
elementwise(const Vector *a, const Vector *b, ElementOp op)
{
	Vector	   *r;

	vector_check_same_dims(a, b);
	r = vector_new(a->dim);
	switch (op)
	{
		case ELEMENT_ADD:
			for (int i = 0; i < a->dim; i++)
				r->x[i] = a->x[i] + b->x[i];
			break;
		case ELEMENT_SUB:
			for (int i = 0; i < a->dim; i++)
				r->x[i] = a->x[i] - b->x[i];
			break;
		case ELEMENT_MUL:
			for (int i = 0; i < a->dim; i++)
				r->x[i] = a->x[i] * b->x[i];
			break;
	}
	check_result_finite(r);
	return r;
}

Datum
vector_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_VECTOR_P(elementwise(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1), ELEMENT_ADD));
}

Datum
vector_sub(PG_FUNCTION_ARGS)
{
	PG_RETURN_VECTOR_P(elementwise(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1), ELEMENT_SUB));
}

Datum
vector_mul(PG_FUNCTION_ARGS)
{
	PG_RETURN_VECTOR_P(elementwise(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1), ELEMENT_MUL));
}

Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	vector_check_dim_count(a->dim + b->dim);
	r = vector_new(a->dim + b->dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(r);
}

Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(v->dim);
}

/* Euclidean norm, accumulated in double (it is not a hot path). */
static double
norm_of(const Vector *v)
{
	double		sum = 0.0;

	for (int i = 0; i < v->dim; i++)
		sum += (double) v->x[i] * (double) v->x[i];
	return sqrt(sum);
}

Datum
vector_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(norm_of(PG_GETARG_VECTOR_P(0)));
}

/* Unit vector in the same direction; the zero vector is returned as is. */
Datum
vector_l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	double		norm = norm_of(v);
	Vector	   *r = vector_new(v->dim);

	if (norm > 0.0)
	{
		for (int i = 0; i < v->dim; i++)
			r->x[i] = (float) ((double) v->x[i] / norm);
		/* subnormal inputs can overflow when divided by a tiny norm */
		check_result_finite(r);
	}
	PG_RETURN_VECTOR_P(r);
}

/*
 * subvector(v, start, count): elements start .. start+count-1 (1-based),
 * clipped to the vector like substring() clips to a string.  An empty
 * result is an error because a vector cannot be empty.
 */
Datum
vector_subvector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int64		start = PG_GETARG_INT32(1);
	int64		count = PG_GETARG_INT32(2);
	int64		end = start + count;	/* exclusive; int64 cannot overflow */
	Vector	   *r;

	if (start < 1)
		start = 1;
	if (end > (int64) v->dim + 1)
		end = (int64) v->dim + 1;
	if (count < 1 || end <= start)
		vector_check_dim_count(0);

	r = vector_new((int) (end - start));
	memcpy(r->x, v->x + (start - 1), sizeof(float) * r->dim);
	PG_RETURN_VECTOR_P(r);
}
