#!/usr/bin/python3
"""test/bench/embed_models_memory.py: a MiniLM-shaped BERT model in SQL.

Generates a random BERT with the all-MiniLM-L6-v2 shapes (6 layers, hidden
384, 12 heads, FFN 1536, 30,522-piece vocabulary, 512 positions, mean pooling
+ Normalize) with test/embed/check_models.py's writer, registers it on the
cluster of the libpq environment (PGHOST, PGPORT, PGUSER) and reports, for a
fresh backend: registration time (load + sha256 of 90 MB), first-call
latency (load, fingerprint check, packing), the backend's memory from
/proc/<pid>/smaps_rollup before and after (Rss, Pss, private), and
throughput on one core for ~60-token passages, single calls and batches of
32.  Run as the server account (it reads the backend's /proc entry).
"""
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "embed"))
import check_models as cm  # noqa: E402

WORDS = "the quick brown fox jump over lazy dog how do plants make energy data base index query search text".split()


def smaps(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def big_mappings(pid):
    """Mappings with more than 1 MB private dirty memory: (kB, name)."""
    out, name = [], ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                name = parts[5] if len(parts) > 5 else "[anon]"
            elif parts[0] == "Private_Dirty:" and int(parts[1]) > 1024:
                out.append((int(parts[1]), name))
    return out


def main():
    while len(cm.VOCAB) < 30522:
        cm.VOCAB.append(f"tok{len(cm.VOCAB)}")
    cm.VOCAB_IDS.clear()
    cm.VOCAB_IDS.update({t: i for i, t in enumerate(cm.VOCAB)})
    tmp = tempfile.mkdtemp(prefix="retrieval-minilm-")
    os.chmod(tmp, 0o755)
    d = os.path.join(tmp, "minilm")
    t0 = time.time()
    cm.Bert(11, hidden=384, heads=12, layers=6, ffn=1536, max_pos=512, pooling="mean", normalize=True).write(d)
    os.sync()   # else the fresh file's pages are dirty page cache, shown as Private_Dirty
    print(f"generated {d} in {time.time() - t0:.1f} s ({os.path.getsize(d + '/model.safetensors') / 2**20:.0f} MB)")

    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute("DROP DATABASE IF EXISTS retrieval_minilm_bench")
    admin.cursor().execute("CREATE DATABASE retrieval_minilm_bench")
    c = psycopg2.connect(dbname="retrieval_minilm_bench")
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE EXTENSION retrieval")
    t0 = time.time()
    cur.execute("SELECT retrieval.register_model('minilm', %s)", (d,))
    print(f"register_model: {time.time() - t0:.2f} s")
    c.close()

    rng = np.random.default_rng(1)
    passages = [" ".join(rng.choice(WORDS, 55)) for _ in range(256)]
    c = psycopg2.connect(dbname="retrieval_minilm_bench")
    cur = c.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    before = smaps(pid)
    t0 = time.time()
    cur.execute("SELECT vector_dims(retrieval.embed('hello', 'minilm'))")
    first = time.time() - t0
    after = smaps(pid)
    print(f"first call (load, fingerprint, pack): {first * 1000:.0f} ms")
    print("  private dirty mappings over 1 MB:", ", ".join(f"{n} {k / 1024:.1f} MB" for k, n in big_mappings(pid)))
    for k in ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean"):
        print(f"  {k:14s} before {before.get(k, 0):7.1f} MB  after {after.get(k, 0):7.1f} MB")
    cur.execute("SELECT sum(array_length(retrieval.model_tokens(t, 'minilm'), 1)) FROM unnest(%s::text[]) t",
                (passages,))
    tokens = cur.fetchone()[0]
    for label, sql, args in (
            ("single calls", "SELECT count(retrieval.embed(t, 'minilm')) FROM unnest(%s::text[]) t", (passages,)),
            ("batches of 32", "SELECT count(*) FROM generate_series(0, 7) b, "
                              "unnest(retrieval.embed((%s::text[])[b*32+1:b*32+32], 'minilm'))", (passages,))):
        best = None
        for _ in range(3):
            t0 = time.process_time()
            w0 = time.time()
            cur.execute(sql, args)
            cur.fetchall()
            w = time.time() - w0
            best = w if best is None else min(best, w)
        print(f"{label}: {len(passages) / best:.0f} passages/s, {tokens / best:.0f} tokens/s (wall, one backend)")
    after2 = smaps(pid)
    print(f"after the runs: Rss {after2['Rss']:.1f} MB, Pss {after2['Pss']:.1f} MB, "
          f"private {after2.get('Private_Clean', 0) + after2.get('Private_Dirty', 0):.1f} MB")
    c.close()
    if os.environ.get("KEEP"):
        print("kept", tmp)
        return
    admin.cursor().execute("DROP DATABASE IF EXISTS retrieval_minilm_bench")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
