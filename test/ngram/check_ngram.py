#!/usr/bin/python3
"""test/ngram/check_ngram.py: the n-gram (FM-index) index against brute force.

Run against a running test cluster (libpq environment: PGHOST, PGPORT,
PGUSER, all required), e.g.

    PGHOST=/tmp/c PGPORT=5432 PGUSER=postgres /usr/bin/python3 test/ngram/check_ngram.py

Creates (and drops) the database retrieval_ngram_check and compares, on
seeded random corpora, every answer of the extension with a reference
computed here in plain Python from the SQL contract (not from the C code):

  1. byte mode (text WITH (ngrams = on)): ngram_count, ngram_next (all and
     top k), ngram_docs on words with non-ASCII characters, empty texts and
     NULLs;
  2. token mode (int4[] ngram_ops): the same, and ngram_next with candidates;
  3. the LSM path: rows inserted one by one through the write buffer, folds
     into FM segments and a merge of 8 segments; ngram_stats and the checks
     again on buffered plus segment documents;
  4. deletes (hidden at once from ngram_docs, counted until VACUUM) and
     updates, then VACUUM;
  5. SEAL: seal_search (byte and token mode, with and without log
     probabilities, duplicates, retrieval.seal_max_occurrences) and the <%>
     operator (per-row values and the index scan order);
  6. errors: the exact SQLSTATEs.

Prints one line per check group and a summary; exits 1 on any mismatch
(the first few mismatches of each group are printed with their inputs).
Run with Debian's /usr/bin/python3 (python3-psycopg2).
"""
import math
import os
import random
import sys
import time

import psycopg2

DB = "retrieval_ngram_check"
FOLD_SYMBOLS = 262144          # write buffer size that triggers a fold
MERGE_FAN_IN = 8               # segments of one size tier merged together
SEAL_MAX_OCCURRENCES = 10000   # default of retrieval.seal_max_occurrences
WS = b" \t\n\r\f\v"
LSM_DOCS_MAX = 20000          # ngram_docs on the LSM index: n-grams this rare only
MAX_SHOWN = 5                  # mismatches printed per group


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

class Group:
    """One check group: counts checks, keeps the first mismatches."""

    def __init__(self, name):
        self.name = name
        self.checks = 0
        self.failures = 0
        self.start = time.time()

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures += 1
            if self.failures <= MAX_SHOWN:
                print(f"  MISMATCH [{self.name}]: {what() if callable(what) else what}")
        return ok

    def done(self, summary=""):
        status = "ok" if self.failures == 0 else f"FAILED ({self.failures} mismatches)"
        print(f"{self.name}: {self.checks} checks, {status} ({time.time() - self.start:.1f} s){summary}")
        GROUPS.append(self)


GROUPS = []


# ---------------------------------------------------------------------------
# Brute force reference
# ---------------------------------------------------------------------------

def count_seq(hay, needle):
    """Overlapping occurrences of needle in hay (bytes or tuple)."""
    if isinstance(hay, bytes):
        n, i = 0, hay.find(needle)
        while i >= 0:
            n += 1
            i = hay.find(needle, i + 1)
        return n
    m = len(needle)
    if m == 0:
        return len(hay)
    first = needle[0]
    return sum(1 for i in range(len(hay) - m + 1) if hay[i] == first and hay[i:i + m] == needle)


class Corpus:
    """The live documents of one index: key -> sequence (bytes or tuple of ints).
    `counted` holds the sequences the counts see (live + dead not yet vacuumed)."""

    def __init__(self, byte_mode):
        self.byte_mode = byte_mode
        self.live = {}            # row id -> sequence (non-NULL rows)
        self.dead = []            # sequences of deleted / updated-away versions not vacuumed

    def counted(self):
        return list(self.live.values()) + self.dead

    def total(self):
        return sum(len(s) for s in self.counted())

    def count(self, g):
        if len(g) == 0:
            return self.total()
        return sum(count_seq(s, g) for s in self.counted())

    def docs(self, g):
        out = {}
        for rid, s in self.live.items():
            c = len(s) if len(g) == 0 else count_seq(s, g)
            if c > 0:
                out[rid] = c
        return out

    def next_bytes(self, prefix):
        """prefix: str; returns [(char, count)] in the contract order."""
        counts = {}
        m = len(prefix)
        for s in self.counted():
            t = s.decode("utf-8")
            i = t.find(prefix) if m else 0
            while 0 <= i < len(t):
                if i + m < len(t):
                    c = t[i + m]
                    counts[c] = counts.get(c, 0) + 1
                i = t.find(prefix, i + 1) if m else i + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))

    def next_tokens(self, prefix):
        counts = {}
        m = len(prefix)
        for s in self.counted():
            for i in range(len(s) - m):
                if s[i:i + m] == prefix:
                    counts[s[i + m]] = counts.get(s[i + m], 0) + 1
        return counts


def logit(p):
    return math.log(p) - math.log(1 - p)


def ngram_tokens(g, byte_mode):
    if byte_mode:
        return set(ngram_tokens_ordered(g))
    return set(g)


def seal_weights(corpus, ngrams, logprobs, max_occ=SEAL_MAX_OCCURRENCES):
    """ngrams: list of sequences; returns [(w, position, ngram)] of the kept
    n-grams sorted by w desc then position."""
    N = corpus.total()
    best = {}
    for pos, g in enumerate(ngrams):
        lp = math.log(0.5) if logprobs is None else logprobs[pos]
        F = corpus.count(g)
        if F == 0 or F > max_occ:
            continue
        w = max(0.0, logit(math.exp(lp)) - logit((F + 5) / (N + 5)))
        if w == 0:
            continue
        if g not in best or w > best[g][0]:
            best[g] = (w, pos)
    return sorted(((w, pos, g) for g, (w, pos) in best.items()), key=lambda x: (-x[0], x[1]))


def seal_doc_score(seq, weights, byte_mode):
    covered = set()
    score = 0.0
    for w, _pos, g in weights:
        if count_seq(seq, g) == 0:
            continue
        toks = ngram_tokens(g, byte_mode)
        if toks:
            factor = 1 - 0.8 + 0.8 * len(toks - covered) / len(toks)
        else:
            factor = 0.2
        score += w * w * factor
        covered |= toks
    return score


def seal_scores(corpus, ngrams, logprobs, max_occ=SEAL_MAX_OCCURRENCES):
    weights = seal_weights(corpus, ngrams, logprobs, max_occ)
    return {rid: seal_doc_score(s, weights, corpus.byte_mode) for rid, s in corpus.live.items()}


def query_ngrams(corpus, query_bytes, mode="longest"):
    """The n-grams <%> takes from a query (bytes): the longest runs of words
    of one phrase (0x1E splits phrases) that occur, each kept only if it ends
    after the previous kept one; with retrieval.seal_query_ngrams = 'all',
    every run that occurs, by start word then length."""
    words = []             # (phrase number, word)
    for ph, phrase in enumerate(query_bytes.split(b"\x1e")):
        for w in ngram_tokens_ordered(phrase):
            words.append((ph, w))
    out, prev_end = [], -1
    for s in range(len(words)):
        e_best = None
        for e in range(s, len(words)):
            if words[e][0] != words[s][0]:
                break
            if corpus.count(b" ".join(w for _, w in words[s:e + 1])) > 0:
                e_best = e
                if mode == "all":
                    out.append(b" ".join(w for _, w in words[s:e + 1]))
            else:
                break
        if mode == "longest" and e_best is not None and e_best > prev_end:
            out.append(b" ".join(w for _, w in words[s:e_best + 1]))
            prev_end = e_best
    return out


def ngram_tokens_ordered(b):
    out, cur = [], bytearray()
    for x in b:
        if x in WS:
            if cur:
                out.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(x)
    if cur:
        out.append(bytes(cur))
    return out


def diff(got, want):
    """A short description of how two result lists differ."""
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"row {i}: got {a!r}, expected {b!r} ({len(got)} rows, expected {len(want)})"
    return f"got {len(got)} rows {got[len(want):][:5]}, expected {len(want)} rows {want[len(got):][:5]}"


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# ---------------------------------------------------------------------------
# Generators (seeded)
# ---------------------------------------------------------------------------

VOCAB = ("the a of and to in is it cat dog hat sat mat at an ant tan nat "
         "café é naïve 中文 中 文字 日本 😀 x😀y über ß 🎉🎉 ab abc abcd").split()
SEPS = [" "] * 12 + ["\t", "\n", "  ", " \r\n", "\f", "\v"]


def random_text(rng, nwords):
    parts = []
    for i in range(nwords):
        if i:
            parts.append(rng.choice(SEPS))
        parts.append(rng.choice(VOCAB))
    return "".join(parts)


LARGE_IDS = [1000, 4096, 65535, 65536, 99999, 100000]


def random_tokens(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.9:
            out.append(rng.randint(0, 50))
        elif r < 0.98:
            out.append(rng.choice(LARGE_IDS))
        else:
            out.append(rng.randint(0, 100000))
    return out


def byte_queries(rng, corpus, n):
    """n-grams (str): random substrings (crossing word boundaries), whole
    documents, words, absent strings, the empty string."""
    texts = [s.decode("utf-8") for s in corpus.live.values() if s]
    qs = ["", " ", "中文", "😀", "é", "zzq", "中中中", "cat dog", "\t", "ab ab", "x😀", "😀y",
          "nonexistentword", "the the the the the the the the the the the"]
    qs += rng.sample(VOCAB, min(10, len(VOCAB)))
    for t in rng.sample(texts, min(8, len(texts))):
        qs.append(t)
    while len(qs) < n:
        t = rng.choice(texts)
        i = rng.randrange(len(t))
        qs.append(t[i:i + rng.randint(1, 14)])
    return qs


def prefix_queries(rng, corpus, n):
    """prefixes (str): empty, words cut in the middle, substrings."""
    texts = [s.decode("utf-8") for s in corpus.live.values() if s]
    qs = ["", "a", "c", "ca", "caf", "café", "中", "x", "x😀", "😀", "zzq", " ", "t", "th", "ab"]
    while len(qs) < n:
        t = rng.choice(texts)
        i = rng.randrange(len(t))
        qs.append(t[i:i + rng.randint(1, 6)])
    return qs


def token_queries(rng, corpus, n, maxlen=6):
    seqs = [s for s in corpus.live.values() if s]
    qs = [(), (0,), (50,), (100000,), (77777,), (51,), (1, 2), (1000, 4096)]
    for s in rng.sample(seqs, min(5, len(seqs))):
        qs.append(tuple(s))
    while len(qs) < n:
        s = rng.choice(seqs)
        i = rng.randrange(len(s))
        qs.append(tuple(s[i:i + rng.randint(1, maxlen)]))
    return qs


def pg_int_array(seq):
    return "{" + ",".join(str(x) for x in seq) + "}"


# ---------------------------------------------------------------------------
# The checks shared by the groups
# ---------------------------------------------------------------------------

def ctid_map(cur, table, col):
    cur.execute(f"SELECT ctid::text, id FROM {table} WHERE {col} IS NOT NULL")
    return dict(cur.fetchall())


def check_counts(g, cur, idx, corpus, queries):
    if corpus.byte_mode:
        cur.execute(f"SELECT o, retrieval.ngram_count('{idx}', q) FROM unnest(%s::text[]) WITH ORDINALITY u(q, o)",
                    (queries,))
    else:
        cur.execute(f"SELECT o, retrieval.ngram_count('{idx}', q::int4[]) "
                    f"FROM unnest(%s::text[]) WITH ORDINALITY u(q, o)", ([pg_int_array(q) for q in queries],))
    got = dict(cur.fetchall())
    for o, q in enumerate(queries, 1):
        want = corpus.count(q.encode("utf-8") if corpus.byte_mode else tuple(q))
        g.check(got.get(o) == want, lambda: f"ngram_count({idx}, {q!r}) = {got.get(o)}, expected {want}")


def check_next_bytes(g, cur, idx, corpus, prefixes, ks=(None, 1, 3)):
    for k in ks:
        cur.execute(f"SELECT o, n.next, n.count FROM unnest(%s::text[]) WITH ORDINALITY u(p, o), "
                    f"LATERAL retrieval.ngram_next('{idx}', p, %s) WITH ORDINALITY n(next, count, r) ORDER BY o, r",
                    (prefixes, k))
        got = {}
        for o, nx, c in cur.fetchall():
            got.setdefault(o, []).append((nx, c))
        for o, p in enumerate(prefixes, 1):
            want = corpus.next_bytes(p)
            if k is not None:
                want = want[:k]
            g.check(got.get(o, []) == want, lambda: f"ngram_next({idx}, {p!r}, k={k}): {diff(got.get(o, []), want)}")


def check_next_tokens(g, cur, idx, corpus, prefixes, rng, ks=(None, 1, 3)):
    arrs = [pg_int_array(p) for p in prefixes]
    for k in ks:
        cur.execute(f"SELECT o, n.next, n.count FROM unnest(%s::text[]) WITH ORDINALITY u(p, o), "
                    f"LATERAL retrieval.ngram_next('{idx}', p::int4[], %s) WITH ORDINALITY n(next, count, r) "
                    f"ORDER BY o, r", (arrs, k))
        got = {}
        for o, nx, c in cur.fetchall():
            got.setdefault(o, []).append((nx, c))
        for o, p in enumerate(prefixes, 1):
            want = sorted(corpus.next_tokens(p).items(), key=lambda kv: (-kv[1], kv[0]))
            if k is not None:
                want = want[:k]
            g.check(got.get(o, []) == want, lambda: f"ngram_next({idx}, {p}, k={k}): {diff(got.get(o, []), want)}")
    # candidates (k given too: it is ignored)
    for p in prefixes[:40]:
        cands = [rng.randint(0, 55) for _ in range(rng.randint(1, 8))] + rng.sample(LARGE_IDS + [12345], 2)
        cands += rng.sample(cands, 2)                  # duplicates
        rng.shuffle(cands)
        k = rng.choice([None, 1, 2])
        cur.execute(f"SELECT next, count FROM retrieval.ngram_next('{idx}', %s::int4[], %s, %s::int4[]) "
                    f"WITH ORDINALITY n(next, count, r) ORDER BY r", (pg_int_array(p), k, pg_int_array(cands)))
        got = cur.fetchall()
        counts = corpus.next_tokens(p)
        want, seen = [], set()
        for c in cands:
            if c not in seen:
                seen.add(c)
                want.append((c, counts.get(c, 0)))
        g.check(got == want, lambda: f"ngram_next({idx}, {p}, k={k}, candidates={cands}) = {got}, expected {want}")


def check_docs(g, cur, idx, table, col, corpus, queries, max_count=None):
    """max_count: only n-grams with at most that many occurrences (locating
    every occurrence of a frequent n-gram of a large index takes long)."""
    queries = [q for q in queries if len(q)]     # the contract leaves ngram_docs of the empty n-gram open
    if max_count is not None:
        queries = [q for q in queries
                   if corpus.count(q.encode("utf-8") if corpus.byte_mode else tuple(q)) <= max_count]
    ctids = ctid_map(cur, table, col)
    if corpus.byte_mode:
        args = (queries,)
        sql = (f"SELECT o, d.ctid::text, d.occurrences FROM unnest(%s::text[]) WITH ORDINALITY u(q, o), "
               f"LATERAL retrieval.ngram_docs('{idx}', q) d")
    else:
        args = ([pg_int_array(q) for q in queries],)
        sql = (f"SELECT o, d.ctid::text, d.occurrences FROM unnest(%s::text[]) WITH ORDINALITY u(q, o), "
               f"LATERAL retrieval.ngram_docs('{idx}', q::int4[]) d")
    cur.execute(sql, args)
    got = {}
    for o, ctid, occ in cur.fetchall():
        got.setdefault(o, []).append((ctids.get(ctid, f"invisible ctid {ctid}"), occ))
    for o, q in enumerate(queries, 1):
        gq = q.encode("utf-8") if corpus.byte_mode else tuple(q)
        want = sorted(corpus.docs(gq).items())
        have = sorted(got.get(o, []), key=str)
        want_s = sorted(want, key=str)
        g.check(have == want_s, lambda: f"ngram_docs({idx}, {q!r}): {len(have)} rows, expected {len(want)}; "
                                        f"extra {sorted(set(have) - set(want_s), key=str)[:5]}, "
                                        f"missing {sorted(set(want_s) - set(have), key=str)[:5]}")


def compare_ranking(g, what, got, ref_scores, k):
    """got: [(id, score)] from the extension; ref_scores: id -> reference score."""
    ranked = sorted(((s, rid) for rid, s in ref_scores.items() if s > 0), key=lambda x: -x[0])
    want_n = min(k, len(ranked))
    if not g.check(len(got) == want_n, lambda: f"{what}: {len(got)} rows, expected {want_n} "
                                               f"(got {got[:5]}, expected {ranked[:5]})"):
        return
    seen = set()
    for i, (rid, score) in enumerate(got):
        ref = ref_scores.get(rid)
        if not g.check(rid not in seen and ref is not None and close(score, ref) and close(score, ranked[i][0]),
                       lambda: f"{what}: row {i} = id {rid} score {score!r}; reference for that row {ref!r}, "
                               f"reference at rank {i}: {ranked[i]}"):
            return
        seen.add(rid)


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------

def group_bytes(cur, rng):
    g = Group("1 byte mode")
    cur.execute("CREATE TABLE docs (id int PRIMARY KEY, body text)")
    corpus = Corpus(True)
    rows = []
    for i in range(1, 301):
        r = rng.random()
        body = None if r < 0.05 else "" if r < 0.12 else random_text(rng, rng.randint(1, 20))
        rows.append((i, body))
        if body is not None:
            corpus.live[i] = body.encode("utf-8")
    cur.executemany("INSERT INTO docs VALUES (%s, %s)", rows)
    cur.execute("CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (ngrams = on, model = 'none')")
    cur.execute("SELECT mode, documents, symbols FROM retrieval.ngram_stats('docs_idx')")
    st = cur.fetchone()
    g.check(st == ("bytes", len(corpus.live), corpus.total()),
            f"ngram_stats(docs_idx) = {st}, expected ('bytes', {len(corpus.live)}, {corpus.total()})")
    check_counts(g, cur, "docs_idx", corpus, byte_queries(rng, corpus, 400))
    check_next_bytes(g, cur, "docs_idx", corpus, prefix_queries(rng, corpus, 80))
    check_docs(g, cur, "docs_idx", "docs", "body", corpus, byte_queries(rng, corpus, 120))
    g.done()
    return corpus


def group_tokens(cur, rng):
    g = Group("2 token mode")
    cur.execute("CREATE TABLE toks (id int PRIMARY KEY, t int4[])")
    corpus = Corpus(False)
    rows = []
    for i in range(1, 301):
        r = rng.random()
        t = None if r < 0.05 else [] if r < 0.1 else random_tokens(rng, rng.randint(1, 30))
        rows.append((i, t))
        if t is not None:
            corpus.live[i] = tuple(t)
    cur.executemany("INSERT INTO toks VALUES (%s, %s::int4[])", rows)
    cur.execute("CREATE INDEX toks_idx ON toks USING retrieval (t ngram_ops)")
    cur.execute("SELECT mode, documents, symbols FROM retrieval.ngram_stats('toks_idx')")
    st = cur.fetchone()
    g.check(st == ("tokens", len(corpus.live), corpus.total()),
            f"ngram_stats(toks_idx) = {st}, expected ('tokens', {len(corpus.live)}, {corpus.total()})")
    check_counts(g, cur, "toks_idx", corpus, token_queries(rng, corpus, 300))
    check_next_tokens(g, cur, "toks_idx", corpus, token_queries(rng, corpus, 80, maxlen=3), rng)
    check_docs(g, cur, "toks_idx", "toks", "t", corpus, token_queries(rng, corpus, 100))

    # a few token rows inserted after the build (write buffer) and checked again
    for i in range(301, 341):
        t = random_tokens(rng, rng.randint(0, 30))
        cur.execute("INSERT INTO toks VALUES (%s, %s::int4[])", (i, t))
        corpus.live[i] = tuple(t)
    check_counts(g, cur, "toks_idx", corpus, token_queries(rng, corpus, 100))
    check_next_tokens(g, cur, "toks_idx", corpus, token_queries(rng, corpus, 20, maxlen=3), rng)
    check_docs(g, cur, "toks_idx", "toks", "t", corpus, token_queries(rng, corpus, 40))
    g.done()
    return corpus


def expected_lsm(lengths):
    """(segments, buffered documents, folds) after inserting docs of these
    lengths one by one into an empty index, per the contract: a fold when the
    buffer holds >= FOLD_SYMBOLS symbols, a merge of MERGE_FAN_IN segments."""
    buf_syms, buf_docs, folds = 0, 0, 0
    tiers = [0]
    for n in lengths:
        buf_syms += n
        buf_docs += 1
        if buf_syms >= FOLD_SYMBOLS:
            folds += 1
            buf_syms, buf_docs = 0, 0
            tiers[0] += 1
            t = 0
            while tiers[t] >= MERGE_FAN_IN:
                tiers[t] -= MERGE_FAN_IN
                if t + 1 == len(tiers):
                    tiers.append(0)
                tiers[t + 1] += 1
                t += 1
    return sum(tiers), buf_docs, folds


def lsm_stats(g, cur, corpus, lengths, what):
    cur.execute("SELECT mode, documents, symbols, segments, buffered_documents FROM retrieval.ngram_stats('lsm_idx')")
    st = cur.fetchone()
    segs, bdocs, folds = expected_lsm(lengths)
    want = ("bytes", len(corpus.counted()), corpus.total(), segs, bdocs)
    g.check(st == want, f"{what}: ngram_stats(lsm_idx) = {st}, expected {want} ({folds} folds)")
    return st


def group_lsm(cur, conn, rng):
    g = Group("3 LSM path")
    cur.execute("CREATE TABLE lsm (id int PRIMARY KEY, body text)")
    cur.execute("CREATE INDEX lsm_idx ON lsm USING retrieval (body) WITH (ngrams = on, model = 'none')")
    corpus = Corpus(True)
    lengths = []
    target = (MERGE_FAN_IN + 1) * FOLD_SYMBOLS + FOLD_SYMBOLS // 2
    i = 0
    conn.autocommit = False
    total = 0
    while total < target:
        i += 1
        r = rng.random()
        body = None if r < 0.02 else "" if r < 0.04 else random_text(rng, rng.randint(250, 450))
        cur.execute("INSERT INTO lsm VALUES (%s, %s)", (i, body))
        if body is not None:
            b = body.encode("utf-8")
            corpus.live[i] = b
            lengths.append(len(b))
            total += len(b)
        if i % 400 == 0:
            conn.commit()
    conn.commit()
    conn.autocommit = True
    segs, bdocs, folds = expected_lsm(lengths)
    st = lsm_stats(g, cur, corpus, lengths, "after inserts")
    g.check(folds >= MERGE_FAN_IN + 1 and st[4] > 0,
            f"setup: {folds} folds and {st[4]} buffered documents (want >= 9 folds and a non-empty buffer)")
    check_counts(g, cur, "lsm_idx", corpus, byte_queries(rng, corpus, 150))
    check_next_bytes(g, cur, "lsm_idx", corpus, prefix_queries(rng, corpus, 30))
    check_docs(g, cur, "lsm_idx", "lsm", "body", corpus, byte_queries(rng, corpus, 40), max_count=LSM_DOCS_MAX)
    g.done(f"; {i} rows, {total} bytes, {folds} folds, stats {st}")
    return corpus, lengths


def group_deletes(cur, rng, corpus, lengths, tok_corpus):
    g = Group("4 deletes and updates")
    ids = sorted(corpus.live)
    gone = rng.sample(ids, len(ids) // 5)
    cur.execute("DELETE FROM lsm WHERE id = ANY(%s)", (gone,))
    for rid in gone:
        corpus.dead.append(corpus.live.pop(rid))
    qs = byte_queries(rng, corpus, 60)
    check_docs(g, cur, "lsm_idx", "lsm", "body", corpus, qs, max_count=LSM_DOCS_MAX)  # hidden at once
    check_counts(g, cur, "lsm_idx", corpus, qs)                     # still counted
    cur.execute("VACUUM lsm")
    corpus.dead = []
    check_counts(g, cur, "lsm_idx", corpus, byte_queries(rng, corpus, 120))
    check_next_bytes(g, cur, "lsm_idx", corpus, prefix_queries(rng, corpus, 20), ks=(None, 3))
    check_docs(g, cur, "lsm_idx", "lsm", "body", corpus, byte_queries(rng, corpus, 30), max_count=LSM_DOCS_MAX)
    cur.execute("SELECT documents, symbols FROM retrieval.ngram_stats('lsm_idx')")
    st = cur.fetchone()
    g.check(st == (len(corpus.live), corpus.total()),
            f"after VACUUM: ngram_stats documents, symbols = {st}, expected {(len(corpus.live), corpus.total())}")

    # updates: the old versions count until VACUUM
    upd = rng.sample(sorted(corpus.live), 60)
    for rid in upd:
        body = random_text(rng, rng.randint(1, 30)) + " zupdated"
        cur.execute("UPDATE lsm SET body = %s WHERE id = %s", (body, rid))
        corpus.dead.append(corpus.live[rid])
        corpus.live[rid] = body.encode("utf-8")
    qs = byte_queries(rng, corpus, 60) + ["zupdated", "zupdated\n", " zupd"]
    check_counts(g, cur, "lsm_idx", corpus, qs)
    check_docs(g, cur, "lsm_idx", "lsm", "body", corpus, qs, max_count=LSM_DOCS_MAX)
    cur.execute("VACUUM lsm")
    corpus.dead = []
    check_counts(g, cur, "lsm_idx", corpus, qs)
    check_next_bytes(g, cur, "lsm_idx", corpus, prefix_queries(rng, corpus, 20) + ["zup", "zupdated"], ks=(None, 1))
    check_docs(g, cur, "lsm_idx", "lsm", "body", corpus, qs, max_count=LSM_DOCS_MAX)

    # token mode: deletes and updates
    ids = sorted(tok_corpus.live)
    gone = rng.sample(ids, len(ids) // 5)
    cur.execute("DELETE FROM toks WHERE id = ANY(%s)", (gone,))
    for rid in gone:
        tok_corpus.dead.append(tok_corpus.live.pop(rid))
    for rid in rng.sample(sorted(tok_corpus.live), 20):
        t = random_tokens(rng, rng.randint(0, 20))
        cur.execute("UPDATE toks SET t = %s::int4[] WHERE id = %s", (t, rid))
        tok_corpus.dead.append(tok_corpus.live[rid])
        tok_corpus.live[rid] = tuple(t)
    qs = token_queries(rng, tok_corpus, 60)
    check_docs(g, cur, "toks_idx", "toks", "t", tok_corpus, qs)
    check_counts(g, cur, "toks_idx", tok_corpus, qs)
    cur.execute("VACUUM toks")
    tok_corpus.dead = []
    check_counts(g, cur, "toks_idx", tok_corpus, qs)
    check_docs(g, cur, "toks_idx", "toks", "t", tok_corpus, qs)
    check_next_tokens(g, cur, "toks_idx", tok_corpus, token_queries(rng, tok_corpus, 20, maxlen=3), rng, ks=(None, 2))
    g.done()


def seal_search_check(g, cur, idx, table, col, corpus, ngrams, logprobs, k, max_occ=SEAL_MAX_OCCURRENCES):
    ctids = ctid_map(cur, table, col)
    if corpus.byte_mode:
        arg = [x.decode("utf-8") for x in ngrams]
        cur.execute(f"SELECT ctid::text, score FROM retrieval.seal_search('{idx}', %s::text[], %s::float8[], %s)",
                    (arg, logprobs, k))
    else:
        flat = []
        for i, x in enumerate(ngrams):
            if i:
                flat.append(-1)
            flat.extend(x)
        arg = flat
        cur.execute(f"SELECT ctid::text, score FROM retrieval.seal_search('{idx}', %s::int4[], %s::float8[], %s)",
                    (flat, logprobs, k))
    rows = cur.fetchall()
    got = [(ctids.get(c, f"invisible {c}"), s) for c, s in rows]
    ref = seal_scores(corpus, ngrams, logprobs, max_occ)
    what = f"seal_search({idx}, {arg!r}, {logprobs}, {k}) [max_occ {max_occ}]"
    compare_ranking(g, what, got, ref, k)
    # ties: equal scores come in ctid order
    for (c1, s1), (c2, s2) in zip(rows, rows[1:]):
        if s1 == s2:
            t1 = tuple(int(x) for x in c1.strip("()").split(","))
            t2 = tuple(int(x) for x in c2.strip("()").split(","))
            g.check(t1 < t2, f"{what}: tied rows {c1} and {c2} not in ctid order")
    SEAL_SEEN["calls"] += 1
    SEAL_SEEN["nonempty"] += bool(rows)
    SEAL_SEEN["tied"] += any(s1 == s2 for (_, s1), (_, s2) in zip(rows, rows[1:]))


SEAL_SEEN = {"calls": 0, "nonempty": 0, "tied": 0}


def random_byte_ngrams(rng, corpus, n):
    texts = [s.decode("utf-8") for s in corpus.live.values() if s]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            x = rng.choice(VOCAB)
        elif r < 0.85:
            t = rng.choice(texts)
            i = rng.randrange(len(t))
            x = t[i:i + rng.randint(2, 16)]
        elif r < 0.95:
            x = "qqabsent"
        else:
            x = " "
        out.append(x.encode("utf-8"))
    return out


def group_seal(cur, rng, docs_corpus, tok_corpus, lsm_corpus):
    g = Group("5 SEAL")
    for rep in range(40):
        n = rng.randint(1, 8)
        ng = random_byte_ngrams(rng, docs_corpus, n)
        if rep % 3 == 0 and n > 1:
            ng.append(ng[0])                        # duplicate
        lps = None if rep % 2 == 0 else [round(rng.uniform(-6, -0.01), 6) for _ in ng]
        seal_search_check(g, cur, "docs_idx", "docs", "body", docs_corpus, ng, lps, rng.choice([1, 5, 10, 50, 400]))
    for rep in range(30):
        n = rng.randint(1, 6)
        seqs = [s for s in tok_corpus.live.values() if s]
        ng = []
        for _ in range(n):
            s = rng.choice(seqs)
            i = rng.randrange(len(s))
            ng.append(tuple(s[i:i + rng.randint(1, 4)]))
        if rep % 3 == 0:
            ng.append(ng[0])
        if rep % 5 == 0:
            ng.append((77777,))                     # absent
        lps = None if rep % 2 == 0 else [round(rng.uniform(-6, -0.01), 6) for _ in ng]
        seal_search_check(g, cur, "toks_idx", "toks", "t", tok_corpus, ng, lps, rng.choice([1, 5, 10, 400]))
    # seal_search on the LSM index (segments + buffer)
    for rep in range(6):
        ng = random_byte_ngrams(rng, lsm_corpus, rng.randint(2, 6))
        seal_search_check(g, cur, "lsm_idx", "lsm", "body", lsm_corpus, ng, None, 20)
    # retrieval.seal_max_occurrences
    for limit in (3, 20):
        cur.execute(f"SET retrieval.seal_max_occurrences = {limit}")
        for rep in range(8):
            ng = random_byte_ngrams(rng, docs_corpus, rng.randint(2, 8))
            lps = None if rep % 2 == 0 else [round(rng.uniform(-6, -0.01), 6) for _ in ng]
            seal_search_check(g, cur, "docs_idx", "docs", "body", docs_corpus, ng, lps, 50, max_occ=limit)
    cur.execute("RESET retrieval.seal_max_occurrences")

    # duplicates with different log probabilities: the larger weight is kept
    ng = [b"cat", b"dog", b"cat"]
    seal_search_check(g, cur, "docs_idx", "docs", "body", docs_corpus, ng, [-3.0, -1.0, -0.2], 400)
    seal_search_check(g, cur, "docs_idx", "docs", "body", docs_corpus, ng, [-0.2, -1.0, -3.0], 400)

    # <%>: per-row values and the index scan
    texts = [s.decode("utf-8") for s in docs_corpus.live.values() if s]
    queries = ["cat dog", "the cat sat on the mat", "café 中文 😀", "qqabsent words here", "", "   ",
               "cat\x1edog hat", "the\x1e\x1ecat", "ab abc abcd ab", "naïve über ß"]
    while len(queries) < 22:
        t = rng.choice(texts).split()
        i = rng.randrange(len(t))
        words = t[i:i + rng.randint(1, 6)] + rng.sample(VOCAB, rng.randint(0, 3))
        if rng.random() < 0.3:
            rng.shuffle(words)
        queries.append(" ".join(words))
    positive = sum(check_seal_operator(g, cur, rng, "docs", "docs_idx", docs_corpus, q, i == 0)
                   for i, q in enumerate(queries))
    # on the LSM index: segments and write buffer
    texts = [s.decode("utf-8") for s in lsm_corpus.live.values() if s]
    for _ in range(3):
        t = rng.choice(texts).split()
        i = rng.randrange(len(t))
        q = " ".join(t[i:i + rng.randint(2, 8)] + rng.sample(VOCAB, 2))
        positive += check_seal_operator(g, cur, rng, "lsm", "lsm_idx", lsm_corpus, q, False)
    # retrieval.seal_query_ngrams = 'all': every occurring word run of the query
    cur.execute("SET retrieval.seal_query_ngrams = 'all'")
    for i, q in enumerate(queries[:12]):
        check_seal_operator(g, cur, rng, "docs", "docs_idx", docs_corpus, q, i == 0, mode="all")
    cur.execute("RESET retrieval.seal_query_ngrams")
    ids_bodies = dict(docs_corpus.live)
    # text[] form: elements are phrases
    for arr in (["cat", "dog"], ["the cat", "sat on", "the mat"], ["café 中文", None, "😀 x😀y"], [q for q in queries[10:13]]):
        joined = "\x1e".join(x for x in arr if x is not None).encode("utf-8")
        ref = seal_scores(docs_corpus, query_ngrams(docs_corpus, joined), None)
        cur.execute("SELECT id, body <%%> %s::text[] FROM docs WHERE body IS NOT NULL", (arr,))
        vals = dict(cur.fetchall())
        bad = [(rid, vals.get(rid), -ref[rid]) for rid in ids_bodies if vals.get(rid) is None or not close(vals[rid], -ref[rid])]
        g.check(not bad, lambda: f"body <%> {arr!r}::text[]: {len(bad)} rows differ, e.g. {bad[:3]}")
        cur.execute("SET enable_seqscan = off")
        cur.execute("SELECT id, body <%%> %s::text[] FROM docs ORDER BY body <%%> %s::text[] LIMIT 10", (arr, arr))
        got = [(rid, -d) for rid, d in cur.fetchall()]
        cur.execute("RESET enable_seqscan")
        compare_ranking(g, f"ORDER BY body <%> {arr!r}::text[] LIMIT 10", got, ref, 10)
    g.done(f"; seal_search: {SEAL_SEEN['nonempty']}/{SEAL_SEEN['calls']} non-empty, {SEAL_SEEN['tied']} with ties; "
           f"<%>: {positive}/{len(queries) + 3} queries with matching rows")


def check_seal_operator(g, cur, rng, table, idx, corpus, q, explain, mode="longest"):
    """Per-row values of body <%> q (seq scan) and ORDER BY body <%> q LIMIT k
    (index scan) against the reference; returns whether some row scores > 0."""
    ngs = query_ngrams(corpus, q.encode("utf-8"), mode)
    ref = seal_scores(corpus, ngs, None)
    cur.execute("SET enable_indexscan = off")
    cur.execute(f"SELECT id, body <%%> %s FROM {table}", (q,))
    vals = dict(cur.fetchall())
    cur.execute("RESET enable_indexscan")
    bad = [(rid, vals.get(rid), -ref[rid]) for rid in corpus.live
           if vals.get(rid) is None or not close(vals[rid], -ref[rid])]
    g.check(not bad, lambda: f"{table}.body <%> {q!r} (n-grams {ngs}): {len(bad)} rows differ, "
                             f"e.g. (id, got, expected) {bad[:3]}")
    nulls = [rid for rid, v in vals.items() if rid not in corpus.live and v is not None]
    g.check(not nulls, f"{table}.body <%> {q!r}: NULL bodies give values: {nulls[:5]}")
    k = rng.choice([3, 10, 400])
    cur.execute("SET enable_seqscan = off")
    if explain:
        cur.execute(f"EXPLAIN SELECT id FROM {table} ORDER BY body <%%> %s LIMIT %s", (q, k))
        plan = "\n".join(r[0] for r in cur.fetchall())
        g.check(f"Index Scan using {idx}" in plan, f"ORDER BY body <%> q LIMIT k is not an index scan:\n{plan}")
    cur.execute(f"SELECT id, body <%%> %s FROM {table} ORDER BY body <%%> %s LIMIT %s", (q, q, k))
    got = [(rid, -d if d is not None else None) for rid, d in cur.fetchall()]
    cur.execute("RESET enable_seqscan")
    compare_ranking(g, f"ORDER BY {table}.body <%> {q!r} LIMIT {k} (n-grams {ngs})", got, ref, k)
    return any(v > 0 for v in ref.values())


def sqlstate_of(cur, sql, args=()):
    try:
        cur.execute(sql, args)
        return None
    except psycopg2.Error as e:
        return e.pgcode


def group_errors(cur):
    g = Group("6 errors")
    cur.execute("CREATE TABLE plain (id int, body text)")
    cur.execute("INSERT INTO plain VALUES (1, 'some text')")
    cur.execute("CREATE INDEX plain_idx ON plain USING retrieval (body) WITH (model = 'none')")
    cur.execute("SELECT count(*) FROM toks")
    before = cur.fetchone()[0]
    cases = [
        ("text n-gram on the token index: ngram_count", "42804", "SELECT retrieval.ngram_count('toks_idx', 'ab'::text)"),
        ("text n-gram on the token index: ngram_next", "42804", "SELECT * FROM retrieval.ngram_next('toks_idx', 'ab'::text)"),
        ("text n-gram on the token index: ngram_docs", "42804", "SELECT * FROM retrieval.ngram_docs('toks_idx', 'ab'::text)"),
        ("text n-grams on the token index: seal_search", "42804",
         "SELECT * FROM retrieval.seal_search('toks_idx', ARRAY['ab'])"),
        ("token n-gram on the byte index: ngram_count", "42804", "SELECT retrieval.ngram_count('docs_idx', '{1,2}'::int4[])"),
        ("token n-gram on the byte index: ngram_next", "42804", "SELECT * FROM retrieval.ngram_next('docs_idx', '{1}'::int4[])"),
        ("token n-gram on the byte index: ngram_docs", "42804", "SELECT * FROM retrieval.ngram_docs('docs_idx', '{1}'::int4[])"),
        ("token n-grams on the byte index: seal_search", "42804",
         "SELECT * FROM retrieval.seal_search('docs_idx', '{1,-1,2}'::int4[])"),
        ("text index without ngrams: ngram_count", "55000", "SELECT retrieval.ngram_count('plain_idx', 'so')"),
        ("text index without ngrams: ngram_next", "55000", "SELECT * FROM retrieval.ngram_next('plain_idx', 'so')"),
        ("text index without ngrams: ngram_docs", "55000", "SELECT * FROM retrieval.ngram_docs('plain_idx', 'so')"),
        ("text index without ngrams: seal_search", "55000", "SELECT * FROM retrieval.seal_search('plain_idx', ARRAY['so'])"),
        ("text index without ngrams: ngram_stats", "55000", "SELECT * FROM retrieval.ngram_stats('plain_idx')"),
        ("negative token id in a row", "22003", "INSERT INTO toks VALUES (100001, '{1,-3,2}')"),
        ("NULL element in a row", "22004", "INSERT INTO toks VALUES (100002, ARRAY[1,NULL,2])"),
        ("2-D array in a row", "2202E", "INSERT INTO toks VALUES (100003, '{{1,2},{3,4}}')"),
        ("logprobs length mismatch (text)", "2202E",
         "SELECT * FROM retrieval.seal_search('docs_idx', ARRAY['cat','dog'], ARRAY[-1.0]::float8[])"),
        ("logprobs length mismatch (tokens)", "2202E",
         "SELECT * FROM retrieval.seal_search('toks_idx', '{1,-1,2,-1,3}'::int4[], ARRAY[-1.0,-2.0]::float8[])"),
        ("positive logprob (text)", "22023",
         "SELECT * FROM retrieval.seal_search('docs_idx', ARRAY['cat','dog'], ARRAY[-1.0, 0.5]::float8[])"),
        ("positive logprob (tokens)", "22023",
         "SELECT * FROM retrieval.seal_search('toks_idx', '{1,-1,2}'::int4[], ARRAY[0.25, -1.0]::float8[])"),
    ]
    for what, want, sql in cases:
        got = sqlstate_of(cur, sql)
        g.check(got == want, f"{what}: SQLSTATE {got}, expected {want} ({sql})")
    cur.execute("SELECT count(*) FROM toks")
    g.check(cur.fetchone()[0] == before, "failed inserts left rows behind")
    g.done()


def main():
    for var in ("PGHOST", "PGPORT", "PGUSER"):
        if not os.environ.get(var):
            print(f"check_ngram.py: set {var} (libpq environment of the test cluster)", file=sys.stderr)
            return 2
    t0 = time.time()
    rng = random.Random(20261127)
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB}")
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION retrieval")

    docs_corpus = group_bytes(cur, rng)
    tok_corpus = group_tokens(cur, rng)
    lsm_corpus, lengths = group_lsm(cur, conn, rng)
    group_deletes(cur, rng, lsm_corpus, lengths, tok_corpus)
    group_seal(cur, rng, docs_corpus, tok_corpus, lsm_corpus)
    group_errors(cur)

    conn.close()
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.close()
    failures = sum(g.failures for g in GROUPS)
    checks = sum(g.checks for g in GROUPS)
    bad = [g.name for g in GROUPS if g.failures]
    print(f"ngram check: {checks} checks in {len(GROUPS)} groups, {failures} mismatches"
          f"{' in ' + ', '.join(bad) if bad else ''}, {time.time() - t0:.1f} s: {'FAILED' if failures else 'ok'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
