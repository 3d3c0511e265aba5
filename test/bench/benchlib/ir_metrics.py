"""Ranked-retrieval effectiveness metrics: nDCG@k, Recall@k, MRR@k.

Owns the metric definitions used by `bench.py bm25-eval` (and nothing else:
loading data is ir_datasets, running queries is bm25).  They follow
trec_eval as BEIR calls it through pytrec_eval:

  nDCG@k   DCG = sum over ranks r = 1..k of gain(d_r) / log2(r + 1), with
           gain = the judged relevance grade as given (linear, not
           2^rel - 1; unjudged = 0, negative grades count as 0); the ideal
           DCG sorts every judged grade of the query (from the qrels, not
           from the run) in descending order.  A query whose judgments are
           all 0 has ideal DCG 0 and scores 0.
  Recall@k |relevant among the first k| / |relevant|, relevant = grade >= 1
           (trec_eval's default relevance level); 0 when nothing is relevant.
  MRR@k    1 / rank of the first relevant document within the first k,
           else 0.

A run is {query_id: [doc_id, ...]} in rank order (best first).  The ranks
are taken as given: trec_eval itself would re-sort a run by score and break
score ties by document id (descending, as strings); see rank_like_trec_eval
to reproduce that.  Means are over every query in the qrels (= every query
of the split with at least one judgment); a judged query missing from the
run scores 0 on every metric.
"""
import math


def dcg(gains):
    return sum(g / math.log2(r + 2) for r, g in enumerate(gains))


def ndcg_at_k(ranking, judged, k=10):
    """ranking: doc ids best first; judged: {doc_id: grade}."""
    gains = [max(judged.get(d, 0), 0) for d in ranking[:k]]
    ideal = sorted((max(g, 0) for g in judged.values()), reverse=True)[:k]
    idcg = dcg(ideal)
    return dcg(gains) / idcg if idcg > 0 else 0.0


def recall_at_k(ranking, judged, k=100):
    relevant = {d for d, g in judged.items() if g >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking, judged, k=10):
    for r, d in enumerate(ranking[:k]):
        if judged.get(d, 0) >= 1:
            return 1.0 / (r + 1)
    return 0.0


METRICS = (("nDCG@10", ndcg_at_k, 10), ("Recall@100", recall_at_k, 100),
           ("MRR@10", mrr_at_k, 10))


def per_query(run, qrels):
    """{query_id: {metric name: value}} for every query of the qrels."""
    out = {}
    for qid, judged in qrels.items():
        ranking = run.get(qid, [])
        out[qid] = {name: f(ranking, judged, k) for name, f, k in METRICS}
    return out


def evaluate(run, qrels):
    """Mean of each metric over the queries of the qrels, plus counts."""
    pq = per_query(run, qrels)
    n = len(pq)
    res = {name: (sum(v[name] for v in pq.values()) / n if n else float("nan"))
           for name, _, _ in METRICS}
    res["queries"] = n
    res["queries_without_relevant"] = sum(
        1 for j in qrels.values() if not any(g >= 1 for g in j.values()))
    res["queries_missing_from_run"] = sum(1 for q in qrels if q not in run)
    return res


def rank_like_trec_eval(scored):
    """[(doc_id, score), ...] -> doc ids ordered as trec_eval orders a run:
    score descending, ties by doc id descending (string comparison)."""
    return [d for d, _ in sorted(scored, key=lambda x: (x[1], x[0]), reverse=True)]
