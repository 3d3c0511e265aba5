/*-------------------------------------------------------------------------
 *
 * bm25_settings.c
 *	  BM25's settings: retrieval.bm25_merge_pause, a developer-only hook
 *	  that makes a merge wait after writing the merged segment and before
 *	  publishing it, so that tests can crash the server mid-merge.
 *
 * Like an injection point, but available in every build: a superuser-only
 * developer option (not in postgresql.conf.sample, not in SHOW ALL's
 * usual groups), default 0 = no wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "bm25.h"

static int	bm25_merge_pause_ms = 0;

void
bm25_settings_init(void)
{
	DefineCustomIntVariable("retrieval.bm25_merge_pause",
							"Developer option: a BM25 merge waits this long before publishing "
							"the merged segment (for crash tests).",
							"0 (the default) does not wait.",
							&bm25_merge_pause_ms,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/*
 * Wait bm25_merge_pause milliseconds (interruptible), announcing it in
 * the server log so that a test knows when to strike.
 */
void
bm25_merge_pause(Relation index)
{
	TimestampTz until;

	if (bm25_merge_pause_ms <= 0)
		return;
	ereport(LOG,
			(errmsg("BM25 merge of index \"%s\" paused for %d ms before publishing",
					RelationGetRelationName(index), bm25_merge_pause_ms)));
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), bm25_merge_pause_ms);
	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		CHECK_FOR_INTERRUPTS();
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000L), WAIT_EVENT_PG_SLEEP);
		ResetLatch(MyLatch);
	}
}
