/*-------------------------------------------------------------------------
 *
 * bm25_segment_write.c
 *	  Accumulates documents in memory and writes them as one immutable
 *	  segment (used by CREATE INDEX and by buffer flushes).
 *
 * Postings are encoded into blocks as they are added (document ids only
 * grow), so memory is about the compressed index plus the open block of
 * each term.  Writing computes the layout (bm25.h), allocates the segment's
 * pages as one contiguous run under the relation extension lock, and then
 * fills them in stream order.  In a build the pages are WAL-logged at the
 * end with log_newpage_range; otherwise each page is logged as a full
 * image through GenericXLog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "bm25.h"

typedef struct BuildTerm
{
	char	   *term;
	int			len;
	uint32		hash;
	uint32		df;
	/* the open block */
	uint32		nopen;
	uint32		opencap;
	uint32	   *open;			/* (doc, tf, length) triples; grows to a block */
	uint32		prev_last;		/* last doc of the previous block */
	/* closed blocks */
	Bm25Skip   *skips;
	uint32		nskips;
	uint32		skipcap;
} BuildTerm;

struct Bm25Builder
{
	MemoryContext context;
	BuildTerm **terms;
	uint32		nterms;
	uint32		termcap;
	int32	   *slots;			/* hash table: index into terms, -1 empty */
	uint32		nslots;
	ItemPointerData *tids;
	uint32	   *lengths;
	uint32		ndocs;
	uint32		doccap;
	uint8	   *post;			/* encoded blocks of every term */
	uint64		npost;
	uint64		postcap;
	Size		memory;
};

Bm25Builder *
bm25_builder_create(MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "retrieval bm25 segment builder",
											  ALLOCSET_DEFAULT_SIZES);
	Bm25Builder *bld = MemoryContextAllocZero(cxt, sizeof(Bm25Builder));

	bld->context = cxt;
	bld->nslots = 1024;
	bld->slots = MemoryContextAlloc(cxt, sizeof(int32) * bld->nslots);
	memset(bld->slots, -1, sizeof(int32) * bld->nslots);
	return bld;
}

uint32
bm25_builder_ndocs(Bm25Builder *bld)
{
	return bld->ndocs;
}

Size
bm25_builder_memory(Bm25Builder *bld)
{
	return bld->memory;
}

void
bm25_builder_destroy(Bm25Builder *bld)
{
	MemoryContextDelete(bld->context);
}

static void
grow_slots(Bm25Builder *bld)
{
	uint32		nslots = bld->nslots * 2;
	int32	   *slots = MemoryContextAllocHuge(bld->context, sizeof(int32) * nslots);

	memset(slots, -1, sizeof(int32) * nslots);
	for (uint32 i = 0; i < bld->nterms; i++)
	{
		uint32		s = bld->terms[i]->hash & (nslots - 1);

		while (slots[s] >= 0)
			s = (s + 1) & (nslots - 1);
		slots[s] = (int32) i;
	}
	pfree(bld->slots);
	bld->memory += sizeof(int32) * (nslots - bld->nslots);
	bld->slots = slots;
	bld->nslots = nslots;
}

static BuildTerm *
find_term(Bm25Builder *bld, const Bm25TermCount *tc)
{
	uint32		s = tc->hash & (bld->nslots - 1);
	BuildTerm  *t;

	while (bld->slots[s] >= 0)
	{
		t = bld->terms[bld->slots[s]];
		if (t->hash == tc->hash && t->len == tc->len && memcmp(t->term, tc->term, tc->len) == 0)
			return t;
		s = (s + 1) & (bld->nslots - 1);
	}
	if (bld->nterms >= INT32_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct terms in one BM25 segment")));
	if (bld->nterms == bld->termcap)
	{
		bld->termcap = bld->termcap ? bld->termcap * 2 : 1024;
		bld->terms = bld->terms ? repalloc_huge(bld->terms, sizeof(BuildTerm *) * bld->termcap)
			: MemoryContextAllocHuge(bld->context, sizeof(BuildTerm *) * bld->termcap);
	}
	t = MemoryContextAllocZero(bld->context, sizeof(BuildTerm));
	t->term = MemoryContextAlloc(bld->context, tc->len + 1);
	memcpy(t->term, tc->term, tc->len);
	t->term[tc->len] = '\0';
	t->len = tc->len;
	t->hash = tc->hash;
	bld->memory += sizeof(BuildTerm) + tc->len + 1 + 16;
	bld->slots[s] = (int32) bld->nterms;
	bld->terms[bld->nterms++] = t;
	if (bld->nterms * 2 > bld->nslots)
		grow_slots(bld);
	return t;
}

static void
post_reserve(Bm25Builder *bld, Size n)
{
	if (bld->npost + n > bld->postcap)
	{
		uint64		cap = Max(bld->postcap * 2, 65536);

		while (cap < bld->npost + n)
			cap *= 2;
		bld->post = bld->post ? repalloc_huge(bld->post, cap)
			: MemoryContextAllocHuge(bld->context, cap);
		bld->memory += cap - bld->postcap;
		bld->postcap = cap;
	}
}

/* Encode the term's open block and add its skip entry. */
static void
close_block(Bm25Builder *bld, BuildTerm *t)
{
	uint64		start = bld->npost;
	uint32		prev = t->prev_last;
	uint32		max_tf = 0;
	uint32		min_len = PG_UINT32_MAX;
	Bm25Skip   *skip;

	post_reserve(bld, (Size) t->nopen * 15);
	for (uint32 i = 0; i < t->nopen; i++)
	{
		uint32		doc = t->open[3 * i];
		uint32		tf = t->open[3 * i + 1];
		uint32		len = t->open[3 * i + 2];

		bld->npost += bm25_varint_put(bld->post + bld->npost, doc - prev);
		bld->npost += bm25_varint_put(bld->post + bld->npost, tf);
		bld->npost += bm25_varint_put(bld->post + bld->npost, len);
		prev = doc;
		max_tf = Max(max_tf, tf);
		min_len = Min(min_len, len);
	}
	if (t->nskips == t->skipcap)
	{
		uint32		old = t->skipcap;

		t->skipcap = t->skipcap ? t->skipcap * 2 : 1;
		t->skips = t->skips ? repalloc_huge(t->skips, sizeof(Bm25Skip) * t->skipcap)
			: MemoryContextAlloc(bld->context, sizeof(Bm25Skip) * t->skipcap);
		bld->memory += sizeof(Bm25Skip) * (t->skipcap - old);
	}
	skip = &t->skips[t->nskips++];
	memset(skip, 0, sizeof(Bm25Skip));
	skip->last_doc = prev;
	skip->ndocs = t->nopen;
	skip->max_tf = max_tf;
	skip->min_length = min_len;
	skip->offset = start;		/* relative to the postings region for now */
	skip->nbytes = (uint32) (bld->npost - start);
	t->prev_last = prev;
	t->nopen = 0;
}

/* Append a document to the doc table; returns its segment-local id. */
uint32
bm25_builder_add_doc(Bm25Builder *bld, ItemPointer tid, uint32 length)
{
	uint32		docid = bld->ndocs;

	if (bld->ndocs == PG_UINT32_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many documents in one BM25 segment")));
	if (bld->ndocs == bld->doccap)
	{
		uint32		oldcap = bld->doccap;

		bld->doccap = bld->doccap ? bld->doccap * 2 : 1024;
		bld->tids = bld->tids ? repalloc_huge(bld->tids, sizeof(ItemPointerData) * bld->doccap)
			: MemoryContextAllocHuge(bld->context, sizeof(ItemPointerData) * bld->doccap);
		bld->lengths = bld->lengths ? repalloc_huge(bld->lengths, sizeof(uint32) * bld->doccap)
			: MemoryContextAllocHuge(bld->context, sizeof(uint32) * bld->doccap);
		bld->memory += (sizeof(ItemPointerData) + sizeof(uint32)) * (bld->doccap - oldcap);
	}
	bld->tids[docid] = *tid;
	bld->lengths[docid] = length;
	bld->ndocs++;
	return docid;
}

/*
 * Append a posting.  Document ids must grow per term: documents are added
 * in id order (build, flush), or segments are merged oldest first.
 */
void
bm25_builder_add_posting(Bm25Builder *bld, const Bm25TermCount *tc, uint32 docid, uint32 tf,
						 uint32 length)
{
	MemoryContext old = MemoryContextSwitchTo(bld->context);
	BuildTerm  *t = find_term(bld, tc);

	Assert(t->df == 0 || t->nopen == 0 || t->open[3 * (t->nopen - 1)] < docid);
	if (t->nopen == t->opencap)
	{
		uint32		oldcap = t->opencap;

		/* most terms are rare: grow the open block gradually */
		t->opencap = t->opencap ? Min(t->opencap * 4, BM25_BLOCK_SIZE) : 2;
		t->open = t->open ? repalloc(t->open, sizeof(uint32) * 3 * t->opencap)
			: palloc(sizeof(uint32) * 3 * t->opencap);
		bld->memory += sizeof(uint32) * 3 * (t->opencap - oldcap);
	}
	t->open[3 * t->nopen] = docid;
	t->open[3 * t->nopen + 1] = tf;
	t->open[3 * t->nopen + 2] = length;
	t->nopen++;
	t->df++;
	if (t->nopen == BM25_BLOCK_SIZE)
		close_block(bld, t);
	MemoryContextSwitchTo(old);
}

void
bm25_builder_add(Bm25Builder *bld, ItemPointer tid, const Bm25Bag *doc)
{
	uint32		docid = bm25_builder_add_doc(bld, tid, doc->length);

	for (int i = 0; i < doc->nterms; i++)
		bm25_builder_add_posting(bld, &doc->terms[i], docid, doc->terms[i].count, doc->length);
}

/* ------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------
 */

/* Sequential writer over the segment's pages. */
typedef struct PageFiller
{
	Relation	index;
	bool		building;
	BlockNumber start;
	BlockNumber npages;
	BlockNumber next;			/* page being filled, relative */
	PGAlignedBlock page;
	Size		used;			/* bytes of the current page's data */
} PageFiller;

static void
filler_flush(PageFiller *f)
{
	Buffer		buf;
	RetrievalPageWrite write;
	Page		page;

	if (f->next >= f->npages)
		elog(ERROR, "BM25 segment larger than its layout");
	/* the page is written whole: never read its old contents */
	buf = ReadBufferExtended(f->index, MAIN_FORKNUM, f->start + f->next, RBM_ZERO_AND_LOCK, NULL);
	retrieval_write_begin(&write, f->index, f->building);
	page = retrieval_write_page(&write, buf, true);
	memcpy(page, f->page.data, BLCKSZ);
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(buf);
	f->next++;
	f->used = 0;
	retrieval_page_init((Page) f->page.data, RETRIEVAL_PAGE_BM25);
	((PageHeader) f->page.data)->pd_lower = ((PageHeader) f->page.data)->pd_upper;
}

static void
filler_put(PageFiller *f, const void *data, Size len)
{
	const char *p = data;

	while (len > 0)
	{
		Size		n = Min(len, BM25_PAGE_DATA - f->used);

		memcpy(PageGetContents((Page) f->page.data) + f->used, p, n);
		f->used += n;
		p += n;
		len -= n;
		if (f->used == BM25_PAGE_DATA)
		{
			CHECK_FOR_INTERRUPTS();
			filler_flush(f);
		}
	}
}

/* Zero bytes up to stream offset off. */
static void
filler_pad_to(PageFiller *f, uint64 off)
{
	static const char zeros[256];
	uint64		cur = (uint64) f->next * BM25_PAGE_DATA + f->used;

	Assert(off >= cur);
	while (cur < off)
	{
		Size		n = Min(off - cur, sizeof(zeros));

		filler_put(f, zeros, n);
		cur += n;
	}
}

/*
 * Allocate npages contiguous pages: reusable ones (bm25_space.c) outside a
 * build, else new ones.  Holding the extension lock for the whole run
 * keeps other backends' new pages out of it.
 */
static BlockNumber
allocate_run(Relation index, BlockNumber npages, bool building)
{
	if (!building)
	{
		BlockNumber start = bm25_space_take_run(index, npages);

		if (BlockNumberIsValid(start))
			return start;
	}
	return retrieval_extend_run(index, npages);
}

static inline uint64
page_align(uint64 off)
{
	return (off + BM25_PAGE_DATA - 1) / BM25_PAGE_DATA * BM25_PAGE_DATA;
}

/*
 * Write the accumulated documents as a segment; false if there are none.
 * The builder is consumed (its open blocks are closed).
 */
bool
bm25_builder_write(Bm25Builder *bld, Relation index, bool building, Bm25SegmentRef *ref)
{
	Bm25SegmentHeader hdr;
	uint64	   *entry_offs;
	Bm25Bucket *buckets;
	uint64		off;
	PageFiller	f;
	MemoryContext old;

	if (bld->ndocs == 0)
		return false;
	old = MemoryContextSwitchTo(bld->context);
	for (uint32 i = 0; i < bld->nterms; i++)
		if (bld->terms[i]->nopen > 0)
			close_block(bld, bld->terms[i]);

	/* layout */
	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = BM25_SEGMENT_MAGIC;
	hdr.ndocs = bld->ndocs;
	hdr.nterms = bld->nterms;
	hdr.nbuckets = 16;
	while (hdr.nbuckets < bld->nterms * 2)
		hdr.nbuckets <<= 1;
	hdr.doc_off = BM25_PAGE_DATA;
	hdr.bucket_off = hdr.doc_off +
		(uint64) ((bld->ndocs + BM25_DOCS_PER_PAGE - 1) / BM25_DOCS_PER_PAGE) * BM25_PAGE_DATA;
	hdr.term_off = page_align(hdr.bucket_off + (uint64) hdr.nbuckets * sizeof(Bm25Bucket));
	entry_offs = MemoryContextAllocHuge(bld->context, sizeof(uint64) * Max(bld->nterms, 1));
	off = hdr.term_off;
	for (uint32 i = 0; i < bld->nterms; i++)
	{
		BuildTerm  *t = bld->terms[i];

		/* df is rewritten in place by VACUUM: the header stays on one page */
		if (off % BM25_PAGE_DATA + sizeof(Bm25TermHeader) > BM25_PAGE_DATA)
			off = page_align(off);
		entry_offs[i] = off;
		off += sizeof(Bm25TermHeader) + t->len + sizeof(Bm25Skip) * t->nskips;
	}
	hdr.postings_off = off;
	hdr.end_off = off + bld->npost;

	buckets = MemoryContextAllocHuge(bld->context, sizeof(Bm25Bucket) * hdr.nbuckets);
	memset(buckets, 0, sizeof(Bm25Bucket) * hdr.nbuckets);
	for (uint32 i = 0; i < bld->nterms; i++)
	{
		uint32		s = bld->terms[i]->hash & (hdr.nbuckets - 1);

		while (buckets[s].term != 0)
			s = (s + 1) & (hdr.nbuckets - 1);
		buckets[s].hash = bld->terms[i]->hash;
		buckets[s].term = entry_offs[i];
	}

	/* pages */
	memset(&f, 0, sizeof(f));
	f.index = index;
	f.building = building;
	f.npages = (BlockNumber) ((hdr.end_off + BM25_PAGE_DATA - 1) / BM25_PAGE_DATA);
	f.start = allocate_run(index, f.npages, building);
	retrieval_page_init((Page) f.page.data, RETRIEVAL_PAGE_BM25);
	((PageHeader) f.page.data)->pd_lower = ((PageHeader) f.page.data)->pd_upper;

	filler_put(&f, &hdr, sizeof(hdr));
	filler_pad_to(&f, hdr.doc_off);
	for (uint32 d = 0; d < bld->ndocs; d++)
	{
		Bm25DocEntry e;

		memset(&e, 0, sizeof(e));
		e.tid = bld->tids[d];
		e.length = bld->lengths[d];
		filler_put(&f, &e, sizeof(e));
		if ((d + 1) % BM25_DOCS_PER_PAGE == 0)
			filler_pad_to(&f, page_align((uint64) f.next * BM25_PAGE_DATA + f.used));
	}
	filler_pad_to(&f, hdr.bucket_off);
	filler_put(&f, buckets, sizeof(Bm25Bucket) * hdr.nbuckets);
	filler_pad_to(&f, hdr.term_off);
	for (uint32 i = 0; i < bld->nterms; i++)
	{
		BuildTerm  *t = bld->terms[i];
		Bm25TermHeader th;

		filler_pad_to(&f, entry_offs[i]);
		memset(&th, 0, sizeof(th));
		th.df = t->df;
		th.nblocks = t->nskips;
		th.len = t->len;
		filler_put(&f, &th, sizeof(th));
		filler_put(&f, t->term, t->len);
		for (uint32 s = 0; s < t->nskips; s++)
			t->skips[s].offset += hdr.postings_off;
		filler_put(&f, t->skips, sizeof(Bm25Skip) * t->nskips);
	}
	filler_put(&f, bld->post, bld->npost);
	if (f.used > 0)
		filler_flush(&f);
	if (f.next != f.npages)
		elog(ERROR, "BM25 segment layout mismatch: %u of %u pages written", f.next, f.npages);

	ref->start = f.start;
	ref->npages = f.npages;
	ref->ndocs = bld->ndocs;
	ref->nterms = bld->nterms;
	MemoryContextSwitchTo(old);
	return true;
}
