/*-------------------------------------------------------------------------
 *
 * tok_internal.h
 *	  What the files of src/tokenize/ share and nothing outside uses: the
 *	  analyzer struct, the language table, the term sink.
 *
 *	  tokenizer.c     names, validation, the per-backend analyzer cache
 *	  tok_lang.c      languages: Snowball stemmers and stopword lists
 *	  tok_icu.c       the 'icu' tokenizer (NFKC_Casefold + UAX #29 words)
 *	  tok_pg.c        the 'pg:<config>' tokenizer (text search parser and
 *	                  dictionaries)
 *	  tokenize_sql.c  retrieval.tokenize() and retrieval.tokenize_positions()
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_TOK_INTERNAL_H
#define RETRIEVAL_TOK_INTERNAL_H

#include "nodes/pg_list.h"

#include "tokenizer.h"

struct sb_stemmer;

typedef enum TokenizerKind
{
	TOKENIZER_ICU,
	TOKENIZER_PG
} TokenizerKind;

/* One entry of the language table (tok_lang.c). */
typedef struct LanguageDef
{
	const char *name;			/* as users spell it */
	const char *stemmer;		/* libstemmer algorithm, NULL = none */
	const char *stopfile;		/* tsearch_data/<stopfile>.stop, NULL = none */
} LanguageDef;

/* Folded stopwords, sorted by strcmp for binary search. */
typedef struct StopWords
{
	int			nwords;
	char	  **words;
} StopWords;

/*
 * Memo of language_emit's result per token (tok_lang.c): stopword test and
 * stemming are pure functions of the token, and word frequencies are
 * Zipfian, so a small direct-mapped cache answers most tokens.
 */
#define STEM_CACHE_SLOTS 2048	/* power of two */
#define STEM_CACHE_WORD 22		/* longer tokens and stems bypass the cache */

typedef struct StemCacheSlot
{
	uint8		wlen;			/* 0 = empty slot */
	int8		slen;			/* -1 = stopword */
	char		word[STEM_CACHE_WORD];
	char		stem[STEM_CACHE_WORD];
} StemCacheSlot;

struct TextAnalyzer
{
	TokenizerKind kind;
	char	   *tokenizer;		/* the names this analyzer was built for */
	char	   *language;
	const LanguageDef *lang;
	struct sb_stemmer *stemmer; /* NULL = no stemming (malloc'd by
								 * libstemmer, lives as long as the backend) */
	StopWords	stop;			/* nwords = 0: no stopwords */
	StemCacheSlot *stem_cache;	/* NULL when there is neither stemmer nor
								 * stopword list */
	List	   *ts_config_name; /* TOKENIZER_PG: qualified name (String
								 * nodes), resolved on every text_analyzer_get */
	Oid			ts_config;		/* TOKENIZER_PG: as last resolved */
	struct TextAnalyzer *next;	/* cache chain */
};

/*
 * Collects the terms of one text_analyze() call.  Term bytes go into large
 * blocks instead of one palloc per term: a 1 MB text has ~150,000 terms.
 */
typedef struct TermSink
{
	AnalyzedText *out;
	int			capacity;
	char	   *block;			/* current block of term bytes */
	Size		block_free;
} TermSink;

/* tokenizer.c */
extern void term_sink_init(TermSink *sink);
extern void term_sink_add(TermSink *sink, const char *term, int len, int32 position);

/* tok_lang.c */
extern const LanguageDef *language_lookup(const char *name);
extern char *language_names(void);
extern void language_init_analyzer(TextAnalyzer *a);	/* stemmer, stopwords */
extern void language_emit(const TextAnalyzer *a, TermSink *sink,
						  const char *token, int len, int32 position);

/* tok_icu.c */
extern char *icu_fold(const char *text, int len, int *outlen);
extern void icu_analyze(const TextAnalyzer *a, TermSink *sink, const char *text, int len);

/* tok_pg.c */
extern List *pg_config_parse_name(const char *tokenizer);
extern Oid	pg_config_resolve(List *name, const char *tokenizer);
extern void pg_analyze(const TextAnalyzer *a, TermSink *sink, const char *text, int len);

#endif							/* RETRIEVAL_TOK_INTERNAL_H */
