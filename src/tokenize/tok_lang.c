/*-------------------------------------------------------------------------
 *
 * tok_lang.c
 *	  Languages: which Snowball stemmer and which stopword list each name
 *	  means, building them for an analyzer, and applying them to one token.
 *
 * Stemmers are libstemmer's (Debian libstemmer-dev, Snowball 2.2.0: the
 * same Snowball release PostgreSQL 15's own snowball dictionaries compile
 * in, so an english stem here equals to_tsvector('english') 's stem).
 * Calling the library directly needs no catalog access (reloption
 * validation and the index's insert path stay catalog-free) and does not
 * depend on the database's lc_ctype, which PostgreSQL's dictionaries
 * lowercase with.
 *
 * Stopwords are PostgreSQL's own Snowball lists, read at analyzer build
 * time from $(pg_config --sharedir)/tsearch_data/<language>.stop (nothing is
 * copied into the project), and folded with the same NFKC_Casefold as the
 * tokens so that they compare equal to them (German "daß" -> "dass").
 * A token is compared with the stopwords before it is stemmed, as
 * PostgreSQL's snowball dictionaries and Lucene do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <libstemmer.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "tsearch/ts_public.h"

#include "tok_internal.h"

/*
 * 'simple' and the segmentation-only languages have neither stemmer nor
 * stopwords: the 'icu' tokenizer segments Chinese, Japanese and Thai text
 * whatever the language, so these names only say "no stemming" explicitly.
 *
 * XXX: turkish is left out on purpose: NFKC_Casefold folds I to i, not to
 * dotless ı as Turkish needs, so its stemmer would see wrong input.
 */
static const LanguageDef languages[] = {
	{"simple", NULL, NULL},
	{"danish", "danish", "danish"},
	{"dutch", "dutch", "dutch"},
	{"english", "english", "english"},
	{"finnish", "finnish", "finnish"},
	{"french", "french", "french"},
	{"german", "german", "german"},
	{"hungarian", "hungarian", "hungarian"},
	{"italian", "italian", "italian"},
	{"nepali", "nepali", "nepali"},
	{"norwegian", "norwegian", "norwegian"},
	{"portuguese", "portuguese", "portuguese"},
	{"russian", "russian", "russian"},
	{"spanish", "spanish", "spanish"},
	{"swedish", "swedish", "swedish"},
	{"chinese", NULL, NULL},
	{"japanese", NULL, NULL},
	{"thai", NULL, NULL},
};

const LanguageDef *
language_lookup(const char *name)
{
	for (int i = 0; i < (int) lengthof(languages); i++)
		if (strcmp(languages[i].name, name) == 0)
			return &languages[i];
	return NULL;
}

/* "simple, danish, ..." for hints. */
char *
language_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) lengthof(languages); i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", languages[i].name);
	return buf.data;
}

static int
cmp_words(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Read tsearch_data/<name>.stop: one word per line, surrounding blanks
 * ignored, empty lines skipped (the format PostgreSQL's readstoplist
 * accepts).  The files are UTF-8 whatever the database encoding, which is
 * what we need: terms are UTF-8 here.
 */
static void
read_stopwords(const char *name, StopWords *stop)
{
	char	   *path = get_tsearch_config_filename(name, "stop");
	FILE	   *f;
	char		line[1024];
	int			capacity = 256;
	int			n = 0;
	char	  **words = palloc(sizeof(char *) * capacity);

	f = AllocateFile(path, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open stopword file \"%s\": %m", path),
				 errhint("The stopword lists come with PostgreSQL's server package (tsearch_data).")));
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *s = line;
		char	   *e;
		int			folded_len;
		char	   *folded;

		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			continue;
		folded = icu_fold(s, (int) (e - s), &folded_len);
		if (folded_len == 0)
			continue;
		if (n == capacity)
		{
			capacity *= 2;
			words = repalloc(words, sizeof(char *) * capacity);
		}
		words[n++] = folded;
	}
	if (ferror(f))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read stopword file \"%s\": %m", path)));
	FreeFile(f);

	/* sort and drop duplicates (folding can merge two spellings) */
	qsort(words, n, sizeof(char *), cmp_words);
	stop->nwords = 0;
	for (int i = 0; i < n; i++)
		if (stop->nwords == 0 || strcmp(words[stop->nwords - 1], words[i]) != 0)
			words[stop->nwords++] = words[i];
	stop->words = words;
}

/* Stemmer and stopwords of a->lang, in CurrentMemoryContext. */
void
language_init_analyzer(TextAnalyzer *a)
{
	a->stop.nwords = 0;
	a->stop.words = NULL;
	a->stemmer = NULL;
	if (a->lang->stopfile)
		read_stopwords(a->lang->stopfile, &a->stop);
	if (a->lang->stemmer || a->lang->stopfile)
		a->stem_cache = palloc0(sizeof(StemCacheSlot) * STEM_CACHE_SLOTS);
	if (a->lang->stemmer)
	{
		a->stemmer = sb_stemmer_new(a->lang->stemmer, "UTF_8");
		if (a->stemmer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not create the Snowball stemmer \"%s\"", a->lang->stemmer),
					 errdetail("libstemmer does not know the algorithm or is out of memory.")));
	}
}

static bool
is_stopword(const StopWords *stop, const char *token)
{
	int			lo = 0;
	int			hi = stop->nwords - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(token, stop->words[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return false;
}

/*
 * One folded token (NUL-terminated UTF-8) at its position: drop it if it is
 * a stopword (its position stays used), else stem it and add the term.
 */
void
language_emit(const TextAnalyzer *a, TermSink *sink, const char *token, int len,
			  int32 position)
{
	StemCacheSlot *slot = NULL;
	const char *term = token;
	int			tlen = len;
	bool		stop;

	if (a->stem_cache == NULL)
	{
		term_sink_add(sink, token, len, position);
		return;
	}

	if (len <= STEM_CACHE_WORD)
	{
		uint32		h = 2166136261u;	/* FNV-1a */

		for (int i = 0; i < len; i++)
			h = (h ^ (unsigned char) token[i]) * 16777619u;
		slot = &a->stem_cache[h & (STEM_CACHE_SLOTS - 1)];
		if (slot->wlen == len && memcmp(slot->word, token, len) == 0)
		{
			if (slot->slen > 0)
				term_sink_add(sink, slot->stem, slot->slen, position);
			return;
		}
	}

	stop = a->stop.nwords > 0 && is_stopword(&a->stop, token);
	if (!stop && a->stemmer)
	{
		const sb_symbol *stem = sb_stemmer_stem(a->stemmer, (const sb_symbol *) token, len);

		if (stem == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("The Snowball stemmer could not allocate memory.")));
		term = (const char *) stem;
		tlen = sb_stemmer_length(a->stemmer);
	}

	/* a miss: remember the answer (overwriting whatever the slot held) */
	if (slot != NULL && (stop || tlen <= STEM_CACHE_WORD))
	{
		slot->wlen = (uint8) len;
		memcpy(slot->word, token, len);
		slot->slen = stop ? -1 : (int8) tlen;
		if (!stop)
			memcpy(slot->stem, term, tlen);
	}

	if (!stop && tlen > 0)
		term_sink_add(sink, term, tlen, position);
}
