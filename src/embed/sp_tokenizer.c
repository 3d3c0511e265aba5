/*-------------------------------------------------------------------------
 *
 * sp_tokenizer.c
 *	  SentencePiece-unigram tokenizer of the default model (USE-lite).
 *
 * Reproduces, decision for decision, the reference JavaScript tokenizer
 * (@tensorflow-models/universal-sentence-encoder), because the model's
 * published outputs were computed from its token ids:
 *
 *  1. NFKC (ICU; JavaScript's String.prototype.normalize uses ICU too);
 *  2. if non-empty: prefix U+2581 and replace every U+0020 by U+2581;
 *  3. lattice over code points: at each start, every vocabulary piece (ids
 *     first_piece..) that matches there; if none, the single character as
 *     id 0 with score 0.  For duplicate pieces the last id wins (the JS trie
 *     overwrites);
 *  4. Viterbi with the JS rule, in the same visiting order: an edge
 *     start->end with total score s replaces best[end] when best[end] == 0
 *     (JS uses 0 as "unset") or s >= best[end]; scores are doubles;
 *  5. backtrack from the end, stepping back by each piece's JS string length
 *     (UTF-16 units);
 *  6. merge runs of consecutive id-0 (unknown) tokens into one.
 *
 * Pieces are found by hashing the UTF-8 bytes of every prefix of up to
 * max_piece_chars code points (FNV-1a, open addressing; 32 kB private).
 * A bit set over the same hashes marks every prefix that some longer piece
 * starts with; the scan at a position stops extending as soon as its prefix
 * is not marked.  Collisions only set extra bits (a useless longer look),
 * never clear one, so the result is exactly that of trying every length;
 * most positions stop after two or three lookups instead of max_piece_chars
 * (64 kB private).
 *
 * Early stop: if U+2581 only ever appears as the first character of a piece,
 * no lattice edge crosses a U+2581 position, so every path, and the best
 * one, passes through it, and the tokens before it are final once the
 * forward pass reaches it.  embed() needs 128 tokens: we stop at the first
 * such position that has that many before it, so a 1 MB input costs what its
 * first few hundred words cost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/ucnv.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "miscadmin.h"

#include "sp_tokenizer.h"

#define SEP 0x2581				/* LOWER ONE EIGHTH BLOCK, SentencePiece's space */
#define EMPTY_SLOT 0xFFFF
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
#define LONGER_BITS (1 << 19)

static inline uint64
fnv_extend(uint64 h, const uint8 *p, int n)
{
	for (int i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static inline void
longer_set(SpTokenizer *tok, uint64 h)
{
	uint32		b = (uint32) (h >> 32) & tok->longer_mask;

	tok->longer[b / 64] |= UINT64CONST(1) << (b % 64);
}

/* whether some piece may be longer than the prefix with hash h */
static inline bool
longer_maybe(const SpTokenizer *tok, uint64 h)
{
	uint32		b = (uint32) (h >> 32) & tok->longer_mask;

	return (tok->longer[b / 64] >> (b % 64)) & 1;
}

void
sp_tokenizer_init(SpTokenizer *tok, int vocab_size, int first_piece,
				  const double *scores, const uint32 *offsets,
				  const uint8 *bytes, size_t nbytes)
{
	uint32		size = 1;

	if (vocab_size <= first_piece || vocab_size >= EMPTY_SLOT ||
		offsets[vocab_size] > nbytes)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding model vocabulary is invalid")));

	tok->vocab_size = vocab_size;
	tok->first_piece = first_piece;
	tok->scores = scores;
	tok->offsets = offsets;
	tok->bytes = bytes;
	tok->max_piece_chars = 1;
	tok->boundary_safe = true;
	tok->js_length = palloc(vocab_size);

	while (size < 2 * (uint32) vocab_size)
		size <<= 1;
	tok->mask = size - 1;
	tok->slots = palloc(size * sizeof(uint16));
	memset(tok->slots, 0xFF, size * sizeof(uint16));
	tok->longer_mask = LONGER_BITS - 1;
	tok->longer = palloc0(LONGER_BITS / 8);

	for (int id = 0; id < vocab_size; id++)
	{
		const uint8 *p = bytes + offsets[id];
		int			n = (int) (offsets[id + 1] - offsets[id]);
		int			chars = 0,
					units = 0;

		if (offsets[id + 1] < offsets[id])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("embedding model vocabulary is invalid")));
		for (int i = 0; i < n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
			{
				chars++;
				units += (p[i] >= 0xF0) ? 2 : 1;	/* astral: a surrogate pair */
				/* U+2581 is E2 96 81 */
				if (chars > 1 && i + 2 < n && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81)
					tok->boundary_safe = false;
			}
		}
		tok->js_length[id] = (uint8) Min(units, 255);
		if (id < first_piece || n == 0)
			continue;
		if (chars > tok->max_piece_chars)
			tok->max_piece_chars = chars;

		/*
		 * Hash the piece byte by byte, marking each proper prefix (at code
		 * point boundaries) as extensible on the way.
		 */
		{
			uint64		h = FNV_OFFSET;
			uint32		s;

			for (int i = 0; i < n; i++)
			{
				h = fnv_extend(h, p + i, 1);
				if (i + 1 < n && (p[i + 1] & 0xC0) != 0x80)
					longer_set(tok, h);
			}
			s = (uint32) h & tok->mask;

			/* insert or overwrite (duplicate piece: the later id wins) */
			for (;; s = (s + 1) & tok->mask)
			{
				uint16		other = tok->slots[s];

				if (other == EMPTY_SLOT)
				{
					tok->slots[s] = (uint16) id;
					break;
				}
				if (offsets[other + 1] - offsets[other] == (uint32) n &&
					memcmp(bytes + offsets[other], p, n) == 0)
				{
					tok->slots[s] = (uint16) id;
					break;
				}
			}
		}
	}
}

static inline int
lookup(const SpTokenizer *tok, uint64 h, const uint8 *p, int n)
{
	for (uint32 s = (uint32) h & tok->mask;; s = (s + 1) & tok->mask)
	{
		uint16		id = tok->slots[s];

		if (id == EMPTY_SLOT)
			return -1;
		if (tok->offsets[id + 1] - tok->offsets[id] == (uint32) n &&
			memcmp(tok->bytes + tok->offsets[id], p, n) == 0)
			return id;
	}
}

/*
 * NFKC-normalise UTF-8 input into code points with the U+2581 rules applied.
 * Invalid UTF-8 (possible only with SQL_ASCII databases) becomes U+FFFD.
 */
static UChar32 *
prepare(const char *utf8, int len, int *n_out)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&status);
	UChar	   *u16;
	UChar	   *norm;
	int32_t		u16len = 0,
				normlen;
	UChar32    *cps;
	int			n = 0;

	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not load the ICU NFKC normalizer: %s", u_errorName(status))));

	/* UTF-16 needs at most one unit per input byte */
	u16 = palloc_extended(((Size) len + 1) * sizeof(UChar), MCXT_ALLOC_HUGE);
	u_strFromUTF8WithSub(u16, len + 1, &u16len, utf8, len, 0xFFFD, NULL, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("could not convert text to UTF-16: %s", u_errorName(status))));

	/* preflight, then normalise */
	normlen = unorm2_normalize(nfkc, u16, u16len, NULL, 0, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("NFKC normalization failed: %s", u_errorName(status))));
	status = U_ZERO_ERROR;
	norm = palloc_extended(((Size) normlen + 1) * sizeof(UChar), MCXT_ALLOC_HUGE);
	unorm2_normalize(nfkc, u16, u16len, norm, normlen + 1, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("NFKC normalization failed: %s", u_errorName(status))));
	pfree(u16);

	cps = palloc_extended(((Size) normlen + 1) * sizeof(UChar32), MCXT_ALLOC_HUGE);
	if (normlen > 0)
		cps[n++] = SEP;
	for (int32_t i = 0; i < normlen;)
	{
		UChar32		c;

		U16_NEXT(norm, i, normlen, c);
		cps[n++] = (c == ' ') ? SEP : c;
	}
	pfree(norm);
	*n_out = n;
	return cps;
}

static inline int
utf8_encode(UChar32 c, uint8 *o)
{
	if (c < 0x80)
	{
		o[0] = (uint8) c;
		return 1;
	}
	if (c < 0x800)
	{
		o[0] = 0xC0 | (c >> 6);
		o[1] = 0x80 | (c & 0x3F);
		return 2;
	}
	if (c < 0x10000)
	{
		o[0] = 0xE0 | (c >> 12);
		o[1] = 0x80 | ((c >> 6) & 0x3F);
		o[2] = 0x80 | (c & 0x3F);
		return 3;
	}
	o[0] = 0xF0 | (c >> 18);
	o[1] = 0x80 | ((c >> 12) & 0x3F);
	o[2] = 0x80 | ((c >> 6) & 0x3F);
	o[3] = 0x80 | (c & 0x3F);
	return 4;
}

/* Walk back from position end; returns the number of tokens after merging
 * unknown runs, writing them (reversed) into out when out is not NULL. */
static int
backtrack(const SpTokenizer *tok, const int32 *words, int end, int32 *out)
{
	int			count = 0;
	bool		prev_unk = false;

	for (int iter = end; iter > 0;)
	{
		int32		id = words[iter];

		if (!(prev_unk && id == 0))
		{
			if (out)
				out[count] = id;
			count++;
		}
		prev_unk = (id == 0);
		iter -= Max(tok->js_length[id], 1);
	}
	return count;
}

int32 *
sp_tokenize(const SpTokenizer *tok, const char *utf8, int len, int max_tokens, int *count)
{
	int			n;
	UChar32    *cps = prepare(utf8, len, &n);
	uint32	   *off;			/* byte offset of each position */
	uint8	   *buf;
	double	   *best;
	int32	   *words;
	int32	   *ids;
	int			end = n;
	int			next_check = Max(max_tokens, 1);
	int			ntok;

	/* the code points again as UTF-8, to hash and compare with the pieces */
	buf = palloc_extended((Size) n * 4 + 1, MCXT_ALLOC_HUGE);
	off = palloc_extended(((Size) n + 1) * sizeof(uint32), MCXT_ALLOC_HUGE);
	off[0] = 0;
	for (int i = 0; i < n; i++)
		off[i + 1] = off[i] + utf8_encode(cps[i], buf + off[i]);

	best = palloc_extended(((Size) n + 1) * sizeof(double), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	words = palloc_extended(((Size) n + 1) * sizeof(int32), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	for (int s = 0; s < n; s++)
	{
		uint64		h = FNV_OFFSET;
		bool		found = false;
		int			maxl = Min(tok->max_piece_chars, n - s);

		if ((s & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		if (max_tokens > 0 && tok->boundary_safe && cps[s] == SEP && s >= next_check)
		{
			if (backtrack(tok, words, s, NULL) >= max_tokens)
			{
				end = s;
				break;
			}
			next_check = s * 2;
		}

		for (int l = 1; l <= maxl; l++)
		{
			int			id;

			h = fnv_extend(h, buf + off[s + l - 1], off[s + l] - off[s + l - 1]);
			id = lookup(tok, h, buf + off[s], off[s + l] - off[s]);
			if (id >= 0)
			{
				double		score = tok->scores[id] + best[s];

				found = true;
				if (best[s + l] == 0 || score >= best[s + l])
				{
					best[s + l] = score;
					words[s + l] = id;
				}
			}
			if (!longer_maybe(tok, h))
				break;
		}
		if (!found)
		{
			double		score = 0 + best[s];

			if (best[s + 1] == 0 || score >= best[s + 1])
			{
				best[s + 1] = score;
				words[s + 1] = 0;
			}
		}
	}

	ntok = backtrack(tok, words, end, NULL);
	ids = palloc_extended(((Size) ntok + 1) * sizeof(int32), MCXT_ALLOC_HUGE);
	backtrack(tok, words, end, ids);
	/* reverse into reading order */
	for (int i = 0, j = ntok - 1; i < j; i++, j--)
	{
		int32		t = ids[i];

		ids[i] = ids[j];
		ids[j] = t;
	}
	if (max_tokens > 0 && ntok > max_tokens)
		ntok = max_tokens;

	pfree(cps);
	pfree(buf);
	pfree(off);
	pfree(best);
	pfree(words);
	*count = ntok;
	return ids;
}
