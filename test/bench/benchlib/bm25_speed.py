"""The `bm25-speed` and `bm25-write` benchmarks: BM25 against PostgreSQL's
full-text search on scale/en-985k.

bm25-speed  load the passages once (COPY; reused from a persistent cluster,
            --cluster-dir), build and time each engine's index, then run the
            400 latency queries (100 each of 1, 2, 4, 8 terms, OR semantics)
            interleaved across engines query by query; median / p95 wall and
            backend CPU ms per query length and over all; top-10 overlap of
            every engine's answers with the exact BM25 top-10 (oracle:
            benchlib.bm25_reference.SqlIndex over each row's terms, the same
            analyzer as the index), and for the retrieval engine the exact
            check (same top-10, scores within 1e-9).
bm25-write  sustained single-row INSERT throughput into an indexed table
            (pgbench, 1 and 4 clients) with searches running concurrently
            (a second pgbench, 1 client, random latency queries), our index
            against GIN on the same table.

Engines (--engines):
  retrieval  CREATE INDEX ... USING retrieval (body) WITH (language = 'english');
             ORDER BY body <@> 'q' LIMIT 10
  gin        GIN on to_tsvector('english', body) (expression index);
             WHERE to_tsvector('english', body) @@ q ORDER BY ts_rank_cd(tsv, q)
             DESC LIMIT 10, q = OR tsquery of the query's lexemes, tsv = a stored
             generated column to_tsvector('english', body) (so ranking does not
             parse the text again)
  rum        RUM (Debian postgresql-15-rum) on the stored tsv column,
             rum_tsvector_ops; WHERE tsv @@ q ORDER BY tsv <=> q LIMIT 10
GIN indexes the expression and RUM the column so that the planner cannot
use one engine's index for the other's query.

Shared pieces (engines' capability probe, text COPY, persistent clusters,
index options, the oracle) come from benchlib.bm25 and bm25_reference.
"""
import os
import re
import subprocess
import tempfile
import time

import numpy as np

from . import report
from .bm25 import (EngineUnavailable, PG_TERMS_SQL, add_bm25_index_args, add_cluster_args,
                   bm25_with_clause, copy_rows, index_stats, make_cluster, open_database,
                   or_tsquery_sql, oracle_params, probe_bm25, scalar, terms_sql, timed_ddl)
from .bm25_reference import SqlIndex, compare_top
from .hnsw import _explain_json, _indexes_used, _prewarm
from .ir_datasets import en985k_dir, en985k_passages, en985k_queries
from .paths import PG_CONFIG, log
from .timing import BackendClock, BusyAccumulator, summarize, wait_for_quiet

SPEED_ENGINES = ("retrieval", "gin", "rum")
LENGTHS = (1, 2, 4, 8)
K = 10

# Table, indexes and the oracle's terms table fit in shared_buffers (985k
# passages: table with tsv ~0.6 GB, indexes ~0.1-0.2 GB each); work_mem large
# enough that GIN bitmaps of frequent terms stay exact (a lossy bitmap would
# recheck by parsing every row of its pages); one core per query and serial
# builds.
SPEED_GUCS = {"shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "2GB",
              "max_parallel_workers_per_gather": "0", "max_parallel_maintenance_workers": "0",
              "jit": "off"}

# Issue 4's reference figures ("this class of machine"), median ms per length
# and over all 400, build s and MiB; and its targets.
ISSUE_REFERENCE = {
    "gin": {"median_ms": {1: "6.7", 2: "61", 4: "162", 8: "711"}, "all": "106",
            "build_s": "18-28", "mib": "86.8"},
    "rum": {"median_ms": {1: "1.1-1.5", 2: "8-12", 4: "22-31", 8: "107-122"}, "all": "15-22",
            "build_s": "29-36", "mib": "162"},
}


def register(subparsers):
    p = subparsers.add_parser("bm25-speed", help="BM25 build/size/latency on en-985k against "
                              "GIN + ts_rank_cd and RUM, with top-10 overlap against exact BM25",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--engines", default=",".join(SPEED_ENGINES),
                   help="comma-separated subset of %s (default all)" % ",".join(SPEED_ENGINES))
    p.add_argument("--limit-docs", type=int, help="load only the first N passages (quick mode)")
    p.add_argument("--queries", type=int, default=100,
                   help="queries per length (1, 2, 4, 8 terms; default 100 = all 400)")
    p.add_argument("--reference-queries", type=int,
                   help="queries per length checked against exact BM25 (default: all measured; "
                        "0 = no oracle)")
    p.add_argument("--runs", type=int, default=1,
                   help="timed passes over the queries (default 1); figures are medians of the "
                        "per-run statistics")
    p.add_argument("--warmup", type=int, default=8, help="untimed queries per engine first (8)")
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each timed pass wait up to SECONDS for an idle machine")
    add_bm25_index_args(p, tie_break=False)
    add_cluster_args(p)
    p.set_defaults(func=cmd_speed)

    w = subparsers.add_parser("bm25-write", help="sustained single-row INSERT throughput with "
                              "concurrent searches (pgbench): BM25 index against GIN",
                              description=__doc__.split("\n\n")[2])
    w.add_argument("--engines", default="retrieval,gin",
                   help="comma-separated subset of retrieval,gin (default both)")
    w.add_argument("--clients", default="1,4", help="insert clients per measurement (1,4)")
    w.add_argument("--duration", type=int, default=30, help="seconds per measurement (30)")
    w.add_argument("--initial-rows", type=int, default=50000,
                   help="rows in the table when the index is built, before inserting (50000)")
    w.add_argument("--source-rows", type=int, default=200000,
                   help="passages (first N of en-985k) that inserts draw from (200000)")
    w.add_argument("--search-clients", type=int, default=1,
                   help="concurrent search clients (default 1; 0 = no searches)")
    w.add_argument("--runs", type=int, default=1, help="repeat every measurement (1)")
    w.add_argument("--language", default="english")
    add_bm25_index_args(w, tie_break=False)
    add_cluster_args(w)
    w.set_defaults(func=cmd_write)


def _engines(spec, allowed):
    names = [e.strip() for e in spec.split(",") if e.strip()]
    bad = [e for e in names if e not in allowed]
    if bad:
        raise SystemExit("unknown engine(s) %s (known: %s)" % (", ".join(bad), ", ".join(allowed)))
    return names


# ----------------------------------------------------------------------------
# the passages table (loaded once, reused in a persistent cluster)
# ----------------------------------------------------------------------------
def _source_marker(limit):
    path = os.path.join(en985k_dir(), "passages.jsonl.gz")
    st = os.stat(path)
    return "en-985k passages.jsonl.gz size=%d mtime=%d limit=%s" % (
        st.st_size, int(st.st_mtime), limit if limit else "all")


def ensure_passages(conn, cur, limit, with_tsv):
    """Table en985k[_N] (n int, id text, src text, body text[, tsv]) holding the
    first `limit` passages (all when None), n = 1-based file position.
    Reused when a table with the same source marker exists.  Returns
    (table, load info or None when reused)."""
    table = "en985k" + ("_%d" % limit if limit else "")
    marker = _source_marker(limit)
    info = None
    have = scalar(cur, "SELECT obj_description(to_regclass(%s), 'pg_class')", (table,))
    if have != marker:
        cur.execute("DROP TABLE IF EXISTS %s CASCADE" % table)
        cur.execute("CREATE TABLE %s (n int, id text, src text, body text)" % table)
        log("loading en-985k passages%s into %s (COPY)"
            % (" (first %d)" % limit if limit else "", table))
        t0 = time.perf_counter()
        rows = copy_rows(conn, table, ("n", "id", "src", "body"),
                         ((i + 1, pid, src, text) for i, (pid, src, text)
                          in enumerate(en985k_passages(limit))))
        info = {"rows": rows, "copy_s": time.perf_counter() - t0}
        t0 = time.perf_counter()
        cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
        info["vacuum_s"] = time.perf_counter() - t0
        cur.execute("COMMENT ON TABLE %s IS %%s" % table, (marker,))
        log("loaded %d rows in %.1f s" % (rows, info["copy_s"]))
    else:
        log("reusing table %s (%s)" % (table, marker))
    if with_tsv and not scalar(cur, "SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass "
                                    "AND attname = 'tsv' AND NOT attisdropped", (table,)):
        log("adding the stored tsvector column")
        t = timed_ddl(conn, cur, "ALTER TABLE %s ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                                 "(to_tsvector('english'::regconfig, body)) STORED" % table)
        cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
        info = dict(info or {}, tsv_column=t)
    return table, info


# ----------------------------------------------------------------------------
# bm25-speed
# ----------------------------------------------------------------------------
def engine_sql(engine, table):
    if engine == "retrieval":
        return "SELECT n FROM %s ORDER BY body <@> %%(q)s::text LIMIT %d" % (table, K)
    if engine == "gin":
        return ("SELECT n FROM %s WHERE to_tsvector('english'::regconfig, body) @@ %%(tsq)s::tsquery "
                "ORDER BY ts_rank_cd(tsv, %%(tsq)s::tsquery) DESC LIMIT %d" % (table, K))
    return ("SELECT n FROM %s WHERE tsv @@ %%(tsq)s::tsquery ORDER BY tsv <=> %%(tsq)s::tsquery "
            "LIMIT %d" % (table, K))


def index_name(engine, table):
    return "%s_%s" % (table, {"retrieval": "bm25", "gin": "gin", "rum": "rum"}[engine])


def build_engine(conn, cur, engine, table, args):
    name = index_name(engine, table)
    cur.execute("DROP INDEX IF EXISTS %s" % name)
    if engine == "retrieval":
        probe_bm25(cur)
        sql = ("CREATE INDEX %s ON %s USING retrieval (body) %s"
               % (name, table, bm25_with_clause("english", args)))
    elif engine == "gin":
        sql = "CREATE INDEX %s ON %s USING gin (to_tsvector('english'::regconfig, body))" % (
            name, table)
    else:
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS rum")
        except Exception as e:
            raise EngineUnavailable("the rum extension is not installed (Debian: apt-get install "
                                    "postgresql-15-rum): %s" % str(e).strip())
        sql = "CREATE INDEX %s ON %s USING rum (tsv rum_tsvector_ops)" % (name, table)
    log("building: %s" % sql)
    try:
        b = timed_ddl(conn, cur, sql)
    except Exception as e:
        raise EngineUnavailable("%s failed: %s" % (sql, str(e).strip()))
    b["index"] = name
    b["index_bytes"] = scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,))
    if engine == "retrieval":
        b["index_stats"] = index_stats(cur, name)
    log("%s: %.1f s wall, %.1f s CPU, %.1f MiB" % (engine, b["wall_s"], b["cpu_s"],
                                                   b["index_bytes"] / 2**20))
    return b


def pick_queries(n_per_length):
    qs = en985k_queries()
    out = []
    for L in LENGTHS:
        out.extend([q for q in qs if q["n_terms"] == L][:n_per_length])
    return out


def cmd_speed(args, results):
    engines = _engines(args.engines, SPEED_ENGINES)
    queries = pick_queries(args.queries)
    out = {"engines": engines, "failures": [], "unavailable": {}, "runs": args.runs,
           "limit_docs": args.limit_docs, "cluster_gucs": SPEED_GUCS, "builds": {}}
    results["bm25_speed"] = out
    with make_cluster(args, SPEED_GUCS) as cl:
        conn = open_database(cl, "bm25bench")
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        table, out["load"] = ensure_passages(conn, cur, args.limit_docs, with_tsv=True)
        out["table"] = table
        out["docs"] = scalar(cur, "SELECT count(*) FROM %s" % table)
        out["table_mib"] = scalar(cur, "SELECT pg_total_relation_size(%s::regclass)",
                                  (table,)) / 2**20
        for e in list(engines):
            try:
                out["builds"][e] = build_engine(conn, cur, e, table, args)
            except EngineUnavailable as ex:
                log("ERROR: engine %s unavailable: %s" % (e, ex))
                out["unavailable"][e] = str(ex)
                out["failures"].append("engine %s unavailable: %s" % (e, ex))
                engines.remove(e)
        cur.execute("ANALYZE %s" % table)
        for q in queries:
            q["tsq"] = scalar(cur, "SELECT " + or_tsquery_sql("english"), (q["text"],))
        out["queries"] = len(queries)
        out["queries_without_lexeme"] = sum(1 for q in queries if q["tsq"] is None)
        if engines:
            latency(cl, table, engines, queries, args, out)
        if args.reference_queries != 0 and engines:
            oracle_overlap(conn, cur, table, engines, queries, args, out)


def _params(engine, q):
    return {"q": q["text"]} if engine == "retrieval" else {"tsq": q["tsq"]}


def latency(cl, table, engines, queries, args, out):
    conns = {e: cl.connect("bm25bench") for e in engines}
    curs = {e: conns[e].cursor() for e in engines}
    clocks = {e: BackendClock(conns[e]) for e in engines}
    sqls = {e: engine_sql(e, table) for e in engines}
    out["sql"] = sqls
    out["plans"] = {}
    out["prewarmed"] = _prewarm(curs[engines[0]], [table] + [index_name(e, table)
                                                            for e in engines])
    probe_q = next(q for q in queries if q["tsq"] is not None)
    for e in engines:
        plan = _explain_json(curs[e], sqls[e], _params(e, probe_q))
        used = sorted(_indexes_used(plan["Plan"]))
        out["plans"][e] = used
        if index_name(e, table) not in used:
            out["failures"].append("%s: the plan does not use %s (uses %s)"
                                   % (e, index_name(e, table), used or "no index"))
    params = lambda e, q: (_params(e, q) if e == "retrieval" or q["tsq"] is not None
                           else None)
    warm_up(engines, curs, sqls, queries, args.warmup, params)
    per_run, answers, out["latency"] = run_interleaved(
        engines, curs, clocks, sqls, queries, args.runs, args.quiet_wait, params)
    out["per_run"] = per_run
    out["answers"] = answers
    for c in conns.values():
        c.close()


def warm_up(names, curs, sqls, queries, n, params):
    """Untimed: n queries spread over the list, under every name."""
    for e in names:
        for q in queries[:: max(1, len(queries) // max(1, n))][:n]:
            p = params(e, q)
            if p is not None:
                curs[e].execute(sqls[e], p)
                curs[e].fetchall()


def run_interleaved(names, curs, clocks, sqls, queries, runs, quiet_wait, params,
                    lengths=LENGTHS):
    """Time every query under every name (one connection each: curs, clocks
    and sqls keyed by name), query by query, the order of the names
    rotating per query; `runs` timed passes.  params(name, q) gives the
    query's parameters, or None when there is nothing to search (counted as
    0 ms, no rows).  Returns (per-pass statistics, the first pass's answers
    {name: {qid: [first column of each row]}}, per name the medians over the
    passes of each pass's median and p95, wall and CPU, per query length
    and over all, and busy CPUs).  `lengths`: the values of q["n_terms"]
    that get statistics of their own (default 1, 2, 4, 8 terms)."""
    per_run = []
    answers = {e: {} for e in names}
    for r in range(runs):
        waited = wait_for_quiet(quiet_wait)
        busy = {e: BusyAccumulator() for e in names}
        t = {e: {"wall": [], "cpu": [], "len": []} for e in names}
        log("timed pass %d/%d: %d queries x %d, interleaved" % (r + 1, runs, len(queries),
                                                                 len(names)))
        for i, q in enumerate(queries):
            order = names[i % len(names):] + names[:i % len(names)]
            for e in order:
                p = params(e, q)
                if p is None:
                    rows, w, c = [], 0.0, 0.0     # nothing to search
                else:
                    busy[e].start()
                    rows, w, c = clocks[e].run(curs[e], sqls[e], p)
                    busy[e].stop()
                t[e]["wall"].append(w)
                t[e]["cpu"].append(c)
                t[e]["len"].append(q["n_terms"])
                if r == 0:
                    answers[e][q["qid"]] = [x[0] for x in rows]
        run = {"quiet_wait_s": waited}
        for e in names:
            lens = np.array(t[e]["len"])
            st = {"all": {"wall": summarize(t[e]["wall"]), "cpu": summarize(t[e]["cpu"])},
                  "busy_cores": busy[e].cores()}
            for L in lengths:
                sel = lens == L
                if sel.any():
                    st[L] = {"wall": summarize(np.array(t[e]["wall"])[sel]),
                             "cpu": summarize(np.array(t[e]["cpu"], dtype=float)[sel])}
            run[e] = st
        per_run.append(run)
    latency = {}
    for e in names:
        agg = {}
        for key in ["all"] + list(lengths):
            if key not in per_run[0][e]:
                continue
            agg[key] = {}
            for kind in ("wall", "cpu"):
                for stat in ("median", "p95"):
                    vals = [pr[e][key][kind][stat] for pr in per_run if pr[e][key][kind]]
                    agg[key]["%s_%s" % (kind, stat)] = float(np.median(vals)) if vals else None
        agg["busy_cores"] = float(np.median([pr[e]["busy_cores"] or 0 for pr in per_run]))
        latency[e] = agg
    return per_run, answers, latency


def ensure_terms_table(conn, cur, table, expr, out):
    """Table <table>_terms (n, terms text[]) with a GIN index on terms, the
    oracle's postings; reused when built with the same analyzer."""
    tt = table + "_terms"
    marker = "terms = %s" % (expr % "body")
    if scalar(cur, "SELECT obj_description(to_regclass(%s), 'pg_class')", (tt,)) == marker:
        log("reusing %s (%s)" % (tt, marker))
        return tt
    cur.execute("DROP TABLE IF EXISTS %s" % tt)
    log("oracle: tokenizing every passage (%s)" % marker)
    b = timed_ddl(conn, cur, "CREATE TABLE %s AS SELECT n, %s AS terms FROM %s"
                  % (tt, expr % "body", table))
    g = timed_ddl(conn, cur, "CREATE INDEX ON %s USING gin (terms)" % tt)
    cur.execute("VACUUM ANALYZE %s" % tt)
    cur.execute("COMMENT ON TABLE %s IS %%s" % tt, (marker,))
    out["oracle_terms_table"] = {"tokenize_s": b["wall_s"], "gin_s": g["wall_s"]}
    log("oracle terms table: tokenize %.1f s, GIN %.1f s" % (b["wall_s"], g["wall_s"]))
    return tt


def top_k_by_ctid(cur, table, scores, k):
    """The exact top-k with the index's tie rule: score descending, then the
    row's ctid ascending (not the load order n: rows move, e.g. when a stored
    column is added by UPDATE).  Only the rows tied with the k-th are looked
    up."""
    if not scores:
        return []
    best = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(best) > k:
        kth = best[k - 1][1]
        best = [kv for kv in best if kv[1] >= kth]
    cur.execute("SELECT n, (ctid::text::point)[0], (ctid::text::point)[1] FROM %s "
                "WHERE n = ANY(%%s)" % table, ([n for n, _ in best],))
    pos = {n: (blk, off) for n, blk, off in cur.fetchall()}
    return sorted(best, key=lambda kv: (-kv[1], pos[kv[0]]))[:k]


def oracle_overlap(conn, cur, table, engines, queries, args, out):
    """Top-10 overlap of each engine with exact BM25, and the exact check of
    the retrieval engine (ids and scores), on the first
    --reference-queries queries of each length."""
    try:
        probe_bm25(cur)
        engine_for_terms = "retrieval"
    except EngineUnavailable:
        engine_for_terms = "pg"
    if engine_for_terms == "pg":
        cur.execute(PG_TERMS_SQL)
        log("oracle: retrieval.tokenize is unavailable; the oracle uses PostgreSQL's english "
            "lexemes (bench_pg_terms) instead -- a stand-in")
    expr = terms_sql(engine_for_terms, "english", args)
    tt = ensure_terms_table(conn, cur, table, expr, out)
    k1, b = oracle_params(args)
    # Rows without a single term are not indexed and do not count in N or
    # avgdl (docs/architecture.md, BM25 statistics; Lucene's docCount).
    oracle = SqlIndex(cur, tt, key_col="n", terms_col="terms", k1=k1, b=b,
                      count_empty=False)
    nref = args.reference_queries or args.queries
    chosen = []
    for L in LENGTHS:
        chosen.extend([q for q in queries if q["n_terms"] == L][:nref])
    t0 = time.perf_counter()
    ov = {e: {L: [] for L in LENGTHS} for e in engines}
    exact = {"identical": 0, "near_ties": 0, "mismatches": []}
    for q in chosen:
        qterms = scalar(cur, "SELECT " + expr, (q["text"],)) or []
        ref = top_k_by_ctid(cur, table, oracle.score(qterms), K)
        refset = {n for n, _ in ref}
        for e in engines:
            got = out["answers"][e].get(q["qid"], [])
            ov[e][q["n_terms"]].append(len(refset.intersection(got)) / len(ref) if ref else 1.0)
        if "retrieval" in engines:
            cur.execute("SELECT n, body <@> %%s::text FROM %s ORDER BY body <@> %%s::text "
                        "LIMIT %d" % (table, K), (q["text"], q["text"]))
            got = [(n, None if d is None else -d) for n, d in cur.fetchall() if d != 0]
            diff = compare_top(got, ref)
            if diff is None:
                exact["identical"] += 1
            elif diff["kind"] == "ties":
                # same scores rank by rank (1e-9), order differs only between
                # documents whose scores are within 1e-9 of each other: a
                # float64 summation-order tie, not a different answer
                exact["near_ties"] += 1
            else:
                diff["query"] = q["qid"]
                exact["mismatches"].append(diff)
    out["oracle"] = {"terms_from": expr % "body", "N": oracle.N, "avgdl": oracle.avgdl,
                     "k1": k1, "b": b, "queries": len(chosen), "tie_break": "ctid",
                     "seconds": time.perf_counter() - t0,
                     "stand_in": engine_for_terms == "pg"}
    out["overlap"] = {e: {L: (float(np.mean(v)) if v else None) for L, v in d.items()}
                      for e, d in ov.items()}
    for e in engines:
        allv = [x for v in ov[e].values() for x in v]
        out["overlap"][e]["all"] = float(np.mean(allv)) if allv else None
    if "retrieval" in engines:
        out["exact"] = {"identical": exact["identical"], "near_ties": exact["near_ties"],
                        "queries": len(chosen),
                        "mismatches": exact["mismatches"][:50],
                        "n_mismatches": len(exact["mismatches"])}
        if exact["mismatches"]:
            out["failures"].append("retrieval: %d of %d answers differ from the exact BM25 top-10"
                                   % (len(exact["mismatches"]), len(chosen)))
    log("oracle: %d queries in %.1f s" % (len(chosen), time.perf_counter() - t0))


# ----------------------------------------------------------------------------
# bm25-write
# ----------------------------------------------------------------------------
INSERT_SCRIPT = """\\set r random(1, :nsrc)
INSERT INTO wp (body) SELECT body FROM {src} WHERE n = :r;
"""
SEARCH_SCRIPTS = {
    "retrieval": """\\set qid random(1, :nq)
SELECT q AS qtext FROM wp_queries WHERE qid = :qid \\gset
SELECT id FROM wp ORDER BY body <@> :qtext::text LIMIT 10;
""",
    "gin": """\\set qid random(1, :nq)
SELECT tsq AS tsq FROM wp_queries WHERE qid = :qid \\gset
SELECT id FROM wp WHERE to_tsvector('{cfg}'::regconfig, body) @@ :tsq::tsquery
  ORDER BY ts_rank_cd(to_tsvector('{cfg}'::regconfig, body), :tsq::tsquery) DESC LIMIT 10;
""",
}


def _pgbench():
    bindir = subprocess.run([PG_CONFIG, "--bindir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return os.path.join(bindir, "pgbench")


def _parse_pgbench(text):
    def grab(pat, conv=float):
        m = re.search(pat, text)
        return conv(m.group(1)) if m else None
    return {"tps": grab(r"tps = ([\d.]+) \(without initial connection time\)"),
            "transactions": grab(r"number of transactions actually processed: (\d+)", int),
            "failed": grab(r"number of failed transactions: (\d+)", int),
            "latency_ms": grab(r"latency average = ([\d.]+) ms")}


def cmd_write(args, results):
    engines = _engines(args.engines, ("retrieval", "gin"))
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    cfg = {"english": "english", "chinese": "simple"}.get(args.language, args.language)
    out = {"engines": engines, "clients": clients, "duration_s": args.duration,
           "initial_rows": args.initial_rows, "source_rows": args.source_rows,
           "search_clients": args.search_clients, "failures": [], "measurements": []}
    results["bm25_write"] = out
    queries = en985k_queries()
    with make_cluster(args, {"jit": "off", "max_parallel_workers_per_gather": "0"}) as cl:
        conn = open_database(cl, "bm25bench")
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        if "retrieval" in engines:
            try:
                probe_bm25(cur)
            except EngineUnavailable as e:
                out["failures"].append("engine retrieval unavailable: %s" % e)
                log("ERROR: %s" % e)
                engines.remove("retrieval")
        src, _ = ensure_passages(conn, cur, args.source_rows, with_tsv=False)
        nsrc = scalar(cur, "SELECT count(*) FROM %s" % src)
        cur.execute("CREATE UNIQUE INDEX IF NOT EXISTS %s_n ON %s (n)" % (src, src))
        cur.execute("DROP TABLE IF EXISTS wp_queries")
        cur.execute("CREATE TABLE wp_queries (qid int, q text, tsq text)")
        qrows = []
        for q in queries:
            tsq = scalar(cur, "SELECT " + or_tsquery_sql(cfg), (q["text"],))
            if tsq is not None:
                qrows.append((len(qrows) + 1, q["text"], tsq))
        copy_rows(conn, "wp_queries", ("qid", "q", "tsq"), qrows)
        tmp = tempfile.mkdtemp(prefix="bm25-write.")
        os.chmod(tmp, 0o755)
        ins = os.path.join(tmp, "insert.sql")
        with open(ins, "w") as f:
            f.write(INSERT_SCRIPT.format(src=src))
        base = [_pgbench(), "-n", "-h", cl.dir, "-p", "5432", "-U", "postgres"]
        try:
            for r in range(args.runs):
                for c in clients:
                    for e in (engines if r % 2 == 0 else engines[::-1]):
                        m = write_one(conn, cur, e, c, src, nsrc, len(qrows), cfg, tmp, ins,
                                      base, args)
                        out["measurements"].append(m)
                        if m.get("failure"):
                            out["failures"].append(m["failure"])
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)
        cur.execute("DROP TABLE IF EXISTS wp")


def write_one(conn, cur, engine, clients, src, nsrc, nq, cfg, tmp, ins, base, args):
    cur.execute("DROP TABLE IF EXISTS wp")
    cur.execute("CREATE TABLE wp (id bigserial, body text)")
    cur.execute("INSERT INTO wp (body) SELECT body FROM %s WHERE n <= %d ORDER BY n"
                % (src, args.initial_rows))
    if engine == "retrieval":
        sql = "CREATE INDEX wp_idx ON wp USING retrieval (body) %s" % bm25_with_clause(
            args.language, args)
    else:
        sql = "CREATE INDEX wp_idx ON wp USING gin (to_tsvector('%s'::regconfig, body))" % cfg
    try:
        build = timed_ddl(conn, cur, sql)
    except Exception as e:
        msg = "%s, %d clients: %s failed: %s" % (engine, clients, sql, str(e).strip())
        log("ERROR: " + msg)
        return {"engine": engine, "clients": clients, "failure": msg, "errors": [msg]}
    cur.execute("VACUUM ANALYZE wp")
    cur.execute("CHECKPOINT")
    size0 = scalar(cur, "SELECT pg_relation_size('wp_idx')")
    search = os.path.join(tmp, "search_%s.sql" % engine)
    with open(search, "w") as f:
        f.write(SEARCH_SCRIPTS[engine].format(cfg=cfg))
    dsn_db = ["bm25bench"]
    log("write path: %s, %d insert client(s), %d search client(s), %d s"
        % (engine, clients, args.search_clients, args.duration))
    p_ins = subprocess.Popen(base + ["-f", ins, "-c", str(clients), "-j", str(clients),
                                     "-T", str(args.duration), "-D", "nsrc=%d" % nsrc] + dsn_db,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p_s = None
    if args.search_clients > 0:
        p_s = subprocess.Popen(base + ["-M", "extended", "-f", search,
                                       "-c", str(args.search_clients),
                                       "-j", str(args.search_clients),
                                       "-T", str(args.duration), "-D", "nq=%d" % nq] + dsn_db,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    o_ins, e_ins = p_ins.communicate()
    res = {"engine": engine, "clients": clients, "build": build,
           "insert": _parse_pgbench(o_ins), "index_bytes_before": size0}
    if p_ins.returncode != 0:
        res["insert_error"] = (e_ins or o_ins).strip()[-2000:]
    if p_s:
        o_s, e_s = p_s.communicate()
        res["search"] = _parse_pgbench(o_s)
        if p_s.returncode != 0:
            res["search_error"] = (e_s or o_s).strip()[-2000:]
    res["rows_after"] = scalar(cur, "SELECT count(*) FROM wp")
    res["index_bytes_after"] = scalar(cur, "SELECT pg_relation_size('wp_idx')")
    for k in ("insert_error", "search_error"):
        if k in res:
            res.setdefault("errors", []).append(res[k].splitlines()[-1] if res[k] else k)
    if res.get("errors"):
        out_fail = "%s, %d clients: pgbench reported errors: %s" % (engine, clients, res["errors"])
        res["failure"] = out_fail
    log("  inserts %.1f tps, searches %s tps%s"
        % (res["insert"]["tps"] or 0,
           "%.1f" % res["search"]["tps"] if p_s and res["search"]["tps"] else "-",
           "; ERRORS: %s" % res["errors"] if res.get("errors") else ""))
    return res


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
ENGINE_LABEL = {"retrieval": "retrieval BM25 (<@>)", "gin": "GIN + ts_rank_cd (OR)",
                "rum": "RUM (<=>)"}


def _ms(v):
    return "-" if v is None else ("%.2f" % v if v < 100 else "%.0f" % v)


def _ratio(x):
    return ("%.1fx" if x >= 1 else "%.3fx") % x


def _kinds(mismatches):
    kinds = {}
    for m in mismatches:
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    return ", ".join("%d %s" % (v, k) for k, v in sorted(kinds.items()))


def render(results, markdown=False):
    parts = []
    s = results.get("bm25_speed")
    if s:
        parts.append(render_speed(s, markdown))
    w = results.get("bm25_write")
    if w:
        parts.append(render_write(w, markdown))
    return "\n\n".join(parts)


def render_speed(s, markdown):
    parts = ["BM25 speed on %s: %d passages, %d queries (%d runs, interleaved per query); "
             "extension %s; cluster %s"
             % (s["table"], s["docs"], s.get("queries", 0), s["runs"], s["extension_version"],
                ", ".join("%s=%s" % kv for kv in s["cluster_gucs"].items()))]
    ld = s.get("load")
    if ld:
        bits = []
        if "copy_s" in ld:
            bits.append("COPY %.1f s (%d rows), VACUUM %.1f s" % (ld["copy_s"], ld["rows"],
                                                               ld["vacuum_s"]))
        if "tsv_column" in ld:
            bits.append("stored tsvector column %.1f s" % ld["tsv_column"]["wall_s"])
        parts.append("load: " + "; ".join(bits) + "; table %.1f MiB" % s["table_mib"])
    else:
        parts.append("table reused from an earlier run (%.1f MiB)" % s["table_mib"])
    rows = []
    for e, b in s["builds"].items():
        ref = ISSUE_REFERENCE.get(e, {})
        rows.append([ENGINE_LABEL[e], "%.1f" % b["wall_s"], "%.1f" % b["cpu_s"],
                     "%.2f" % (b["busy_cores"] or 0), "%.1f" % (b["index_bytes"] / 2**20),
                     ref.get("build_s", "-"), ref.get("mib", "-")])
    if rows:
        parts.append(report.table(["engine", "build s", "build CPU s", "busy CPUs", "index MiB",
                                   "issue ref. build s", "issue ref. MiB"], rows, markdown))
    lat = s.get("latency", {})
    if lat:
        headers = ["engine"] + ["%d term%s median ms" % (L, "s" if L > 1 else "") for L in LENGTHS] \
            + ["all median ms"] + ["%d p95 ms" % L for L in LENGTHS] + ["all p95 ms",
                                                                       "busy CPUs"]
        for kind in ("wall", "cpu"):
            rows = []
            for e, a in lat.items():
                rows.append([ENGINE_LABEL[e]] +
                            [_ms(a.get(L, {}).get(kind + "_median")) for L in LENGTHS] +
                            [_ms(a["all"][kind + "_median"])] +
                            [_ms(a.get(L, {}).get(kind + "_p95")) for L in LENGTHS] +
                            [_ms(a["all"][kind + "_p95"]), "%.2f" % a["busy_cores"]])
            parts.append("%s time per query:" % ("wall" if kind == "wall" else "backend CPU"))
            parts.append(report.table(headers, rows, markdown))
        if "retrieval" in lat:
            r = lat["retrieval"]
            rows = []
            for e in lat:
                if e == "retrieval":
                    continue
                rows.append([ENGINE_LABEL[e]] + [
                    _ratio(lat[e][key]["wall_median"] / r[key]["wall_median"])
                    if lat[e].get(key, {}).get("wall_median") and r.get(key, {}).get("wall_median")
                    else "-" for key in list(LENGTHS) + ["all"]])
            if s["builds"].get("retrieval", {}).get("index_stats"):
                parts.append("retrieval.index_stats: %s" % s["builds"]["retrieval"]["index_stats"])
            parts.append("median wall latency of the engine / retrieval's (targets: all 400 >= 30x "
                         "for GIN, >= 5x for RUM; RUM >= 5x at 2, 4, 8 terms, > 1x at 1 term):")
            parts.append(report.table(["engine"] + ["%d" % L for L in LENGTHS] + ["all"], rows,
                                      markdown))
            b = s["builds"]
            if "gin" in b and "retrieval" in b:
                parts.append("build time / GIN's: %.2fx (target <= 3x); index size / GIN's: "
                             "%.2fx (target <= 2x)"
                             % (b["retrieval"]["wall_s"] / b["gin"]["wall_s"],
                                b["retrieval"]["index_bytes"] / b["gin"]["index_bytes"]))
        parts.append("issue 4's reference medians (ms, 1/2/4/8 terms; all): " + "; ".join(
            "%s %s; %s" % (ENGINE_LABEL[e], " / ".join(r["median_ms"][L] for L in LENGTHS),
                           r["all"]) for e, r in ISSUE_REFERENCE.items()))
    ov = s.get("overlap")
    if ov:
        o = s["oracle"]
        parts.append("top-10 overlap with exact BM25 (%d queries; oracle: k1 %.2f, b %.2f, N %d, "
                     "avgdl %.3f, terms = %s%s):"
                     % (o["queries"], o["k1"], o["b"], o["N"], o["avgdl"], o["terms_from"],
                        "; STAND-IN analyzer (PostgreSQL english lexemes), not retrieval.tokenize"
                        if o["stand_in"] else ""))
        parts.append(report.table(["engine"] + ["%d" % L for L in LENGTHS] + ["all"],
                                  [[ENGINE_LABEL[e]] + ["-" if v.get(k) is None else "%.3f" % v[k]
                                                        for k in list(LENGTHS) + ["all"]]
                                   for e, v in ov.items()], markdown))
        if s.get("exact"):
            x = s["exact"]
            parts.append("retrieval answers equal to the exact BM25 top-10 (ids in order, scores "
                         "within 1e-9, ties by ctid): %d/%d; equal up to the order of scores "
                         "within 1e-9 of each other: %d%s"
                         % (x["identical"], x["queries"], x.get("near_ties", 0),
                            "; mismatches: " + _kinds(x["mismatches"]) if x["mismatches"] else ""))
    if s.get("plans"):
        parts.append("indexes used: " + "; ".join("%s: %s" % (e, ", ".join(u) or "none")
                                                  for e, u in s["plans"].items()))
    for e, why in s["unavailable"].items():
        parts.append("UNAVAILABLE %s: %s" % (e, why))
    for f in s["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)


def render_write(w, markdown):
    parts = ["BM25 write path: single-row INSERTs (pgbench, random passages of the first %d "
             "of en-985k) into a table of %d rows with one text index, %d s per measurement, "
             "%d concurrent search client(s) (pgbench -M extended, random latency queries); "
             "extension %s" % (w["source_rows"], w["initial_rows"], w["duration_s"],
                               w["search_clients"], w["extension_version"])]
    rows = []
    by = {}
    for m in w["measurements"]:
        by.setdefault((m["engine"], m["clients"]), []).append(m)
    for (e, c), ms in sorted(by.items()):
        ms = [m for m in ms if "insert" in m]
        if not ms:
            continue
        tps = [m["insert"]["tps"] for m in ms if m["insert"]["tps"] is not None]
        stps = [m.get("search", {}).get("tps") for m in ms if m.get("search", {}).get("tps")]
        rows.append([ENGINE_LABEL.get(e, e), c, "%.1f" % np.median(tps) if tps else "-",
                     "%.2f" % np.median([m["insert"]["latency_ms"] for m in ms
                                         if m["insert"]["latency_ms"] is not None] or [np.nan]),
                     "%.1f" % np.median(stps) if stps else "-",
                     "%.1f" % np.median([m["build"]["wall_s"] for m in ms]),
                     "%.1f -> %.1f" % (ms[0]["index_bytes_before"] / 2**20,
                                       ms[0]["index_bytes_after"] / 2**20),
                     "; ".join(x for m in ms for x in m.get("errors", [])) or "-"])
    parts.append(report.table(["engine", "insert clients", "insert tps", "insert latency ms",
                               "search tps", "initial build s", "index MiB before -> after",
                               "errors"], rows, markdown))
    for c in w["clients"]:
        r, g = by.get(("retrieval", c)), by.get(("gin", c))
        if r and g:
            rt = np.median([m["insert"]["tps"] or 0 for m in r if "insert" in m] or [np.nan])
            gt = np.median([m["insert"]["tps"] or 0 for m in g if "insert" in m] or [np.nan])
            parts.append("%d client(s): retrieval / GIN insert throughput %.2f (target >= 0.5)"
                         % (c, rt / gt if gt else float("nan")))
    for f in w["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)
