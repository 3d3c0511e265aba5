"""Data loaders and bulk loading into PostgreSQL.

Readers (all read the shared data in place; nothing is copied):
  read_fvecs(path, count=None)    -> float32 array (n, d)
  read_ivecs(path, count=None)    -> int32 array (n, d)
  read_idx(path)                  -> uint8/... array (MNIST idx, .gz ok)
  read_jsonl(path)                -> iterator of dicts (.gz ok)
  load_beir(dir, split="test")    -> (corpus, queries, qrels)

Writers:
  copy_vectors(conn, table, vectors, ids=None, binary=True)
      bulk-load (id, vector) rows with COPY FROM STDIN, binary by default.
  vector_literal(v)               -> '[x,y,...]' text form of a vector
"""
import csv
import gzip
import io
import json
import os

import numpy as np


# -- .fvecs / .ivecs -----------------------------------------------------------
def _read_vecs(path, dtype, count):
    """Rows of `int32 dim, dim x 4-byte value`.  Memory-maps the file and
    returns a copy of the first `count` rows (all by default)."""
    raw = np.memmap(path, dtype=np.int32, mode="r")
    if raw.size == 0:
        return np.zeros((0, 0), dtype=dtype)
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        raise ValueError("%s: not a %s file (first dim %d, %d words)"
                         % (path, "fvecs" if dtype == np.float32 else "ivecs",
                            dim, raw.size))
    rows = raw.reshape(-1, dim + 1)
    if count is not None:
        rows = rows[:count]
    if not np.all(rows[:, 0] == dim):
        raise ValueError("%s: rows of different dimensions" % path)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def read_fvecs(path, count=None):
    return _read_vecs(path, np.float32, count)


def read_ivecs(path, count=None):
    return _read_vecs(path, np.int32, count)


# -- MNIST idx (e.g. /usr/share/datasets/fashion-mnist) ------------------------
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
              0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0:
        raise ValueError("%s: not an idx file" % path)
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)


# -- BEIR ------------------------------------------------------------------------
def read_jsonl(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_qrels(path):
    """qrels TSV with a header line: {query_id: {doc_id: score}}."""
    qrels = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_beir(directory, split="test"):
    """(corpus, queries, qrels) of a BEIR-layout directory.

    corpus:  {doc_id: {"title": ..., "text": ...}}
    queries: {query_id: text}, only the queries judged in `split`
    qrels:   {query_id: {doc_id: score}}
    """
    corpus = {}
    for d in read_jsonl(os.path.join(directory, "corpus.jsonl")):
        corpus[str(d["_id"])] = {"title": d.get("title", ""), "text": d.get("text", "")}
    qrels = read_qrels(os.path.join(directory, "qrels", split + ".tsv"))
    queries = {}
    for q in read_jsonl(os.path.join(directory, "queries.jsonl")):
        if str(q["_id"]) in qrels:
            queries[str(q["_id"])] = q["text"]
    return corpus, queries, qrels


# -- loading vectors into PostgreSQL ----------------------------------------------
def vector_literal(v):
    """Text form '[x,y,...]'; %.9g round-trips float32 exactly."""
    return "[" + ",".join("%.9g" % x for x in v) + "]"


def _binary_copy_payload(vectors, ids):
    """PostgreSQL binary COPY stream for rows (int4 id, vector).

    vector's binary form (vector_recv/vector_send, as in pgvector):
    int16 dim, int16 unused (0), dim x float4, all big-endian.
    """
    n, dim = vectors.shape
    row = np.dtype([("nfields", ">i2"), ("len_id", ">i4"), ("id", ">i4"),
                    ("len_v", ">i4"), ("dim", ">i2"), ("unused", ">i2"),
                    ("x", ">f4", (dim,))])
    rows = np.empty(n, dtype=row)
    rows["nfields"] = 2
    rows["len_id"] = 4
    rows["id"] = ids
    rows["len_v"] = 4 + 4 * dim
    rows["dim"] = dim
    rows["unused"] = 0
    rows["x"] = vectors
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    return header + rows.tobytes() + b"\xff\xff"


def copy_vectors(conn, table, vectors, ids=None, binary=True, batch=50000):
    """COPY rows (id, v) into table, ids 0..n-1 unless given.  Returns rows."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = vectors.shape[0]
    ids = np.arange(n, dtype=np.int32) if ids is None else np.asarray(ids, dtype=np.int32)
    with conn.cursor() as cur:
        for start in range(0, n, batch):
            chunk, chunk_ids = vectors[start:start + batch], ids[start:start + batch]
            if binary:
                buf = io.BytesIO(_binary_copy_payload(chunk, chunk_ids))
                cur.copy_expert("COPY %s (id, v) FROM STDIN (FORMAT binary)" % table, buf)
            else:
                text = "".join("%d\t%s\n" % (i, vector_literal(v))
                               for i, v in zip(chunk_ids, chunk))
                cur.copy_expert("COPY %s (id, v) FROM STDIN" % table, io.StringIO(text))
    return n
