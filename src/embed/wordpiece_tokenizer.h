/*-------------------------------------------------------------------------
 *
 * wordpiece_tokenizer.h
 *	  The WordPiece tokenizer of BERT-family models, configured from a
 *	  Hugging Face tokenizer.json (BertNormalizer, BertPreTokenizer,
 *	  WordPiece, special tokens of the post-processor, truncation).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_WORDPIECE_TOKENIZER_H
#define RETRIEVAL_WORDPIECE_TOKENIZER_H

#include "postgres.h"

#include "utils/jsonb.h"

#define WP_MAX_SPECIAL 4

typedef struct WordPieceTokenizer
{
	int			vocab_size;		/* largest id + 1 */
	char	   *bytes;			/* the pieces' UTF-8, concatenated */
	uint32	   *offsets;		/* [vocab_size + 1] into bytes */
	int32	   *slots;			/* open addressing over ids, -1 = empty */
	uint32		mask;
	int32		unk_id;
	char	   *prefix;			/* continuing_subword_prefix, e.g. "##" */
	int			prefix_len;
	int			max_word_chars; /* max_input_chars_per_word */
	/* BertNormalizer (all false without a normalizer) */
	bool		clean_text;
	bool		handle_chinese_chars;
	bool		strip_accents;
	bool		lowercase;
	/* post-processor: ids around the sequence (e.g. [CLS] ... [SEP]) */
	int			n_before;
	int			n_after;
	int32		before[WP_MAX_SPECIAL];
	int32		after[WP_MAX_SPECIAL];
	int			truncation;		/* tokenizer.json truncation.max_length, 0 if none */
} WordPieceTokenizer;

/*
 * Configure from a parsed tokenizer.json (ERROR XX001 naming path when it
 * is not a WordPiece tokenizer we reproduce exactly).  Allocations in
 * CurrentMemoryContext.
 */
extern void wordpiece_load(WordPieceTokenizer *wp, JsonbContainer *tokenizer, const char *path);

/*
 * Token ids of UTF-8 text, without special tokens, palloc'd.  With
 * max_tokens > 0 the work stops once max_tokens ids are known and at most
 * that many are returned (equal to the first max_tokens of the whole).
 */
extern int32 *wordpiece_tokenize(const WordPieceTokenizer *wp, const char *utf8, int len,
								 int max_tokens, int *count);

/* The id of a piece, or -1. */
extern int32 wordpiece_lookup(const WordPieceTokenizer *wp, const char *piece, int len);

#endif							/* RETRIEVAL_WORDPIECE_TOKENIZER_H */
