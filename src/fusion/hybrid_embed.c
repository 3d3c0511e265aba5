/*-------------------------------------------------------------------------
 *
 * hybrid_embed.c
 *	  The embedding model of a hybrid text index: which one a build uses,
 *	  checking that it is still the one the index was built with, and
 *	  embedding rows (batched, for the build) and queries.
 *
 * Rows and queries go through embed_texts(), the code path of
 * retrieval.embed(), so the vectors in the index are bit for bit the ones
 * the per-row operators compute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "../embed/embed_text.h"
#include "../embed/model_registry.h"
#include "../hnsw/hnsw_build.h"
#include "hybrid.h"

/* texts embedded per forward-pass batch during a build */
#define HYBRID_BUILD_BATCH	32

/*
 * The model a build of this index uses, from the option `model`, or NULL
 * for a BM25-only index.  '' (the default) means the default model when
 * it is installed; 'none' means no dense part.
 */
const char *
hybrid_model_for_build(Relation index)
{
	const char *name = retrieval_option_model(index);

	if (strcmp(name, "none") == 0)
		return NULL;
	if (name[0] == '\0')
	{
		if (embed_model_fingerprint(NULL) == NULL)
		{
			ereport(NOTICE,
					(errmsg("index \"%s\" has no embeddings: the default embedding model is not installed",
							RelationGetRelationName(index)),
					 errdetail("The index ranks by BM25 only; <~> and <=> need embeddings."),
					 errhint("Install the model (make model && make install) and REINDEX, or create the index WITH (model = 'none') to silence this notice.")));
			return NULL;
		}
		return EMBED_DEFAULT_MODEL;
	}
	/* load it now: a missing or changed model is an error before any work */
	(void) embed_model_get(name);
	return name;
}

/* The stamp of the dense part's model (block 1). */
void
hybrid_dense_stamp(Relation index, EmbedModelStamp *stamp)
{
	HnswMetaData meta;

	hnsw_meta_read(index, &meta);
	*stamp = meta.model;
}

/*
 * The model of an index's dense part, after checking it is still the one
 * the index was built with (ERROR 55000 with a REINDEX hint otherwise).
 */
const EmbedModel *
hybrid_index_model(Relation index, const EmbedModelStamp *stamp)
{
	char		name[sizeof(stamp->name)];

	if (!(stamp->flags & EMBED_STAMP_RECORDED))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has embeddings but records no model",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
	embed_stamp_check(index, stamp);
	strlcpy(name, stamp->name, sizeof(name));
	return embed_model_get(name);
}

/* Embed one query; false when the embedding has no direction (zero). */
bool
hybrid_embed_query(const EmbedModel *model, text *query, float *out)
{
	double		norm = 0.0;

	embed_texts(model, 1, &query, out);
	for (int i = 0; i < model->dims; i++)
		norm += (double) out[i] * out[i];
	return norm > 0.0;
}

/* ------------------------------------------------------------------------
 * The build's row source: texts in, embeddings out, in batches
 * ------------------------------------------------------------------------
 */
typedef struct EmbedSource
{
	HnswRowSource base;
	const EmbedModel *model;
	MemoryContext batch_context;
	int			n;
	text	   *texts[HYBRID_BUILD_BATCH];
	ItemPointerData tids[HYBRID_BUILD_BATCH];
	float	   *out;
} EmbedSource;

static void
embed_flush(EmbedSource *es, HnswBuildState *bs)
{
	MemoryContext old;

	if (es->n == 0)
		return;
	old = MemoryContextSwitchTo(es->batch_context);
	embed_texts(es->model, es->n, es->texts, es->out);
	MemoryContextSwitchTo(bs->tuple_context);
	for (int i = 0; i < es->n; i++)
	{
		hnsw_build_add_vector(bs, &es->tids[i], es->out + (Size) i * es->model->dims,
							  es->model->dims);
		MemoryContextReset(bs->tuple_context);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(es->batch_context);
	es->n = 0;
}

static void
embed_add(HnswRowSource *src, HnswBuildState *bs, ItemPointer tid, Datum value)
{
	EmbedSource *es = (EmbedSource *) src;
	MemoryContext old = MemoryContextSwitchTo(es->batch_context);

	es->texts[es->n] = (text *) PG_DETOAST_DATUM_COPY(value);
	es->tids[es->n++] = *tid;
	MemoryContextSwitchTo(old);
	if (es->n == HYBRID_BUILD_BATCH)
		embed_flush(es, bs);
}

static void
embed_finish(HnswRowSource *src, HnswBuildState *bs)
{
	embed_flush((EmbedSource *) src, bs);
}

/*
 * The rows of a hybrid text index for the HNSW build (leader and parallel
 * workers alike): each resolves the model from the index's options, which
 * name the same model in every participant.
 */
HnswRowSource *
hybrid_embed_source(Relation index)
{
	EmbedSource *es = palloc0(sizeof(EmbedSource));
	const char *name = hybrid_model_for_build(index);

	if (name == NULL)
		elog(ERROR, "index \"%s\" has no embedding model", RelationGetRelationName(index));
	es->model = embed_model_get(name);
	es->base.dims = es->model->dims;
	es->base.add = embed_add;
	es->base.finish = embed_finish;
	es->batch_context = AllocSetContextCreate(CurrentMemoryContext, "retrieval hybrid embed batch",
											  ALLOCSET_DEFAULT_SIZES);
	es->out = palloc(sizeof(float) * HYBRID_BUILD_BATCH * es->model->dims);
	return &es->base;
}
