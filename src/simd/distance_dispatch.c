/*-------------------------------------------------------------------------
 *
 * distance_dispatch.c
 *	  Run-time selection of the distance kernel set.
 *
 * The choice is made once per process (from _PG_init, or explicitly through
 * the retrieval.distance_kernel setting) by asking the CPU what it supports.
 * GCC's __builtin_cpu_supports() also checks, through XGETBV, that the OS
 * saves the wider registers, so a CPU with AVX-512 under an OS or hypervisor
 * that hides it falls back to AVX2 correctly.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "distance_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
extern const DistanceKernels distance_kernels_avx2;
extern const DistanceKernels distance_kernels_avx512;
#define HAVE_X86_KERNELS 1
#endif

const DistanceKernels *distance_kernels = &distance_kernels_scalar;

const DistanceKernels *const distance_kernel_sets[DISTANCE_KERNEL_COUNT] = {
	&distance_kernels_scalar,
#ifdef HAVE_X86_KERNELS
	&distance_kernels_avx2,
	&distance_kernels_avx512,
#else
	NULL,
	NULL,
#endif
};

int
distance_kernel_supported(DistanceKernelKind kind)
{
	switch (kind)
	{
		case DISTANCE_KERNEL_SCALAR:
			return 1;
#ifdef HAVE_X86_KERNELS
		case DISTANCE_KERNEL_AVX2:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		case DISTANCE_KERNEL_AVX512:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx512f");
#endif
		default:
			return 0;
	}
}

DistanceKernelKind
distance_kernel_best(void)
{
	if (distance_kernel_supported(DISTANCE_KERNEL_AVX512))
		return DISTANCE_KERNEL_AVX512;
	if (distance_kernel_supported(DISTANCE_KERNEL_AVX2))
		return DISTANCE_KERNEL_AVX2;
	return DISTANCE_KERNEL_SCALAR;
}

int
distance_kernel_select(DistanceKernelKind kind)
{
	if (kind < 0 || kind >= DISTANCE_KERNEL_COUNT ||
		distance_kernel_sets[kind] == NULL ||
		!distance_kernel_supported(kind))
		return 0;
	distance_kernels = distance_kernel_sets[kind];
	return 1;
}
