#!/usr/bin/python3
"""test/embed/check_reference.py: the default model against its oracles.

Checks, through SQL on the running test cluster (libpq environment:
PGHOST, PGPORT, PGUSER):

  * retrieval.model_tokens() equals the reference JavaScript tokenizer's ids
    on every case of tokenizer_cases.json (5,019 lines);
  * retrieval.embed(text) and retrieval.embed(text[]) agree with the TF.js
    outputs in tfjs_reference.json: cosine >= 0.99999 and max |diff| <= 1e-4
    for every sentence, and the reference token ids.

The oracles are read in place from $SHARED_DATA/../reference/use-lite (never
copied into the project); when they are absent the check is skipped with a
message.  Run with Debian's /usr/bin/python3 (python3-psycopg2, python3-numpy).
"""
import json
import os
import sys

import numpy as np
import psycopg2

COSINE_MIN = 0.99999
MAX_ABS_DIFF = 1e-4


def reference_dir():
    shared = os.environ.get("SHARED_DATA")
    if not shared:
        return None
    d = os.path.join(shared, "..", "reference", "use-lite")
    return d if os.path.isdir(d) else None


def parse_vector(s):
    return np.array([float(x) for x in s.strip("[]").split(",")], dtype=np.float64)


def main():
    ref = reference_dir()
    if ref is None:
        print("embed reference check skipped: no $SHARED_DATA/../reference/use-lite")
        return 0

    with open(os.path.join(ref, "tokenizer_cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    with open(os.path.join(ref, "tfjs_reference.json"), encoding="utf-8") as f:
        tfjs = json.load(f)

    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute("DROP DATABASE IF EXISTS retrieval_embed_check")
        c.execute("CREATE DATABASE retrieval_embed_check")
    admin.close()

    conn = psycopg2.connect(dbname="retrieval_embed_check")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION retrieval")
    failures = 0

    # ---- tokenizer: every case ----
    inputs, expected = cases["inputs"], cases["ids"]
    cur.execute(
        "SELECT retrieval.model_tokens(t) FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, o) ORDER BY o",
        (inputs,))
    got = [r[0] for r in cur.fetchall()]
    bad = [i for i in range(len(inputs)) if got[i] != expected[i]]
    for i in bad[:10]:
        print(f"tokenizer mismatch on case {i} {inputs[i]!r}:\n  expected {expected[i]}\n  got      {got[i]}")
    print(f"tokenizer: {len(inputs) - len(bad)}/{len(inputs)} cases identical")
    failures += len(bad) > 0

    # ---- embeddings: single calls and one batched call ----
    sentences, tokens, emb = tfjs["sentences"], tfjs["tokens"], np.array(tfjs["emb"], dtype=np.float64)
    cur.execute("SELECT retrieval.model_tokens(t) FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, o) ORDER BY o",
                (sentences,))
    for i, (ids,) in enumerate(cur.fetchall()):
        if ids[:128] != tokens[i][:128]:
            print(f"reference tokens differ for {sentences[i]!r}: {ids} vs {tokens[i]}")
            failures += 1
    cur.execute("SELECT retrieval.embed(t)::text FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, o) ORDER BY o",
                (sentences,))
    single = np.array([parse_vector(r[0]) for r in cur.fetchall()])
    cur.execute("SELECT e::text FROM unnest(retrieval.embed(%s::text[])) WITH ORDINALITY AS u(e, o) ORDER BY o",
                (sentences,))
    batch = np.array([parse_vector(r[0]) for r in cur.fetchall()])
    for name, got in (("embed(text)", single), ("embed(text[])", batch)):
        worst_cos, worst_diff = 1.0, 0.0
        for i, s in enumerate(sentences):
            cos = float(got[i] @ emb[i] / (np.linalg.norm(got[i]) * np.linalg.norm(emb[i])))
            diff = float(np.max(np.abs(got[i] - emb[i])))
            worst_cos, worst_diff = min(worst_cos, cos), max(worst_diff, diff)
            if cos < COSINE_MIN or diff > MAX_ABS_DIFF:
                print(f"{name}: {s!r}: cosine {cos:.9f}, max abs diff {diff:.3g}")
                failures += 1
        print(f"{name}: {len(sentences)} sentences, worst cosine {worst_cos:.9f}, worst max abs diff {worst_diff:.3g}")

    conn.close()
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute("DROP DATABASE IF EXISTS retrieval_embed_check")
    admin.close()
    print("embed reference check:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
