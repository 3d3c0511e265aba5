/*-------------------------------------------------------------------------
 *
 * sp_tokenizer.h
 *	  SentencePiece-unigram tokenizer, bit-compatible with the JavaScript
 *	  tokenizer of @tensorflow-models/universal-sentence-encoder.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_SP_TOKENIZER_H
#define RETRIEVAL_SP_TOKENIZER_H

#include "postgres.h"

typedef struct SpTokenizer
{
	int			vocab_size;
	int			first_piece;	/* ids below this are reserved, never matched */
	const double *scores;		/* [vocab_size], in the mapped file */
	const uint32 *offsets;		/* [vocab_size + 1] into bytes */
	const uint8 *bytes;			/* concatenated UTF-8 pieces */
	/* private index, built at load */
	uint16	   *slots;			/* open addressing, 0xFFFF = empty */
	uint32		mask;
	uint64	   *longer;			/* bit set: a piece extends this prefix hash */
	uint32		longer_mask;	/* bits in longer - 1 */
	uint8	   *js_length;		/* UTF-16 length of each piece (JS .length) */
	int			max_piece_chars;	/* longest piece, in code points */
	bool		boundary_safe;	/* U+2581 only ever starts a piece */
} SpTokenizer;

/* Build the private index (allocated in CurrentMemoryContext). */
extern void sp_tokenizer_init(SpTokenizer *tok, int vocab_size, int first_piece,
							  const double *scores, const uint32 *offsets,
							  const uint8 *bytes, size_t nbytes);

/*
 * Token ids of a UTF-8 string, palloc'd; *count receives their number.  With
 * max_tokens > 0 only the first max_tokens ids are returned, and the work
 * stops early once they are known (the result equals the first max_tokens of
 * the full tokenization).
 */
extern int32 *sp_tokenize(const SpTokenizer *tok, const char *utf8, int len,
						  int max_tokens, int *count);

#endif							/* RETRIEVAL_SP_TOKENIZER_H */
