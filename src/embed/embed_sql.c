/*-------------------------------------------------------------------------
 *
 * embed_sql.c
 *	  SQL entry points of the embedding engine, and the per-backend cache of
 *	  the default model.
 *
 *	  retrieval.embed(text) -> vector(512)
 *	  retrieval.embed(text[]) -> vector[]      (batched)
 *	  retrieval.model_tokens(text) -> int[]    (the full tokenization)
 *
 * The model is loaded on first use in a backend: the file is mapped
 * read-only (shared page cache) and only the tokenizer's small index is
 * private; both live for the backend's lifetime (TopMemoryContext).  Nothing
 * is ever downloaded here: a missing file is an error that says how to
 * install it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "use_lite.h"
#include "../vector/vector.h"

/*
 * Upper bound on the tokens of one forward pass: one maximal text.  Bounds
 * activation memory (2.5 MB); larger passes measured slower (the
 * activations of a 1536-wide layer no longer fit in L2).
 */
#define EMBED_BATCH_ROWS USE_LITE_MAX_TOKENS

#define MODEL_MISSING_HINT \
	"The default model is fetched and installed at build time: run \"make model && make install\" " \
	"in the retrieval source tree (needs npm and access to the npm registry)."

static UseLiteModel *default_model = NULL;

static const UseLiteModel *
get_default_model(void)
{
	if (default_model == NULL)
	{
		char		share[MAXPGPATH];
		char		path[MAXPGPATH];
		MemoryContext old;
		UseLiteModel *m;

		get_share_path(my_exec_path, share);
		snprintf(path, sizeof(path), "%s/extension/retrieval/models/use-lite/model.rmdl", share);

		old = MemoryContextSwitchTo(TopMemoryContext);
		m = palloc0(sizeof(UseLiteModel));
		PG_TRY();
		{
			use_lite_load(m, path, MODEL_MISSING_HINT);
		}
		PG_CATCH();
		{
			/* do not leak the mapping of a file that failed validation */
			if (m->file.base)
				munmap((void *) m->file.base, m->file.size);
			MemoryContextSwitchTo(old);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		default_model = m;
	}
	return default_model;
}

/* Token ids of a text datum, as the model sees them (max_tokens 0: all). */
static int32 *
tokenize_text(const UseLiteModel *m, text *t, int max_tokens, int *count)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *utf8 = pg_server_to_any(s, len, PG_UTF8);
	int32	   *ids;

	if (utf8 != s)
		len = strlen(utf8);
	ids = sp_tokenize(&m->tokenizer, utf8, len, max_tokens, count);
	if (utf8 != s)
		pfree(utf8);
	return ids;
}

/* The ids embed() feeds the network: at most 128, and [0] for empty text. */
static int32 *
embed_ids(const UseLiteModel *m, text *t, int *count)
{
	int32	   *ids = tokenize_text(m, t, USE_LITE_MAX_TOKENS, count);

	if (*count == 0)
	{
		ids[0] = 0;
		*count = 1;
	}
	return ids;
}

static Vector *
make_vector(const float *x)
{
	Vector	   *v = vector_new(USE_LITE_DIMS);

	memcpy(v->x, x, USE_LITE_DIMS * sizeof(float));
	return v;
}

PG_FUNCTION_INFO_V1(retrieval_embed);
Datum
retrieval_embed(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const UseLiteModel *m = get_default_model();
	int			n;
	int32	   *ids = embed_ids(m, t, &n);
	float		out[USE_LITE_DIMS];
	const int32 *const idv[1] = {ids};

	use_lite_forward(m, 1, idv, &n, out);
	PG_RETURN_VECTOR_P(make_vector(out));
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
	const UseLiteModel *m;
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
		m = get_default_model();
		ids = palloc(nitems * sizeof(int32 *));
		lens = palloc(nitems * sizeof(int));
		order = palloc(nitems * sizeof(int));	/* non-NULL items, in order */
		out = palloc((Size) nitems * USE_LITE_DIMS * sizeof(float));

		for (int i = 0; i < nitems; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (nulls[i])
				continue;
			ids[nseq] = embed_ids(m, DatumGetTextPP(texts[i]), &lens[nseq]);
			order[nseq++] = i;
		}

		/*
		 * Forward passes over runs of sequences of at most EMBED_BATCH_ROWS
		 * tokens.  Sequences are packed without padding (use_lite.c), so no
		 * length sorting is needed to avoid wasted work.
		 */
		for (int first = 0; first < nseq;)
		{
			int			last = first;
			int			rows = 0;

			while (last < nseq && (last == first || rows + lens[last] <= EMBED_BATCH_ROWS))
				rows += lens[last++];
			use_lite_forward(m, last - first, (const int32 *const *) ids + first,
							 lens + first, out + (Size) first * USE_LITE_DIMS);
			first = last;
		}
		for (int j = 0; j < nseq; j++)
			result[order[j]] = PointerGetDatum(make_vector(out + (Size) j * USE_LITE_DIMS));
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
	const UseLiteModel *m = get_default_model();
	int			n;
	int32	   *ids = tokenize_text(m, t, 0, &n);
	Datum	   *d = palloc(Max(n, 1) * sizeof(Datum));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}
