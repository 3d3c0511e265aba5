"""The `hnsw` benchmark: the retrieval access method's HNSW index.

hnsw   on ann/glove100-200k (cosine, vector_cosine_ops) and Fashion-MNIST
       (L2, vector_l2_ops; vectors from Debian's dataset-fashion-mnist):
       build time serial and with parallel workers (--build-workers,
       interleaved, --build-runs times), index size, and for several
       retrieval.ef_search values recall@10 against the ground truth,
       median/p95 wall ms,
       median/p95 backend CPU ms per query (schedstat) and queries/s on
       one client; filtered GloVe queries at 10% and 1% selectivity (rows
       returned, recall@10 against the exact filtered top-10, latency of
       the default, the forced HNSW and the forced exact btree plan); and
       shared-buffer accesses per query (EXPLAIN (ANALYZE, BUFFERS)).

Everything runs in one throwaway cluster; GloVe first, then its tables are
dropped and Fashion-MNIST is loaded.  See docs/benchmarks.md, "HNSW index".
"""
import json
import os
import re
import time

import numpy as np

from . import report
from .cluster import Cluster
from .data import copy_vectors, read_fvecs, read_idx, read_ivecs, vector_literal
from .paths import Skip, data_path, log
from .timing import BackendClock, BusyAccumulator, MachineBusy, median_of_runs, summarize, \
    wait_for_quiet

K = 10
GLOVE = ("ann", "glove100-200k")
FMNIST_GT = ("ann", "fashion-mnist")
FMNIST_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
FMNIST_BASE = "train-images-idx3-ubyte.gz"
FMNIST_QUERIES = "t10k-images-idx3-ubyte.gz"

# shared_buffers holds table + index (GloVe ~87 MB + index; Fashion-MNIST
# ~190 MB of TOASTed vectors + index), so queries measure the graph, not
# copies from the OS page cache.  maintenance_work_mem large enough for the
# in-memory build of either graph (no fallback to the insert path).
# Builds run with the worker counts of --build-workers (SET
# max_parallel_maintenance_workers per build; the cluster default is 0, so
# anything else is explicit).  Queries run with max_parallel_workers_per_gather = 0 (a
# per-core figure; it only matters for the exact filtered plans).
CLUSTER_GUCS = {"shared_buffers": "1GB", "maintenance_work_mem": "2GB",
                "max_parallel_maintenance_workers": "0", "jit": "off"}

# pgvector 0.8.6 on this class of machine (issue 3): ef -> (recall@10, backend CPU ms)
PGVECTOR = {
    "glove": {"ef": {20: (0.935, 0.80), 40: (0.971, 1.20), 80: (0.988, 1.90), 200: (0.996, 3.62)},
              "build_s": (94, 110), "build_s_workers": {"1": (68, 71)}, "index_mib": 142,
              "target_cpu_ms": 0.40, "target_build_s": 50, "target_index_mib": 71},
    "fmnist": {"ef": {20: (0.988, 0.76), 40: (0.995, 1.04), 80: (0.998, 1.49)},
               "build_s": (26, 32), "index_mib": 234,
               "target_cpu_ms": 0.25, "target_build_s": 14, "target_index_mib": 117},
}


def register(subparsers):
    p = subparsers.add_parser("hnsw", help="HNSW index: build, recall/latency, filters, buffers",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--parts", default="glove,filtered,buffers,fmnist",
                   help="comma-separated subset of glove,filtered,buffers,fmnist "
                        "(default all; filtered/buffers need glove's index)")
    p.add_argument("--runs", type=int, default=2,
                   help="repeat each query measurement this many times (default 2); "
                        "figures are medians over runs")
    p.add_argument("--queries", type=int, default=1000,
                   help="queries per run for recall/latency (default 1000)")
    p.add_argument("--glove-ef", default="20,40,80,200")
    p.add_argument("--fmnist-ef", default="20,40,80")
    p.add_argument("--filter-queries", type=int, default=100)
    p.add_argument("--filter-ef", type=int, default=40)
    p.add_argument("--buffer-queries", type=int, default=10)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--quantization", default="sq8,none,binary",
                   help="comma-separated quantization modes to build and measure, one index "
                        "at a time on the same table (default sq8,none,binary); the first "
                        "one's index is kept for the filtered and buffer parts")
    p.add_argument("--build-workers", default="0,1",
                   help="comma-separated max_parallel_maintenance_workers values to time the "
                        "build with (default 0,1); the first one's index is the one queried")
    p.add_argument("--build-runs", type=int, default=1,
                   help="time each build this many times, interleaving the worker counts "
                        "(default 1); figures are medians")
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each run wait up to SECONDS for the machine to be idle")
    p.add_argument("--keep-cluster", action="store_true")
    p.set_defaults(func=cmd_hnsw)


def _ints(s):
    return [int(x) for x in s.split(",") if x.strip()]


def _scalar(cur, sql, params=None):
    cur.execute(sql, params)
    return cur.fetchone()[0]


# ----------------------------------------------------------------------------
# exact references (numpy, float64)
# ----------------------------------------------------------------------------
def _normalize(a):
    a = a.astype(np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _distances(base64, q64, metric):
    """float64 distances of the queries (rows) to every base row; cosine
    expects unit-length inputs, l2 gives squared L2."""
    if metric == "cosine":
        return 1.0 - q64 @ base64.T
    bn = (base64 * base64).sum(1)
    return bn[None, :] - 2.0 * (q64 @ base64.T) + (q64 * q64).sum(1)[:, None]


def exact_reference(base, queries, metric, chunk=100):
    """Per query: the exact top-10 ids (numpy) and the 10th distance (for
    tie-aware recall)."""
    b = _normalize(base) if metric == "cosine" else base.astype(np.float64)
    qs = _normalize(queries) if metric == "cosine" else queries.astype(np.float64)
    top, kth = [], []
    for s in range(0, len(qs), chunk):
        d = _distances(b, qs[s:s + chunk], metric)
        part = np.argpartition(d, K, axis=1)[:, :K + 1]
        for i in range(d.shape[0]):
            row = d[i]
            ids = part[i][np.argsort(row[part[i]], kind="stable")]
            top.append(ids[:K])
            kth.append(row[ids[K - 1]])
    return b, qs, np.array(top), np.array(kth)


def _recalls(results, gt, b64, q64, kth, metric):
    """Strict recall@10 vs gt, tie-aware recall (a returned id also counts
    when its exact distance is within 1e-6 of the 10th nearest's; relative
    for L2), and the number of queries returning fewer than 10 rows."""
    strict, ties, short = [], [], 0
    for i, ids in enumerate(results):
        short += len(ids) < K
        strict.append(len(set(ids) & set(gt[i].tolist())) / K)
        if ids:
            d = _distances(b64[ids], q64[i:i + 1], metric)[0]
            tol = 1e-6 if metric == "cosine" else 1e-6 * max(1.0, kth[i])
            ties.append(min(K, int((d <= kth[i] + tol).sum())) / K)
        else:
            ties.append(0.0)
    return float(np.mean(strict)), float(np.mean(ties)), short


# ----------------------------------------------------------------------------
# loading and building
# ----------------------------------------------------------------------------
def _prewarm(cur, rels):
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for r in rels:
            cur.execute("SELECT pg_prewarm(%s)", (r,))
        return True
    except Exception as e:   # contrib absent: the warm-up queries do it
        log("pg_prewarm unavailable: %s" % str(e).splitlines()[0])
        cur.connection.rollback() if not cur.connection.autocommit else None
        return False


def load_table(conn, cur, table, base, extra_cols=""):
    n, dim = base.shape
    cur.execute("CREATE TABLE %s (id int, v vector(%d)%s)" % (table, dim, extra_cols))
    log("loading %d x %d vectors into %s (binary COPY)" % (n, dim, table))
    t0 = time.perf_counter()
    copy_vectors(conn, table, base)
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
    vac_s = time.perf_counter() - t0
    assert _scalar(cur, "SELECT count(*) FROM %s" % table) == n
    return {"rows": n, "dim": dim, "copy_s": copy_s, "vacuum_analyze_s": vac_s,
            "table_mib": _scalar(cur, "SELECT pg_total_relation_size(%s)", (table,)) / 2**20}


LAUNCHED = re.compile(r"parallel build of HNSW index \S+: (\d+) of (\d+) workers launched")


def build_index(conn, cur, table, opclass, m, efc, quantization="none", workers=0):
    """One CREATE INDEX with max_parallel_maintenance_workers = workers.
    cpu_s is the leader backend's CPU only (workers are other processes)."""
    name = "%s_hnsw_%s" % (table, quantization)
    sql = ("CREATE INDEX %s ON %s USING retrieval (v %s) WITH (m = %d, ef_construction = %d, "
           "quantization = '%s')" % (name, table, opclass, m, efc, quantization))
    cur.execute("SET max_parallel_maintenance_workers = %d" % workers)
    # core sizes the worker count by the main fork alone, which is small when
    # the vectors are TOASTed (Fashion-MNIST's 784 dimensions): 0 workers
    # otherwise.  The number launched is recorded below.
    cur.execute("SET min_parallel_table_scan_size = 0")
    # the build's DEBUG1 line says how many workers were launched
    cur.execute("SET client_min_messages = debug1")
    log("building (max_parallel_maintenance_workers = %d): %s" % (workers, sql))
    clock = BackendClock(conn)
    del conn.notices[:]
    busy = MachineBusy()
    _, wall, cpu = clock.run(cur, sql)
    cur.execute("RESET client_min_messages")
    size = _scalar(cur, "SELECT pg_relation_size(%s)", (name,))
    launched = [int(mt.group(1)) for mt in map(LAUNCHED.search, conn.notices) if mt]
    out = {"sql": sql, "index": name, "wall_s": wall / 1000, "cpu_s": (cpu or 0) / 1000,
           "busy_cores": busy.cores(), "index_bytes": size, "index_mib": size / 2**20,
           "notices": [x.strip() for x in conn.notices if not x.startswith("DEBUG")],
           "workers_launched": launched[0] if launched else 0,
           "uptime_load": os.getloadavg(),
           "maintenance_work_mem": _scalar(cur, "SHOW maintenance_work_mem"),
           "max_parallel_maintenance_workers":
               _scalar(cur, "SHOW max_parallel_maintenance_workers")}
    cur.execute("RESET max_parallel_maintenance_workers")
    cur.execute("RESET min_parallel_table_scan_size")
    log("built in %.1f s (leader CPU %.1f s, %d workers launched), %.1f MiB, load %.2f"
        % (out["wall_s"], out["cpu_s"], out["workers_launched"], out["index_mib"],
           out["uptime_load"][0]))
    cur.execute("ANALYZE %s" % table)
    return out


def timed_builds(conn, cur, table, opclass, args, mode):
    """Build --build-runs times per --build-workers value, interleaved, the
    first worker count last so that its index is kept.  Returns (the kept
    build, {workers: [builds]})."""
    workers = _ints(args.build_workers)
    order = [w for _ in range(args.build_runs) for w in reversed(workers)]
    builds = {w: [] for w in workers}
    b = None
    for i, w in enumerate(order):
        b = build_index(conn, cur, table, opclass, args.m, args.ef_construction, mode, w)
        builds[w].append(b)
        if i < len(order) - 1:
            cur.execute("DROP INDEX %s" % b["index"])
    return b, builds


# ----------------------------------------------------------------------------
# recall / latency over ef_search, interleaved
# ----------------------------------------------------------------------------
def measure_ef(conn, cur, sql, literals, efs, runs, ref, metric, quiet_wait):
    """Per run: every query at every ef (order rotating per query), then a
    throughput pass per ef (all queries back to back, one client)."""
    gt, b64, q64, kth = ref
    clock = BackendClock(conn)
    per = {ef: [] for ef in efs}
    n = len(literals)
    for run in range(runs):
        waited = wait_for_quiet(quiet_wait)
        log("run %d/%d: %d queries x ef %s" % (run + 1, runs, n, efs))
        data = {ef: {"walls": [], "cpus": [], "ids": [], "busy": BusyAccumulator()}
                for ef in efs}
        for ef in efs:                                # warm-up, not timed
            cur.execute("SET retrieval.ef_search = %d" % ef)
            for lit in literals[:5]:
                cur.execute(sql, (lit,))
                cur.fetchall()
        for qi, lit in enumerate(literals):
            shift = (qi + run) % len(efs)
            for ef in efs[shift:] + efs[:shift]:
                cur.execute("SET retrieval.ef_search = %d" % ef)
                d = data[ef]
                d["busy"].start()
                rows, wall, cpu = clock.run(cur, sql, (lit,))
                d["busy"].stop()
                d["walls"].append(wall)
                d["cpus"].append(cpu)
                d["ids"].append([r[0] for r in rows])
        for ef in efs:
            d = data[ef]
            cur.execute("SET retrieval.ef_search = %d" % ef)
            b = MachineBusy()
            c0 = clock.cpu_ns()
            t0 = time.perf_counter()
            for lit in literals:
                cur.execute(sql, (lit,))
                cur.fetchall()
            elapsed = time.perf_counter() - t0
            c1 = clock.cpu_ns()
            strict, ties, short = _recalls(d["ids"], gt, b64, q64, kth, metric)
            w, c = summarize(d["walls"]), summarize(d["cpus"])
            per[ef].append({
                "recall": strict, "recall_ties": ties, "short_results": short,
                "wall_median": w["median"], "wall_p95": w["p95"],
                "cpu_median": c["median"] if c else None, "cpu_p95": c["p95"] if c else None,
                "qps": n / elapsed,
                "throughput_cpu_ms": None if c0 is None else (c1 - c0) / 1e6 / n,
                "throughput_busy_cores": b.cores(),
                "busy_cores": d["busy"].cores(), "quiet_wait_s": waited,
                # per query (JSON only): recall@10 and backend CPU ms
                "pq_recall": [len(set(ids) & set(gt[i].tolist())) / K
                              for i, ids in enumerate(d["ids"])],
                "pq_cpu": d["cpus"]})
    cur.execute("RESET retrieval.ef_search")
    out = []
    for ef in efs:
        e = {"ef": ef, "per_run": per[ef]}
        for stat in per[ef][0]:
            if stat != "quiet_wait_s" and not stat.startswith("pq_"):
                e[stat] = median_of_runs(per[ef], stat)
        out.append(e)
    return out


# ----------------------------------------------------------------------------
# EXPLAIN helpers
# ----------------------------------------------------------------------------
def _explain_json(cur, sql, params, analyze=False):
    opts = "ANALYZE, BUFFERS, TIMING OFF, " if analyze else ""
    cur.execute("EXPLAIN (%sFORMAT JSON) %s" % (opts, sql), params)
    v = cur.fetchone()[0]
    return (json.loads(v) if isinstance(v, str) else v)[0]


def _explain_text(cur, sql, params):
    cur.execute("EXPLAIN " + sql, params)
    return [r[0] for r in cur.fetchall()]


def _indexes_used(plan):
    names, stack = set(), [plan]
    while stack:
        p = stack.pop()
        if "Index Name" in p:
            names.add(p["Index Name"])
        stack.extend(p.get("Plans", []))
    return names


def _node_buffers(plan, node_type):
    stack = [plan]
    while stack:
        p = stack.pop()
        if p["Node Type"] == node_type:
            return p.get("Shared Hit Blocks", 0) + p.get("Shared Read Blocks", 0)
        stack.extend(p.get("Plans", []))
    return None


def _rows_removed(plan):
    """Rows the scan node under the Limit discarded (Filter / Recheck)."""
    n, stack = 0, [plan]
    while stack:
        p = stack.pop()
        n += p.get("Rows Removed by Filter", 0) + p.get("Rows Removed by Index Recheck", 0)
        stack.extend(p.get("Plans", []))
    return n


def buffers_per_query(cur, sql, literals, ef, settings=""):
    """Shared buffer hits/reads of EXPLAIN (ANALYZE, BUFFERS) per query."""
    cur.execute("SET retrieval.ef_search = %d" % ef)
    if settings:
        cur.execute(settings)
    rows = []
    for lit in literals:
        e = _explain_json(cur, sql, (lit,), analyze=True)
        top = e["Plan"]
        rows.append({"hit": top.get("Shared Hit Blocks", 0),
                     "read": top.get("Shared Read Blocks", 0),
                     "index_scan": _node_buffers(top, "Index Scan"),
                     "planning_hit": e.get("Planning", {}).get("Shared Hit Blocks", 0),
                     "rows": top.get("Actual Rows")})
    cur.execute("RESET ALL")
    return rows


# ----------------------------------------------------------------------------
# filtered GloVe
# ----------------------------------------------------------------------------
FILTER_SQL = "SELECT id FROM items WHERE %s = %%s ORDER BY v <=> %%s::vector LIMIT 10"
FILTER_CONFIGS = {
    # planner's choice, with the btree present
    "default": "SET enable_seqscan = on; SET enable_bitmapscan = on; SET enable_indexscan = on; "
               "SET enable_sort = on",
    # the HNSW index scan with the filter on top: every other plan needs a Sort
    "hnsw": "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexscan = on; "
            "SET enable_sort = off",
    # exact: the btree finds the rows (bitmap scan), then a top-N sort
    "exact": "SET enable_seqscan = off; SET enable_bitmapscan = on; SET enable_indexscan = off; "
             "SET enable_sort = on",
}


def run_filtered(conn, cur, base, queries, args, out):
    nq = min(args.filter_queries, len(queries))
    cur.execute("SELECT id, c10, c100 FROM items ORDER BY id")
    cats = np.array(cur.fetchall(), dtype=np.int64)
    assert (cats[:, 0] == np.arange(len(base))).all()
    for col in ("c10", "c100"):
        cur.execute("CREATE INDEX items_%s ON items (%s)" % (col, col))
    cur.execute("ANALYZE items")
    b64 = _normalize(base)
    q64 = _normalize(queries[:nq])
    lits = [vector_literal(q) for q in queries[:nq]]
    clock = BackendClock(conn)
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET retrieval.ef_search = %d" % args.filter_ef)
    res = {"ef_search": args.filter_ef, "queries": nq, "sets": []}
    for col, mod, label in (("c10", 10, "10%"), ("c100", 100, "1%")):
        sql = FILTER_SQL % col
        values = [qi % mod for qi in range(nq)]
        # exact filtered answers (numpy, float64)
        exact, kth = [], []
        for qi in range(nq):
            idx = np.nonzero(cats[:, 2 if col == "c100" else 1] == values[qi])[0]
            d = 1.0 - b64[idx] @ q64[qi]
            o = np.argsort(d, kind="stable")[:K]
            exact.append(idx[o])
            kth.append(d[o[-1]])
        sel = float(np.mean([(cats[:, 2 if col == "c100" else 1] == v).mean()
                             for v in sorted(set(values))]))
        entry = {"filter": "%s = X (X = query number mod %d)" % (col, mod), "label": label,
                 "selectivity": sel, "sql": sql % ("X", "'<query>'"), "configs": {}}
        # plans
        plans, default_idx = {}, {}
        for name, sets in FILTER_CONFIGS.items():
            cur.execute(sets)
            plans[name] = [l for l in _explain_text(cur, sql, (values[0], lits[0]))]
            plans[name] = [l if len(l) < 200 else l[:120] + "...]'::vector))" for l in plans[name]]
        cur.execute(FILTER_CONFIGS["default"])
        for qi in range(nq):
            used = _indexes_used(_explain_json(cur, sql, (values[qi], lits[qi]))["Plan"])
            key = ",".join(sorted(used)) or "(no index)"
            default_idx[key] = default_idx.get(key, 0) + 1
        entry["plans"] = plans
        entry["default_plan_indexes"] = default_idx
        per = {name: [] for name in FILTER_CONFIGS}
        names = list(FILTER_CONFIGS)
        for run in range(args.runs):
            wait_for_quiet(args.quiet_wait)
            log("filtered %s run %d/%d: %d queries x %s" % (label, run + 1, args.runs, nq, names))
            data = {nm: {"walls": [], "cpus": [], "ids": []} for nm in names}
            for nm in names:                          # warm-up
                cur.execute(FILTER_CONFIGS[nm])
                for qi in range(3):
                    cur.execute(sql, (values[qi], lits[qi]))
                    cur.fetchall()
            for qi in range(nq):
                shift = (qi + run) % len(names)
                for nm in names[shift:] + names[:shift]:
                    cur.execute(FILTER_CONFIGS[nm])
                    rows, wall, cpu = clock.run(cur, sql, (values[qi], lits[qi]))
                    d = data[nm]
                    d["walls"].append(wall)
                    d["cpus"].append(cpu)
                    d["ids"].append([r[0] for r in rows])
            for nm in names:
                d = data[nm]
                strict, ties, nrows = [], [], []
                for qi, ids in enumerate(d["ids"]):
                    nrows.append(len(ids))
                    strict.append(len(set(ids) & set(exact[qi].tolist())) / K)
                    if ids:
                        dd = 1.0 - b64[ids] @ q64[qi]
                        ties.append(min(K, int((dd <= kth[qi] + 1e-6).sum())) / K)
                    else:
                        ties.append(0.0)
                w, c = summarize(d["walls"]), summarize(d["cpus"])
                per[nm].append({"rows_mean": float(np.mean(nrows)), "rows_min": int(min(nrows)),
                                "recall": float(np.mean(strict)),
                                "recall_ties": float(np.mean(ties)),
                                "wall_median": w["median"], "wall_p95": w["p95"],
                                "cpu_median": c["median"] if c else None,
                                "cpu_p95": c["p95"] if c else None})
        for nm in names:
            e = {"per_run": per[nm]}
            for stat in per[nm][0]:
                e[stat] = median_of_runs(per[nm], stat)
            entry["configs"][nm] = e
        # buffers of a few queries, HNSW and exact
        entry["buffers"] = {}
        for nm in ("hnsw", "exact"):
            cur.execute(FILTER_CONFIGS[nm])
            bl, removed = [], []
            for qi in range(min(args.buffer_queries, nq)):
                e = _explain_json(cur, sql, (values[qi], lits[qi]), analyze=True)
                bl.append(e["Plan"].get("Shared Hit Blocks", 0) +
                          e["Plan"].get("Shared Read Blocks", 0))
                removed.append(_rows_removed(e["Plan"]))
            entry["buffers"][nm] = bl
            entry.setdefault("rows_removed_by_filter", {})[nm] = removed
        res["sets"].append(entry)
    cur.execute("RESET ALL")
    out["filtered"] = res


# ----------------------------------------------------------------------------
# the subcommand
# ----------------------------------------------------------------------------
def cmd_hnsw(args, results):
    parts = set(args.parts.split(","))
    unknown = parts - {"glove", "filtered", "buffers", "fmnist"}
    if unknown:
        raise SystemExit("unknown --parts: %s" % ", ".join(sorted(unknown)))
    args.glove_sweep = "glove" in parts
    if parts & {"filtered", "buffers"}:
        parts.add("glove")
    gdir = fmnist_gt = None
    if "glove" in parts:
        gdir = data_path(*GLOVE, required=("base.fvecs", "queries.fvecs",
                                           "groundtruth.cosine.top100.ivecs"))
    if "fmnist" in parts:
        fmnist_gt = os.path.join(data_path(*FMNIST_GT, required=("groundtruth.l2.top100.ivecs",)),
                                 "groundtruth.l2.top100.ivecs")
        for f in (FMNIST_BASE, FMNIST_QUERIES):
            if not os.path.exists(os.path.join(FMNIST_DIR, f)):
                raise Skip("Fashion-MNIST not found: %s (apt-get install dataset-fashion-mnist)"
                           % os.path.join(FMNIST_DIR, f))
    out = {"cluster_gucs": CLUSTER_GUCS, "m": args.m, "ef_construction": args.ef_construction,
           "runs": args.runs, "failures": []}
    results["hnsw"] = out
    with Cluster(gucs=CLUSTER_GUCS, keep=args.keep_cluster) as cl:
        conn = cl.create_database("bench")
        cur = conn.cursor()
        out["server_version"] = _scalar(cur, "SHOW server_version")
        out["shared_buffers"] = _scalar(cur, "SHOW shared_buffers")
        if "glove" in parts:
            run_glove(conn, cur, gdir, parts, args, out)
            cur.execute("DROP TABLE items")
        if "fmnist" in parts:
            run_fmnist(conn, cur, fmnist_gt, args, out)
        conn.close()
    for key in ("glove", "fmnist"):
        s = out.get(key)
        for mode, qs in (s or {}).get("quant", {}).items():
            for e in qs["ef"]:
                if e["short_results"]["max"] > 0:
                    out["failures"].append("%s %s ef %d: %d queries returned fewer than 10 rows"
                                           % (key, mode, e["ef"], e["short_results"]["max"]))
    f = out.get("filtered")
    if f:
        for s in f["sets"]:
            for nm, e in s["configs"].items():
                if e["rows_min"]["min"] < K:
                    out["failures"].append("filtered %s, %s plan: a query returned %d rows"
                                           % (s["label"], nm, e["rows_min"]["min"]))


def _run_set(conn, cur, key, table, base, queries, gt, metric, opclass, efs, parts, args, out):
    nq = min(args.queries, len(queries))
    log("exact reference for %d queries (numpy)" % nq)
    b64, q64, top, kth = exact_reference(base, queries[:nq], metric)
    gt = gt[:nq, :K]
    agree = int(sum(set(top[i].tolist()) == set(gt[i].tolist()) for i in range(nq)))
    s = {"table": table, "queries": nq, "metric": metric, "opclass": opclass,
         "gt_agrees_with_numpy": agree}
    s["load"] = load_table(conn, cur, table, base,
                           ", c10 int GENERATED ALWAYS AS ((hashint4(id) & 2147483647) % 10) STORED"
                           ", c100 int GENERATED ALWAYS AS ((hashint4(id) & 2147483647) % 100) "
                           "STORED" if key == "glove" else "")
    op = "<=>" if metric == "cosine" else "<->"
    sql = "SELECT id FROM %s ORDER BY v %s %%s::vector LIMIT 10" % (table, op)
    s["sql"] = sql % "'<query>'"
    lits = [vector_literal(q) for q in queries[:nq]]
    modes = args.quantization.split(",")
    s["quant"] = {}
    # the first mode is measured last and its index kept (filtered part)
    for i, mode in enumerate(reversed(modes)):
        qs = {}
        qs["build"], builds = timed_builds(conn, cur, table, opclass, args, mode)
        qs["builds"] = {str(w): {"wall_s": [x["wall_s"] for x in bl],
                                 "wall_s_median": float(np.median([x["wall_s"] for x in bl])),
                                 "workers_launched": [x["workers_launched"] for x in bl],
                                 "load": [x["uptime_load"][0] for x in bl],
                                 "index_mib": [x["index_mib"] for x in bl],
                                 "notices": sorted({n for x in bl for n in x["notices"]})}
                        for w, bl in builds.items()}
        qs["build"]["bytes_per_vector"] = qs["build"]["index_bytes"] / len(base)
        qs["prewarm"] = _prewarm(cur, [table, qs["build"]["index"]])
        s["table_mib_after"] = _scalar(cur, "SELECT pg_total_relation_size(%s)", (table,)) / 2**20
        cur.execute("SET max_parallel_workers_per_gather = 0")
        plan = _explain_text(cur, sql, (lits[0],))
        qs["plan"] = [l if len(l) < 200 else l[:120] + "...]'::vector))" for l in plan]
        if not any(qs["build"]["index"] in l for l in plan):
            out["failures"].append("%s %s: the plan does not use the HNSW index" % (key, mode))
        qs["ef"] = [] if key == "glove" and not args.glove_sweep else \
            measure_ef(conn, cur, sql, lits, efs, args.runs, (gt, b64, q64, kth), metric,
                       args.quiet_wait)
        if "buffers" in parts:
            qs["buffers_ef40"] = buffers_per_query(cur, sql, lits[:args.buffer_queries], 40)
        cur.execute("RESET ALL")
        s["quant"][mode] = qs
        if i < len(modes) - 1:
            cur.execute("DROP INDEX %s" % qs["build"]["index"])
    for k in ("build", "prewarm", "plan", "ef", "buffers_ef40"):
        if k in s["quant"][modes[0]]:
            s[k] = s["quant"][modes[0]][k]
    cur.execute("RESET ALL")
    out[key] = s
    return s


def run_glove(conn, cur, gdir, parts, args, out):
    log("reading %s" % gdir)
    base = read_fvecs(os.path.join(gdir, "base.fvecs"))
    queries = read_fvecs(os.path.join(gdir, "queries.fvecs"))
    gt = read_ivecs(os.path.join(gdir, "groundtruth.cosine.top100.ivecs"))
    _run_set(conn, cur, "glove", "items", base, queries, gt, "cosine", "vector_cosine_ops",
             _ints(args.glove_ef), parts, args, out)
    out["glove"]["dataset"] = "/".join(GLOVE)
    if "filtered" in parts:
        run_filtered(conn, cur, base, queries, args, out)


def run_fmnist(conn, cur, gt_path, args, out):
    log("reading %s" % FMNIST_DIR)
    base = read_idx(os.path.join(FMNIST_DIR, FMNIST_BASE)).reshape(60000, -1).astype(np.float32)
    queries = read_idx(os.path.join(FMNIST_DIR, FMNIST_QUERIES)).reshape(10000, -1) \
        .astype(np.float32)
    gt = read_ivecs(gt_path)
    if gt.shape[0] != len(queries):
        raise RuntimeError("%s has %d rows, expected %d" % (gt_path, gt.shape[0], len(queries)))
    _run_set(conn, cur, "fmnist", "fmnist", base, queries, gt, "l2", "vector_l2_ops",
             _ints(args.fmnist_ef), {"buffers"}, args, out)
    out["fmnist"]["dataset"] = "%s/{%s,%s} + %s" % (FMNIST_DIR, FMNIST_BASE, FMNIST_QUERIES,
                                                    gt_path)


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def _f(stat, digits=2, unit=""):
    return report.fmt_spread(stat, digits, unit)


def ef_table(s, markdown):
    headers = ["ef_search", "recall@10", "recall@10 (ties)", "short results", "wall median ms",
               "wall p95 ms", "CPU median ms", "CPU p95 ms", "queries/s (1 client)",
               "busy CPUs"]
    rows = [[str(e["ef"]), _f(e["recall"], 4), _f(e["recall_ties"], 4),
             "%d" % e["short_results"]["max"],
             _f(e["wall_median"], 3), _f(e["wall_p95"], 3), _f(e["cpu_median"], 3),
             _f(e["cpu_p95"], 3), _f(e["qps"], 0), _f(e["busy_cores"], 2)] for e in s["ef"]]
    return report.table(headers, rows, markdown)


def _mode_sets(out):
    """(set, quantization, per-mode results) for every measured index."""
    for key in ("glove", "fmnist"):
        s = out.get(key)
        if not s:
            continue
        for mode, qs in s.get("quant", {"none": s}).items():
            yield key, mode, qs


def comparison_table(out, markdown):
    headers = ["set", "quantization", "ef_search", "recall@10 ours", "recall@10 pgvector",
               "CPU ms ours", "CPU ms pgvector", "ours / pgvector", "target CPU ms",
               "ours / target"]
    rows = []
    for key, mode, s in _mode_sets(out):
        ref = PGVECTOR[key]
        for e in s["ef"]:
            pr = ref["ef"].get(e["ef"])
            cpu = e["cpu_median"]["median"]
            rows.append([key, mode, str(e["ef"]), "%.3f" % e["recall"]["median"],
                         "%.3f" % pr[0] if pr else "-", "%.3f" % cpu,
                         "%.2f" % pr[1] if pr else "-",
                         "%.2fx" % (cpu / pr[1]) if pr else "-",
                         "%.2f" % ref["target_cpu_ms"], "%.2fx" % (cpu / ref["target_cpu_ms"])])
    headers2 = ["set", "quantization", "build s ours (serial)", "build s pgvector (serial)",
                "ours / pgvector", "target s", "index MiB ours", "index MiB pgvector",
                "ours / pgvector", "target MiB"]
    rows2 = []
    for key, mode, s in _mode_sets(out):
        ref, b = PGVECTOR[key], s["build"]
        # the median of the serial builds when several were timed
        wall = s["builds"]["0"]["wall_s_median"] if "0" in s.get("builds", {}) else b["wall_s"]
        rows2.append([key, mode, "%.1f" % wall, "%d-%d" % ref["build_s"],
                      "%.2f-%.2fx" % (wall / ref["build_s"][1], wall / ref["build_s"][0]),
                      "%d" % ref["target_build_s"], "%.1f" % b["index_mib"],
                      "%d" % ref["index_mib"], "%.2fx" % (b["index_mib"] / ref["index_mib"]),
                      "%d" % ref["target_index_mib"]])
    return report.table(headers, rows, markdown) + "\n\n" + report.table(headers2, rows2,
                                                                        markdown)


def build_table(out, markdown):
    """Build wall time per worker count (medians over --build-runs, measured
    interleaved in one run) and the ratio to the serial build's (or to the
    first worker count's when no serial build was timed)."""
    headers = ["set", "quantization", "max_parallel_maintenance_workers", "workers launched",
               "build s (median)", "runs (s)", "load avg (1 min) at each build",
               "ratio to serial", "pgvector s", "index MiB"]
    rows = []
    for key, mode, s in _mode_sets(out):
        builds = s.get("builds")
        if not builds:
            continue
        first = builds["0"]["wall_s_median"] if "0" in builds else \
            next(iter(builds.values()))["wall_s_median"]
        ref = PGVECTOR[key].get("build_s_workers", {})
        ref = dict(ref, **{"0": PGVECTOR[key]["build_s"]})
        for w, b in builds.items():
            rows.append([key, mode, w, ",".join(str(x) for x in b["workers_launched"]),
                         "%.1f" % b["wall_s_median"],
                         ", ".join("%.1f" % x for x in b["wall_s"]),
                         ", ".join("%.2f" % x for x in b["load"]),
                         "%.2f" % (b["wall_s_median"] / first),
                         "%d-%d" % ref[w] if w in ref else "-",
                         ", ".join("%.1f" % x for x in b["index_mib"])])
    return report.table(headers, rows, markdown) if rows else ""


def filtered_table(f, markdown):
    headers = ["selectivity", "plan", "rows returned (mean, min)", "recall@10", "recall@10 (ties)",
               "wall median ms", "wall p95 ms", "CPU median ms", "CPU p95 ms",
               "shared buffers/query (median)", "rows removed by filter (median)"]
    rows = []
    for s in f["sets"]:
        for nm, e in s["configs"].items():
            bl = s["buffers"].get(nm)
            rows.append(["%s (%.2f%%)" % (s["label"], 100 * s["selectivity"]), nm,
                         "%.2f, %d" % (e["rows_mean"]["median"], e["rows_min"]["min"]),
                         _f(e["recall"], 3), _f(e["recall_ties"], 3),
                         _f(e["wall_median"], 2), _f(e["wall_p95"], 2),
                         _f(e["cpu_median"], 2), _f(e["cpu_p95"], 2),
                         "%.0f" % np.median(bl) if bl else "-",
                         "%.0f" % np.median(s.get("rows_removed_by_filter", {}).get(nm))
                         if s.get("rows_removed_by_filter", {}).get(nm) else "-"])
    return report.table(headers, rows, markdown)


def _buffers_line(name, bl):
    hits = [b["hit"] for b in bl]
    reads = [b["read"] for b in bl]
    idx = [b["index_scan"] for b in bl if b["index_scan"] is not None]
    return ("%s, ef_search 40, %d queries: shared hit per query median %.0f (min %d, max %d), "
            "read %d total; of which the index scan node %.0f; planning hits median %.0f"
            % (name, len(bl), np.median(hits), min(hits), max(hits), sum(reads),
               np.median(idx) if idx else float("nan"),
               np.median([b["planning_hit"] for b in bl])))


def render(results, markdown=False):
    out = results.get("hnsw")
    if not out:
        return ""
    parts = ["HNSW (m = %d, ef_construction = %d); cluster settings %s; queries with "
             "max_parallel_workers_per_gather = 0; %d runs per measurement (median across runs, "
             "min-max in parentheses)"
             % (out["m"], out["ef_construction"],
                ", ".join("%s=%s" % kv for kv in out["cluster_gucs"].items()), out["runs"])]
    for key, title in (("glove", "GloVe-200k, cosine"), ("fmnist", "Fashion-MNIST, L2")):
        s = out.get(key)
        if not s:
            continue
        ld = s["load"]
        parts.append("%s: %s, %d x %d, %d queries; ground truth agrees with numpy's float64 "
                     "top-10 on %d/%d queries" % (title, s["dataset"], ld["rows"], ld["dim"],
                                                  s["queries"], s["gt_agrees_with_numpy"],
                                                  s["queries"]))
        for mode, qs in s.get("quant", {"none": s}).items():
            b = qs["build"]
            parts.append("quantization = '%s'. load: binary COPY %.1f s, VACUUM (FREEZE, ANALYZE) "
                         "%.1f s, table %.1f MiB (with TOAST); build of the queried index ("
                         "max_parallel_maintenance_workers=%s, maintenance_work_mem=%s): %.1f s "
                         "wall, %.1f s backend CPU, busy CPUs %.2f; index %.1f MiB (%.0f "
                         "bytes/vector)%s"
                         % (mode, ld["copy_s"], ld["vacuum_analyze_s"], ld["table_mib"],
                            b["max_parallel_maintenance_workers"], b["maintenance_work_mem"],
                            b["wall_s"], b["cpu_s"], b["busy_cores"], b["index_mib"],
                            b["bytes_per_vector"],
                            "; notices: " + " | ".join(b["notices"]) if b["notices"] else ""))
            parts.append(ef_table(qs, markdown))
            if qs.get("buffers_ef40"):
                parts.append(_buffers_line("%s, %s" % (title, mode), qs["buffers_ef40"]))
            parts.append("plan:\n" + "\n".join("    " + l for l in qs["plan"]))
    if out.get("glove") or out.get("fmnist"):
        parts.append("against pgvector 0.8.6 (issue 3's reference figures) and the targets:")
        parts.append(comparison_table(out, markdown))
        bt = build_table(out, markdown)
        if bt:
            parts.append("build time by max_parallel_maintenance_workers (the builds of one set "
                         "interleaved; wall time; the index of the first --build-workers value "
                         "is the one queried):")
            parts.append(bt)
    f = out.get("filtered")
    if f:
        parts.append("Filtered GloVe: %d queries, ef_search %d; plans: default = planner's "
                     "choice (btree on the filter column present), hnsw = forced "
                     "(enable_sort/seqscan/bitmapscan off), exact = forced through the btree "
                     "(enable_indexscan/seqscan off); recall against numpy's exact filtered "
                     "top-10" % (f["queries"], f["ef_search"]))
        parts.append(filtered_table(f, markdown))
        for s in f["sets"]:
            parts.append("%s: %s; default plan uses: %s" % (
                s["label"], s["sql"], ", ".join("%s for %d queries" % kv
                                                 for kv in s["default_plan_indexes"].items())))
            for nm, plan in s["plans"].items():
                parts.append("plan %s, %s:\n%s" % (s["label"], nm,
                                                    "\n".join("    " + l for l in plan)))
    for x in out.get("failures", []):
        parts.append("FAILED: " + x)
    return "\n\n".join(parts)
