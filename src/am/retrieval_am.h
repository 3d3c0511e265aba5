/*-------------------------------------------------------------------------
 *
 * retrieval_am.h
 *	  The retrieval index access method: one AM, several index kinds.
 *
 * The operator class of the indexed column decides the kind of index
 * (HNSW graph for vector columns; the BM25 inverted index for text columns
 * arrives with the text operator classes).  Every operator class has a
 * support function 1, `retrieval_*_support(internal) RETURNS int`, whose
 * result identifies the kind and, for vectors, the distance metric.  The
 * AM handler resolves it once per relcache entry and forwards each AM
 * callback to that kind's routine table: this header is the only place
 * that knows which kinds exist.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_AM_H
#define RETRIEVAL_AM_H

#include "postgres.h"

#include "access/amapi.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/relcache.h"

/* Values returned by the operator classes' support function 1. */
typedef enum RetrievalOpclassCode
{
	OPCLASS_VECTOR_L2 = 1,
	OPCLASS_VECTOR_IP = 2,
	OPCLASS_VECTOR_COSINE = 3
} RetrievalOpclassCode;

/*
 * bm25: text_bm25_ops.  A macro, not an enumerator, so that the HNSW
 * switches over the vector codes stay exhaustive (-Wswitch).
 */
#define OPCLASS_TEXT_BM25	((RetrievalOpclassCode) 4)
/* ngram: int4[] ngram_ops (src/ngram/) */
#define OPCLASS_INT4_NGRAM	((RetrievalOpclassCode) 5)

typedef enum IndexKind
{
	INDEX_KIND_HNSW = 1,
	INDEX_KIND_BM25 = 2,
	INDEX_KIND_NGRAM = 3
} IndexKind;

#define RETRIEVAL_SUPPORT_PROC	1
#define RETRIEVAL_NUM_SUPPORT	1

/* Callbacks each index kind implements. */
typedef struct IndexKindRoutine
{
	const char *name;
	ambuild_function build;
	ambuildempty_function buildempty;
	aminsert_function insert;
	ambulkdelete_function bulkdelete;
	amvacuumcleanup_function vacuumcleanup;
	amcostestimate_function costestimate;
	ambeginscan_function beginscan;
	amrescan_function rescan;
	amgettuple_function gettuple;
	amendscan_function endscan;
} IndexKindRoutine;

/* Reloptions of every kind (amoptions cannot see the operator class). */
typedef struct RetrievalOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;
	int			ef_construction;
	int			quantization_offset;	/* string option */
	/* bm25 */
	int			language_offset;	/* string option */
	int			tokenizer_offset;	/* string option */
	double		k1;
	double		b;
	int			buffer_pages;
	/* hybrid text index */
	int			model_offset;	/* string option */
	double		fusion_weight;
	bool		embed_lowercase;
	/* n-gram part of a text index */
	bool		ngrams;
} RetrievalOptions;

#define RETRIEVAL_DEFAULT_M					16
#define RETRIEVAL_MIN_M						2
#define RETRIEVAL_MAX_M						100
#define RETRIEVAL_DEFAULT_EF_CONSTRUCTION	64
#define RETRIEVAL_MIN_EF_CONSTRUCTION		4
#define RETRIEVAL_MAX_EF_CONSTRUCTION		1000
#define RETRIEVAL_DEFAULT_QUANTIZATION		"none"
/* bm25 */
#define RETRIEVAL_DEFAULT_LANGUAGE			"english"
#define RETRIEVAL_DEFAULT_TOKENIZER			"icu"
#define RETRIEVAL_DEFAULT_K1				1.2
#define RETRIEVAL_DEFAULT_B					0.75
#define RETRIEVAL_DEFAULT_BUFFER_PAGES		32
/* hybrid text index: chosen on SciFact's train queries (docs/benchmarks.md) */
#define RETRIEVAL_DEFAULT_FUSION_WEIGHT		0.8
/* hybrid text index: ASCII letters lower-cased before embedding (docs/benchmarks.md) */
#define RETRIEVAL_DEFAULT_EMBED_LOWERCASE	true

/* am_options.c */
extern void retrieval_options_init(void);
extern bytea *retrieval_amoptions(Datum reloptions, bool validate);
extern int	retrieval_option_m(Relation index);
extern int	retrieval_option_ef_construction(Relation index);
extern const char *retrieval_option_quantization(Relation index);
extern const char *retrieval_option_language(Relation index);	/* bm25 */
extern const char *retrieval_option_tokenizer(Relation index);	/* bm25 */
extern double retrieval_option_k1(Relation index); /* bm25 */
extern double retrieval_option_b(Relation index);	/* bm25 */
extern int	retrieval_option_buffer_pages(Relation index);	/* bm25 */
extern const char *retrieval_option_model(Relation index);	/* hybrid */
extern double retrieval_option_fusion_weight(Relation index);	/* hybrid */
extern bool retrieval_option_embed_lowercase(Relation index);	/* hybrid */
extern bool retrieval_option_ngrams(Relation index);	/* ngram */

/* am_handler.c */
extern RetrievalOpclassCode retrieval_opclass_code(Relation index);
extern RetrievalOpclassCode retrieval_opclass_code_by_oid(Oid indexoid);
extern void retrieval_build_progress_total(Relation heap);

/* am_scan.c */
extern IndexScanDesc retrieval_scan_begin(Relation index, int nkeys, int norderbys);
extern void retrieval_scan_set_keys(IndexScanDesc scan, ScanKey keys, ScanKey orderbys);

/* am_validate.c */
extern bool retrieval_amvalidate(Oid opclassoid);

/* kind routines */
extern const IndexKindRoutine hnsw_routine;
extern const IndexKindRoutine bm25_routine;
extern const IndexKindRoutine text_routine;	/* BM25, with or without a dense part */
extern const IndexKindRoutine ngram_routine;	/* int4[] ngram_ops */

#endif							/* RETRIEVAL_AM_H */
