"""The text-retrieval data sets of the BM25 benchmarks, read in place.

Owns which sets exist under ../shared/data (see its SOURCES.md), their
split, language and how a document's indexed text is formed; the file
readers themselves are benchlib.data (read_jsonl, read_qrels).  Nothing is
copied into the project.

  judged_sets()            names of every judged set (bm25-eval's default)
  default_split(name)      the split its metrics are reported on
  load_judged(name)        -> Judged(name, language, docs, queries, qrels, ...)
  en985k_passages(limit)   iterator of (id, src, text) of scale/en-985k
  en985k_queries()         list of {"qid", "n_terms", "text", "terms"}

Judged sets (BEIR layout; metrics over the queries of the split that have at
least one judgment):

  beir/scifact              split test (300 queries); train (809) with
                            load_judged("scifact", split="train")
  classic/<name>            adi cacm cisi cranfield lisa med npl time, split test
  zh/cmrc2018               dev + trial qrels together (4,221 questions), chinese
  zh/debian-pkgdesc         qrels/all.tsv (test2000.tsv: split="test2000"), chinese

Document text ("body"): title + ' ' + text, as BEIR indexes a document, or
just the text when the title is empty.  Exception, the classic sets: when
the text already begins with the title (Cranfield repeats its title as the
first sentence of the text: 1,398 of 1,400 documents) the title is not
prepended again, so its words are not counted twice.
"""
import os
from collections import namedtuple

from .data import read_jsonl, read_qrels
from .paths import data_path

# name -> (path parts, default split, language, title rule)
_SETS = {"scifact": (("beir", "scifact"), "test", "english", "beir")}
for _c in ("adi", "cacm", "cisi", "cranfield", "lisa", "med", "npl", "time"):
    _SETS[_c] = (("classic", _c), "test", "english", "classic")
_SETS["cmrc2018"] = (("zh", "cmrc2018"), "dev+trial", "chinese", "beir")
_SETS["debian-pkgdesc"] = (("zh", "debian-pkgdesc"), "all", "chinese", "beir")

Judged = namedtuple("Judged", "name path split language docs queries qrels")
# docs: list of (doc_id, body) in file order; queries: {query_id: text} of the
# judged queries; qrels: {query_id: {doc_id: grade}}


def judged_sets():
    return list(_SETS)


def default_split(name):
    return _SETS[name][1]


def body_of(doc, rule):
    title = (doc.get("title") or "").strip()
    text = (doc.get("text") or "").strip()
    if not title:
        return text
    if rule == "classic" and text.startswith(title):
        return text
    return title + " " + text


def load_judged(name, split=None):
    """Raises paths.Skip when the set's files are absent."""
    if name not in _SETS:
        raise ValueError("unknown data set %r (known: %s)" % (name, ", ".join(_SETS)))
    parts, default_split, language, rule = _SETS[name]
    split = split or default_split
    splits = split.split("+")
    path = data_path(*parts, required=["corpus.jsonl", "queries.jsonl"] +
                     [os.path.join("qrels", s + ".tsv") for s in splits])
    qrels = {}
    for s in splits:
        for qid, judged in read_qrels(os.path.join(path, "qrels", s + ".tsv")).items():
            qrels.setdefault(qid, {}).update(judged)
    docs = [(str(d["_id"]), body_of(d, rule))
            for d in read_jsonl(os.path.join(path, "corpus.jsonl"))]
    queries = {}
    for q in read_jsonl(os.path.join(path, "queries.jsonl")):
        if str(q["_id"]) in qrels:
            queries[str(q["_id"])] = q["text"]
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise ValueError("%s: %d judged queries have no text (e.g. %s)"
                         % (name, len(missing), missing[0]))
    return Judged(name, path, split, language, docs, queries, qrels)


# -- scale/en-985k: passages and latency queries, no judgments ------------------
EN985K = ("scale", "en-985k")


def en985k_dir():
    return data_path(*EN985K, required=["passages.jsonl.gz", "queries.jsonl"])


def en985k_passages(limit=None):
    """(id, src, text) in file order, the first `limit` when given."""
    path = os.path.join(en985k_dir(), "passages.jsonl.gz")
    for i, d in enumerate(read_jsonl(path)):
        if limit is not None and i >= limit:
            return
        yield str(d["_id"]), d.get("src", ""), d["text"]


def en985k_queries():
    """The 400 latency queries: qid, n_terms (1, 2, 4 or 8), text, terms."""
    path = os.path.join(en985k_dir(), "queries.jsonl")
    out = []
    for q in read_jsonl(path):
        out.append({"qid": q["qid"], "n_terms": int(q["n_terms"]), "text": q["text"],
                    "terms": list(q.get("terms") or q["text"].split())})
    return out
