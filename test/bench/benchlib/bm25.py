"""The `bm25-eval` benchmark, and the pieces the BM25 benchmarks share.

bm25-eval  effectiveness of BM25 ranking on the judged sets (SciFact test,
           every classic collection, the two Chinese sets): load a set into
           a table (id text, body text), build the index, run every judged
           query with ORDER BY ... LIMIT 100, and report nDCG@10, Recall@100,
           MRR@10 per set (benchlib.ir_metrics); on SciFact also the
           correctness check: each query's top-10 and scores against an
           exact BM25 computed in Python (benchlib.bm25_reference) over the
           same tokens, obtained from the database with retrieval.tokenize.

Engines (--engine):
  retrieval  CREATE INDEX ... USING retrieval (body) WITH (language = ...),
             ORDER BY body <@> 'query' LIMIT k; score = -(body <@> query).
  pg-fts     PostgreSQL's own full-text search, a permanent comparison and
             the stand-in that exercises the harness before BM25 exists: a
             stored tsvector column to_tsvector(<config>, body) with a GIN
             index, OR tsquery of the query's lexemes, ORDER BY ts_rank DESC.
             Config 'english' for English sets, 'simple' for Chinese (no
             Chinese segmentation in PostgreSQL).  Its "exact BM25" checks
             use the config's lexemes as terms and only report agreement.
  oracle     no index: the Python exact BM25 (bm25_reference) ranks every
             query over the terms of retrieval.tokenize, or, while that does
             not exist, over PostgreSQL's lexemes (bench_pg_terms, english /
             simple): the effectiveness exact BM25 reaches with that analyzer,
             to tell analyzer effects from index effects.

This module owns: the engines' SQL, the capability probe that fails clearly
when the installed extension has no BM25 yet, text COPY, reusing a
persistent cluster (--cluster-dir), and fetching terms for the oracle.
Cluster lifecycle, timing and tables come from cluster, timing, report.
"""
import io
import math
import os
import re
import time

from . import report
from .bm25_reference import MemoryIndex, compare_top, top_k
from .cluster import Cluster
from .ir_datasets import default_split, judged_sets, load_judged
from .ir_metrics import evaluate
from .paths import CLUSTER_SH, Skip, log
from .timing import BackendClock, MachineBusy, summarize

ENGINES = ("retrieval", "pg-fts", "oracle")

# Issue 4's effectiveness floors, checked for the retrieval engine only.
TARGETS = {"scifact": 0.67, "cmrc2018": 0.95, "debian-pkgdesc": 0.80}

DEFAULT_SETS = ["scifact", "adi", "cacm", "cisi", "cranfield", "lisa", "med", "npl", "time",
                "cmrc2018", "debian-pkgdesc"]

PG_CONFIGS = {"english": "english", "chinese": "simple"}

# A stand-in analyzer for the oracle when retrieval.tokenize does not exist:
# every lexeme of to_tsvector, repeated once per position (tf), in position
# order.  (tsvector keeps at most 256 positions per lexeme.)
PG_TERMS_SQL = """
CREATE OR REPLACE FUNCTION bench_pg_terms(cfg regconfig, t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(u.lexeme ORDER BY p), '{}')
  FROM unnest(to_tsvector(cfg, t)) u, unnest(u.positions) p
$$"""


class EngineUnavailable(Exception):
    """The selected engine cannot run in this installation (e.g. no BM25)."""


# ----------------------------------------------------------------------------
# clusters and databases
# ----------------------------------------------------------------------------
class PersistentCluster(Cluster):
    """A cluster in a fixed directory that outlives the run (--cluster-dir):
    started with test/lib/cluster.sh the first time, reused while its server
    runs (tables loaded earlier, e.g. en-985k, are then reused too), never
    stopped by the harness.  Stop it with: test/lib/cluster.sh stop DIR.
    GUCs apply only when the cluster is created."""

    def __init__(self, directory, gucs=None):
        super().__init__(gucs=gucs, keep=True)
        self.fixed = os.path.realpath(directory)

    def start(self):
        import subprocess
        self.dir = self.fixed
        if os.path.exists(os.path.join(self.dir, "data", "postmaster.pid")):
            log("reusing the running cluster in %s (its settings are the ones it was "
                "created with)" % self.dir)
            return self
        if os.path.exists(os.path.join(self.dir, "data")):
            raise RuntimeError("%s holds a cluster that is not running; remove it with "
                               "%s stop %s" % (self.dir, CLUSTER_SH, self.dir))
        log("starting a persistent cluster in %s" % self.dir)
        subprocess.run([CLUSTER_SH, "start", self.dir] +
                       ["%s=%s" % kv for kv in self.gucs.items()], check=True)
        return self

    def stop(self):
        if self.dir:
            log("leaving the cluster in %s running (stop it with: %s stop %s)"
                % (self.dir, CLUSTER_SH, self.dir))
        self.dir = None


def make_cluster(args, gucs):
    if getattr(args, "cluster_dir", None):
        return PersistentCluster(args.cluster_dir, gucs)
    return Cluster(gucs=gucs, keep=getattr(args, "keep_cluster", False))


def open_database(cl, name):
    """Connect to `name`, creating it (with the extension) if needed; in an
    existing database the extension is updated to the installed default."""
    admin = cl.connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            exists = cur.fetchone() is not None
    finally:
        admin.close()
    if not exists:
        return cl.create_database(name)
    conn = cl.connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS retrieval")
        cur.execute("ALTER EXTENSION retrieval UPDATE")
    return conn


def add_cluster_args(p):
    p.add_argument("--keep-cluster", action="store_true",
                   help="leave the throwaway cluster running (debugging)")
    p.add_argument("--cluster-dir", metavar="DIR",
                   help="use (create, or reuse if running) a persistent cluster in DIR "
                        "instead of a throwaway one; loaded tables are reused between runs")


def add_bm25_index_args(p, tie_break=True):
    p.add_argument("--tokenizer", help="index option tokenizer (default: the index's, 'icu')")
    p.add_argument("--k1", type=float, help="index option k1 (default: the index's, 1.2)")
    p.add_argument("--b", type=float, help="index option b (default: the index's, 0.75)")
    if not tie_break:       # bm25-speed: ties by n = load order = ctid order
        return
    p.add_argument("--tie-break", choices=("ctid", "id"), default="ctid",
                   help="the oracle's order among equal scores: ascending ctid (default; "
                        "= load order in a fresh table) or ascending id")


# ----------------------------------------------------------------------------
# capability probe and engine SQL
# ----------------------------------------------------------------------------
def scalar(cur, sql, params=None):
    cur.execute(sql, params)
    return cur.fetchone()[0]


def probe_bm25(cur):
    """Raise EngineUnavailable unless the installed extension has BM25:
    `text <@> text` and retrieval.tokenize.  Returns the extension version."""
    version = scalar(cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
    has_op = scalar(cur, "SELECT count(*) FROM pg_operator WHERE oprname = '<@>' "
                         "AND oprleft = 'text'::regtype AND oprright = 'text'::regtype")
    has_tok = scalar(cur, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
                          "ON n.oid = p.pronamespace "
                          "WHERE n.nspname = 'retrieval' AND p.proname = 'tokenize'")
    missing = [x for x, ok in (("the text <@> text operator", has_op),
                               ("retrieval.tokenize()", has_tok)) if not ok]
    if missing:
        raise EngineUnavailable(
            "the installed retrieval extension (version %s) has no BM25 yet: %s missing. "
            "Build and install a version with BM25 (make && sudo make install), or leave "
            "the retrieval engine out (bm25-eval --engine pg-fts; bm25-speed --engines "
            "gin,rum; bm25-write --engines gin) to exercise the harness with PostgreSQL's "
            "full-text search." % (version, " and ".join(missing)))
    return version


def bm25_with_clause(language, args):
    # BM25 only: a text index embeds every row unless model = 'none' (the
    # hybrid benchmarks ask for the model themselves)
    opts = ["model = 'none'", "language = '%s'" % language]
    if getattr(args, "tokenizer", None):
        opts.append("tokenizer = '%s'" % args.tokenizer)
    for k in ("k1", "b"):
        if getattr(args, k, None) is not None:
            opts.append("%s = %r" % (k, getattr(args, k)))
    return "WITH (%s)" % ", ".join(opts)


def oracle_params(args):
    """k1, b for the oracle: the index options when given, else the defaults."""
    return (args.k1 if getattr(args, "k1", None) is not None else 1.2,
            args.b if getattr(args, "b", None) is not None else 0.75)


def terms_sql(engine, language, args, arg="%s"):
    """SQL expression giving the terms of the text `arg` as the engine sees
    them: retrieval.tokenize for the retrieval engine, the stand-in
    bench_pg_terms for pg-fts (create it with PG_TERMS_SQL)."""
    if engine == "retrieval":
        tok = getattr(args, "tokenizer", None)
        return ("retrieval.tokenize(%s, '%s'%s)"
                % (arg, language, ", '%s'" % tok if tok else ""))
    return "bench_pg_terms('%s'::regconfig, %s)" % (PG_CONFIGS[language], arg)


def or_tsquery_sql(config, arg="%s"):
    """Text of an OR tsquery of the lexemes of `arg` (NULL if none): the
    plainto_tsquery lexemes joined by | instead of &."""
    return ("nullif(replace(plainto_tsquery('%s'::regconfig, %s)::text, ' & ', ' | '), '')"
            % (config, arg))


def index_stats(cur, index):
    """retrieval.index_stats(index) as a dict, or None if it fails."""
    try:
        cur.execute("SELECT * FROM retrieval.index_stats(%s::regclass)", (index,))
        rows = cur.fetchall()
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, [str(v) if not isinstance(v, (int, float)) else v for v in r]))
                for r in rows]
    except Exception as e:   # noqa: BLE001  (a missing function is not fatal here)
        log("retrieval.index_stats(%s) failed: %s" % (index, str(e).splitlines()[0]))
        return None


# ----------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------
def _copy_escape(v):
    if v is None:
        return "\\N"
    return (str(v).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def copy_rows(conn, table, columns, rows, batch=20000):
    """COPY rows (tuples of str/int/None) into table(columns), text format,
    in batches.  Returns the number of rows."""
    n = 0
    buf = []
    with conn.cursor() as cur:
        def flush():
            cur.copy_expert("COPY %s (%s) FROM STDIN" % (table, ", ".join(columns)),
                            io.StringIO("".join(buf)))
            buf.clear()
        for r in rows:
            buf.append("\t".join(_copy_escape(v) for v in r) + "\n")
            n += 1
            if len(buf) >= batch:
                flush()
        if buf:
            flush()
    return n


def timed_ddl(conn, cur, sql):
    """Run one statement; wall s, backend CPU s, busy CPUs."""
    clock = BackendClock(conn)
    busy = MachineBusy()
    _, wall, cpu = clock.run(cur, sql)
    return {"sql": sql, "wall_s": wall / 1000, "cpu_s": (cpu or 0) / 1000,
            "busy_cores": busy.cores()}


# ----------------------------------------------------------------------------
# bm25-eval
# ----------------------------------------------------------------------------
def register(subparsers):
    p = subparsers.add_parser("bm25-eval", help="BM25 effectiveness (nDCG@10, Recall@100, "
                              "MRR@10) and the exact-BM25 correctness check",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--engine", choices=ENGINES, default="retrieval")
    p.add_argument("--sets", default=",".join(DEFAULT_SETS),
                   help="comma-separated data sets, NAME or NAME:SPLIT (e.g. scifact:train); "
                        "default: %(default)s")
    p.add_argument("--check", default="scifact",
                   help="sets on which to run the exact-BM25 check (comma-separated, "
                        "'none' for none; default scifact)")
    p.add_argument("--depth", type=int, default=100, help="rows fetched per query (100)")
    p.add_argument("--max-queries", type=int, help="only the first N judged queries per set "
                   "(smoke tests; metrics then are not comparable)")
    add_bm25_index_args(p)
    add_cluster_args(p)
    p.set_defaults(func=cmd_eval)


EVAL_GUCS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


def load_eval_sets(spec_text, skipped):
    """The judged sets of a --sets value ("all", or NAME[:SPLIT],...) as
    (spec, data set) pairs; sets that are absent are logged and listed in
    skipped.  Skip when none is found."""
    sets = [s.strip() for s in spec_text.split(",") if s.strip()]
    if sets == ["all"]:
        sets = judged_sets()
    loaded = []
    for spec in sets:
        name, _, split = spec.partition(":")
        try:
            loaded.append((spec, load_judged(name, split or None)))
        except Skip as e:
            log("SKIP %s: %s" % (spec, e))
            skipped.append("%s: %s" % (spec, e))
    if not loaded:
        raise Skip("no data set found: " + "; ".join(skipped))
    return loaded


def cmd_eval(args, results):
    checks = set() if args.check == "none" else {s.strip() for s in args.check.split(",")}
    out = {"engine": args.engine, "depth": args.depth, "sets": [], "failures": [],
           "skipped": [], "tie_break": args.tie_break}
    results["bm25_eval"] = out
    loaded = load_eval_sets(args.sets, out["skipped"])
    with make_cluster(args, EVAL_GUCS) as cl:
        conn = open_database(cl, "bm25eval")
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        if args.engine == "retrieval":
            try:
                probe_bm25(cur)
            except EngineUnavailable as e:
                out["failures"].append(str(e))
                log("ERROR: %s" % e)
                return
            # measure the index: on the small sets the planner could prefer
            # Seq Scan + Sort (the per-row path) to the ordering index scan
            cur.execute("SET enable_seqscan = off")
        else:
            cur.execute(PG_TERMS_SQL)
        if args.engine == "oracle":
            try:
                probe_bm25(cur)
                out["oracle_terms"] = "retrieval"
            except EngineUnavailable:
                out["oracle_terms"] = "pg"
                log("oracle: retrieval.tokenize is unavailable; ranking over PostgreSQL's "
                    "lexemes (bench_pg_terms) instead")
            args.oracle_terms = out["oracle_terms"]
        for spec, ds in loaded:
            log("== %s (%d docs, %d queries, language %s)"
                % (spec, len(ds.docs), len(ds.queries), ds.language))
            try:
                s = eval_set(conn, cur, spec, ds, args, check=spec.split(":")[0] in checks
                             or spec in checks)
            except EngineUnavailable as e:
                out["failures"].append("%s: %s" % (spec, e))
                log("ERROR: %s" % e)
                continue
            out["sets"].append(s)
            tgt = TARGETS.get(ds.name)
            if (args.engine == "retrieval" and tgt and ds.split == default_split(ds.name)
                    and not args.max_queries and s["metrics"]["nDCG@10"] < tgt):
                out["failures"].append("%s nDCG@10 %.4f below the target %.2f"
                                       % (spec, s["metrics"]["nDCG@10"], tgt))
            if args.engine == "retrieval" and not s["plan_uses_index"]:
                out["failures"].append("%s: the query plan does not use %s:\n    %s"
                                       % (spec, s["build"]["index"], "\n    ".join(s["plan"])))
            c = s.get("check")
            if c and args.engine == "retrieval" and c["mismatches"]:
                out["failures"].append("%s: %d of %d queries differ from exact BM25"
                                       % (spec, len(c["mismatches"]), c["queries"]))
            if c and args.engine == "retrieval" and c.get("per_row_mismatches"):
                out["failures"].append("%s: %d scores of the per-row path differ from the "
                                       "index scan's" % (spec, c["per_row_mismatches"]))
            cur.execute("DROP TABLE IF EXISTS %s" % s["table"])


def _table_name(spec):
    return "docs_" + "".join(c if c.isalnum() else "_" for c in spec.lower())


def eval_set(conn, cur, spec, ds, args, check):
    table = _table_name(spec)
    s = {"set": spec, "table": table, "language": ds.language, "split": ds.split,
         "docs": len(ds.docs)}
    ids = {d for d, _ in ds.docs}
    s["qrels_pairs_unknown_doc"] = sum(1 for j in ds.qrels.values() for d in j if d not in ids)
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id text, body text)" % table)
    t0 = time.perf_counter()
    copy_rows(conn, table, ("id", "body"), ds.docs)
    s["copy_s"] = time.perf_counter() - t0
    qids = list(ds.queries)
    if args.max_queries:
        qids = qids[:args.max_queries]
    qrels = {q: ds.qrels[q] for q in qids}
    if args.engine == "oracle":
        return oracle_set(cur, s, ds, qids, qrels, args)
    s["build"] = build_eval_index(conn, cur, table, ds.language, args)
    cur.execute("VACUUM ANALYZE %s" % table)
    sql, param = search_sql(args.engine, table, ds.language, args.depth)
    clock = BackendClock(conn)
    run, scored, walls, cpus = {}, {}, [], []
    for q in qids:
        p = param(cur, ds.queries[q])
        if p is None:           # pg-fts: no lexeme in the query
            rows, w, c = [], 0.0, None
        else:
            rows, w, c = clock.run(cur, sql, {"q": p})
        # retrieval: score = -distance (a NULL distance stays None: a check failure)
        rows = [(r[0], -r[1] if args.engine == "retrieval" and r[1] is not None else r[1])
                for r in rows]
        scored[q] = rows
        run[q] = [r[0] for r in rows]
        walls.append(w)
        cpus.append(c)
    s["queries"] = len(qids)
    s["metrics"] = evaluate(run, qrels)
    s["wall_ms"] = summarize(walls)
    s["cpu_ms"] = summarize(cpus)
    s["short_answers"] = sum(1 for q in qids if len(run[q]) < min(10, len(ds.docs)))
    cur.execute("EXPLAIN " + sql, {"q": param(cur, ds.queries[qids[0]]) or ""})
    s["plan"] = [r[0] for r in cur.fetchall()]
    used = re.compile(r"(using|Index Scan on) %s\b" % re.escape(s["build"]["index"]))
    s["plan_uses_index"] = any(used.search(line) for line in s["plan"])
    log("%s: nDCG@10 %.4f  Recall@100 %.4f  MRR@10 %.4f  (%d queries, median %.2f ms)"
        % (spec, s["metrics"]["nDCG@10"], s["metrics"]["Recall@100"], s["metrics"]["MRR@10"],
           len(qids), s["wall_ms"]["median"] if s["wall_ms"] else float("nan")))
    if check:
        s["check"] = exact_check(conn, cur, table, ds, qids, scored, args)
    return s


def oracle_set(cur, s, ds, qids, qrels, args):
    """The `oracle` engine: metrics of the exact BM25 ranking itself."""
    expr = terms_sql(args.oracle_terms, ds.language, args)
    t0 = time.perf_counter()
    docs = fetch_doc_terms(cur, s["table"], expr)
    k1, b = oracle_params(args)
    # count_empty=False: rows without terms do not count in N (the index's rule).
    oracle = MemoryIndex({i: t for i, (_, t) in docs.items()}, k1=k1, b=b, count_empty=False)
    tie = (lambda i: docs[i][0]) if args.tie_break == "ctid" else (lambda i: i)
    run = {}
    for q in qids:
        qterms = scalar(cur, "SELECT " + expr, (ds.queries[q],)) or []
        run[q] = [d for d, _ in top_k(oracle.score(qterms), args.depth, tie)]
    s.update(queries=len(qids), metrics=evaluate(run, qrels), wall_ms=None, cpu_ms=None,
             build={"wall_s": time.perf_counter() - t0, "index_bytes": 0, "index": None},
             short_answers=sum(1 for q in qids if len(run[q]) < min(10, len(ds.docs))),
             plan_uses_index=True, terms_from=expr % "body", N=oracle.N, avgdl=oracle.avgdl)
    log("%s (oracle): nDCG@10 %.4f  Recall@100 %.4f  MRR@10 %.4f"
        % (s["set"], s["metrics"]["nDCG@10"], s["metrics"]["Recall@100"], s["metrics"]["MRR@10"]))
    return s


def build_eval_index(conn, cur, table, language, args):
    if args.engine == "retrieval":
        name = table + "_bm25"
        sql = ("CREATE INDEX %s ON %s USING retrieval (body) %s"
               % (name, table, bm25_with_clause(language, args)))
        try:
            b = timed_ddl(conn, cur, sql)
        except Exception as e:
            raise EngineUnavailable("CREATE INDEX failed: %s" % str(e).strip())
        b["index_stats"] = index_stats(cur, name)
    else:
        name = table + "_tsv_gin"
        cfg = PG_CONFIGS[language]
        t = timed_ddl(conn, cur, "ALTER TABLE %s ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                                 "(to_tsvector('%s'::regconfig, body)) STORED" % (table, cfg))
        b = timed_ddl(conn, cur, "CREATE INDEX %s ON %s USING gin (tsv)" % (name, table))
        b["tsvector_column"] = t
    b["index"] = name
    b["index_bytes"] = scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,))
    log("index %s: %.2f s, %.2f MiB" % (name, b["wall_s"], b["index_bytes"] / 2**20))
    return b


def search_sql(engine, table, language, depth):
    """(sql with %(q)s, param(cur, query_text) -> value or None) returning
    rows (id, score-ish): the distance for retrieval, ts_rank for pg-fts."""
    if engine == "retrieval":
        sql = ("SELECT id, body <@> %%(q)s::text FROM %s ORDER BY body <@> %%(q)s::text "
               "LIMIT %d" % (table, depth))
        return sql, lambda cur, text: text
    cfg = PG_CONFIGS[language]
    sql = ("SELECT id, ts_rank(tsv, %%(q)s::tsquery) AS r FROM %s WHERE tsv @@ %%(q)s::tsquery "
           "ORDER BY r DESC, ctid LIMIT %d" % (table, depth))

    def param(cur, text):
        return scalar(cur, "SELECT " + or_tsquery_sql(cfg), (text,))
    return sql, param


def fetch_doc_terms(cur, table, expr):
    """{id: (ctid (block, offset), [terms])} of every row, terms computed by
    the SQL expression `expr` of body (in one pass, server side)."""
    cur.execute("SELECT id, ctid::text, %s FROM %s" % (expr % "body", table))
    out = {}
    for i, ctid, terms in cur.fetchall():
        blk, off = ctid.strip("()").split(",")
        out[i] = ((int(blk), int(off)), terms or [])
    return out


def exact_check(conn, cur, table, ds, qids, scored, args, k=10):
    """Every query's engine top-k against the oracle over the same terms."""
    expr = terms_sql(args.engine, ds.language, args)
    t0 = time.perf_counter()
    docs = fetch_doc_terms(cur, table, expr)
    k1, b = oracle_params(args)
    # count_empty=False: rows without terms do not count in N (the index's rule).
    oracle = MemoryIndex({i: t for i, (_, t) in docs.items()}, k1=k1, b=b, count_empty=False)
    tie = (lambda i: docs[i][0]) if args.tie_break == "ctid" else (lambda i: i)
    mism, overlaps, identical, zero_rows = [], [], 0, 0
    per_row_bad = 0
    for q in qids:
        qterms = scalar(cur, "SELECT " + expr, (ds.queries[q],)) or []
        ref = top_k(oracle.score(qterms), k, tie)
        got = [r for r in scored[q][:k]]
        zero_rows += sum(1 for _, sc in got if sc == 0)
        got_nz = [r for r in got if r[1] != 0] if args.engine == "retrieval" else got
        refset = {d for d, _ in ref}
        overlaps.append(len(refset.intersection(d for d, _ in got)) / len(ref) if ref else 1.0)
        if args.engine == "retrieval":
            diff = compare_top(got_nz, ref)
            if diff is None:
                identical += 1
            else:
                diff["query"] = q
                diff["query_terms"] = qterms
                mism.append(diff)
            if got_nz:   # the per-row path (no index scan) gives the same numbers
                cur.execute("SET enable_seqscan = on")
                cur.execute("SELECT id, body <@> %%s::text FROM %s WHERE id = ANY(%%s)" % table,
                            (ds.queries[q], [d for d, _ in got_nz]))
                per_row = {i: (None if d is None else -d) for i, d in cur.fetchall()}
                cur.execute("SET enable_seqscan = off")
                per_row_bad += sum(1 for d, sc in got_nz
                                   if per_row.get(d) is None or sc is None
                                   or not math.isclose(per_row[d], sc, rel_tol=1e-9))
        else:
            identical += [d for d, _ in got] == [d for d, _ in ref]
    res = {"queries": len(qids), "identical_top10": identical,
           "mean_overlap@10": sum(overlaps) / len(overlaps) if overlaps else float("nan"),
           "mismatches": mism, "zero_score_rows": zero_rows, "N": oracle.N,
           "avgdl": oracle.avgdl, "k1": k1, "b": b, "terms_from": expr % "body",
           "tie_break": args.tie_break, "seconds": time.perf_counter() - t0,
           "scores_compared": args.engine == "retrieval"}
    if args.engine == "retrieval":
        res["per_row_mismatches"] = per_row_bad
    log("exact-BM25 check: %d/%d identical top-10, mean overlap %.3f, %d mismatches"
        % (identical, len(qids), res["mean_overlap@10"], len(mism)))
    for m in mism[:5]:
        log("  query %s (%s): %s" % (m["query"], m["kind"],
                                     {k: v for k, v in m.items() if k not in ("query",)}))
    return res


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def render(results, markdown=False):
    out = results.get("bm25_eval")
    if not out:
        return ""
    label = {"oracle": "oracle: exact BM25 in Python over the terms of %s, no index"
                       % ("retrieval.tokenize" if out.get("oracle_terms") == "retrieval" else
                          "bench_pg_terms (STAND-IN: PostgreSQL english/simple lexemes)"),
             "retrieval": "retrieval BM25 index (<@>)",
             "pg-fts": "pg-fts: PostgreSQL full-text search, stored tsvector + GIN, OR tsquery, "
                       "ts_rank (NOT BM25; comparison / stand-in engine)"}[out["engine"]]
    parts = ["BM25 effectiveness, engine %s; extension %s; %d rows per query"
             % (label, out.get("extension_version"), out["depth"])]
    headers = ["set", "language", "docs", "queries", "nDCG@10", "Recall@100", "MRR@10",
               "target nDCG@10", "build s", "index MiB", "median ms", "p95 ms"]
    rows = []
    for s in out["sets"]:
        m = s["metrics"]
        tgt = TARGETS.get(s["set"].split(":")[0])
        rows.append([s["set"] + ("" if ":" in s["set"] else " (%s)" % s["split"]),
                     s["language"], s["docs"], m["queries"],
                     "%.4f" % m["nDCG@10"], "%.4f" % m["Recall@100"], "%.4f" % m["MRR@10"],
                     ">= %.2f" % tgt if tgt else "-", "%.2f" % s["build"]["wall_s"],
                     "%.2f" % (s["build"]["index_bytes"] / 2**20),
                     "%.2f" % s["wall_ms"]["median"] if s["wall_ms"] else "-",
                     "%.2f" % s["wall_ms"]["p95"] if s["wall_ms"] else "-"])
    if rows:
        parts.append(report.table(headers, rows, markdown))
    notes = []
    for s in out["sets"]:
        m = s["metrics"]
        if m["queries_without_relevant"] or s["qrels_pairs_unknown_doc"] or s["short_answers"]:
            notes.append("%s: %d queries without a relevant document (score 0), %d qrels pairs "
                         "name documents absent from the corpus, %d queries returned fewer than "
                         "10 rows" % (s["set"], m["queries_without_relevant"],
                                      s["qrels_pairs_unknown_doc"], s["short_answers"]))
        if s["build"].get("index_stats"):
            notes.append("%s index_stats: %s" % (s["set"], s["build"]["index_stats"]))
        c = s.get("check")
        if c:
            if c["scores_compared"]:
                notes.append(
                    "%s exact-BM25 check (k1 %.2f, b %.2f, N %d, avgdl %.3f, terms = %s, ties by "
                    "%s): %d/%d queries with identical top-10 and scores within 1e-9; %d "
                    "mismatches; per-row path (no index) scores differing: %d; zero-score rows "
                    "in top-10: %d"
                    % (s["set"], c["k1"], c["b"], c["N"], c["avgdl"], c["terms_from"],
                       c["tie_break"], c["identical_top10"], c["queries"], len(c["mismatches"]),
                       c.get("per_row_mismatches", 0), c["zero_score_rows"]))
                if c["mismatches"]:
                    notes.append("  mismatches by kind: %s (ties = equal scores in another "
                                 "order, i.e. another tie rule)" % ", ".join(
                                     "%d %s" % (sum(1 for m in c["mismatches"] if m["kind"] == k), k)
                                     for k in ("scores", "ties", "ranking")))
                for mm in c["mismatches"][:10]:
                    notes.append("  mismatch query %s: %s at rank %s"
                                 % (mm["query"], mm["kind"],
                                    mm.get("first_diff_rank", mm.get("first"))))
            else:
                notes.append("%s agreement with exact BM25 over the engine's lexemes (%s; not "
                             "expected to match: not BM25): %d/%d identical top-10, mean top-10 "
                             "overlap %.3f" % (s["set"], c["terms_from"], c["identical_top10"],
                                               c["queries"], c["mean_overlap@10"]))
    parts.extend(notes)
    for sk in out["skipped"]:
        parts.append("SKIPPED " + sk)
    for f in out["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)
