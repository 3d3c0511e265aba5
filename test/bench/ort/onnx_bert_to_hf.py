"""test/bench/ort/onnx_bert_to_hf.py MODEL.onnx OUT_DIR: the BERT encoder that
the shared reference tool build_onnx.py writes (`minilm`: all-MiniLM-L6-v2
shapes, random weights, mean pooling, L2-normalised) as a Hugging Face /
sentence-transformers model directory, so that retrieval.embed runs exactly
the weights ONNX Runtime runs in the embed benchmark (--model minilm).

The graph is read structurally, in node order (the tool builds it layer by
layer): the two Gathers from initializers are the word and position tables;
the Add of a [hidden] initializer after them is token type 0; every MatMul
with an initializer is a linear layer (six per encoder layer: query, key,
value, attention output, intermediate, output), its bias the initializer of
the Add that consumes it; LayerNormalization nodes come as the embeddings'
and then two per layer.  Anything else in the graph that does not fit this
shape is an error, not a guess.

The ONNX file has no tokenizer.  The benchmark feeds ORT the ids our
tokenizer gives, so any WordPiece vocabulary of the model's size serves; this
one holds the special tokens at BERT's ids, every printable ASCII character
alone and as a continuation, and the most frequent lower-cased words and
word pieces of Debian's /usr/share/common-licenses (the benchmark's texts),
so token counts per word are realistic (about 1.2).  Written: config.json,
model.safetensors (F32), tokenizer.json (truncation at 128 tokens, the
benchmark's longest mix), modules.json, 1_Pooling/config.json,
sentence_bert_config.json.
"""
import collections
import glob
import json
import os
import re
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

MAX_TOKENS = 128


def load(path):
    m = onnx.load(path)
    g = m.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)
    gathers, linears, norms, type_row, heads = [], [], [], None, None
    for n in g.node:
        if n.op_type == "Reshape" and heads is None and n.input[1] in init and init[n.input[1]].shape == (4,):
            heads = int(init[n.input[1]][2])     # [0, 0, heads, head width]
        elif n.op_type == "Gather" and n.input[0] in init and init[n.input[0]].ndim == 2:
            gathers.append(init[n.input[0]])
        elif n.op_type == "MatMul" and n.input[1] in init:
            adds = [c for c in consumers[n.output[0]] if c.op_type == "Add"]
            if len(adds) != 1:
                sys.exit("onnx_bert_to_hf: a MatMul without exactly one bias Add")
            b = [init[i] for i in adds[0].input if i in init]
            if len(b) != 1 or b[0].ndim != 1:
                sys.exit("onnx_bert_to_hf: a linear layer without a bias vector")
            linears.append((init[n.input[1]], b[0]))
        elif n.op_type == "LayerNormalization":
            eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
            norms.append((init[n.input[1]], init[n.input[2]], eps))
        elif (n.op_type == "Add" and type_row is None and len(gathers) == 2 and not linears
              and any(i in init and init[i].ndim == 1 for i in n.input)):
            type_row = next(init[i] for i in n.input if i in init)
    if len(gathers) != 2 or type_row is None or heads is None or len(linears) % 6 or len(norms) != 1 + len(linears) // 3:
        sys.exit("onnx_bert_to_hf: %s is not shaped like build_onnx.py's BERT encoder" % path)
    return gathers[0], gathers[1], type_row, linears, norms, heads


def vocabulary(size):
    specials = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    words = collections.Counter()
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        try:
            with open(path, errors="replace") as f:
                for w in re.findall(r"[a-z0-9]+", f.read().lower()):
                    words[w] += 1
        except (IsADirectoryError, PermissionError):
            continue
    chars = [chr(c) for c in range(33, 127)]
    pieces = chars + ["##" + c for c in chars]
    pieces += [w for w, _ in words.most_common() if len(w) > 1]
    # continuation pieces: frequent word endings, so unseen words split sensibly
    ends = collections.Counter()
    for w, c in words.items():
        for k in range(2, min(len(w), 6)):
            ends["##" + w[-k:]] += c
    pieces += [e for e, _ in ends.most_common()]
    vocab, seen = {}, set()
    it = iter(pieces)
    for i in range(size):
        if i in specials:
            tok = specials[i]
        else:
            tok = next((p for p in it if p not in seen), None) or "[unused%d]" % i
        seen.add(tok)
        vocab[tok] = i
    return vocab


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 64)               # data 64-byte aligned: used in place
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    src, out = sys.argv[1], sys.argv[2]
    word, pos, type_row, linears, norms, heads = load(src)
    V, H = word.shape
    layers = len(linears) // 6
    F = linears[4][0].shape[1]
    t = {"embeddings.word_embeddings.weight": word,
         "embeddings.position_embeddings.weight": pos,
         "embeddings.token_type_embeddings.weight": np.stack([type_row, np.zeros_like(type_row)]),
         "embeddings.LayerNorm.weight": norms[0][0], "embeddings.LayerNorm.bias": norms[0][1]}
    names = ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "intermediate.dense", "output.dense")
    for l in range(layers):
        p = "encoder.layer.%d." % l
        for j, n in enumerate(names):
            w, b = linears[6 * l + j]
            t[p + n + ".weight"] = w.T          # ONNX x @ W, PyTorch [out][in]
            t[p + n + ".bias"] = b
        for j, n in enumerate(("attention.output.LayerNorm", "output.LayerNorm")):
            s, b, _ = norms[1 + 2 * l + j]
            t[p + n + ".weight"], t[p + n + ".bias"] = s, b
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": H,
                   "num_hidden_layers": layers, "num_attention_heads": heads,
                   "intermediate_size": F, "max_position_embeddings": pos.shape[0],
                   "vocab_size": V, "type_vocab_size": 2, "hidden_act": "gelu",
                   "layer_norm_eps": float(norms[0][2]), "position_embedding_type": "absolute"}, f, indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    vocab = vocabulary(V)
    cls_sep = {k: {"id": k, "ids": [vocab[k]], "tokens": [k]} for k in ("[CLS]", "[SEP]")}
    tok = {"version": "1.0",
           "truncation": {"direction": "Right", "max_length": MAX_TOKENS, "strategy": "LongestFirst", "stride": 0},
           "padding": None,
           "added_tokens": [{"id": vocab[k], "content": k, "special": True}
                            for k in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")],
           "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                          "strip_accents": None, "lowercase": True},
           "pre_tokenizer": {"type": "BertPreTokenizer"},
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                         {"Sequence": {"id": "A", "type_id": 0}},
                                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                              "pair": [], "special_tokens": cls_sep},
           "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
           "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                     "max_input_chars_per_word": 100, "vocab": vocab}}
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": H, "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}, f)
    with open(os.path.join(out, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": MAX_TOKENS, "do_lower_case": False}, f)
    print("onnx_bert_to_hf: %s -> %s (%d layers, hidden %d, %d heads, FFN %d, vocabulary %d)"
          % (src, out, layers, H, heads, F, V))


if __name__ == "__main__":
    main()
