/*-------------------------------------------------------------------------
 *
 * distance_kernels.h
 *	  Float32 distance kernels with run-time CPU dispatch.
 *
 * This subsystem owns every inner loop that compares two float32 arrays:
 * squared Euclidean distance, inner product, the three sums cosine needs,
 * and L1 distance.  It is deliberately free of PostgreSQL headers so that
 * the unit test (test/unit/test_kernels.c) and the kernel benchmark can link
 * it directly and compare every code path against the scalar one.
 *
 * Each implementation ("kernel set") is a table of function pointers.  The
 * scalar set is always available; AVX2+FMA and AVX-512F sets are compiled on
 * x86-64 with per-function target attributes (no global -mavx flags, so the
 * rest of the library still runs on any x86-64 CPU) and are only selected
 * when the running CPU and OS support them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_DISTANCE_KERNELS_H
#define RETRIEVAL_DISTANCE_KERNELS_H

/* Sums that cosine distance needs, computed in one pass. */
typedef struct CosineSums
{
	float		dot;
	float		norm_a;			/* sum of a[i]^2 */
	float		norm_b;			/* sum of b[i]^2 */
} CosineSums;

typedef struct DistanceKernels
{
	const char *name;
	float		(*l2_squared) (const float *a, const float *b, int n);
	float		(*inner_product) (const float *a, const float *b, int n);
	CosineSums	(*cosine_sums) (const float *a, const float *b, int n);
	float		(*l1) (const float *a, const float *b, int n);
} DistanceKernels;

typedef enum DistanceKernelKind
{
	DISTANCE_KERNEL_SCALAR = 0,
	DISTANCE_KERNEL_AVX2 = 1,
	DISTANCE_KERNEL_AVX512 = 2,
	DISTANCE_KERNEL_COUNT
} DistanceKernelKind;

/* The kernel set every distance function calls through. */
extern const DistanceKernels *distance_kernels;

/* Kernel sets by kind; NULL when not compiled in for this architecture. */
extern const DistanceKernels distance_kernels_scalar;
extern const DistanceKernels *const distance_kernel_sets[DISTANCE_KERNEL_COUNT];

/* Does this CPU (and OS) support the given kernel set? */
extern int	distance_kernel_supported(DistanceKernelKind kind);

/* The fastest supported kind. */
extern DistanceKernelKind distance_kernel_best(void);

/* Point distance_kernels at the given set; returns 0 if unsupported. */
extern int	distance_kernel_select(DistanceKernelKind kind);

#endif							/* RETRIEVAL_DISTANCE_KERNELS_H */
