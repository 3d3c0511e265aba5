"""An independent, exact BM25 in Python (float64): the benchmarks' oracle.

Owns the BM25 formula the index is checked against and the top-k order
with its tie rule.  It sees only terms (lists of strings); which analyzer
produced them is the caller's business (bm25 obtains them from the
database with retrieval.tokenize, so index and oracle score the same
tokens).

Lucene / Elasticsearch BM25, with exact document lengths:

  idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
  score(d, q) = sum over the query's terms, once per occurrence in the query,
                of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

  N     documents (by default every row given, including ones with no
        terms; `count_empty=False` leaves those out, which is the retrieval
        index's rule and Lucene's docCount: the benchmarks pass it),
        n(t) documents containing t, tf occurrences of t in d,
        dl = number of terms of d, avgdl = sum of dl / N.
  k1 = 1.2, b = 0.75 unless given.

Only documents containing at least one query term are candidates (every
other document scores 0 and is never returned).  Top-k order: score
descending, ties broken by a caller-supplied key ascending (bm25 passes
the row's ctid, or its id, selected by --tie-break).

Two ways to get postings (same scoring code):
  MemoryIndex({key: [terms]})           the whole corpus in Python (SciFact, classic sets)
  SqlIndex(cur, table, key_col, terms_col)
      a table holding each row's terms as text[] with a GIN index on them;
      only the query terms' postings are fetched (en-985k, 1M rows).
"""
import math
from collections import Counter

import numpy as np

K1, B = 1.2, 0.75


def idf(N, n):
    return math.log(1.0 + (N - n + 0.5) / (n + 0.5))


def term_contrib(idf_t, tf, dl, avgdl, k1=K1, b=B):
    """Per-document contribution of one query term (numpy arrays ok)."""
    return idf_t * (tf * (k1 + 1.0)) / (tf + k1 * (1.0 - b + b * dl / avgdl))


class _Base:
    k1, b = K1, B

    def score(self, query_terms):
        """{key: score} of every document containing a query term."""
        counts = Counter(query_terms)
        acc = {}
        for term in sorted(counts):           # a fixed order: reproducible sums
            keys, tfs, dls = self.postings(term)
            if len(keys) == 0:
                continue
            w = term_contrib(idf(self.N, len(keys)), np.asarray(tfs, dtype=np.float64),
                             np.asarray(dls, dtype=np.float64), self.avgdl, self.k1, self.b)
            w = w * counts[term]
            for key, x in zip(keys, w.tolist()):
                acc[key] = acc.get(key, 0.0) + x
        return acc

    def top_k(self, query_terms, k=10, tie_key=None):
        """[(key, score)] best first: score descending, then tie_key(key)
        ascending (the key itself when tie_key is None)."""
        return top_k(self.score(query_terms), k, tie_key)


def top_k(scores, k=10, tie_key=None):
    tk = tie_key or (lambda x: x)
    return sorted(scores.items(), key=lambda kv: (-kv[1], tk(kv[0])))[:k]


class MemoryIndex(_Base):
    """docs: {key: [term, ...]} (or an iterable of (key, terms))."""

    def __init__(self, docs, k1=K1, b=B, count_empty=True):
        items = docs.items() if isinstance(docs, dict) else docs
        self.k1, self.b = k1, b
        self._post = {}
        total = n = 0
        for key, terms in items:
            terms = terms or []
            if not terms and not count_empty:
                continue
            n += 1
            total += len(terms)
            dl = len(terms)
            for t, tf in Counter(terms).items():
                p = self._post.get(t)
                if p is None:
                    p = self._post[t] = ([], [], [])
                p[0].append(key)
                p[1].append(tf)
                p[2].append(dl)
        self.N = n
        self.avgdl = total / n if n else 0.0
        self.total_terms = total

    def postings(self, term):
        return self._post.get(term, ((), (), ()))

    def df(self, term):
        return len(self._post.get(term, ((),))[0])


class SqlIndex(_Base):
    """Postings from a table (key_col, terms_col text[]) with a GIN index on
    terms_col, e.g. CREATE TABLE t AS SELECT n, retrieval.tokenize(body) AS
    terms FROM passages.  N counts every row of the table (rows with an
    empty array too, unless count_empty=False)."""

    def __init__(self, cur, table, key_col="n", terms_col="terms", k1=K1, b=B,
                 count_empty=True):
        self.cur, self.table, self.key_col, self.terms_col = cur, table, key_col, terms_col
        self.k1, self.b = k1, b
        where = "" if count_empty else " WHERE cardinality(%s) > 0" % terms_col
        cur.execute("SELECT count(*), coalesce(sum(cardinality(%s)), 0) FROM %s%s"
                    % (terms_col, table, where))
        self.N, self.total_terms = (int(x) for x in cur.fetchone())
        self.avgdl = self.total_terms / self.N if self.N else 0.0

    def postings(self, term):
        self.cur.execute(
            "SELECT %(k)s, cardinality(%(t)s), "
            "       cardinality(array_positions(%(t)s, %%(term)s::text)) "
            "FROM %(tab)s WHERE %(t)s @> ARRAY[%%(term)s]::text[]"
            % {"k": self.key_col, "t": self.terms_col, "tab": self.table}, {"term": term})
        rows = self.cur.fetchall()
        if not rows:
            return (), (), ()
        keys, dls, tfs = zip(*rows)
        return keys, tfs, dls


def compare_top(index_rows, ref_rows, rel_tol=1e-9, near_tie=1e-9):
    """Compare an engine's top-k [(key, score)] with the reference's.

    Returns None when the keys are equal in order and every score is within
    rel_tol (relative) of the reference score; else a dict describing the
    difference: 'kind' is 'scores' (same keys, a score off), 'ties' (the
    keys differ only among documents whose reference scores are within
    near_tie of each other, e.g. equal scores ordered differently) or
    'ranking'."""
    ik = [k for k, _ in index_rows]
    rk = [k for k, _ in ref_rows]
    if ik == rk:
        bad = [(k, s, r) for (k, s), (_, r) in zip(index_rows, ref_rows)
               if s is None or not math.isclose(s, r, rel_tol=rel_tol, abs_tol=0.0)]
        if not bad:
            return None
        worst = max(float("inf") if s is None else abs(s - r) / max(abs(r), 1e-300)
                    for _, s, r in bad)
        return {"kind": "scores", "n_bad": len(bad), "max_rel_diff": worst,
                "first": bad[0]}
    # same multiset of scores (within near_tie) -> only tie order differs
    iscores = [s for _, s in index_rows]
    rscores = [s for _, s in ref_rows]
    same_scores = len(iscores) == len(rscores) and all(
        a is not None and math.isclose(a, b, rel_tol=near_tie) for a, b in zip(iscores, rscores))
    first = next((i for i, (a, b) in enumerate(zip(ik, rk)) if a != b), min(len(ik), len(rk)))
    return {"kind": "ties" if same_scores else "ranking", "first_diff_rank": first + 1,
            "index": index_rows, "reference": ref_rows}
