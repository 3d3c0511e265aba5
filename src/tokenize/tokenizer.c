/*-------------------------------------------------------------------------
 *
 * tokenizer.c
 *	  The public face of src/tokenize/ (tokenizer.h): what names a valid
 *	  analyzer, the per-backend cache of built analyzers, and dispatch to the
 *	  'icu' or 'pg:' tokenizer.  Also the term sink both tokenizers fill.
 *
 * Building an analyzer reads a stopword file and creates a Snowball stemmer,
 * so it is done once per (tokenizer, language) pair and backend and kept in
 * its own memory context under TopMemoryContext.  The cache is never
 * evicted: there are a few dozen possible pairs at most (one per language
 * for 'icu', plus the pg: configurations actually used).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/nodes.h"
#include "utils/memutils.h"

#include "tok_internal.h"

/* Term bytes are copied into blocks of this size (larger terms get their own). */
#define TERM_BLOCK_SIZE 65536

#define TOKENIZER_HINT "Valid tokenizers are \"icu\" and \"pg:<text search configuration>\"."

static TextAnalyzer *analyzer_cache = NULL;
static MemoryContext analyzer_cxt = NULL;

/*
 * Validate the pair; return the language (always) and, for 'pg:', the
 * parsed configuration name.  ERROR with a hint when invalid.
 */
static const LanguageDef *
check_names(const char *tokenizer, const char *language, TokenizerKind *kind,
			List **config_name)
{
	const LanguageDef *lang;

	*config_name = NIL;
	if (strcmp(tokenizer, "icu") == 0)
		*kind = TOKENIZER_ICU;
	else if (strncmp(tokenizer, "pg:", 3) == 0)
	{
		*kind = TOKENIZER_PG;
		*config_name = pg_config_parse_name(tokenizer);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized tokenizer \"%s\"", tokenizer),
				 errhint(TOKENIZER_HINT)));

	/*
	 * The language is validated for 'pg:' too, although the configuration
	 * decides stemming and stopwords there: a misspelt name should not pass
	 * silently just because it happens to be unused.
	 */
	lang = language_lookup(language);
	if (lang == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized language \"%s\"", language),
				 errhint("Valid languages are: %s.", language_names())));
	return lang;
}

void
text_analyzer_check(const char *tokenizer, const char *language)
{
	TokenizerKind kind;
	List	   *config_name;

	check_names(tokenizer, language, &kind, &config_name);
	if (kind == TOKENIZER_PG)
		(void) pg_config_resolve(config_name, tokenizer);
}

static TextAnalyzer *
build_analyzer(const char *tokenizer, const char *language)
{
	TokenizerKind kind;
	List	   *config_name;
	const LanguageDef *lang;
	MemoryContext cxt;
	TextAnalyzer *volatile a = NULL;

	lang = check_names(tokenizer, language, &kind, &config_name);
	/* only configurations that exist get a cache entry (bounded cache) */
	if (kind == TOKENIZER_PG)
		(void) pg_config_resolve(config_name, tokenizer);

	if (analyzer_cxt == NULL)
		analyzer_cxt = AllocSetContextCreate(TopMemoryContext,
											 "retrieval text analyzers",
											 ALLOCSET_SMALL_SIZES);

	/*
	 * Each analyzer gets its own context so that a failure half-way (an
	 * unreadable stopword file) frees everything built so far.
	 */
	cxt = AllocSetContextCreate(analyzer_cxt, "retrieval text analyzer",
								ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		TextAnalyzer *n = palloc0(sizeof(TextAnalyzer));

		n->kind = kind;
		n->tokenizer = pstrdup(tokenizer);
		n->language = pstrdup(language);
		n->lang = lang;
		if (kind == TOKENIZER_PG)
		{
			n->ts_config_name = (List *) copyObjectImpl(config_name);
			n->ts_config = InvalidOid;
		}
		else
			language_init_analyzer(n);	/* last: the stemmer is malloc'd */
		MemoryContextSwitchTo(old);
		a = n;
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return a;
}

TextAnalyzer *
text_analyzer_get(const char *tokenizer, const char *language)
{
	TextAnalyzer *a;

	for (a = analyzer_cache; a != NULL; a = a->next)
		if (strcmp(a->tokenizer, tokenizer) == 0 && strcmp(a->language, language) == 0)
			break;
	if (a == NULL)
	{
		a = build_analyzer(tokenizer, language);
		a->next = analyzer_cache;
		analyzer_cache = a;
	}

	/*
	 * A configuration can be dropped and re-created, and an unqualified name
	 * follows search_path, so the name is resolved on every call (a syscache
	 * lookup), never cached as an OID across calls.
	 */
	if (a->kind == TOKENIZER_PG)
		a->ts_config = pg_config_resolve(a->ts_config_name, a->tokenizer);
	return a;
}

AnalyzedText *
text_analyze(TextAnalyzer *analyzer, const char *text, int len)
{
	TermSink	sink;

	Assert(len >= 0);
	term_sink_init(&sink);
	if (len > 0)
	{
		if (analyzer->kind == TOKENIZER_ICU)
			icu_analyze(analyzer, &sink, text, len);
		else
			pg_analyze(analyzer, &sink, text, len);
	}
	return sink.out;
}

/* ---- term sink ---- */

void
term_sink_init(TermSink *sink)
{
	sink->out = palloc(sizeof(AnalyzedText));
	sink->out->nterms = 0;
	sink->capacity = 64;
	sink->out->terms = palloc(sizeof(AnalyzedTerm) * sink->capacity);
	sink->block = NULL;
	sink->block_free = 0;
}

void
term_sink_add(TermSink *sink, const char *term, int len, int32 position)
{
	AnalyzedText *out = sink->out;
	AnalyzedTerm *t;
	char	   *copy;

	if (out->nterms == sink->capacity)
	{
		/* huge: a 1 GB text can have more terms than MaxAllocSize allows */
		sink->capacity *= 2;
		out->terms = repalloc_huge(out->terms, sizeof(AnalyzedTerm) * (Size) sink->capacity);
	}
	if ((Size) len + 1 > sink->block_free)
	{
		if ((Size) len + 1 > TERM_BLOCK_SIZE / 4)
			copy = palloc_extended((Size) len + 1, MCXT_ALLOC_HUGE);	/* a long term: its own chunk */
		else
		{
			sink->block = palloc(TERM_BLOCK_SIZE);
			sink->block_free = TERM_BLOCK_SIZE;
			copy = NULL;
		}
	}
	else
		copy = NULL;
	if (copy == NULL)
	{
		copy = sink->block;
		sink->block += len + 1;
		sink->block_free -= len + 1;
	}
	memcpy(copy, term, len);
	copy[len] = '\0';

	t = &out->terms[out->nterms++];
	t->term = copy;
	t->len = len;
	t->position = position;
}
