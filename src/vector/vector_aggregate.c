/*-------------------------------------------------------------------------
 *
 * vector_aggregate.c
 *	  sum(vector) and avg(vector).
 *
 * Both aggregates share one transition state, a float8[] holding
 * {row count, sum of element 1, ..., sum of element dim}.  Sums are kept in
 * double precision so that averaging many float4 vectors does not lose the
 * low bits; the final functions round once to float4.  A float8[] state
 * needs no serialize/deserialize functions, so both aggregates can run in
 * parallel with vector_combine merging partial states.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(vector_accum);
PG_FUNCTION_INFO_V1(vector_combine);
PG_FUNCTION_INFO_V1(vector_avg);
PG_FUNCTION_INFO_V1(vector_sum);

/* Validate a transition state and return its values and length. */
static float8 *
state_values(ArrayType *state, int *n)
{
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID || ARR_DIMS(state)[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid vector aggregate state")));
	*n = ARR_DIMS(state)[0];
	return (float8 *) ARR_DATA_PTR(state);
}

static ArrayType *
new_state(int dim)
{
	Datum	   *zeros = palloc(sizeof(Datum) * (dim + 1));

	for (int i = 0; i <= dim; i++)
		zeros[i] = Float8GetDatum(0.0);
	return construct_array(zeros, dim + 1, FLOAT8OID, sizeof(float8),
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static void
check_state_dims(int have, int got)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", have, got)));
}

Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	float8	   *values;
	int			n;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("vector_accum called in non-aggregate context")));

	/*
	 * In an aggregate the state belongs to us, so it can be updated in
	 * place; the first row replaces the one-element initial state.
	 */
	state = PG_GETARG_ARRAYTYPE_P(0);
	values = state_values(state, &n);
	if (n == 1)
	{
		MemoryContext aggcontext;
		MemoryContext old;

		AggCheckCallContext(fcinfo, &aggcontext);
		old = MemoryContextSwitchTo(aggcontext);
		state = new_state(v->dim);
		MemoryContextSwitchTo(old);
		values = state_values(state, &n);
	}
	check_state_dims(n - 1, v->dim);

	values[0] += 1.0;
	for (int i = 0; i < v->dim; i++)
		values[i + 1] += (double) v->x[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

Datum
vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *s1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *s2 = PG_GETARG_ARRAYTYPE_P(1);
	MemoryContext aggcontext;
	MemoryContext old;
	ArrayType  *result;
	float8	   *v2,
			   *out;
	int			n1,
				n2,
				n;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("vector_combine called in non-aggregate context")));

	(void) state_values(s1, &n1);
	v2 = state_values(s2, &n2);
	if (n2 == 1)
		PG_RETURN_ARRAYTYPE_P(s1);

	old = MemoryContextSwitchTo(aggcontext);
	if (n1 == 1)
		result = new_state(n2 - 1);
	else
	{
		check_state_dims(n1 - 1, n2 - 1);
		result = DatumGetArrayTypePCopy(PointerGetDatum(s1));
	}
	MemoryContextSwitchTo(old);

	out = state_values(result, &n);
	for (int i = 0; i < n; i++)
		out[i] += v2[i];
	PG_RETURN_ARRAYTYPE_P(result);
}

/* Shared final step: divide each sum by divisor, round to float4. */
static Datum
state_to_vector(FunctionCallInfo fcinfo, bool average)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	float8	   *values = state_values(state, &n);
	Vector	   *result;

	if (n == 1 || values[0] == 0.0)
		PG_RETURN_NULL();

	result = vector_new(n - 1);
	for (int i = 0; i < n - 1; i++)
	{
		double		value = average ? values[i + 1] / values[0] : values[i + 1];

		result->x[i] = (float) value;
		if (isinf(result->x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow")));
	}
	PG_RETURN_VECTOR_P(result);
}

Datum
vector_avg(PG_FUNCTION_ARGS)
{
	return state_to_vector(fcinfo, true);
}

Datum
vector_sum(PG_FUNCTION_ARGS)
{
	return state_to_vector(fcinfo, false);
}
