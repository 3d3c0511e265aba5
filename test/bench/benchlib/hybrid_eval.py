"""The `hybrid-eval` benchmark: the fusion weight of hybrid ranking (issue 6).

The hybrid text index ranks by the fused distance `body <=> q` = 1 - S,

  S = w * bm25(body, q) / bm25max(q) + (1 - w) * cos(embed(body), embed(q))

  bm25max(q) = (k1 + 1) * sum over the distinct analyzed query terms t with
               df(t) > 0 of count_q(t) * idf(t),
  idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)),

N = indexed documents with at least one term, k1 the index's (1.2); the
supremum of the Lucene BM25 score of q (tf -> infinity), so the BM25 part
lies in [0, 1) and is computable per row.  bm25max = 0 (no query term in the
corpus) makes the BM25 part 0.  w is the index option fusion_weight; its
default is chosen here on SciFact's train queries and reported on its test
queries.

Modes (--mode):
  sweep  runs with the extension as it is (no hybrid index needed): per set,
         a table (id, body, emb vector(512)) with emb = retrieval.embed(body)
         (computed in batches with retrieval.embed(text[])), the BM25 index
         USING retrieval (body) as bm25-eval builds it; per query the BM25
         score of every matching document from the index (ORDER BY body <@> q,
         no LIMIT) and the query's embedding.  bm25max from N and the document
         frequencies of the retrieval.tokenize terms (the index's analyzer);
         the same N and df reproduce every index score through the exact BM25
         oracle (checked on every returned row).  Then in numpy, per query, the
         exact fused ranking over ALL documents for w = 0, 0.05, ..., 1 (and a
         0.01 grid around the best), nDCG@10 and Recall@100; the default w is
         selected on --select-on (scifact:train) by nDCG@10 (the roundest value
         of the plateau within --plateau of the best), then every set reports
         BM25 alone (the <@> ranking), dense alone (w = 0), fused at that w,
         and reciprocal rank fusion (k = 60) of the BM25 and dense rankings;
         for comparison also the BM25 part normalised by the query's top-1
         BM25 score instead of bm25max (not per-row computable).
  index  the same sets and metrics through the hybrid index's operators:
         CREATE INDEX ... USING retrieval (body), then per query
         ORDER BY body <@> / <~> / <=> $1 LIMIT 100 (fusion weight from
         SET retrieval.fusion_weight when --weight is given); per operator
         nDCG@10, Recall@100 and the top-10 agreement with the exact numpy
         ranking of the same quantity (for <=>: fraction of queries with an
         identical top-10, mean overlap, largest distance difference).  Fails
         with a clear message while `text <~> text` does not exist.

Rank order everywhere: score descending, ties by load order (= ctid order of
the freshly loaded table), as the BM25 index breaks them.  The BM25 ranking
holds only documents with a query term (what <@> returns); dense, fused and
RRF rankings cover every document.

This module owns: the fusion formula and bm25max in numpy, the weight
selection, the embedding of a set, and the index-mode probe.  Data sets are
ir_datasets, metrics ir_metrics, the BM25 oracle bm25_reference, tables /
index options / cluster reuse bm25, cluster lifecycle cluster, tables report.
"""
import math
import os
import re
import time
from collections import Counter

import numpy as np

from . import report
from .bm25 import (EngineUnavailable, add_bm25_index_args, add_cluster_args,
                   bm25_with_clause, copy_rows, index_stats, make_cluster, oracle_params,
                   open_database, probe_bm25, scalar, terms_sql, timed_ddl)
from .bm25_reference import MemoryIndex
from .data import read_jsonl
from .ir_datasets import load_judged
from .ir_metrics import evaluate
from .paths import Skip, log

DEFAULT_SETS = ["scifact:train", "scifact", "adi", "cacm", "cisi", "cranfield", "lisa", "med",
                "npl", "time"]
RRF_K = 60
DEPTH = 100           # ranks kept per query (Recall@100; the index mode's LIMIT)
EVAL_GUCS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


# ----------------------------------------------------------------------------
# fusion in numpy (no database)
# ----------------------------------------------------------------------------
def bm25max(query_terms, df, N, k1):
    """(k1 + 1) * sum over distinct query terms with df > 0 of
    count_q(t) * idf(t): the supremum of the query's BM25 score."""
    s = 0.0
    for t, c in sorted(Counter(query_terms).items()):
        n = df(t)
        if n > 0:
            s += c * math.log(1.0 + (N - n + 0.5) / (n + 0.5))
    return (k1 + 1.0) * s


def fused_scores(bm25, cos, w, norm):
    """S = w * bm25 / norm + (1 - w) * cos (the BM25 part 0 when norm is 0)."""
    part = bm25 / norm if norm > 0 else np.zeros_like(bm25)
    return w * part + (1.0 - w) * cos


def rank(scores, k=DEPTH, mask=None):
    """Row numbers of the k best scores, descending, ties by row number
    (load order); only rows where mask is true when given."""
    rows = np.arange(len(scores)) if mask is None else np.flatnonzero(mask)
    order = np.lexsort((rows, -scores[rows]))
    return rows[order[:k]]


def rrf_scores(rankings, n, k=RRF_K):
    """Reciprocal rank fusion: sum over the rankings (full row lists, best
    first) of 1 / (k + rank), rank from 1; absent rows contribute 0."""
    s = np.zeros(n)
    for r in rankings:
        s[r] += 1.0 / (k + np.arange(1, len(r) + 1))
    return s


def weight_grid(step):
    n = int(round(1.0 / step))
    return [round(i * step, 4) for i in range(n + 1)]


def roundness(w):
    """Smaller = rounder: 0 for multiples of 0.1, 1 for 0.05, 2 for 0.01, 3 otherwise."""
    for level, unit in enumerate((0.1, 0.05, 0.01)):
        if abs(w / unit - round(w / unit)) < 1e-9:
            return level
    return 3


def select_weight(sweep, tolerance):
    """sweep: {w: nDCG@10}.  Returns (chosen, best_w, plateau [lo, hi]):
    plateau = the contiguous run of grid weights around the best whose
    nDCG@10 is within `tolerance` of the best; chosen = its roundest weight,
    the one with the highest nDCG@10 among equally round ones."""
    ws = sorted(sweep)
    best = max(ws, key=lambda w: (sweep[w], -abs(w - 0.5)))
    i = ws.index(best)
    lo = hi = i
    while lo > 0 and sweep[ws[lo - 1]] >= sweep[best] - tolerance:
        lo -= 1
    while hi < len(ws) - 1 and sweep[ws[hi + 1]] >= sweep[best] - tolerance:
        hi += 1
    plateau = ws[lo:hi + 1]
    chosen = min(plateau, key=lambda w: (roundness(w), -sweep[w], w))
    return chosen, best, (plateau[0], plateau[-1])


class SetData:
    """One judged set in numpy: ids (load order), E (docs x 512, float64),
    per query its embedding, BM25 scores of every document (0 = no query
    term) and bm25max."""

    def __init__(self, ids, emb, starts=None):
        self.ids = ids
        self.row = {d: i for i, d in enumerate(ids)}
        self.E = emb        # docs x 512, or units x 512 when starts is given
        self.starts = starts  # first unit row of each document (cos = its best unit's)
        self.q = {}         # qid -> dict(emb, bm25 (n,), bm25max, terms)

    def cos(self, qid):
        q = self.q[qid]
        if "cos" not in q:
            c = self.E @ q["emb"]
            q["cos"] = c if self.starts is None else np.maximum.reduceat(c, self.starts)
        return q["cos"]

    def rankings(self, qid, w, norm="bm25max"):
        q = self.q[qid]
        nrm = q["bm25max"] if norm == "bm25max" else q["bm25"].max(initial=0.0)
        return rank(fused_scores(q["bm25"], self.cos(qid), w, nrm))

    def bm25_ranking(self, qid, k=DEPTH):
        b = self.q[qid]["bm25"]
        return rank(b, k, mask=b > 0)

    def dense_ranking(self, qid, k=DEPTH):
        return rank(self.cos(qid), k)

    def rrf_ranking(self, qid, k=DEPTH):
        full = len(self.ids)
        r = rrf_scores([self.bm25_ranking(qid, full), self.dense_ranking(qid, full)], full)
        return rank(r, k)

    def run_of(self, qids, fn):
        return {q: [self.ids[i] for i in fn(q)] for q in qids}


def metrics_of(run, qrels):
    m = evaluate(run, qrels)
    return {"nDCG@10": m["nDCG@10"], "Recall@100": m["Recall@100"], "MRR@10": m["MRR@10"]}


def sweep_set(sd, qids, qrels, grid, norms=("bm25max", "top1")):
    """{norm: {w: metrics}} over the grid for the normalisations."""
    out = {}
    for norm in norms:
        out[norm] = {w: metrics_of(sd.run_of(qids, lambda q: sd.rankings(q, w, norm)), qrels)
                     for w in grid}
    return out


# ----------------------------------------------------------------------------
# loading a set: table, embeddings, BM25 scores
# ----------------------------------------------------------------------------
def _table_name(name):
    return "hy_" + "".join(c if c.isalnum() else "_" for c in name.lower())


def _parse_vector(text):
    return np.fromstring(text.strip()[1:-1], sep=",", dtype=np.float64)


def embed_texts(cur, texts, batch, deadline=None, what="texts"):
    """[(vector text, np.array)] of retrieval.embed(texts), `batch` per call
    of retrieval.embed(text[]).  Raises TimeoutError past `deadline`."""
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        cur.execute("SELECT e::text FROM unnest(retrieval.embed(%s::text[])) "
                    "WITH ORDINALITY u(e, i) ORDER BY i", (list(texts[i:i + batch]),))
        out.extend((r[0], _parse_vector(r[0])) for r in cur.fetchall())
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError("embedding %s: %d of %d done when the time limit was reached"
                               % (what, len(out), len(texts)))
        if (i // batch) % 20 == 19:
            log("  embedded %d/%d %s (%.0f s)" % (len(out), len(texts), what,
                                                  time.perf_counter() - t0))
    return out


# ASCII letters only, as the index's embed_lowercase option does
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _embed_text(text, args):
    return text.translate(_ASCII_LOWER) if args.embed_lowercase else text


def load_set(conn, cur, name, ds, args, deadline):
    """Create the table (id, body, emb) in load order and return
    (SetData without queries, info dict)."""
    table = _table_name(name)
    info = {"table": table, "docs": len(ds.docs)}
    t0 = time.perf_counter()
    embs = embed_texts(cur, [_embed_text(b, args) for _, b in ds.docs], args.batch, deadline,
                       "documents")
    info["embed_docs_s"] = time.perf_counter() - t0
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id text, body text, emb vector(512))" % table)
    copy_rows(conn, table, ("id", "body", "emb"),
              ((d, b, e[0]) for (d, b), e in zip(ds.docs, embs)))
    E = np.vstack([e[1] for e in embs])
    norms = np.linalg.norm(E, axis=1)
    info["doc_norm_range"] = [float(norms.min()), float(norms.max())]
    return SetData([d for d, _ in ds.docs], E), info


def bm25_scores(cur, table, text):
    """[(id, score)] of every row the index returns for the query (all rows
    containing a query term), score = -(body <@> q)."""
    cur.execute("SELECT id, body <@> %%(q)s::text FROM %s ORDER BY body <@> %%(q)s::text"
                % table, {"q": text})
    return [(i, -d) for i, d in cur.fetchall()]


def add_queries(cur, sd, ds, qids, args, info, deadline):
    """Embeddings, index BM25 scores and bm25max of the queries; checks the
    index's scores against the oracle over the same N and df."""
    expr = terms_sql("retrieval", ds.language, args)
    cur.execute("SELECT id, %s FROM %s" % (expr % "body", info["table"]))
    doc_terms = {i: t or [] for i, t in cur.fetchall()}
    k1, b = oracle_params(args)
    oracle = MemoryIndex(doc_terms, k1=k1, b=b, count_empty=False)
    info.update(N=oracle.N, avgdl=oracle.avgdl, k1=k1, b=b, terms_from=expr % "body")
    stats = (info.get("index") or {}).get("index_stats") or [{}]
    info["N_index_stats"] = stats[0].get("documents")
    t0 = time.perf_counter()
    qembs = embed_texts(cur, [_embed_text(ds.queries[q], args) for q in qids], args.batch,
                        deadline, "queries")
    info["embed_queries_s"] = time.perf_counter() - t0
    cur.execute("SELECT t FROM unnest(%%s::text[]) WITH ORDINALITY u(q, i), "
                "LATERAL (SELECT %s AS t) x ORDER BY i" % (expr % "u.q"),
                ([ds.queries[q] for q in qids],))
    qterms = [r[0] or [] for r in cur.fetchall()]
    worst, above_max, set_diff, n_scores = 0.0, 0, 0, 0
    t0 = time.perf_counter()
    for q, (_, qe), terms in zip(qids, qembs, qterms):
        vec = np.zeros(len(sd.ids))
        got = bm25_scores(cur, info["table"], ds.queries[q])
        for i, s in got:
            vec[sd.row[i]] = s
        ref = oracle.score(terms)
        set_diff += len(set(ref).symmetric_difference(i for i, _ in got))
        for i, s in got:
            r = ref.get(i)
            worst = max(worst, float("inf") if r is None else abs(s - r) / max(abs(r), 1e-300))
        n_scores += len(got)
        mx = bm25max(terms, oracle.df, oracle.N, k1)
        above_max += sum(1 for _, s in got if s >= mx)
        sd.q[q] = {"emb": qe, "bm25": vec, "bm25max": mx, "terms": terms}
        if len(sd.q) % 200 == 0:
            log("  BM25 scores of %d/%d queries (%.0f s)" % (len(sd.q), len(qids),
                                                             time.perf_counter() - t0))
    info["bm25_fetch_s"] = time.perf_counter() - t0
    info["check"] = {"scores": n_scores, "max_rel_diff_vs_oracle": worst,
                     "rows_not_in_both": set_diff, "scores_at_or_above_bm25max": above_max,
                     "queries_bm25max_zero": sum(1 for q in qids if sd.q[q]["bm25max"] == 0)}
    ratio = [sd.q[q]["bm25"].max() / sd.q[q]["bm25max"] for q in qids if sd.q[q]["bm25max"] > 0]
    info["check"]["top1_over_bm25max"] = ([float(np.mean(ratio)), float(np.max(ratio))]
                                          if ratio else None)
    qn = np.array([np.linalg.norm(sd.q[q]["emb"]) for q in qids])
    info["query_norm_range"] = [float(qn.min()), float(qn.max())] if len(qn) else None
    info["check"]["N_differs_from_index_stats"] = info["N_index_stats"] != oracle.N
    log("  BM25 vs oracle: %d scores, max rel diff %.2e, %d rows in only one, %d at or above "
        "bm25max; N %d (index_stats %s)" % (n_scores, worst, set_diff, above_max, oracle.N,
                                            info["N_index_stats"]))
    return info


def prepare(conn, cur, name, specs, args, out):
    """Load the corpus `name` once for every split in specs; returns
    (SetData, {spec: (ds, qids, qrels)}, info) or None when skipped."""
    deadline = time.perf_counter() + args.time_limit if args.time_limit else None
    first = specs[0][1]
    log("== %s (%d docs, language %s)" % (name, len(first.docs), first.language))
    try:
        sd, info = load_set(conn, cur, name, first, args, deadline)
        info["index"] = build_index(conn, cur, info["table"], first.language, args)
        cur.execute("VACUUM ANALYZE %s" % info["table"])
        per_spec = {}
        allq = []
        for spec, ds in specs:
            qids = list(ds.queries)[:args.max_queries] if args.max_queries else list(ds.queries)
            per_spec[spec] = (ds, qids, {q: ds.qrels[q] for q in qids})
            allq += [q for q in qids if q not in allq]
        # query ids are shared by the splits of one set (one text per id)
        add_queries(cur, sd, first._replace(queries={q: ds.queries[q]
                                                     for _, ds in specs for q in ds.queries}),
                    allq, args, info, deadline)
    except TimeoutError as e:
        out["skipped"].append("%s: %s (--time-limit %s s)" % (name, e, args.time_limit))
        log("SKIP %s: %s" % (name, e))
        return None
    return sd, per_spec, info


def build_index(conn, cur, table, language, args):
    name = table + "_idx"
    sql = ("CREATE INDEX %s ON %s USING retrieval (body) %s"
           % (name, table, bm25_with_clause(language, args)))
    if getattr(args, "index_options", None):
        sql = sql[:-1] + ", " + args.index_options + ")"
    if getattr(args, "mode", None) == "index":
        # the hybrid index: the default model, lower-casing as the exact ranking does
        sql = sql.replace("model = 'none', ", "")
        sql = sql[:-1] + ", embed_lowercase = %s)" % ("on" if args.embed_lowercase else "off")
    try:
        b = timed_ddl(conn, cur, sql)
    except Exception as e:
        raise EngineUnavailable("CREATE INDEX failed: %s" % str(e).strip())
    b["index"] = name
    b["index_stats"] = index_stats(cur, name)
    b["index_bytes"] = scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,))
    log("  index %s: %.2f s, %.2f MiB" % (name, b["wall_s"], b["index_bytes"] / 2**20))
    return b


# ----------------------------------------------------------------------------
# document embeddings other than embed(body) (--doc-embedding, sweep only)
# ----------------------------------------------------------------------------
DOC_EMBEDDINGS = {
    # name: (what is embedded per document, how the unit vectors make its score)
    "first": ("embed(body): the model reads the first 128 tokens", "one vector"),
    "title": ("embed(title) (body when the title is empty)", "one vector"),
    "chunks-mean": ("consecutive windows of body, each at most --chunk-tokens model tokens",
                    "mean of the unit vectors, re-normalised"),
    "chunks-max": ("the same windows", "cos = the best window's cos (several vectors per row)"),
    "sents-mean": ("whole sentences of body grouped into windows of at most --chunk-tokens "
                   "tokens (a longer sentence is split by words)",
                   "mean of the unit vectors, re-normalised"),
    "sents-max": ("the same sentence windows", "cos = the best window's cos"),
    "title-chunks-mean": ("embed(title) and the chunks-mean windows",
                          "mean of the title's and the windows' unit vectors, re-normalised"),
}
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def parse_doc_embeddings(spec):
    out = [v.strip() for v in spec.split(",") if v.strip()]
    bad = [v for v in out if v not in DOC_EMBEDDINGS]
    if bad or not out:
        raise ValueError("--doc-embedding: unknown %s (known: %s)"
                         % (", ".join(bad) or "(empty)", ", ".join(DOC_EMBEDDINGS)))
    return out


def word_tokens(cur, texts):
    """{word: number of model tokens} for every whitespace-separated word of
    texts.  The tokenizer never lets a piece cross a U+2581 (= space)
    position, so a text's tokens are the sum of its words' (up to runs of
    unknown characters merged across a space, which the windows' exact
    count below reports)."""
    words = sorted({w for t in texts for w in t.split()})
    cur.execute("SELECT cardinality(retrieval.model_tokens(w)) FROM unnest(%s::text[]) "
                "WITH ORDINALITY u(w, i) ORDER BY i", (words,))
    return dict(zip(words, (r[0] for r in cur.fetchall())))


def token_windows(words, ntok, limit):
    """Consecutive windows of `words` (list) of at most `limit` tokens each
    (a single longer word is a window of its own), as few as possible and
    of near-equal token counts: n = ceil(total / limit) target sizes."""
    total = sum(ntok[w] for w in words)
    if not words:
        return []
    n = max(1, -(-total // limit))
    target = total / n
    out, cur, size = [], [], 0
    for w in words:
        t = ntok[w]
        if cur and (size + t > limit or size >= target):
            out.append(cur)
            cur, size = [], 0
        cur.append(w)
        size += t
    out.append(cur)
    return [" ".join(c) for c in out]


def sentence_windows(text, ntok, limit):
    """Whole sentences packed greedily into windows of at most `limit`
    tokens; a sentence longer than that is split by token_windows."""
    out, cur, size = [], [], 0
    for sent in _SENT_END.split(text):
        words = sent.split()
        t = sum(ntok[w] for w in words)
        if t > limit:
            if cur:
                out.append(" ".join(cur))
                cur, size = [], 0
            out.extend(token_windows(words, ntok, limit))
            continue
        if cur and size + t > limit:
            out.append(" ".join(cur))
            cur, size = [], 0
        cur.extend(words)
        size += t
    if cur:
        out.append(" ".join(cur))
    return out


def doc_units(variant, body, title, ntok, limit):
    if variant == "first":
        return [body]
    if variant == "title":
        return [title or body]
    if variant in ("chunks-mean", "chunks-max"):
        return token_windows(body.split(), ntok, limit) or [body]
    if variant in ("sents-mean", "sents-max"):
        return sentence_windows(body, ntok, limit) or [body]
    if variant == "title-chunks-mean":
        return [title or body] + (token_windows(body.split(), ntok, limit) or [body])
    raise ValueError(variant)


def read_titles(ds):
    """{doc id: title} from the set's corpus.jsonl ('' when absent)."""
    return {str(d["_id"]): (d.get("title") or "").strip()
            for d in read_jsonl(os.path.join(ds.path, "corpus.jsonl"))}


def variant_sets(cur, sd, ds, variants, args, cache):
    """{variant: (SetData, cost dict)}.  cache: {text: unit vector}, shared
    by the variants (chunks-mean and chunks-max embed the same windows);
    seeded with the bodies' embeddings of the table (= first)."""
    for (_, body), e in zip(ds.docs, sd.E):
        cache.setdefault(_embed_text(body, args), e)
    titles = read_titles(ds)
    bodies = [b for _, b in ds.docs]
    ntok = word_tokens(cur, bodies + [titles.get(d, "") for d, _ in ds.docs]) \
        if any(v != "first" for v in variants) else {}
    out = {}
    for v in variants:
        units, starts = [], []
        for d, b in ds.docs:
            starts.append(len(units))
            units.extend(doc_units(v, b, titles.get(d, ""), ntok, args.chunk_tokens))
        texts = [_embed_text(u, args) for u in units]
        todo = sorted({t for t in texts if t not in cache})
        t0 = time.perf_counter()
        if todo:
            log("  %s: embedding %d new texts (%d units)" % (v, len(todo), len(texts)))
            for t, (_, e) in zip(todo, embed_texts(cur, todo, args.batch, None, v + " units")):
                cache[t] = e
        secs = time.perf_counter() - t0
        cur.execute("SELECT cardinality(retrieval.model_tokens(t)) FROM unnest(%s::text[]) "
                    "WITH ORDINALITY u(t, i) ORDER BY i", (texts,))
        ntoks = np.array([r[0] for r in cur.fetchall()])
        U = np.vstack([cache[t] for t in texts])
        starts = np.array(starts)
        mode = DOC_EMBEDDINGS[v][1]
        if mode.startswith("mean"):
            M = np.add.reduceat(U, starts, axis=0)
            M /= np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
            vs = SetData(sd.ids, M)
        elif mode.startswith("cos = the best"):
            vs = SetData(sd.ids, U, starts)
        else:
            vs = SetData(sd.ids, U)
        vs.q = {q: {k: x for k, x in r.items() if k != "cos"} for q, r in sd.q.items()}
        out[v] = (vs, {"forward_passes": len(texts), "docs": len(ds.docs),
                       "tokens_read": int(np.minimum(ntoks, 128).sum()),
                       "units_over_128_tokens": int((ntoks > 128).sum()),
                       "mean_units_per_doc": len(texts) / len(ds.docs),
                       "embed_s_new_texts": secs, "new_texts": len(todo)})
    base = out.get("first", (None, {"forward_passes": len(ds.docs),
                                    "tokens_read": None}))[1]
    for v, (_, c) in out.items():
        c["passes_vs_first"] = c["forward_passes"] / len(ds.docs)
        if base.get("tokens_read"):
            c["tokens_vs_first"] = c["tokens_read"] / base["tokens_read"]
    return out


# ----------------------------------------------------------------------------
# the subcommand
# ----------------------------------------------------------------------------
def register(subparsers):
    p = subparsers.add_parser("hybrid-eval", help="hybrid ranking: fusion weight sweep (numpy, "
                              "exact) or the hybrid index's operators (<@>, <~>, <=>)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("sweep", "index"), default="sweep")
    p.add_argument("--sets", default=",".join(DEFAULT_SETS),
                   help="comma-separated NAME or NAME:SPLIT (default: %(default)s)")
    p.add_argument("--select-on", default="scifact:train",
                   help="the set whose nDCG@10 chooses the default weight (sweep; default "
                        "%(default)s); 'none' to use --weight")
    p.add_argument("--weight", type=float,
                   help="sweep: report at this weight instead of the selected one; index: "
                        "SET retrieval.fusion_weight to it")
    p.add_argument("--index-options", metavar="OPTS",
                   help="extra index options appended to WITH (...), e.g. \"fusion_weight = 0.3\"")
    p.add_argument("--step", type=float, default=0.05, help="coarse weight grid (0.05)")
    p.add_argument("--fine-step", type=float, default=0.01,
                   help="fine grid within one coarse step of the best (0.01; 0 = none)")
    p.add_argument("--plateau", type=float, default=0.005,
                   help="nDCG@10 tolerance defining the plateau around the best weight (0.005)")
    p.add_argument("--batch", type=int, default=64, help="texts per retrieval.embed(text[]) call")
    p.add_argument("--time-limit", type=float, default=900,
                   help="seconds per set for embedding (skipped beyond; 0 = no limit)")
    p.add_argument("--max-queries", type=int, help="first N judged queries per set (smoke)")
    p.add_argument("--distance-checks", type=int, default=20,
                   help="index mode: queries whose top-10 <=> distances are compared with "
                        "1 - S (each row is embedded again; default 20)")
    p.add_argument("--embed-lowercase", action="store_true",
                   help="embed the texts with ASCII letters lower-cased (the default model is "
                        "case-sensitive: upper-case text splits into many short pieces); in "
                        "index mode the index is built WITH (embed_lowercase = on), else off")
    p.add_argument("--doc-embedding", default="first", metavar="LIST",
                   help="sweep only: comma-separated document embeddings to compare, each "
                        "swept and selected on its own (the first listed fills the usual "
                        "tables): %s (default %%(default)s)" % ", ".join(DOC_EMBEDDINGS))
    p.add_argument("--chunk-tokens", type=int, default=128,
                   help="model tokens per window of the chunks/sents variants (128 = the "
                        "model's input; default %(default)s)")
    add_bm25_index_args(p, tie_break=False)
    add_cluster_args(p)
    p.set_defaults(func=cmd_hybrid)


def _group(specs, out):
    """[(name, [(spec, Judged)])] in first-seen order; missing data skipped."""
    groups = {}
    for spec in specs:
        name, _, split = spec.partition(":")
        try:
            ds = load_judged(name, split or None)
        except Skip as e:
            log("SKIP %s: %s" % (spec, e))
            out["skipped"].append("%s: %s" % (spec, e))
            continue
        groups.setdefault(name, []).append((spec, ds))
    return list(groups.items())


def cmd_hybrid(args, results):
    specs = [s.strip() for s in args.sets.split(",") if s.strip()]
    out = {"mode": args.mode, "sets": [], "failures": [], "skipped": [], "rrf_k": RRF_K,
           "select_on": args.select_on, "plateau_tolerance": args.plateau}
    results["hybrid_eval"] = out
    groups = _group(specs, out)
    if not groups:
        raise Skip("no data set found: " + "; ".join(out["skipped"]))
    if args.mode == "sweep" and args.select_on != "none" and args.select_on not in specs:
        out["failures"].append("--select-on %s is not among --sets" % args.select_on)
        return
    try:
        parse_doc_embeddings(args.doc_embedding)
    except ValueError as e:
        out["failures"].append(str(e))
        return
    if args.doc_embedding != "first" and args.mode == "index":
        out["failures"].append("--doc-embedding is a sweep option (the index embeds the text "
                               "as stored)")
        return
    out["embed_lowercase"] = args.embed_lowercase
    if args.select_on == "none" and args.weight is None and args.mode == "sweep":
        out["failures"].append("--select-on none needs --weight")
        return
    with make_cluster(args, EVAL_GUCS) as cl:
        conn = open_database(cl, "hybrideval")
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        try:
            probe_bm25(cur)
            if args.mode == "index":
                probe_hybrid(cur)
        except EngineUnavailable as e:
            out["failures"].append(str(e))
            log("ERROR: %s" % e)
            return
        cur.execute("SET enable_seqscan = off")
        if args.mode == "sweep":
            run_sweep(conn, cur, groups, args, out)
        else:
            run_index(conn, cur, groups, args, out)


def _set_record(spec, ds, qids, info):
    return {"set": spec, "split": ds.split, "docs": len(ds.docs), "queries": len(qids),
            "build": {k: v for k, v in info.items() if k != "check"},
            "check": info["check"]}


def run_sweep(conn, cur, groups, args, out):
    variants = parse_doc_embeddings(args.doc_embedding)
    out["doc_embedding"] = variants
    out["chunk_tokens"] = args.chunk_tokens
    prepared = []
    for name, specs in groups:
        p = prepare(conn, cur, name, specs, args, out)
        if p:
            sd, per_spec, info = p
            if variants != ["first"]:
                vsets = variant_sets(cur, sd, specs[0][1], variants, args, {})
                info["doc_embedding_cost"] = {v: c for v, (_, c) in vsets.items()}
            else:
                vsets = {"first": (sd, None)}
            prepared.append((vsets, per_spec, info))
        c = p[2]["check"] if p else {}
        if p and (c["max_rel_diff_vs_oracle"] > 1e-9 or c["rows_not_in_both"]
                  or c["N_differs_from_index_stats"] or c["scores_at_or_above_bm25max"]):
            out["failures"].append("%s: the index's BM25 does not match the N, df and idf "
                                   "bm25max is computed from: %s" % (name, c))
        cur.execute("DROP TABLE IF EXISTS %s" % _table_name(name))
    if variants == ["first"]:
        evaluate_sweep([(v["first"][0], ps, i) for v, ps, i in prepared], args, out)
        return
    out["doc_embeddings"] = {}
    for k, v in enumerate(variants):
        # the first variant listed fills the usual record; every one has its own
        ov = out if k == 0 else {"sets": [], "failures": out["failures"],
                                 "select_on": args.select_on}
        log("-- document embedding %s" % v)
        evaluate_sweep([(vs[v][0], ps, i) for vs, ps, i in prepared], args, ov,
                       norms=("bm25max", "top1") if k == 0 else ("bm25max",))
        out["doc_embeddings"][v] = {
            "sets": [{key: r[key] for key in ("set", "bm25", "dense", "fused", "rrf",
                                              "best_w_here", "sweep") if key in r}
                     for r in ov["sets"]],
            "selection": ov.get("selection"), "weight": ov.get("weight"),
            "cost": {i["table"]: i["doc_embedding_cost"][v] for _, _, i in prepared}}


def evaluate_sweep(prepared, args, out, norms=("bm25max", "top1")):
    """prepared: [(SetData, per_spec, info)]; fills out's sets, selection
    and weight (the default path, and each --doc-embedding variant)."""
    coarse = weight_grid(args.step)
    evals = {}
    for sd, per_spec, info in prepared:
        for spec, (ds, qids, qrels) in per_spec.items():
            t0 = time.perf_counter()
            rec = _set_record(spec, ds, qids, info)
            rec["sweep"] = sweep_set(sd, qids, qrels, coarse, norms)
            rec["bm25"] = metrics_of(sd.run_of(qids, sd.bm25_ranking), qrels)
            rec["dense"] = metrics_of(sd.run_of(qids, sd.dense_ranking), qrels)
            rec["rrf"] = metrics_of(sd.run_of(qids, sd.rrf_ranking), qrels)
            rec["sweep_s"] = time.perf_counter() - t0
            evals[spec] = (sd, qids, qrels, rec)
            out["sets"].append(rec)
            log("%s: BM25 %.4f  dense %.4f  RRF %.4f  best fused %.4f (nDCG@10)"
                % (spec, rec["bm25"]["nDCG@10"], rec["dense"]["nDCG@10"], rec["rrf"]["nDCG@10"],
                   max(m["nDCG@10"] for m in rec["sweep"]["bm25max"].values())))
    # selection on the train split: coarse grid, then the fine grid around the best
    sel = evals.get(args.select_on)
    if sel:
        sd, qids, qrels, rec = sel
        for norm in norms:
            curve = rec["sweep"][norm]
            best = max(curve, key=lambda w: curve[w]["nDCG@10"])
            if args.fine_step:
                lo, hi = max(0.0, best - args.step), min(1.0, best + args.step)
                n = int(round((hi - lo) / args.fine_step))
                for i in range(n + 1):
                    w = round(lo + i * args.fine_step, 4)
                    if w not in curve:
                        curve[w] = metrics_of(sd.run_of(qids, lambda q: sd.rankings(q, w, norm)),
                                              qrels)
            chosen, bw, plateau = select_weight({w: m["nDCG@10"] for w, m in curve.items()},
                                                args.plateau)
            out.setdefault("selection", {})[norm] = {"chosen": chosen, "best": bw,
                                                     "best_nDCG@10": curve[bw]["nDCG@10"],
                                                     "plateau": plateau}
            log("selection (%s) on %s: best w %.2f (nDCG@10 %.4f), plateau %.2f-%.2f, chosen %.2f"
                % (norm, args.select_on, bw, curve[bw]["nDCG@10"], plateau[0], plateau[1],
                   chosen))
    if args.weight is None and "selection" not in out:
        out["failures"].append("no weight: the selection set %s was not evaluated"
                               % args.select_on)
        return
    w_report = args.weight if args.weight is not None else out["selection"]["bm25max"]["chosen"]
    w_top1 = (args.weight if args.weight is not None or "top1" not in out.get("selection", {})
              else out["selection"]["top1"]["chosen"])
    out["weight"] = w_report
    out["weight_top1"] = w_top1
    for spec, (sd, qids, qrels, rec) in evals.items():
        rec["fused"] = metrics_of(sd.run_of(qids, lambda q: sd.rankings(q, w_report)), qrels)
        if "top1" in norms:
            rec["fused_top1"] = metrics_of(
                sd.run_of(qids, lambda q: sd.rankings(q, w_top1, "top1")), qrels)
        curve = rec["sweep"]["bm25max"]
        rec["best_w_here"] = max(curve, key=lambda w: curve[w]["nDCG@10"])
        rec["sweep"] = {norm: {"%.2f" % w: m for w, m in sorted(c.items())}
                        for norm, c in rec["sweep"].items()}


# ----------------------------------------------------------------------------
# index mode: the hybrid index's operators
# ----------------------------------------------------------------------------
def probe_hybrid(cur):
    """Raise EngineUnavailable unless text <~> text and text <=> text exist."""
    missing = []
    for op in ("<~>", "<=>"):
        if not scalar(cur, "SELECT count(*) FROM pg_operator WHERE oprname = %s "
                           "AND oprleft = 'text'::regtype AND oprright = 'text'::regtype", (op,)):
            missing.append("the text %s text operator" % op)
    if missing:
        raise EngineUnavailable(
            "the installed retrieval extension (version %s) has no hybrid text index yet: %s "
            "missing (issue 6).  Install a build with the hybrid index, or run "
            "`hybrid-eval --mode sweep`, which needs only BM25 and retrieval.embed."
            % (scalar(cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'"),
               " and ".join(missing)))


def declared_weight(cur, index, args):
    """(weight or None, where from): --weight (SET retrieval.fusion_weight),
    else the GUC when it shows a weight >= 0, else the index option."""
    if args.weight is not None:
        try:
            cur.execute("SET retrieval.fusion_weight = %s", (args.weight,))
        except Exception as e:   # noqa: BLE001  (autocommit: the session stays usable)
            raise EngineUnavailable("SET retrieval.fusion_weight failed: %s"
                                    % str(e).strip().splitlines()[0])
    v = scalar(cur, "SELECT current_setting('retrieval.fusion_weight', true)")
    try:
        if v not in (None, "") and float(v) >= 0:
            return float(v), "retrieval.fusion_weight = %s" % v
    except ValueError:
        pass
    opts = scalar(cur, "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (index,)) or []
    for o in opts:
        k, _, val = o.partition("=")
        if k == "fusion_weight":
            return float(val), "index option fusion_weight = %s" % val
    return None, "not declared (retrieval.fusion_weight %r, no index option)" % v


def inferred_weight(cur, sd, table, queries):
    """The weight <=> applies, solved from its distances: d = 1 - (w a + (1 - w) c)
    with a = bm25 / bm25max and c = cos gives w = (1 - d - c) / (a - c); the
    median over the rows of `queries` [(qid, text)] where |a - c| > 0.05."""
    ws = []
    for qid, text in queries:
        cur.execute("SELECT id, body <=> %%(q)s::text FROM %s ORDER BY body <=> %%(q)s::text "
                    "LIMIT 20" % table, {"q": text})
        q = sd.q[qid]
        for i, d in cur.fetchall():
            r = sd.row[i]
            a = q["bm25"][r] / q["bm25max"] if q["bm25max"] > 0 else 0.0
            c = sd.cos(qid)[r]
            if abs(a - c) > 0.05:
                ws.append((1.0 - d - c) / (a - c))
    return (float(np.median(ws)), float(np.ptp(ws))) if ws else (None, None)


def overlap(a, b, k=10):
    a, b = list(a[:k]), list(b[:k])
    return len(set(a) & set(b)) / len(b) if b else 1.0


def run_index(conn, cur, groups, args, out):
    for name, specs in groups:
        p = prepare(conn, cur, name, specs, args, out)
        if not p:
            continue
        sd, per_spec, info = p
        table, index = info["table"], info["index"]["index"]
        try:
            w, source = declared_weight(cur, index, args)
        except EngineUnavailable as e:
            out["failures"].append("%s: %s" % (name, e))
            log("ERROR: %s" % e)
            continue
        some = [(q, ds.queries[q]) for _, (ds, qids, _) in per_spec.items() for q in qids][:5]
        w_inf, spread = inferred_weight(cur, sd, table, some)
        out["weight_inferred"], out["weight_inferred_spread"] = w_inf, spread
        log("%s: fusion weight declared %s (%s), inferred from <=> distances %s (spread %s)"
            % (name, w, source, w_inf, spread))
        if w is None:
            w, source = w_inf, "inferred from <=> distances"
        elif w_inf is not None and abs(w - w_inf) > 1e-4:
            out["failures"].append("%s: <=> applies fusion weight %.4f, declared %.4f (%s)"
                                   % (name, w_inf, w, source))
        if w is None:
            out["failures"].append("%s: fusion weight unknown (%s); pass --weight"
                                   % (name, source))
            continue
        out["weight"], out["weight_source"] = w, source
        for spec, (ds, qids, qrels) in per_spec.items():
            rec = _set_record(spec, ds, qids, info)
            rec["operators"] = {}
            exact = {"<@>": sd.bm25_ranking, "<~>": sd.dense_ranking,
                     "<=>": lambda q: sd.rankings(q, w)}
            for op in ("<@>", "<~>", "<=>"):
                # ids only: a distance in the select list is computed per row, and
                # for <~> and <=> that embeds the row's text (COST 10000)
                sql = ("SELECT id FROM %s ORDER BY body %s %%(q)s::text LIMIT %d"
                       % (table, op, DEPTH))
                cur.execute("EXPLAIN " + sql, {"q": ds.queries[qids[0]]})
                plan = [r[0] for r in cur.fetchall()]
                run, identical, overlaps, worst = {}, 0, [], 0.0
                t0 = time.perf_counter()
                for n, q in enumerate(qids):
                    cur.execute(sql, {"q": ds.queries[q]})
                    run[q] = [r[0] for r in cur.fetchall()]
                    ref = [sd.ids[i] for i in exact[op](q)]
                    identical += run[q][:10] == ref[:10]
                    overlaps.append(overlap(run[q], ref))
                    if op == "<=>" and n < args.distance_checks:
                        # distance = 1 - S of the exact formula, on the top-10 rows
                        cur.execute("SELECT id, body <=> %%(q)s::text FROM %s "
                                    "WHERE id = ANY(%%(ids)s)" % table,
                                    {"q": ds.queries[q], "ids": run[q][:10]})
                        s = fused_scores(sd.q[q]["bm25"], sd.cos(q), w, sd.q[q]["bm25max"])
                        worst = max([worst] + [abs(d - (1.0 - s[sd.row[i]]))
                                               for i, d in cur.fetchall()])
                rec["operators"][op] = {
                    "metrics": metrics_of(run, qrels), "identical_top10": identical,
                    "mean_overlap@10": float(np.mean(overlaps)) if overlaps else float("nan"),
                    "seconds": time.perf_counter() - t0, "plan": plan,
                    "plan_uses_index": any(index in line for line in plan)}
                if op == "<=>":
                    rec["operators"][op]["max_abs_distance_diff"] = worst
                if not rec["operators"][op]["plan_uses_index"]:
                    out["failures"].append("%s: the plan of %s does not use %s:\n    %s"
                                           % (spec, op, index, "\n    ".join(
                                               line[:160] for line in plan)))
                log("%s %s: nDCG@10 %.4f  top-10 identical to exact %d/%d, mean overlap %.3f"
                    % (spec, op, rec["operators"][op]["metrics"]["nDCG@10"], identical,
                       len(qids), rec["operators"][op]["mean_overlap@10"]))
            rec["exact_fused"] = metrics_of(sd.run_of(qids, exact["<=>"]), qrels)
            out["sets"].append(rec)
        cur.execute("DROP TABLE IF EXISTS %s" % table)


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def _f(m, key="nDCG@10"):
    return "%.4f" % m[key] if m else "-"


def render_doc_embeddings(out, markdown):
    """One row per (--doc-embedding variant, set): dense, selected weight,
    fused at it, and the embedding cost relative to first."""
    rows = []
    for v, r in out["doc_embeddings"].items():
        sel = (r.get("selection") or {}).get("bm25max")
        cost = next(iter(r["cost"].values()), {})
        for s in r["sets"]:
            here = s["sweep"]["bm25max"]["%.2f" % s["best_w_here"]]["nDCG@10"]
            rows.append([v, s["set"], "%.2f" % cost.get("passes_vs_first", float("nan")),
                         "%.2f" % cost.get("tokens_vs_first", float("nan")),
                         _f(s["dense"]), _f(s["dense"], "Recall@100"),
                         "%.2f (%.4f), %.2f-%.2f" % (sel["best"], sel["best_nDCG@10"],
                                                    sel["plateau"][0], sel["plateau"][1])
                         if sel else "-",
                         "%.2f" % r["weight"] if r.get("weight") is not None else "-",
                         _f(s.get("fused")), "%+.4f" % (s["fused"]["nDCG@10"] -
                                                        s["bm25"]["nDCG@10"])
                         if s.get("fused") else "-",
                         _f(s.get("fused"), "Recall@100"),
                         "%.2f (%.4f)" % (s["best_w_here"], here)])
    return ("Document embeddings (--doc-embedding; windows of at most %s tokens); each variant's "
            "w selected on %s\n\n" % (out.get("chunk_tokens"), out["select_on"])
            + report.table(["doc embedding", "set", "passes / first", "tokens / first",
                            "dense nDCG@10", "dense R@100", "selection: best w (nDCG@10), "
                            "plateau", "chosen w", "fused nDCG@10", "fused - BM25",
                            "fused R@100", "best w here"], rows, markdown))


def render(results, markdown=False):
    out = results.get("hybrid_eval")
    if not out:
        return ""
    parts = []
    if out["mode"] == "sweep" and out["sets"]:
        sel = out.get("selection", {})
        parts.append(
            "Hybrid fusion weight sweep (exact, numpy); extension %s; S = w * bm25 / bm25max(q) "
            "+ (1 - w) * cos; ties by load order; RRF k = %d%s"
            % (out.get("extension_version"), out["rrf_k"],
               "; EMBEDDINGS OF THE LOWER-CASED TEXTS (diagnostic)"
               if out.get("embed_lowercase") else ""))
        if sel:
            s = sel["bm25max"]
            parts.append("selected on %s by nDCG@10: best w %.2f (%.4f), plateau (within %.3f) "
                         "%.2f-%.2f, chosen w = %.2f.  With top-1 normalisation instead: best "
                         "w %.2f (%.4f), plateau %.2f-%.2f, chosen %.2f"
                         % (out["select_on"], s["best"], s["best_nDCG@10"],
                            out["plateau_tolerance"], s["plateau"][0], s["plateau"][1],
                            s["chosen"], sel["top1"]["best"], sel["top1"]["best_nDCG@10"],
                            sel["top1"]["plateau"][0], sel["top1"]["plateau"][1],
                            sel["top1"]["chosen"]))
        headers = ["set", "docs", "queries", "BM25 nDCG@10", "dense", "fused w=%.2f" % out["weight"],
                   "RRF", "fused top-1 norm w=%.2f" % out["weight_top1"], "best w here",
                   "BM25 R@100", "dense R@100", "fused R@100", "RRF R@100"]
        rows = []
        for s in out["sets"]:
            rows.append([s["set"] + ("" if ":" in s["set"] else " (%s)" % s["split"]),
                         s["docs"], s["queries"], _f(s["bm25"]), _f(s["dense"]), _f(s["fused"]),
                         _f(s["rrf"]), _f(s["fused_top1"]),
                         "%.2f (%.4f)" % (s["best_w_here"],
                                          s["sweep"]["bm25max"]["%.2f" % s["best_w_here"]]
                                          ["nDCG@10"]),
                         _f(s["bm25"], "Recall@100"), _f(s["dense"], "Recall@100"),
                         _f(s["fused"], "Recall@100"), _f(s["rrf"], "Recall@100")])
        parts.append(report.table(headers, rows, markdown))
        if out.get("doc_embeddings"):
            parts.append(render_doc_embeddings(out, markdown))
        for s in out["sets"]:
            if not s["set"].startswith("scifact"):
                continue
            ws = sorted(s["sweep"]["bm25max"], key=float)
            rows = [[w, _f(s["sweep"]["bm25max"][w]), _f(s["sweep"]["bm25max"][w], "Recall@100"),
                     _f(s["sweep"]["top1"].get(w)), _f(s["sweep"]["top1"].get(w), "Recall@100")]
                    for w in ws]
            parts.append("sweep on %s:" % s["set"])
            parts.append(report.table(["w", "nDCG@10 (bm25max)", "R@100 (bm25max)",
                                       "nDCG@10 (top-1)", "R@100 (top-1)"], rows, markdown))
    if out["mode"] == "index" and out["sets"]:
        parts.append("Hybrid index operators; extension %s; fusion weight %.2f (%s)"
                     % (out.get("extension_version"), out["weight"], out["weight_source"]))
        rows = []
        for s in out["sets"]:
            for op, r in s["operators"].items():
                rows.append([s["set"], op, _f(r["metrics"]), _f(r["metrics"], "Recall@100"),
                             "%d/%d" % (r["identical_top10"], s["queries"]),
                             "%.3f" % r["mean_overlap@10"],
                             "%.2e" % r["max_abs_distance_diff"] if op == "<=>" else "-",
                             "yes" if r["plan_uses_index"] else "NO"])
        parts.append(report.table(["set", "operator", "nDCG@10", "Recall@100",
                                   "top-10 = exact", "overlap@10", "max dist diff",
                                   "index scan"], rows, markdown))
    for s in out["sets"]:
        c = s["check"]
        parts.append("%s: N %d, avgdl %.3f, k1 %.2f; index BM25 vs oracle over %d scores: max "
                     "rel diff %.1e, %d rows in only one, %d scores >= bm25max, %d queries with "
                     "bm25max 0; top-1 score / bm25max mean %s; embed %.0f s docs + %.0f s queries"
                     % (s["set"], s["build"]["N"], s["build"]["avgdl"], s["build"]["k1"],
                        c["scores"], c["max_rel_diff_vs_oracle"], c["rows_not_in_both"],
                        c["scores_at_or_above_bm25max"], c["queries_bm25max_zero"],
                        "%.3f (max %.3f)" % tuple(c["top1_over_bm25max"])
                        if c.get("top1_over_bm25max") else "-",
                        s["build"]["embed_docs_s"], s["build"]["embed_queries_s"]))
    for sk in out["skipped"]:
        parts.append("SKIPPED " + sk)
    for f in out["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)
