/*-------------------------------------------------------------------------
 *
 * index_page.h
 *	  The page-access layer shared by every index kind of the retrieval
 *	  access method.
 *
 * Every page of a retrieval index carries the same special space (page
 * type and a "next" link) and block 0 is always a metapage that starts
 * with the same header (magic, format version, index kind); the kind's
 * own metadata follows it.  Page allocation, WAL logging of changes
 * (GenericXLog) and of bulk builds (log_newpage_range) go through here so
 * that no index kind hand-rolls them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_INDEX_PAGE_H
#define RETRIEVAL_INDEX_PAGE_H

#include "postgres.h"

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#define RETRIEVAL_META_BLKNO	0
#define RETRIEVAL_MAGIC			0x52455452	/* "RETR" */
#define RETRIEVAL_PAGE_ID		0xFF91		/* identifies our pages in pg_filedump */

/* Page types (RetrievalPageOpaqueData.page_type). */
#define RETRIEVAL_PAGE_META		1
#define RETRIEVAL_PAGE_HNSW		2
/* 3: RETRIEVAL_PAGE_BM25 (src/bm25/bm25.h) */
#define RETRIEVAL_PAGE_NGRAM_META		4	/* src/ngram/ngram.h */
#define RETRIEVAL_PAGE_NGRAM_SEGMENT	5
#define RETRIEVAL_PAGE_NGRAM_BUFFER		6

typedef struct RetrievalPageOpaqueData
{
	BlockNumber next;			/* next page in a chain, or InvalidBlockNumber */
	uint16		page_type;
	uint16		page_id;		/* RETRIEVAL_PAGE_ID */
} RetrievalPageOpaqueData;

typedef RetrievalPageOpaqueData *RetrievalPageOpaque;

#define RetrievalPageGetOpaque(page) \
	((RetrievalPageOpaque) PageGetSpecialPointer(page))

/* Common header at the start of the metapage's contents. */
typedef struct RetrievalMetaHeader
{
	uint32		magic;			/* RETRIEVAL_MAGIC */
	uint32		version;		/* on-disk format version of the kind */
	uint32		kind;			/* IndexKind */
} RetrievalMetaHeader;

extern void retrieval_page_init(Page page, uint16 page_type);
extern bool retrieval_page_has_type(Page page, uint16 page_type);
extern Buffer retrieval_new_buffer(Relation index, ForkNumber fork);
extern BlockNumber retrieval_extend_run(Relation index, BlockNumber npages);
extern void *retrieval_meta_contents(Page page);
extern void retrieval_meta_check(Relation index, Page page, uint32 kind, uint32 version);
extern void retrieval_log_build(Relation index, ForkNumber fork);
extern void retrieval_log_build_range(Relation index, ForkNumber fork, BlockNumber start,
									  BlockNumber end);



/*
 * Changing index pages.  Normal operation WAL-logs every change through
 * GenericXLog; a bulk build (building = true) writes pages directly and
 * logs them all at the end with retrieval_log_build().  The same code path
 * serves both, so an on-disk insert during a build needs no special case.
 */
typedef struct RetrievalPageWrite
{
	GenericXLogState *state;	/* NULL when building */
	Buffer		buffers[MAX_GENERIC_XLOG_PAGES];
	int			nbuffers;
} RetrievalPageWrite;

extern void retrieval_write_begin(RetrievalPageWrite *write, Relation index, bool building);
extern Page retrieval_write_page(RetrievalPageWrite *write, Buffer buffer, bool is_new);
extern void retrieval_write_finish(RetrievalPageWrite *write);
#endif							/* RETRIEVAL_INDEX_PAGE_H */
