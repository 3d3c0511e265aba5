/*
 * test_fm_index.c: one FM-index segment (src/ngram/fm_index.c, with SA-IS
 * and the wavelet matrix) without PostgreSQL, against brute force over
 * random documents: counts of n-grams extended on the right, the count of
 * each continuation, top-k and complete continuation lists, locate (per
 * row and whole ranges), the document and offset of every occurrence,
 * document keys and lengths, and the text recovered by walking LF.
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Werror -o test/unit/test_fm_index \
 *      test/unit/test_fm_index.c src/ngram/fm_index.c src/ngram/sais.c src/ngram/wavelet.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ngram/fm_index.h"

static long checks;
static long failures;

#define CHECK(cond, ...) \
	do { \
		checks++; \
		if (!(cond)) \
		{ \
			if (failures++ < 20) \
			{ \
				fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
				fprintf(stderr, __VA_ARGS__); \
				fprintf(stderr, "\n"); \
			} \
		} \
	} while (0)

static void *
xalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static const NgramAllocator allocator = {xalloc, free, NULL};

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t
rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t) (rng_state % n);
}

typedef struct Corpus
{
	uint32_t	ndocs;
	uint32_t  **docs;
	uint32_t   *lens;
} Corpus;

/* occurrences of pat in the corpus; per-document counts into per_doc when given */
static uint64_t
brute_count(const Corpus *c, const uint32_t *pat, uint32_t m, uint32_t *per_doc)
{
	uint64_t	total = 0;

	for (uint32_t d = 0; d < c->ndocs; d++)
	{
		uint32_t	n = 0;

		if (m == 0)
			n = c->lens[d];
		else
			for (uint32_t i = 0; i + m <= c->lens[d]; i++)
				if (memcmp(c->docs[d] + i, pat, m * sizeof(uint32_t)) == 0)
					n++;
		if (per_doc)
			per_doc[d] = n;
		total += n;
	}
	return total;
}

/* occurrences of pat followed by s */
static uint64_t
brute_next(const Corpus *c, const uint32_t *pat, uint32_t m, uint32_t s)
{
	uint64_t	total = 0;

	for (uint32_t d = 0; d < c->ndocs; d++)
		for (uint32_t i = 0; i + m < c->lens[d]; i++)
			if (c->docs[d][i + m] == s && memcmp(c->docs[d] + i, pat, m * sizeof(uint32_t)) == 0)
				total++;
	return total;
}

/* occurrences of pat followed by each symbol, in one pass */
static void
brute_next_hist(const Corpus *c, const uint32_t *pat, uint32_t m, uint64_t *hist, uint32_t alphabet)
{
	memset(hist, 0, sizeof(uint64_t) * alphabet);
	for (uint32_t d = 0; d < c->ndocs; d++)
		for (uint32_t i = 0; i + m < c->lens[d]; i++)
			if (memcmp(c->docs[d] + i, pat, m * sizeof(uint32_t)) == 0)
				hist[c->docs[d][i + m]]++;
}

typedef struct Emitted
{
	uint32_t	n;
	uint32_t	symbols[4096];
	uint32_t	counts[4096];
} Emitted;

static bool
emit_next(void *arg, uint32_t symbol, uint32_t count)
{
	Emitted    *e = arg;

	if (e->n < 4096)
	{
		e->symbols[e->n] = symbol;
		e->counts[e->n] = count;
		e->n++;
	}
	return true;
}

typedef struct Extracted
{
	const Corpus *c;
	uint32_t	expect_doc;
	bool		ok;
} Extracted;

static bool
emit_doc(void *arg, uint32_t doc, const uint32_t *symbols, uint32_t len)
{
	Extracted  *x = arg;

	if (doc != x->expect_doc || len != x->c->lens[doc] ||
		(len > 0 && memcmp(symbols, x->c->docs[doc], len * sizeof(uint32_t)) != 0))
		x->ok = false;
	x->expect_doc--;
	return true;
}

static int
u32cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a;
	uint32_t	y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

static void
run_case(uint32_t ndocs, uint32_t maxlen, uint32_t alphabet, uint32_t sample_rate)
{
	Corpus		c;
	FmLayout	layout;
	uint8_t    *image;
	uint64_t	nlines;
	FmSegment	seg;
	NgramLineSource src;
	uint64_t	total = 0;

	c.ndocs = ndocs;
	c.docs = xalloc(sizeof(uint32_t *) * ndocs);
	c.lens = xalloc(sizeof(uint32_t) * ndocs);
	fm_layout_init(&layout, &allocator);
	for (uint32_t d = 0; d < ndocs; d++)
	{
		c.lens[d] = rnd(maxlen + 1);
		c.docs[d] = xalloc(sizeof(uint32_t) * (c.lens[d] + 1));
		for (uint32_t i = 0; i < c.lens[d]; i++)
			c.docs[d][i] = rnd(alphabet);
		total += c.lens[d];
		CHECK(fm_layout_add(&layout, c.docs[d], c.lens[d], 1000 + d), "layout_add");
	}
	CHECK(fm_build(&layout, sample_rate, FM_FIRST_SYMBOL, &image, &nlines) == 0, "build");
	src.line = ngram_memory_line;
	src.ctx = image;
	CHECK(fm_open(&seg, src), "open");
	CHECK(seg.header.nsymbols == total, "nsymbols %llu vs %llu",
		  (unsigned long long) seg.header.nsymbols, (unsigned long long) total);
	CHECK(seg.header.total_lines == nlines, "total_lines");

	for (uint32_t d = 0; d < ndocs; d++)
	{
		CHECK(fm_doc_key(&seg, d) == 1000 + d, "doc key %u", d);
		CHECK(fm_doc_length(&seg, d) == c.lens[d], "doc length %u", d);
	}

	/* n-grams: substrings of documents (present) and random ones (mostly absent) */
	for (int t = 0; t < 300; t++)
	{
		uint32_t	pat[12];
		uint32_t	m = 1 + rnd(8);
		FmRange		r;
		bool		alive = true;
		uint32_t   *per_doc = xalloc(sizeof(uint32_t) * ndocs);

		if (t % 3 != 0)
		{
			uint32_t	d = rnd(ndocs);

			if (c.lens[d] == 0)
				continue;
			if (m > c.lens[d])
				m = c.lens[d];
			uint32_t	off = rnd(c.lens[d] - m + 1);

			memcpy(pat, c.docs[d] + off, m * sizeof(uint32_t));
		}
		else
			for (uint32_t i = 0; i < m; i++)
				pat[i] = rnd(alphabet + 2);

		fm_full_range(&seg, &r);
		for (uint32_t i = 0; i < m && alive; i++)
		{
			/* every prefix: its count, then the continuation count of pat[i] */
			uint64_t	want_next = brute_next(&c, pat, i, pat[i]);
			uint32_t	got_next = i == 0 ? (uint32_t) want_next : fm_next_count(&seg, &r, pat[i]);

			CHECK(got_next == want_next, "next count len %u", i);
			alive = fm_extend(&seg, &r, pat[i]);
			CHECK(fm_range_count(&r) == brute_count(&c, pat, i + 1, NULL),
				  "count of a prefix of length %u: %u vs %llu", i + 1, fm_range_count(&r),
				  (unsigned long long) brute_count(&c, pat, i + 1, NULL));
		}
		if (alive && fm_range_count(&r) > 0)
		{
			uint32_t	cnt = fm_range_count(&r);
			uint32_t   *pos = xalloc(sizeof(uint32_t) * cnt);
			uint32_t   *pos2 = xalloc(sizeof(uint32_t) * cnt);
			uint32_t   *docs_seen = xalloc(sizeof(uint32_t) * ndocs);
			Emitted    *all = xalloc(sizeof(Emitted));
			WaveletCount top[5];
			uint32_t	ntop;
			uint64_t   *hist = xalloc(sizeof(uint64_t) * alphabet);

			brute_next_hist(&c, pat, m, hist, alphabet);

			brute_count(&c, pat, m, per_doc);
			memset(docs_seen, 0, sizeof(uint32_t) * ndocs);
			for (uint32_t row = r.sp; row < r.ep; row++)
			{
				uint32_t	off;
				uint32_t	d = fm_occurrence_doc(&seg, row, m, &off);

				CHECK(d < ndocs, "occurrence doc");
				if (d >= ndocs)
					continue;
				CHECK(off + m <= c.lens[d] &&
					  memcmp(c.docs[d] + off, pat, m * sizeof(uint32_t)) == 0,
					  "occurrence offset");
				docs_seen[d]++;
				pos[row - r.sp] = fm_locate(&seg, row);
			}
			CHECK(memcmp(docs_seen, per_doc, sizeof(uint32_t) * ndocs) == 0, "per-document counts");
			CHECK(fm_locate_range(&seg, r.sp, r.ep, pos2, &allocator) == cnt, "locate_range count");
			qsort(pos, cnt, sizeof(uint32_t), u32cmp);
			qsort(pos2, cnt, sizeof(uint32_t), u32cmp);
			CHECK(memcmp(pos, pos2, cnt * sizeof(uint32_t)) == 0, "locate_range positions");
			for (uint32_t j = 0; j < cnt; j++)
			{
				uint32_t	d = fm_position_doc(&seg, pos2[j]);

				CHECK(d < ndocs, "position doc");
			}

			/* continuations: complete list and top-k against brute force */
			all->n = 0;
			fm_next_all(&seg, &r, emit_next, all, &allocator);
			{
				uint32_t	nonzero = 0;

				for (uint32_t s = 0; s < alphabet; s++)
				{
					uint64_t	want = hist[s];

					if (want > 0)
					{
						bool		found = false;

						nonzero++;
						for (uint32_t j = 0; j < all->n; j++)
							if (all->symbols[j] == s)
								found = all->counts[j] == want;
						CHECK(found, "continuation %u in the list", s);
					}
				}
				CHECK(all->n == nonzero, "continuation list size %u vs %u", all->n, nonzero);
			}
			ntop = fm_next_top_k(&seg, &r, 5, top, &allocator);
			for (uint32_t j = 0; j < ntop; j++)
			{
				CHECK(top[j].count == hist[top[j].symbol], "top-k count");
				if (j > 0)
					CHECK(top[j - 1].count > top[j].count ||
						  (top[j - 1].count == top[j].count && top[j - 1].symbol < top[j].symbol),
						  "top-k order");
			}
			/* nothing outside the top k beats its last */
			if (ntop == 5)
				for (uint32_t s = 0; s < alphabet; s++)
				{
					uint64_t	want = hist[s];
					bool		listed = false;

					for (uint32_t j = 0; j < ntop; j++)
						listed |= top[j].symbol == s;
					if (!listed)
						CHECK(want < top[4].count || (want == top[4].count && s > top[4].symbol),
							  "top-k missed symbol %u", s);
				}
			free(hist);
			free(pos);
			free(pos2);
			free(docs_seen);
			free(all);
		}
		else
			CHECK(brute_count(&c, pat, m, NULL) == 0, "absent n-gram has occurrences");
		free(per_doc);
	}

	/* the whole text, recovered */
	{
		Extracted	x = {&c, ndocs - 1, true};

		fm_extract_all(&seg, emit_doc, &x, &allocator);
		CHECK(x.ok && x.expect_doc == UINT32_MAX, "extract_all");
	}

	free(image);
	for (uint32_t d = 0; d < ndocs; d++)
		free(c.docs[d]);
	free(c.docs);
	free(c.lens);
}

int
main(void)
{
	run_case(1, 1, 2, 1);
	run_case(1, 50, 3, 4);
	run_case(5, 0, 4, 32);		/* only empty documents */
	run_case(40, 30, 2, 32);
	run_case(200, 60, 4, 32);
	run_case(200, 60, 26, 16);
	run_case(100, 200, 250, 32);	/* byte-like */
	run_case(300, 40, 5000, 8);	/* token-like */
	run_case(2000, 40, 3, 32);
	printf("test_fm_index: %ld checks, %ld failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
