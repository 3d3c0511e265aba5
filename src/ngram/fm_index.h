/*-------------------------------------------------------------------------
 *
 * fm_index.h
 *	  One immutable FM-index segment over a set of documents: its line
 *	  image (layout below), its build and its queries (PostgreSQL-free).
 *
 * Text.  Documents are sequences of symbols; a text symbol s (a UTF-8 byte
 * or a token id) is stored as s + FM_FIRST_SYMBOL, because 0 is the end
 * sentinel and 1 the document separator.  The indexed string is
 *
 *     T = SEP rev(d_0) SEP rev(d_1) SEP ... SEP rev(d_{D-1}) SEP END
 *
 * every document reversed, with a separator on both sides.  Backward
 * search on T finds rev(P), processing P from left to right, so one
 * backward step appends one symbol on the RIGHT of the n-gram being
 * generated: the step constrained decoding takes.  For the range [sp, ep)
 * of rev(P), BWT[sp..ep) holds the symbol that FOLLOWS each occurrence of
 * P in its document (or SEP at the document's end): continuations are the
 * distinct symbols of a BWT range, which the wavelet matrix lists.  No
 * occurrence spans two documents, since no n-gram contains SEP.
 *
 * Line image (line_store.h), in this order:
 *   header      FmHeader, FM_HEADER_LINES lines
 *   C           uint32 C[c] = occurrences of symbols < c in T, for
 *               c = 0..sigma (16 per line)
 *   wavelet     the BWT as a wavelet matrix (wavelet.h)
 *   sampled     bitvector over rows: SA[row] % sample_rate == 0
 *   samples     uint32 SA[row] of the sampled rows in row order (16 per line)
 *   doc_start   uint32 position in T of the first symbol of rev(d_i), for
 *               i = 0..D; doc_start[D] = n - 1 (16 per line)
 *   doc_keys    uint64 caller's key of each document (heap TID) (8 per line)
 *
 * Locate walks LF from a row until a sampled row: at most sample_rate - 1
 * steps, each one wavelet access.  The document of a position is found by
 * binary search over doc_start (a handful of lines; a rank over a boundary
 * bitvector would cost one line but n bits, 7% of the index in byte mode).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_NGRAM_FM_INDEX_H
#define RETRIEVAL_NGRAM_FM_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "line_store.h"
#include "wavelet.h"

#define FM_END				0
#define FM_SEP				1
#define FM_FIRST_SYMBOL		2

#define FM_MAGIC			0x464D4958	/* "FMIX" */
#define FM_VERSION			1
#define FM_HEADER_LINES		4
#define FM_MAX_SYMBOLS		((uint32_t) 0xFFFFFFF0) /* n of one segment */

typedef struct FmHeader
{
	uint32_t	magic;
	uint32_t	version;
	uint32_t	n;				/* length of T */
	uint32_t	ndocs;			/* D */
	uint32_t	sigma;			/* symbols of T are < sigma */
	uint32_t	sample_rate;
	uint64_t	nsymbols;		/* text symbols: n - D - 2 */
	uint64_t	c_line;
	uint64_t	sampled_line;
	uint64_t	samples_line;
	uint64_t	doc_start_line;
	uint64_t	doc_keys_line;
	uint64_t	total_lines;
	WaveletInfo wavelet;
} FmHeader;

/*
 * Documents collected for a build: T is laid out as they arrive.  Every
 * array is obtained from the allocator.
 */
typedef struct FmLayout
{
	const NgramAllocator *allocator;
	uint32_t   *text;			/* T, growing */
	uint64_t	len;
	uint64_t	cap;
	uint32_t   *doc_start;
	uint64_t   *doc_keys;
	uint32_t	ndocs;
	uint32_t	doc_cap;
	uint32_t	max_symbol;		/* largest stored symbol so far */
} FmLayout;

extern void fm_layout_init(FmLayout *layout, const NgramAllocator *allocator);
/* symbols are text symbols (not yet shifted); false when the segment would be too long */
extern bool fm_layout_add(FmLayout *layout, const uint32_t *symbols, uint32_t len, uint64_t key);
/* the same for bytes */
extern bool fm_layout_add_bytes(FmLayout *layout, const uint8_t *bytes, uint32_t len,
								uint64_t key);
extern void fm_layout_free(FmLayout *layout);
/* bytes of scratch a build of this layout needs at its peak (estimate) */
extern uint64_t fm_build_memory(uint64_t nsymbols, uint32_t ndocs);

/*
 * Builds the segment's line image: *image (from the allocator) holds
 * *nlines lines.  sigma_min: the alphabet is at least this large (258 for
 * bytes) so that segments of one index share C's size.  Consumes the
 * layout (frees it).  Returns 0, or -1 on an internal inconsistency.
 */
extern int	fm_build(FmLayout *layout, uint32_t sample_rate, uint32_t sigma_min, uint8_t **image,
					 uint64_t *nlines);

/* ---- queries over one segment ---- */

typedef struct FmSegment
{
	FmHeader	header;
	NgramLineSource src;
} FmSegment;

/* false when the header lines are not a valid segment */
extern bool fm_open(FmSegment *seg, NgramLineSource src);

typedef struct FmRange
{
	uint32_t	sp;
	uint32_t	ep;
} FmRange;

/* the range of the empty n-gram: every row */
static inline void
fm_full_range(const FmSegment *seg, FmRange *r)
{
	r->sp = 0;
	r->ep = seg->header.n;
}

/* append text symbol s on the right; false (and an empty range) when absent */
extern bool fm_extend(const FmSegment *seg, FmRange *r, uint32_t s);

/*
 * Occurrences of the n-gram of a range.  For the full range this is n,
 * not the number of text symbols: callers count the empty n-gram as
 * nsymbols.
 */
static inline uint32_t
fm_range_count(const FmRange *r)
{
	return r->ep - r->sp;
}

/* occurrences of text symbol s right after the range's n-gram */
extern uint32_t fm_next_count(const FmSegment *seg, const FmRange *r, uint32_t s);

/*
 * The k most frequent continuations (text symbols, unshifted) with
 * counts, count descending then symbol ascending.  Returns how many.
 */
extern uint32_t fm_next_top_k(const FmSegment *seg, const FmRange *r, uint32_t k,
							  WaveletCount *out, const NgramAllocator *allocator);

/* every continuation in symbol order (unshifted), until emit returns false */
extern void fm_next_all(const FmSegment *seg, const FmRange *r,
						bool (*emit) (void *arg, uint32_t symbol, uint32_t count), void *arg,
						const NgramAllocator *allocator);

/* SA[row] */
extern uint32_t fm_locate(const FmSegment *seg, uint32_t row);

/*
 * The document of an occurrence of an n-gram of len symbols found at row
 * `row`; *offset gets its offset in the (forward) document.
 */
extern uint32_t fm_occurrence_doc(const FmSegment *seg, uint32_t row, uint32_t len,
								  uint32_t *offset);

/*
 * The positions in T of every row of [sp, ep) (out has room for ep - sp),
 * as a multiset; returns how many (ep - sp for a valid image).
 */
extern uint32_t fm_locate_range(const FmSegment *seg, uint32_t sp, uint32_t ep, uint32_t *out,
								const NgramAllocator *allocator);
/* the document holding position p of T, or UINT32_MAX for a separator */
extern uint32_t fm_position_doc(const FmSegment *seg, uint32_t p);

extern uint64_t fm_doc_key(const FmSegment *seg, uint32_t doc);
extern uint32_t fm_doc_length(const FmSegment *seg, uint32_t doc);

/*
 * Every document's symbols (unshifted, forward), from the last document
 * to the first, recovered by walking LF through the whole BWT: how
 * merges and VACUUM rewrite a segment without the original text.  Stops
 * early when emit returns false.
 */
extern void fm_extract_all(const FmSegment *seg,
						   bool (*emit) (void *arg, uint32_t doc, const uint32_t *symbols,
										 uint32_t len),
						   void *arg, const NgramAllocator *allocator);

#endif							/* RETRIEVAL_NGRAM_FM_INDEX_H */
