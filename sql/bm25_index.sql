-- BM25 index: exact scores against an independent BM25 computed in SQL,
-- index order = sequential order, filters, inserts, VACUUM, REINDEX.
--
-- The indexes use language = 'simple' (no stemming, no stopwords) and the
-- documents are lower-case ASCII words, so the reference can split terms
-- with a regular expression.  Ties are broken by heap TID ascending.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;
SET extra_float_digits = 0;

-- reference analyzer and BM25 (Lucene's formula, exact lengths)
CREATE FUNCTION ref_terms(t text) RETURNS TABLE (term text, pos bigint) LANGUAGE sql IMMUTABLE AS $$
  SELECT x, row_number() OVER () FROM regexp_split_to_table(lower(t), '[^a-z0-9]+') x WHERE x <> '' $$;
-- a skewed vocabulary of 60 words, documents of 1..64 words
CREATE FUNCTION gen_doc(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg('w' || floor(60 * power((hashint4(i * 1000 + j) & 2147483647) / 2147483648.0, 3))::int, ' ' ORDER BY j)
  FROM generate_series(1, 1 + (hashint4(i) & 63)) j $$;

CREATE TABLE docs (id int PRIMARY KEY, body text, tenant int);
INSERT INTO docs SELECT i, gen_doc(i), i % 7 FROM generate_series(1, 1500) i;
INSERT INTO docs VALUES (5001, '', 0), (5002, NULL, 0), (5003, '!!! ...', 0);
CREATE FUNCTION ref_bm25(q text, k1 float8 = 1.2, b float8 = 0.75)
RETURNS TABLE (id int, score float8) LANGUAGE sql STABLE AS $$
  WITH toks AS (SELECT d.id, t.term FROM docs d, LATERAL ref_terms(d.body) t),
       dl AS (SELECT toks.id, count(*) AS len FROM toks GROUP BY toks.id),
       st AS (SELECT count(*)::float8 AS n, sum(len)::float8 / count(*) AS avgdl FROM dl),
       qt AS (SELECT term, count(*) AS qc FROM ref_terms(q) GROUP BY term),
       df AS (SELECT term, count(DISTINCT toks.id) AS df FROM toks WHERE term IN (SELECT term FROM qt) GROUP BY term),
       tf AS (SELECT toks.id, term, count(*) AS tf FROM toks WHERE term IN (SELECT term FROM qt) GROUP BY toks.id, term)
  SELECT tf.id, sum(qt.qc * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5))
                    * tf.tf * (k1 + 1) / (tf.tf + k1 * (1 - b + b * dl.len / st.avgdl)))
  FROM tf JOIN qt USING (term) JOIN df USING (term) JOIN dl ON dl.id = tf.id, st
  GROUP BY tf.id $$;

CREATE INDEX docs_body_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 8);
SELECT documents, avg_length = (SELECT count(*)::float8 FROM docs, ref_terms(body)) / 1500 AS avg_ok,
       segments, buffered_documents FROM retrieval.index_stats('docs_body_idx');

-- queries used below: common, rare, repeated and absent terms
CREATE TABLE queries (qid int, q text);
INSERT INTO queries VALUES (1, 'w0'), (2, 'w1 w5'), (3, 'w30 w45 w59'), (4, 'w2 w2 w7'),
  (5, 'w0 w1 w2 w3 w4 w5 w6 w7'), (6, 'w59 nosuchterm'), (7, 'W10, w20!');

-- the reference for every query, computed once per statement
CREATE FUNCTION ref_all() RETURNS TABLE (qid int, id int, score float8) LANGUAGE sql STABLE AS $$
  SELECT q.qid, r.id, r.score FROM queries q, LATERAL ref_bm25(q.q) r $$;

-- 1. the operator per row = the reference, within 1e-12 relative, for every row
SELECT q.qid,
       count(*) FILTER (WHERE abs((d.body <@> q.q) + coalesce(r.score, 0)) > 1e-12 * abs(coalesce(r.score, 0))) AS mismatches,
       count(r.score) AS matching
FROM queries q CROSS JOIN docs d LEFT JOIN ref_all() r ON r.qid = q.qid AND r.id = d.id
WHERE d.body IS NOT NULL
GROUP BY q.qid ORDER BY q.qid;

-- 2. index scan top-10 = sequential scan + sort (ties: TID ascending), same values
CREATE FUNCTION top_index(q text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off;
  SELECT string_agg(id || ':' || round((-d)::numeric, 12), ' ' ORDER BY rn) INTO r FROM
    (SELECT id, d, row_number() OVER () rn FROM
      (SELECT id, body <@> retrieval.bm25_query(q, 'docs_body_idx') d FROM docs
        ORDER BY body <@> retrieval.bm25_query(q, 'docs_body_idx') LIMIT k) s) s2;
  RETURN r;
END $$;
CREATE FUNCTION top_seq(q text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  SET LOCAL enable_indexscan = off;
  SELECT string_agg(id || ':' || round((-d)::numeric, 12), ' ' ORDER BY rn) INTO r FROM
    (SELECT id, d, row_number() OVER () rn FROM
      (SELECT id, body <@> retrieval.bm25_query(q, 'docs_body_idx') d FROM docs
        WHERE (body <@> retrieval.bm25_query(q, 'docs_body_idx')) < 0
        ORDER BY 2, ctid LIMIT k) s) s2;
  RETURN r;
END $$;
SELECT qid, top_index(q, 10) = top_seq(q, 10) AS top10_equal,
       top_index(q, 100000) = top_seq(q, 100000) AS all_equal
FROM queries ORDER BY qid;
SELECT top_index('w30 w45 w59', 5);

-- the plan: the bare form is bound to the index at plan time
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY body <@> 'w1 w5' LIMIT 10;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY body <@> 'w1 w5' LIMIT 10;
-- prepared statements, generic plan
PREPARE top(text) AS SELECT id FROM docs ORDER BY body <@> $1 LIMIT 5;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE top('w1 w5');
CREATE TEMP TABLE prepared_result AS EXECUTE top('w1 w5');
SELECT string_agg(id::text, ' ') = (SELECT string_agg(split_part(x, ':', 1), ' ') FROM regexp_split_to_table(top_seq('w1 w5', 5), ' ') x)
  AS prepared_ok FROM prepared_result;
RESET plan_cache_mode;

-- 3. filters keep LIMIT: the scan streams beyond its first batch
SELECT count(*) AS rows, bool_and(tenant = 3) AS filtered FROM
  (SELECT id, tenant FROM docs WHERE tenant = 3 ORDER BY body <@> 'w0' LIMIT 25) s;
SELECT (SELECT string_agg(id::text, ' ') FROM (SELECT id FROM docs WHERE tenant = 3 ORDER BY body <@> 'w1 w5' LIMIT 30) s)
     = (SELECT string_agg(id::text, ' ') FROM (SELECT id FROM docs WHERE tenant = 3 AND (body <@> 'w1 w5') < 0
         ORDER BY body <@> 'w1 w5', ctid LIMIT 30) s) AS filtered_order_equal;
-- a full index scan returns every matching row once
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM docs ORDER BY body <@> 'w3') s;
SELECT count(*) FROM ref_bm25('w3');
RESET enable_seqscan;

-- 4. inserts after the build: enough to fill the write buffer and flush it
INSERT INTO docs SELECT i, gen_doc(i), i % 7 FROM generate_series(1501, 3500) i;
SELECT documents, buffered_documents < 2000 AS flushed, segment_documents + buffered_documents = documents AS all_counted
FROM retrieval.index_stats('docs_body_idx');
SELECT q.qid,
       count(*) FILTER (WHERE abs((d.body <@> q.q) + coalesce(r.score, 0)) > 1e-12 * abs(coalesce(r.score, 0))) AS mismatches
FROM queries q CROSS JOIN docs d LEFT JOIN ref_all() r ON r.qid = q.qid AND r.id = d.id
WHERE d.body IS NOT NULL AND q.qid IN (2, 3, 4)
GROUP BY q.qid ORDER BY q.qid;
SELECT qid, top_index(q, 10) = top_seq(q, 10) AS top10_equal,
       top_index(q, 100000) = top_seq(q, 100000) AS all_equal
FROM queries ORDER BY qid;

-- 5. deletes: before VACUUM they still count, after VACUUM the statistics are exact
DELETE FROM docs WHERE id % 2 = 0;
UPDATE docs SET body = body || ' w59' WHERE id % 10 = 1;
SELECT documents FROM retrieval.index_stats('docs_body_idx');
VACUUM docs;
SELECT documents = (SELECT count(*) FROM docs WHERE body ~ '[a-z0-9]') AS n_exact,
       abs(avg_length - (SELECT count(*)::float8 FROM docs, ref_terms(body)) / (SELECT count(*) FROM docs WHERE body ~ '[a-z0-9]')) < 1e-12 AS avgdl_exact
FROM retrieval.index_stats('docs_body_idx');
SELECT q.qid,
       count(*) FILTER (WHERE abs((d.body <@> q.q) + coalesce(r.score, 0)) > 1e-12 * abs(coalesce(r.score, 0))) AS mismatches
FROM queries q CROSS JOIN docs d LEFT JOIN ref_all() r ON r.qid = q.qid AND r.id = d.id
WHERE d.body IS NOT NULL
GROUP BY q.qid ORDER BY q.qid;
SELECT qid, top_index(q, 10) = top_seq(q, 10) AS top10_equal,
       top_index(q, 100000) = top_seq(q, 100000) AS all_equal
FROM queries ORDER BY qid;

-- many random queries of 2..8 terms: top-30 through the index = sequential
SELECT count(*) FILTER (WHERE top_index(q, 30) = top_seq(q, 30)) AS equal, count(*) AS queries FROM
  (SELECT (SELECT string_agg('w' || (hashint4(i * 31 + j) & 2147483647) % 60, ' ')
           FROM generate_series(1, 2 + i % 7) j) AS q FROM generate_series(1, 25) i) s;

-- 6. REINDEX gives the same answers
CREATE TEMP TABLE before_reindex AS SELECT qid, top_index(q, 20) AS top FROM queries;
REINDEX INDEX docs_body_idx;
SELECT segments, buffered_documents FROM retrieval.index_stats('docs_body_idx');
SELECT count(*) FILTER (WHERE b.top IS DISTINCT FROM top_index(q.q, 20)) AS changed FROM queries q JOIN before_reindex b USING (qid);

-- 7. scoring details
-- a query term repeated counts per occurrence
SELECT abs((body <@> 'w7 w7') - 2 * (body <@> 'w7')) < 1e-12 AS repeated_term FROM docs WHERE id = 1;
-- no caps: tf above 255 and a document larger than 1 MB are indexed whole
INSERT INTO docs VALUES (9001, repeat('zzz ', 1000) || 'w1', 0),
                        (9002, repeat('yyy ', 300000) || 'xxx', 0);
SELECT id, round((-(body <@> 'zzz'))::numeric, 9) AS zzz, round((-(body <@> 'xxx'))::numeric, 9) AS xxx
FROM docs WHERE id IN (9001, 9002) ORDER BY id;
SET enable_seqscan = off;
SELECT id FROM docs ORDER BY body <@> 'xxx' LIMIT 1;
SELECT id FROM docs ORDER BY body <@> 'yyy zzz' LIMIT 2;
RESET enable_seqscan;
SELECT (SELECT -(body <@> 'zzz') FROM docs WHERE id = 9001) = (SELECT score FROM ref_bm25('zzz') WHERE id = 9001) AS tf_1000_exact;

-- 8. bad and edge-case queries
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <@> '' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <@> '!!! ...' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <@> repeat('w1 nosuch ', 10000) LIMIT 10) s;
RESET enable_seqscan;
SELECT body <@> '' AS empty_query, body <@> NULL AS null_query FROM docs WHERE id = 1;
SELECT length(repeat('w1 nosuch ', 10000)) AS query_bytes,
       (SELECT body <@> repeat('w1 nosuch ', 10000) FROM docs WHERE id = 1) = 10000 * (SELECT body <@> 'w1 nosuch' FROM docs WHERE id = 1) AS long_query_ok;
-- no index on the left operand
SELECT 'a b' <@> 'a';
-- naming something that is not a BM25 index
SELECT 'a' <@> retrieval.bm25_query('a', 'docs');
SELECT 'a' <@> retrieval.bm25_query('a', 'docs_pkey');
-- invalid options
CREATE INDEX ON docs USING retrieval (body) WITH (k1 = -1);
CREATE INDEX ON docs USING retrieval (body) WITH (b = 1.5);
CREATE INDEX ON docs USING retrieval (body) WITH (model = 'none', language = 'klingon');
CREATE INDEX ON docs USING retrieval (body) WITH (tokenizer = 'nosuch');
CREATE INDEX ON docs USING retrieval (body) WITH (model = 'none', language = '');
CREATE INDEX ON docs USING retrieval (tenant);
DROP TABLE docs, queries;
DROP FUNCTION ref_terms, ref_bm25, ref_all, gen_doc, top_index, top_seq;
