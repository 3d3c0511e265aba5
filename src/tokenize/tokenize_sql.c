/*-------------------------------------------------------------------------
 *
 * tokenize_sql.c
 *	  SQL entry points of the text analyzer, for inspection:
 *
 *	  retrieval.tokenize(text, language, tokenizer) -> text[]
 *	  retrieval.tokenize_positions(text, language, tokenizer)
 *		  -> TABLE (position integer, term text)
 *
 * The analyzer works in UTF-8 (tokenizer.h); text is converted from and to
 * the database encoding here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "tokenizer.h"

PG_FUNCTION_INFO_V1(retrieval_tokenize);
PG_FUNCTION_INFO_V1(retrieval_tokenize_positions);

static AnalyzedText *
analyze_args(FunctionCallInfo fcinfo)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	char	   *language = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *tokenizer = text_to_cstring(PG_GETARG_TEXT_PP(2));
	TextAnalyzer *analyzer = text_analyzer_get(tokenizer, language);
	int			len = VARSIZE_ANY_EXHDR(doc);
	char	   *utf8 = pg_server_to_any(VARDATA_ANY(doc), len, PG_UTF8);

	if (utf8 != VARDATA_ANY(doc))
		len = strlen(utf8);
	return text_analyze(analyzer, utf8, len);
}

/* a UTF-8 term as a text datum in the database encoding */
static text *
term_text(const AnalyzedTerm *t)
{
	char	   *s = pg_any_to_server(t->term, t->len, PG_UTF8);

	return cstring_to_text_with_len(s, s == t->term ? t->len : (int) strlen(s));
}

Datum
retrieval_tokenize(PG_FUNCTION_ARGS)
{
	AnalyzedText *res = analyze_args(fcinfo);
	Datum	   *elems;

	if (res->nterms == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	elems = palloc_extended(sizeof(Datum) * (Size) res->nterms, MCXT_ALLOC_HUGE);
	for (int i = 0; i < res->nterms; i++)
		elems[i] = PointerGetDatum(term_text(&res->terms[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, res->nterms, TEXTOID, -1, false, TYPALIGN_INT));
}

Datum
retrieval_tokenize_positions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AnalyzedText *res;

	InitMaterializedSRF(fcinfo, 0);
	res = analyze_args(fcinfo);
	for (int i = 0; i < res->nterms; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(res->terms[i].position);
		values[1] = PointerGetDatum(term_text(&res->terms[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
