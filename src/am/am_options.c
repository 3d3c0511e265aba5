/*-------------------------------------------------------------------------
 *
 * am_options.c
 *	  Reloptions of the retrieval access method (WITH (...) of CREATE
 *	  INDEX).
 *
 * amoptions() does not see the index's operator class, so every kind's
 * options are declared here, in one place; each kind reads the ones that
 * apply to it.  Range checks happen at CREATE INDEX / ALTER INDEX time
 * through the reloptions machinery, with PostgreSQL's own messages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "utils/rel.h"

#include "retrieval_am.h"

static relopt_kind retrieval_relopt_kind;

/* Accepted values of the quantization option. */
static void
validate_quantization(const char *value)
{
	if (value == NULL)
		return;
	if (strcmp(value, "none") != 0 && strcmp(value, "sq8") != 0 && strcmp(value, "binary") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for quantization option: \"%s\"", value),
				 errdetail("Valid values are \"none\", \"sq8\" and \"binary\".")));
}

/* bm25: names checked as a pair at CREATE INDEX (text_analyzer_check) */
static void
validate_analyzer_name(const char *value)
{
	if (value != NULL && (value[0] == '\0' || strlen(value) >= 128))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid analyzer name \"%s\"", value),
				 errdetail("Tokenizer and language names are 1 to 127 bytes long.")));
}

/* hybrid: a model name as embed() takes it ('' = automatic, 'none') */
static void
validate_model_name(const char *value)
{
	if (value != NULL && strlen(value) >= 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name \"%s\"", value),
				 errdetail("Model names are at most 63 bytes long.")));
}

void
retrieval_options_init(void)
{
	retrieval_relopt_kind = add_reloption_kind();
	add_int_reloption(retrieval_relopt_kind, "m",
					  "Maximum number of graph neighbours per element and layer (twice this on layer 0)",
					  RETRIEVAL_DEFAULT_M, RETRIEVAL_MIN_M, RETRIEVAL_MAX_M, AccessExclusiveLock);
	add_int_reloption(retrieval_relopt_kind, "ef_construction",
					  "Size of the candidate list when building the graph",
					  RETRIEVAL_DEFAULT_EF_CONSTRUCTION, RETRIEVAL_MIN_EF_CONSTRUCTION,
					  RETRIEVAL_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	/*
	 * The default is the fastest mode at recall@10 >= 0.95 in
	 * docs/benchmarks.md: 'none' (sq8 has the same recall and a half to a
	 * quarter of the size, but pays ef_search heap fetches per round for
	 * re-ranking).
	 */
	add_string_reloption(retrieval_relopt_kind, "quantization",
						 "Compact code used for graph traversal: none, sq8 or binary",
						 RETRIEVAL_DEFAULT_QUANTIZATION, validate_quantization, AccessExclusiveLock);
	/* bm25 */
	add_string_reloption(retrieval_relopt_kind, "language",
						 "BM25: stemming and stopwords of this language ('simple' = none)",
						 RETRIEVAL_DEFAULT_LANGUAGE, validate_analyzer_name, AccessExclusiveLock);
	add_string_reloption(retrieval_relopt_kind, "tokenizer",
						 "BM25: 'icu' or 'pg:<text search configuration>'",
						 RETRIEVAL_DEFAULT_TOKENIZER, validate_analyzer_name, AccessExclusiveLock);
	add_real_reloption(retrieval_relopt_kind, "k1", "BM25 term frequency saturation",
					   RETRIEVAL_DEFAULT_K1, 0.0, 100.0, AccessExclusiveLock);
	add_real_reloption(retrieval_relopt_kind, "b", "BM25 document length normalisation",
					   RETRIEVAL_DEFAULT_B, 0.0, 1.0, AccessExclusiveLock);
	add_int_reloption(retrieval_relopt_kind, "buffer_pages",
					  "BM25: write-buffer pages that trigger a flush into a segment",
					  RETRIEVAL_DEFAULT_BUFFER_PAGES, 1, 100000, ShareUpdateExclusiveLock);
	/* hybrid text index (src/fusion/) */
	add_string_reloption(retrieval_relopt_kind, "model",
						 "Text index: embedding model of the dense part ('none' = BM25 only; default: the default model when installed)",
						 "", validate_model_name, AccessExclusiveLock);
	add_real_reloption(retrieval_relopt_kind, "fusion_weight",
					   "Text index: weight of normalised BM25 in the fused distance <=> (1 - weight goes to cosine similarity)",
					   RETRIEVAL_DEFAULT_FUSION_WEIGHT, 0.0, 1.0, ShareUpdateExclusiveLock);
	add_bool_reloption(retrieval_relopt_kind, "embed_lowercase",
					   "Text index: lower-case ASCII letters of the text given to the embedding model",
					   RETRIEVAL_DEFAULT_EMBED_LOWERCASE, AccessExclusiveLock);
	add_bool_reloption(retrieval_relopt_kind, "ngrams",
					   "Text index: also keep an FM-index of the text (n-gram counts, continuations, SEAL)",
					   false, AccessExclusiveLock);
}

bytea *
retrieval_amoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt table[] = {
		{"m", RELOPT_TYPE_INT, offsetof(RetrievalOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(RetrievalOptions, ef_construction)},
		{"quantization", RELOPT_TYPE_STRING, offsetof(RetrievalOptions, quantization_offset)},
		{"language", RELOPT_TYPE_STRING, offsetof(RetrievalOptions, language_offset)},	/* bm25 */
		{"tokenizer", RELOPT_TYPE_STRING, offsetof(RetrievalOptions, tokenizer_offset)},	/* bm25 */
		{"k1", RELOPT_TYPE_REAL, offsetof(RetrievalOptions, k1)},	/* bm25 */
		{"b", RELOPT_TYPE_REAL, offsetof(RetrievalOptions, b)},	/* bm25 */
		{"buffer_pages", RELOPT_TYPE_INT, offsetof(RetrievalOptions, buffer_pages)},	/* bm25 */
		{"model", RELOPT_TYPE_STRING, offsetof(RetrievalOptions, model_offset)},	/* hybrid */
		{"fusion_weight", RELOPT_TYPE_REAL, offsetof(RetrievalOptions, fusion_weight)},	/* hybrid */
		{"embed_lowercase", RELOPT_TYPE_BOOL, offsetof(RetrievalOptions, embed_lowercase)},	/* hybrid */
		{"ngrams", RELOPT_TYPE_BOOL, offsetof(RetrievalOptions, ngrams)},	/* ngram */
	};

	return (bytea *) build_reloptions(reloptions, validate, retrieval_relopt_kind,
									  sizeof(RetrievalOptions), table, lengthof(table));
}

int
retrieval_option_m(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->m : RETRIEVAL_DEFAULT_M;
}

int
retrieval_option_ef_construction(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->ef_construction : RETRIEVAL_DEFAULT_EF_CONSTRUCTION;
}

const char *
retrieval_option_quantization(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	if (opts == NULL || opts->quantization_offset == 0)
		return RETRIEVAL_DEFAULT_QUANTIZATION;
	return (const char *) opts + opts->quantization_offset;
}

/* ---- bm25 ---- */
const char *
retrieval_option_language(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	if (opts == NULL || opts->language_offset == 0)
		return RETRIEVAL_DEFAULT_LANGUAGE;
	return (const char *) opts + opts->language_offset;
}

const char *
retrieval_option_tokenizer(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	if (opts == NULL || opts->tokenizer_offset == 0)
		return RETRIEVAL_DEFAULT_TOKENIZER;
	return (const char *) opts + opts->tokenizer_offset;
}

double
retrieval_option_k1(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->k1 : RETRIEVAL_DEFAULT_K1;
}

double
retrieval_option_b(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->b : RETRIEVAL_DEFAULT_B;
}
int
retrieval_option_buffer_pages(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->buffer_pages : RETRIEVAL_DEFAULT_BUFFER_PAGES;
}
/* ---- end bm25 ---- */

/* ---- hybrid text index ---- */
const char *
retrieval_option_model(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	if (opts == NULL || opts->model_offset == 0)
		return "";
	return (const char *) opts + opts->model_offset;
}

double
retrieval_option_fusion_weight(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->fusion_weight : RETRIEVAL_DEFAULT_FUSION_WEIGHT;
}

bool
retrieval_option_embed_lowercase(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->embed_lowercase : RETRIEVAL_DEFAULT_EMBED_LOWERCASE;
}

bool
retrieval_option_ngrams(Relation index)
{
	RetrievalOptions *opts = (RetrievalOptions *) index->rd_options;

	return opts ? opts->ngrams : false;
}
