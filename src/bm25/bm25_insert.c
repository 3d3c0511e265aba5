/*-------------------------------------------------------------------------
 *
 * bm25_insert.c
 *	  aminsert for BM25: analyze the row, append it to the write buffer,
 *	  flush the buffer into a new segment when it is full.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bm25.h"

/*
 * Analyze one document and append it to the write buffer under key (its
 * heap TID, or in a hybrid index its element's TID); flush the buffer into
 * a segment when it is full.
 */
void
bm25_insert_document(Relation index, text *doc, ItemPointer key)
{
	MemoryContext cxt;
	MemoryContext old;
	Bm25MetaData meta;
	Bm25Bag    *bag;
	uint32		pages = 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	bm25_meta_read(index, &meta);
	bag = bm25_analyze(&meta, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc));
	if (bag->length > 0)
		pages = bm25_buffer_append(index, key, bag, false);
	if (pages >= (uint32) retrieval_option_buffer_pages(index))
		bm25_flush(index, false);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

bool
bm25_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
			bool indexUnchanged,
#endif
			IndexInfo *indexInfo)
{
	(void) heap;
	(void) checkUnique;
#if PG_VERSION_NUM >= 140000
	(void) indexUnchanged;
#endif
	(void) indexInfo;
	if (isnull[0])
		return false;
	bm25_insert_document(index, DatumGetTextPP(values[0]), heap_tid);
	return false;
}
