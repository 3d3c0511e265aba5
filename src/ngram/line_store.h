/*-------------------------------------------------------------------------
 *
 * line_store.h
 *	  The 64-byte "line" addressing shared by every structure of an
 *	  FM-index segment (PostgreSQL-free).
 *
 * A segment is an array of 64-byte lines.  Each structure (bitvectors of
 * the wavelet matrix, the sampled suffix array, the C array, document
 * tables) occupies whole consecutive lines starting at a line number
 * recorded in the segment header, and is designed so that one primitive
 * query (a rank, one array element) reads exactly one line: on disk a line
 * never straddles two index pages (a page holds NGRAM_LINES_PER_PAGE of
 * them), so one rank costs one buffer access.
 *
 * Readers get lines through an NgramLineSource: an in-memory array while
 * building and in the unit tests, pinned index pages at query time.  The
 * pointer returned by line() is valid until the next call on the same
 * source.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_NGRAM_LINE_STORE_H
#define RETRIEVAL_NGRAM_LINE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define NGRAM_LINE_BYTES	64

typedef struct NgramLineSource
{
	const uint8_t *(*line) (void *ctx, uint64_t lineno);
	void	   *ctx;
} NgramLineSource;

static inline const uint8_t *
ngram_line(const NgramLineSource *src, uint64_t lineno)
{
	return src->line(src->ctx, lineno);
}

/* An in-memory line image (building, tests): lines[lineno * 64]. */
static inline const uint8_t *
ngram_memory_line(void *ctx, uint64_t lineno)
{
	return (const uint8_t *) ctx + lineno * NGRAM_LINE_BYTES;
}

/* lines needed for n bytes */
static inline uint64_t
ngram_lines_for_bytes(uint64_t n)
{
	return (n + NGRAM_LINE_BYTES - 1) / NGRAM_LINE_BYTES;
}

/*
 * Scratch memory and interrupt checks for the PostgreSQL-free code:
 * palloc/pfree and CHECK_FOR_INTERRUPTS in the server, malloc/free in the
 * unit tests.  alloc never returns NULL (it raises the error itself);
 * check may be NULL.
 */
typedef struct NgramAllocator
{
	void	   *(*alloc) (size_t size);
	void		(*release) (void *ptr);
	void		(*check) (void);
} NgramAllocator;

#endif							/* RETRIEVAL_NGRAM_LINE_STORE_H */
