/*-------------------------------------------------------------------------
 *
 * ngram_build.c
 *	  Building the n-gram part: the symbols of an indexed value, the
 *	  segment writer shared by CREATE INDEX, folds, merges and VACUUM, and
 *	  the build itself (one heap scan, segments bounded by
 *	  maintenance_work_mem, WAL-logged at the end with log_newpage_range).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "ngram.h"

/* ---- the symbols of a value ---- */

/*
 * Byte mode: the UTF-8 bytes of the text.  Token mode: the elements of a
 * one-dimensional int4[], each in [0, NGRAM_MAX_TOKEN].  doc->symbols is
 * palloc'd.  Returns false for a value that is not indexed (never: kept
 * as a hook for NULLs, which callers filter).
 */
bool
ngram_value_symbols(uint32 mode, Datum value, NgramDoc *doc)
{
	if (mode == NGRAM_MODE_BYTES)
	{
		text	   *t = DatumGetTextPP(value);
		const char *src = VARDATA_ANY(t);
		int			len = VARSIZE_ANY_EXHDR(t);
		const unsigned char *utf8;

		utf8 = (const unsigned char *) pg_do_encoding_conversion((unsigned char *) src, len,
																 GetDatabaseEncoding(), PG_UTF8);
		if ((const char *) utf8 != src)
			len = strlen((const char *) utf8);
		doc->len = (uint32) len;
		doc->symbols = palloc_extended(sizeof(uint32) * Max(len, 1), MCXT_ALLOC_HUGE);
		for (int i = 0; i < len; i++)
			doc->symbols[i] = utf8[i];
	}
	else
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		int			n;
		int32	   *ids;

		if (ARR_ELEMTYPE(arr) != INT4OID)
			elog(ERROR, "n-gram index on a non-int4[] value");
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("token arrays of an n-gram index must be one-dimensional")));
		if (ARR_HASNULL(arr) && array_contains_nulls(arr))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("token arrays of an n-gram index cannot contain nulls")));
		n = ARR_NDIM(arr) == 0 ? 0 : ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
		ids = (int32 *) ARR_DATA_PTR(arr);
		doc->len = (uint32) n;
		doc->symbols = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
		for (int i = 0; i < n; i++)
		{
			if (ids[i] < 0 || ids[i] > NGRAM_MAX_TOKEN)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("token id %d is out of range for an n-gram index", ids[i]),
						 errdetail("Token ids must be between 0 and %d.", NGRAM_MAX_TOKEN)));
			doc->symbols[i] = (uint32) ids[i];
		}
	}
	return true;
}

/* ---- the segment writer ---- */

struct NgramSegmentWriter
{
	Relation	index;
	NgramMetaData *meta;		/* free runs to reuse; NULL in a build */
	uint32		mode;
	Size		budget;
	bool		building;
	MemoryContext context;		/* the layout lives here */
	FmLayout	layout;
	bool		open;
	NgramSegmentRef *refs;
	int			nrefs;
	int			cap;
};

NgramSegmentWriter *
ngram_writer_begin(Relation index, NgramMetaData *meta, uint32 mode, Size budget, bool building)
{
	NgramSegmentWriter *w = palloc0(sizeof(NgramSegmentWriter));

	w->index = index;
	w->meta = meta;
	w->mode = mode;
	w->budget = Max(budget, (Size) 1024 * 1024);
	w->building = building;
	w->context = AllocSetContextCreate(CurrentMemoryContext, "n-gram segment writer",
									   ALLOCSET_DEFAULT_SIZES);
	w->cap = 8;
	w->refs = palloc(sizeof(NgramSegmentRef) * w->cap);
	return w;
}

static void
writer_flush(NgramSegmentWriter *w)
{
	MemoryContext old;
	uint8	   *image;
	uint64		nlines;

	if (!w->open)
		return;
	old = MemoryContextSwitchTo(w->context);
	/*
	 * The alphabet is what the segment holds: UTF-8 never has bytes above
	 * 0xF4, so byte mode needs 8 wavelet levels, not 9.
	 */
	if (fm_build(&w->layout, NGRAM_SAMPLE_RATE, FM_FIRST_SYMBOL, &image, &nlines) != 0)
		elog(ERROR, "could not build an n-gram segment");
	MemoryContextSwitchTo(old);
	if (w->nrefs == w->cap)
	{
		w->cap *= 2;
		w->refs = repalloc(w->refs, sizeof(NgramSegmentRef) * w->cap);
	}
	ngram_segment_write(w->index, w->meta, image, nlines, w->building, &w->refs[w->nrefs++]);
	MemoryContextReset(w->context);
	w->open = false;
}

void
ngram_writer_add(NgramSegmentWriter *w, const NgramDoc *doc)
{
	MemoryContext old;
	bool		added;

	if (w->open &&
		fm_build_memory(w->layout.len + doc->len, w->layout.ndocs + 1) > w->budget)
		writer_flush(w);
	old = MemoryContextSwitchTo(w->context);
	if (!w->open)
	{
		fm_layout_init(&w->layout, ngram_allocator());
		w->open = true;
	}
	added = fm_layout_add(&w->layout, doc->symbols, doc->len, doc->key);
	MemoryContextSwitchTo(old);
	if (!added)
	{
		/* the segment is full: start another */
		writer_flush(w);
		old = MemoryContextSwitchTo(w->context);
		fm_layout_init(&w->layout, ngram_allocator());
		w->open = true;
		added = fm_layout_add(&w->layout, doc->symbols, doc->len, doc->key);
		MemoryContextSwitchTo(old);
		if (!added)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("document too long for an n-gram index")));
	}
}

NgramSegmentRef *
ngram_writer_finish(NgramSegmentWriter *w, int *nsegs)
{
	writer_flush(w);
	MemoryContextDelete(w->context);
	*nsegs = w->nrefs;
	return w->refs;
}

/* ---- CREATE INDEX ---- */

typedef struct BuildState
{
	uint32		mode;
	NgramSegmentWriter *writer;
	double		nrows;
	int64		nsymbols;
	MemoryContext tmp;
} BuildState;

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull, bool tupleIsAlive,
			   void *state)
{
	BuildState *bs = state;
	MemoryContext old;
	NgramDoc	doc;

	(void) index;
	(void) tupleIsAlive;
	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmp);
	ngram_value_symbols(bs->mode, values[0], &doc);
	doc.key = ngram_tid_key(tid);
	MemoryContextSwitchTo(old);
	ngram_writer_add(bs->writer, &doc);
	bs->nrows += 1;
	bs->nsymbols += doc.len;
	MemoryContextReset(bs->tmp);
}

/*
 * Build the part: its metapage is the next new page (block 0 of an
 * ngram_ops index).  Returns the metapage's block; *nrows gets the rows
 * indexed.  Every page from the metapage on is WAL-logged at the end.
 */
BlockNumber
ngram_part_build(Relation heap, Relation index, IndexInfo *indexInfo, uint32 mode,
				 BlockNumber expected_meta, double *nrows)
{
	BuildState	bs;
	Buffer		metabuf;
	BlockNumber metablk;
	NgramMetaData meta;
	NgramSegmentRef *refs;
	int			nrefs;
	RetrievalPageWrite write;
	Page		page;

	metabuf = retrieval_new_buffer(index, MAIN_FORKNUM);
	metablk = BufferGetBlockNumber(metabuf);
	if (BlockNumberIsValid(expected_meta) && metablk != expected_meta)
		elog(ERROR, "n-gram metapage at block %u, expected %u", metablk, expected_meta);
	retrieval_write_begin(&write, index, true);
	page = retrieval_write_page(&write, metabuf, true);
	ngram_meta_init_page(page, mode);
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(metabuf);

	memset(&bs, 0, sizeof(bs));
	bs.mode = mode;
	bs.writer = ngram_writer_begin(index, NULL, mode, (Size) maintenance_work_mem * 1024, true);
	bs.tmp = AllocSetContextCreate(CurrentMemoryContext, "n-gram build row",
								   ALLOCSET_DEFAULT_SIZES);
	table_index_build_scan(heap, index, indexInfo, true, true, build_callback, &bs, NULL);
	refs = ngram_writer_finish(bs.writer, &nrefs);
	MemoryContextDelete(bs.tmp);
	if (nrefs > NGRAM_MAX_SEGMENTS / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("n-gram index build needs %d segments, at most %d are allowed",
						nrefs, NGRAM_MAX_SEGMENTS / 2),
				 errhint("Raise maintenance_work_mem.")));

	/* the metapage: the segments and an empty write buffer */
	metabuf = ReadBuffer(index, metablk);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(metabuf);
	memcpy(&meta, PageGetContents(page), sizeof(meta));
	meta.buffer_head = meta.buffer_tail = ngram_buffer_new_chain(index, NULL, true);
	meta.nsegments = nrefs;
	memcpy(meta.segments, refs, sizeof(NgramSegmentRef) * nrefs);
	meta.ndocs = (int64) bs.nrows;
	meta.nsymbols = bs.nsymbols;
	memcpy(PageGetContents(page), &meta, sizeof(meta));
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	retrieval_log_build_range(index, MAIN_FORKNUM, metablk,
							  RelationGetNumberOfBlocksInFork(index, MAIN_FORKNUM));
	*nrows = bs.nrows;
	return metablk;
}

/* The init fork of an unlogged index: an empty part. */
BlockNumber
ngram_part_buildempty(Relation index, uint32 mode)
{
	Buffer		metabuf = retrieval_new_buffer(index, INIT_FORKNUM);
	Buffer		chain = retrieval_new_buffer(index, INIT_FORKNUM);
	BlockNumber metablk = BufferGetBlockNumber(metabuf);
	Page		page = BufferGetPage(metabuf);
	NgramMetaData *meta;

	ngram_meta_init_page(page, mode);
	meta = (NgramMetaData *) PageGetContents(page);
	meta->buffer_head = meta->buffer_tail = BufferGetBlockNumber(chain);
	retrieval_page_init(BufferGetPage(chain), RETRIEVAL_PAGE_NGRAM_BUFFER);
	((PageHeader) BufferGetPage(chain))->pd_lower = MAXALIGN(SizeOfPageHeaderData);
	MarkBufferDirty(metabuf);
	MarkBufferDirty(chain);
	UnlockReleaseBuffer(chain);
	UnlockReleaseBuffer(metabuf);
	retrieval_log_build_range(index, INIT_FORKNUM, metablk,
							  RelationGetNumberOfBlocksInFork(index, INIT_FORKNUM));
	return metablk;
}
