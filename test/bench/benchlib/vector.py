"""The `vector` benchmarks.

seqscan   exact top-10 by sequential scan on ann/glove100-200k (cosine):
          per-query wall and backend CPU ms, recall@10 against the ground
          truth, once per kernel setting (every supported set, then auto),
          with max_parallel_workers_per_gather = 0 (per-core figure) and,
          for auto, also the server default.
kernels   ns per distance call of each SIMD kernel set vs scalar
          (test/bench/kernel_bench.c, no server needed).
vector    both.
"""
import os
import re
import subprocess
import time

import numpy as np

from . import report
from .cluster import Cluster
from .data import copy_vectors, read_fvecs, read_ivecs, vector_literal
from .paths import BENCH_DIR, PG_CONFIG, ROOT, data_path, log
from .timing import (BackendClock, BusyAccumulator, MachineBusy, median_of_runs,
                     summarize, wait_for_quiet)

GLOVE = ("ann", "glove100-200k")
QUERY = "SELECT id FROM items ORDER BY v <=> %s::vector LIMIT 10"
# Same plan shape (seq scan, fetch v, one function call per row, bounded
# sort) without the distance: the executor's floor under QUERY.
BASELINE = ("SELECT id FROM items ORDER BY (vector_dims(v) + id + length(%s))::float8 "
            "LIMIT 10")
K = 10
# Cluster settings for every vector benchmark (on top of test/lib/cluster.sh's).
# shared_buffers 1GB: a seq scan of a table larger than shared_buffers/4
# goes through a 256 kB ring buffer and re-reads every page from the OS page
# cache (read() syscalls) on every query; the 87 MB table would be just
# over that limit with cluster.sh's 256MB.  Keeping it in shared buffers
# measures the distance and executor cost, not the page copying.
# JIT off: its compile time would be noise, not vector cost (the plan is
# below jit_above_cost anyway, see the EXPLAIN in the output).
CLUSTER_GUCS = {"shared_buffers": "1GB", "jit": "off"}


def register(subparsers):
    for name, what, fn in (
            ("vector", "seqscan and kernels benchmarks", cmd_vector),
            ("seqscan", "exact top-10 seq scan on glove100-200k, per kernel", cmd_seqscan),
            ("kernels", "ns per distance of the SIMD kernels (C, no server)", cmd_kernels)):
        p = subparsers.add_parser(name, help=what, description=what)
        p.add_argument("--runs", type=int, default=3,
                       help="repeat each measurement this many times (default 3); "
                            "figures are medians over runs")
        p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                       help="before each measurement wait up to SECONDS for the machine "
                            "to be idle (< 0.3 CPUs busy by other processes); default 0")
        if name != "kernels":
            p.add_argument("--queries", type=int, default=100,
                           help="queries per run (default 100, max 10000)")
            p.add_argument("--kernel", action="append", dest="kernels",
                           help="kernel setting(s) to measure (default: every "
                                "supported set, then auto)")
            p.add_argument("--no-parallel", action="store_true",
                           help="skip the run with the default max_parallel_workers_per_gather")
            p.add_argument("--copy-format", choices=("binary", "text"), default="binary")
            p.add_argument("--keep-cluster", action="store_true",
                           help="do not remove the cluster at the end (debugging)")
        if name != "seqscan":
            p.add_argument("--kernel-runs", type=int, default=7,
                           help="timed runs per cell inside one kernel_bench invocation")
            p.add_argument("--kernel-min-ms", type=float, default=20.0,
                           help="duration of one timed run of a cell")
        p.set_defaults(func=fn)


def cmd_vector(args, results):
    results["seqscan"] = run_seqscan(args)
    results["kernels"] = run_kernels(args)


def cmd_seqscan(args, results):
    results["seqscan"] = run_seqscan(args)


def cmd_kernels(args, results):
    results["kernels"] = run_kernels(args)


# ----------------------------------------------------------------------------
# seqscan
# ----------------------------------------------------------------------------
def _exact_reference(base, queries):
    """float64 cosine distances of each query to every base row."""
    b = base.astype(np.float64)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return 1.0 - q @ b.T


def _recall(results, gt, dist):
    """Strict recall@10 vs the ground truth and tie-aware recall (a returned
    id also counts if its exact distance equals the 10th nearest's, to 1e-6)."""
    strict, ties = [], []
    for i, ids in enumerate(results):
        ids = list(ids)
        strict.append(len(set(ids) & set(gt[i].tolist())) / K)
        kth = np.partition(dist[i], K - 1)[K - 1]
        ties.append(sum(1 for x in ids if dist[i][x] <= kth + 1e-6) / K)
    return float(np.mean(strict)), float(np.mean(ties))


def _set_config(cur, setting, workers):
    """SET the kernel and worker count; returns the active kernel's name."""
    base_line = setting == "baseline"
    cur.execute("SET retrieval.distance_kernel = %s", ("auto" if base_line else setting,))
    cur.execute("SET max_parallel_workers_per_gather = %d" % workers)
    return "-" if base_line else _scalar(cur, "SELECT name FROM distance_kernels() WHERE active")


def _measure_interleaved(cur, clock, configs, literals, gt, dist, run, warmup=2):
    """One run: every query under every configuration, interleaved query by
    query (the order of the configurations rotates with the query), so that
    a slow phase of a shared machine hits all configurations alike and
    their ratios stay meaningful.  Returns {config: measurement}."""
    data = {c: {"walls": [], "cpus": [], "ids": [], "busy": BusyAccumulator()}
            for c in configs}
    active = {}
    for c in configs:
        active[c] = _set_config(cur, *c)
        query = BASELINE if c[0] == "baseline" else QUERY
        for lit in literals[:warmup]:
            cur.execute(query, (lit,))
            cur.fetchall()
    n = len(configs)
    for qi, lit in enumerate(literals):
        shift = (qi + run) % n
        for c in configs[shift:] + configs[:shift]:
            now = _set_config(cur, *c)
            if now != active[c]:
                raise RuntimeError("kernel setting %s: active kernel changed from %s to %s"
                                   % (c[0], active[c], now))
            d = data[c]
            d["busy"].start()
            rows, wall, cpu = clock.run(cur, BASELINE if c[0] == "baseline" else QUERY, (lit,))
            d["busy"].stop()
            d["walls"].append(wall)
            d["cpus"].append(cpu)
            d["ids"].append([r[0] for r in rows])
    out = {}
    for c, d in data.items():
        strict, ties = (None, None) if c[0] == "baseline" else _recall(d["ids"], gt, dist)
        w, cp = summarize(d["walls"]), summarize(d["cpus"])
        out[c] = {"wall_median": w["median"], "wall_p95": w["p95"],
                  "cpu_median": cp["median"] if cp else None,
                  "cpu_p95": cp["p95"] if cp else None,
                  "recall": strict, "recall_ties": ties, "ids": d["ids"],
                  "busy_cores": d["busy"].cores(), "steal": d["busy"].steal_fraction(),
                  "active": active[c]}
    return out


def _scalar(cur, sql, params=None):
    cur.execute(sql, params)
    return cur.fetchone()[0]


def run_seqscan(args):
    d = data_path(*GLOVE, required=("base.fvecs", "queries.fvecs",
                                    "groundtruth.cosine.top100.ivecs"))
    nq = max(1, min(args.queries, 10000))
    log("reading %s" % d)
    base = read_fvecs(os.path.join(d, "base.fvecs"))
    queries = read_fvecs(os.path.join(d, "queries.fvecs"), count=nq)
    gt = read_ivecs(os.path.join(d, "groundtruth.cosine.top100.ivecs"), count=nq)[:, :K]
    dist = _exact_reference(base, queries)
    # Sanity of the data: does the published ground truth match numpy's?
    gt_agree = sum(1 for i in range(nq)
                   if set(np.argpartition(dist[i], K)[:K].tolist()) == set(gt[i].tolist()))
    literals = [vector_literal(q) for q in queries]
    n, dim = base.shape
    out = {"dataset": "/".join(GLOVE), "rows": n, "dim": dim, "queries": nq,
           "query": QUERY % "'<query>'", "runs": args.runs,
           "gt_agrees_with_numpy": gt_agree, "cluster_gucs": CLUSTER_GUCS}

    with Cluster(gucs=CLUSTER_GUCS, keep=args.keep_cluster) as cl:
        conn = cl.create_database("bench")
        cur = conn.cursor()
        out["server_version"] = _scalar(cur, "SHOW server_version")
        cur.execute("CREATE TABLE items (id int, v vector(%d))" % dim)
        log("loading %d x %d vectors (COPY %s)" % (n, dim, args.copy_format))
        t0 = time.perf_counter()
        copy_vectors(conn, "items", base, binary=args.copy_format == "binary")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute("VACUUM (FREEZE, ANALYZE) items")
        vacuum_s = time.perf_counter() - t0
        out["load"] = {"format": args.copy_format, "copy_s": load_s,
                       "rows_per_s": n / load_s, "vacuum_analyze_s": vacuum_s,
                       "table_mb": _scalar(cur, "SELECT pg_relation_size('items')") / 2**20}
        assert _scalar(cur, "SELECT count(*) FROM items") == n

        cur.execute("SELECT name, supported, active FROM distance_kernels()")
        kernel_rows = cur.fetchall()
        out["distance_kernels"] = [list(r) for r in kernel_rows]
        supported = [r[0] for r in kernel_rows if r[1]]
        settings = args.kernels or supported + ["auto"]
        # An unsupported set must be refused cleanly, not crash the backend.
        out["unsupported_refused"] = {}
        for name in (r[0] for r in kernel_rows if not r[1]):
            try:
                cur.execute("SET retrieval.distance_kernel = %s", (name,))
                out["unsupported_refused"][name] = False
            except Exception as e:   # psycopg2 error classes vary
                out["unsupported_refused"][name] = str(e).splitlines()[0]
        cur.execute("RESET retrieval.distance_kernel")
        default_workers = int(_scalar(cur, "SHOW max_parallel_workers_per_gather"))

        clock = BackendClock(conn)
        out["backend_cpu_available"] = clock.available
        configs = [(s, 0) for s in settings]
        if not args.no_parallel and default_workers > 0:
            configs.append(("auto", default_workers))
        configs.append(("baseline", 0))
        out["plans"] = {}
        for workers in sorted({w for _, w in configs}):
            cur.execute("SET max_parallel_workers_per_gather = %d" % workers)
            cur.execute("EXPLAIN " + QUERY, (literals[0],))
            out["plans"][workers] = [r[0] for r in cur.fetchall()]
        # Warm the buffer cache once before timing (pg_prewarm is in contrib,
        # which may not be installed; a full scan that touches v does it).
        cur.execute("SELECT count(*) FROM items WHERE vector_dims(v) > 0")
        out["shared_buffers"] = _scalar(cur, "SHOW shared_buffers")

        per = {c: [] for c in configs}
        active = {}
        for run in range(args.runs):
            log("run %d/%d: %d queries x %s" % (
                run + 1, args.runs, nq, ", ".join("%s/%d workers" % c for c in configs)))
            waited = wait_for_quiet(args.quiet_wait)
            for c, m in _measure_interleaved(cur, clock, configs, literals, gt, dist,
                                             run).items():
                m["quiet_wait_s"] = waited
                active[c] = m.pop("active")
                per[c].append(m)
        conn.close()

    # Every setting must return the same neighbours (same data, same metric).
    ref_ids = per[configs[0]][0]["ids"]
    out["baseline_query"] = BASELINE % "'<query>'"
    out["settings"] = []
    scalar_key = ("scalar", 0) if ("scalar", 0) in per else None
    for key in configs:
        runs = per[key]
        entry = {"kernel": key[0], "active": active[key], "workers": key[1],
                 "per_run": [{k: v for k, v in r.items() if k != "ids"} for r in runs],
                 "differing_queries_vs_first": None if key[0] == "baseline" else sum(
                     1 for r in runs for a, b in zip(r["ids"], ref_ids) if a != b)}
        for stat in ("wall_median", "wall_p95", "cpu_median", "cpu_p95", "recall",
                     "recall_ties", "busy_cores", "steal"):
            entry[stat] = median_of_runs(runs, stat)
        if scalar_key and key != scalar_key and key[0] != "baseline":
            for stat in ("wall_median", "cpu_median"):
                ratios = [{"r": s[stat] / r[stat]} for s, r in zip(per[scalar_key], runs)
                          if s[stat] and r[stat]]
                entry["speedup_" + stat] = median_of_runs(ratios, "r")
        out["settings"].append(entry)
    # Exact search must find the exact neighbours (ties aside).
    out["failures"] = [
        "%s/%d workers: tie-aware recall@10 %.4f in some run (exact search must give ~1.0)"
        % (e["kernel"], e["workers"], e["recall_ties"]["min"])
        for e in out["settings"] if e["kernel"] != "baseline" and e["recall_ties"]["min"] < 0.99]
    out["failures"] += ["SET retrieval.distance_kernel = %s was accepted on a CPU without it" % k
                        for k, v in out["unsupported_refused"].items() if v is False]
    return out


# ----------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------
def build_kernel_bench():
    exe = os.path.join(BENCH_DIR, "kernel_bench")
    log("building %s" % os.path.relpath(exe, ROOT))
    subprocess.run(["make", "-s", "-C", ROOT, "PG_CONFIG=" + PG_CONFIG,
                    "test/bench/kernel_bench"], check=True)
    return exe


def run_kernels(args):
    exe = build_kernel_bench()
    invocations, busy = [], []
    for run in range(args.runs):
        log("kernel_bench run %d/%d" % (run + 1, args.runs))
        waited = wait_for_quiet(args.quiet_wait)
        b = MachineBusy()
        outp = subprocess.run([exe, "--tsv", "--runs", str(args.kernel_runs),
                               "--min-ms", str(args.kernel_min_ms)],
                              capture_output=True, text=True)
        busy.append({"v": b.cores(), "quiet_wait_s": waited})
        if outp.returncode != 0:
            raise RuntimeError("kernel_bench failed:\n" + outp.stderr)
        lines = outp.stdout.strip().splitlines()
        hdr = lines[0].split("\t")
        invocations.append([dict(zip(hdr, l.split("\t"))) for l in lines[1:]])
    cells, best = {}, {}
    for inv in invocations:
        for row in inv:
            key = (row["function"], int(row["dim"]), row["kernel"])
            cells.setdefault(key, []).append(float(row["ns_median"]))
            best[key] = min(best.get(key, float("inf")), float(row["ns_min"]))
    kernels = []
    for row in invocations[0]:
        if row["kernel"] not in kernels:
            kernels.append(row["kernel"])
    out = {"command": "%s --tsv --runs %d --min-ms %g" % (
        os.path.relpath(exe, ROOT), args.kernel_runs, args.kernel_min_ms),
        "invocations": args.runs, "kernels": kernels, "cells": [],
        "busy_cores": median_of_runs(busy, "v"),
        "quiet_waits_s": [b["quiet_wait_s"] for b in busy]}
    seen = []
    for row in invocations[0]:
        fk = (row["function"], int(row["dim"]))
        if fk in seen:
            continue
        seen.append(fk)
        cell = {"function": fk[0], "dim": fk[1]}
        for k in kernels:
            vals = cells[fk + (k,)]
            cell[k] = median_of_runs([{"v": v} for v in vals], "v")
            cell["best_" + k] = best[fk + (k,)]
            if k != "scalar":
                sc = cells[fk + ("scalar",)]
                cell["speedup_" + k] = median_of_runs(
                    [{"v": s / v} for s, v in zip(sc, vals)], "v")
        out["cells"].append(cell)
    return out


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def seqscan_table(s, markdown=False):
    headers = ["kernel (active)", "workers", "wall median ms", "wall p95 ms",
               "CPU median ms", "CPU p95 ms", "CPU ns/row", "recall@10",
               "speedup wall", "speedup CPU", "busy CPUs"]
    rows = []
    for e in s["settings"]:
        cpu = e["cpu_median"]
        if e["kernel"] == "baseline":
            recall = "-"
        elif e["recall_ties"]["median"] == e["recall"]["median"]:
            recall = "%.3f" % e["recall"]["median"]
        else:
            recall = "%.3f (ties %.3f)" % (e["recall"]["median"], e["recall_ties"]["median"])
        rows.append([
            "baseline (no distance)" if e["kernel"] == "baseline" else
            "%s (%s)" % (e["kernel"], e["active"]) if e["kernel"] != e["active"] else e["kernel"],
            "%d (CPU: leader only)" % e["workers"] if e["workers"] else "0",
            report.fmt_spread(e["wall_median"], 1), report.fmt_spread(e["wall_p95"], 1),
            report.fmt_spread(cpu, 1), report.fmt_spread(e["cpu_p95"], 1),
            "%.0f" % (cpu["median"] * 1e6 / s["rows"]) if cpu and not e["workers"] else "-",
            recall,
            report.fmt_spread(e.get("speedup_wall_median"), 2, "x") if "speedup_wall_median" in e
            else "-" if e["kernel"] == "baseline" else "1",
            report.fmt_spread(e.get("speedup_cpu_median"), 2, "x") if "speedup_cpu_median" in e
            else "-" if e["kernel"] == "baseline" else "1",
            report.fmt_spread(e["busy_cores"], 2),
        ])
    return report.table(headers, rows, markdown)


def kernels_table(k, markdown=False):
    others = [x for x in k["kernels"] if x != "scalar"]
    headers = ["function", "dim"] + ["%s ns" % x for x in k["kernels"]] + \
        ["%s speedup" % x for x in others] + \
        ["best %s ns" % x for x in k["kernels"]] + ["best %s speedup" % x for x in others]
    rows = []
    order = [c["function"] for c in k["cells"]]
    for c in sorted(k["cells"], key=lambda c: (order.index(c["function"]), c["dim"])):
        rows.append([c["function"], str(c["dim"])] +
                    [report.fmt_spread(c[x], 1) for x in k["kernels"]] +
                    [report.fmt_spread(c["speedup_" + x], 1, "x") for x in others] +
                    ["%.1f" % c["best_" + x] for x in k["kernels"]] +
                    ["%.1fx" % (c["best_scalar"] / c["best_" + x]) for x in others])
    return report.table(headers, rows, markdown)


def render(results, markdown=False):
    parts = []
    s = results.get("seqscan")
    if s:
        parts.append("Exact top-%d by seq scan: %s, %d x %d, cosine, %d queries, %d runs "
                     "(median across runs, min-max in parentheses)"
                     % (K, s["dataset"], s["rows"], s["dim"], s["queries"], s["runs"]))
        parts.append(seqscan_table(s, markdown))
        ld = s["load"]
        parts.append("load: COPY %s %.1f s (%.0f rows/s), VACUUM (FREEZE, ANALYZE) %.1f s, "
                     "table %.0f MB; ground truth agrees with numpy on %d/%d queries; "
                     "settings returning different top-10 lists than the first: %s"
                     % (ld["format"], ld["copy_s"], ld["rows_per_s"], ld["vacuum_analyze_s"],
                        ld["table_mb"], s["gt_agrees_with_numpy"], s["queries"],
                        ", ".join("%s/%d: %d" % (e["kernel"], e["workers"],
                                                 e["differing_queries_vs_first"])
                                  for e in s["settings"] if e["kernel"] != "baseline")))
        parts.append("baseline: %s" % s["baseline_query"])
        if s["unsupported_refused"]:
            parts.append("unsupported kernel sets refused by SET: %s" % ", ".join(
                "%s (%s)" % (k, "yes" if v else "NO") for k, v in s["unsupported_refused"].items()))
        for f in s.get("failures", []):
            parts.append("FAILED: " + f)
        waits = [r.get("quiet_wait_s") for r in s["settings"][0]["per_run"]]
        if any(w != 0 for w in waits):
            parts.append("quiet wait: %d of %d runs started on an idle machine"
                         % (sum(w is not None for w in waits), len(waits)))
        for w, plan in sorted(s["plans"].items()):
            plan = [re.sub(r"'\[[^]]{20,}\]'", "'[...]'", line) for line in plan]
            parts.append("plan, max_parallel_workers_per_gather=%s:\n%s"
                         % (w, "\n".join("    " + line for line in plan)))
    k = results.get("kernels")
    if k:
        parts.append("ns per distance call (`%s`, %d invocations; median of the "
                     "invocations' medians, min-max in parentheses; best = fastest single "
                     "timed run of any invocation; busy CPUs during "
                     "the invocations %s, of which kernel_bench uses 1)"
                     % (k["command"], k["invocations"], report.fmt_spread(k["busy_cores"], 2)))
        parts.append(kernels_table(k, markdown))
        waits = k.get("quiet_waits_s", [])
        if any(w != 0 for w in waits):
            parts.append("quiet wait: %d of %d invocations started on an idle machine"
                         % (sum(w is not None for w in waits), len(waits)))
    return "\n\n".join(parts)
