/*-------------------------------------------------------------------------
 *
 * vector_cast.c
 *	  Casts between vector and one-dimensional arrays of integer, real,
 *	  double precision and numeric.
 *
 * Array -> vector: the array must be one-dimensional and free of NULLs;
 * every element must be finite and representable as float4.  The typmod of
 * the target (vector(n)) is enforced here because PostgreSQL passes it to
 * the cast function.
 *
 * Vector -> array: real[] is exact; double precision[] and numeric[] widen
 * exactly; integer[] rounds to nearest (as PostgreSQL's real -> integer
 * cast does) and fails on values outside int4.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(array_to_vector);
PG_FUNCTION_INFO_V1(vector_to_float4_array);
PG_FUNCTION_INFO_V1(vector_to_float8_array);
PG_FUNCTION_INFO_V1(vector_to_int4_array);
PG_FUNCTION_INFO_V1(vector_to_numeric_array);

/* Convert one array element to float4, with PostgreSQL's own range rules. */
static float
element_to_float4(Datum d, Oid elemtype)
{
	switch (elemtype)
	{
		case INT4OID:
			return (float) DatumGetInt32(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			/* float84 reports overflow and underflow like a real cast */
			return DatumGetFloat4(DirectFunctionCall1(dtof, d));
		case NUMERICOID:
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("unsupported array element type %s for a cast to vector",
							format_type_be(elemtype))));
	}
	pg_unreachable();
}

Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Vector	   *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array must be one-dimensional to be cast to vector")));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &n);

	vector_check_dim_count(n);
	vector_check_typmod(n, typmod);

	result = vector_new(n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("array must not contain nulls to be cast to vector")));
		result->x[i] = element_to_float4(elems[i], elemtype);
		vector_check_element(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

/* Build a one-dimensional array from per-element datums. */
static ArrayType *
datums_to_array(Datum *datums, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return construct_array(datums, n, elemtype, typlen, typbyval, typalign);
}

Datum
vector_to_float4_array(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *d = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = Float4GetDatum(v->x[i]);
	PG_RETURN_ARRAYTYPE_P(datums_to_array(d, v->dim, FLOAT4OID));
}

Datum
vector_to_float8_array(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *d = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = Float8GetDatum((double) v->x[i]);
	PG_RETURN_ARRAYTYPE_P(datums_to_array(d, v->dim, FLOAT8OID));
}

Datum
vector_to_int4_array(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *d = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = DirectFunctionCall1(ftoi4, Float4GetDatum(v->x[i]));
	PG_RETURN_ARRAYTYPE_P(datums_to_array(d, v->dim, INT4OID));
}

Datum
vector_to_numeric_array(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *d = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = DirectFunctionCall1(float4_numeric, Float4GetDatum(v->x[i]));
	PG_RETURN_ARRAYTYPE_P(datums_to_array(d, v->dim, NUMERICOID));
}
