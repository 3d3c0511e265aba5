/*-------------------------------------------------------------------------
 *
 * hnsw_settings.c
 *	  The HNSW index kind's routine table and its setting,
 *	  retrieval.ef_search.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "hnsw.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;

const IndexKindRoutine hnsw_routine = {
	.name = "hnsw",
	.build = hnsw_build,
	.buildempty = hnsw_buildempty,
	.insert = hnsw_insert,
	.bulkdelete = hnsw_bulkdelete,
	.vacuumcleanup = hnsw_vacuumcleanup,
	.costestimate = hnsw_costestimate,
	.beginscan = hnsw_beginscan,
	.rescan = hnsw_rescan,
	.gettuple = hnsw_gettuple,
	.endscan = hnsw_endscan,
};

void
hnsw_settings_init(void)
{
	DefineCustomIntVariable("retrieval.ef_search",
							"Size of the candidate list of HNSW index scans.",
							"Larger values find more of the true nearest neighbours, more slowly. "
							"Scans return more rows than this when asked (filters, no LIMIT).",
							&hnsw_ef_search,
							HNSW_DEFAULT_EF_SEARCH, 1, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
}
