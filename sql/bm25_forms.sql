-- BM25: the forms of the operator (varchar, expression indexes, several
-- indexes, the explicit forms naming an index), options k1 and b, and
-- retrieval.index_stats.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;
SET extra_float_digits = 0;

CREATE TABLE art (id int PRIMARY KEY, title varchar(200), body text);
INSERT INTO art VALUES
  (1, 'Photosynthesis', 'plants turn light into chemical energy'),
  (2, 'Light reactions', 'the light reactions of photosynthesis make ATP and NADPH'),
  (3, 'Calvin cycle', 'the Calvin cycle fixes carbon dioxide using ATP'),
  (4, 'Animals', 'animals eat plants or other animals for energy'),
  (5, 'Light', 'light light light is a wave and a particle');

-- a varchar column gets the default text operator class
CREATE INDEX art_title_idx ON art USING retrieval (title) WITH (model = 'none', language = 'simple');
SET enable_seqscan = off;
SELECT id, round((title <@> 'light')::numeric, 9) AS d FROM art ORDER BY title <@> 'light' LIMIT 3;
RESET enable_seqscan;
SELECT id, round((title <@> 'light')::numeric, 9) AS d FROM art ORDER BY title <@> 'light', id;

-- an expression index: the same expression in the query finds it
CREATE INDEX art_all_idx ON art USING retrieval ((title || ' ' || body)) WITH (model = 'none', language = 'simple');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM art ORDER BY (title || ' ' || body) <@> 'light energy' LIMIT 3;
SELECT id, round(((title || ' ' || body) <@> 'light energy')::numeric, 9) AS d
FROM art ORDER BY (title || ' ' || body) <@> 'light energy' LIMIT 3;
RESET enable_seqscan;
SELECT id, round(((title || ' ' || body) <@> 'light energy')::numeric, 9) AS d
FROM art ORDER BY 2, id LIMIT 3;

-- two indexes on one column: the bare form cannot choose, the explicit ones can
CREATE INDEX art_body_simple ON art USING retrieval (body) WITH (model = 'none', language = 'simple', k1 = 2.0, b = 0.5);
CREATE INDEX art_body_b0 ON art USING retrieval (body) WITH (model = 'none', language = 'simple', b = 0);
SELECT id FROM art ORDER BY body <@> 'light' LIMIT 1;
SELECT id, round((body <@> retrieval.bm25_query('light', 'art_body_simple'))::numeric, 9) AS k1_2_b_05,
       round((body <@> retrieval.bm25_query('light', 'art_body_b0'))::numeric, 9) AS b_0,
       round(retrieval.bm25_score(body, 'light', 'art_body_simple')::numeric, 9) AS score
FROM art ORDER BY id;
-- hand-computed: N = 5, avgdl = 40/5, 'light' in 3 documents (n = 3)
--   idf = ln(1 + (5 - 3 + 0.5) / (3 + 0.5)); document 5 has tf 3, length 9
SELECT round((ln(1 + 2.5 / 3.5) * 3 * 3.0 / (3 + 2.0 * (1 - 0.5 + 0.5 * 9 / (40 / 5.0))))::numeric, 9) AS doc5_k1_2_b_05,
       round((ln(1 + 2.5 / 3.5) * 3 * 2.2 / (3 + 1.2))::numeric, 9) AS doc5_b_0;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM art ORDER BY body <@> retrieval.bm25_query('light', 'art_body_b0') LIMIT 2;
SELECT id FROM art ORDER BY body <@> retrieval.bm25_query('light', 'art_body_b0') LIMIT 2;
RESET enable_seqscan;

-- PL/pgSQL with a variable naming the index
DO $$
DECLARE idx regclass := 'art_body_simple'; q text := 'ATP'; r record;
BEGIN
  FOR r IN SELECT id, body <@> retrieval.bm25_query(q, idx) AS d FROM art ORDER BY 2, id LIMIT 2 LOOP
    RAISE NOTICE 'id % distance %', r.id, round(r.d::numeric, 9);
  END LOOP;
END $$;

-- the options are fixed in the index at build time
SELECT documents, round(avg_length::numeric, 6) AS avg_length, segments, segment_terms, buffered_documents
FROM retrieval.index_stats('art_body_simple');
INSERT INTO art VALUES (6, 'More', 'light again');
SELECT documents, buffered_documents FROM retrieval.index_stats('art_body_simple');
SELECT retrieval.index_stats('art_pkey');
SELECT retrieval.index_stats('art');

-- unlogged tables work (the empty index comes from the init fork)
CREATE UNLOGGED TABLE ul (t text);
CREATE INDEX ul_idx ON ul USING retrieval (t) WITH (model = 'none', language = 'simple');
INSERT INTO ul VALUES ('alpha beta'), ('beta gamma');
SELECT t, round((t <@> 'gamma')::numeric, 9) FROM ul ORDER BY t <@> 'gamma', t;

-- pg_stat_progress_create_index phase names
SELECT pg_indexam_progress_phasename(oid, 4), pg_indexam_progress_phasename(oid, 5)
FROM pg_am WHERE amname = 'retrieval';
DROP TABLE art, ul;
