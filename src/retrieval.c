/*-------------------------------------------------------------------------
 *
 * retrieval.c
 *	  Module entry point of the retrieval extension.
 *
 * Only process-wide initialisation lives here: each subsystem registers
 * its own settings through one init call, in dependency order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "am/retrieval_am.h"
#include "bm25/bm25.h"
#include "fusion/hybrid.h"
#include "hnsw/hnsw.h"
#include "ngram/ngram.h"
#include "simd/distance_settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	distance_settings_init();
	retrieval_options_init();
	hnsw_settings_init();
	bm25_settings_init();
	hybrid_settings_init();
	ngram_settings_init();
	MarkGUCPrefixReserved("retrieval");
}
