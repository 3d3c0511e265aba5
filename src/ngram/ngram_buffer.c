/*-------------------------------------------------------------------------
 *
 * ngram_buffer.c
 *	  The write buffer of the n-gram part: a chain of pages holding the
 *	  documents inserted since the last fold, as raw symbols, which queries
 *	  scan directly (ngram_query.c).
 *
 * A document is one or more chunk entries (NgramChunk + symbols: one byte
 * each in byte mode, four in token mode), in order, on consecutive pages of
 * the chain.  Each append is WAL-logged together with the metapage (the
 * chain's tail and counts), one record per page touched, and the counts
 * change in the record of the document's last chunk: a crash in the middle
 * of a long document leaves a partial document at the end of the chain,
 * which readers skip (its chunks do not reach its length) and the metapage
 * does not count.  Readers read only the first meta.buffer_docs complete
 * documents, so what they see agrees with the metapage they copied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "ngram.h"

typedef struct NgramChunk
{
	uint64		key;
	uint32		doc_len;		/* symbols of the whole document */
	uint32		offset;			/* of this chunk's first symbol */
	uint32		len;			/* symbols in this chunk */
	uint32		pad;
} NgramChunk;

#define PAGE_DATA_END	(BLCKSZ - MAXALIGN(sizeof(RetrievalPageOpaqueData)))

static inline Size
symbol_width(uint32 mode)
{
	return mode == NGRAM_MODE_BYTES ? 1 : 4;
}

static void
init_buffer_page(Page page)
{
	retrieval_page_init(page, RETRIEVAL_PAGE_NGRAM_BUFFER);
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData);
}

/*
 * A new, empty chain of one page (a free page of meta's when given);
 * returns its block.
 */
BlockNumber
ngram_buffer_new_chain(Relation index, NgramMetaData *meta, bool building)
{
	Buffer		buf = building ? retrieval_new_buffer(index, MAIN_FORKNUM)
		: ngram_new_page(index, meta);
	RetrievalPageWrite write;
	BlockNumber blkno = BufferGetBlockNumber(buf);

	retrieval_write_begin(&write, index, building);
	init_buffer_page(retrieval_write_page(&write, buf, true));
	retrieval_write_finish(&write);
	UnlockReleaseBuffer(buf);
	return blkno;
}

/*
 * Append a document to the chain of meta (buffer_tail).  The caller holds
 * the write lock and passes the current metapage contents, which are
 * updated here; with publish, they are also written with each record.
 * Without it (a chain being filled before it is listed: VACUUM) only the
 * chain's pages are logged and the caller writes the metapage once done.
 */
void
ngram_buffer_append(Relation index, BlockNumber metablk, NgramMetaData *meta,
					const NgramDoc *doc, bool publish)
{
	Size		width = symbol_width(meta->mode);
	uint32		done = 0;

	do
	{
		Buffer		metabuf = publish ? ReadBuffer(index, metablk) : InvalidBuffer;
		Buffer		tailbuf = ReadBuffer(index, meta->buffer_tail);
		Buffer		newbuf = InvalidBuffer;
		RetrievalPageWrite write;
		Page		tail;
		Page		target;
		PageHeader	hdr;
		Size		room;
		uint32		n;
		NgramChunk	chunk;

		CHECK_FOR_INTERRUPTS();
		if (publish)
			LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(tailbuf, BUFFER_LOCK_EXCLUSIVE);
		retrieval_write_begin(&write, index, false);
		tail = retrieval_write_page(&write, tailbuf, false);
		if (!retrieval_page_has_type(tail, RETRIEVAL_PAGE_NGRAM_BUFFER))
			ngram_corrupted(index, "write buffer page of the wrong type");
		target = tail;
		hdr = (PageHeader) target;
		room = hdr->pd_lower <= PAGE_DATA_END ? PAGE_DATA_END - hdr->pd_lower : 0;
		/* a new page when not even a chunk header and one symbol fit */
		if (room < MAXALIGN(sizeof(NgramChunk) + width))
		{
			newbuf = ngram_new_page(index, meta);
			target = retrieval_write_page(&write, newbuf, true);
			init_buffer_page(target);
			RetrievalPageGetOpaque(tail)->next = BufferGetBlockNumber(newbuf);
			meta->buffer_tail = BufferGetBlockNumber(newbuf);
			hdr = (PageHeader) target;
			room = PAGE_DATA_END - hdr->pd_lower;
		}
		n = (uint32) Min((Size) (doc->len - done), (room - sizeof(NgramChunk)) / width);
		chunk.key = doc->key;
		chunk.doc_len = doc->len;
		chunk.offset = done;
		chunk.len = n;
		chunk.pad = 0;
		memcpy((char *) target + hdr->pd_lower, &chunk, sizeof(chunk));
		if (width == 1)
		{
			uint8	   *dst = (uint8 *) target + hdr->pd_lower + sizeof(chunk);

			for (uint32 i = 0; i < n; i++)
				dst[i] = (uint8) doc->symbols[done + i];
		}
		else
			memcpy((char *) target + hdr->pd_lower + sizeof(chunk), doc->symbols + done,
				   (Size) n * 4);
		hdr->pd_lower += MAXALIGN(sizeof(chunk) + (Size) n * width);
		done += n;
		if (done == doc->len)
		{
			meta->buffer_docs++;
			meta->buffer_symbols += doc->len;
			meta->ndocs++;
			meta->nsymbols += doc->len;
		}
		if (publish)
			memcpy(PageGetContents(retrieval_write_page(&write, metabuf, false)), meta,
				   sizeof(*meta));
		retrieval_write_finish(&write);
		if (BufferIsValid(newbuf))
			UnlockReleaseBuffer(newbuf);
		UnlockReleaseBuffer(tailbuf);
		if (publish)
			UnlockReleaseBuffer(metabuf);
	} while (done < doc->len);
}

/*
 * The first `limit` complete documents of a chain, in insertion order.
 * mode decides the symbol width.
 */
NgramDoc *
ngram_buffer_read_limit(Relation index, BlockNumber head, uint32 mode, uint32 limit,
						uint32 *ndocs)
{
	Size		width = symbol_width(mode);
	NgramDoc   *docs = palloc(sizeof(NgramDoc) * Max(limit, 1));
	uint32		n = 0;
	NgramDoc   *open = NULL;	/* document being reassembled */
	BlockNumber blkno = head;

	while (BlockNumberIsValid(blkno) && n < limit)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		Size		off;
		Size		end;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!retrieval_page_has_type(page, RETRIEVAL_PAGE_NGRAM_BUFFER))
			ngram_corrupted(index, "write buffer page of the wrong type");
		off = MAXALIGN(SizeOfPageHeaderData);
		end = ((PageHeader) page)->pd_lower;
		if (end > PAGE_DATA_END)
			ngram_corrupted(index, "write buffer page overflows");
		while (off + sizeof(NgramChunk) <= end && n < limit)
		{
			NgramChunk	chunk;
			const char *data;

			memcpy(&chunk, (char *) page + off, sizeof(chunk));
			data = (char *) page + off + sizeof(chunk);
			if (off + sizeof(chunk) + (Size) chunk.len * width > end ||
				chunk.offset + (uint64) chunk.len > chunk.doc_len)
				ngram_corrupted(index, "invalid write buffer entry");
			if (chunk.offset == 0)
			{
				/* a new document (a partial one before it is dropped) */
				open = &docs[n];
				open->key = chunk.key;
				open->len = 0;
				open->symbols = palloc_extended(sizeof(uint32) * Max(chunk.doc_len, 1),
												MCXT_ALLOC_HUGE);
			}
			if (open != NULL && open->key == chunk.key && open->len == chunk.offset)
			{
				if (width == 1)
					for (uint32 i = 0; i < chunk.len; i++)
						open->symbols[open->len + i] = (uint8) data[i];
				else
					memcpy(open->symbols + open->len, data, (Size) chunk.len * 4);
				open->len += chunk.len;
				if (open->len == chunk.doc_len)
				{
					n++;
					open = NULL;
				}
			}
			off += MAXALIGN(sizeof(chunk) + (Size) chunk.len * width);
		}
		blkno = RetrievalPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	*ndocs = n;
	return docs;
}
