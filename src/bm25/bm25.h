/*-------------------------------------------------------------------------
 *
 * bm25.h
 *	  The BM25 inverted index: the text kind of the retrieval access method.
 *
 * Design notes
 * ------------
 * An index is a small LSM: a write buffer plus immutable segments, all in
 * index pages of the main fork (block 0 is the metapage).
 *
 *	metapage	common header, analyzer names and k1/b fixed at build time,
 *				corpus statistics (N = documents, total length), the list
 *				of segments, the write buffer's page chain and a sealed
 *				chain being flushed.
 *
 *	segment		written once, by CREATE INDEX or by a buffer flush, into a
 *				run of CONTIGUOUS pages allocated under the relation
 *				extension lock.  Its contents are one byte stream over those
 *				pages (BM25_PAGE_DATA bytes each), so a logical offset maps
 *				to (first block + off / BM25_PAGE_DATA, off % BM25_PAGE_DATA):
 *				  header | doc table | hash buckets | term entries | postings
 *				- doc table: per segment-local doc id (0..ndocs-1, in the
 *				  order rows were added) the heap TID, a deleted flag and
 *				  the EXACT document length (number of analyzed terms,
 *				  uint32: no caps);
 *				- term dictionary: an open-addressing hash table (buckets of
 *				  hash + term entry offset, power-of-two count >= 2 x terms)
 *				  over term entries: live df, the term bytes and one skip
 *				  entry per postings block;
 *				- postings: blocks of BM25_BLOCK_SIZE (128) documents, each
 *				  posting varint(doc id delta), varint(tf), varint(doc
 *				  length) (the length inline avoids a random doc-table read
 *				  per scored document).  The skip entry of a block holds its
 *				  last doc id, its byte range and its maximum impact as
 *				  (max tf, min doc length): BM25 increases with tf and
 *				  decreases with length, so that pair bounds every posting of
 *				  the block whatever N and avgdl are later (bounds never go
 *				  stale when statistics change).
 *				Only the doc table's deleted flags and the term entries' df
 *				change after writing (VACUUM), in place, WAL-logged; fields
 *				changed in place never straddle a page boundary.
 *
 *	buffer		inserts append one tuple per document (TID, length, deleted
 *				flag, its distinct terms with tf) to the last page of a
 *				page chain; a document larger than a page is split into
 *				fragments on consecutive pages (flags FIRST/LAST; a
 *				document whose LAST fragment is missing after a crash is
 *				ignored).  Scans score buffered documents exhaustively.
 *				When the buffer reaches buffer_pages pages (reloption) the
 *				inserting backend that wins the flush lock (a heavyweight
 *				lock on the metapage, as GIN's pending-list cleanup does)
 *				seals the chain (new inserts go to a fresh chain), writes
 *				the sealed documents as a new segment and then, in one WAL
 *				record, adds the segment to the metapage and forgets the
 *				sealed chain.  A crash in between leaves the sealed chain in
 *				the metapage (still searched; flushed by the next flush) and
 *				orphaned segment pages.
 *
 * Statistics: N and the total length are updated by every insert and by
 * VACUUM; df of a term = sum of the live df in each segment's entry + the
 * count of live buffered documents containing it.  A deleted row counts
 * until VACUUM has removed it from the index (like Lucene's deleted
 * documents until a merge): N, n and avgdl then count live rows only.
 *
 * Scoring is Lucene's BM25 computed in float8, summed over the distinct
 * query terms in their order of first occurrence, each weighted by its
 * number of occurrences in the query; the index scan and the per-row
 * operator use the same functions (bm25_score.c) so they give identical
 * numbers.  Ties are broken by heap TID ascending.
 *
 * Merges (bm25_merge.c): after each flush, the longest run of newest
 * segments in which each older one holds at most 4x the documents of the
 * newer ones is rewritten as one segment without VACUUM's deleted
 * documents, so segment sizes grow geometrically.
 *
 * Page reuse (bm25_space.c): pages that a flush or merge unlinks are
 * released in the same WAL record, stamped with the next transaction id,
 * and reused for new segments and buffer pages once no backend's xmin is
 * that old, i.e. once no scan that may have listed them can still run.
 *
 * XXX not done: reuse of pages orphaned by a crash (REINDEX compacts);
 * merges run in the inserting backend (no background worker) with the
 * merged postings in memory; parallel build; a build larger than
 * maintenance_work_mem gives several segments (correct, a little slower to
 * scan; at most BM25_MAX_SEGMENTS).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_BM25_H
#define RETRIEVAL_BM25_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/transam.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "../am/retrieval_am.h"
#include "../page/page_space.h"
#include "../page/index_page.h"
#include "../tokenize/tokenizer.h"

#define BM25_FORMAT_VERSION		2
#define BM25_BLOCK_SIZE			128
#define BM25_MAX_SEGMENTS		64
#define BM25_MAX_PENDING		128	/* released page runs not yet reusable */
#define BM25_MAX_FREE			128	/* reusable page runs */
#define BM25_NAME_LEN			128
#define BM25_SEGMENT_MAGIC		0x424D3235	/* "BM25" */

/* Page type of BM25 data pages (RetrievalPageOpaqueData.page_type). */
#define RETRIEVAL_PAGE_BM25		3

/* Bytes of segment data per page: everything between header and special. */
#define BM25_PAGE_DATA \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(RetrievalPageOpaqueData)))

/* Build phases in pg_stat_progress_create_index (after HNSW's 1..3). */
#define BM25_PHASE_ANALYZE		4
#define BM25_PHASE_WRITE		5

typedef struct Bm25SegmentRef
{
	BlockNumber start;			/* first page */
	BlockNumber npages;
	uint32		ndocs;
	uint32		nterms;
} Bm25SegmentRef;

/* Pages released by a flush or merge, reusable once safe is removable. */
/* Unlinked and reusable page runs (src/page/page_space.h). */
typedef RetrievalPendingRun Bm25PendingRun;
typedef RetrievalFreeRun Bm25FreeRun;

/* Contents of the metapage after the common header. */
typedef struct Bm25MetaData
{
	RetrievalMetaHeader header;
	char		tokenizer[BM25_NAME_LEN];
	char		language[BM25_NAME_LEN];
	float8		k1;
	float8		b;
	int64		ndocs;			/* N: documents indexed, minus VACUUM's */
	int64		total_length;	/* sum of their lengths */
	BlockNumber buffer_head;	/* write buffer chain, always >= 1 page */
	BlockNumber buffer_tail;
	uint32		buffer_pages;	/* pages in the write buffer chain */
	BlockNumber sealed_head;	/* chain being flushed, or Invalid */
	uint32		nsegments;
	Bm25SegmentRef segments[BM25_MAX_SEGMENTS];
	uint32		npending;
	uint32		nfree;
	uint64		lost_pages;		/* dropped because the lists were full */
	Bm25PendingRun pending[BM25_MAX_PENDING];
	Bm25FreeRun free[BM25_MAX_FREE];

	/*
	 * Hybrid text index (src/fusion/hybrid.h): the block of the dense
	 * part's HNSW metapage, or 0 for a BM25-only index (and in indexes
	 * built before the field existed).  When set, the "TID" of every
	 * document in segments and buffer is the TID of its element in the
	 * dense part, not a heap TID.
	 */
	BlockNumber dense_meta;
	uint32		dense_flags;	/* HYBRID_DENSE_* (src/fusion/hybrid.h) */

	/*
	 * The block of the n-gram part's metapage (src/ngram/ngram.h), or 0:
	 * built WITH (ngrams = on).  Its documents are keyed by heap TID.
	 */
	BlockNumber ngram_meta;
	uint32		ngram_pad;
} Bm25MetaData;

/* Segment stream layout: header at offset 0. */
typedef struct Bm25SegmentHeader
{
	uint32		magic;
	uint32		ndocs;
	uint32		nterms;
	uint32		nbuckets;		/* power of two */
	uint64		doc_off;		/* page-aligned */
	uint64		bucket_off;		/* page-aligned */
	uint64		term_off;
	uint64		postings_off;
	uint64		end_off;
} Bm25SegmentHeader;

#define BM25_DOC_DELETED	0x0001

typedef struct Bm25DocEntry
{
	ItemPointerData tid;
	uint16		flags;
	uint32		length;
} Bm25DocEntry;					/* 12 bytes */

#define BM25_DOCS_PER_PAGE	(BM25_PAGE_DATA / sizeof(Bm25DocEntry))

typedef struct Bm25Bucket
{
	uint32		hash;
	uint32		unused;
	uint64		term;			/* offset of the term entry; 0 = empty */
} Bm25Bucket;					/* 16 bytes, divides BM25_PAGE_DATA */

#define BM25_BUCKETS_PER_PAGE	(BM25_PAGE_DATA / sizeof(Bm25Bucket))

/* A term entry: this header (never straddles pages), term bytes, skips. */
typedef struct Bm25TermHeader
{
	uint32		df;				/* live documents containing the term */
	uint32		nblocks;
	uint32		len;			/* term bytes */
	uint32		unused;
} Bm25TermHeader;

typedef struct Bm25Skip
{
	uint32		last_doc;
	uint32		ndocs;
	uint32		max_tf;
	uint32		min_length;
	uint64		offset;			/* of the block's postings */
	uint32		nbytes;
	uint32		unused;
} Bm25Skip;

/* Buffered document fragment (an item on a buffer page). */
#define BM25_FRAG_FIRST		0x01
#define BM25_FRAG_LAST		0x02

typedef struct Bm25BufferTuple
{
	ItemPointerData tid;
	uint8		frag;			/* BM25_FRAG_* */
	uint8		deleted;
	uint32		length;			/* document length (FIRST fragment) */
	uint32		nterms;			/* distinct terms in the whole document */
	uint32		nbytes;			/* bytes of term data in this fragment */
	char		data[FLEXIBLE_ARRAY_MEMBER];
	/* term data: repeated varint(tf), varint(len), bytes */
} Bm25BufferTuple;

/* ------------------------------------------------------------------------
 * Analysis and scoring (bm25_score.c)
 * ------------------------------------------------------------------------
 */

/* A document or query as distinct terms with their counts. */
typedef struct Bm25TermCount
{
	char	   *term;
	int			len;
	uint32		count;
	uint32		hash;
} Bm25TermCount;

typedef struct Bm25Bag
{
	int			nterms;			/* distinct */
	uint32		length;			/* all terms kept by the analyzer */
	Bm25TermCount *terms;		/* in order of first occurrence */
} Bm25Bag;

/* Everything a score needs besides the document. */
typedef struct Bm25Query
{
	Bm25Bag		bag;
	float8		k1;
	float8		b;
	float8		ndocs;
	float8		avgdl;
	uint32	   *df;				/* per distinct query term */
	float8	   *idf;
	int		   *slots;			/* hash of the terms: index into bag.terms, -1 */
	uint32		nslots;			/* power of two */
} Bm25Query;

extern uint32 bm25_hash(const char *term, int len);
extern Bm25Bag *bm25_analyze(const Bm25MetaData *meta, const char *text, int len);
extern void bm25_query_prepare(Bm25Query *q, const Bm25MetaData *meta);
extern void bm25_query_index_terms(Bm25Query *q);
extern int	bm25_query_find(const Bm25Query *q, const Bm25TermCount *term);
extern float8 bm25_term_score(const Bm25Query *q, int i, uint32 tf, uint32 length);
extern float8 bm25_upper_bound(const Bm25Query *q, int i, uint32 max_tf, uint32 min_length);
extern float8 bm25_sum(const Bm25Query *q, const float8 *contrib);
extern float8 bm25_score_bag(const Bm25Query *q, const Bm25Bag *doc);

/* varints */
static inline int
bm25_varint_put(uint8 *p, uint32 v)
{
	int			n = 0;

	while (v >= 0x80)
	{
		p[n++] = (uint8) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8) v;
	return n;
}

static inline uint32
bm25_varint_get(const uint8 **p, const uint8 *end, bool *ok)
{
	uint32		v = 0;
	int			shift = 0;

	while (*p < end && shift <= 28)
	{
		uint8		c = *(*p)++;

		v |= (uint32) (c & 0x7F) << shift;
		if (!(c & 0x80))
			return v;
		shift += 7;
	}
	*ok = false;
	return 0;
}

/* ------------------------------------------------------------------------
 * Metapage and page streams (bm25_meta.c)
 * ------------------------------------------------------------------------
 */
extern void bm25_meta_init_page(Page page, const char *tokenizer, const char *language,
								float8 k1, float8 b);
extern void bm25_meta_read(Relation index, Bm25MetaData *meta);
extern void bm25_meta_set_ngram(Relation index, ForkNumber fork, BlockNumber ngram_meta);

/* Reads a segment's byte stream, keeping the last page pinned. */
typedef struct Bm25Reader
{
	Relation	index;
	BlockNumber start;
	BlockNumber npages;
	Buffer		buf;
	BlockNumber blkno;
	BufferAccessStrategy strategy;
	bool		checked;		/* buf's special space checked */
} Bm25Reader;

extern void bm25_reader_init(Bm25Reader *r, Relation index, const Bm25SegmentRef *seg);
extern void bm25_read(Bm25Reader *r, uint64 off, void *dst, Size len);
extern void bm25_reader_end(Bm25Reader *r);
extern void bm25_corrupted(Relation index, const char *what) pg_attribute_noreturn();
extern void bm25_check_page(Relation index, Page page);
extern void bm25_check_block(Relation index, BlockNumber blkno, BlockNumber *nblocks);

/* ------------------------------------------------------------------------
 * Segments: writing (bm25_segment_write.c), reading (bm25_segment.c)
 * ------------------------------------------------------------------------
 */

/* In-memory inverted lists of a segment being built. */
typedef struct Bm25Builder Bm25Builder;

extern Bm25Builder *bm25_builder_create(MemoryContext parent);
extern void bm25_builder_add(Bm25Builder *bld, ItemPointer tid, const Bm25Bag *doc);
extern uint32 bm25_builder_add_doc(Bm25Builder *bld, ItemPointer tid, uint32 length);
extern void bm25_builder_add_posting(Bm25Builder *bld, const Bm25TermCount *tc, uint32 docid,
									 uint32 tf, uint32 length);
extern uint32 bm25_builder_ndocs(Bm25Builder *bld);
extern Size bm25_builder_memory(Bm25Builder *bld);
extern bool bm25_builder_write(Bm25Builder *bld, Relation index, bool building,
							   Bm25SegmentRef *ref);
extern void bm25_builder_destroy(Bm25Builder *bld);

/* A term's postings in one segment. */
typedef struct Bm25TermInfo
{
	bool		found;
	uint64		entry_off;		/* term header */
	uint32		df;
	uint32		nblocks;
	uint64		skips_off;
} Bm25TermInfo;

extern void bm25_segment_header(Bm25Reader *r, Bm25SegmentHeader *hdr);
extern void bm25_segment_lookup(Bm25Reader *r, const Bm25SegmentHeader *hdr,
								const char *term, int len, uint32 hash, Bm25TermInfo *info);
extern void bm25_segment_doc(Bm25Reader *r, const Bm25SegmentHeader *hdr, uint32 doc,
							 Bm25DocEntry *entry);

/* Decoded postings cursor over one term of one segment. */
typedef struct Bm25Cursor
{
	Bm25Reader *reader;
	int			qterm;			/* index of the query term */
	uint32		nblocks;
	Bm25Skip   *skips;
	int			block;			/* current block, nblocks = exhausted */
	bool		decoded;
	int			pos;
	int			count;
	uint32		docs[BM25_BLOCK_SIZE];
	uint32		tfs[BM25_BLOCK_SIZE];
	uint32		lens[BM25_BLOCK_SIZE];
	float8		max_score;		/* bound over all blocks */
	float8	   *block_max;		/* bound per block */
} Bm25Cursor;

#define BM25_NO_DOC		PG_UINT32_MAX

extern void bm25_cursor_open(Bm25Cursor *c, Bm25Reader *r, const Bm25TermInfo *info,
							 int qterm, const Bm25Query *q);
extern uint32 bm25_cursor_doc(Bm25Cursor *c);
extern void bm25_cursor_next(Bm25Cursor *c);
extern void bm25_cursor_seek(Bm25Cursor *c, uint32 target);
extern void bm25_cursor_seek_block(Bm25Cursor *c, uint32 target);
extern uint32 bm25_cursor_block_last(Bm25Cursor *c);

/* ------------------------------------------------------------------------
 * Write buffer (bm25_buffer.c)
 * ------------------------------------------------------------------------
 */
typedef void (*Bm25BufferVisitor) (void *arg, ItemPointer tid, uint32 length,
								   const Bm25Bag *doc);

extern uint32 bm25_buffer_append(Relation index, ItemPointer tid, const Bm25Bag *doc,
							   bool building);
extern void bm25_buffer_scan(Relation index, BlockNumber head, bool with_terms,
							 Bm25BufferVisitor visit, void *arg);
extern void bm25_buffer_init_chain(Relation index, Bm25MetaData *meta, bool building);
extern void bm25_flush(Relation index, bool force);

/* Page space (bm25_space.c) */
extern void bm25_space_release(Bm25MetaData *meta, BlockNumber start, BlockNumber npages);
extern bool bm25_space_recycle(Bm25MetaData *meta);
extern BlockNumber bm25_space_take(Bm25MetaData *meta, BlockNumber npages);
extern BlockNumber bm25_space_take_run(Relation index, BlockNumber npages);
extern Buffer bm25_space_new_page(Relation index, Bm25MetaData *wmeta);
extern void bm25_space_release_blocks(Bm25MetaData *meta, const BlockNumber *blocks, int nblocks);
extern BlockNumber *bm25_space_chain_blocks(Relation index, BlockNumber head, int *nblocks);
extern uint64 bm25_space_free_pages(const Bm25MetaData *meta);
extern BlockNumber bm25_space_sweep(Relation index);

/* bm25_build.c: the pieces the hybrid text index builds with */
typedef bool (*Bm25KeyFunction) (void *arg, ItemPointer heaptid, ItemPointer key);

extern void bm25_build_init_meta(Relation index, ForkNumber fork, Bm25MetaData *meta);
extern double bm25_build_segments(Relation heap, Relation index, IndexInfo *indexInfo,
								  Bm25MetaData *meta, Bm25KeyFunction key_of, void *arg);
extern void bm25_build_finish(Relation index, Bm25MetaData *meta);
extern void bm25_buildempty_pages(Relation index, Bm25MetaData *meta);

/* bm25_insert.c: one document under the given key (heap or element TID) */
extern void bm25_insert_document(Relation index, text *doc, ItemPointer key);

/* bm25_settings.c */
extern void bm25_settings_init(void);
extern void bm25_merge_pause(Relation index);

/* bm25_merge.c */
extern void bm25_merge_if_needed(Relation index);
extern bool bm25_merge_segments(Relation index, const Bm25SegmentRef *segs, int nsegs,
								Bm25SegmentRef *merged);

/* ------------------------------------------------------------------------
 * Statistics of a query against an index (bm25_stats.c)
 * ------------------------------------------------------------------------
 */
extern void bm25_query_stats(Relation index, const Bm25MetaData *meta, Bm25Query *q);

/* ------------------------------------------------------------------------
 * AM callbacks
 * ------------------------------------------------------------------------
 */
extern IndexBuildResult *bm25_build(Relation heap, Relation index, IndexInfo *indexInfo);
extern void bm25_buildempty(Relation index);
extern bool bm25_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
						bool indexUnchanged,
#endif
						IndexInfo *indexInfo);
extern IndexBulkDeleteResult *bm25_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *bm25_vacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);
extern void bm25_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							  Cost *indexStartupCost, Cost *indexTotalCost,
							  Selectivity *indexSelectivity, double *indexCorrelation,
							  double *indexPages);
extern IndexScanDesc bm25_beginscan(Relation index, int nkeys, int norderbys);
extern void bm25_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						int norderbys);
extern bool bm25_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void bm25_endscan(IndexScanDesc scan);

/* top-k over the whole index (bm25_topk.c) */
typedef struct Bm25Hit
{
	float8		score;
	ItemPointerData tid;
} Bm25Hit;

extern int	bm25_topk(Relation index, const Bm25MetaData *meta, Bm25Query *q, int k,
					  Bm25Hit *out);

/*
 * Documents in score order, as many as wanted (bm25_stream.c): exact top-k
 * batches of growing k, each document once.  For index scans.
 */
typedef struct Bm25Stream
{
	Relation	index;
	const Bm25MetaData *meta;
	Bm25Query  *query;
	int			first_k;		/* size of the first batch */
	int			k;				/* size of the current batch's top-k */
	Bm25Hit    *hits;
	int			nhits;
	int			next;
	bool		exhausted;
	struct HTAB *returned;		/* TIDs already returned */
} Bm25Stream;

#define BM25_STREAM_FIRST_K 10	/* a plain BM25 scan's first batch */
extern void bm25_stream_init(Bm25Stream *s, Relation index, const Bm25MetaData *meta,
							 Bm25Query *query, int first_k);
extern bool bm25_stream_next(Bm25Stream *s, Bm25Hit *hit);

/* bm25_scan.c: an ORDER BY argument's query, with its statistics */
extern void bm25_scan_query(Relation index, const Bm25MetaData *meta, Datum arg, Bm25Query *q,
							Oid *bound_to);

/* the query's statistics from a query text (bm25_stats.c) */
extern void bm25_query_for_text(Relation index, const Bm25MetaData *meta, const char *qtext,
								int qlen, Bm25Query *q);

/* bm25_sql.c: the query text wrapper naming an index */
extern const char *bm25_query_unwrap(const char *text, int len, Oid *indexoid, int *qlen);
extern Relation bm25_open_index(Oid indexoid);

#endif							/* RETRIEVAL_BM25_H */
