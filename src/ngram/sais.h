/*-------------------------------------------------------------------------
 *
 * sais.h
 *	  Suffix array construction by induced sorting (SA-IS; Nong, Zhang and
 *	  Chan, 2009) over an integer alphabet (PostgreSQL-free).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_NGRAM_SAIS_H
#define RETRIEVAL_NGRAM_SAIS_H

#include <stdint.h>

#include "line_store.h"

/*
 * Sorts the suffixes of text[0..n): sa[i] = start of the i-th smallest
 * suffix.  Requirements: n >= 1, every text[i] < sigma, text[n-1] == 0 and
 * 0 occurs nowhere else (the unique smallest sentinel).  Suffixes compare
 * as usual (a proper prefix is smaller, but the sentinel makes that moot).
 *
 * Memory: the caller's sa plus O(sigma + n) words of scratch at most
 * (recursion included) from the allocator; allocator->check is called at
 * least every few million steps.  Returns 0 on success, -1 on invalid
 * input (sentinel missing, symbol >= sigma).
 */
extern int	sais_build(const uint32_t *text, uint32_t *sa, uint32_t n, uint32_t sigma,
					   const NgramAllocator *allocator);

#endif							/* RETRIEVAL_NGRAM_SAIS_H */
