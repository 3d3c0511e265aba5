/*-------------------------------------------------------------------------
 *
 * tokenizer.h
 *	  The project's one text analyzer: text -> the terms that are indexed,
 *	  scored and looked up.  Used by the BM25 index (documents and queries),
 *	  retrieval.tokenize(), and later the n-gram index.  Nothing else in the
 *	  project splits, folds or stems text.
 *
 * An analyzer is named by two strings, exactly as the index reloptions and
 * the SQL functions spell them:
 *	  tokenizer: 'icu' (Unicode word boundaries, dictionary segmentation for
 *				 CJK and Thai, NFKC case folding) or 'pg:<ts_config>'
 *				 (delegate to a PostgreSQL text search configuration);
 *	  language:  stemming and stopwords ('simple' = neither).
 *
 * Analyzers are built once per backend and cached; the same names give the
 * same terms for the same text in every backend (the index relies on it).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_TOKENIZER_H
#define RETRIEVAL_TOKENIZER_H

#include "postgres.h"

typedef struct TextAnalyzer TextAnalyzer;	/* opaque */

typedef struct AnalyzedTerm
{
	char	   *term;			/* NUL-terminated UTF-8 after folding and
								 * stemming */
	int			len;			/* strlen(term) */
	int32		position;		/* 0-based token position in the text;
								 * dropped tokens (stopwords) still use one */
} AnalyzedTerm;

typedef struct AnalyzedText
{
	int			nterms;			/* terms kept: the BM25 document length */
	AnalyzedTerm *terms;		/* in text order */
} AnalyzedText;

/*
 * ERROR (ERRCODE_INVALID_PARAMETER_VALUE, with a hint listing the valid
 * values) unless the pair names an analyzer.  Safe to call from reloption
 * validation.
 */
extern void text_analyzer_check(const char *tokenizer, const char *language);

/* The cached analyzer for the pair (ERROR as above when invalid). */
extern TextAnalyzer *text_analyzer_get(const char *tokenizer, const char *language);

/*
 * Analyze len bytes of UTF-8 text (need not be NUL-terminated).  The result
 * and its terms are palloc'd in CurrentMemoryContext.  No length limits:
 * every token of the text is returned.  CHECK_FOR_INTERRUPTS inside.
 */
extern AnalyzedText *text_analyze(TextAnalyzer *analyzer, const char *text, int len);

#endif							/* RETRIEVAL_TOKENIZER_H */
