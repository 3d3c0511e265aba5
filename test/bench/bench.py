#!/usr/bin/python3
"""Benchmark harness of the retrieval extension.

    /usr/bin/python3 test/bench/bench.py vector  [--runs 3] [--json FILE] [--markdown FILE]
    /usr/bin/python3 test/bench/bench.py seqscan [...]    only the SQL seq-scan part
    /usr/bin/python3 test/bench/bench.py kernels [...]    only the C kernel part
    /usr/bin/python3 test/bench/bench.py embed   [...]    embeddings (USE-lite): throughput, first call, memory
    /usr/bin/python3 test/bench/bench.py hnsw    [...]    HNSW index: build, recall/latency per ef_search, filters
    /usr/bin/python3 test/bench/bench.py bm25-eval [...]  BM25 effectiveness and exact-BM25 check
    /usr/bin/python3 test/bench/bench.py bm25-speed [...] BM25 vs GIN/RUM on en-985k: build, latency
    /usr/bin/python3 test/bench/bench.py bm25-write [...] BM25 vs GIN: INSERT throughput (pgbench)
    /usr/bin/python3 test/bench/bench.py hybrid-eval [...] hybrid ranking: fusion weight, <@> <~> <=>
    /usr/bin/python3 test/bench/bench.py hybrid-speed [...] hybrid index on en-985k: build, <@>/<=>/<~> latency
    /usr/bin/python3 test/bench/bench.py ngram-speed [...] n-gram (FM-index) index on en-985k: build, size, latency
    /usr/bin/python3 test/bench/bench.py ngram-eval [...]  SEAL ranking (<%>) next to BM25: nDCG@10, Recall@100
    /usr/bin/python3 test/bench/bench.py <cmd> --help

Needs Debian's python3 with python3-numpy and python3-psycopg2, the
extension built and installed, and the shared data in ../shared/data
(or $SHARED_DATA); without the data it prints a skip message and exits 0.
Each SQL benchmark runs in its own throwaway cluster (test/lib/cluster.sh),
removed at the end even on errors.  See docs/benchmarks.md.
"""
import sys

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree

import argparse
import json
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (bm25, bm25_speed, embed, hnsw, hybrid_eval, hybrid_speed, ngram,  # noqa: E402
                      report, vector)
from benchlib.cluster import install_signal_handlers  # noqa: E402
from benchlib.paths import Skip              # noqa: E402
from benchlib.timing import MachineBusy      # noqa: E402

# Benchmark modules: each adds its subcommands and renders its results.
MODULES = [vector, embed, hnsw, bm25, bm25_speed, hybrid_eval, hybrid_speed, ngram]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for m in MODULES:
        m.register(sub)
    for p in sub.choices.values():
        p.add_argument("--json", metavar="FILE", help="also write raw results as JSON")
        p.add_argument("--markdown", metavar="FILE",
                       help="also write the result tables as Markdown")
    args = parser.parse_args(argv)
    install_signal_handlers()
    busy = MachineBusy()

    results = {"command": " ".join(["test/bench/bench.py"] + sys.argv[1:]),
               "machine": report.machine_info(), "loadavg_start": report.loadavg()}
    try:
        args.func(args, results)
    except Skip as e:
        print("SKIP: %s" % e)
        return 0
    results["loadavg_end"] = report.loadavg()
    results["busy_cores"] = busy.cores()
    results["steal"] = busy.steal_fraction()

    m = results["machine"]
    header = ("%s | %s | nproc %s | %s | load avg start %s, end %s | "
              "busy CPUs over the run %.2f (steal %.1f%%)"
              % (m["date"], m["cpu_model"], m["nproc"], m["postgres"],
                 results["loadavg_start"], results["loadavg_end"],
                 results["busy_cores"], 100 * results["steal"]))
    if m["installed_so_matches_tree"] is False:
        header += "\nWARNING: the installed retrieval.so differs from ./retrieval.so"
    results["installed_so_changed_during_run"] = report.installed_so_md5() != m["installed_so_md5"]
    if results["installed_so_changed_during_run"]:
        header += ("\nWARNING: the installed retrieval.so was replaced during the run "
                   "(backends started after that used the new one)")
    text = "\n\n".join([header] + [r for r in (mod.render(results) for mod in MODULES) if r])
    print("\n" + text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n\n".join([header] + [r for r in (mod.render(results, markdown=True)
                                                          for mod in MODULES) if r]) + "\n")
    failures = [f for part in results.values() if isinstance(part, dict)
                for f in part.get("failures", [])]
    if failures:
        print("\n%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
