/*-------------------------------------------------------------------------
 *
 * bm25_stats.c
 *	  Corpus statistics of a query against an index: N and avgdl from the
 *	  metapage, the document frequency n of each query term summed over
 *	  the segments' dictionaries and the buffered documents.  Used by the
 *	  index scan and by the per-row operator, so both see the same numbers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bm25.h"

typedef struct DfState
{
	Bm25Query  *q;
} DfState;

static void
buffer_df_visit(void *arg, ItemPointer tid, uint32 length, const Bm25Bag *doc)
{
	Bm25Query  *q = ((DfState *) arg)->q;

	(void) tid;
	(void) length;
	for (int j = 0; j < doc->nterms; j++)
	{
		int			i = bm25_query_find(q, &doc->terms[j]);

		/* a document's terms are distinct: each query term counts once */
		if (i >= 0)
			q->df[i]++;
	}
}

/* Fill q->df, ndocs, avgdl and the idfs; q->bag must be set. */
void
bm25_query_stats(Relation index, const Bm25MetaData *meta, Bm25Query *q)
{
	DfState		st;

	q->df = palloc0(sizeof(uint32) * Max(q->bag.nterms, 1));
	bm25_query_index_terms(q);
	q->ndocs = (float8) Max(meta->ndocs, 0);
	q->avgdl = meta->ndocs > 0 ? (float8) meta->total_length / (float8) meta->ndocs : 0.0;
	/* only reachable for documents that are not in the index */
	if (q->avgdl <= 0)
		q->avgdl = 1.0;

	if (q->bag.nterms > 0)
	{
		for (uint32 s = 0; s < meta->nsegments; s++)
		{
			Bm25Reader	r;
			Bm25SegmentHeader hdr;

			bm25_reader_init(&r, index, &meta->segments[s]);
			bm25_segment_header(&r, &hdr);
			for (int i = 0; i < q->bag.nterms; i++)
			{
				Bm25TermInfo info;

				bm25_segment_lookup(&r, &hdr, q->bag.terms[i].term, q->bag.terms[i].len,
									q->bag.terms[i].hash, &info);
				if (info.found)
					q->df[i] += info.df;
			}
			bm25_reader_end(&r);
		}
		st.q = q;
		if (BlockNumberIsValid(meta->sealed_head))
			bm25_buffer_scan(index, meta->sealed_head, true, buffer_df_visit, &st);
		if (BlockNumberIsValid(meta->buffer_head))
			bm25_buffer_scan(index, meta->buffer_head, true, buffer_df_visit, &st);
	}
	bm25_query_prepare(q, meta);
}

/* Analyze a query text with the index's analyzer and fill its statistics. */
void
bm25_query_for_text(Relation index, const Bm25MetaData *meta, const char *qtext, int qlen,
					Bm25Query *q)
{
	Bm25Bag    *bag = bm25_analyze(meta, qtext, qlen);

	memset(q, 0, sizeof(Bm25Query));
	q->bag = *bag;
	bm25_query_stats(index, meta, q);
}
