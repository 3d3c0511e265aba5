-- The hybrid text index (src/fusion/): BM25 and embeddings in one index,
-- the operators <~> (semantic) and <=> (fused) next to <@> (BM25).
-- Needs the default embedding model (installed by make model / test/all.sh).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

CREATE TABLE passages (id int PRIMARY KEY, lang text, body text);
INSERT INTO passages VALUES
 (1, 'en', 'Plants make their own food and energy from sunlight through photosynthesis.'),
 (2, 'en', 'Chlorophyll in the leaves absorbs red and blue light.'),
 (3, 'en', 'The light reactions of photosynthesis produce ATP and NADPH.'),
 (4, 'en', 'Mitochondria release energy from sugar by cellular respiration.'),
 (5, 'en', 'Solar panels turn sunlight into electricity for homes.'),
 (6, 'en', 'The stock market fell sharply after the interest rate announcement.'),
 (7, 'en', 'Central banks raise interest rates to fight inflation.'),
 (8, 'en', 'Bake the chocolate cake for forty minutes at 180 degrees.'),
 (9, 'en', 'Fresh pasta needs flour, eggs and a pinch of salt.'),
 (10, 'en', 'The goalkeeper saved a penalty in the last minute of the match.'),
 (11, 'en', 'Marathon runners train for months to build endurance.'),
 (12, 'en', 'A compiler translates source code into machine instructions.'),
 (13, 'en', 'PostgreSQL stores tables and indexes in 8 kB pages.'),
 (14, 'en', 'The garbage collector frees memory that is no longer reachable.'),
 (15, 'en', 'Volcanoes erupt when magma rises through the crust.'),
 (16, 'en', 'Earthquakes are caused by the movement of tectonic plates.'),
 (17, 'de', 'Pflanzen gewinnen Energie aus dem Sonnenlicht.'),
 (18, 'en', 'Bees pollinate flowers while collecting nectar.'),
 (19, 'en', 'Green algae in the ocean also perform photosynthesis.'),
 (20, 'en', 'Energy drinks contain caffeine and a lot of sugar.'),
 (21, 'en', NULL),
 (22, 'en', ''),
 (23, 'en', 'the and of');

-- Default: the default model is installed, so the index has embeddings.
CREATE INDEX passages_body_idx ON passages USING retrieval (body);
SELECT documents FROM retrieval.index_stats('passages_body_idx');

-- The index scan and a sequential scan plus sort return the same rows in
-- the same order with the same values (the graph is exact at this size).
CREATE FUNCTION ranking(op text, q text, use_index bool, n int DEFAULT 10)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SET LOCAL enable_seqscan = %s', use_index);
	EXECUTE format('SET LOCAL enable_indexscan = %s', NOT use_index);
	EXECUTE format('SET LOCAL enable_bitmapscan = off');
	EXECUTE format('SELECT string_agg(id || '':'' || round(d::numeric, 4), '' '') FROM
	                  (SELECT id, body %s %L AS d FROM passages ORDER BY d, id LIMIT %s) s',
	               op, q, n) INTO r;
	RETURN r;
END $$;
-- (the PL/pgSQL form binds no index: name it)
CREATE FUNCTION bound(q text) RETURNS text LANGUAGE sql STABLE
	AS $$ SELECT retrieval.bm25_query(q, 'passages_body_idx') $$;

SELECT op, q, ranking(op, bound(q), true) = ranking(op, bound(q), false) AS index_equals_seqscan
FROM (VALUES ('<=>'), ('<~>'), ('<@>')) o(op),
     (VALUES ('how do plants make energy'), ('interest rates'), ('volcano eruption'),
             ('cooking recipes'), ('zzzz qqqq')) q(q)
ORDER BY 1, 2;

-- What each operator ranks first.
SELECT id FROM passages ORDER BY body <=> 'how do plants make energy' LIMIT 3;
SELECT id FROM passages ORDER BY body <~> 'how do plants make energy' LIMIT 3;
SELECT id FROM passages ORDER BY body <@> 'how do plants make energy' LIMIT 3;
-- semantic only: no shared word, still found
SELECT id FROM passages ORDER BY body <~> 'football goal' LIMIT 1;
SELECT id FROM passages ORDER BY body <=> 'football goal' LIMIT 1;

-- Values: <~> is a cosine distance in [0, 2]; <=> = 1 - (w * bm25/max + (1 - w) * cos)
SELECT bool_and(body <~> 'energy' BETWEEN 0 AND 2) AS cosine_range,
       bool_and(abs((body <=> 'energy') -
                    (1 - (0.8 * (-(body <@> 'energy')) / max_bm25 + 0.2 * (1 - (body <~> 'energy'))))) < 1e-12)
         AS fused_formula
FROM passages,
     -- the supremum of BM25 for a one-term query: idf * (k1 + 1)
     (SELECT ln(1 + (n - df + 0.5) / (df + 0.5)) * 2.2 AS max_bm25
      FROM (SELECT count(*) FILTER (WHERE body <@> 'energy' < 0) AS df,
                   (SELECT documents FROM retrieval.index_stats('passages_body_idx')) AS n
            FROM passages) c) m
WHERE body IS NOT NULL;

-- The model sees the text with ASCII letters lower-cased (embed_lowercase,
-- on by default: the default model does not fold case); off, <~> is the
-- cosine distance of retrieval.embed() exactly
SELECT bool_and(abs((body <~> 'Interest RATES') -
                    (retrieval.embed(lower(body)) <=> retrieval.embed('interest rates'))) < 1e-6) AS lowercased
FROM passages WHERE body <> '';
CREATE TABLE cased (id int, body text);
INSERT INTO cased SELECT id, body FROM passages;
CREATE INDEX cased_idx ON cased USING retrieval (body) WITH (embed_lowercase = off);
SELECT bool_and(abs((body <~> 'Interest RATES') -
                    (retrieval.embed(body) <=> retrieval.embed('Interest RATES'))) < 1e-6) AS as_stored
FROM cased WHERE body <> '';
SET enable_seqscan = off;
SELECT id FROM cased ORDER BY body <~> 'PLANTS AND SUNLIGHT' LIMIT 3;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT id FROM cased ORDER BY body <~> 'PLANTS AND SUNLIGHT' LIMIT 3;
RESET enable_indexscan;
DROP TABLE cased;

-- EXPLAIN: the index serves the orders (on 23 rows embedding each row
-- costs less than the scan; see the plan choice on a larger table below)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM passages ORDER BY body <=> 'plants' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM passages ORDER BY body <~> 'plants' LIMIT 5;
RESET enable_seqscan;

-- Filters keep the LIMIT (the scan streams past rejected rows)
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM passages WHERE lang = 'de' ORDER BY body <=> 'plants' LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM passages WHERE id % 4 = 0 ORDER BY body <=> 'stock market' LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM passages WHERE id % 4 = 0 ORDER BY body <~> 'stock market' LIMIT 5) s;
RESET enable_seqscan;

-- The weight: index option, session override
SET retrieval.fusion_weight = 1;
SELECT id, round((body <=> 'interest rates')::numeric, 6) AS d FROM passages ORDER BY d, id LIMIT 2;
SET retrieval.fusion_weight = 0;
SELECT bool_and((body <=> 'interest rates') = (body <~> 'interest rates')) AS pure_semantic
FROM passages WHERE body IS NOT NULL;
SET retrieval.fusion_weight = 1.5;
RESET retrieval.fusion_weight;
CREATE INDEX bad_weight ON passages USING retrieval (body) WITH (fusion_weight = 2);
-- the index's option is read per query: no REINDEX needed
ALTER INDEX passages_body_idx SET (fusion_weight = 0);
SELECT bool_and((body <=> 'interest rates') = (body <~> 'interest rates')) AS option_weight_0
FROM passages WHERE body IS NOT NULL;
ALTER INDEX passages_body_idx RESET (fusion_weight);

-- retrieval.search: reciprocal rank fusion with each part's rank
SELECT p.id, s.bm25_rank, s.semantic_rank,
       round(s.score::numeric, 6) = round((coalesce(1.0 / (60 + s.bm25_rank), 0) +
                                           coalesce(1.0 / (60 + s.semantic_rank), 0))::numeric, 6) AS rrf
FROM retrieval.search('passages_body_idx', 'interest rates and banks', 3) s
JOIN passages p ON p.ctid = s.ctid ORDER BY s.score DESC, p.id;
-- 'score' is the <=> order, 'bm25' the <@> order
SELECT array_agg(p.id ORDER BY s.score DESC, p.id) =
       (SELECT array_agg(id) FROM (SELECT id FROM passages ORDER BY body <=> 'plants and sunlight', id LIMIT 5) t)
       AS score_is_fused_order
FROM retrieval.search('passages_body_idx', 'plants and sunlight', 5, 'score') s JOIN passages p ON p.ctid = s.ctid;
SELECT array_agg(p.id ORDER BY s.score DESC, p.id) AS bm25_ids,
       bool_and(s.semantic_rank IS NULL) AS no_semantic_part
FROM retrieval.search('passages_body_idx', 'energy', 5, 'bm25') s JOIN passages p ON p.ctid = s.ctid;
SELECT count(*) FROM retrieval.search('passages_body_idx', 'energy', 0);
SELECT * FROM retrieval.search('passages_body_idx', 'energy', 5, 'magic');
SELECT * FROM retrieval.search('passages_body_idx', 'energy', -1);

-- Writes after the build: insert, update, delete + VACUUM
INSERT INTO passages VALUES (30, 'en', 'Photosynthesis converts light energy into chemical energy in plants.');
UPDATE passages SET body = 'Sea turtles return to the beach where they hatched.' WHERE id = 10;
DELETE FROM passages WHERE id IN (3, 6);
SELECT op, q, ranking(op, bound(q), true) = ranking(op, bound(q), false) AS index_equals_seqscan
FROM (VALUES ('<=>'), ('<~>'), ('<@>')) o(op),
     (VALUES ('how do plants make energy'), ('sea turtles'), ('interest rates')) q(q)
ORDER BY 1, 2;
VACUUM (INDEX_CLEANUP ON) passages;
SELECT documents FROM retrieval.index_stats('passages_body_idx');
SELECT op, q, ranking(op, bound(q), true) = ranking(op, bound(q), false) AS index_equals_seqscan
FROM (VALUES ('<=>'), ('<~>'), ('<@>')) o(op),
     (VALUES ('how do plants make energy'), ('sea turtles'), ('interest rates')) q(q)
ORDER BY 1, 2;
SELECT id FROM passages ORDER BY body <=> 'turtles on the beach' LIMIT 1;

-- REINDEX and CREATE INDEX CONCURRENTLY give the same answers
REINDEX INDEX passages_body_idx;
SELECT ranking('<=>', bound('how do plants make energy'), true) =
       ranking('<=>', bound('how do plants make energy'), false) AS after_reindex;
DROP INDEX passages_body_idx;
CREATE INDEX CONCURRENTLY passages_body_idx ON passages USING retrieval (body);
SELECT ranking('<=>', bound('how do plants make energy'), true) =
       ranking('<=>', bound('how do plants make energy'), false) AS after_concurrently;

-- Without a model: <=> equals <@>, <~> needs embeddings
CREATE TABLE plain (id int, body text);
INSERT INTO plain SELECT id, body FROM passages;
CREATE INDEX plain_idx ON plain USING retrieval (body) WITH (model = 'none');
SELECT bool_and((body <=> 'plants energy') = (body <@> 'plants energy')) AS fused_is_bm25 FROM plain;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM plain ORDER BY body <=> 'plants energy' LIMIT 3;
SELECT id FROM plain ORDER BY body <=> 'plants energy' LIMIT 3;
RESET enable_seqscan;
SELECT id FROM plain ORDER BY body <~> 'plants energy' LIMIT 3;
SELECT count(*) FROM retrieval.search('plain_idx', 'plants energy', 3, 'bm25');
SELECT count(*) FROM retrieval.search('plain_idx', 'plants energy', 3);
DROP TABLE plain;

-- An unknown model is an error at CREATE INDEX
CREATE INDEX ON passages USING retrieval (body) WITH (model = 'no_such_model');

-- Expression index: graph candidates are scored from the expression's value
CREATE TABLE art (id int, title text, body text);
INSERT INTO art SELECT id, 'Passage ' || id, body FROM passages WHERE body <> '';
CREATE INDEX art_all_idx ON art USING retrieval ((title || ' ' || body));
SET enable_seqscan = off;
SELECT id FROM art ORDER BY (title || ' ' || body) <=> 'photosynthesis in plants' LIMIT 3;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT id FROM art ORDER BY (title || ' ' || body) <=> 'photosynthesis in plants' LIMIT 3;
RESET enable_indexscan;
DROP TABLE art;

-- Plan choice: LIMIT queries use the index; a very selective filter with
-- its own index is cheaper first
CREATE TABLE many (id int PRIMARY KEY, body text);
INSERT INTO many SELECT g, (ARRAY['plants', 'banks', 'cakes', 'rivers', 'engines'])[1 + g % 5] ||
	' and ' || (ARRAY['sunlight', 'markets', 'ovens', 'bridges', 'fuel', 'music', 'trains'])[1 + g % 7] ||
	' number ' || g FROM generate_series(1, 2000) g;
CREATE INDEX many_body_idx ON many USING retrieval (body);
ANALYZE many;
EXPLAIN (COSTS OFF) SELECT id FROM many ORDER BY body <=> 'plants in the sun' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM many WHERE id BETWEEN 1 AND 5 ORDER BY body <=> 'plants in the sun' LIMIT 10;
SELECT count(*) FROM (SELECT id FROM many WHERE id % 10 = 3 ORDER BY body <=> 'plants in the sun' LIMIT 10) s;
DROP TABLE many;

-- Unlogged table, empty at build time
CREATE UNLOGGED TABLE ul (id int, body text);
CREATE INDEX ul_idx ON ul USING retrieval (body);
INSERT INTO ul SELECT id, body FROM passages;
SET enable_seqscan = off;
SELECT id FROM ul ORDER BY body <=> 'banks and inflation' LIMIT 2;
RESET enable_seqscan;
DROP TABLE ul;

DROP FUNCTION ranking(text, text, bool, int);
DROP FUNCTION bound(text);
DROP TABLE passages;
