/*-------------------------------------------------------------------------
 *
 * vector.h
 *	  The vector type: a varlena of float32 elements, binary compatible with
 *	  pgvector's on disk and on the wire.
 *
 * Layout (pgvector's): varlena header, int16 dim, int16 unused (always 0),
 * then dim float4 values.  Every stored element is finite.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_VECTOR_H
#define RETRIEVAL_VECTOR_H

#include "postgres.h"

#include "fmgr.h"

#define VECTOR_MAX_DIM 16000

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of elements */
	int16		unused;			/* reserved, always 0 */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(dim)		(offsetof(Vector, x) + sizeof(float) * (dim))
#define DatumGetVector(d)		((Vector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_VECTOR_P(n)	DatumGetVector(PG_GETARG_DATUM(n))
#define PG_RETURN_VECTOR_P(v)	PG_RETURN_POINTER(v)

/* Allocate a zeroed vector of dim elements in CurrentMemoryContext. */
extern Vector *vector_new(int dim);

/* Error helpers shared by every vector entry point (one message each). */
extern void vector_check_dim_count(int dim);
extern void vector_check_typmod(int dim, int32 typmod);
extern void vector_check_same_dims(const Vector *a, const Vector *b);
extern void vector_check_element(float value);

#endif							/* RETRIEVAL_VECTOR_H */
