/*-------------------------------------------------------------------------
 *
 * vector_compare.c
 *	  Total order on vectors for the comparison operators and the btree
 *	  operator class.
 *
 * Vectors compare element by element; when one is a prefix of the other,
 * the shorter sorts first.  Elements are always finite, so plain float
 * comparison gives a total order (-0 and +0 compare equal, as for real).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(vector_cmp);
PG_FUNCTION_INFO_V1(vector_lt);
PG_FUNCTION_INFO_V1(vector_le);
PG_FUNCTION_INFO_V1(vector_eq);
PG_FUNCTION_INFO_V1(vector_ne);
PG_FUNCTION_INFO_V1(vector_ge);
PG_FUNCTION_INFO_V1(vector_gt);

static int
vector_compare(const Vector *a, const Vector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	return 0;
}

#define COMPARE_ARGS() vector_compare(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1))

Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(COMPARE_ARGS());
}

Datum
vector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() < 0);
}

Datum
vector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() <= 0);
}

Datum
vector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() == 0);
}

Datum
vector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() != 0);
}

Datum
vector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() >= 0);
}

Datum
vector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(COMPARE_ARGS() > 0);
}
