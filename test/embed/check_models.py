#!/usr/bin/python3
"""test/embed/check_models.py: named, bring-your-own and static models.

Writes small randomly initialised models in the Hugging Face layout into a
temporary directory (BERT encoders: config.json, model.safetensors,
tokenizer.json with a hand-written WordPiece vocabulary, sentence-transformers
modules.json / 1_Pooling / sentence_bert_config.json; a Model2Vec-like static
model), registers them through SQL on the running test cluster (libpq
environment: PGHOST, PGPORT, PGUSER) and checks, against an INDEPENDENT
reference written here with numpy (WordPiece tokenizer following the Hugging
Face definitions, BERT forward pass in float64):

  * retrieval.model_tokens(text, model) equals the reference ids, and a set
    of hand-written cases (accents, CJK, punctuation, unknown and long words,
    control characters) equals the tokens written down by hand;
  * retrieval.embed(text, model) and embed(text[], model): cosine >= 0.99999
    with the reference, for CLS and mean pooling, normalised and not, F32,
    F16 and BF16 weights, truncation at the model's maximum length;
  * the registry: retrieval.models, fingerprints equal to
    `sha256sum <files> | sha256sum`, a changed file refused (in a new and in
    an already-loaded backend), unregister / re-register, privileges,
    pg_dump keeping the registrations;
  * corrupted model directories (truncated or malformed safetensors, wrong
    shapes, missing or unsupported tokenizer...) are clean errors, never a
    crashed backend.

Run with Debian's /usr/bin/python3 (python3-numpy, python3-psycopg2).
"""
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unicodedata

import numpy as np
import psycopg2

COSINE_MIN = 0.99999
DB = "retrieval_models_check"

# ---------------------------------------------------------------------------
# Vocabulary (hand-written)
# ---------------------------------------------------------------------------

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """the quick brown fox jump over lazy dog cafe naive resume un hello world test
a an is of to in and it for on with as at by from this that be are was
photo synthesis plant make energy how do why what sun light water leaf green
emb ##ed ##ing ##s ##er ##est ##able ##believ ##ly ##ness
data base index query search text token model vector""".split()
PUNCT = list(".,!?;:'\"()[]{}-_/\\@#$%^&*+=<>|~`")
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
CJK = list("中文日本語東京")
VOCAB = []
for t in SPECIALS + WORDS + PUNCT + LETTERS + ["##" + c for c in LETTERS] + CJK + [str(d) for d in range(10)]:
    if t not in VOCAB:
        VOCAB.append(t)
VOCAB_IDS = {t: i for i, t in enumerate(VOCAB)}
UNK, CLS, SEP = VOCAB_IDS["[UNK]"], VOCAB_IDS["[CLS]"], VOCAB_IDS["[SEP]"]

# ---------------------------------------------------------------------------
# Reference WordPiece tokenizer (Hugging Face BertNormalizer,
# BertPreTokenizer, WordPiece), written from their definitions
# ---------------------------------------------------------------------------

WHITE_SPACE = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
               0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_ws(c):
    return ord(c) in WHITE_SPACE


def is_punct(c):
    o = ord(c)
    return (33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126
            or unicodedata.category(c).startswith("P"))


def is_cjk(c):
    return any(a <= ord(c) <= b for a, b in CJK_RANGES)


def ref_tokenize(text, lowercase=True, strip_accents=None, max_chars=100):
    if strip_accents is None:
        strip_accents = lowercase
    out = []
    for c in text:
        if ord(c) in (0, 0xFFFD) or (c not in "\t\n\r" and unicodedata.category(c)[0] == "C"):
            continue
        if is_ws(c):
            c = " "
        out.append(f" {c} " if is_cjk(c) else c)
    s = "".join(out)
    if strip_accents:
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    if lowercase:
        s = "".join(c.lower() for c in s)
    words, cur = [], ""
    for c in s:
        if is_ws(c):
            if cur:
                words.append(cur)
            cur = ""
        elif is_punct(c):
            if cur:
                words.append(cur)
            words.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    ids = []
    for w in words:
        if len(w) > max_chars:
            ids.append(UNK)
            continue
        pieces, start = [], 0
        while start < len(w):
            end = len(w)
            found = None
            while end > start:
                sub = w[start:end] if start == 0 else "##" + w[start:end]
                if sub in VOCAB_IDS:
                    found = VOCAB_IDS[sub]
                    break
                end -= 1
            if found is None:
                pieces = [UNK]
                break
            pieces.append(found)
            start = end
        ids.extend(pieces)
    return ids


# Hand-written: text -> the tokens a BERT tokenizer (uncased) must give.
HAND_CASES = [
    ("Hello, World!", "hello , world !"),
    ("Café naïve RÉSUMÉ", "cafe naive resume"),
    ("中文test東京", "中 文 test 東 京"),
    ("unbelievable", "un ##believ ##able"),
    ("The quick brown fox jumped over the lazy dogs.", "the quick brown fox jump ##ed over the lazy dog ##s ."),
    ("embedding", "emb ##ed ##d ##ing"),
    ("snow☃man", "[UNK]"),                         # one unmatchable character: the whole word
    ("dog ☃ fox", "dog [UNK] fox"),
    ("fox—dog", "fox [UNK] dog"),                   # em dash: punctuation, split, not in vocab
    ("the\tfox\u200bdog\u0007\r\nis", "the fox ##d ##o ##g is"),  # ZWSP (Cf), BEL (Cc) removed
    ("a" * 100, " ".join(["a"] + ["##a"] * 99)),
    ("a" * 101, "[UNK]"),                           # longer than max_input_chars_per_word
    ("x" * 101 + " the", "[UNK] the"),
    ("", ""),
    ("   ", ""),
    ("(test)[3]", "( test ) [ 3 ]"),
    ("Ǆ ﬁ", "[UNK] [UNK]"),                         # lowercased, but no NFKC in BERT: not in vocab
]

# ---------------------------------------------------------------------------
# Model writers
# ---------------------------------------------------------------------------


def f16_round(a):
    return a.astype(np.float16).astype(np.float64)


def bf16_round(a):
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    b = ((b.astype(np.uint64) + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint32) << 16
    return b.view(np.float32).astype(np.float64)


def write_safetensors(path, tensors, dtype="F32", extra=None):
    """tensors: name -> float64 array (already rounded for F16/BF16)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        if dtype == "F32":
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif dtype == "F16":
            raw = np.ascontiguousarray(a, dtype="<f2").tobytes()
        else:
            raw = (np.ascontiguousarray(a, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    for name, (dt, shape, raw) in (extra or {}).items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def tokenizer_json(lowercase=True, post="template", truncation=None):
    specials = {t: {"id": t, "ids": [VOCAB_IDS[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")}
    if post == "template":
        pp = {"type": "TemplateProcessing",
              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
              "pair": [], "special_tokens": specials}
    elif post == "bert":
        pp = {"type": "BertProcessing", "sep": ["[SEP]", SEP], "cls": ["[CLS]", CLS]}
    else:
        pp = None
    return {
        "version": "1.0",
        "truncation": None if truncation is None else {"direction": "Right", "max_length": truncation,
                                                        "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [{"id": VOCAB_IDS[t], "content": t, "special": True} for t in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": pp,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": VOCAB_IDS},
    }


class Bert:
    """A random BERT, its files, and the float64 reference forward pass."""

    def __init__(self, seed, hidden=64, heads=4, layers=2, ffn=128, max_pos=40, pooling="mean",
                 normalize=False, dtype="F32", prefix="", old_ln_names=False, lowercase=True,
                 post="template", truncation=None, max_seq_length=None, modules=True):
        rng = np.random.default_rng(seed)
        self.h, self.heads, self.layers, self.max_pos = hidden, heads, layers, max_pos
        self.pooling, self.normalize, self.lowercase = pooling, normalize, lowercase
        self.max_len = min(x for x in (max_pos, truncation, max_seq_length) if x)
        self.cfg = dict(hidden=hidden, heads=heads, layers=layers, ffn=ffn, max_pos=max_pos, dtype=dtype,
                        prefix=prefix, old_ln_names=old_ln_names, post=post, truncation=truncation,
                        max_seq_length=max_seq_length, modules=modules)
        rnd = {"F32": lambda a: a, "F16": f16_round, "BF16": bf16_round}[dtype]

        def mat(*shape, scale):
            return rnd(rng.normal(0, scale, shape))

        V = len(VOCAB)
        w = {}
        ln = ("gamma", "beta") if old_ln_names else ("weight", "bias")
        p = prefix
        w[p + "embeddings.word_embeddings.weight"] = mat(V, hidden, scale=1.0)
        w[p + "embeddings.position_embeddings.weight"] = mat(max_pos, hidden, scale=0.5)
        w[p + "embeddings.token_type_embeddings.weight"] = mat(2, hidden, scale=0.5)
        w[p + f"embeddings.LayerNorm.{ln[0]}"] = rnd(1 + rng.normal(0, 0.1, hidden))
        w[p + f"embeddings.LayerNorm.{ln[1]}"] = mat(hidden, scale=0.1)
        for l in range(layers):
            q = p + f"encoder.layer.{l}."
            for n in ("query", "key", "value"):
                w[q + f"attention.self.{n}.weight"] = mat(hidden, hidden, scale=0.25)
                w[q + f"attention.self.{n}.bias"] = mat(hidden, scale=0.1)
            w[q + "attention.output.dense.weight"] = mat(hidden, hidden, scale=0.15)
            w[q + "attention.output.dense.bias"] = mat(hidden, scale=0.1)
            w[q + f"attention.output.LayerNorm.{ln[0]}"] = rnd(1 + rng.normal(0, 0.1, hidden))
            w[q + f"attention.output.LayerNorm.{ln[1]}"] = mat(hidden, scale=0.1)
            w[q + "intermediate.dense.weight"] = mat(ffn, hidden, scale=0.2)
            w[q + "intermediate.dense.bias"] = mat(ffn, scale=0.1)
            w[q + "output.dense.weight"] = mat(hidden, ffn, scale=0.1)
            w[q + "output.dense.bias"] = mat(hidden, scale=0.1)
            w[q + f"output.LayerNorm.{ln[0]}"] = rnd(1 + rng.normal(0, 0.1, hidden))
            w[q + f"output.LayerNorm.{ln[1]}"] = mat(hidden, scale=0.1)
        w[p + "pooler.dense.weight"] = mat(hidden, hidden, scale=0.1)   # unused by sentence encoders
        w[p + "pooler.dense.bias"] = mat(hidden, scale=0.1)
        self.w, self.p, self.ln = w, p, ln

    def write(self, d):
        c = self.cfg
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": c["hidden"],
                       "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
                       "intermediate_size": c["ffn"], "max_position_embeddings": c["max_pos"],
                       "vocab_size": len(VOCAB), "type_vocab_size": 2, "hidden_act": "gelu",
                       "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
                       "hidden_dropout_prob": 0.1}, f, indent=2)
        # an I64 tensor (position_ids in older checkpoints) must be ignored
        extra = {self.p + "embeddings.position_ids": ("I64", [1, c["max_pos"]],
                                                      np.arange(c["max_pos"], dtype="<i8").tobytes())}
        write_safetensors(os.path.join(d, "model.safetensors"), self.w, c["dtype"], extra)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(self.lowercase, c["post"], c["truncation"]), f, ensure_ascii=False)
        if c["modules"]:
            mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
            if self.normalize:
                mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                             "type": "sentence_transformers.models.Normalize"})
            with open(os.path.join(d, "modules.json"), "w") as f:
                json.dump(mods, f)
            os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
            with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
                json.dump({"word_embedding_dimension": c["hidden"],
                           "pooling_mode_cls_token": self.pooling == "cls",
                           "pooling_mode_mean_tokens": self.pooling == "mean",
                           "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, f)
        if c["max_seq_length"]:
            with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
                json.dump({"max_seq_length": c["max_seq_length"], "do_lower_case": False}, f)

    def ids(self, text):
        body = ref_tokenize(text, lowercase=self.lowercase)
        specials = 2 if self.cfg["post"] else 0
        return ([CLS] if specials else []) + body[:self.max_len - specials] + ([SEP] if specials else [])

    def forward(self, ids):
        w, p, H, ln = self.w, self.p, self.h, self.ln
        dh = H // self.heads
        erf = np.vectorize(math.erf)

        def layer_norm(x, name):
            m = x.mean(-1, keepdims=True)
            v = ((x - m) ** 2).mean(-1, keepdims=True)
            return (x - m) / np.sqrt(v + 1e-12) * w[name + "." + ln[0]] + w[name + "." + ln[1]]

        def lin(x, name):
            return x @ w[name + ".weight"].T + w[name + ".bias"]

        n = len(ids)
        x = (w[p + "embeddings.word_embeddings.weight"][ids] + w[p + "embeddings.position_embeddings.weight"][:n]
             + w[p + "embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, p + "embeddings.LayerNorm")
        for l in range(self.layers):
            q = p + f"encoder.layer.{l}."
            Q, K, Vv = (lin(x, q + f"attention.self.{t}").reshape(n, self.heads, dh).transpose(1, 0, 2)
                        for t in ("query", "key", "value"))
            s = Q @ K.transpose(0, 2, 1) / math.sqrt(dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ Vv).transpose(1, 0, 2).reshape(n, H)
            x = layer_norm(x + lin(ctx, q + "attention.output.dense"), q + "attention.output.LayerNorm")
            f = lin(x, q + "intermediate.dense")
            f = 0.5 * f * (1 + erf(f / math.sqrt(2)))
            x = layer_norm(x + lin(f, q + "output.dense"), q + "output.LayerNorm")
        y = x[0] if self.pooling == "cls" else x.mean(0)
        if self.normalize:
            y = y / max(np.linalg.norm(y), 1e-12)
        return y


class Static:
    def __init__(self, seed, dims=48, normalize=True):
        rng = np.random.default_rng(seed)
        self.table = rng.normal(0, 1, (len(VOCAB), dims))
        self.normalize, self.dims = normalize, dims

    def write(self, d):
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "model.safetensors"), {"embeddings": self.table})
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(True, "template"), f, ensure_ascii=False)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "model2vec", "architectures": ["StaticModel"],
                       "normalize": self.normalize, "hidden_dim": self.dims}, f)

    def ids(self, text):
        return [i for i in ref_tokenize(text) if i != UNK][:512]

    def forward(self, ids):
        if not ids:
            return np.zeros(self.dims)
        y = self.table[ids].mean(0)
        return y / max(np.linalg.norm(y), 1e-12) if self.normalize else y


def manifest_sha256(d, names):
    lines = ""
    for n in names:
        if os.path.exists(os.path.join(d, n)):
            with open(os.path.join(d, n), "rb") as f:
                lines += f"{hashlib.sha256(f.read()).hexdigest()}  {n}\n"
    return hashlib.sha256(lines.encode()).hexdigest()


BERT_FILES = ["config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json",
              "sentence_bert_config.json"]
STATIC_FILES = ["config.json", "model.safetensors", "tokenizer.json"]

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

SENTENCES = [
    "how do plants make energy",
    "Photosynthesis: the sun's light, water and a green leaf!",
    "The quick brown fox jumped over the lazy dogs.",
    "Café naïve résumé — unbelievable",
    "中文 and 日本語 text, 東京",
    "",
    "a",
    "x" * 150,
    " ".join(["the quick brown fox"] * 30),          # longer than every model's limit
    "data base index query search text token model vector embedding",
    "\t\n tabs\u00a0and\u3000spaces\u200b, controls\u0007 and ☃ unknowns ☃",
]


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what):
        if not ok:
            self.failures += 1
            print("FAILED:", what)
        return ok


def parse_vector(s):
    return np.array([float(x) for x in s.strip("[]").split(",")], dtype=np.float64)


def cosine(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def sqlstate_of(cur, sql, args=()):
    try:
        cur.execute(sql, args)
        return None
    except psycopg2.Error as e:
        return e.pgcode


def main():
    ck = Checker()
    tmp = tempfile.mkdtemp(prefix="retrieval-models-")
    os.chmod(tmp, 0o755)
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB}")
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION retrieval")
    cur.execute("SELECT pg_postmaster_start_time()")
    started = cur.fetchone()[0]

    models = {
        "bert_mean_norm": Bert(1, pooling="mean", normalize=True),
        "bert_cls": Bert(2, pooling="cls", normalize=False, dtype="F16", prefix="bert.", old_ln_names=True,
                         post="bert", max_seq_length=16),
        "bert_mean_bf16": Bert(3, pooling="mean", normalize=False, dtype="BF16", modules=False, truncation=12),
        "bert_cls_norm_cased": Bert(4, hidden=96, heads=3, layers=3, ffn=192, pooling="cls", normalize=True,
                                    lowercase=False),
        "static": Static(5),
    }
    for name, m in models.items():
        d = os.path.join(tmp, name)
        m.write(d)
        cur.execute("SELECT retrieval.register_model(%s, %s)", (name, d))

    # ---- the registry ----
    cur.execute("SELECT name, kind, dims, max_tokens, file, sha256 FROM retrieval.models ORDER BY name")
    rows = {r[0]: r for r in cur.fetchall()}
    ck.check("use-lite" in rows, "retrieval.models lists the default model")
    for name, m in models.items():
        d = os.path.join(tmp, name)
        r = rows.get(name)
        if not ck.check(r is not None, f"{name} listed"):
            continue
        kind = "static" if isinstance(m, Static) else "bert"
        dims = m.dims if isinstance(m, Static) else m.h
        max_tokens = 512 if isinstance(m, Static) else m.max_len
        sha = manifest_sha256(d, STATIC_FILES if kind == "static" else BERT_FILES)
        ck.check(r[1:] == (kind, dims, max_tokens, d, sha), f"{name}: registry row {r[1:]} vs {(kind, dims, max_tokens, d, sha)}")
        cur.execute("SELECT retrieval.model_fingerprint(%s)", (name,))
        ck.check(cur.fetchone()[0] == sha, f"{name}: model_fingerprint")
    print(f"registry: {len(models)} models registered, rows and fingerprints checked")

    # ---- hand-written WordPiece cases ----
    bad = 0
    for text, expected in HAND_CASES:
        cur.execute("SELECT retrieval.model_tokens(%s, 'bert_mean_norm')", (text,))
        got = [VOCAB[i] for i in cur.fetchone()[0]]
        want = ["[CLS]"] + expected.split() + ["[SEP]"]
        ref = [VOCAB[i] for i in [CLS] + ref_tokenize(text) + [SEP]]
        if not ck.check(got == want and ref == want, f"tokens of {text[:40]!r}: got {got}, hand-written {want}, reference {ref}"):
            bad += 1
    print(f"wordpiece: {len(HAND_CASES) - bad}/{len(HAND_CASES)} hand-written cases")

    # ---- every model against the reference ----
    for name, m in models.items():
        worst = 1.0
        cur.execute("SELECT retrieval.model_tokens(t, %s) FROM unnest(%s::text[]) WITH ORDINALITY u(t, o) ORDER BY o",
                    (name, SENTENCES))
        toks = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT retrieval.embed(t, %s)::text FROM unnest(%s::text[]) WITH ORDINALITY u(t, o) ORDER BY o",
                    (name, SENTENCES))
        single = [parse_vector(r[0]) for r in cur.fetchall()]
        cur.execute("SELECT e::text FROM unnest(retrieval.embed(%s::text[], %s)) WITH ORDINALITY u(e, o) ORDER BY o",
                    (SENTENCES, name))
        batch = [parse_vector(r[0]) for r in cur.fetchall()]
        for i, s in enumerate(SENTENCES):
            ids = m.ids(s)
            if isinstance(m, Static):                    # whole tokenization, unknowns dropped
                full = [t for t in ref_tokenize(s) if t != UNK]
            else:                                         # whole tokenization with [CLS] ... [SEP]
                full = [CLS] + ref_tokenize(s, lowercase=m.lowercase) + [SEP]
            ck.check(toks[i] == full, f"{name}: model_tokens({s[:30]!r}) = {toks[i]}, reference {full}")
            ref = m.forward(ids)
            c1, c2 = cosine(single[i], ref), cosine(batch[i], ref)
            worst = min(worst, c1, c2)
            ck.check(c1 >= COSINE_MIN and c2 >= COSINE_MIN,
                     f"{name}: {s[:30]!r}: cosine single {c1:.9f}, batch {c2:.9f}")
            ck.check(np.array_equal(single[i], batch[i]), f"{name}: batch == single for {s[:30]!r}")
            if getattr(m, "normalize", False) and np.linalg.norm(ref) > 0:
                ck.check(abs(np.linalg.norm(single[i]) - 1) < 1e-5, f"{name}: unit norm")
        print(f"{name}: {len(SENTENCES)} sentences, worst cosine {worst:.9f}")

    # the packed-weight cache: a damaged cache file is ignored (CRC) and rewritten
    cur.execute("SHOW data_directory")
    cache = os.path.join(cur.fetchone()[0], "pg_retrieval_cache",
                         manifest_sha256(os.path.join(tmp, "bert_mean_norm"), BERT_FILES) + "-bert-v1.p16")
    if ck.check(os.path.exists(cache), f"packed-weight cache {cache} written"):
        with open(cache, "rb+") as f:
            f.seek(os.path.getsize(cache) // 2)
            f.write(b"\x7f\x7f\x7f\x7f")
        other = psycopg2.connect(dbname=DB)
        oc = other.cursor()
        oc.execute("SELECT retrieval.embed(%s, 'bert_mean_norm')::text", (SENTENCES[0],))
        m = models["bert_mean_norm"]
        ck.check(cosine(parse_vector(oc.fetchone()[0]), m.forward(m.ids(SENTENCES[0]))) >= COSINE_MIN,
                 "damaged packed-weight cache ignored")
        other.close()
        print("packed-weight cache: damaged file ignored and rewritten")

    # truncation: a long text embeds like its first max_len tokens
    m = models["bert_cls"]
    cur.execute("SELECT retrieval.embed(%s, 'bert_cls') = retrieval.embed(%s, 'bert_cls')",
                ("the quick brown fox " * 50, "the quick brown fox " * 4))
    ck.check(cur.fetchone()[0], "truncation to max_seq_length (16 tokens with [CLS], [SEP])")
    cur.execute("SELECT vector_dims(retrieval.embed(repeat('hello world ', 90000), 'bert_mean_norm'))")
    ck.check(cur.fetchone()[0] == 64, "1 MB text")

    # IMMUTABLE use: generated column and expression index with a named model
    cur.execute("CREATE TABLE gen (id int, body text, e vector(64) "
                "GENERATED ALWAYS AS (retrieval.embed(body, 'bert_mean_norm')) STORED)")
    cur.execute("INSERT INTO gen (id, body) VALUES (1, 'the lazy dog'), (2, 'plants make energy')")
    cur.execute("CREATE INDEX ON gen USING retrieval (e vector_cosine_ops)")
    cur.execute("SELECT id FROM gen ORDER BY e <=> retrieval.embed('a lazy dog', 'bert_mean_norm') LIMIT 1")
    ck.check(cur.fetchone()[0] == 1, "generated column + HNSW with a named model")

    # ---- errors of the registry ----
    d0 = os.path.join(tmp, "bert_mean_norm")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('bert_mean_norm', %s)", (d0,)) == "42710",
             "registering a name twice: 42710")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('use-lite', %s)", (d0,)) == "42710",
             "the default model's name is reserved")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('rel', 'relative/path')") == "22023",
             "relative path: 22023")
    ck.check(sqlstate_of(cur, "SELECT retrieval.embed('x', 'nope')") == "42704", "unknown model: 42704")
    ck.check(sqlstate_of(cur, "SELECT retrieval.unregister_model('nope')") == "42704", "unregister unknown: 42704")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('missing', %s)", (tmp + "/none",)) == "58P01",
             "missing path: 58P01")

    # privileges: plain role refused, pg_read_server_files member allowed
    cur.execute("DROP ROLE IF EXISTS models_plain; DROP ROLE IF EXISTS models_reader")
    cur.execute("CREATE ROLE models_plain; CREATE ROLE models_reader IN ROLE pg_read_server_files")
    cur.execute("SET ROLE models_plain")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('p', %s)", (d0,)) == "42501",
             "register_model by a plain role: 42501")
    ck.check(sqlstate_of(cur, "SELECT retrieval.unregister_model('static')") == "42501",
             "unregister_model by a plain role: 42501")
    ck.check(sqlstate_of(cur, "INSERT INTO retrieval.model_registry VALUES ('x','bert',1,1,'/','%s')" % ("0" * 64)) == "42501",
             "direct writes to the registry: 42501")
    cur.execute("SELECT vector_dims(retrieval.embed('x', 'static')), count(*) FROM retrieval.models")
    ck.check(cur.fetchone() == (48, len(models) + 1), "a plain role embeds and reads retrieval.models")
    cur.execute("RESET ROLE; SET ROLE models_reader")
    ck.check(sqlstate_of(cur, "SELECT retrieval.register_model('reader_model', %s)", (d0,)) is None,
             "register_model by a pg_read_server_files member")
    ck.check(sqlstate_of(cur, "SELECT retrieval.unregister_model('reader_model')") is None,
             "unregister_model by a pg_read_server_files member")
    cur.execute("RESET ROLE")
    ck.check(os.path.exists(cache), "unregistering a second name of the same files keeps their packed-weight cache")

    # ---- packed-weight cache files go with the last registration, at commit ----
    dg = os.path.join(tmp, "cache_gc")
    Bert(8).write(dg)
    gc_cache = os.path.join(os.path.dirname(cache), manifest_sha256(dg, BERT_FILES) + "-bert-v1.p16")
    cur.execute("SELECT retrieval.register_model('cache_gc', %s)", (dg,))
    ck.check(os.path.exists(gc_cache), "register_model writes the packed-weight cache")
    holder = psycopg2.connect(dbname=DB)              # a backend that has the file mapped
    holder.autocommit = True
    hc = holder.cursor()
    hc.execute("SELECT retrieval.embed('fox', 'cache_gc')::text")
    held = hc.fetchone()[0]
    cur.execute("BEGIN; SELECT retrieval.unregister_model('cache_gc')")
    ck.check(os.path.exists(gc_cache), "cache kept until the unregistering transaction commits")
    cur.execute("ROLLBACK")
    ck.check(os.path.exists(gc_cache), "cache kept when unregister_model rolls back")
    cur.execute("SELECT retrieval.unregister_model('cache_gc')")
    ck.check(not os.path.exists(gc_cache), "cache removed when unregister_model commits")
    # the backend that mapped the removed file: a clean error, still usable
    ck.check(sqlstate_of(hc, "SELECT retrieval.embed('fox', 'cache_gc')") == "42704",
             "a backend that had the removed cache mapped: unregistered model is 42704")
    ck.check(sqlstate_of(hc, "SELECT retrieval.embed('fox', 'bert_mean_norm')") is None,
             "that backend still embeds with other models")
    holder.close()
    cur.execute("SELECT retrieval.register_model('cache_gc', %s)", (dg,))
    ck.check(os.path.exists(gc_cache), "registering again writes the cache again")
    cur.execute("SELECT retrieval.embed('fox', 'cache_gc')::text")
    ck.check(cur.fetchone()[0] == held, "same embedding from the rewritten cache")
    print("packed-weight cache: removed at commit of the last unregistration, kept otherwise")

    # pg_dump keeps the registrations
    pgbin = os.environ.get("PGBIN", "")
    pg_dump = os.path.join(pgbin, "pg_dump") if pgbin else shutil.which("pg_dump")
    if pg_dump and os.path.exists(pg_dump):
        out = subprocess.run([pg_dump, "-d", DB, "--data-only"], capture_output=True, text=True).stdout
        ck.check("bert_mean_norm" in out and "model_registry" in out, "pg_dump keeps the registry rows")
    else:
        print("pg_dump check skipped: no pg_dump (set PGBIN)")

    # ---- a changed file is refused ----
    dc = os.path.join(tmp, "changing")
    Bert(6).write(dc)
    cur.execute("SELECT retrieval.register_model('changing', %s)", (dc,))
    cur.execute("SELECT retrieval.embed('fox', 'changing')::text")
    before = cur.fetchone()[0]
    with open(os.path.join(dc, "tokenizer.json"), "a") as f:
        f.write(" ")                                  # any change, even whitespace
    ck.check(sqlstate_of(cur, "SELECT retrieval.embed('fox', 'changing')") == "XX001",
             "changed file refused in a backend that had loaded the model")
    other = psycopg2.connect(dbname=DB)
    other.autocommit = True
    ocur = other.cursor()
    try:
        ocur.execute("SELECT retrieval.embed('fox', 'changing')")
        ck.check(False, "changed file refused in a new backend")
    except psycopg2.Error as e:
        ck.check(e.pgcode == "XX001" and "re-register" in (e.diag.message_hint or ""),
                 f"changed file refused in a new backend with a hint ({e.pgcode}, {e.diag.message_hint})")
    other.close()
    with open(os.path.join(dc, "tokenizer.json"), "rb+") as f:   # restore the content: accepted again
        f.truncate(os.path.getsize(os.path.join(dc, "tokenizer.json")) - 1)
    cur.execute("SELECT retrieval.embed('fox', 'changing')::text")
    ck.check(cur.fetchone()[0] == before, "restored content accepted, same embedding")
    Bert(7).write(dc)                                    # another model under the same name
    ck.check(sqlstate_of(cur, "SELECT retrieval.embed('fox', 'changing')") == "XX001", "replaced weights refused")
    cur.execute("SELECT retrieval.unregister_model('changing'); SELECT retrieval.register_model('changing', %s)", (dc,))
    cur.execute("SELECT retrieval.embed('fox', 'changing')::text")
    ck.check(cosine(parse_vector(cur.fetchone()[0]), Bert(7).forward(Bert(7).ids("fox"))) >= COSINE_MIN,
             "re-registered model is the new one")
    print("registry errors, privileges, fingerprint refusals checked")

    # ---- an expression index records the fingerprint of its model ----
    dst = os.path.join(tmp, "stamped")
    Bert(8).write(dst)
    cur.execute("SELECT retrieval.register_model('stamped', %s)", (dst,))
    emb = "(retrieval.embed(body, 'stamped')::vector(64))"
    cur.execute("CREATE TABLE stamp_t (id int, body text)")
    plain = [w for w in WORDS if not w.startswith("##")]
    for i in range(1, 61):                               # distinct texts the vocabulary covers
        cur.execute("INSERT INTO stamp_t VALUES (%s, %s)",
                    (i, " ".join(plain[(i * k) % len(plain)] for k in (1, 7, 13))))
    cur.execute(f"CREATE INDEX stamp_idx ON stamp_t USING retrieval ({emb} vector_cosine_ops)")
    # distances, not ids: a tiny random model gives many rows the same vector
    knn = (f"SELECT array_agg(round(d::numeric, 6)) FROM (SELECT {emb} <=> "
           "retrieval.embed('plant light energy', 'stamped')::vector(64) AS d FROM stamp_t ORDER BY 1 LIMIT 5) s")

    def exact():
        cur.execute("SET enable_indexscan = off; SET enable_seqscan = on")
        cur.execute(knn)
        r = cur.fetchone()[0]
        cur.execute("SET enable_indexscan = on; SET enable_seqscan = off")
        return r
    cur.execute("SET enable_seqscan = off")
    cur.execute("EXPLAIN (COSTS OFF) " + knn)
    ck.check("stamp_idx" in " ".join(r[0] for r in cur.fetchall()), "expression index is used")
    want = exact()
    cur.execute(knn)
    got = cur.fetchone()[0]
    ck.check(got == want, f"expression index answers as a sequential scan does ({got} vs {want})")
    cur.execute("SELECT retrieval.unregister_model('stamped')")
    Bert(9).write(dst)                                   # another model, same name and dimensions
    cur.execute("SELECT retrieval.register_model('stamped', %s)", (dst,))

    def refused(sql, what):
        try:
            cur.execute(sql)
            ck.check(False, what + ": refused")
        except psycopg2.Error as e:
            ck.check(e.pgcode == "55000" and "REINDEX INDEX public.stamp_idx" in (e.diag.message_hint or "")
                     and "fingerprint" in (e.diag.message_detail or ""),
                     f"{what}: refused with 55000 and a REINDEX hint ({e.pgcode}, {e.diag.message_hint})")
    refused(knn, "scan of an index built with the previous model")
    refused("INSERT INTO stamp_t VALUES (61, 'green leaf')", "insert into an index built with the previous model")
    cur.execute("REINDEX INDEX stamp_idx")
    cur.execute("INSERT INTO stamp_t VALUES (61, 'green leaf')")
    want = exact()
    cur.execute(knn)
    ck.check(cur.fetchone()[0] == want, "after REINDEX the index answers with the new model")
    cur.execute("RESET enable_seqscan")
    cur.execute("DROP TABLE stamp_t")
    cur.execute("SELECT retrieval.unregister_model('stamped')")
    print("expression index model fingerprints checked")

    # ---- a hybrid text index records the fingerprint of its model too ----
    Bert(10).write(dst)
    cur.execute("SELECT retrieval.register_model('stamped', %s)", (dst,))
    cur.execute("CREATE TABLE hyb_t (id int, body text)")
    for i in range(1, 61):
        cur.execute("INSERT INTO hyb_t VALUES (%s, %s)",
                    (i, " ".join(plain[(i * k) % len(plain)] for k in (1, 7, 13))))
    cur.execute("CREATE INDEX hyb_idx ON hyb_t USING retrieval (body) WITH (model = 'stamped')")
    # the per-row form names the index (a PL/pgSQL-free bound query)
    sem = ("SELECT array_agg(round(d::numeric, 6)) FROM (SELECT body <~> "
           "retrieval.bm25_query('plant light energy', 'hyb_idx') AS d FROM hyb_t ORDER BY 1 LIMIT 5) s")

    def exact_sem():
        cur.execute("SET enable_indexscan = off; SET enable_seqscan = on")
        cur.execute(sem)
        r = cur.fetchone()[0]
        cur.execute("SET enable_indexscan = on; SET enable_seqscan = off")
        return r
    want = exact_sem()
    cur.execute(sem)
    got = cur.fetchone()[0]
    ck.check(got == want, f"hybrid index with a registered model answers as a sequential scan ({got} vs {want})")
    cur.execute("SELECT retrieval.unregister_model('stamped')")
    Bert(11).write(dst)                                  # another model under the same name
    cur.execute("SELECT retrieval.register_model('stamped', %s)", (dst,))

    def refused_hyb(sql, what):
        try:
            cur.execute(sql)
            ck.check(False, what + ": refused")
        except psycopg2.Error as e:
            ck.check(e.pgcode == "55000" and "REINDEX INDEX public.hyb_idx" in (e.diag.message_hint or ""),
                     f"{what}: refused with 55000 and a REINDEX hint ({e.pgcode}, {e.diag.message_hint})")
    refused_hyb(sem, "hybrid scan with the model replaced")
    refused_hyb("SELECT body <=> retrieval.bm25_query('leaf', 'hyb_idx') FROM hyb_t",
                "per-row <=> with the model replaced")
    refused_hyb("INSERT INTO hyb_t VALUES (61, 'green leaf')", "insert into a hybrid index with the model replaced")
    cur.execute("REINDEX INDEX hyb_idx")
    cur.execute("INSERT INTO hyb_t VALUES (61, 'green leaf')")
    want = exact_sem()
    cur.execute(sem)
    ck.check(cur.fetchone()[0] == want, "after REINDEX the hybrid index answers with the new model")
    cur.execute("RESET enable_seqscan")
    cur.execute("DROP TABLE hyb_t")
    cur.execute("SELECT retrieval.unregister_model('stamped')")
    print("hybrid index model fingerprints checked")

    # ---- corrupted directories: clean errors, never a crash ----
    corruptions = 0

    def corrupt(label, mutate, expect=None):
        nonlocal corruptions
        d = os.path.join(tmp, "corrupt_" + str(corruptions))
        corruptions += 1
        shutil.copytree(d0, d)
        mutate(d)
        code = sqlstate_of(cur, "SELECT retrieval.register_model(%s, %s)", ("corrupt%d" % corruptions, d))
        if code is None:
            code = sqlstate_of(cur, "SELECT retrieval.embed('the fox', %s)", ("corrupt%d" % corruptions,))
        ck.check(expect == "any" or (code is not None and (expect is None or code in expect)),
                 f"corruption {label!r}: SQLSTATE {code}, expected an error {expect or ''}")

    st = os.path.join("{}", "model.safetensors")

    def trunc(n):
        def f(d):
            p = st.format(d)
            with open(p, "rb+") as fh:
                fh.truncate(n if n >= 0 else os.path.getsize(p) + n)
        return f

    def patch(off, data, rel="model.safetensors"):
        def f(d):
            with open(os.path.join(d, rel), "rb+") as fh:
                fh.seek(off)
                fh.write(data)
        return f

    def header_edit(fn):
        def f(d):
            p = st.format(d)
            raw = open(p, "rb").read()
            n = struct.unpack("<Q", raw[:8])[0]
            h = json.loads(raw[8:8 + n])
            fn(h)
            hb = json.dumps(h).encode()
            open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
        return f

    def json_edit(rel, fn):
        def f(d):
            p = os.path.join(d, rel)
            j = json.load(open(p, encoding="utf-8"))
            fn(j)
            json.dump(j, open(p, "w", encoding="utf-8"))
        return f

    def write(rel, data):
        def f(d):
            open(os.path.join(d, rel), "wb").write(data)
        return f

    def remove(rel):
        return lambda d: os.remove(os.path.join(d, rel))

    XX = {"XX001"}
    corrupt("truncated safetensors (half)", lambda d: trunc(os.path.getsize(st.format(d)) // 2)(d), XX)
    corrupt("truncated safetensors (last byte)", trunc(-1), XX)
    corrupt("truncated safetensors (inside the header)", trunc(20), XX)
    corrupt("empty safetensors", trunc(0), XX)
    corrupt("header length beyond the file", patch(0, struct.pack("<Q", 1 << 40)), XX)
    corrupt("header length 2^64-1", patch(0, b"\xff" * 8), XX)
    corrupt("bad header JSON", patch(8, b"{\"a\": [1, 2,,}"), XX | {"22P02"})
    corrupt("header not an object", header_edit(lambda h: (h.clear(), h.update({"x": 5}))), XX)
    corrupt("data_offsets beyond the data", header_edit(
        lambda h: h["embeddings.word_embeddings.weight"].update(data_offsets=[0, 1 << 40])), XX)
    corrupt("shape inconsistent with bytes", header_edit(
        lambda h: h["embeddings.word_embeddings.weight"].update(shape=[10, 64])), XX)
    corrupt("negative dimension", header_edit(
        lambda h: h["embeddings.word_embeddings.weight"].update(shape=[-1, 64])), XX)
    corrupt("unsupported dtype for a weight", header_edit(
        lambda h: h["encoder.layer.0.output.dense.bias"].update(dtype="I32")), XX)
    corrupt("missing tensor", header_edit(lambda h: h.pop("encoder.layer.1.output.dense.weight")), XX)
    corrupt("wrong shape (transposed)", header_edit(
        lambda h: h["encoder.layer.0.intermediate.dense.weight"].update(shape=[64, 128])), XX)
    corrupt("hidden_size disagrees with the weights", json_edit("config.json", lambda j: j.update(hidden_size=32)), XX | {"0A000"})
    corrupt("hidden_size not a multiple of the heads", json_edit("config.json", lambda j: j.update(num_attention_heads=5)), {"0A000", "XX001"})
    corrupt("unsupported activation", json_edit("config.json", lambda j: j.update(hidden_act="relu")), {"0A000"})
    corrupt("absurd sizes", json_edit("config.json", lambda j: j.update(num_hidden_layers=10 ** 9)), XX)
    corrupt("config not JSON", write("config.json", b"not json"), XX | {"22P02"})
    corrupt("config invalid UTF-8", write("config.json", b"{\"model_type\": \"\xff\"}"), XX)
    corrupt("unsupported model type", json_edit("config.json", lambda j: j.update(model_type="gpt2")), {"0A000"})
    corrupt("missing tokenizer.json", remove("tokenizer.json"), {"58P01"})
    corrupt("missing model.safetensors", remove("model.safetensors"), {"58P01"})
    corrupt("Unigram tokenizer", json_edit("tokenizer.json", lambda j: j["model"].update(type="Unigram")), XX)
    corrupt("tokenizer without vocab", json_edit("tokenizer.json", lambda j: j["model"].pop("vocab")), XX)
    corrupt("vocab id out of range", json_edit("tokenizer.json", lambda j: j["model"]["vocab"].update({"zzz": 10 ** 7})), XX)
    corrupt("vocab larger than the model", json_edit("tokenizer.json", lambda j: j["model"]["vocab"].update({"zzz": 500})), XX)
    corrupt("unknown token missing", json_edit("tokenizer.json", lambda j: j["model"].update(unk_token="<unk>")), XX)
    corrupt("unsupported normalizer", json_edit("tokenizer.json", lambda j: j.update(normalizer={"type": "NFKC"})), XX)
    corrupt("special token id out of range", json_edit(
        "tokenizer.json", lambda j: j["post_processor"]["special_tokens"]["[CLS]"].update(ids=[99999])), XX)
    corrupt("modules.json not an array", write("modules.json", b"{}"), XX)
    corrupt("unsupported module", json_edit("modules.json", lambda j: j.append(
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})), XX)
    corrupt("max pooling", json_edit("1_Pooling/config.json", lambda j: j.update(
        pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)), XX)
    rng = np.random.default_rng(9)
    for i in range(20):                                   # random byte flips in the header
        def flip(d, i=i):
            p = st.format(d)
            raw = bytearray(open(p, "rb").read())
            n = struct.unpack("<Q", raw[:8])[0]
            for _ in range(3):
                raw[8 + int(rng.integers(0, n))] = int(rng.integers(0, 256))
            open(p, "wb").write(bytes(raw))
        corrupt(f"random header bytes #{i}", flip, "any")     # must not crash; may still be valid
    cur.execute("SELECT pg_postmaster_start_time(), 1")
    ck.check(cur.fetchone()[0] == started, "no backend crashed (postmaster did not restart)")
    print(f"corruptions: {corruptions} corrupted models refused cleanly")

    conn.close()
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute("DROP ROLE IF EXISTS models_plain; DROP ROLE IF EXISTS models_reader")
    admin.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print("models check:", "FAILED" if ck.failures else "ok")
    return 1 if ck.failures else 0


if __name__ == "__main__":
    sys.exit(main())
