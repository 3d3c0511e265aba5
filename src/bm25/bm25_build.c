/*-------------------------------------------------------------------------
 *
 * bm25_build.c
 *	  ambuild / ambuildempty for BM25.
 *
 * CREATE INDEX analyzes every row and accumulates postings in memory
 * (bm25_segment_write.c); when they exceed maintenance_work_mem a segment
 * is written and a new one started, so the build never fails for lack of
 * memory (a build in several segments gives the same scores, its scans
 * are a little slower).  Then the metapage gets the segment list and the
 * corpus statistics, an empty write buffer chain is added, and every page
 * is WAL-logged at once with log_newpage_range.
 *
 * The analyzer names and k1/b are copied into the metapage: every later
 * insert, scan and per-row score uses those, so ALTER INDEX ... SET cannot
 * make an index disagree with itself (it takes effect at REINDEX).
 *
 * Rows whose text has no terms (empty, only punctuation or stopwords) are
 * not indexed and do not count in N or avgdl, as in Lucene where a
 * document without the field does not count in its statistics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bm25.h"

typedef struct Bm25BuildState
{
	Relation	index;
	Bm25MetaData *meta;			/* in memory until the end */
	Bm25KeyFunction key_of;		/* hybrid: heap TID -> element TID */
	void	   *key_arg;
	Bm25Builder *builder;
	Size		memory_limit;
	double		indtuples;
	MemoryContext tuple_context;
} Bm25BuildState;

static void
flush_segment(Bm25BuildState *bs)
{
	Bm25SegmentRef ref;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BM25_PHASE_WRITE);
	if (bm25_builder_write(bs->builder, bs->index, true, &ref))
	{
		if (bs->meta->nsegments >= BM25_MAX_SEGMENTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("BM25 index \"%s\" would need more than %d segments",
							RelationGetRelationName(bs->index), BM25_MAX_SEGMENTS),
					 errhint("Increase maintenance_work_mem.")));
		bs->meta->segments[bs->meta->nsegments++] = ref;
	}
	bm25_builder_destroy(bs->builder);
	bs->builder = bm25_builder_create(CurrentMemoryContext);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BM25_PHASE_ANALYZE);
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	Bm25BuildState *bs = (Bm25BuildState *) state;
	MemoryContext old;
	text	   *t;
	Bm25Bag    *bag;
	ItemPointerData key = *tid;

	(void) index;
	(void) tupleIsAlive;
	if (isnull[0])
		return;
	/* a hybrid index keys documents by their element in the dense part */
	if (bs->key_of && !bs->key_of(bs->key_arg, tid, &key))
		return;
	old = MemoryContextSwitchTo(bs->tuple_context);
	t = DatumGetTextPP(values[0]);
	bag = bm25_analyze(bs->meta, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (bag->length > 0)
	{
		bm25_builder_add(bs->builder, &key, bag);
		bs->meta->ndocs++;
		bs->meta->total_length += bag->length;
		bs->indtuples++;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tuple_context);
	if (bm25_builder_memory(bs->builder) > bs->memory_limit)
		flush_segment(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
}

/* Analyzer and k1/b from the reloptions, checked together. */
static void
options_for(Relation index, const char **tokenizer, const char **language, float8 *k1, float8 *b)
{
	*tokenizer = retrieval_option_tokenizer(index);
	*language = retrieval_option_language(index);
	*k1 = retrieval_option_k1(index);
	*b = retrieval_option_b(index);
	if (strlen(*tokenizer) >= BM25_NAME_LEN || strlen(*language) >= BM25_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tokenizer and language names must be shorter than %d bytes", BM25_NAME_LEN)));
	text_analyzer_check(*tokenizer, *language);
}

static void
write_meta(Relation index, ForkNumber fork, const Bm25MetaData *src)
{
	Buffer		buf = ReadBufferExtended(index, fork, RETRIEVAL_META_BLKNO, RBM_NORMAL, NULL);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	memcpy(PageGetContents(page), src, sizeof(Bm25MetaData));
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

void
bm25_build_init_meta(Relation index, ForkNumber fork, Bm25MetaData *meta)
{
	const char *tokenizer;
	const char *language;
	float8		k1;
	float8		b;
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	Assert(BufferGetBlockNumber(buf) == RETRIEVAL_META_BLKNO);
	options_for(index, &tokenizer, &language, &k1, &b);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	bm25_meta_init_page(BufferGetPage(buf), tokenizer, language, k1, b);
	memcpy(meta, PageGetContents(BufferGetPage(buf)), sizeof(Bm25MetaData));
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * Analyze every row of the build scan into segments; the metapage copy
 * gets the segments and statistics.  key_of (hybrid) maps a heap TID to
 * the document's key and may skip the row.  Returns the heap tuples seen.
 */
double
bm25_build_segments(Relation heap, Relation index, IndexInfo *indexInfo, Bm25MetaData *meta,
					Bm25KeyFunction key_of, void *arg)
{
	Bm25BuildState bs;
	double		reltuples;

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.meta = meta;
	bs.key_of = key_of;
	bs.key_arg = arg;
	bs.memory_limit = (Size) maintenance_work_mem * 1024;
	bs.builder = bm25_builder_create(CurrentMemoryContext);
	bs.tuple_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 build tuple",
											 ALLOCSET_DEFAULT_SIZES);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BM25_PHASE_ANALYZE);
	retrieval_build_progress_total(heap);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, (void *) &bs, NULL);
	flush_segment(&bs);
	bm25_builder_destroy(bs.builder);
	MemoryContextDelete(bs.tuple_context);
	return reltuples;
}

/* An empty write buffer chain, then the metapage (not WAL-logged yet). */
void
bm25_build_finish(Relation index, Bm25MetaData *meta)
{
	bm25_buffer_init_chain(index, meta, true);
	write_meta(index, MAIN_FORKNUM, meta);
}

IndexBuildResult *
bm25_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	Bm25MetaData meta;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	bm25_build_init_meta(index, MAIN_FORKNUM, &meta);
	result->heap_tuples = bm25_build_segments(heap, index, indexInfo, &meta, NULL, NULL);
	result->index_tuples = (double) meta.ndocs;
	bm25_build_finish(index, &meta);
	retrieval_log_build(index, MAIN_FORKNUM);
	return result;
}

/* The init fork of an unlogged table's index: an empty index. */
void
bm25_buildempty(Relation index)
{
	Bm25MetaData meta;

	bm25_build_init_meta(index, INIT_FORKNUM, &meta);
	bm25_buildempty_pages(index, &meta);
	retrieval_log_build(index, INIT_FORKNUM);
}

/* The init fork's buffer chain page and metapage, after its metapage. */
void
bm25_buildempty_pages(Relation index, Bm25MetaData *meta)
{
	Buffer		buf;
	Page		page;

	/* the buffer chain's first page, in the init fork */
	buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	retrieval_page_init(page, RETRIEVAL_PAGE_BM25);
	meta->buffer_head = meta->buffer_tail = BufferGetBlockNumber(buf);
	meta->buffer_pages = 1;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
	write_meta(index, INIT_FORKNUM, meta);
}
