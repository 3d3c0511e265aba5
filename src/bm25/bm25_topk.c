/*-------------------------------------------------------------------------
 *
 * bm25_topk.c
 *	  Exact top-k documents of a query: Block-Max WAND over each segment's
 *	  postings, exhaustive scoring of the buffered documents.
 *
 * Order: score descending, then heap TID ascending (a total order, so a
 * larger k gives a list whose prefix is the smaller k's list: the scan
 * relies on that to stream beyond k).
 *
 * Block-Max WAND (Ding & Suel, SIGIR 2011): cursors sorted by current doc
 * id; the pivot is the first cursor at which the sum of the terms' global
 * maximum contributions could reach the k-th best score; then the block
 * maxima of the blocks that contain the pivot document are summed, and if
 * even that cannot reach the threshold, every cursor up to the pivot skips
 * past the nearest block end without decoding anything in between.  Bounds
 * are compared against the threshold with a relative margin of 1e-9 so
 * that floating-point summation order can never prune a document that
 * belongs in the result.  A document can tie the k-th score and still
 * enter by its smaller TID, hence the non-strict comparisons.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "bm25.h"

typedef struct TopK
{
	Bm25Hit    *heap;			/* worst hit at heap[0] */
	int			count;
	int			k;
} TopK;

/* Is a better than b? */
static inline bool
hit_better(float8 ascore, ItemPointer atid, float8 bscore, ItemPointer btid)
{
	if (ascore != bscore)
		return ascore > bscore;
	return ItemPointerCompare(atid, btid) < 0;
}

static void
sift_down(TopK *t, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			w = i;

		if (l < t->count && hit_better(t->heap[w].score, &t->heap[w].tid, t->heap[l].score, &t->heap[l].tid))
			w = l;
		if (r < t->count && hit_better(t->heap[w].score, &t->heap[w].tid, t->heap[r].score, &t->heap[r].tid))
			w = r;
		if (w == i)
			return;
		{
			Bm25Hit		tmp = t->heap[i];

			t->heap[i] = t->heap[w];
			t->heap[w] = tmp;
		}
		i = w;
	}
}

static void
topk_push(TopK *t, float8 score, ItemPointer tid)
{
	if (t->count < t->k)
	{
		int			i = t->count++;

		t->heap[i].score = score;
		t->heap[i].tid = *tid;
		/* sift up: the worst goes to the root */
		while (i > 0)
		{
			int			p = (i - 1) / 2;
			Bm25Hit		tmp;

			if (!hit_better(t->heap[p].score, &t->heap[p].tid, t->heap[i].score, &t->heap[i].tid))
				break;
			tmp = t->heap[i];
			t->heap[i] = t->heap[p];
			t->heap[p] = tmp;
			i = p;
		}
	}
	else if (hit_better(score, tid, t->heap[0].score, &t->heap[0].tid))
	{
		t->heap[0].score = score;
		t->heap[0].tid = *tid;
		sift_down(t, 0);
	}
}

/* Could a document with this score bound enter?  (margin: see above) */
static inline bool
may_enter(TopK *t, float8 bound)
{
	if (t->count < t->k)
		return true;
	return bound + fabs(bound) * 1e-9 + 1e-300 >= t->heap[0].score;
}

/* ------------------------------------------------------------------------
 * One segment
 * ------------------------------------------------------------------------
 */

static int
cmp_cursor(const void *a, const void *b)
{
	Bm25Cursor *ca = *(Bm25Cursor *const *) a;
	Bm25Cursor *cb = *(Bm25Cursor *const *) b;
	uint32		da = bm25_cursor_doc(ca);
	uint32		db = bm25_cursor_doc(cb);

	return da < db ? -1 : da > db ? 1 : 0;
}

static void
sort_cursors(Bm25Cursor **cs, int n)
{
	/* insertion sort: few cursors, mostly sorted already */
	for (int i = 1; i < n; i++)
	{
		Bm25Cursor *c = cs[i];
		uint32		d = bm25_cursor_doc(c);
		int			j = i - 1;

		while (j >= 0 && bm25_cursor_doc(cs[j]) > d)
		{
			cs[j + 1] = cs[j];
			j--;
		}
		cs[j + 1] = c;
	}
	(void) cmp_cursor;
}

static void
topk_segment(Relation index, const Bm25SegmentRef *seg, Bm25Query *q, TopK *t, float8 *contrib)
{
	Bm25Reader	r;
	Bm25SegmentHeader hdr;
	Bm25Cursor *cursors = palloc(sizeof(Bm25Cursor) * q->bag.nterms);
	Bm25Cursor **cs = palloc(sizeof(Bm25Cursor *) * q->bag.nterms);
	int			n = 0;
	uint64		iterations = 0;

	bm25_reader_init(&r, index, seg);
	bm25_segment_header(&r, &hdr);
	for (int i = 0; i < q->bag.nterms; i++)
	{
		Bm25TermInfo info;

		bm25_segment_lookup(&r, &hdr, q->bag.terms[i].term, q->bag.terms[i].len,
							q->bag.terms[i].hash, &info);
		if (!info.found || info.nblocks == 0)
			continue;
		bm25_cursor_open(&cursors[n], &r, &info, i, q);
		cs[n] = &cursors[n];
		n++;
	}

	while (n > 0)
	{
		float8		acc = 0;
		int			pivot = -1;
		uint32		pd;

		if ((++iterations & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		sort_cursors(cs, n);
		/* exhausted cursors sort last; drop them */
		while (n > 0 && bm25_cursor_doc(cs[n - 1]) == BM25_NO_DOC)
			n--;
		if (n == 0)
			break;

		for (int i = 0; i < n; i++)
		{
			acc += cs[i]->max_score;
			if (may_enter(t, acc))
			{
				pivot = i;
				break;
			}
		}
		if (pivot < 0)
			break;				/* no remaining document can enter */
		pd = bm25_cursor_doc(cs[pivot]);
		while (pivot + 1 < n && bm25_cursor_doc(cs[pivot + 1]) == pd)
			pivot++;

		/* block maxima of the blocks that hold pd */
		{
			float8		bsum = 0;
			uint32		next = pivot + 1 < n ? bm25_cursor_doc(cs[pivot + 1]) : BM25_NO_DOC;

			for (int i = 0; i <= pivot; i++)
			{
				bm25_cursor_seek_block(cs[i], pd);
				if (cs[i]->block < (int) cs[i]->nblocks)
					bsum += cs[i]->block_max[cs[i]->block];
			}
			if (!may_enter(t, bsum))
			{
				/* nothing before the nearest block end (or next cursor) can enter */
				for (int i = 0; i <= pivot; i++)
				{
					uint32		last = bm25_cursor_block_last(cs[i]);

					if (last != BM25_NO_DOC && last + 1 < next)
						next = last + 1;
				}
				if (next <= pd)
					next = pd + 1;
				for (int i = 0; i <= pivot; i++)
					bm25_cursor_seek(cs[i], next);
				continue;
			}
		}

		/*
		 * pd may enter: bring every cursor up to the pivot onto pd or past
		 * it (the block-max step may have moved some into a block that
		 * starts after pd: they do not contain it), then score pd with the
		 * cursors that are on it.
		 */
		{
			float8		score;
			bool		any = false;

			for (int i = 0; i < pivot; i++)
				if (bm25_cursor_doc(cs[i]) < pd)
					bm25_cursor_seek(cs[i], pd);
			for (int i = 0; i < q->bag.nterms; i++)
				contrib[i] = 0;
			for (int i = 0; i <= pivot; i++)
			{
				Bm25Cursor *c = cs[i];

				if (bm25_cursor_doc(c) != pd)
					continue;
				contrib[c->qterm] = bm25_term_score(q, c->qterm, c->tfs[c->pos], c->lens[c->pos]);
				any = true;
			}
			/* ordered postings always leave the pivot cursor on pd */
			if (!any)
				bm25_corrupted(index, "postings out of order");
			score = bm25_sum(q, contrib);
			if (any && may_enter(t, score))
			{
				Bm25DocEntry e;

				bm25_segment_doc(&r, &hdr, pd, &e);
				if (!(e.flags & BM25_DOC_DELETED))
					topk_push(t, score, &e.tid);
			}
			for (int i = 0; i <= pivot; i++)
				if (bm25_cursor_doc(cs[i]) == pd)
					bm25_cursor_next(cs[i]);
		}
	}
	bm25_reader_end(&r);
}

/* ------------------------------------------------------------------------
 * Buffered documents
 * ------------------------------------------------------------------------
 */

typedef struct BufferTopK
{
	Bm25Query  *q;
	TopK	   *t;
} BufferTopK;

static void
buffer_visit(void *arg, ItemPointer tid, uint32 length, const Bm25Bag *doc)
{
	BufferTopK *bt = (BufferTopK *) arg;
	float8		score;

	(void) length;
	score = bm25_score_bag(bt->q, doc);
	if (score > 0 && may_enter(bt->t, score))
		topk_push(bt->t, score, tid);
}

static int
cmp_hits(const void *a, const void *b)
{
	const Bm25Hit *ha = a;
	const Bm25Hit *hb = b;

	if (hit_better(ha->score, (ItemPointer) &ha->tid, hb->score, (ItemPointer) &hb->tid))
		return -1;
	if (hit_better(hb->score, (ItemPointer) &hb->tid, ha->score, (ItemPointer) &ha->tid))
		return 1;
	return 0;
}

/*
 * The best k documents (score > 0) of the index, best first, into out
 * (room for k); returns how many.  meta is the metapage copy the query's
 * statistics were computed from.
 */
int
bm25_topk(Relation index, const Bm25MetaData *meta, Bm25Query *q, int k, Bm25Hit *out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 top-k",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TopK		t;
	float8	   *contrib;
	BufferTopK	bt;

	if (q->bag.nterms == 0 || k <= 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return 0;
	}
	t.heap = out;
	t.count = 0;
	t.k = k;
	contrib = palloc(sizeof(float8) * q->bag.nterms);

	/* the buffer first: it is small and raises the threshold early */
	bt.q = q;
	bt.t = &t;
	if (BlockNumberIsValid(meta->sealed_head))
		bm25_buffer_scan(index, meta->sealed_head, true, buffer_visit, &bt);
	if (BlockNumberIsValid(meta->buffer_head))
		bm25_buffer_scan(index, meta->buffer_head, true, buffer_visit, &bt);
	for (uint32 s = 0; s < meta->nsegments; s++)
		topk_segment(index, &meta->segments[s], q, &t, contrib);

	qsort(out, t.count, sizeof(Bm25Hit), cmp_hits);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return t.count;
}
