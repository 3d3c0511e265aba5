/*-------------------------------------------------------------------------
 *
 * wavelet.h
 *	  Rank bitvectors and the wavelet matrix over the BWT, in the line
 *	  format of line_store.h (PostgreSQL-free).
 *
 * Bitvector lines: each 64-byte line holds the number of ones before the
 * line (uint32, native byte order) and the next NGRAM_BITS_PER_LINE bits,
 * so rank and access at any position read exactly one line.
 *
 * Wavelet matrix (Claude, Navarro and Ordonez, 2015): `levels` bitvectors
 * of n bits each, most significant symbol bit first; zeros[l] is the
 * number of zeros at level l.  A symbol's rank costs one line per level.
 * Symbols are < sigma <= 2^levels; levels is the bit length of sigma - 1
 * (at least 1).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_NGRAM_WAVELET_H
#define RETRIEVAL_NGRAM_WAVELET_H

#include <stdbool.h>
#include <stdint.h>

#include "line_store.h"

#define NGRAM_BITS_PER_LINE		480
#define WAVELET_MAX_LEVELS		32

/* ---- bitvectors ---- */

/* lines for nbits bits (at least one line, also for nbits == 0) */
extern uint64_t bitvec_lines(uint32_t nbits);

/*
 * Writes the lines of a bitvector: bit i is (bits[i / 64] >> (i % 64)) & 1.
 * out has room for bitvec_lines(nbits) lines.
 */
extern void bitvec_build(const uint64_t *bits, uint32_t nbits, uint8_t *out);

/* number of ones in [0, i), 0 <= i <= nbits */
extern uint32_t bitvec_rank1(const NgramLineSource *src, uint64_t first_line, uint32_t i);

/* bit i (i < nbits), and the number of ones in [0, i) into *rank1 */
extern bool bitvec_access(const NgramLineSource *src, uint64_t first_line, uint32_t i,
						  uint32_t *rank1);

/* ---- wavelet matrix ---- */

typedef struct WaveletInfo
{
	uint32_t	n;				/* sequence length */
	uint32_t	sigma;			/* symbols are < sigma */
	uint32_t	levels;
	uint32_t	pad;
	uint64_t	first_line;		/* line of level 0's bitvector */
	uint64_t	level_lines;	/* bitvec_lines(n): level l starts at first_line + l * level_lines */
	uint32_t	zeros[WAVELET_MAX_LEVELS];
} WaveletInfo;

extern uint32_t wavelet_levels_for(uint32_t sigma);
/* lines for a sequence of n symbols with that many levels */
extern uint64_t wavelet_lines(uint32_t n, uint32_t levels);

/*
 * Builds the matrix of seq[0..n) (every seq[i] < sigma) into
 * out[0 .. wavelet_lines(n, levels) * 64), and fills *info (with first_line
 * as given: out is the image of the lines starting there).  Scratch: O(n)
 * words from the allocator.  Returns 0, or -1 when a symbol >= sigma.
 */
extern int	wavelet_build(const uint32_t *seq, uint32_t n, uint32_t sigma, uint64_t first_line,
						  uint8_t *out, WaveletInfo *info, const NgramAllocator *allocator);

/* occurrences of c in [0, i), 0 <= i <= n (0 when c >= sigma) */
extern uint32_t wavelet_rank(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
							 uint32_t i);

/* wavelet_rank at two positions sp <= ep in one descent */
extern void wavelet_rank_pair(const WaveletInfo *info, const NgramLineSource *src, uint32_t c,
							  uint32_t sp, uint32_t ep, uint32_t *rank_sp, uint32_t *rank_ep);

/* seq[i] (i < n), and its occurrences in [0, i) into *rank */
extern uint32_t wavelet_access_rank(const WaveletInfo *info, const NgramLineSource *src,
									uint32_t i, uint32_t *rank);

typedef struct WaveletCount
{
	uint32_t	symbol;
	uint32_t	count;
} WaveletCount;

/*
 * The k most frequent distinct symbols >= min_symbol in seq[sp..ep), by
 * count descending, ties by symbol ascending, without enumerating the
 * others (best-first descent, largest range first).  out has room for k;
 * returns how many were written (fewer when fewer distinct symbols).
 */
extern uint32_t wavelet_top_k(const WaveletInfo *info, const NgramLineSource *src, uint32_t sp,
							  uint32_t ep, uint32_t min_symbol, uint32_t k, WaveletCount *out,
							  const NgramAllocator *allocator);

/*
 * Every distinct symbol >= min_symbol in seq[sp..ep) with its count, in
 * symbol order, through emit.  emit may read lines from the same source
 * (the descent keeps no line pointer across calls).  Stops early when emit
 * returns false.
 */
extern void wavelet_distinct(const WaveletInfo *info, const NgramLineSource *src, uint32_t sp,
							 uint32_t ep, uint32_t min_symbol,
							 bool (*emit) (void *arg, uint32_t symbol, uint32_t count), void *arg,
							 const NgramAllocator *allocator);

#endif							/* RETRIEVAL_NGRAM_WAVELET_H */
