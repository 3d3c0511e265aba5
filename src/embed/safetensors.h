/*-------------------------------------------------------------------------
 *
 * safetensors.h
 *	  Read-only memory mapping and validation of .safetensors files (the
 *	  Hugging Face weight format): an 8-byte little-endian header length,
 *	  a JSON header {"name": {"dtype", "shape", "data_offsets"}, ...}, then
 *	  the tensor bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_SAFETENSORS_H
#define RETRIEVAL_SAFETENSORS_H

#include "postgres.h"

#define ST_MAX_DIMS 4

typedef enum StDtype
{
	ST_F32,
	ST_F16,
	ST_BF16
} StDtype;

typedef struct StTensor
{
	char	   *name;
	StDtype		dtype;
	int			ndim;
	int64		shape[ST_MAX_DIMS];
	int64		count;			/* number of elements */
	const char *data;			/* in the mapping, validated to be inside it */
} StTensor;

typedef struct SafeTensors
{
	char	   *path;
	const char *base;			/* the mapping (MAP_SHARED, PROT_READ) */
	size_t		size;
	int			ntensors;
	StTensor   *tensors;
} SafeTensors;

/*
 * Map and validate the file (ERROR 58P01 if absent, XX001 if invalid);
 * tensors of other dtypes than F32/F16/BF16 are ignored.  Allocations in
 * CurrentMemoryContext; safetensors_close unmaps.
 */
extern void safetensors_open(SafeTensors *st, const char *path);
extern void safetensors_close(SafeTensors *st);

/* The tensor called name, or NULL. */
extern const StTensor *safetensors_find(const SafeTensors *st, const char *name);

/*
 * The tensor called name, checked to have ndim dimensions with the given
 * sizes (-1: any); ERROR XX001 when absent or of another shape.
 */
extern const StTensor *safetensors_get(const SafeTensors *st, const char *name,
									   int ndim, int64 d0, int64 d1);

/* The elements of t as float32, into dst[t->count]. */
extern void safetensors_to_f32(const StTensor *t, float *dst);

/*
 * The elements of t in place when it is F32 and 4-byte aligned (no private
 * copy), else a palloc'd converted copy.
 */
extern const float *safetensors_f32(const StTensor *t);

#endif							/* RETRIEVAL_SAFETENSORS_H */
