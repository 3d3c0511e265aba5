/*-------------------------------------------------------------------------
 *
 * tok_icu.c
 *	  The 'icu' tokenizer: NFKC_Casefold the whole text, then cut it into
 *	  words at Unicode word boundaries (UAX #29, ICU's UBRK_WORD iterator,
 *	  which segments Chinese, Japanese, Thai, Khmer, Lao and Burmese runs
 *	  with its dictionaries) and hand each word to the language (tok_lang.c).
 *
 * Folding comes first, on the whole text, rather than on each token:
 *	- segmentation then sees what the index stores, so a query and a
 *	  document that differ only by compatibility forms or case are cut the
 *	  same way: full-width "ＡＢＣ" and "abc", "x²" and "x2" (a superscript
 *	  digit is not a word character for UAX #29, its folded "2" is), the
 *	  ligature "ﬁ" inside a word, half-width katakana (folded to the
 *	  full-width forms the dictionary knows);
 *	- default-ignorable characters (soft hyphen, zero-width joiners) are
 *	  removed by NFKC_Casefold before they can split a word;
 *	- positions are token ordinals, not offsets into the original text, so
 *	  they do not care that folding changes lengths;
 *	- one normalization call over the text is cheaper than one per token.
 * After folding, U+2019 RIGHT SINGLE QUOTATION MARK becomes U+0027: both
 * are MidNumLet for UAX #29 (boundaries do not change), and the Snowball
 * English stemmer only recognises the ASCII apostrophe ("john’s" -> john).
 *
 * A segment is kept when ICU's rule status says it is a word: number,
 * letter, kana or ideographic (>= UBRK_WORD_NONE_LIMIT); spaces,
 * punctuation and symbols (emoji) have status "none" and take no position,
 * and so does a "word" without any letter or digit (underscores only).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "tok_internal.h"

/* check for interrupts every this many segments */
#define INTERRUPT_EVERY 4096

/*
 * Opening a word break iterator loads rules and dictionaries (about a
 * millisecond); one per backend, re-pointed at each text with ubrk_setText.
 * ICU owns its memory (malloc), it lives as long as the backend.
 */
static UBreakIterator *word_iterator = NULL;
static const UChar empty_text[1] = {0};

static void
icu_error(const char *what, UErrorCode status)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("ICU %s failed: %s", what, u_errorName(status))));
}

static const UNormalizer2 *
casefolder(void)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *n = unorm2_getNFKCCasefoldInstance(&status);

	if (U_FAILURE(status))
		icu_error("NFKC_Casefold", status);
	return n;
}

/*
 * UTF-8 -> NFKC_Casefold'ed UTF-16 in CurrentMemoryContext (huge
 * allocations: a 1 GB text needs 2 GB of UTF-16).  Invalid UTF-8 (possible
 * only from SQL_ASCII databases) becomes U+FFFD.
 */
static UChar *
fold_utf16(const char *text, int len, int32_t *outlen)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *src;
	int32_t		srclen;
	UChar	   *dst;
	int32_t		cap;
	int32_t		n;
	const UNormalizer2 *norm = casefolder();

	src = palloc_extended(sizeof(UChar) * ((Size) len + 1), MCXT_ALLOC_HUGE);
	u_strFromUTF8WithSub(src, len + 1, &srclen, text, len, 0xFFFD, NULL, &status);
	if (U_FAILURE(status))
		icu_error("UTF-8 conversion", status);

	/*
	 * Folding rarely changes the length much; guess, and on overflow ICU
	 * reports the exact length needed.
	 */
	cap = srclen + srclen / 8 + 16;
	if (cap < srclen)			/* int32 overflow */
		cap = srclen;
	dst = palloc_extended(sizeof(UChar) * (Size) cap, MCXT_ALLOC_HUGE);
	n = unorm2_normalize(norm, src, srclen, dst, cap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		pfree(dst);
		status = U_ZERO_ERROR;
		cap = n;
		dst = palloc_extended(sizeof(UChar) * (Size) cap, MCXT_ALLOC_HUGE);
		n = unorm2_normalize(norm, src, srclen, dst, cap, &status);
	}
	if (U_FAILURE(status))
		icu_error("NFKC_Casefold", status);
	pfree(src);
	*outlen = n;
	return dst;
}

/*
 * Does the segment hold a letter or a digit?  UAX #29 makes words of
 * connector punctuation alone ("___" is ExtendNumLet), which are not terms.
 */
static bool
has_alnum(const UChar *s, int32_t n)
{
	int32_t		i = 0;

	while (i < n)
	{
		UChar32		c;

		U16_NEXT(s, i, n, c);
		if (u_isalnum(c))
			return true;
	}
	return false;
}

/*
 * UTF-16 -> UTF-8 into *buf (grown as needed, NUL-terminated); returns the
 * byte length.
 */
static int
to_utf8(const UChar *s, int32_t n, char **buf, int32_t *bufcap)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		outlen;

	/* at most 3 bytes per UTF-16 unit; ask ICU when that bound overflows */
	if ((Size) n * 3 + 1 > (Size) *bufcap)
	{
		Size		need = (Size) n * 3 + 1;

		if (need > PG_INT32_MAX)
		{
			u_strToUTF8(NULL, 0, &outlen, s, n, &status);
			if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
				icu_error("UTF-16 conversion", status);
			status = U_ZERO_ERROR;
			need = (Size) outlen + 1;
			if (need > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("word of %d UTF-8 bytes is too long to analyze", outlen)));
		}
		*bufcap = (int32_t) need;
		*buf = repalloc_huge(*buf, need);
	}
	u_strToUTF8(*buf, *bufcap, &outlen, s, n, &status);
	if (U_FAILURE(status))
		icu_error("UTF-16 conversion", status);
	(*buf)[outlen] = '\0';
	return outlen;
}

/* NFKC_Casefold a UTF-8 string; the result is UTF-8, palloc'd. */
char *
icu_fold(const char *text, int len, int *outlen)
{
	int32_t		n;
	UChar	   *folded = fold_utf16(text, len, &n);
	int32_t		cap = 16;
	char	   *buf = palloc(cap);

	*outlen = to_utf8(folded, n, &buf, &cap);
	pfree(folded);
	return buf;
}

void
icu_analyze(const TextAnalyzer *a, TermSink *sink, const char *text, int len)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		n;
	UChar	   *folded = fold_utf16(text, len, &n);
	int32_t		start;
	int32_t		end;
	int32_t		position = 0;
	int			since_check = 0;
	int32_t		cap = 256;
	char	   *buf = palloc(cap);

	for (int32_t i = 0; i < n; i++)
		if (folded[i] == 0x2019)
			folded[i] = 0x0027;

	if (word_iterator == NULL)
	{
		word_iterator = ubrk_open(UBRK_WORD, "", NULL, 0, &status);
		if (U_FAILURE(status))
		{
			word_iterator = NULL;
			icu_error("word break iterator", status);
		}
	}
	ubrk_setText(word_iterator, folded, n, &status);
	if (U_FAILURE(status))
		icu_error("word break iterator", status);

	start = ubrk_first(word_iterator);
	for (end = ubrk_next(word_iterator); end != UBRK_DONE;
		 start = end, end = ubrk_next(word_iterator))
	{
		int			blen;

		if (++since_check == INTERRUPT_EVERY)
		{
			since_check = 0;
			CHECK_FOR_INTERRUPTS();
		}
		if (ubrk_getRuleStatus(word_iterator) < UBRK_WORD_NONE_LIMIT ||
			!has_alnum(folded + start, end - start))
			continue;
		blen = to_utf8(folded + start, end - start, &buf, &cap);
		language_emit(a, sink, buf, blen, position);
		position++;
	}

	/* don't leave ICU pointing at memory about to be freed */
	ubrk_setText(word_iterator, empty_text, 0, &status);
	pfree(folded);
	pfree(buf);
}
