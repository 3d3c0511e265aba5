"""The `ngram-speed` and `ngram-eval` benchmarks: the n-gram (FM-index) part
of the retrieval index (CREATE INDEX ... USING retrieval (body) WITH
(ngrams = on), src/ngram/; issue 7).

ngram-speed  on scale/en-985k (all passages, or the first --rows; the table
             is loaded once and reused from a persistent cluster,
             --cluster-dir, as bm25-speed does): build the same index
             WITH (ngrams = off) and then WITH (ngrams = on), one after the
             other (timed; the n-gram part's own time is the difference;
             MB of text per second = sum(octet_length(body)) / build s), the
             n-gram part's size (ngram_stats segment_bytes per byte of text,
             target <= 1.5) and the building backend's peak RSS; then
             latencies, median / p95 wall and backend CPU ms, each query
             kind over many queries (--runs passes, medians of the per-pass
             figures):
               count      retrieval.ngram_count of 1- to 5-word excerpts of
                          random passages (exact substrings)
               next       retrieval.ngram_next(k => 20) after common
                          prefixes ('the ', 'of the ', 'in ', ...) and after
                          rare ones (3-word excerpts of random passages, up
                          to the next word)
               seal       retrieval.seal_search of 20 n-grams of 1-4 words of
                          a random passage, logprobs NULL and random negative
                          logprobs (interleaved query by query)
               <%>        ORDER BY body <%> q LIMIT 10 with the 400 queries
                          of scale/en-985k/queries.jsonl, interleaved with
                          ORDER BY body <@> q LIMIT 10 on the same index
             Sanity checks (failures): every excerpt's ngram_count >= 1,
             every rare prefix has a next character, ngram_count of the
             first --check-counts excerpts equals a count by SQL (replace()).
ngram-eval   effectiveness of ORDER BY body <%> q LIMIT 100 (the index scan,
             unsupervised SEAL) next to BM25 ORDER BY body <@> q on the same
             index, on SciFact test and the classic sets: nDCG@10,
             Recall@100, MRR@10 (benchlib.ir_metrics), the ranked list
             scored as returned (<%> returns only rows with a matching
             n-gram); and the same with lowercased text on both sides (an
             expression index on lower(body), lower(q)): the FM-index is
             case-sensitive.  Optionally (--check-queries) the index scan's
             top-10 against a sequential scan + sort of the per-row <%>.

Shared pieces: the passages table and the interleaved timing loop
(bm25_speed.ensure_passages, run_interleaved, warm_up), clusters, COPY and
DDL timing (benchlib.bm25), the judged sets (ir_datasets), the metrics
(ir_metrics), build progress logging (hybrid_speed).
"""
import re
import threading

import numpy as np

from . import report
from .bm25 import (_table_name, add_cluster_args, copy_rows, load_eval_sets, make_cluster,
                   open_database, scalar)
from .bm25_speed import ensure_passages, run_interleaved, warm_up, _ms
from .hybrid_speed import _progress_logger
from .ir_datasets import en985k_queries
from .ir_metrics import evaluate
from .paths import log
from .timing import BackendClock, MachineBusy, summarize

DB = "ngrambench"
# as bm25-speed: everything in shared_buffers, serial builds, one core per query
NGRAM_GUCS = {"shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "2GB",
              "max_parallel_workers_per_gather": "0", "max_parallel_maintenance_workers": "0",
              "jit": "off"}
EVAL_GUCS = {"jit": "off", "max_parallel_workers_per_gather": "0"}
COMMON_PREFIXES = ("the ", "of the ", "in ", "to ", "a ", "and ", "is ", "for ", "of ", "on the ")
COUNT_WORDS = (1, 2, 3, 4, 5)
SEAL_NGRAMS = 20
SIZE_TARGET = 1.5
WORD = re.compile(r"\S+")
EVAL_SETS = ["scifact", "adi", "cacm", "cisi", "cranfield", "lisa", "med", "npl", "time"]


def register(subparsers):
    p = subparsers.add_parser("ngram-speed", help="n-gram (FM-index) index on en-985k: build "
                              "rate and size, ngram_count / ngram_next / seal_search / <%%> "
                              "latency", description=__doc__.split("\n\n")[1])
    p.add_argument("--rows", type=int, help="load only the first N passages (default all)")
    p.add_argument("--queries", type=int, default=100,
                   help="queries per kind: per word count of ngram_count, per next-prefix "
                        "kind, seal_search (default 100); <%%> uses all 400 en-985k queries")
    p.add_argument("--runs", type=int, default=3,
                   help="timed passes (default 3); figures are medians of per-pass statistics")
    p.add_argument("--warmup", type=int, default=8, help="untimed queries per kind (8)")
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each timed pass wait up to SECONDS for an idle machine")
    p.add_argument("--seed", type=int, default=7, help="seed of the random excerpts (7)")
    p.add_argument("--check-counts", type=int, default=10,
                   help="excerpts whose ngram_count is checked against SQL (full scans; 10)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the WITH (ngrams = off) build")
    p.add_argument("--reuse-index", action="store_true",
                   help="keep an existing n-gram index of the table (no builds)")
    p.add_argument("--seal-max-occurrences", type=int,
                   help="SET retrieval.seal_max_occurrences (default: the GUC's)")
    add_cluster_args(p)
    p.set_defaults(func=cmd_speed)

    e = subparsers.add_parser("ngram-eval", help="effectiveness of unsupervised SEAL (<%%>) "
                              "next to BM25 (<@>) on SciFact and the classic sets, as is and "
                              "lowercased", description=__doc__.split("\n\n")[2])
    e.add_argument("--sets", default=",".join(EVAL_SETS),
                   help="comma-separated data sets, NAME or NAME:SPLIT; default: %(default)s")
    e.add_argument("--depth", type=int, default=100, help="rows fetched per query (100)")
    e.add_argument("--max-queries", type=int, help="only the first N judged queries per set")
    e.add_argument("--check-queries", type=int, default=20,
                   help="queries per set whose <%%> index-scan top-10 is compared with a "
                        "sequential scan + sort (default 20; 0 = none)")
    e.add_argument("--seal-max-occurrences", type=int,
                   help="SET retrieval.seal_max_occurrences (default: the GUC's)")
    e.add_argument("--seal-query-ngrams", choices=("longest", "all"),
                   help="SET retrieval.seal_query_ngrams (default: the GUC's, longest)")
    add_cluster_args(e)
    e.set_defaults(func=cmd_eval)


# ----------------------------------------------------------------------------
# ngram-speed: builds
# ----------------------------------------------------------------------------
def _peak_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def build_one(cl, table, name, ngrams):
    """CREATE INDEX name ... WITH (ngrams = on|off, model = 'none') in a
    fresh backend (so that its peak RSS is this build's); timed."""
    conn = cl.connect(DB)
    cur = conn.cursor()
    try:
        cur.execute("DROP INDEX IF EXISTS %s" % name)
        sql = ("CREATE INDEX %s ON %s USING retrieval (body) WITH (ngrams = %s, model = 'none')"
               % (name, table, "on" if ngrams else "off"))
        log("building (load %s): %s" % (report.loadavg(), sql))
        clock = BackendClock(conn)
        busy = MachineBusy()
        stop = threading.Event()
        th = threading.Thread(target=_progress_logger, args=(cl, DB, stop), daemon=True)
        th.start()
        try:
            _, wall, cpu = clock.run(cur, sql)
        finally:
            stop.set()
            th.join()
        b = {"sql": sql, "index": name, "wall_s": wall / 1000, "cpu_s": (cpu or 0) / 1000,
             "busy_cores": busy.cores(), "peak_rss_kib": _peak_rss_kib(clock.pid),
             "index_bytes": scalar(cur, "SELECT pg_relation_size(%s::regclass)", (name,)),
             "load_end": report.loadavg()}
        if ngrams:
            cur.execute("SELECT * FROM retrieval.ngram_stats(%s::regclass)", (name,))
            b["ngram_stats"] = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        log("built %s in %.1f s (CPU %.1f s), %.1f MiB, peak RSS %s MiB"
            % (name, b["wall_s"], b["cpu_s"], b["index_bytes"] / 2**20,
               "%.0f" % (b["peak_rss_kib"] / 1024) if b["peak_rss_kib"] else "?"))
        return b
    finally:
        conn.close()


# ----------------------------------------------------------------------------
# ngram-speed: query sets (exact substrings of random passages)
# ----------------------------------------------------------------------------
def _random_passages(cur, table, nrows, rng, count, min_words):
    """`count` random passages (with at least min_words words) as lists of
    (word start, word end) spans, with their text."""
    out = []
    while len(out) < count:
        ns = [int(x) for x in rng.integers(1, nrows + 1, size=2 * (count - len(out)) + 10)]
        cur.execute("SELECT n, body FROM %s WHERE n = ANY(%%s)" % table, (ns,))
        bodies = dict(cur.fetchall())
        for n in ns:
            body = bodies.get(n)
            if body is None:
                continue
            spans = [m.span() for m in WORD.finditer(body)]
            if len(spans) >= min_words:
                out.append((n, body, spans))
                if len(out) == count:
                    break
    return out


def _excerpt(body, spans, start, words):
    return body[spans[start][0]:spans[start + words - 1][1]]


def make_queries(cur, table, nrows, args):
    rng = np.random.default_rng(args.seed)
    qs = {"count": [], "next_common": [], "next_rare": [], "seal": []}
    qid = 0
    for L in COUNT_WORDS:
        for n, body, spans in _random_passages(cur, table, nrows, rng, args.queries, L):
            s = int(rng.integers(0, len(spans) - L + 1))
            qs["count"].append({"qid": qid, "n_terms": L, "text": _excerpt(body, spans, s, L),
                                "n": n})
            qid += 1
    for i in range(args.queries):
        j = i % len(COMMON_PREFIXES)
        qs["next_common"].append({"qid": qid, "n_terms": j, "text": COMMON_PREFIXES[j]})
        qid += 1
    for n, body, spans in _random_passages(cur, table, nrows, rng, args.queries, 4):
        s = int(rng.integers(0, len(spans) - 3))
        # three words and the separator up to the fourth word
        qs["next_rare"].append({"qid": qid, "n_terms": 3,
                                "text": body[spans[s][0]:spans[s + 3][0]],
                                "follows": body[spans[s + 3][0]], "n": n})
        qid += 1
    for n, body, spans in _random_passages(cur, table, nrows, rng, args.queries, 8):
        grams = []
        for _ in range(SEAL_NGRAMS):
            L = int(rng.integers(1, 5))
            L = min(L, len(spans))
            s = int(rng.integers(0, len(spans) - L + 1))
            grams.append(_excerpt(body, spans, s, L))
        lp = [float(x) for x in -rng.uniform(0.05, 12.0, size=SEAL_NGRAMS)]
        qs["seal"].append({"qid": qid, "n_terms": 0, "ngrams": grams, "logprobs": lp, "n": n})
        qid += 1
    return qs


def sql_count_occurrences(cur, table, pattern):
    """Non-overlapping occurrences of pattern in every body (full scan)."""
    return scalar(cur, "SELECT coalesce(sum((length(body) - length(replace(body, %%(p)s, ''))) "
                       "/ length(%%(p)s)), 0)::bigint FROM %s WHERE strpos(body, %%(p)s) > 0"
                  % table, {"p": pattern})


# ----------------------------------------------------------------------------
# ngram-speed
# ----------------------------------------------------------------------------
def timed_kind(cl, names, sqls, queries, params, args, lengths=()):
    conns = {e: cl.connect(DB) for e in names}
    try:
        curs = {e: conns[e].cursor() for e in names}
        if args.seal_max_occurrences is not None:
            for c in curs.values():
                c.execute("SET retrieval.seal_max_occurrences = %d" % args.seal_max_occurrences)
        clocks = {e: BackendClock(conns[e]) for e in names}
        warm_up(names, curs, sqls, queries, args.warmup, params)
        return run_interleaved(names, curs, clocks, sqls, queries, args.runs, args.quiet_wait,
                               params, lengths=lengths)
    finally:
        for c in conns.values():
            c.close()


def cmd_speed(args, results):
    out = {"rows": args.rows, "runs": args.runs, "cluster_gucs": NGRAM_GUCS, "failures": [],
           "builds": {}, "latency": {}, "checks": {}}
    results["ngram_speed"] = out
    with make_cluster(args, NGRAM_GUCS) as cl:
        conn = open_database(cl, DB)
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        table, load = ensure_passages(conn, cur, args.rows, with_tsv=False)
        out["table"], out["load"] = table, load
        out["docs"] = scalar(cur, "SELECT count(*) FROM %s" % table)
        out["text_bytes"] = scalar(cur, "SELECT sum(octet_length(body))::bigint FROM %s" % table)
        out["text_chars"] = scalar(cur, "SELECT sum(length(body))::bigint FROM %s" % table)
        cur.execute("CREATE UNIQUE INDEX IF NOT EXISTS %s_n ON %s (n)" % (table, table))
        idx = table + "_ngram"
        base = table + "_nongram"
        have = scalar(cur, "SELECT to_regclass(%s) IS NOT NULL", (idx,))
        if args.reuse_index and have:
            log("reusing the index %s" % idx)
            cur.execute("SELECT * FROM retrieval.ngram_stats(%s::regclass)", (idx,))
            out["builds"]["ngrams"] = {
                "reused": True, "index_bytes": scalar(
                    cur, "SELECT pg_relation_size(%s::regclass)", (idx,)),
                "ngram_stats": dict(zip([d[0] for d in cur.description], cur.fetchone()))}
        else:
            cur.execute("DROP INDEX IF EXISTS %s" % idx)
            cur.execute("CHECKPOINT")
            if not args.no_baseline:
                out["builds"]["bm25"] = build_one(cl, table, base, ngrams=False)
                cur.execute("DROP INDEX %s" % base)   # one retrieval index on body at a time
                cur.execute("CHECKPOINT")
            try:
                out["builds"]["ngrams"] = build_one(cl, table, idx, ngrams=True)
            except Exception as e:   # noqa: BLE001
                out["failures"].append("n-gram build failed: %s" % str(e).strip())
                log("ERROR: %s" % e)
                return
        cur.execute("VACUUM ANALYZE %s" % table)
        st = out["builds"]["ngrams"]["ngram_stats"]
        out["bytes_per_text_byte"] = st["segment_bytes"] / out["text_bytes"]
        if st["symbols"] != out["text_bytes"]:
            log("note: ngram_stats symbols %d, text bytes %d" % (st["symbols"], out["text_bytes"]))

        qs = make_queries(cur, table, out["docs"], args)
        out["checks"] = checks = speed_checks(cur, table, idx, qs, args)
        out["failures"].extend(checks["failures"])

        lat = out["latency"]
        count_sql = {"count": "SELECT retrieval.ngram_count(%s::regclass, %%(q)s::text)" % (
            "'%s'" % idx)}
        log("ngram_count: %d excerpts of 1-5 words" % len(qs["count"]))
        _, _, lat["count"] = timed_kind(cl, ["count"], count_sql, qs["count"],
                                        lambda e, q: {"q": q["text"]}, args,
                                        lengths=COUNT_WORDS)
        next_sql = {"next": "SELECT * FROM retrieval.ngram_next('%s'::regclass, %%(q)s::text, "
                            "k => 20)" % idx}
        log("ngram_next: common prefixes, rare prefixes")
        _, ans, lat["next_common"] = timed_kind(
            cl, ["next"], next_sql, qs["next_common"], lambda e, q: {"q": q["text"]}, args,
            lengths=range(len(COMMON_PREFIXES)))
        out["next_common_rows"] = float(np.mean([len(v) for v in ans["next"].values()]))
        _, ans, lat["next_rare"] = timed_kind(cl, ["next"], next_sql, qs["next_rare"],
                                              lambda e, q: {"q": q["text"]}, args)
        out["next_rare_rows"] = float(np.mean([len(v) for v in ans["next"].values()]))
        seal_sql = "SELECT ctid, score FROM retrieval.seal_search('%s'::regclass, " \
                   "%%(g)s::text[], logprobs => %%(lp)s::float8[], k => 10)" % idx
        log("seal_search: %d n-grams from each of %d passages" % (SEAL_NGRAMS, len(qs["seal"])))
        _, ans, lat["seal"] = timed_kind(
            cl, ["unsupervised", "logprobs"], {"unsupervised": seal_sql, "logprobs": seal_sql},
            qs["seal"], lambda e, q: {"g": q["ngrams"],
                                      "lp": q["logprobs"] if e == "logprobs" else None}, args)
        out["seal_rows"] = {e: float(np.mean([len(v) for v in a.values()]))
                            for e, a in ans.items()}
        queries = en985k_queries()
        op_sql = {"<%>": "SELECT n FROM %s ORDER BY body <%%%%> %%(q)s::text LIMIT 10" % table,
                  "<@>": "SELECT n FROM %s ORDER BY body <@> %%(q)s::text LIMIT 10" % table}
        log("ORDER BY <%%> / <@> LIMIT 10: %d queries" % len(queries))
        _, ans, lat["operators"] = timed_kind(cl, ["<%>", "<@>"], op_sql, queries,
                                              lambda e, q: {"q": q["text"]}, args,
                                              lengths=(1, 2, 4, 8))
        out["operator_rows"] = {e: float(np.mean([len(v) for v in a.values()]))
                                for e, a in ans.items()}
        out["operator_empty"] = {e: sum(1 for v in a.values() if not v) for e, a in ans.items()}
        cur.execute("EXPLAIN " + op_sql["<%>"], {"q": queries[0]["text"]})
        out["plan"] = [r[0] for r in cur.fetchall()]
        if not any(idx in line for line in out["plan"]):
            out["failures"].append("<%%> does not use %s: %s" % (idx, " / ".join(out["plan"])))


def speed_checks(cur, table, idx, qs, args):
    res = {"failures": [], "count_zero": [], "count_sql": [], "next_missing": []}
    for q in qs["count"]:
        c = scalar(cur, "SELECT retrieval.ngram_count(%s::regclass, %s)", (idx, q["text"]))
        q["count"] = c
        if not c:
            res["count_zero"].append(q["text"])
    if res["count_zero"]:
        res["failures"].append("ngram_count = 0 for %d of %d excerpts of the table, e.g. %r"
                               % (len(res["count_zero"]), len(qs["count"]),
                                  res["count_zero"][:3]))
    step = max(1, len(qs["count"]) // max(1, args.check_counts))
    for q in qs["count"][::step][:args.check_counts]:
        want = sql_count_occurrences(cur, table, q["text"])
        res["count_sql"].append({"text": q["text"], "index": q["count"], "sql": want})
    bad = [c for c in res["count_sql"] if c["index"] != c["sql"]]
    if bad:
        res["failures"].append("ngram_count differs from the SQL count (non-overlapping "
                               "occurrences) for %d of %d excerpts: %s"
                               % (len(bad), len(res["count_sql"]), bad[:3]))
    for q in qs["next_rare"]:
        cur.execute("SELECT next, count FROM retrieval.ngram_next(%s::regclass, %s, k => 20)",
                    (idx, q["text"]))
        rows = cur.fetchall()
        if not rows:
            res["next_missing"].append(q["text"])
    if res["next_missing"]:
        res["failures"].append("ngram_next returned nothing after %d of %d prefixes taken from "
                               "the table, e.g. %r" % (len(res["next_missing"]),
                                                       len(qs["next_rare"]),
                                                       res["next_missing"][:3]))
    log("checks: %d excerpts with count 0, %d/%d SQL counts equal, %d prefixes without a next "
        "character" % (len(res["count_zero"]), len(res["count_sql"]) - len(bad),
                       len(res["count_sql"]), len(res["next_missing"])))
    return res


# ----------------------------------------------------------------------------
# ngram-eval
# ----------------------------------------------------------------------------
VARIANTS = (("bm25", "body", "<@>", False), ("seal", "body", "<%>", False),
            ("bm25-lower", "lower(body)", "<@>", True), ("seal-lower", "lower(body)", "<%>", True))


def cmd_eval(args, results):
    out = {"depth": args.depth, "sets": [], "failures": [], "skipped": []}
    results["ngram_eval"] = out
    loaded = load_eval_sets(args.sets, out["skipped"])
    with make_cluster(args, EVAL_GUCS) as cl:
        conn = open_database(cl, "ngrameval")
        cur = conn.cursor()
        out["extension_version"] = scalar(
            cur, "SELECT extversion FROM pg_extension WHERE extname = 'retrieval'")
        if args.seal_max_occurrences is not None:
            cur.execute("SET retrieval.seal_max_occurrences = %d" % args.seal_max_occurrences)
        if args.seal_query_ngrams:
            cur.execute("SET retrieval.seal_query_ngrams = %s", (args.seal_query_ngrams,))
        out["seal_max_occurrences"] = scalar(cur, "SHOW retrieval.seal_max_occurrences")
        cur.execute("SET enable_seqscan = off")   # measure the index scans
        for spec, ds in loaded:
            log("== %s (%d docs, %d queries, language %s)"
                % (spec, len(ds.docs), len(ds.queries), ds.language))
            try:
                out["sets"].append(eval_set(conn, cur, spec, ds, args, out["failures"]))
            except Exception as e:   # noqa: BLE001  (report, go on with the next set)
                out["failures"].append("%s: %s" % (spec, str(e).strip()))
                log("ERROR %s: %s" % (spec, e))


def eval_set(conn, cur, spec, ds, args, failures):
    table = _table_name(spec)
    s = {"set": spec, "docs": len(ds.docs), "language": ds.language, "split": ds.split,
         "builds": {}, "variants": {}}
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id text, body text)" % table)
    copy_rows(conn, table, ("id", "body"), ds.docs)
    s["text_bytes"] = scalar(cur, "SELECT sum(octet_length(body))::bigint FROM %s" % table)
    opts = "WITH (ngrams = on, model = 'none', language = '%s')" % ds.language
    for key, expr in (("body", "body"), ("lower", "lower(body)")):
        name = "%s_ng_%s" % (table, key)
        clock = BackendClock(conn)
        _, wall, cpu = clock.run(cur, "CREATE INDEX %s ON %s USING retrieval ((%s)) %s"
                                 % (name, table, expr, opts))
        cur.execute("SELECT segment_bytes FROM retrieval.ngram_stats(%s::regclass)", (name,))
        s["builds"][key] = {"index": name, "wall_s": wall / 1000, "cpu_s": (cpu or 0) / 1000,
                            "segment_bytes": cur.fetchone()[0],
                            "index_bytes": scalar(cur, "SELECT pg_relation_size(%s::regclass)",
                                                  (name,))}
    cur.execute("VACUUM ANALYZE %s" % table)
    qids = list(ds.queries)[:args.max_queries] if args.max_queries else list(ds.queries)
    qrels = {q: ds.qrels[q] for q in qids}
    clock = BackendClock(conn)
    for v, expr, op, low in VARIANTS:
        sql = "SELECT id FROM %s ORDER BY %s %s %s LIMIT %d" % (
            table, expr, op.replace("%", "%%"), "lower(%(q)s::text)" if low else "%(q)s::text",
            args.depth)
        run, walls, cpus = {}, [], []
        try:
            for q in qids:
                rows, w, c = clock.run(cur, sql, {"q": ds.queries[q]})
                run[q] = [r[0] for r in rows]
                walls.append(w)
                cpus.append(c)
        except Exception as e:   # noqa: BLE001
            failures.append("%s %s: %s" % (spec, v, str(e).strip()))
            log("ERROR %s %s: %s" % (spec, v, e))
            continue
        cur.execute("EXPLAIN " + sql, {"q": ds.queries[qids[0]]})
        plan = [r[0] for r in cur.fetchall()]
        want = s["builds"]["lower" if low else "body"]["index"]
        r = {"metrics": evaluate(run, qrels), "wall_ms": summarize(walls),
             "cpu_ms": summarize(cpus), "plan_uses_index": any(want in ln for ln in plan),
             "mean_rows": float(np.mean([len(x) for x in run.values()])),
             "empty": sum(1 for x in run.values() if not x),
             "short": sum(1 for x in run.values() if len(x) < min(10, len(ds.docs)))}
        if not r["plan_uses_index"]:
            failures.append("%s %s: the plan does not use %s: %s" % (spec, v, want,
                                                                    " / ".join(plan)))
        s["variants"][v] = r
        log("%s %-10s nDCG@10 %.4f  Recall@100 %.4f  MRR@10 %.4f  rows %.1f, %d empty, "
            "median %.2f ms" % (spec, v, r["metrics"]["nDCG@10"], r["metrics"]["Recall@100"],
                                r["metrics"]["MRR@10"], r["mean_rows"], r["empty"],
                                r["wall_ms"]["median"]))
    if args.check_queries:
        s["check"] = check_seqscan(cur, table, ds, qids[:args.check_queries], failures, spec)
    cur.execute("DROP TABLE %s" % table)
    return s


def check_seqscan(cur, table, ds, qids, failures, spec):
    """<%> index scan vs sequential scan + sort of the per-row operator:
    the same distances rank by rank (1e-9; ids may differ among ties)."""
    res = {"queries": len(qids), "identical": 0, "tie_order": 0, "mismatches": [], "errors": []}
    sql = "SELECT id, body <%%%%> %%(q)s::text AS d FROM %s ORDER BY d LIMIT 10" % table
    for q in qids:
        try:
            cur.execute("SET enable_seqscan = off")
            cur.execute(sql, {"q": ds.queries[q]})
            a = cur.fetchall()
            cur.execute("SET enable_seqscan = on")
            cur.execute("SET enable_indexscan = off")
            cur.execute("SET enable_bitmapscan = off")
            cur.execute("SELECT id, body <%%%%> %%(q)s::text AS d FROM %s "
                        "WHERE body <%%%%> %%(q)s::text < 0 ORDER BY d LIMIT 10" % table,
                        {"q": ds.queries[q]})
            b = cur.fetchall()
        except Exception as e:   # noqa: BLE001
            res["errors"].append(str(e).strip().splitlines()[0])
            continue
        finally:
            cur.execute("RESET enable_indexscan")
            cur.execute("RESET enable_bitmapscan")
            cur.execute("SET enable_seqscan = off")
        if [x for x, _ in a] == [x for x, _ in b]:
            res["identical"] += 1
        elif len(a) == len(b) and all(abs(x - y) <= 1e-9 * max(1, abs(x))
                                      for (_, x), (_, y) in zip(a, b)):
            res["tie_order"] += 1
        else:
            res["mismatches"].append({"query": q, "index": a[:3], "seqscan": b[:3],
                                      "rows": [len(a), len(b)]})
    if res["mismatches"]:
        failures.append("%s: <%%> index scan top-10 differs from seq scan + sort for %d of %d "
                        "queries (e.g. %s)" % (spec, len(res["mismatches"]), len(qids),
                                               res["mismatches"][0]))
    if res["errors"]:
        failures.append("%s: <%%> check errors (%d): %s" % (spec, len(res["errors"]),
                                                             res["errors"][0]))
    log("%s <%%> index scan vs seq scan: %d identical, %d equal up to tie order, %d "
        "mismatches, %d errors" % (spec, res["identical"], res["tie_order"],
                                   len(res["mismatches"]), len(res["errors"])))
    return res


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def render(results, markdown=False):
    parts = []
    if results.get("ngram_speed"):
        parts.append(render_speed(results["ngram_speed"], markdown))
    if results.get("ngram_eval"):
        parts.append(render_eval(results["ngram_eval"], markdown))
    return "\n\n".join(parts)


def _lat_rows(label, agg, keys):
    rows = []
    for key, name in keys:
        a = agg.get(key)
        if a:
            rows.append([label + name, _ms(a["wall_median"]), _ms(a["wall_p95"]),
                         _ms(a["cpu_median"]), _ms(a["cpu_p95"])])
    return rows


def render_speed(s, markdown):
    parts = ["N-gram index speed on %s: %d passages, %.1f MB of text (%d bytes, %d characters); "
             "%d timed passes; extension %s; cluster %s"
             % (s["table"], s["docs"], s["text_bytes"] / 1e6, s["text_bytes"], s["text_chars"],
                s["runs"], s.get("extension_version"),
                ", ".join("%s=%s" % kv for kv in s["cluster_gucs"].items()))]
    rows = []
    for key, label in (("bm25", "WITH (ngrams = off)"), ("ngrams", "WITH (ngrams = on)")):
        b = s["builds"].get(key)
        if not b or b.get("reused"):
            continue
        rows.append([label, "%.1f" % b["wall_s"], "%.1f" % b["cpu_s"],
                     "%.2f" % (b["busy_cores"] or 0),
                     "%.2f" % (s["text_bytes"] / 1e6 / b["wall_s"]),
                     "%.1f" % (b["index_bytes"] / 2**20),
                     "%.0f" % (b["peak_rss_kib"] / 1024) if b.get("peak_rss_kib") else "-"])
    b, n = s["builds"].get("bm25"), s["builds"].get("ngrams")
    if b and n and not n.get("reused"):
        d = n["wall_s"] - b["wall_s"]
        rows.append(["n-gram part (difference)", "%.1f" % d, "%.1f" % (n["cpu_s"] - b["cpu_s"]),
                     "-", "%.2f" % (s["text_bytes"] / 1e6 / d) if d > 0 else "-",
                     "%.1f" % ((n["index_bytes"] - b["index_bytes"]) / 2**20), "-"])
    if rows:
        parts.append(report.table(["build", "wall s", "backend CPU s", "busy CPUs",
                                   "MB text/s", "index MiB", "backend peak RSS MiB"], rows,
                                  markdown))
    if not n:
        parts.extend("FAILED: " + f for f in s["failures"])
        return "\n\n".join(parts)
    st = n["ngram_stats"]
    parts.append("ngram_stats: %s; n-gram part %d bytes = %.3f bytes per byte of text "
                 "(target <= %.1f)" % (", ".join("%s %s" % kv for kv in st.items()),
                                       st["segment_bytes"], s["bytes_per_text_byte"],
                                       SIZE_TARGET))
    lat = s["latency"]
    rows = []
    rows += _lat_rows("ngram_count ", lat.get("count", {}).get("count", {}),
                      [("all", "1-5 words, all")] + [(L, "%d word%s" % (L, "s" if L > 1 else ""))
                                                     for L in COUNT_WORDS])
    nc = lat.get("next_common", {}).get("next", {})
    rows += _lat_rows("ngram_next k=20 ", nc, [("all", "common prefixes, all")] +
                      [(j, repr(p)) for j, p in enumerate(COMMON_PREFIXES)])
    rows += _lat_rows("ngram_next k=20 ", lat.get("next_rare", {}).get("next", {}),
                      [("all", "rare (3-word excerpts)")])
    for e, label in (("unsupervised", "logprobs NULL"), ("logprobs", "random logprobs")):
        rows += _lat_rows("seal_search 20 n-grams, ", lat.get("seal", {}).get(e, {}),
                          [("all", label)])
    for e in ("<%>", "<@>"):
        rows += _lat_rows("ORDER BY body %s LIMIT 10, " % e, lat.get("operators", {}).get(e, {}),
                          [("all", "all 400")] + [(L, "%d terms" % L) for L in (1, 2, 4, 8)])
    parts.append("latency per query (ms; medians over passes of each pass's median / p95):")
    parts.append(report.table(["query", "wall median", "wall p95", "CPU median", "CPU p95"],
                              rows, markdown))
    notes = []
    if "next_common_rows" in s:
        notes.append("rows returned: ngram_next common %.1f, rare %.1f; seal_search %s; "
                     "operators %s (queries with no row: %s)"
                     % (s["next_common_rows"], s["next_rare_rows"],
                        ", ".join("%s %.1f" % kv for kv in s["seal_rows"].items()),
                        ", ".join("%s %.1f" % kv for kv in s["operator_rows"].items()),
                        ", ".join("%s %d" % kv for kv in s["operator_empty"].items())))
    c = s.get("checks")
    if c:
        notes.append("checks: %d excerpts with ngram_count 0; ngram_count = SQL count for %d/%d; "
                     "%d rare prefixes without a next character"
                     % (len(c["count_zero"]), sum(1 for x in c["count_sql"]
                                                  if x["index"] == x["sql"]),
                        len(c["count_sql"]), len(c["next_missing"])))
    if s.get("plan"):
        notes.append("<%> plan: " + " / ".join(x.strip() for x in s["plan"]))
    parts.extend(notes)
    for f in s["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)


def render_eval(out, markdown):
    parts = ["N-gram (SEAL, <%%>) effectiveness next to BM25 (<@>) on the same index; extension "
             "%s; %d rows per query; retrieval.seal_max_occurrences %s; index scans "
             "(enable_seqscan off)" % (out.get("extension_version"), out["depth"],
                                       out.get("seal_max_occurrences"))]
    rows = []
    for s in out["sets"]:
        for v, _, _, _ in VARIANTS:
            r = s["variants"].get(v)
            if not r:
                continue
            m = r["metrics"]
            rows.append(["%s (%s)" % (s["set"], s["split"]), v, m["queries"],
                         "%.4f" % m["nDCG@10"], "%.4f" % m["Recall@100"], "%.4f" % m["MRR@10"],
                         "%.1f" % r["mean_rows"], r["empty"],
                         "%.2f" % r["wall_ms"]["median"], "%.2f" % r["wall_ms"]["p95"]])
    parts.append(report.table(["set", "ranking", "queries", "nDCG@10", "Recall@100", "MRR@10",
                               "mean rows", "no row", "median ms", "p95 ms"], rows, markdown))
    means = []
    for v, _, _, _ in VARIANTS:
        vals = [s["variants"][v]["metrics"] for s in out["sets"] if v in s["variants"]]
        if vals:
            means.append([v, len(vals), "%.4f" % np.mean([m["nDCG@10"] for m in vals]),
                          "%.4f" % np.mean([m["Recall@100"] for m in vals])])
    if means:
        parts.append("mean over the sets:")
        parts.append(report.table(["ranking", "sets", "nDCG@10", "Recall@100"], means, markdown))
    rows = []
    for s in out["sets"]:
        rows.append([s["set"], s["docs"], "%.2f" % (s["text_bytes"] / 1e6)] +
                    ["%.2f" % s["builds"][k]["wall_s"] for k in ("body", "lower")] +
                    ["%.2f" % (s["builds"]["body"]["segment_bytes"] / s["text_bytes"])])
    parts.append(report.table(["set", "docs", "MB text", "build s (body)", "build s (lower)",
                               "n-gram bytes / text byte"], rows, markdown))
    for s in out["sets"]:
        c = s.get("check")
        if c:
            parts.append("%s <%%> index scan vs seq scan + sort (%d queries): %d identical, %d "
                         "equal up to the order of ties, %d mismatches, %d errors"
                         % (s["set"], c["queries"], c["identical"], c["tie_order"],
                            len(c["mismatches"]), len(c["errors"])))
    for sk in out["skipped"]:
        parts.append("SKIPPED " + sk)
    for f in out["failures"]:
        parts.append("FAILED: " + f)
    return "\n\n".join(parts)
