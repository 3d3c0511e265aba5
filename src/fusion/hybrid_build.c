/*-------------------------------------------------------------------------
 *
 * hybrid_build.c
 *	  ambuild / ambuildempty of a text index with a dense part.
 *
 * Two passes over the table, each with the machinery of its part:
 *	1. the HNSW build (src/hnsw/hnsw_build.c, parallel workers included)
 *	   with a row source that embeds the text in batches; the graph gets
 *	   block 1 for its metapage (block 0 is the BM25 metapage);
 *	2. the BM25 build (src/bm25/bm25_build.c), keyed by each row's element:
 *	   a map heap TID -> element TID, read back from the element tuples just
 *	   written, turns every heap TID of the second scan into its key.
 * A row the first scan saw and the second did not (CREATE INDEX
 * CONCURRENTLY takes a new snapshot per scan) only lacks its BM25 document,
 * which the fused scan computes from the heap anyway; a row only the
 * second scan saw has no element and is skipped: the validation phase of
 * CREATE INDEX CONCURRENTLY inserts it, as it is not in the index.
 * Everything is WAL-logged once at the end (log_newpage_range).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "../embed/model_registry.h"
#include "../hnsw/hnsw_build.h"
#include "hybrid.h"

typedef struct KeyMapEntry
{
	ItemPointerData heaptid;
	ItemPointerData elemtid;
} KeyMapEntry;

static void
map_element(void *arg, HnswNode node, HnswElementTuple etup)
{
	HTAB	   *map = (HTAB *) arg;
	KeyMapEntry *e;
	bool		found;

	if (etup->deleted || !ItemPointerIsValid(&etup->heaptid))
		return;
	e = hash_search(map, &etup->heaptid, HASH_ENTER, &found);
	hnsw_node_to_tid(node, &e->elemtid);
}

static bool
key_of_row(void *arg, ItemPointer heaptid, ItemPointer key)
{
	KeyMapEntry *e = hash_search((HTAB *) arg, heaptid, HASH_FIND, NULL);

	if (e == NULL)
		return false;
	*key = e->elemtid;
	return true;
}

IndexBuildResult *
hybrid_build(Relation heap, Relation index, IndexInfo *indexInfo, const char *model)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	Bm25MetaData meta;
	EmbedModelStamp stamp;
	HASHCTL		ctl;
	HTAB	   *map;
	MemoryContext map_context;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	bm25_build_init_meta(index, MAIN_FORKNUM, &meta);
	embed_stamp_for_model(model, &stamp);
	hnsw_build_graph(heap, index, indexInfo, &stamp, &result->heap_tuples,
					 &result->index_tuples);

	map_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid key map",
										ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(KeyMapEntry);
	ctl.hcxt = map_context;
	map = hash_create("retrieval hybrid key map", Max(result->index_tuples, 256), &ctl,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hnsw_for_each_element(index, NULL, map_element, map);

	meta.dense_meta = HNSW_HYBRID_META_BLKNO;
	meta.dense_flags = retrieval_option_embed_lowercase(index) ? HYBRID_DENSE_LOWERCASE : 0;
	(void) bm25_build_segments(heap, index, indexInfo, &meta, key_of_row, map);
	MemoryContextDelete(map_context);
	bm25_build_finish(index, &meta);
	retrieval_log_build(index, MAIN_FORKNUM);
	return result;
}

/* The init fork of an unlogged table's index: both parts, empty. */
void
hybrid_buildempty(Relation index, const char *model)
{
	Bm25MetaData meta;
	EmbedModelStamp stamp;

	bm25_build_init_meta(index, INIT_FORKNUM, &meta);
	embed_stamp_for_model(model, &stamp);
	hnsw_buildempty_graph(index, embed_model_get(model)->dims, &stamp);
	meta.dense_meta = HNSW_HYBRID_META_BLKNO;
	meta.dense_flags = retrieval_option_embed_lowercase(index) ? HYBRID_DENSE_LOWERCASE : 0;
	bm25_buildempty_pages(index, &meta);
	retrieval_log_build(index, INIT_FORKNUM);
}
