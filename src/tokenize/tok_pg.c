/*-------------------------------------------------------------------------
 *
 * tok_pg.c
 *	  The 'pg:<ts_config>' tokenizer: a PostgreSQL text search configuration
 *	  (its parser and the dictionaries mapped to each token type) does the
 *	  whole analysis, as to_tsvector does; the language is not used.
 *
 * to_tsvector's own driver (parsetext) cannot be called: it caps positions
 * at 16,383 and skips words of 2,047 bytes or more, and this project has no
 * length caps.  So the dictionary chain is walked here, with the same rules
 * for single-word dictionaries: the dictionaries mapped to the token type
 * are asked in order; a filtering dictionary's (TSL_FILTER) output replaces
 * the token for the next ones; the first that recognises the token decides
 * (an empty answer is a stopword: no term, but the position is used); a
 * token no dictionary recognises, or of an unmapped type (spaces), takes no
 * position; TSL_ADDPOS moves the following lexemes one position on.
 *
 * XXX: multi-word dictionaries (thesaurus: DictSubState.getnext) are not
 * supported; such a dictionary is treated as not recognising the token.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_ts_config.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "tsearch/ts_cache.h"
#include "tsearch/ts_public.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "tok_internal.h"

/* reset the dictionaries' scratch memory every this many tokens */
#define TOKENS_PER_RESET 1024

#define TOKENIZER_HINT "Valid tokenizers are \"icu\" and \"pg:<text search configuration>\"."

/* "pg:public.my_cfg" -> ("public", "my_cfg"), as regconfig input parses it */
List *
pg_config_parse_name(const char *tokenizer)
{
	char	   *raw = pstrdup(tokenizer + 3);
	List	   *parts;
	List	   *name = NIL;
	ListCell   *lc;

	if (raw[0] == '\0' || !SplitIdentifierString(raw, '.', &parts) ||
		list_length(parts) == 0 || list_length(parts) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tokenizer \"%s\"", tokenizer),
				 errdetail("\"pg:\" must be followed by the name of a text search configuration, optionally schema-qualified."),
				 errhint(TOKENIZER_HINT)));
	foreach(lc, parts)
		name = lappend(name, makeString(pstrdup((char *) lfirst(lc))));
	return name;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "english, simple, ..." : the configurations the catalog has */
static char *
config_names(void)
{
	Relation	rel = table_open(TSConfigRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;
	int			n = 0;
	int			capacity = 32;
	char	  **names = palloc(sizeof(char *) * capacity);
	StringInfoData buf;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_ts_config cfg = (Form_pg_ts_config) GETSTRUCT(tup);

		if (n == capacity)
		{
			capacity *= 2;
			names = repalloc(names, sizeof(char *) * capacity);
		}
		names[n++] = pstrdup(NameStr(cfg->cfgname));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	qsort(names, n, sizeof(char *), cmp_names);
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", names[i]);
	return buf.data;
}

Oid
pg_config_resolve(List *name, const char *tokenizer)
{
	Oid			cfg = get_ts_config_oid(name, true);

	if (!OidIsValid(cfg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("text search configuration \"%s\" of tokenizer \"%s\" does not exist",
						NameListToString(name), tokenizer),
				 errhint("Text search configurations in this database: %s.", config_names())));
	return cfg;
}

/* one lexeme (server encoding) -> UTF-8 term */
static void
add_lexeme(TermSink *sink, const char *lexeme, int32 position)
{
	int			len = strlen(lexeme);
	char	   *utf8 = pg_server_to_any(lexeme, len, PG_UTF8);

	if (utf8 != lexeme)
		len = strlen(utf8);
	if (len > 0)
		term_sink_add(sink, utf8, len, position);
	if (utf8 != lexeme)
		pfree(utf8);
}

void
pg_analyze(const TextAnalyzer *a, TermSink *sink, const char *text, int len)
{
	TSConfigCacheEntry *cfg = lookup_ts_config_cache(a->ts_config);
	TSParserCacheEntry *prs = lookup_ts_parser_cache(cfg->prsId);
	char	   *buf;
	int			buflen;
	void	   *prsdata;
	char	   *lemm = NULL;
	int			lenlemm = 0;
	int			type;
	int32		position = 0;
	int			ntokens = 0;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch;

	/* text_analyze gets UTF-8; parsers and dictionaries work in the server encoding */
	buf = pg_any_to_server(text, len, PG_UTF8);
	buflen = (buf == text) ? len : (int) strlen(buf);

	scratch = AllocSetContextCreate(caller, "retrieval pg: tokenizer",
									ALLOCSET_DEFAULT_SIZES);
	prsdata = DatumGetPointer(FunctionCall2(&prs->prsstart,
											PointerGetDatum(buf),
											Int32GetDatum(buflen)));
	while ((type = DatumGetInt32(FunctionCall3(&prs->prstoken,
											   PointerGetDatum(prsdata),
											   PointerGetDatum(&lemm),
											   PointerGetDatum(&lenlemm)))) > 0)
	{
		ListDictionary *map;
		char	   *cur = lemm;
		int			curlen = lenlemm;

		if (++ntokens % TOKENS_PER_RESET == 0)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(scratch);
		}
		if (type >= cfg->lenmap)
			continue;
		map = cfg->map + type;

		MemoryContextSwitchTo(scratch);
		for (int i = 0; i < map->len; i++)
		{
			TSDictionaryCacheEntry *dict = lookup_ts_dictionary_cache(map->dictIds[i]);
			DictSubState state = {false, false, NULL};
			TSLexeme   *res;
			int32		pos;

			res = (TSLexeme *) DatumGetPointer(FunctionCall4(&dict->lexize,
															 PointerGetDatum(dict->dictData),
															 PointerGetDatum(cur),
															 Int32GetDatum(curlen),
															 PointerGetDatum(&state)));
			if (res == NULL || state.getnext)
				continue;		/* not recognised (or a multi-word dictionary) */
			if (res->lexeme != NULL && (res->flags & TSL_FILTER))
			{
				cur = res->lexeme;
				curlen = strlen(cur);
				continue;
			}

			/* recognised: the lexemes (none for a stopword) at this position */
			MemoryContextSwitchTo(caller);
			pos = position;
			for (TSLexeme *lex = res; lex->lexeme != NULL; lex++)
			{
				add_lexeme(sink, lex->lexeme, pos);
				if (lex->flags & TSL_ADDPOS)
					pos++;
			}
			position = pos + 1;
			break;
		}
		MemoryContextSwitchTo(caller);
	}
	FunctionCall1(&prs->prsend, PointerGetDatum(prsdata));
	MemoryContextDelete(scratch);
	if (buf != text)
		pfree(buf);
}
