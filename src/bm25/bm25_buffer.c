/*-------------------------------------------------------------------------
 *
 * bm25_buffer.c
 *	  The write buffer: inserts append documents to a page chain; scans
 *	  read the whole chain; a flush turns a sealed chain into a segment.
 *
 * Locking: an insert holds the metapage's buffer lock exclusively from
 * reading the tail to updating N and the total length, so buffer appends
 * are serialised (tokenizing happens before, without locks).  A document
 * longer than a page is written in fragments on consecutive pages, one WAL
 * record each; the metapage counters change in the record of the LAST
 * fragment, and readers ignore a document whose LAST fragment is missing
 * (a crash in the middle of a long insert).
 *
 * Flushes are serialised by a heavyweight lock on the metapage
 * (ConditionalLockPage, as GIN's pending-list cleanup does); VACUUM takes
 * it too, so it never marks a buffered document deleted while a flush is
 * copying it into a segment.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "bm25.h"

#define FRAG_HEADER		offsetof(Bm25BufferTuple, data)
#define MIN_FRAGMENT	64

static Size
page_room(Page page)
{
	Size		free = PageGetFreeSpace(page);	/* already minus one line pointer */

	return free > FRAG_HEADER ? MAXALIGN_DOWN(free) - FRAG_HEADER : 0;
}

/* Serialise a bag's terms: varint(tf), varint(len), bytes per term. */
static uint8 *
encode_terms(const Bm25Bag *doc, Size *nbytes)
{
	Size		cap = 16;
	Size		n = 0;
	uint8	   *out;

	for (int i = 0; i < doc->nterms; i++)
		cap += 10 + doc->terms[i].len;
	out = palloc_extended(cap, MCXT_ALLOC_HUGE);
	for (int i = 0; i < doc->nterms; i++)
	{
		n += bm25_varint_put(out + n, doc->terms[i].count);
		n += bm25_varint_put(out + n, (uint32) doc->terms[i].len);
		memcpy(out + n, doc->terms[i].term, doc->terms[i].len);
		n += doc->terms[i].len;
	}
	*nbytes = n;
	return out;
}

/*
 * A new, empty chain page in the caller's WAL record: a reusable page taken
 * from wmeta (the metapage being changed in that record) or, when wmeta is
 * NULL (CREATE INDEX) or nothing is free, a new page at the end.
 */
static Buffer
new_chain_page(Relation index, RetrievalPageWrite *write, Bm25MetaData *wmeta)
{
	Buffer		buf = wmeta ? bm25_space_new_page(index, wmeta)
		: retrieval_new_buffer(index, MAIN_FORKNUM);
	Page		page = retrieval_write_page(write, buf, true);

	retrieval_page_init(page, RETRIEVAL_PAGE_BM25);
	return buf;
}

void
bm25_buffer_init_chain(Relation index, Bm25MetaData *meta, bool building)
{
	RetrievalPageWrite write;
	Buffer		buf;

	retrieval_write_begin(&write, index, building);
	buf = new_chain_page(index, &write, NULL);
	retrieval_write_finish(&write);
	meta->buffer_head = meta->buffer_tail = BufferGetBlockNumber(buf);
	meta->buffer_pages = 1;
	UnlockReleaseBuffer(buf);
}

uint32
bm25_buffer_append(Relation index, ItemPointer tid, const Bm25Bag *doc, bool building)
{
	uint32		pages;
	Size		nbytes;
	uint8	   *data = encode_terms(doc, &nbytes);
	Size		done = 0;
	Buffer		metabuf;
	Bm25MetaData *meta;
	Buffer		buf;
	bool		first = true;
	Bm25BufferTuple *tup = palloc(BLCKSZ);

	metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_meta_check(index, BufferGetPage(metabuf), INDEX_KIND_BM25, BM25_FORMAT_VERSION);
	meta = (Bm25MetaData *) PageGetContents(BufferGetPage(metabuf));
	buf = ReadBuffer(index, meta->buffer_tail);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);

	for (;;)
	{
		RetrievalPageWrite write;
		Page		page;
		Size		room = page_room(BufferGetPage(buf));
		Size		n;
		bool		last;

		CHECK_FOR_INTERRUPTS();
		/* a new page when this one cannot take a useful fragment */
		if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(FRAG_HEADER + Min(nbytes - done, (Size) MIN_FRAGMENT)))
		{
			Buffer		newbuf;
			Bm25MetaData *wmeta;

			retrieval_write_begin(&write, index, building);
			wmeta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
			newbuf = new_chain_page(index, &write, building ? NULL : wmeta);
			page = retrieval_write_page(&write, buf, false);
			RetrievalPageGetOpaque(page)->next = BufferGetBlockNumber(newbuf);
			wmeta->buffer_tail = BufferGetBlockNumber(newbuf);
			wmeta->buffer_pages++;
			retrieval_write_finish(&write);
			UnlockReleaseBuffer(buf);
			buf = newbuf;
			continue;
		}
		n = Min(room, nbytes - done);
		last = done + n == nbytes;
		memset(tup, 0, FRAG_HEADER);
		tup->tid = *tid;
		tup->frag = (first ? BM25_FRAG_FIRST : 0) | (last ? BM25_FRAG_LAST : 0);
		tup->length = doc->length;
		tup->nterms = (uint32) doc->nterms;
		tup->nbytes = (uint32) n;
		memcpy(tup->data, data + done, n);

		retrieval_write_begin(&write, index, building);
		page = retrieval_write_page(&write, buf, false);
		if (PageAddItem(page, (Item) tup, FRAG_HEADER + n, InvalidOffsetNumber, false, false) ==
			InvalidOffsetNumber)
			elog(ERROR, "failed to add a document to BM25 index \"%s\"", RelationGetRelationName(index));
		if (last)
		{
			Bm25MetaData *wmeta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));

			wmeta->ndocs++;
			wmeta->total_length += doc->length;
		}
		retrieval_write_finish(&write);
		done += n;
		first = false;
		if (last)
			break;
	}
	UnlockReleaseBuffer(buf);
	pages = meta->buffer_pages;
	UnlockReleaseBuffer(metabuf);
	pfree(tup);
	pfree(data);
	return pages;
}

/* Parse a reassembled document's term data into a bag (terms point into data). */
static bool
decode_terms(const uint8 *data, Size nbytes, uint32 nterms, uint32 length, Bm25Bag *bag)
{
	const uint8 *p = data;
	const uint8 *end = data + nbytes;
	bool		ok = true;

	bag->nterms = 0;
	bag->length = length;
	/* every term takes at least two bytes (tf, len): bounds the allocation */
	if (nterms > nbytes / 2)
		return false;
	bag->terms = palloc_extended(sizeof(Bm25TermCount) * Max(nterms, 1), MCXT_ALLOC_HUGE);
	for (uint32 i = 0; i < nterms && ok; i++)
	{
		Bm25TermCount *tc = &bag->terms[i];

		tc->count = bm25_varint_get(&p, end, &ok);
		tc->len = (int) bm25_varint_get(&p, end, &ok);
		if (!ok || tc->len < 0 || (Size) (end - p) < (Size) tc->len)
			return false;
		tc->term = (char *) p;
		tc->hash = bm25_hash(tc->term, tc->len);
		p += tc->len;
		bag->nterms++;
	}
	return ok && p == end;
}

/*
 * Call visit for every complete, non-deleted document of the chain that
 * starts at head.  with_terms = false: visit gets a bag without terms.
 */
void
bm25_buffer_scan(Relation index, BlockNumber head, bool with_terms, Bm25BufferVisitor visit,
				 void *arg)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "retrieval bm25 buffer scan",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	PGAlignedBlock copy;
	uint8	   *doc = NULL;
	Size		docbytes = 0;
	Size		doccap = 0;
	bool		in_doc = false;
	Bm25BufferTuple cur;
	BlockNumber blkno = head;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);	/* once per scan */
	BlockNumber visited = 0;

	memset(&cur, 0, sizeof(cur));
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;
		Page		page = (Page) copy.data;
		PageHeader	ph = (PageHeader) page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		/* a damaged link must name a page of the index and not loop */
		bm25_check_block(index, blkno, &nblocks);
		if (++visited > nblocks)
			bm25_corrupted(index, "cycle in a write buffer chain");
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		memcpy(copy.data, BufferGetPage(buf), BLCKSZ);
		UnlockReleaseBuffer(buf);
		bm25_check_page(index, page);
		/* the line pointer array must lie between header and special space */
		if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
			ph->pd_upper > ph->pd_special)
			bm25_corrupted(index, "bad write buffer page header");
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			Bm25BufferTuple *tup;

			if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < FRAG_HEADER)
				continue;
			/* the item must lie inside the page's tuple space */
			if (ItemIdGetOffset(iid) < ph->pd_upper ||
				ItemIdGetOffset(iid) + ItemIdGetLength(iid) > ph->pd_special)
				bm25_corrupted(index, "bad write buffer item");
			tup = (Bm25BufferTuple *) PageGetItem(page, iid);
			if (FRAG_HEADER + tup->nbytes > ItemIdGetLength(iid))
				bm25_corrupted(index, "bad write buffer tuple");
			if (tup->frag & BM25_FRAG_FIRST)
			{
				/* an unfinished document before this one was cut by a crash */
				in_doc = true;
				docbytes = 0;
				memcpy(&cur, tup, FRAG_HEADER);
			}
			else if (!in_doc || !ItemPointerEquals(&cur.tid, &tup->tid))
			{
				in_doc = false;
				continue;
			}
			if (with_terms)
			{
				if (docbytes + tup->nbytes > doccap)
				{
					doccap = Max(doccap * 2, docbytes + tup->nbytes);
					doc = doc ? repalloc_huge(doc, doccap) : palloc_extended(doccap, MCXT_ALLOC_HUGE);
				}
				memcpy(doc + docbytes, tup->data, tup->nbytes);
				docbytes += tup->nbytes;
			}
			if (tup->frag & BM25_FRAG_LAST)
			{
				Bm25Bag		bag;

				in_doc = false;
				if (tup->deleted)
					continue;
				if (with_terms)
				{
					if (!decode_terms(doc, docbytes, cur.nterms, cur.length, &bag))
						bm25_corrupted(index, "bad write buffer document");
				}
				else
				{
					bag.nterms = 0;
					bag.length = cur.length;
					bag.terms = NULL;
				}
				MemoryContextSwitchTo(old);
				visit(arg, &cur.tid, cur.length, &bag);
				MemoryContextSwitchTo(cxt);
				if (with_terms)
					pfree(bag.terms);
			}
		}
		blkno = RetrievalPageGetOpaque(page)->next;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* ------------------------------------------------------------------------
 * Flush: sealed chain -> segment
 * ------------------------------------------------------------------------
 */

static void
flush_visit(void *arg, ItemPointer tid, uint32 length, const Bm25Bag *doc)
{
	(void) length;
	bm25_builder_add((Bm25Builder *) arg, tid, doc);
}

/*
 * Seal the buffer if it is full (or a sealed chain is left over from a
 * crash), write the sealed documents as a segment, publish it.  Does
 * nothing when another backend is flushing or VACUUM runs.
 */
void
bm25_flush(Relation index, bool force)
{
	Buffer		metabuf;
	Bm25MetaData *meta;
	BlockNumber sealed;
	Bm25Builder *bld;
	Bm25SegmentRef ref;
	bool		have_segment;
	RetrievalPageWrite write;
	BlockNumber *chain;
	int			nchain;

	if (!ConditionalLockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock))
		return;

	metabuf = ReadBuffer(index, RETRIEVAL_META_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (Bm25MetaData *) PageGetContents(BufferGetPage(metabuf));
	if (meta->nsegments >= BM25_MAX_SEGMENTS)
	{
		/* cannot happen: merges keep the list short; keep buffering */
		UnlockReleaseBuffer(metabuf);
		UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
		return;
	}
	if (!BlockNumberIsValid(meta->sealed_head))
	{
		Buffer		newbuf;
		Bm25MetaData *wmeta;

		if (meta->buffer_pages < (uint32) retrieval_option_buffer_pages(index) &&
			!(force && meta->buffer_pages > 0))
		{
			UnlockReleaseBuffer(metabuf);
			UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
			return;
		}
		retrieval_write_begin(&write, index, false);
		wmeta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
		newbuf = new_chain_page(index, &write, wmeta);
		wmeta->sealed_head = wmeta->buffer_head;
		wmeta->buffer_head = wmeta->buffer_tail = BufferGetBlockNumber(newbuf);
		wmeta->buffer_pages = 1;
		retrieval_write_finish(&write);
		UnlockReleaseBuffer(newbuf);
	}
	sealed = meta->sealed_head;
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	bld = bm25_builder_create(CurrentMemoryContext);
	bm25_buffer_scan(index, sealed, true, flush_visit, bld);
	have_segment = bm25_builder_write(bld, index, false, &ref);
	bm25_builder_destroy(bld);
	/* the sealed chain is immutable now: we hold the flush lock */
	chain = bm25_space_chain_blocks(index, sealed, &nchain);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	retrieval_write_begin(&write, index, false);
	meta = (Bm25MetaData *) PageGetContents(retrieval_write_page(&write, metabuf, false));
	if (have_segment)
		meta->segments[meta->nsegments++] = ref;
	meta->sealed_head = InvalidBlockNumber;
	/* scans that copied the metapage before this record may still read it */
	bm25_space_release_blocks(meta, chain, nchain);
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(metabuf);
	pfree(chain);

	bm25_merge_if_needed(index);
	UnlockPage(index, RETRIEVAL_META_BLKNO, ExclusiveLock);
}
