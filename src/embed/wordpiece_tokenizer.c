/*-------------------------------------------------------------------------
 *
 * wordpiece_tokenizer.c
 *	  WordPiece tokenization as Hugging Face tokenizers does it for BERT
 *	  (tokenizer.json: BertNormalizer + BertPreTokenizer + WordPiece).
 *
 * Per code point of the input (UTF-8; invalid bytes become U+FFFD):
 *
 *  1. clean_text: drop NUL, U+FFFD and "other" characters (general category
 *     C*, except \t \n \r); any White_Space character becomes a space;
 *  2. handle_chinese_chars: CJK ideographs (the ranges of the original BERT
 *     code) get a space on each side, so each is its own word;
 *  3. strip_accents (default: same as lowercase): canonical decomposition
 *     (NFD, ICU), then drop non-spacing marks (Mn);
 *  4. lowercase: full Unicode lowercase mapping of each character (ICU);
 *  5. pre-tokenization: White_Space separates words; each punctuation
 *     character (ASCII punctuation or general category P*) is a word alone;
 *  6. WordPiece per word: more than max_input_chars_per_word characters is
 *     [UNK]; otherwise greedy longest match first, continuation pieces
 *     carrying the "##" prefix; if some position matches nothing the whole
 *     word is [UNK].
 *
 * Steps 1-4 are per character, so the pipeline streams: words are final
 * when they end, and embed() stops as soon as it has enough tokens, so a
 * 1 MB text costs what its first few hundred words cost.
 *
 * XXX: NFD is applied per character, so combining marks of different
 * classes are not canonically reordered; strip_accents removes the usual
 * (Mn) ones anyway, and without strip_accents no NFD is done at all.
 * XXX: added tokens that appear literally in the text (e.g. "[MASK]") are
 * tokenized as ordinary text, where Hugging Face would match them whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "embed_json.h"
#include "wordpiece_tokenizer.h"

/* ---------------------------------------------------------------------
 * Vocabulary
 * ---------------------------------------------------------------------
 */

static uint32
piece_hash(const char *s, int len)
{
	return hash_bytes((const unsigned char *) s, len);
}

int32
wordpiece_lookup(const WordPieceTokenizer *wp, const char *piece, int len)
{
	uint32		h = piece_hash(piece, len) & wp->mask;

	for (;;)
	{
		int32		id = wp->slots[h];

		if (id < 0)
			return -1;
		if ((int) (wp->offsets[id + 1] - wp->offsets[id]) == len &&
			memcmp(wp->bytes + wp->offsets[id], piece, len) == 0)
			return id;
		h = (h + 1) & wp->mask;
	}
}

static bool
string_is(const JsonbValue *v, const char *s)
{
	return v && v->type == jbvString && v->val.string.len == (int) strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

static void
load_vocab(WordPieceTokenizer *wp, JsonbContainer *vocab, const char *path)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = (int) JsonContainerSize(vocab);
	int32	   *ids;
	char	  **keys;
	int		   *klen;
	int			i = 0;
	size_t		total = 0;
	uint32		nslots = 16;

	if (n == 0)
		embed_json_invalid(path, "the WordPiece vocabulary is empty");
	ids = palloc(n * sizeof(int32));
	keys = palloc(n * sizeof(char *));
	klen = palloc(n * sizeof(int));
	wp->vocab_size = 0;
	it = JsonbIteratorInit(vocab);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		Assert(i < n);
		keys[i] = v.val.string.val;
		klen[i] = v.val.string.len;
		tok = JsonbIteratorNext(&it, &v, true);
		ids[i] = (int32) embed_json_value_int(&v, path);
		if (ids[i] < 0 || ids[i] >= (1 << 24))
			embed_json_invalid(path, "a vocabulary id is out of range");
		wp->vocab_size = Max(wp->vocab_size, ids[i] + 1);
		total += klen[i];
		i++;
	}
	n = i;

	/* pieces by id; ids without a piece are empty (never matched) */
	{
		uint32	   *len_of = palloc0(wp->vocab_size * sizeof(uint32));
		char	  **src = palloc0(wp->vocab_size * sizeof(char *));
		uint32		off = 0;

		for (i = 0; i < n; i++)
		{
			if (src[ids[i]] != NULL)
				embed_json_invalid(path, "two vocabulary pieces share an id");
			src[ids[i]] = keys[i];
			len_of[ids[i]] = klen[i];
		}
		wp->bytes = palloc(total + 1);
		wp->offsets = palloc((wp->vocab_size + 1) * sizeof(uint32));
		for (int id = 0; id < wp->vocab_size; id++)
		{
			wp->offsets[id] = off;
			if (len_of[id])
				memcpy(wp->bytes + off, src[id], len_of[id]);
			off += len_of[id];
		}
		wp->offsets[wp->vocab_size] = off;
		pfree(len_of);
		pfree(src);
	}

	while (nslots < 2 * (uint32) n)
		nslots *= 2;
	wp->mask = nslots - 1;
	wp->slots = palloc(nslots * sizeof(int32));
	memset(wp->slots, 0xff, nslots * sizeof(int32));
	for (i = 0; i < n; i++)
	{
		uint32		h = piece_hash(keys[i], klen[i]) & wp->mask;

		while (wp->slots[h] >= 0)
			h = (h + 1) & wp->mask;
		wp->slots[h] = ids[i];
	}
	pfree(ids);
	pfree(keys);
	pfree(klen);
}

static int32
special_id(WordPieceTokenizer *wp, const JsonbValue *name, const char *path)
{
	int32		id;

	if (name == NULL || name->type != jbvString)
		embed_json_invalid(path, "a special token of the post-processor is not a string");
	id = wordpiece_lookup(wp, name->val.string.val, name->val.string.len);
	if (id < 0)
		embed_json_invalid(path, "a special token of the post-processor is not in the vocabulary");
	return id;
}

static void
add_special(WordPieceTokenizer *wp, bool before, int32 id, const char *path)
{
	if ((before ? wp->n_before : wp->n_after) >= WP_MAX_SPECIAL)
		embed_json_invalid(path, "too many special tokens in the post-processor");
	if (before)
		wp->before[wp->n_before++] = id;
	else
		wp->after[wp->n_after++] = id;
}

static void
load_post_processor(WordPieceTokenizer *wp, JsonbContainer *pp, const char *path)
{
	char	   *type = embed_json_string_opt(pp, "type", "", path);

	if (strcmp(type, "BertProcessing") == 0)
	{
		JsonbContainer *cls = embed_json_array(pp, "cls", path);
		JsonbContainer *sep = embed_json_array(pp, "sep", path);

		if (!cls || !sep || JsonContainerSize(cls) != 2 || JsonContainerSize(sep) != 2)
			embed_json_invalid(path, "BertProcessing lacks cls or sep");
		add_special(wp, true, (int32) embed_json_value_int(getIthJsonbValueFromContainer(cls, 1), path), path);
		add_special(wp, false, (int32) embed_json_value_int(getIthJsonbValueFromContainer(sep, 1), path), path);
	}
	else if (strcmp(type, "TemplateProcessing") == 0)
	{
		JsonbContainer *single = embed_json_array(pp, "single", path);
		JsonbContainer *specials = embed_json_object(pp, "special_tokens", path);
		bool		seen_sequence = false;

		if (single == NULL)
			embed_json_invalid(path, "TemplateProcessing lacks \"single\"");
		for (uint32 i = 0; i < JsonContainerSize(single); i++)
		{
			JsonbValue *item = getIthJsonbValueFromContainer(single, i);
			JsonbContainer *ic;
			JsonbContainer *st;

			if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data))
				embed_json_invalid(path, "a template item is not an object");
			ic = item->val.binary.data;
			if (embed_json_get(ic, "Sequence"))
			{
				if (seen_sequence)
					embed_json_invalid(path, "the single template has two sequences");
				seen_sequence = true;
				continue;
			}
			st = embed_json_object(ic, "SpecialToken", path);
			if (st == NULL)
				embed_json_invalid(path, "unsupported template item");
			{
				JsonbValue *name = embed_json_get(st, "id");
				JsonbContainer *entry;
				JsonbContainer *ids;

				if (name == NULL || name->type != jbvString)
					embed_json_invalid(path, "a template special token has no id");
				entry = specials ? embed_json_object(specials, pnstrdup(name->val.string.val, name->val.string.len), path) : NULL;
				ids = entry ? embed_json_array(entry, "ids", path) : NULL;
				if (ids == NULL)
					add_special(wp, !seen_sequence, special_id(wp, name, path), path);
				else
					for (uint32 j = 0; j < JsonContainerSize(ids); j++)
						add_special(wp, !seen_sequence,
									(int32) embed_json_value_int(getIthJsonbValueFromContainer(ids, j), path), path);
			}
		}
		if (!seen_sequence)
			embed_json_invalid(path, "the single template has no sequence");
	}
	else
		embed_json_invalid(path, psprintf("post-processor \"%s\" is not supported (only BertProcessing and TemplateProcessing)", type));

	for (int i = 0; i < wp->n_before; i++)
		if (wp->before[i] < 0 || wp->before[i] >= wp->vocab_size)
			embed_json_invalid(path, "a special token id is out of range");
	for (int i = 0; i < wp->n_after; i++)
		if (wp->after[i] < 0 || wp->after[i] >= wp->vocab_size)
			embed_json_invalid(path, "a special token id is out of range");
}

void
wordpiece_load(WordPieceTokenizer *wp, JsonbContainer *tok, const char *path)
{
	JsonbContainer *model = embed_json_object(tok, "model", path);
	JsonbContainer *norm = embed_json_object(tok, "normalizer", path);
	JsonbContainer *pre = embed_json_object(tok, "pre_tokenizer", path);
	JsonbContainer *post = embed_json_object(tok, "post_processor", path);
	JsonbContainer *trunc = embed_json_object(tok, "truncation", path);
	JsonbContainer *vocab;
	JsonbValue *type;
	char	   *unk;
	char	   *pre_type;

	memset(wp, 0, sizeof(*wp));
	if (model == NULL)
		embed_json_invalid(path, "no \"model\" object");
	type = embed_json_get(model, "type");
	if (type && !string_is(type, "WordPiece"))
		embed_json_invalid(path, psprintf("tokenizer model \"%s\" is not supported (only WordPiece)",
										  type->type == jbvString ? pnstrdup(type->val.string.val, type->val.string.len) : "?"));
	vocab = embed_json_object(model, "vocab", path);
	if (vocab == NULL)
		embed_json_invalid(path, "the WordPiece model has no vocabulary");
	load_vocab(wp, vocab, path);

	unk = embed_json_string_opt(model, "unk_token", "[UNK]", path);
	wp->unk_id = wordpiece_lookup(wp, unk, strlen(unk));
	if (wp->unk_id < 0)
		embed_json_invalid(path, psprintf("the unknown token \"%s\" is not in the vocabulary", unk));
	wp->prefix = embed_json_string_opt(model, "continuing_subword_prefix", "##", path);
	wp->prefix_len = strlen(wp->prefix);
	wp->max_word_chars = (int) Min(Max(embed_json_int_opt(model, "max_input_chars_per_word", 100, path), 0), 100000);

	if (norm)
	{
		char	   *nt = embed_json_string_opt(norm, "type", "", path);

		if (strcmp(nt, "BertNormalizer") != 0)
			embed_json_invalid(path, psprintf("normalizer \"%s\" is not supported (only BertNormalizer)", nt));
		wp->clean_text = embed_json_bool_opt(norm, "clean_text", true, path);
		wp->handle_chinese_chars = embed_json_bool_opt(norm, "handle_chinese_chars", true, path);
		wp->lowercase = embed_json_bool_opt(norm, "lowercase", true, path);
		wp->strip_accents = embed_json_bool_opt(norm, "strip_accents", wp->lowercase, path);
	}
	pre_type = pre ? embed_json_string_opt(pre, "type", "", path) : "(none)";
	if (strcmp(pre_type, "BertPreTokenizer") != 0)
		embed_json_invalid(path, psprintf("pre-tokenizer \"%s\" is not supported (only BertPreTokenizer)", pre_type));
	if (post)
		load_post_processor(wp, post, path);
	if (trunc)
		wp->truncation = (int) Min(Max(embed_json_int_opt(trunc, "max_length", 0, path), 0), 1 << 20);
}

/* ---------------------------------------------------------------------
 * Character classes (Hugging Face's definitions, on ICU's tables)
 * ---------------------------------------------------------------------
 */

static bool
is_whitespace(UChar32 c)
{
	return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(c);
}

static bool
is_other(UChar32 c)
{
	int8		t;

	if (c == '\t' || c == '\n' || c == '\r')
		return false;
	t = u_charType(c);
	return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR || t == U_SURROGATE ||
		t == U_PRIVATE_USE_CHAR || t == U_UNASSIGNED;
}

static bool
is_punctuation(UChar32 c)
{
	if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
		return true;
	return u_ispunct(c);
}

static bool
is_chinese(UChar32 c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
		(c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
		(c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
		(c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Decode one code point; invalid or truncated sequences give U+FFFD, 1 byte. */
static UChar32
next_cp(const unsigned char *s, int len, int *pos)
{
	int			i = *pos;
	int			n;
	UChar32		c;

	if (s[i] < 0x80)
	{
		*pos = i + 1;
		return s[i];
	}
	n = pg_utf_mblen(&s[i]);
	if (n < 2 || n > 4 || i + n > len || !pg_utf8_islegal(&s[i], n))
	{
		*pos = i + 1;
		return 0xFFFD;
	}
	c = utf8_to_unicode(&s[i]);
	*pos = i + n;
	return c;
}

/* ---------------------------------------------------------------------
 * Tokenization
 * ---------------------------------------------------------------------
 */

typedef struct TokState
{
	const WordPieceTokenizer *wp;
	int			max_tokens;
	int32	   *ids;
	int			n;
	int			cap;
	/* the current word: UTF-8 of its first max_word_chars + 1 characters */
	char	   *word;
	int		   *char_end;		/* byte end of each stored character */
	int			chars;			/* all characters of the word */
	int			stored;			/* characters stored */
	char	   *key;			/* scratch: prefix + piece */
	const UNormalizer2 *nfd;
} TokState;

static void
push_id(TokState *ts, int32 id)
{
	if (ts->n == ts->cap)
	{
		ts->cap *= 2;
		ts->ids = repalloc_huge(ts->ids, ts->cap * sizeof(int32));
	}
	ts->ids[ts->n++] = id;
}

static void
flush_word(TokState *ts)
{
	const WordPieceTokenizer *wp = ts->wp;
	int			first = ts->n;
	int			start = 0;

	if (ts->chars == 0)
		return;
	if (ts->chars > wp->max_word_chars)
	{
		push_id(ts, wp->unk_id);
		ts->chars = ts->stored = 0;
		return;
	}
	/* greedy longest match first, over character boundaries */
	while (start < ts->stored)
	{
		int			sbyte = start == 0 ? 0 : ts->char_end[start - 1];
		int			end;
		int32		id = -1;

		for (end = ts->stored; end > start; end--)
		{
			int			len = ts->char_end[end - 1] - sbyte;

			if (start > 0)
			{
				memcpy(ts->key, wp->prefix, wp->prefix_len);
				memcpy(ts->key + wp->prefix_len, ts->word + sbyte, len);
				id = wordpiece_lookup(wp, ts->key, wp->prefix_len + len);
			}
			else
				id = wordpiece_lookup(wp, ts->word, len);
			if (id >= 0)
				break;
		}
		if (id < 0)
		{
			ts->n = first;		/* the whole word is unknown */
			push_id(ts, wp->unk_id);
			break;
		}
		push_id(ts, id);
		start = end;
	}
	ts->chars = ts->stored = 0;
}

static void
word_append(TokState *ts, UChar32 c)
{
	if (ts->stored <= ts->wp->max_word_chars)
	{
		int			at = ts->stored == 0 ? 0 : ts->char_end[ts->stored - 1];

		unicode_to_utf8((pg_wchar) c, (unsigned char *) ts->word + at);
		ts->char_end[ts->stored] = at + pg_utf_mblen((unsigned char *) ts->word + at);
		ts->stored++;
	}
	ts->chars++;
}

/* Pre-tokenization of one normalized character. */
static void
pretokenize(TokState *ts, UChar32 c)
{
	if (is_whitespace(c))
		flush_word(ts);
	else if (is_punctuation(c))
	{
		flush_word(ts);
		word_append(ts, c);
		flush_word(ts);
	}
	else
		word_append(ts, c);
}

/* Steps 3-4 for one character after clean_text and CJK handling. */
static void
normalize_tail(TokState *ts, UChar32 c)
{
	const WordPieceTokenizer *wp = ts->wp;
	UChar		dec[32];
	int32_t		declen = -1;
	UErrorCode	status = U_ZERO_ERROR;

	if (wp->strip_accents && c >= 0x80)
	{
		declen = unorm2_getDecomposition(ts->nfd, c, dec, lengthof(dec), &status);
		if (U_FAILURE(status))
			declen = -1;
	}
	if (declen < 0)
	{
		/* no decomposition: the character itself */
		declen = 0;
		U16_APPEND_UNSAFE(dec, declen, c);
	}
	for (int i = 0; i < declen;)
	{
		UChar32		d;

		U16_NEXT(dec, i, declen, d);
		if (wp->strip_accents && u_charType(d) == U_NON_SPACING_MARK)
			continue;
		if (wp->lowercase)
		{
			if (d < 0x80)
				d = (d >= 'A' && d <= 'Z') ? d + 32 : d;
			else
			{
				UChar		in[2],
							low[8];
				int32_t		inlen = 0,
							lowlen;

				status = U_ZERO_ERROR;
				U16_APPEND_UNSAFE(in, inlen, d);
				lowlen = u_strToLower(low, lengthof(low), in, inlen, "", &status);
				if (U_SUCCESS(status) && lowlen > 0)
				{
					for (int j = 0; j < lowlen;)
					{
						UChar32		l;

						U16_NEXT(low, j, lowlen, l);
						pretokenize(ts, l);
					}
					continue;
				}
			}
		}
		pretokenize(ts, d);
	}
}

int32 *
wordpiece_tokenize(const WordPieceTokenizer *wp, const char *utf8, int len,
				   int max_tokens, int *count)
{
	TokState	ts;
	const unsigned char *s = (const unsigned char *) utf8;
	int			pos = 0;
	int			since_check = 0;
	UErrorCode	status = U_ZERO_ERROR;

	memset(&ts, 0, sizeof(ts));
	ts.wp = wp;
	ts.max_tokens = max_tokens;
	ts.cap = 64;
	ts.ids = palloc(ts.cap * sizeof(int32));
	ts.word = palloc((wp->max_word_chars + 1) * 4 + 1);
	ts.char_end = palloc((wp->max_word_chars + 1) * sizeof(int));
	ts.key = palloc(wp->prefix_len + (wp->max_word_chars + 1) * 4 + 1);
	ts.nfd = unorm2_getNFDInstance(&status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not load the ICU NFD normalizer: %s", u_errorName(status))));

	while (pos < len && (max_tokens <= 0 || ts.n < max_tokens))
	{
		UChar32		c = next_cp(s, len, &pos);

		if (++since_check >= 65536)
		{
			CHECK_FOR_INTERRUPTS();
			since_check = 0;
		}
		if (wp->clean_text)
		{
			if (c == 0 || c == 0xFFFD || is_other(c))
				continue;
			if (is_whitespace(c))
				c = ' ';
		}
		if (wp->handle_chinese_chars && is_chinese(c))
		{
			flush_word(&ts);	/* the spaces around it */
			normalize_tail(&ts, c);
			flush_word(&ts);
		}
		else
			normalize_tail(&ts, c);
	}
	if (max_tokens <= 0 || ts.n < max_tokens)
		flush_word(&ts);
	if (max_tokens > 0 && ts.n > max_tokens)
		ts.n = max_tokens;
	pfree(ts.word);
	pfree(ts.char_end);
	pfree(ts.key);
	*count = ts.n;
	return ts.ids;
}
