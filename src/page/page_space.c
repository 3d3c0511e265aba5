/*-------------------------------------------------------------------------
 *
 * page_space.c
 *	  Pending and free runs of unlinked index pages (the rule is in
 *	  page_space.h), shared by BM25 and the n-gram part.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/snapmgr.h"

#include "index_page.h"
#include "page_space.h"

/* Add a run to the sorted free list, coalescing with its neighbours. */
static void
free_add(RetrievalSpace *space, BlockNumber start, BlockNumber npages)
{
	int			i = 0;
	int			n = (int) *space->nfree;
	RetrievalFreeRun *f = space->free;

	while (i < n && f[i].start < start)
		i++;
	/* joins the previous run */
	if (i > 0 && f[i - 1].start + f[i - 1].npages == start)
	{
		f[i - 1].npages += npages;
		if (i < n && f[i - 1].start + f[i - 1].npages == f[i].start)
		{
			f[i - 1].npages += f[i].npages;
			memmove(&f[i], &f[i + 1], sizeof(RetrievalFreeRun) * (n - i - 1));
			(*space->nfree)--;
		}
		return;
	}
	/* joins the next run */
	if (i < n && start + npages == f[i].start)
	{
		f[i].start = start;
		f[i].npages += npages;
		return;
	}
	if (n == (int) space->max_free)
	{
		/* full: keep the larger runs, drop the smallest (leaked) */
		int			smallest = 0;

		for (int j = 1; j < n; j++)
			if (f[j].npages < f[smallest].npages)
				smallest = j;
		if (f[smallest].npages >= npages)
		{
			*space->lost_pages += npages;
			return;
		}
		*space->lost_pages += f[smallest].npages;
		memmove(&f[smallest], &f[smallest + 1], sizeof(RetrievalFreeRun) * (n - smallest - 1));
		n--;
		(*space->nfree)--;
		if (smallest < i)
			i--;
	}
	memmove(&f[i + 1], &f[i], sizeof(RetrievalFreeRun) * (n - i));
	f[i].start = start;
	f[i].npages = npages;
	(*space->nfree)++;
}

/*
 * Unlink a run: reusable once every backend's xmin is past the next
 * transaction id of now.  space is in a metapage copy being changed for a
 * WAL record.
 */
void
retrieval_space_release(RetrievalSpace *space, BlockNumber start, BlockNumber npages)
{
	FullTransactionId safe = ReadNextFullTransactionId();
	RetrievalPendingRun *last;

	if (npages == 0)
		return;
	last = *space->npending > 0 ? &space->pending[*space->npending - 1] : NULL;
	if (last && FullTransactionIdEquals(last->safe, safe) && last->start + last->npages == start)
	{
		last->npages += npages;
		return;
	}
	if (*space->npending == space->max_pending)
		(void) retrieval_space_recycle(space);
	if (*space->npending == space->max_pending)
	{
		*space->lost_pages += npages;
		return;
	}
	last = &space->pending[(*space->npending)++];
	last->start = start;
	last->npages = npages;
	last->safe = safe;
}

/* Release sorted, distinct blocks (a chain's pages), coalescing neighbours. */
void
retrieval_space_release_blocks(RetrievalSpace *space, const BlockNumber *blocks, int nblocks)
{
	int			i = 0;

	while (i < nblocks)
	{
		int			j = i + 1;

		while (j < nblocks && blocks[j] == blocks[j - 1] + 1)
			j++;
		retrieval_space_release(space, blocks[i], (BlockNumber) (j - i));
		i = j;
	}
}

/* Pending runs no scan can read any more become free; true if any did. */
bool
retrieval_space_recycle(RetrievalSpace *space)
{
	uint32		kept = 0;
	bool		changed = false;

	for (uint32 i = 0; i < *space->npending; i++)
	{
		RetrievalPendingRun *p = &space->pending[i];

		if (GlobalVisCheckRemovableFullXid(NULL, p->safe))
		{
			free_add(space, p->start, p->npages);
			changed = true;
		}
		else
			space->pending[kept++] = *p;
	}
	*space->npending = kept;
	return changed;
}

/*
 * Take npages contiguous free pages (best fit: the smallest run that is
 * large enough, so large runs stay for large segments); InvalidBlockNumber
 * if no run fits.
 */
BlockNumber
retrieval_space_take(RetrievalSpace *space, BlockNumber npages)
{
	int			best = -1;
	BlockNumber start;

	if (npages == 0)
		return InvalidBlockNumber;
	for (uint32 i = 0; i < *space->nfree; i++)
		if (space->free[i].npages >= npages &&
			(best < 0 || space->free[i].npages < space->free[best].npages))
			best = (int) i;
	if (best < 0)
		return InvalidBlockNumber;
	start = space->free[best].start;
	space->free[best].start += npages;
	space->free[best].npages -= npages;
	if (space->free[best].npages == 0)
	{
		memmove(&space->free[best], &space->free[best + 1],
				sizeof(RetrievalFreeRun) * (*space->nfree - best - 1));
		(*space->nfree)--;
	}
	return start;
}

static int
block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* The pages of the chain starting at head, sorted. */
BlockNumber *
retrieval_chain_blocks(Relation index, BlockNumber head, int *nblocks)
{
	int			cap = 64;
	int			n = 0;
	BlockNumber *blocks = palloc(sizeof(BlockNumber) * cap);
	BlockNumber blkno = head;
	BlockNumber nrel = RelationGetNumberOfBlocks(index);

	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;

		CHECK_FOR_INTERRUPTS();
		if (n == cap)
		{
			cap *= 2;
			blocks = repalloc_huge(blocks, sizeof(BlockNumber) * cap);
		}
		blocks[n++] = blkno;
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		blkno = RetrievalPageGetOpaque(BufferGetPage(buf))->next;
		UnlockReleaseBuffer(buf);
		if ((BlockNumber) n > nrel)
			ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED), errmsg("index \"%s\" is corrupted: a cycle in a page chain", RelationGetRelationName(index))));
	}
	qsort(blocks, n, sizeof(BlockNumber), block_cmp);
	*nblocks = n;
	return blocks;
}

uint64
retrieval_space_free_pages(const RetrievalSpace *space)
{
	uint64		n = 0;

	for (uint32 i = 0; i < *space->nfree; i++)
		n += space->free[i].npages;
	return n;
}
