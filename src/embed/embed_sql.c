/*-------------------------------------------------------------------------
 *
 * embed_sql.c
 *	  SQL entry points of the embedding engine, for every kind of model.
 *
 *	  retrieval.embed(text [, model]) -> vector
 *	  retrieval.embed(text[] [, model]) -> vector[]      (batched)
 *	  retrieval.model_tokens(text [, model]) -> int[]    (the full tokenization)
 *
 * Without a model name, the default model (USE-lite).  Models are found
 * and loaded by model_registry.c (mapped read-only on first use in a
 * backend, kept for the backend's lifetime); this file converts texts to
 * UTF-8 and batches them into forward passes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "embed_text.h"
#include "model_registry.h"
#include "../vector/vector.h"

/* The model named by argument argno, or the default one without it. */
static const EmbedModel *
model_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno)
		return embed_model_get(NULL);
	return embed_model_get(text_to_cstring(PG_GETARG_TEXT_PP(argno)));
}

/* Token ids of a text datum (all: the whole tokenization). */
static int32 *
text_tokens(const EmbedModel *m, text *t, bool all, int *count)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *utf8 = pg_server_to_any(s, len, PG_UTF8);
	int32	   *ids;

	if (utf8 != s)
		len = strlen(utf8);
	ids = m->tokens(m, utf8, len, all, count);
	if (utf8 != s)
		pfree(utf8);
	return ids;
}

static Vector *
make_vector(const float *x, int dims)
{
	Vector	   *v = vector_new(dims);

	memcpy(v->x, x, dims * sizeof(float));
	return v;
}

static Datum
embed_one(const EmbedModel *m, text *t)
{
	int			n;
	int32	   *ids = text_tokens(m, t, false, &n);
	float	   *out = palloc(m->dims * sizeof(float));
	const int32 *const idv[1] = {ids};

	m->forward(m, 1, idv, &n, out);
	return PointerGetDatum(make_vector(out, m->dims));
}

/*
 * Forward passes over runs of sequences of at most pass_rows tokens.
 * Sequences are packed without padding (embed_ops.c), so no length sorting
 * is needed to avoid wasted work, and each result equals the single-text
 * one bit for bit.
 */
static void
embed_forward_batched(const EmbedModel *m, int nseq, int32 **ids, const int *lens, float *out)
{
	for (int first = 0; first < nseq;)
	{
		int			last = first;
		int			rows = 0;

		while (last < nseq && (last == first || rows + lens[last] <= m->pass_rows))
			rows += lens[last++];
		m->forward(m, last - first, (const int32 *const *) ids + first,
				   lens + first, out + (Size) first * m->dims);
		first = last;
	}
}

/* embed_text.h: texts of the database encoding -> out[n][dims] */
void
embed_texts(const EmbedModel *m, int n, text *const *texts, float *out)
{
	int32	  **ids = palloc(Max(n, 1) * sizeof(int32 *));
	int		   *lens = palloc(Max(n, 1) * sizeof(int));

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		ids[i] = text_tokens(m, texts[i], false, &lens[i]);
	}
	embed_forward_batched(m, n, ids, lens, out);
	for (int i = 0; i < n; i++)
		pfree(ids[i]);
	pfree(ids);
	pfree(lens);
}

PG_FUNCTION_INFO_V1(retrieval_embed);
Datum
retrieval_embed(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_DATUM(embed_one(model_arg(fcinfo, 1), t));
}

PG_FUNCTION_INFO_V1(retrieval_embed_array);
Datum
retrieval_embed_array(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Oid			rettype = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elemtype = OidIsValid(rettype) ? get_element_type(rettype) : InvalidOid;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Datum	   *texts;
	bool	   *nulls;
	int			nitems;
	const EmbedModel *m;
	int32	  **ids;
	int		   *lens;
	int		   *order;
	int			nseq = 0;
	float	   *out;
	Datum	   *result;
	ArrayType  *ret;

	if (!OidIsValid(elemtype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("could not determine the result type of retrieval.embed(text[])")));
	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &texts, &nulls, &nitems);
	result = palloc0(Max(nitems, 1) * sizeof(Datum));
	if (nitems > 0)
	{
		m = model_arg(fcinfo, 1);
		ids = palloc(nitems * sizeof(int32 *));
		lens = palloc(nitems * sizeof(int));
		order = palloc(nitems * sizeof(int));	/* non-NULL items, in order */
		out = palloc_extended((Size) nitems * m->dims * sizeof(float), MCXT_ALLOC_HUGE);

		for (int i = 0; i < nitems; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (nulls[i])
				continue;
			ids[nseq] = text_tokens(m, DatumGetTextPP(texts[i]), false, &lens[nseq]);
			order[nseq++] = i;
		}

		embed_forward_batched(m, nseq, ids, lens, out);
		for (int j = 0; j < nseq; j++)
			result[order[j]] = PointerGetDatum(make_vector(out + (Size) j * m->dims, m->dims));
	}

	ret = construct_md_array(result, nulls, ARR_NDIM(arr), ARR_DIMS(arr), ARR_LBOUND(arr),
							 elemtype, elemlen, elembyval, elemalign);
	PG_RETURN_ARRAYTYPE_P(ret);
}

PG_FUNCTION_INFO_V1(retrieval_model_tokens);
Datum
retrieval_model_tokens(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const EmbedModel *m = model_arg(fcinfo, 1);
	int			n;
	int32	   *ids = text_tokens(m, t, true, &n);
	Datum	   *d = palloc(Max(n, 1) * sizeof(Datum));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}
