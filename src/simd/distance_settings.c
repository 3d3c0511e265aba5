/*-------------------------------------------------------------------------
 *
 * distance_settings.c
 *	  The retrieval.distance_kernel setting and the distance_kernels()
 *	  inspection function: the PostgreSQL-facing side of kernel dispatch.
 *
 * 'auto' (the default) picks the fastest kernel set the CPU supports.
 * Forcing a set exists for tests and benchmarks (every path must return
 * the scalar result); asking for one the CPU lacks is refused by the check
 * hook rather than crashing on an illegal instruction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "distance_kernels.h"
#include "distance_settings.h"

PG_FUNCTION_INFO_V1(retrieval_distance_kernels);

#define DISTANCE_KERNEL_AUTO (-1)

static int	distance_kernel_setting = DISTANCE_KERNEL_AUTO;

static const struct config_enum_entry distance_kernel_options[] = {
	{"auto", DISTANCE_KERNEL_AUTO, false},
	{"scalar", DISTANCE_KERNEL_SCALAR, false},
	{"avx2", DISTANCE_KERNEL_AVX2, false},
	{"avx512", DISTANCE_KERNEL_AVX512, false},
	{NULL, 0, false}
};

static bool
check_distance_kernel(int *newval, void **extra, GucSource source)
{
	(void) extra;
	(void) source;
	if (*newval == DISTANCE_KERNEL_AUTO ||
		distance_kernel_supported((DistanceKernelKind) *newval))
		return true;
	GUC_check_errdetail("This CPU does not support the \"%s\" distance kernels.",
						distance_kernel_sets[*newval] ?
						distance_kernel_sets[*newval]->name : "requested");
	return false;
}

static void
assign_distance_kernel(int newval, void *extra)
{
	(void) extra;
	if (newval == DISTANCE_KERNEL_AUTO)
		newval = distance_kernel_best();
	distance_kernel_select((DistanceKernelKind) newval);
}

void
distance_settings_init(void)
{
	distance_kernel_select(distance_kernel_best());
	DefineCustomEnumVariable("retrieval.distance_kernel",
							 "Selects the SIMD implementation of vector distances.",
							 "\"auto\" uses the fastest one this CPU supports.",
							 &distance_kernel_setting,
							 DISTANCE_KERNEL_AUTO,
							 distance_kernel_options,
							 PGC_USERSET,
							 0,
							 check_distance_kernel,
							 assign_distance_kernel,
							 NULL);
}

/*
 * distance_kernels(): one row per kernel set compiled into this build,
 * with whether the CPU supports it and whether it is in use.
 */
Datum
retrieval_distance_kernels(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int kind = 0; kind < DISTANCE_KERNEL_COUNT; kind++)
	{
		const DistanceKernels *set = distance_kernel_sets[kind];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (set == NULL)
			continue;
		values[0] = CStringGetTextDatum(set->name);
		values[1] = BoolGetDatum(distance_kernel_supported((DistanceKernelKind) kind));
		values[2] = BoolGetDatum(set == distance_kernels);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
