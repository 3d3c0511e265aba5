/*-------------------------------------------------------------------------
 *
 * tokenizer_placeholder.c
 *	  XXX THROWAWAY placeholder of the text analyzer (src/tokenize/
 *	  tokenizer.h) so that the BM25 index can be built and tested before
 *	  the real ICU/Snowball analyzer lands on main.  Delete this file (and
 *	  its line in the Makefile's bm25 section) when it does.
 *
 * Behaviour: ASCII letters are lower-cased; a token is a maximal run of
 * ASCII letters, digits or non-ASCII bytes; no stemming, no stopwords.
 * Accepted names: tokenizer 'icu' or 'pg:<anything>'; languages from a
 * fixed list.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "tokenizer.h"

struct TextAnalyzer
{
	int			unused;
};

static const char *const languages[] = {
	"simple", "english", "german", "french", "spanish", "italian", "dutch",
	"portuguese", "russian", "swedish", "danish", "finnish", "norwegian", "chinese", NULL
};

void
text_analyzer_check(const char *tokenizer, const char *language)
{
	bool		ok = false;

	if (tokenizer == NULL || (strcmp(tokenizer, "icu") != 0 && strncmp(tokenizer, "pg:", 3) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tokenizer \"%s\"", tokenizer ? tokenizer : ""),
				 errhint("Valid values are \"icu\" and \"pg:<text search configuration>\".")));
	for (int i = 0; language && languages[i]; i++)
		if (strcmp(language, languages[i]) == 0)
			ok = true;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid language \"%s\"", language ? language : ""),
				 errhint("Valid values are \"simple\", \"english\", \"german\", \"french\" and other Snowball languages.")));
}

TextAnalyzer *
text_analyzer_get(const char *tokenizer, const char *language)
{
	static TextAnalyzer analyzer;

	text_analyzer_check(tokenizer, language);
	return &analyzer;
}

static inline bool
is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

AnalyzedText *
text_analyze(TextAnalyzer *analyzer, const char *text, int len)
{
	AnalyzedText *result = palloc(sizeof(AnalyzedText));
	int			cap = 16;
	int			i = 0;

	(void) analyzer;
	result->nterms = 0;
	result->terms = palloc(sizeof(AnalyzedTerm) * cap);
	while (i < len)
	{
		int			start;
		char	   *term;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!is_word_byte((unsigned char) text[i]))
		{
			i++;
			continue;
		}
		start = i;
		while (i < len && is_word_byte((unsigned char) text[i]))
			i++;
		term = palloc(i - start + 1);
		for (int j = 0; j < i - start; j++)
		{
			char		c = text[start + j];

			term[j] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
		}
		term[i - start] = '\0';
		if (result->nterms == cap)
		{
			cap *= 2;
			result->terms = repalloc_huge(result->terms, sizeof(AnalyzedTerm) * cap);
		}
		result->terms[result->nterms].term = term;
		result->terms[result->nterms].len = i - start;
		result->terms[result->nterms].position = result->nterms;
		result->nterms++;
	}
	return result;
}
