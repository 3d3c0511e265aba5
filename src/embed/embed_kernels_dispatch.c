/*-------------------------------------------------------------------------
 *
 * embed_kernels_dispatch.c
 *	  Run-time choice of the embedding kernel set.
 *
 * Asked once per process; __builtin_cpu_supports also checks (XGETBV) that
 * the OS saves the ymm registers.  There is no AVX-512 set: at these matrix
 * sizes the 256-bit kernel is limited by the two FMA ports of the machines
 * we measure on, and an untested code path is worse than none.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "embed_kernels.h"

static const EmbedKernels *chosen = NULL;

const EmbedKernels *
embed_kernels_best(void)
{
	if (chosen == NULL)
	{
		const char *force = getenv("RETRIEVAL_EMBED_KERNELS");

		chosen = &embed_kernels_scalar;
#if defined(__x86_64__) && defined(__GNUC__)
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
			!(force && strcmp(force, "scalar") == 0))
			chosen = &embed_kernels_avx2;
#else
		(void) force;
#endif
	}
	return chosen;
}
