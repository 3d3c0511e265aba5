-- BM25 with the 'pg:<ts_config>' tokenizer: a text search configuration
-- does the analysis (to_tsvector's lexemes, stemming and stopwords included).
-- For 'pg:english' and 'pg:simple': the terms the index counts equal
-- to_tsvector's lexemes and their occurrences; the per-row operator equals
-- an independent BM25 computed in SQL from those lexemes (1e-12 relative);
-- the index scan returns the same rows, scores (bit for bit) and order as a
-- sequential scan, also after inserts that go through the write buffer.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;
SET extra_float_digits = 0;

CREATE TABLE tsd (id int PRIMARY KEY, body text);
INSERT INTO tsd VALUES
  (1, 'The cats are running in the gardens'),
  (2, 'A cat runs; the dog ran after the cats.'),
  (3, 'Gardening: gardens, gardeners and a garden'),
  (4, 'Running running RUNNING runners run'),
  (5, 'The quick brown fox jumps over the lazy dog'),
  (6, 'Dogs and cats living together'),
  (7, 'the and of a'),                       -- only stopwords for english
  (8, 'Postgres-based search engines: full-text search'),
  (9, ''),
  (10, NULL);
-- more rows from a fixed vocabulary of inflected words
INSERT INTO tsd SELECT 100 + i,
  (SELECT string_agg((ARRAY['cat','cats','garden','gardens','running','runs','dog','dogs','fox',
                            'the','search','searching','engine','engines','lazy','quick'])
                     [1 + (hashint4(i * 100 + j) & 2147483647) % 16], ' ' ORDER BY j)
   FROM generate_series(1, 1 + (hashint4(i) & 15)) j)
FROM generate_series(1, 300) i;

CREATE INDEX tsd_en ON tsd USING retrieval (body) WITH (model = 'none', tokenizer = 'pg:english', buffer_pages = 4);
SELECT documents, segments FROM retrieval.index_stats('tsd_en');

-- the analyzer is the configuration: same lexemes and counts as to_tsvector
SELECT count(*) AS rows_checked,
       count(*) FILTER (WHERE (SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM unnest(retrieval.tokenize(body, 'english', 'pg:english')) t)
                          <> (SELECT coalesce(array_agg(l.lexeme ORDER BY l.lexeme), '{}')
                              FROM unnest(to_tsvector('english', body)) l, unnest(l.positions) p)) AS differing
FROM tsd WHERE body IS NOT NULL;

-- reference BM25 from to_tsvector's lexemes (Lucene's formula, exact lengths)
CREATE FUNCTION ref_bm25(cfg regconfig, q text, k1 float8 = 1.2, b float8 = 0.75)
RETURNS TABLE (id int, score float8) LANGUAGE sql STABLE AS $$
  WITH toks AS (SELECT d.id, l.lexeme AS term, array_length(l.positions, 1) AS tf
                FROM tsd d, unnest(to_tsvector(cfg, d.body)) l),
       dl AS (SELECT toks.id, sum(tf) AS len FROM toks GROUP BY toks.id),
       st AS (SELECT count(*)::float8 AS n, sum(len)::float8 / count(*) AS avgdl FROM dl),
       qt AS (SELECT l.lexeme AS term, array_length(l.positions, 1) AS qc FROM unnest(to_tsvector(cfg, q)) l),
       df AS (SELECT term, count(*) AS df FROM toks WHERE term IN (SELECT term FROM qt) GROUP BY term)
  SELECT toks.id, sum(qt.qc * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5))
                      * toks.tf * (k1 + 1) / (toks.tf + k1 * (1 - b + b * dl.len / st.avgdl)))
  FROM toks JOIN qt USING (term) JOIN df USING (term) JOIN dl ON dl.id = toks.id, st
  GROUP BY toks.id $$;

CREATE TABLE tq (qid int, q text);
INSERT INTO tq VALUES (1, 'cat'), (2, 'the running gardens'), (3, 'Cats cats dog'),
  (4, 'searching engines'), (5, 'full-text'), (6, 'the'), (7, 'nosuchword fox');

-- index top-10 and full ranking = sequential scan sorted by the operator
CREATE FUNCTION ranking(q text, use_index bool, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  IF use_index THEN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off;
  ELSE
    SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
  END IF;
  IF use_index THEN
    SELECT string_agg(id || ':' || d, ' ') INTO r
    FROM (SELECT id, body <@> q AS d FROM tsd ORDER BY body <@> q LIMIT k) s;
  ELSE
    SELECT string_agg(id || ':' || d, ' ') INTO r
    FROM (SELECT id, body <@> q AS d FROM tsd WHERE (body <@> q) < 0 ORDER BY 2, ctid LIMIT k) s;
  END IF;
  RETURN r;
END $$;

CREATE FUNCTION check_index(cfg regconfig) RETURNS TABLE (qid int, matching bigint, op_vs_ref_mismatches bigint,
  top10_equal bool, full_equal bool) LANGUAGE sql AS $$
  SELECT tq.qid,
    (SELECT count(*) FROM ref_bm25(cfg, tq.q)),
    (SELECT count(*) FROM tsd d LEFT JOIN ref_bm25(cfg, tq.q) r ON r.id = d.id
     WHERE d.body IS NOT NULL
       AND abs((d.body <@> tq.q) + coalesce(r.score, 0)) > 1e-12 * abs(coalesce(r.score, 0))),
    ranking(tq.q, true, 10) IS NOT DISTINCT FROM ranking(tq.q, false, 10),
    ranking(tq.q, true, 100000) IS NOT DISTINCT FROM ranking(tq.q, false, 100000)
  FROM tq ORDER BY tq.qid $$;

SELECT * FROM check_index('english');
-- the plan really is an index scan (no sort: rows with score 0 are not returned)
SET enable_seqscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT id FROM tsd ORDER BY body <@> 'cat' LIMIT 10;
-- stemming and stopwords: 'running' finds 'runs', 'ran' is not a form of run
SELECT id, round((body <@> 'running')::numeric, 9) AS d FROM tsd WHERE id < 100 ORDER BY body <@> 'running' LIMIT 10;
RESET enable_seqscan;
RESET enable_sort;

-- inserts through the write buffer (flushes and merges at buffer_pages = 4)
INSERT INTO tsd SELECT 1000 + i, 'cat garden ' || repeat('running dogs ', i % 5) || 'searching'
FROM generate_series(1, 400) i;
SELECT documents, segments > 0 AS has_segments FROM retrieval.index_stats('tsd_en');
SELECT * FROM check_index('english');

-- 'pg:simple': no stemming, no stopwords; the same checks on a second index
DROP INDEX tsd_en;
CREATE INDEX tsd_simple ON tsd USING retrieval (body) WITH (model = 'none', tokenizer = 'pg:simple', buffer_pages = 4);
SELECT documents FROM retrieval.index_stats('tsd_simple');
SELECT * FROM check_index('simple');
SET enable_seqscan = off;
SET enable_sort = off;
SELECT id, round((body <@> 'the')::numeric, 9) AS d FROM tsd WHERE id < 100 ORDER BY body <@> 'the' LIMIT 5;
RESET enable_seqscan;
RESET enable_sort;

-- a configuration that does not exist is refused at CREATE INDEX
\set VERBOSITY terse
CREATE INDEX tsd_bad ON tsd USING retrieval (body) WITH (tokenizer = 'pg:no_such_config');
\set VERBOSITY default

DROP TABLE tsd, tq;
DROP FUNCTION ref_bm25(regconfig, text, float8, float8);
DROP FUNCTION ranking(text, bool, int);
DROP FUNCTION check_index(regconfig);
