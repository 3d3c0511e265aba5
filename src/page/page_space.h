/*-------------------------------------------------------------------------
 *
 * page_space.h
 *	  Reuse of index pages that a kind unlinks (segments replaced by a
 *	  merge, write-buffer chains that were folded), shared by every kind
 *	  that keeps immutable runs of pages: BM25 and the n-gram part.
 *
 * The rule.  A scan copies its kind's metapage once and then reads the
 * runs and chains it lists, possibly long after a writer has unlinked
 * them.  Such a scan runs under a snapshot taken before the unlinking, so
 * its backend's xmin is at most the next transaction id of that moment.
 * So unlinked pages are stamped with ReadNextFullTransactionId() in the
 * same WAL record that unlinks them (the "pending" runs) and become
 * reusable (the "free" runs) only when that id is older than every running
 * backend's xmin (GlobalVisCheckRemovableFullXid, the test nbtree uses to
 * recycle deleted pages).  Until then they are not touched.
 *
 * Both lists live in the kind's metapage and change only in WAL records of
 * that metapage, so they are crash-safe and agree with what it lists.  A
 * RetrievalSpace is a view of them inside a copy of the metapage being
 * changed; the caller writes the copy back.  The free space map is not
 * used: it cannot hand out contiguous runs.
 *
 * XXX: on a hot standby a query is not protected (no recovery conflict is
 * raised when the primary reuses a page, as nbtree's XLOG_BTREE_REUSE_PAGE
 * does); run standbys with hot_standby_feedback = on.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_PAGE_SPACE_H
#define RETRIEVAL_PAGE_SPACE_H

#include "postgres.h"

#include "access/transam.h"
#include "storage/block.h"
#include "utils/relcache.h"

/* Pages unlinked by a writer, not yet reusable. */
typedef struct RetrievalPendingRun
{
	BlockNumber start;
	BlockNumber npages;
	FullTransactionId safe;		/* next xid when the pages were unlinked */
} RetrievalPendingRun;

/* Reusable pages: runs sorted by start, adjacent runs coalesced. */
typedef struct RetrievalFreeRun
{
	BlockNumber start;
	BlockNumber npages;
} RetrievalFreeRun;

/* The lists of one metapage copy. */
typedef struct RetrievalSpace
{
	uint32	   *npending;
	uint32	   *nfree;
	uint64	   *lost_pages;		/* dropped because a list was full */
	RetrievalPendingRun *pending;
	RetrievalFreeRun *free;
	uint32		max_pending;
	uint32		max_free;
} RetrievalSpace;

/*
 * The view of a metapage copy whose lists are the fields npending, nfree,
 * lost_pages, pending[max_pending] and free[max_free].
 */
#define RETRIEVAL_SPACE_OF(meta, max_pending_, max_free_) \
	((RetrievalSpace) {&(meta)->npending, &(meta)->nfree, &(meta)->lost_pages, \
					   (meta)->pending, (meta)->free, (max_pending_), (max_free_)})

extern void retrieval_space_release(RetrievalSpace *space, BlockNumber start, BlockNumber npages);
extern void retrieval_space_release_blocks(RetrievalSpace *space, const BlockNumber *blocks,
										   int nblocks);
extern bool retrieval_space_recycle(RetrievalSpace *space);
extern BlockNumber retrieval_space_take(RetrievalSpace *space, BlockNumber npages);
extern uint64 retrieval_space_free_pages(const RetrievalSpace *space);
/* the pages of a chain (next links) from head, sorted */
extern BlockNumber *retrieval_chain_blocks(Relation index, BlockNumber head, int *nblocks);

#endif							/* RETRIEVAL_PAGE_SPACE_H */
