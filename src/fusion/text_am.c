/*-------------------------------------------------------------------------
 *
 * text_am.c
 *	  The callbacks of the text kind (operator class text_bm25_ops): a
 *	  BM25-only index goes to src/bm25/, an index with a dense part to the
 *	  hybrid code of this folder.  The one place that tells them apart.
 *
 * Which one an index is was fixed when it was built and is read from its
 * metapage (dense_meta), never from the current options: ALTER INDEX ...
 * SET (model = ...) takes effect at REINDEX.  The same holds for the
 * n-gram part (ngram_meta, src/ngram/), built WITH (ngrams = on) after
 * the rest and maintained beside it; ORDER BY col <%> 'query' scans it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "catalog/index.h"
#include "utils/rel.h"

#include "../embed/model_registry.h"
#include "../hnsw/hnsw.h"
#include "../ngram/ngram.h"
#include "hybrid.h"

bool
text_index_is_hybrid(Relation index)
{
	Bm25MetaData meta;

	bm25_meta_read(index, &meta);
	return meta.dense_meta != 0;
}

static IndexBuildResult *
text_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	const char *model = hybrid_model_for_build(index);
	IndexBuildResult *result;

	if (model == NULL)
		result = bm25_build(heap, index, indexInfo);
	else
		result = hybrid_build(heap, index, indexInfo, model);
	if (retrieval_option_ngrams(index))
	{
		double		nrows;
		BlockNumber metablk = ngram_part_build(heap, index, indexInfo, NGRAM_MODE_BYTES,
											   InvalidBlockNumber, &nrows);

		bm25_meta_set_ngram(index, MAIN_FORKNUM, metablk);
	}
	return result;
}

static void
text_buildempty(Relation index)
{
	const char *model = hybrid_model_for_build(index);

	if (model == NULL)
		bm25_buildempty(index);
	else
		hybrid_buildempty(index, model);
	if (retrieval_option_ngrams(index))
		bm25_meta_set_ngram(index, INIT_FORKNUM,
							ngram_part_buildempty(index, NGRAM_MODE_BYTES));
}

/*
 * A row goes to the graph first (its embedding), then to BM25 under its
 * element's TID.  A row whose embedding is zero (no direction) gets no
 * element and is not indexed at all.
 */
static bool
text_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
			bool indexUnchanged,
#endif
			IndexInfo *indexInfo)
{
	EmbedModelStamp stamp;
	const EmbedModel *model;
	text	   *doc;
	float	   *vec;
	ItemPointerData elemtid;
	Bm25MetaData meta;

	bm25_meta_read(index, &meta);
	if (meta.ngram_meta != 0 && !isnull[0])
		ngram_part_insert(index, meta.ngram_meta, values[0], heap_tid);
	if (meta.dense_meta == 0)
		return bm25_insert(index, values, isnull, heap_tid, heap, checkUnique,
#if PG_VERSION_NUM >= 140000
						   indexUnchanged,
#endif
						   indexInfo);
	if (isnull[0])
		return false;
	hybrid_dense_stamp(index, &stamp);
	model = hybrid_index_model(index, &stamp);
	doc = DatumGetTextPP(values[0]);
	vec = palloc(sizeof(float) * model->dims);
	if (hybrid_embed_query(model,
						   hybrid_embedding_input(doc, (meta.dense_flags & HYBRID_DENSE_LOWERCASE) != 0),
						   vec) &&
		hnsw_insert_vector(index, vec, model->dims, heap_tid, false, &elemtid))
		bm25_insert_document(index, doc, &elemtid);
	pfree(vec);
	return false;
}

static IndexBulkDeleteResult *
text_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Bm25MetaData meta;

	bm25_meta_read(info->index, &meta);
	if (meta.dense_meta != 0)
		stats = hybrid_bulkdelete(info, stats, callback, callback_state);
	else
		stats = bm25_bulkdelete(info, stats, callback, callback_state);
	/* BM25 counted the removed rows */
	if (meta.ngram_meta != 0)
		ngram_part_bulkdelete(info->index, meta.ngram_meta, callback, callback_state, NULL);
	return stats;
}

static IndexBulkDeleteResult *
text_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (text_index_is_hybrid(info->index))
		return hybrid_vacuumcleanup(info, stats);
	return bm25_vacuumcleanup(info, stats);
}

/*
 * Scans.  The kind's own scan state hangs under a TextScan, and is put in
 * scan->opaque while the kind's callback runs.  An error inside leaves it
 * there, which is harmless: a scan that failed is never called again (its
 * memory goes with the aborted (sub)transaction's executor).
 */
typedef struct TextScan
{
	bool		hybrid;
	void	   *inner;
	bool		seal;			/* the current keys order by <%> */
	void	   *seal_state;		/* made on the first <%> rescan */
} TextScan;

static IndexScanDesc
text_beginscan(Relation index, int nkeys, int norderbys)
{
	bool		hybrid = text_index_is_hybrid(index);
	IndexScanDesc scan = hybrid ? hybrid_beginscan(index, nkeys, norderbys)
		: bm25_beginscan(index, nkeys, norderbys);
	TextScan   *ts = palloc0(sizeof(TextScan));

	ts->hybrid = hybrid;
	ts->inner = scan->opaque;
	scan->opaque = ts;
	return scan;
}

static void
text_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	TextScan   *ts = (TextScan *) scan->opaque;

	if (orderbys != NULL && norderbys > 0)
		ts->seal = orderbys[0].sk_strategy == TEXT_STRATEGY_SEAL;
	if (ts->seal)
	{
		retrieval_scan_set_keys(scan, keys, orderbys);
		if (ts->seal_state == NULL)
			ts->seal_state = seal_scan_begin();
		scan->opaque = ts->seal_state;
		seal_scan_rescan(scan);
		scan->opaque = ts;
		return;
	}
	scan->opaque = ts->inner;
	if (ts->hybrid)
		hybrid_rescan(scan, keys, nkeys, orderbys, norderbys);
	else
		bm25_rescan(scan, keys, nkeys, orderbys, norderbys);
	scan->opaque = ts;
}

static bool
text_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	TextScan   *ts = (TextScan *) scan->opaque;
	bool		found;

	if (ts->seal)
	{
		scan->opaque = ts->seal_state;
		found = seal_scan_gettuple(scan, dir);
	}
	else
	{
		scan->opaque = ts->inner;
		found = ts->hybrid ? hybrid_gettuple(scan, dir) : bm25_gettuple(scan, dir);
	}
	scan->opaque = ts;
	return found;
}

static void
text_endscan(IndexScanDesc scan)
{
	TextScan   *ts = (TextScan *) scan->opaque;

	if (ts->seal_state != NULL)
	{
		scan->opaque = ts->seal_state;
		seal_scan_end(scan);
	}
	scan->opaque = ts->inner;
	if (ts->hybrid)
		hybrid_endscan(scan);
	else
		bm25_endscan(scan);
	pfree(ts);
}

const IndexKindRoutine text_routine = {
	.name = "text",
	.build = text_build,
	.buildempty = text_buildempty,
	.insert = text_insert,
	.bulkdelete = text_bulkdelete,
	.vacuumcleanup = text_vacuumcleanup,
	.costestimate = hybrid_costestimate,
	.beginscan = text_beginscan,
	.rescan = text_rescan,
	.gettuple = text_gettuple,
	.endscan = text_endscan,
};
