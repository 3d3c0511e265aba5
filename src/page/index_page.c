/*-------------------------------------------------------------------------
 *
 * index_page.c
 *	  Page initialisation, relation extension, metapage checks and bulk WAL
 *	  logging, shared by every index kind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "index_page.h"

void
retrieval_page_init(Page page, uint16 page_type)
{
	RetrievalPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(RetrievalPageOpaqueData));
	opaque = RetrievalPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->page_type = page_type;
	opaque->page_id = RETRIEVAL_PAGE_ID;
}

/*
 * Add a new page at the end of the given fork and return it exclusively
 * locked.  The caller initialises it (through GenericXLog when the change
 * must be WAL-logged).  Extension is serialised by the relation extension
 * lock, as in every core index AM before PostgreSQL 16.
 */
Buffer
retrieval_new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf;
	/*
	 * A relation created in this transaction needs no lock, unless parallel
	 * workers of a build extend it too (they do not see it as local).
	 */
	bool		need_lock = !RELATION_IS_LOCAL(index) || IsInParallelMode();

	if (need_lock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (need_lock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * Add npages contiguous pages at the end of the main fork (not locked,
 * not initialised: the caller writes them whole, RBM_ZERO_AND_LOCK) and
 * return the first.  The extension lock is held for the whole run so that
 * no other backend's new page lands inside it.  For kinds that store
 * immutable runs (BM25 and n-gram segments).
 */
BlockNumber
retrieval_extend_run(Relation index, BlockNumber npages)
{
	bool		need_lock = !RELATION_IS_LOCAL(index) || IsInParallelMode();
	BlockNumber start = InvalidBlockNumber;

	if (need_lock)
		LockRelationForExtension(index, ExclusiveLock);
	for (BlockNumber i = 0; i < npages; i++)
	{
		Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);

		if (i == 0)
			start = BufferGetBlockNumber(buf);
		else if (BufferGetBlockNumber(buf) != start + i)
			elog(ERROR, "index \"%s\": a run of new pages is not contiguous",
				 RelationGetRelationName(index));
		ReleaseBuffer(buf);
	}
	if (need_lock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return start;
}

void *
retrieval_meta_contents(Page page)
{
	return (void *) PageGetContents(page);
}

/*
 * Refuse to interpret a page that is not our metapage of the expected kind
 * and version: a clear error beats reading garbage as graph links.
 */
void
retrieval_meta_check(Relation index, Page page, uint32 kind, uint32 version)
{
	RetrievalMetaHeader *header = (RetrievalMetaHeader *) PageGetContents(page);

	if (PageIsNew(page) || header->magic != RETRIEVAL_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a retrieval index",
						RelationGetRelationName(index))));
	if (header->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has kind %u, expected %u",
						RelationGetRelationName(index), header->kind, kind)));
	if (header->version != version)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" has on-disk format version %u, this build reads version %u",
						RelationGetRelationName(index), header->version, version),
				 errhint("REINDEX the index.")));
}

/*
 * A bulk build writes its pages through the buffer manager without WAL
 * (much faster than one record per change); once it is complete, log every
 * page as a full-page image so that crash recovery and standbys see the
 * finished index.
 */
void
retrieval_log_build(Relation index, ForkNumber fork)
{
	retrieval_log_build_range(index, fork, 0, RelationGetNumberOfBlocksInFork(index, fork));
}

/*
 * The same for blocks [start, end) only: a part built after the rest of
 * its index was logged (the n-gram part of a text index).
 */
void
retrieval_log_build_range(Relation index, ForkNumber fork, BlockNumber start, BlockNumber end)
{
	if ((RelationNeedsWAL(index) || fork == INIT_FORKNUM) && start < end)
		log_newpage_range(index, fork, start, end, true);
}

void
retrieval_write_begin(RetrievalPageWrite *write, Relation index, bool building)
{
	write->state = building ? NULL : GenericXLogStart(index);
	write->nbuffers = 0;
}

/*
 * Register a locked buffer for modification and return the page image to
 * change.  is_new: the page is (re)initialised whole, so log a full image.
 */
Page
retrieval_write_page(RetrievalPageWrite *write, Buffer buffer, bool is_new)
{
	Assert(write->nbuffers < MAX_GENERIC_XLOG_PAGES);
	write->buffers[write->nbuffers++] = buffer;
	if (write->state)
		return GenericXLogRegisterBuffer(write->state, buffer,
										 is_new ? GENERIC_XLOG_FULL_IMAGE : 0);
	return BufferGetPage(buffer);
}

void
retrieval_write_finish(RetrievalPageWrite *write)
{
	if (write->state)
		GenericXLogFinish(write->state);
	else
	{
		for (int i = 0; i < write->nbuffers; i++)
			MarkBufferDirty(write->buffers[i]);
	}
	write->state = NULL;
	write->nbuffers = 0;
}

/*
 * Is page an initialised page of ours of this type?  Index kinds that share
 * a relation (the hybrid text index) tell their pages apart with it.
 */
bool
retrieval_page_has_type(Page page, uint16 page_type)
{
	RetrievalPageOpaque opaque;

	if (PageIsNew(page) || PageGetSpecialSize(page) != MAXALIGN(sizeof(RetrievalPageOpaqueData)))
		return false;
	opaque = RetrievalPageGetOpaque(page);
	return opaque->page_id == RETRIEVAL_PAGE_ID && opaque->page_type == page_type;
}
