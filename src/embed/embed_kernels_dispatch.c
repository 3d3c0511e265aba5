/*-------------------------------------------------------------------------
 *
 * embed_kernels_dispatch.c
 *	  Run-time choice of the embedding kernel set.
 *
 * Asked once per process; __builtin_cpu_supports also checks (XGETBV) that
 * the OS saves the ymm / zmm registers.  The AVX-512 set wins wherever the
 * CPU has it (docs/benchmarks.md, "Embeddings"); on cores that split 512-bit
 * operations in two halves it is no slower than the AVX2 set.
 * RETRIEVAL_EMBED_KERNELS=scalar|avx2 in the server's environment caps the
 * choice (for tests and A/B measurements).
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "embed_kernels.h"

static const EmbedKernels *chosen = NULL;

int
embed_kernels_supported(const EmbedKernels *set)
{
	if (set == &embed_kernels_scalar)
		return 1;
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (set == &embed_kernels_avx2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	if (set == &embed_kernels_avx512)
		return __builtin_cpu_supports("avx512f");
#endif
	return 0;
}

const EmbedKernels *
embed_kernels_best(void)
{
	if (chosen == NULL)
	{
		const char *force = getenv("RETRIEVAL_EMBED_KERNELS");
		const EmbedKernels *candidates[3];
		int			ncandidates = 0;
		int			start = 0;

#if defined(__x86_64__) && defined(__GNUC__)
		candidates[ncandidates++] = &embed_kernels_avx512;
		candidates[ncandidates++] = &embed_kernels_avx2;
#endif
		candidates[ncandidates++] = &embed_kernels_scalar;

		/* a forced set caps the choice: start the search at it */
		for (int i = 0; force && i < ncandidates; i++)
			if (strcmp(force, candidates[i]->name) == 0)
				start = i;
		for (int i = start; i < ncandidates && chosen == NULL; i++)
			if (embed_kernels_supported(candidates[i]))
				chosen = candidates[i];
	}
	return chosen;
}
