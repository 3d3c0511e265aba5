/*-------------------------------------------------------------------------
 *
 * ngram.h
 *	  The n-gram index: FM-indexes over the indexed documents, for exact
 *	  n-gram counts, continuations (constrained decoding) and documents,
 *	  and SEAL scoring (Bevilacqua et al., "Autoregressive Search Engines:
 *	  Generating Substrings as Document Identifiers", 2022).
 *
 * Two ways to have one:
 *   - a text index WITH (ngrams = on) gets an n-gram part in byte mode: the
 *     symbols are the UTF-8 bytes of each row's text (converted to UTF-8
 *     when the database encoding is not);
 *   - an index on an int4[] column with operator class ngram_ops is an
 *     n-gram index in token mode: the symbols are the array's elements
 *     (an LLM tokenizer's ids, >= 0).
 * Either way the part is rooted at its own metapage (NgramMetaData):
 * block 0 of an ngram_ops index, the block recorded in the BM25 metapage
 * (ngram_meta) of a text index.
 *
 * Storage (LSM).  Documents live in immutable segments (fm_index.h; a
 * segment is one run of pages holding NGRAM_LINES_PER_PAGE lines each) and
 * in a write buffer (a chain of pages of raw documents) that queries scan
 * directly.  CREATE INDEX writes segments of at most what
 * maintenance_work_mem can build.  INSERT appends to the buffer; when it
 * holds NGRAM_BUFFER_SYMBOLS symbols it is folded into a new segment, and
 * segments of the same size tier are merged (NGRAM_MERGE_FANIN of them
 * become one), so every symbol is rewritten O(log n) times.  Merges
 * recover the text from the segments themselves (fm_extract_all).
 * VACUUM rewrites each segment that holds a dead row, and the buffer,
 * without those rows, so counts are exact over the live rows once VACUUM
 * has run (before that, deleted rows still count, as in BM25's
 * statistics; row-returning functions check visibility in the heap).
 *
 * Concurrency.  Writers (insert, fold, merge, VACUUM) serialise on a
 * heavyweight page lock on the part's metapage block (NgramWriteLock); no
 * other heavyweight lock is taken while it is held.  Readers take no
 * heavyweight lock: they copy the metapage under its buffer share lock and
 * read what it lists.  That is consistent because nothing a metapage lists
 * is ever modified afterwards, except that new documents are appended to
 * the current buffer chain: a fold starts a new chain rather than emptying
 * the old one, and merges and VACUUM write new segments and swap the list
 * in one WAL record of the metapage.  Segment pages are read with a pin
 * and no content lock, since they never change once listed.
 *
 * Page reuse: the runs of replaced segments and the pages of replaced
 * chains are released in the record that unlinks them and reused once no
 * snapshot can still list them (src/page/page_space.h, shared with BM25).
 * Pages a crash cut off (a segment written but never published) are
 * leaked until REINDEX; so are runs dropped when a list is full
 * (lost_pages).
 *
 * XXX not done: merges run inline in the inserting backend, under the
 * write lock; a hot-standby query is not protected against page reuse
 * (as for BM25: hot_standby_feedback = on).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_NGRAM_H
#define RETRIEVAL_NGRAM_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "../am/retrieval_am.h"
#include "../page/index_page.h"
#include "../page/page_space.h"
#include "fm_index.h"

#define NGRAM_FORMAT_VERSION	1
#define NGRAM_MODE_BYTES		1
#define NGRAM_MODE_TOKENS		2

#define NGRAM_MAX_SEGMENTS		96
#define NGRAM_MAX_PENDING		64	/* unlinked page runs not yet reusable */
#define NGRAM_MAX_FREE			64	/* reusable page runs */
#define NGRAM_BUFFER_SYMBOLS	(256 * 1024)
#define NGRAM_MERGE_FANIN		8
#define NGRAM_TIER_BASE			8	/* tier of a segment: floor(log8(symbols / buffer)) */
#define NGRAM_SAMPLE_RATE		32	/* 1.33 bytes per byte of text in byte mode (docs/benchmarks.md) */
#define NGRAM_LINES_PER_PAGE	127

/* the largest token id of token mode (the alphabet must fit a segment's C array) */
#define NGRAM_MAX_TOKEN			(16 * 1024 * 1024)

typedef struct NgramSegmentRef
{
	BlockNumber start;			/* first page of the run */
	uint32		npages;
	uint64		nlines;
	uint64		nsymbols;
	uint32		ndocs;
	uint32		pad;
} NgramSegmentRef;

typedef struct NgramMetaData
{
	RetrievalMetaHeader header; /* kind INDEX_KIND_NGRAM */
	uint32		mode;			/* NGRAM_MODE_* */
	uint32		sample_rate;
	int64		ndocs;			/* in segments and buffer */
	int64		nsymbols;		/* N: text symbols in segments and buffer */
	BlockNumber buffer_head;	/* write buffer chain (at least one page) */
	BlockNumber buffer_tail;
	uint32		buffer_docs;
	uint32		buffer_symbols;
	uint32		nsegments;
	uint32		pad;
	NgramSegmentRef segments[NGRAM_MAX_SEGMENTS];
	/* page reuse (src/page/page_space.h) */
	uint32		npending;
	uint32		nfree;
	uint64		lost_pages;
	RetrievalPendingRun pending[NGRAM_MAX_PENDING];
	RetrievalFreeRun free[NGRAM_MAX_FREE];
} NgramMetaData;

/* ---- ngram_page.c: pages, the line source, writing a segment ---- */

extern void ngram_meta_read(Relation index, BlockNumber metablk, NgramMetaData *meta);
extern RetrievalSpace ngram_space(NgramMetaData *meta);
extern void ngram_meta_init_page(Page page, uint32 mode);
extern void ngram_meta_write(Relation index, BlockNumber metablk, const NgramMetaData *meta);
extern void ngram_corrupted(Relation index, const char *what) pg_attribute_noreturn();
extern const NgramAllocator *ngram_allocator(void);

/*
 * Pinned segment pages, as an NgramLineSource: a direct-mapped table of
 * pages kept pinned while a query runs, sized to the whole segment when
 * the budget allows.  Sources opened together share a budget of a
 * sixteenth of shared_buffers, so a query never pins more than that
 * (nsources: how many share it).  Fewer ReadBuffer calls made locating an
 * occurrence 1.7x faster on an 11 MB corpus (1.4x for a two-word n-gram).
 */
#define NGRAM_SOURCE_SLOTS	65536
typedef struct NgramPageSource
{
	Relation	index;
	NgramSegmentRef seg;
	uint32		nslots;			/* a power of two <= NGRAM_SOURCE_SLOTS and <= the pages */
	Buffer	   *buffers;		/* [nslots] */
	BlockNumber *blocks;		/* [nslots] */
} NgramPageSource;

extern void ngram_source_open(NgramPageSource *ps, Relation index, const NgramSegmentRef *seg,
							  int nsources, FmSegment *fm);
extern void ngram_source_close(NgramPageSource *ps);

/*
 * A line image as a run of pages: reused pages from meta's free runs when
 * meta is given (the caller publishes meta), else new ones.  building: the
 * pages are logged by the caller at the end of the build.
 */
extern void ngram_segment_write(Relation index, NgramMetaData *meta, const uint8 *image,
								uint64 nlines, bool building, NgramSegmentRef *ref);
/* one page for a chain, exclusively locked: a free one of meta's or a new one */
extern Buffer ngram_new_page(Relation index, NgramMetaData *meta);

/* ---- ngram_buffer.c: the write buffer ---- */

/* a document of the buffer, or one being indexed */
typedef struct NgramDoc
{
	uint64		key;			/* heap TID (ngram_tid_key) */
	uint32		len;
	uint32	   *symbols;		/* text symbols */
} NgramDoc;

extern BlockNumber ngram_buffer_new_chain(Relation index, NgramMetaData *meta, bool building);
extern void ngram_buffer_append(Relation index, BlockNumber metablk, NgramMetaData *meta,
								const NgramDoc *doc, bool publish);
/* the first limit complete documents of a chain, in insertion order */
extern NgramDoc *ngram_buffer_read_limit(Relation index, BlockNumber head, uint32 mode,
										 uint32 limit, uint32 *ndocs);

/* ---- ngram_build.c, ngram_insert.c, ngram_vacuum.c: maintenance ---- */

static inline uint64
ngram_tid_key(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
}

static inline void
ngram_key_tid(uint64 key, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (key >> 16), (OffsetNumber) (key & 0xFFFF));
}

/* the symbols of an indexed value (bytes of text, or the ids of an int4[]) */
extern bool ngram_value_symbols(uint32 mode, Datum value, NgramDoc *doc);

extern BlockNumber ngram_part_build(Relation heap, Relation index, IndexInfo *indexInfo,
									uint32 mode, BlockNumber expected_meta, double *nrows);
extern BlockNumber ngram_part_buildempty(Relation index, uint32 mode);
extern void ngram_part_insert(Relation index, BlockNumber metablk, Datum value,
							  ItemPointer heap_tid);
extern void ngram_part_bulkdelete(Relation index, BlockNumber metablk,
								  IndexBulkDeleteCallback callback, void *callback_state,
								  IndexBulkDeleteResult *stats);
extern void ngram_part_stats(Relation index, BlockNumber metablk, IndexBulkDeleteResult *stats);

/* layout documents into new segments of at most the memory budget (shared by build, fold, merge) */
typedef struct NgramSegmentWriter NgramSegmentWriter;
extern NgramSegmentWriter *ngram_writer_begin(Relation index, NgramMetaData *meta, uint32 mode,
											  Size budget, bool building);
extern void ngram_writer_add(NgramSegmentWriter *w, const NgramDoc *doc);
/* the segments written; count in *nsegs */
extern NgramSegmentRef *ngram_writer_finish(NgramSegmentWriter *w, int *nsegs);

/* ngram_insert.c: the write lock, merges and rewrites */
extern void ngram_write_lock(Relation index, BlockNumber metablk);
extern void ngram_write_unlock(Relation index, BlockNumber metablk);
extern void ngram_merge_tiers(Relation index, BlockNumber metablk, NgramMetaData *meta);
extern void ngram_release_chain(Relation index, NgramMetaData *meta, BlockNumber head);
extern NgramSegmentRef *ngram_rewrite_segments(Relation index, NgramMetaData *meta,
											   const NgramSegmentRef *segs, int nsegs,
											   IndexBulkDeleteCallback callback,
											   void *callback_state, int *nout,
											   int64 *removed, int64 *removed_symbols);
extern void ngram_meta_replace(Relation index, NgramMetaData *meta, const bool *which,
							   const NgramSegmentRef *add, int nadd);

/* ---- ngram_query.c: one query over every segment and the buffer ---- */

typedef struct NgramQuery
{
	Relation	index;
	NgramMetaData meta;
	int			nsegs;
	NgramPageSource *sources;
	FmSegment  *segs;
	uint32		nbuffer;		/* buffered documents */
	NgramDoc   *buffer;
} NgramQuery;

/* one n-gram being extended: a range per segment, a match list in the buffer */
typedef struct NgramCursor
{
	FmRange    *ranges;
	uint32		len;			/* symbols so far */
	uint32	   *symbols;		/* the n-gram (len of them) */
	uint32		symcap;
	/* buffer occurrences: (doc, offset) pairs, offset = start in the doc */
	uint32		nmatches;
	uint32		matchcap;
	uint32	   *match_doc;
	uint32	   *match_off;
	uint64		count;			/* total occurrences */
} NgramCursor;

extern void ngram_query_open(NgramQuery *q, Relation index, BlockNumber metablk);
extern void ngram_query_close(NgramQuery *q);
extern void ngram_cursor_init(NgramQuery *q, NgramCursor *c);
extern void ngram_cursor_copy(NgramQuery *q, NgramCursor *dst, const NgramCursor *src);
/* append s; false when the n-gram no longer occurs (the cursor is then empty) */
extern bool ngram_cursor_extend(NgramQuery *q, NgramCursor *c, uint32 s);
extern uint64 ngram_count_symbols(NgramQuery *q, const uint32 *symbols, uint32 len);

typedef struct NgramNext
{
	uint32		symbol;
	uint64		count;
} NgramNext;

/* top k continuations (k = 0: all), count desc then symbol asc */
extern NgramNext *ngram_next(NgramQuery *q, const NgramCursor *c, uint32 k, uint32 *n);
/* the count of each candidate continuation */
extern void ngram_next_counts(NgramQuery *q, const NgramCursor *c, const uint32 *cands,
							  uint32 ncands, uint64 *counts);

/* documents containing the cursor's n-gram: key and occurrences, sorted by key */
typedef struct NgramDocHit
{
	uint64		key;
	uint32		occurrences;
} NgramDocHit;
extern NgramDocHit *ngram_cursor_docs(NgramQuery *q, const NgramCursor *c, uint32 *n);

/* ---- seal_score.c ---- */

typedef struct SealNgram
{
	uint32	   *symbols;
	uint32		len;
	uint64		count;			/* F(n) */
	float8		weight;			/* w(n, q) */
	int			ntokens;		/* distinct tokens of the n-gram (coverage) */
	uint64	   *tokens;			/* their identities, sorted */
} SealNgram;

#define SEAL_ALPHA				0.8
#define SEAL_SMOOTHING			5.0
#define SEAL_UNSUPERVISED_LOGPROB	(-0.6931471805599453)	/* log 0.5 */

/* a query: its weighted n-grams and their order by weight */
typedef struct SealQuery
{
	SealNgram  *ngrams;
	int			n;
	int			cap;
	int		   *order;
} SealQuery;

typedef struct SealHit
{
	uint64		key;
	float8		score;
} SealHit;

extern int	seal_max_occurrences;
extern int	seal_query_runs;		/* retrieval.seal_query_ngrams */
#define SEAL_RUNS_LONGEST	0
#define SEAL_RUNS_ALL		1

extern float8 seal_weight(float8 logprob, uint64 count, uint64 nsymbols);
extern void seal_ngram_tokens(uint32 mode, SealNgram *ng);
/* score of a document containing the n-grams flagged in present[] */
extern float8 seal_doc_score(const SealNgram *ngrams, int nngrams, const int *order,
							 const bool *present);
extern int *seal_weight_order(const SealNgram *ngrams, int nngrams);
extern void seal_query_add(NgramQuery *q, SealQuery *sq, const uint32 *symbols, uint32 len,
						   float8 logprob);
extern void seal_query_unsupervised(NgramQuery *q, SealQuery *sq, const uint8 *text, int len);
extern void seal_query_finish(SealQuery *sq);
extern SealHit *seal_rank(NgramQuery *q, SealQuery *sq, uint32 *nhits);
extern float8 seal_score_symbols(const SealQuery *sq, const uint32 *doc, uint32 len);

/* ---- ngram_sql.c, ngram_scan.c, ngram_am.c ---- */

extern void ngram_settings_init(void);
/* the n-gram part of a user-named index (SELECT on its table checked); its metapage block */
extern Relation ngram_open_index(Oid indexoid, BlockNumber *metablk);
/* the metapage block of the n-gram part of an open retrieval index, or Invalid */
extern BlockNumber ngram_part_of(Relation index);
extern void seal_query_for_text(NgramQuery *q, const char *qtext, int qlen, SealQuery *sq);

/*
 * The <%> scan of a text index (ngram_scan.c): its state goes in
 * scan->opaque while these run (text_am.c routes to them by strategy).
 */
#define TEXT_STRATEGY_SEAL		4	/* <%>: after hybrid.h's 1..3 */
extern void *seal_scan_begin(void);
extern void seal_scan_rescan(IndexScanDesc scan);
extern bool seal_scan_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void seal_scan_end(IndexScanDesc scan);
extern void seal_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							  Cost *indexStartupCost, Cost *indexTotalCost,
							  Selectivity *indexSelectivity, double *indexCorrelation,
							  double *indexPages);

#endif							/* RETRIEVAL_NGRAM_H */
