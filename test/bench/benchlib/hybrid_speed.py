"""The `hybrid-speed` benchmark: the hybrid text index (BM25 + HNSW over
USE-lite embeddings in one index, src/fusion/) on scale/en-985k.

hybrid-speed  load the passages (all, or the first --rows; reused from a
              persistent cluster, --cluster-dir, as bm25-speed does) with a
              column bucket = hash(n) mod 100, build the hybrid index (timed,
              passages/s; --build-workers 0,1 compares serial with one
              parallel worker), then run the 400 latency queries (100 each of
              1, 2, 4, 8 terms) with ORDER BY body <@> q, <=> q and <~> q
              LIMIT 10 interleaved query by query (query embedding included:
              it is part of the scan); median / p95 wall and backend CPU ms,
              and median(<=>) / median(<@>) (issue 6 target: <= 3x).  Then the
              same three with WHERE bucket < 10 (10%) and WHERE bucket = 0
              (1%): rows returned (10 expected: every query has >= 10
              qualifying rows), latency and the plan chosen.  Optionally
              (--check-queries) the index scan's top-10 against a sequential
              scan + sort of the per-row operators.

Shared pieces: the passages table (bm25_speed.ensure_passages), clusters and
DDL timing (benchlib.bm25), the interleaved timing loop
(bm25_speed.run_interleaved) and EXPLAIN helpers (benchlib.hnsw).
"""
import threading
import time

import numpy as np

from . import report
from .bm25 import (add_cluster_args, add_bm25_index_args, bm25_with_clause, index_stats,
                   make_cluster, open_database, probe_bm25, scalar)
from .bm25_speed import (K, LENGTHS, ensure_passages, pick_queries, run_interleaved, warm_up,
                         _ms)
from .hnsw import LAUNCHED, _explain_json, _indexes_used, _prewarm
from .paths import log
from .timing import BackendClock, MachineBusy

# as bm25-speed: everything fits in shared_buffers, one core per query
HYBRID_GUCS = {"shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "2GB",
               "max_parallel_workers_per_gather": "0", "max_parallel_maintenance_workers": "0",
               "jit": "off"}
OPS = (("bm25", "<@>"), ("fused", "<=>"), ("semantic", "<~>"))
FILTERS = (("10%", "bucket < 10"), ("1%", "bucket = 0"))
TARGET_RATIO = 3.0


def register(subparsers):
    p = subparsers.add_parser("hybrid-speed", help="hybrid text index on en-985k: build rate, "
                              "latency of <@> / <=> / <~>, filtered queries",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--rows", type=int, help="load only the first N passages (default all)")
    p.add_argument("--queries", type=int, default=100,
                   help="queries per length (1, 2, 4, 8 terms; default 100 = all 400)")
    p.add_argument("--filter-queries", type=int, default=25,
                   help="queries per length for the filtered part (default 25; 0 = skip)")
    p.add_argument("--runs", type=int, default=1,
                   help="timed passes (default 1); figures are medians of per-pass statistics")
    p.add_argument("--warmup", type=int, default=8, help="untimed queries per operator (8)")
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each timed pass wait up to SECONDS for an idle machine")
    p.add_argument("--build-workers", default="0",
                   help="comma-separated max_parallel_maintenance_workers values, one build "
                        "each (e.g. 0,1); the first value's index is kept (built last)")
    p.add_argument("--reuse-index", action="store_true",
                   help="keep an existing hybrid index of the table (no build)")
    p.add_argument("--ef-search", type=int, help="SET retrieval.ef_search (default: the GUC's)")
    p.add_argument("--check-queries", type=int, default=0,
                   help="queries per length whose index top-10 is compared with a sequential "
                        "scan + sort (slow: embeds every row per query; default 0)")
    p.add_argument("--explain-queries", type=int, default=1,
                   help="queries per length shown with EXPLAIN (ANALYZE, BUFFERS) (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a cluster setting over the defaults (repeatable), e.g. "
                        "maintenance_work_mem=4GB so that the graph of all 985k passages "
                        "is built in memory")
    add_bm25_index_args(p, tie_break=False)
    add_cluster_args(p)
    p.set_defaults(func=cmd_hybrid)


def cluster_gucs(args):
    """HYBRID_GUCS with the --set overrides applied."""
    gucs = dict(HYBRID_GUCS)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit("hybrid-speed: --set wants NAME=VALUE, got %r" % item)
        gucs[name.strip()] = value.strip()
    return gucs


# ----------------------------------------------------------------------------
# table and build
# ----------------------------------------------------------------------------
def ensure_bucket(conn, cur, table):
    """Column bucket int = hash of n mod 100 (stored, so added once), and a
    btree index on it: a filter column as an application would have it."""
    if not scalar(cur, "SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attname = 'bucket' AND NOT attisdropped", (table,)):
        log("adding the bucket column")
        cur.execute("ALTER TABLE %s ADD COLUMN bucket int GENERATED ALWAYS AS "
                    "((hashint4(n) & 2147483647) %% 100) STORED" % table)
        cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
    cur.execute("CREATE INDEX IF NOT EXISTS %s_bucket ON %s (bucket)" % (table, table))


def _progress_logger(cl, dbname, stop):
    """Log CREATE INDEX progress (tuples_done) every 30 s until stop is set."""
    conn = cl.connect(dbname)
    cur = conn.cursor()
    try:
        while not stop.wait(30):
            cur.execute("SELECT phase, tuples_done, tuples_total FROM "
                        "pg_stat_progress_create_index")
            for phase, done, total in cur.fetchall():
                log("  build progress: %s, %s of %s tuples, load %s"
                    % (phase, done, total, report.loadavg()))
    finally:
        conn.close()


def build_hybrid(cl, conn, cur, table, workers, args):
    name = table + "_hybrid"
    cur.execute("DROP INDEX IF EXISTS %s" % name)
    # the hybrid index: the default model (bm25_with_clause asks for BM25 only)
    sql = "CREATE INDEX %s ON %s USING retrieval (body) %s" % (
        name, table, bm25_with_clause("english", args).replace("model = 'none', ", ""))
    cur.execute("SET max_parallel_maintenance_workers = %d" % workers)
    cur.execute("SET min_parallel_table_scan_size = 0")
    cur.execute("SET client_min_messages = debug1")   # the parallel build's "launched" line
    log("building (max_parallel_maintenance_workers = %d, load %s): %s"
        % (workers, report.loadavg(), sql))
    clock = BackendClock(conn)
    del conn.notices[:]
    busy = MachineBusy()
    stop = threading.Event()
    th = threading.Thread(target=_progress_logger, args=(cl, "hybridbench", stop), daemon=True)
    th.start()
    load0 = report.loadavg()
    try:
        _, wall, cpu = clock.run(cur, sql)
    finally:
        stop.set()
        th.join()
    cur.execute("RESET client_min_messages")
    cur.execute("RESET max_parallel_maintenance_workers")
    cur.execute("RESET min_parallel_table_scan_size")
    launched = [int(m.group(1)) for m in map(LAUNCHED.search, conn.notices) if m]
    rows = scalar(cur, "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                  (name,))
    b = {"sql": sql, "index": name, "workers": workers,
         "workers_launched": launched[0] if launched else 0,
         "wall_s": wall / 1000, "cpu_s": (cpu or 0) / 1000, "busy_cores": busy.cores(),
         "index_bytes": scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,)),
         "index_tuples": rows, "load_start": load0, "load_end": report.loadavg()}
    b["rows_per_s"] = scalar(cur, "SELECT count(*) FROM %s" % table) / b["wall_s"]
    log("built in %.1f s (%.0f passages/s; leader CPU %.1f s, %d workers launched), %.1f MiB, "
        "load %s" % (b["wall_s"], b["rows_per_s"], b["cpu_s"], b["workers_launched"],
                     b["index_bytes"] / 2**20, b["load_end"]))
    return b


# ----------------------------------------------------------------------------
# queries
# ----------------------------------------------------------------------------
def op_sql(table, op, where=None):
    return "SELECT n FROM %s %sORDER BY body %s %%(q)s::text LIMIT %d" % (
        table, "WHERE %s " % where if where else "", op, K)


def _plan_summary(plan):
    """'Limit > Index Scan using x' style chain of the plan's node types."""
    out, p = [], plan
    while p is not None:
        label = p["Node Type"]
        if "Index Name" in p:
            label += " using " + p["Index Name"]
        if p.get("Filter"):
            label += " (Filter: %s)" % p["Filter"]
        if p.get("Index Cond"):
            label += " (Cond: %s)" % p["Index Cond"]
        if p.get("Recheck Cond"):
            label += " (Recheck: %s)" % p["Recheck Cond"]
        out.append(label)
        kids = p.get("Plans", [])
        p = kids[0] if kids else None
    return " > ".join(out)


def explain_analyze(cur, sql, params):
    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return [r[0] for r in cur.fetchall()]


def timed_set(cl, names, sqls, queries, args, ef):
    conns = {e: cl.connect("hybridbench") for e in names}
    try:
        curs = {e: conns[e].cursor() for e in names}
        if ef:
            for c in curs.values():
                c.execute("SET retrieval.ef_search = %d" % ef)
        clocks = {e: BackendClock(conns[e]) for e in names}
        params = lambda e, q: {"q": q["text"]}
        warm_up(names, curs, sqls, queries, args.warmup, params)
        return run_interleaved(names, curs, clocks, sqls, queries, args.runs, args.quiet_wait,
                               params)
    finally:
        for c in conns.values():
            c.close()


def check_against_seqscan(cur, table, queries, n, out):
    """Index top-10 vs sequential scan + sort (same operator, per-row path)."""
    chosen = [q for L in LENGTHS for q in [x for x in queries if x["n_terms"] == L][:n]]
    res = {}
    for key, op in OPS:
        sql = "SELECT n, body %s %%(q)s::text FROM %s ORDER BY body %s %%(q)s::text LIMIT %d" % (
            op, table, op, K)
        same = overlap = 0
        maxdiff = 0.0
        for q in chosen:
            cur.execute("RESET enable_indexscan")
            cur.execute(sql, {"q": q["text"]})
            idx = cur.fetchall()
            cur.execute("SET enable_indexscan = off")
            t0 = time.perf_counter()
            cur.execute(sql, {"q": q["text"]})
            seq = cur.fetchall()
            log("  check %s qid %s: seq scan %.1f s" % (op, q["qid"], time.perf_counter() - t0))
            if op == "<@>":      # the BM25 scan returns no rows of score 0
                seq = [r for r in seq if r[1] != 0][:len(idx)] if len(idx) < K else seq
            ids_i, ids_s = [r[0] for r in idx], [r[0] for r in seq]
            same += ids_i == ids_s
            overlap += len(set(ids_i) & set(ids_s)) / len(ids_s) if ids_s else 1.0
            d_s = dict(seq)
            for n_, d in idx:
                if n_ in d_s:
                    maxdiff = max(maxdiff, abs(d - d_s[n_]))
        cur.execute("RESET enable_indexscan")
        res[key] = {"queries": len(chosen), "identical": same,
                    "overlap": overlap / max(1, len(chosen)), "max_abs_diff": maxdiff}
        log("check %s: %d/%d identical top-10, overlap %.3f, max |d| diff %.2g"
            % (op, same, len(chosen), res[key]["overlap"], maxdiff))
    out["check"] = res


def cmd_hybrid(args, results):
    queries = pick_queries(args.queries)
    workers = [int(w) for w in args.build_workers.split(",") if w.strip()]
    out = {"rows_option": args.rows, "runs": args.runs, "cluster_gucs": cluster_gucs(args),
           "failures": [], "builds": [], "uptime": []}
    results["hybrid_speed"] = out
    with make_cluster(args, cluster_gucs(args)) as cl:
        conn = open_database(cl, "hybridbench")
        cur = conn.cursor()
        probe_bm25(cur)
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        table, out["load"] = ensure_passages(conn, cur, args.rows, with_tsv=False)
        ensure_bucket(conn, cur, table)
        out["table"] = table
        out["docs"] = scalar(cur, "SELECT count(*) FROM %s" % table)
        name = table + "_hybrid"
        if args.reuse_index and scalar(cur, "SELECT to_regclass(%s) IS NOT NULL", (name,)):
            log("reusing index %s" % name)
            out["index_reused"] = True
        else:
            for w in reversed(workers):
                out["builds"].append(build_hybrid(cl, conn, cur, table, w, args))
        out["index_bytes"] = scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,))
        out["index_stats"] = index_stats(cur, name)
        cur.execute("ANALYZE %s" % table)
        if args.ef_search:
            cur.execute("SET retrieval.ef_search = %d" % args.ef_search)
        out["ef_search"] = scalar(cur, "SHOW retrieval.ef_search")
        out["prewarmed"] = _prewarm(cur, [table, name])

        # unfiltered: the three operators interleaved
        sqls = {k: op_sql(table, op) for k, op in OPS}
        out["sql"] = sqls
        out["plans"] = {k: sorted(_indexes_used(_explain_json(cur, s, {"q": "probe"})["Plan"]))
                        for k, s in sqls.items()}
        for k, used in out["plans"].items():
            if name not in used:
                out["failures"].append("%s: the plan does not use %s (uses %s)"
                                       % (k, name, used or "no index"))
        out["uptime"].append(("latency start", report.loadavg()))
        _, _, out["latency"] = timed_set(cl, [k for k, _ in OPS], sqls, queries, args,
                                         args.ef_search)
        out["uptime"].append(("latency end", report.loadavg()))
        lat = out["latency"]
        out["ratio"] = {key: (lat["fused"][key]["wall_median"] / lat["bm25"][key]["wall_median"]
                              if lat["bm25"].get(key, {}).get("wall_median") else None)
                        for key in ["all"] + list(LENGTHS)}
        out["ratio_cpu"] = {key: (lat["fused"][key]["cpu_median"] / lat["bm25"][key]["cpu_median"]
                                  if lat["bm25"].get(key, {}).get("cpu_median") else None)
                            for key in ["all"] + list(LENGTHS)}

        # EXPLAIN (ANALYZE, BUFFERS) of a few queries
        ex = [q for L in LENGTHS for q in [x for x in queries if x["n_terms"] == L]
              [:args.explain_queries]]
        out["explain_analyze"] = []
        for q in ex:
            for k, op in OPS:
                out["explain_analyze"].append(
                    {"qid": q["qid"], "n_terms": q["n_terms"], "text": q["text"], "op": op,
                     "plan": explain_analyze(cur, sqls[k], {"q": q["text"]})})

        # filtered
        if args.filter_queries > 0:
            fq = pick_queries(args.filter_queries)
            fsqls = {"%s %s" % (k, f): op_sql(table, op, where)
                     for f, where in FILTERS for k, op in OPS}
            out["filter_sql"] = fsqls
            out["filter_qualifying"] = {f: scalar(cur, "SELECT count(*) FROM %s WHERE %s"
                                                  % (table, where)) for f, where in FILTERS}
            out["filter_plans"] = {}
            for e, s in fsqls.items():
                plan = _explain_json(cur, s, {"q": fq[0]["text"]})
                out["filter_plans"][e] = _plan_summary(plan["Plan"])
                log("plan %s: %s" % (e, out["filter_plans"][e]))
            for f, where in FILTERS:
                q = fq[len(fq) // 2]
                out["explain_analyze"].append(
                    {"qid": q["qid"], "n_terms": q["n_terms"], "text": q["text"],
                     "op": "<=> WHERE %s" % where,
                     "plan": explain_analyze(cur, fsqls["fused %s" % f], {"q": q["text"]})})
            out["uptime"].append(("filtered start", report.loadavg()))
            _, answers, out["filter_latency"] = timed_set(cl, list(fsqls), fsqls, fq, args,
                                                          args.ef_search)
            out["uptime"].append(("filtered end", report.loadavg()))
            out["filter_rows"] = {}
            for e, a in answers.items():
                counts = [len(v) for v in a.values()]
                short = sum(1 for c in counts if c < K)
                out["filter_rows"][e] = {"queries": len(counts), "min": min(counts),
                                         "median": float(np.median(counts)), "short": short}
                f = e.split()[1]
                if short and out["filter_qualifying"][f] >= K:
                    out["failures"].append("%s: %d of %d queries returned fewer than %d rows "
                                           "(%d rows qualify)" % (e, short, len(counts), K,
                                                                  out["filter_qualifying"][f]))
        if args.check_queries > 0:
            check_against_seqscan(cur, table, queries, args.check_queries, out)


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
OP_LABEL = {"bm25": "BM25 <@>", "fused": "fused <=>", "semantic": "semantic <~>"}


def _lat_rows(lat, label):
    rows = []
    for kind in ("wall", "cpu"):
        for e, a in lat.items():
            rows.append([label(e), kind] +
                        [_ms(a.get(L, {}).get(kind + "_median")) for L in LENGTHS] +
                        [_ms(a["all"][kind + "_median"]), _ms(a["all"][kind + "_p95"]),
                         "%.2f" % a["busy_cores"]])
    return rows


def render(results, markdown=False):
    s = results.get("hybrid_speed")
    if not s:
        return ""
    parts = ["Hybrid text index on %s: %d passages; extension %s; retrieval.ef_search %s; "
             "%d timed pass(es); cluster %s"
             % (s["table"], s["docs"], s["extension_version"], s.get("ef_search"), s["runs"],
                ", ".join("%s=%s" % kv for kv in s["cluster_gucs"].items()))]
    if s["builds"]:
        parts.append(report.table(
            ["build", "wall s", "passages/s", "leader CPU s", "busy CPUs", "workers launched",
             "index MiB", "load avg start / end"],
            [["max_parallel_maintenance_workers = %d" % b["workers"], "%.1f" % b["wall_s"],
              "%.0f" % b["rows_per_s"], "%.1f" % b["cpu_s"], "%.2f" % (b["busy_cores"] or 0),
              b["workers_launched"], "%.1f" % (b["index_bytes"] / 2**20),
              "%s / %s" % (b["load_start"], b["load_end"])] for b in s["builds"]], markdown))
    elif s.get("index_reused"):
        parts.append("index reused (%.1f MiB)" % (s["index_bytes"] / 2**20))
    headers = (["operator", "time"] + ["%d term%s median ms" % (L, "s" if L > 1 else "")
                                       for L in LENGTHS] + ["all median ms", "all p95 ms",
                                                            "busy CPUs"])
    if s.get("latency"):
        parts.append("ORDER BY ... LIMIT %d, the operators interleaved query by query "
                     "(wall = client, cpu = backend):" % K)
        parts.append(report.table(headers, _lat_rows(s["latency"], OP_LABEL.get), markdown))
        r, rc = s["ratio"], s["ratio_cpu"]
        parts.append("median(<=>) / median(<@>), wall: %s; cpu: %s (issue 6 target <= %.0fx: %s)"
                     % (", ".join("%s %.2fx" % (k if k == "all" else "%d terms" % k, r[k])
                                  for k in ["all"] + list(LENGTHS) if r[k]),
                        ", ".join("%s %.2fx" % (k if k == "all" else "%d terms" % k, rc[k])
                                  for k in ["all"] + list(LENGTHS) if rc[k]),
                        TARGET_RATIO, "met" if r["all"] and r["all"] <= TARGET_RATIO
                        else "NOT met"))
    if s.get("filter_latency"):
        parts.append("filtered (qualifying rows: %s):" % ", ".join(
            "%s %d" % kv for kv in s["filter_qualifying"].items()))
        lab = lambda e: "%s, %s" % (OP_LABEL[e.split()[0]], e.split()[1])
        parts.append(report.table(headers, _lat_rows(s["filter_latency"], lab), markdown))
        parts.append(report.table(
            ["query", "rows returned min / median", "queries with < %d rows" % K, "plan"],
            [[lab(e), "%d / %g" % (v["min"], v["median"]), v["short"], s["filter_plans"][e]]
             for e, v in s["filter_rows"].items()], markdown))
    if s.get("check"):
        parts.append("index scan vs sequential scan + sort: " + "; ".join(
            "%s %d/%d identical top-10, overlap %.3f, max |value diff| %.2g"
            % (OP_LABEL[k], v["identical"], v["queries"], v["overlap"], v["max_abs_diff"])
            for k, v in s["check"].items()))
    parts.append("load average: " + "; ".join("%s %s" % u for u in s["uptime"]))
    for f in s["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)
