/*-------------------------------------------------------------------------
 *
 * hybrid_vacuum.c
 *	  ambulkdelete / amvacuumcleanup of a text index with a dense part.
 *
 * The graph is vacuumed first, by src/hnsw/hnsw_vacuum.c against the heap
 * TIDs; it reports the set of dead elements (dead now, or deleted by an
 * earlier VACUUM).  BM25 documents are keyed by element, so the BM25 pass
 * (src/bm25/bm25_vacuum.c) then removes the documents whose element is in
 * that set.  A crash between the two passes leaves documents of deleted
 * elements, which scans skip (the element says deleted) and the next
 * VACUUM removes (deleted elements stay in the set).  The statistics
 * reported are the graph's (one element per indexed row).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "../hnsw/hnsw.h"
#include "hybrid.h"

static void
remember_dead(void *arg, ItemPointer elemtid)
{
	bool		found;

	hash_search((HTAB *) arg, elemtid, HASH_ENTER, &found);
}

static bool
element_is_dead(ItemPointer key, void *state)
{
	return hash_search((HTAB *) state, key, HASH_FIND, NULL) != NULL;
}

IndexBulkDeleteResult *
hybrid_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid vacuum",
												  ALLOCSET_DEFAULT_SIZES);
	HASHCTL		ctl;
	HTAB	   *dead;
	IndexBulkDeleteResult lexical;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = context;
	dead = hash_create("retrieval hybrid dead elements", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	stats = hnsw_bulkdelete_report(info, stats, callback, callback_state, remember_dead, dead);
	memset(&lexical, 0, sizeof(lexical));
	(void) bm25_bulkdelete(info, &lexical, element_is_dead, dead);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	MemoryContextDelete(context);
	return stats;
}

IndexBulkDeleteResult *
hybrid_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	IndexBulkDeleteResult lexical;

	if (info->analyze_only)
		return stats;
	stats = hnsw_vacuumcleanup(info, stats);
	memset(&lexical, 0, sizeof(lexical));
	(void) bm25_vacuumcleanup(info, &lexical);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->pages_free = lexical.pages_free;
	return stats;
}
