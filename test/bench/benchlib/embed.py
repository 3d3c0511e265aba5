"""The `embed` benchmark: the default embedding model (USE-lite), or with
--model minilm a MiniLM-shaped BERT encoder (registered from --model-dir), in SQL.

embed     throughput on one core (backend CPU time and wall time) for three
          length mixes, short (~10 tokens), passage (~60) and long (128, the
          model's maximum: longer texts are truncated), as single calls
          (SELECT retrieval.embed(t) FROM unnest(texts)) and as batches of 32
          (one retrieval.embed(text[]) call per batch); plus first-call
          latency (model load: mmap, validation, tokenizer index) and the
          backend's memory from /proc/<pid>/smaps_rollup before and after.

Inputs: English prose from Debian's /usr/share/common-licenses (always
installed), cut into windows of words sized to the target token counts with
retrieval.model_tokens; deterministic (seeded).  No shared data needed.
"""
import glob
import json
import os
import random
import re
import subprocess
import tempfile
import time

import psycopg2

from . import report
from .cluster import Cluster
from .paths import BENCH_DIR, Skip, log
from .timing import BackendClock, MachineBusy, wait_for_quiet

MIXES = (("short", 10), ("passage", 60), ("long", 128))
BATCH = 32


def register(subparsers):
    p = subparsers.add_parser("embed", help="embedding throughput, latency, memory (USE-lite or MiniLM-shaped)",
                              description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("use-lite", "minilm"), default="use-lite",
                   help="use-lite (the default model; ORT runs DIR/use_lite.onnx) or minilm "
                        "(the MiniLM-shaped random encoder: ORT runs DIR/minilm.onnx, retrieval "
                        "the same weights converted by test/bench/ort/onnx_bert_to_hf.py)")
    p.add_argument("--model-dir", metavar="DIR",
                   help="with --model minilm: the converted model directory "
                        "(default: ORT-DIR/minilm-hf, as setup.sh writes it)")
    p.add_argument("--runs", type=int, default=3,
                   help="repeat each measurement (default 3); figures are medians over runs")
    p.add_argument("--texts", type=int, default=256,
                   help="texts per mix (default 256, a multiple of %d)" % BATCH)
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each measurement wait up to SECONDS for an idle machine")
    p.add_argument("--ort-dir", metavar="DIR",
                   help="also run ONNX Runtime (one thread) on the same token ids, from DIR "
                        "as prepared by test/bench/ort/setup.sh DIR")
    p.add_argument("--keep-cluster", action="store_true")
    p.set_defaults(func=cmd_embed)


def _corpus_words():
    words = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        try:
            with open(path, errors="replace") as f:
                words.extend(re.findall(r"\S+", f.read()))
        except (IsADirectoryError, PermissionError):
            continue
    if len(words) < 5000:
        raise Skip("not enough text in /usr/share/common-licenses for the embed benchmark")
    return words


def _texts(cur, words, target, count, rng, model):
    """count windows of consecutive words with about `target` tokens (for
    128: at least 128, i.e. truncated by the model)."""
    out = []
    while len(out) < count:
        start = rng.randrange(0, len(words) - 400)
        n = max(1, int(target * 0.6))
        while True:
            text = " ".join(words[start:start + n])
            cur.execute("SELECT cardinality(retrieval.model_tokens(%%s%s))" % model["arg"], (text,))
            ntok = cur.fetchone()[0]
            if ntok >= target or n > 390:
                break
            n += max(1, (target - ntok) // 2)
        out.append(text)
    return out


def _smaps(pid):
    fields = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    fields[m.group(1)] = int(m.group(2))
    except OSError:
        return None
    # Private_Clean also counts file pages only this process maps (such as
    # the model file when one backend uses it): they are page cache, shared
    # as soon as another process maps them.  Private_Dirty / Anonymous is
    # the memory the backend really owns.
    return {"rss_kb": fields.get("Rss"), "pss_kb": fields.get("Pss"),
            "private_dirty_kb": fields.get("Private_Dirty", 0),
            "anonymous_kb": fields.get("Anonymous", 0)}


# the model's files as mapped: the .rmdl, or safetensors + packed-weight cache
MODEL_MAPPINGS = (".rmdl", "model.safetensors", ".p16")


def _model_mapping_kb(pid):
    """Rss of the model files' mappings in this backend (shared page cache)."""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    total = None
    for i, line in enumerate(lines):
        if line.endswith(MODEL_MAPPINGS):
            for l2 in lines[i + 1:i + 25]:
                m = re.match(r"Rss:\s+(\d+) kB", l2)
                if m:
                    total = (total or 0) + int(m.group(1))
                    break
    return total


def _tokens(cur, texts, model):
    cur.execute("SELECT sum(greatest(1, least(%s, cardinality(retrieval.model_tokens(t%s))))) "
                "FROM unnest(%%s::text[]) t" % (model["max_tokens"], model["arg"]), (texts,))
    return int(cur.fetchone()[0])


def _measure(clock, cur, texts, batch, model):
    if batch:
        groups = [texts[i:i + BATCH] for i in range(0, len(texts), BATCH)]
        wall = cpu = 0.0
        for g in groups:
            _, w, c = clock.run(cur, "SELECT cardinality(retrieval.embed(%%s::text[]%s))" % model["arg"], (g,))
            wall += w
            cpu += c if c is not None else float("nan")
        return wall, cpu
    _, wall, cpu = clock.run(cur, "SELECT count(retrieval.embed(t%s)) FROM unnest(%%s::text[]) t"
                             % model["arg"], (texts,))
    return wall, cpu


def _fed_ids(ids, model):
    """The ids embed() feeds the network, from model_tokens' whole tokenization."""
    n = model["max_tokens"]
    if model["name"] == "use-lite":
        return ids[:n] or [0]
    # BERT: [CLS] + the first n - 2 pieces + [SEP]
    return ids if len(ids) <= n else ids[:n - 1] + ids[-1:]


def run_embed(args):
    rng = random.Random(20261126)
    words = _corpus_words()
    out = {"runs": args.runs, "texts": args.texts, "mixes": [], "batch": BATCH, "model": args.model}
    if args.model == "minilm":
        model_dir = args.model_dir or (args.ort_dir and os.path.join(args.ort_dir, "minilm-hf"))
        if not model_dir or not os.path.isdir(model_dir):
            raise Skip("--model minilm needs --model-dir or --ort-dir with minilm-hf/ (test/bench/ort/setup.sh)")
        model = {"name": "minilm", "arg": ", 'minilm'", "onnx": "minilm.onnx"}
    else:
        model = {"name": "use-lite", "arg": "", "onnx": "use_lite.onnx"}
    with Cluster(gucs={"jit": "off"}, keep=args.keep_cluster) as cl:
        conn = cl.connect()
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS retrieval")
        try:
            if model["name"] == "minilm":
                cur.execute("SELECT retrieval.register_model('minilm', %s)",
                            (os.path.realpath(model_dir),))
            cur.execute("SELECT retrieval.model_tokens('probe'%s)" % model["arg"])
            cur.execute("SELECT max_tokens, dims FROM retrieval.models WHERE name = %s", (model["name"],))
            model["max_tokens"], model["dims"] = cur.fetchone()
        except psycopg2.Error as e:
            raise Skip("the embedding model is not available (%s)" % str(e).splitlines()[0])

        # first call in a fresh backend: model load + one short embedding
        c2 = cl.connect()
        c2.autocommit = True
        k2 = c2.cursor()
        k2.execute("SELECT pg_backend_pid()")
        pid = k2.fetchone()[0]
        k2.execute("SELECT 1")
        mem_before = _smaps(pid)
        t0 = time.perf_counter()
        k2.execute("SELECT retrieval.embed('first call of this backend'%s)" % model["arg"])
        first_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        k2.execute("SELECT retrieval.embed('second call of this backend'%s)" % model["arg"])
        second_ms = (time.perf_counter() - t0) * 1e3
        mem_loaded = _smaps(pid)
        long_text = " ".join(words[:400])
        k2.execute("SELECT cardinality(retrieval.embed(%%s::text[]%s))" % model["arg"], ([long_text] * BATCH,))
        mem_after = _smaps(pid)
        out["first_call"] = {"first_ms": first_ms, "second_ms": second_ms,
                             "mem_before": mem_before, "mem_loaded": mem_loaded,
                             "mem_after_batch": mem_after,
                             "model_mapping_rss_kb": _model_mapping_kb(pid)}
        c2.close()

        clock = BackendClock(conn)
        ort_inputs, mixes = {}, []
        for name, target in MIXES:
            texts = _texts(cur, words, target, args.texts, rng, model)
            mixes.append((name, target, texts, _tokens(cur, texts, model)))
            if args.ort_dir:
                cur.execute("SELECT retrieval.model_tokens(t%s) FROM unnest(%%s::text[]) "
                            "WITH ORDINALITY AS u(t, o) ORDER BY o" % model["arg"], (texts,))
                ids = [_fed_ids(r[0], model) for r in cur.fetchall()]
                cur.execute("SELECT e::text FROM unnest(retrieval.embed(%%s::text[]%s)) "
                            "WITH ORDINALITY AS u(e, o) ORDER BY o" % model["arg"], (texts[:4],))
                check = [[float(x) for x in r[0].strip("[]").split(",")] for r in cur.fetchall()]
                ort_inputs[name] = {"ids": ids, "check": check}
        ort_file = None
        if args.ort_dir:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(ort_inputs, f)
                ort_file = f.name
            out["ort"] = {"mixes": {}}
        try:
            for name, target, texts, ntok in mixes:
                log("embed: mix %s, %d texts, %.1f tokens on average"
                    % (name, len(texts), ntok / len(texts)))
                mix = {"mix": name, "target": target, "texts": len(texts), "tokens": ntok}
                for mode in ("single", "batch"):
                    _measure(clock, cur, texts[:BATCH], mode == "batch", model)     # warm-up
                    per_run, ort_runs = [], []
                    for _ in range(args.runs):
                        # retrieval and ORT alternate run by run: same machine load
                        wait_for_quiet(args.quiet_wait)
                        busy = MachineBusy()
                        wall, cpu = _measure(clock, cur, texts, mode == "batch", model)
                        per_run.append({"wall_ms": wall, "cpu_ms": cpu,
                                        "busy_cores": busy.cores(),
                                        "steal": busy.steal_fraction()})
                        if ort_file:
                            ort_runs.append(run_ort(args, ort_file, name, mode, model["onnx"]))
                    cpus = sorted(r["cpu_ms"] for r in per_run)
                    walls = sorted(r["wall_ms"] for r in per_run)
                    cpu_ms, wall_ms = cpus[len(cpus) // 2], walls[len(walls) // 2]
                    mix[mode] = {"per_run": per_run, "cpu_ms": cpu_ms, "wall_ms": wall_ms,
                                 "tokens_per_cpu_s": ntok / (cpu_ms / 1e3),
                                 "tokens_per_cpu_s_best": ntok / (cpus[0] / 1e3),
                                 "sentences_per_cpu_s": len(texts) / (cpu_ms / 1e3),
                                 "tokens_per_wall_s": ntok / (wall_ms / 1e3),
                                 "sentences_per_wall_s": len(texts) / (wall_ms / 1e3)}
                    if ort_file:
                        o_cpu = sorted(r["mixes"][name][mode]["per_run"][0]["cpu_s"] for r in ort_runs)
                        out["ort"]["version"] = ort_runs[0]["version"]
                        cell = out["ort"]["mixes"].setdefault(name, {
                            "cosine_vs_retrieval_worst":
                                ort_runs[0]["mixes"][name]["cosine_vs_retrieval_worst"]})
                        cell[mode] = {"cpu_s": o_cpu,
                                      "tokens_per_cpu_s": ntok / o_cpu[len(o_cpu) // 2],
                                      "tokens_per_cpu_s_best": ntok / o_cpu[0]}
                out["mixes"].append(mix)
        finally:
            if ort_file:
                os.unlink(ort_file)
        conn.close()
    return out


def run_ort(args, path, mix, mode, onnx):
    """One timed ONNX Runtime run of one cell (test/bench/ort/embed_ort.mjs)."""
    r = subprocess.run(["node", os.path.join(BENCH_DIR, "ort", "embed_ort.mjs"),
                        os.path.realpath(args.ort_dir), path, "1", mix, mode, onnx],
                       check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(r.stdout)


def cmd_embed(args, results):
    results["embed"] = run_embed(args)


def render(results, markdown=False):
    e = results.get("embed")
    if not e:
        return ""
    parts = ["%s embeddings, one backend, %d texts per mix, %d runs (median; best = "
             "the fastest run, the least disturbed on a shared machine); "
             "batch = one retrieval.embed(text[]) call per %d texts; "
             "CPU = backend CPU time, wall = client wall time"
             % ({"minilm": "MiniLM-shaped (random weights)"}.get(e.get("model"), "USE-lite"),
                e["texts"], e["runs"], e["batch"])]
    rows = []
    ort = e.get("ort")
    for m in e["mixes"]:
        for mode in ("single", "batch"):
            r = m[mode]
            row = [m["mix"], "%.1f" % (m["tokens"] / m["texts"]), mode,
                   "%.0f" % r["tokens_per_cpu_s"], "%.0f" % r["tokens_per_cpu_s_best"],
                   "%.1f" % r["sentences_per_cpu_s"],
                   "%.0f" % r["tokens_per_wall_s"], "%.1f" % r["sentences_per_wall_s"],
                   "%.2f" % max(x["busy_cores"] or 0 for x in r["per_run"])]
            if ort:
                o = ort["mixes"][m["mix"]][mode]
                row += ["%.0f" % o["tokens_per_cpu_s"], "%.0f" % o["tokens_per_cpu_s_best"],
                        "%.2fx" % (r["tokens_per_cpu_s"] / o["tokens_per_cpu_s"]),
                        "%.2fx" % (r["tokens_per_cpu_s_best"] / o["tokens_per_cpu_s_best"])]
            rows.append(row)
    headers = ["mix", "tokens/text", "mode", "tokens/CPU-s", "best", "texts/CPU-s",
               "tokens/wall-s", "texts/wall-s", "busy CPUs (max)"]
    if ort:
        headers += ["ORT tokens/CPU-s", "ORT best", "ratio", "ratio (best)"]
    parts.append(report.table(headers, rows, markdown))
    if ort:
        parts.append("ORT: onnxruntime-node %s, intraOpNumThreads 1, same token ids, batches "
                     "padded to their longest text (tokenization not included, unlike "
                     "retrieval's figures), runs alternating with retrieval's; cosine of "
                     "ORT's outputs vs retrieval.embed, worst: %s"
                     % (ort["version"], ", ".join("%s %.7f" % (k, v["cosine_vs_retrieval_worst"])
                                                  for k, v in ort["mixes"].items())))
    f = e["first_call"]

    def mem(m):
        return ("Rss %d kB, Pss %d kB, Private_Dirty %d kB, Anonymous %d kB"
                % (m["rss_kb"], m["pss_kb"], m["private_dirty_kb"], m["anonymous_kb"])) if m else "n/a"
    parts.append("first call in a new backend (model file in the page cache): %.1f ms; "
                 "second call: %.1f ms" % (f["first_ms"], f["second_ms"]))
    parts.append("backend memory (smaps_rollup): before loading: %s; after the first call: %s; "
                 "after a batch of %d long texts: %s; model mappings resident in this backend: "
                 "%s kB (shared page cache)"
                 % (mem(f["mem_before"]), mem(f["mem_loaded"]), e["batch"],
                    mem(f["mem_after_batch"]), f["model_mapping_rss_kb"]))
    return "\n\n".join(parts)
