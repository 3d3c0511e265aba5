/*-------------------------------------------------------------------------
 *
 * bm25_stream.c
 *	  Documents in BM25 score order, as many as the caller wants.
 *
 * The first call computes the exact top-k (bm25_topk.c) with the caller's
 * first k (BM25_STREAM_FIRST_K for a plain BM25 scan: a LIMIT 10 query
 * computes exactly its top 10); when the caller wants more rows (a WHERE
 * clause rejected some, there is no LIMIT, or the hybrid scan needs a
 * deeper list), the top-k is computed again with 4 x k and the documents
 * not returned yet are streamed in order; a hash set of returned TIDs
 * guarantees each document is returned once even if the index changed in
 * between.  Only
 * documents containing at least one query term are returned (score > 0).
 * The order is score descending, then TID ascending (a total order: a
 * larger k's list extends the smaller one's).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "bm25.h"

/*
 * Set up a stream in CurrentMemoryContext, which must outlive it; first_k is
 * the size of the first batch (at least 1).
 */
void
bm25_stream_init(Bm25Stream *s, Relation index, const Bm25MetaData *meta, Bm25Query *query,
				 int first_k)
{
	HASHCTL		ctl;

	memset(s, 0, sizeof(Bm25Stream));
	s->first_k = Max(first_k, 1);
	s->index = index;
	s->meta = meta;
	s->query = query;
	s->exhausted = query->bag.nterms == 0;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = CurrentMemoryContext;
	s->returned = hash_create("retrieval bm25 returned TIDs", 256, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Compute the next, larger batch. */
static void
next_batch(Bm25Stream *s)
{
	int64		k;

	/*
	 * first_k, then 4 times more each time (10, 40, 160, ...) documents,
	 * but no more than the index holds (+1, so that a full batch proves
	 * nothing is left when the index did not grow).
	 */
	k = s->k == 0 ? s->first_k : (int64) s->k * 4;
	k = Min(k, Max(s->meta->ndocs, (int64) s->k) + 1);
	k = Min(k, (int64) (INT_MAX / 2));
	if (s->hits)
		pfree(s->hits);
	s->hits = palloc_extended(sizeof(Bm25Hit) * k, MCXT_ALLOC_HUGE);
	s->nhits = bm25_topk(s->index, s->meta, s->query, (int) k, s->hits);
	s->next = 0;
	/* fewer than k documents match: this batch holds all of them */
	if (s->nhits < k)
		s->exhausted = true;
	s->k = k;
}

/* The next document in score order; false when every match was returned. */
bool
bm25_stream_next(Bm25Stream *s, Bm25Hit *hit)
{
	for (;;)
	{
		Bm25Hit    *h;
		bool		found;

		if (s->next >= s->nhits)
		{
			if (s->exhausted)
				return false;
			next_batch(s);
			if (s->nhits == 0)
				return false;
		}
		h = &s->hits[s->next++];
		hash_search(s->returned, &h->tid, HASH_ENTER, &found);
		if (found)
			continue;
		*hit = *h;
		return true;
	}
}
