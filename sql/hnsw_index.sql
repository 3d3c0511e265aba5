-- HNSW indexes of the retrieval access method on vector columns: options,
-- the three operator classes against exact answers, streaming under
-- filters, inserts, deletes + VACUUM, NULL and zero vectors, unlogged
-- tables, large dimensions, planner choices.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

-- deterministic points on a 3-D grid with a little twist
CREATE TABLE pts (id int PRIMARY KEY, category int, v vector(3));
INSERT INTO pts
	SELECT i, i % 100, ARRAY[(i % 10) + sin(i) / 10, ((i / 10) % 10) + cos(i) / 10, i / 100 + 1]::vector
	FROM generate_series(0, 999) i;

-- options are checked
\set VERBOSITY sqlstate
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (m = 40, ef_construction = 60);
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (quantization = 'pq');
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (colour = 'blue');
CREATE INDEX ON pts USING retrieval (v);
SET retrieval.ef_search = 0;
SET retrieval.ef_search = 1001;
\set VERBOSITY default
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (m = 40, ef_construction = 60);
CREATE INDEX ON pts USING retrieval (v vector_l2_ops) WITH (quantization = 'pq');

-- 'none' (the default, here explicit) keeps float vectors in the index
CREATE INDEX pts_l2 ON pts USING retrieval (v vector_l2_ops) WITH (m = 8, ef_construction = 32, quantization = 'none');
CREATE INDEX pts_ip ON pts USING retrieval (v vector_ip_ops);
CREATE INDEX pts_cos ON pts USING retrieval (v vector_cosine_ops);
SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname LIKE 'pts\_%' ORDER BY 1;

-- index answers equal exact answers (a small graph with a wide search is exact)
SET retrieval.ef_search = 200;
CREATE FUNCTION pg_temp.knn(q vector, op text, k int, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
	r int[];
BEGIN
	PERFORM set_config('enable_seqscan', CASE WHEN use_index THEN 'off' ELSE 'on' END, true);
	PERFORM set_config('enable_indexscan', CASE WHEN use_index THEN 'on' ELSE 'off' END, true);
	EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM pts ORDER BY v %s $1, id LIMIT $2) s', op)
		INTO r USING q, k;
	RETURN r;
END $$;
SELECT op, q, pg_temp.knn(q, op, 10, true) = pg_temp.knn(q, op, 10, false) AS same
FROM (VALUES ('<->'), ('<#>'), ('<=>')) ops(op),
     (VALUES ('[0,0,1]'::vector), ('[4.5,4.5,5.5]'), ('[9,0,10]'), ('[-3,20,7]')) qs(q)
ORDER BY op, q::text;
SELECT pg_temp.knn('[1,2,3]', '<->', 5, true);

-- the plan
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM pts ORDER BY v <-> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM pts ORDER BY v <=> '[1,2,3]' LIMIT 5;
RESET enable_seqscan;
-- ORDER BY values are exact
SELECT id, round((v <-> '[1,2,3]')::numeric, 6) AS d FROM pts ORDER BY v <-> '[1,2,3]' LIMIT 2;

-- the scan keeps streaming when filters reject rows: LIMIT is met
SET enable_seqscan = off;
SET retrieval.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM pts WHERE category = 42 ORDER BY v <-> '[5,5,5]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM pts WHERE category = 42 ORDER BY v <-> '[5,5,5]') s;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <=> '[5,5,5]') s;
RESET retrieval.ef_search;
RESET enable_seqscan;

-- dimension mismatch and NULL queries
\set VERBOSITY sqlstate
SELECT id FROM pts ORDER BY v <-> '[1,2]' LIMIT 1;
\set VERBOSITY default
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <-> NULL LIMIT 3) s;
RESET enable_seqscan;

-- inserts, NULLs, zero vectors (no direction: not in a cosine index)
INSERT INTO pts VALUES (1000, 0, '[1,2,3.05]'), (1001, 0, NULL), (1002, 0, '[0,0,0]');
SET enable_seqscan = off;
SELECT id FROM pts ORDER BY v <-> '[1,2,3.05]' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <-> '[0,0,0]') s;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <=> '[1,1,1]') s;
RESET enable_seqscan;

-- deletes and VACUUM: gone rows never come back, the rest stays reachable
DELETE FROM pts WHERE id % 3 = 0;
VACUUM pts;
SET enable_seqscan = off;
SET retrieval.ef_search = 200;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <-> '[5,5,5]') s;
SELECT count(*) FROM (SELECT id FROM pts WHERE id % 3 = 0 ORDER BY v <-> '[5,5,5]') s;
RESET enable_seqscan;
SELECT op, pg_temp.knn(q, op, 10, true) = pg_temp.knn(q, op, 10, false) AS same_after_vacuum
FROM (VALUES ('<->'), ('<#>'), ('<=>')) ops(op), (VALUES ('[4.5,4.5,5.5]'::vector)) qs(q) ORDER BY op;
-- insert after VACUUM, then delete everything
INSERT INTO pts SELECT i, 7, ARRAY[i, i, i]::vector FROM generate_series(2000, 2049) i;
SET enable_seqscan = off;
SELECT id FROM pts ORDER BY v <-> '[2010.2,2010.2,2010.2]' LIMIT 2;
DELETE FROM pts;
VACUUM pts;
SELECT count(*) FROM (SELECT id FROM pts ORDER BY v <-> '[1,1,1]') s;
INSERT INTO pts VALUES (1, 1, '[1,1,1]'), (2, 1, '[2,2,2]');
SELECT id FROM pts ORDER BY v <-> '[1.9,2,2]';
RESET enable_seqscan;
RESET retrieval.ef_search;

-- a column without dimensions cannot be indexed
CREATE TABLE untyped (v vector);
\set VERBOSITY sqlstate
CREATE INDEX ON untyped USING retrieval (v vector_l2_ops);
\set VERBOSITY default
CREATE INDEX ON untyped USING retrieval (v vector_l2_ops);
-- ...but an expression with a type modifier can
CREATE INDEX ON untyped USING retrieval ((v::vector(2)) vector_l2_ops);
DROP TABLE untyped;

-- unlogged tables: the index has an init fork
CREATE UNLOGGED TABLE ul (id int, v vector(2));
CREATE INDEX ul_idx ON ul USING retrieval (v vector_l2_ops);
INSERT INTO ul SELECT i, ARRAY[i, -i]::vector FROM generate_series(1, 100) i;
SET enable_seqscan = off;
SELECT id FROM ul ORDER BY v <-> '[50.2,-50.2]' LIMIT 3;
RESET enable_seqscan;
SELECT pg_relation_filepath('ul_idx') IS NOT NULL AS has_file;
DROP TABLE ul;

-- large vectors: 2000 dimensions index fine with 'none'; above the page
-- limit 'none' is refused (sq8 and binary go further: hnsw_quantization)
CREATE TABLE big (id int, v vector(2000));
INSERT INTO big SELECT i, array_fill(i::real, ARRAY[2000])::vector FROM generate_series(1, 30) i;
CREATE INDEX ON big USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
INSERT INTO big SELECT i, array_fill(i::real, ARRAY[2000])::vector FROM generate_series(31, 40) i;
SET enable_seqscan = off;
SELECT id FROM big ORDER BY v <-> array_fill(35.2::real, ARRAY[2000])::vector LIMIT 3;
RESET enable_seqscan;
CREATE TABLE huge (v vector(2100));
\set VERBOSITY sqlstate
CREATE INDEX ON huge USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
\set VERBOSITY default
DROP TABLE big, huge;

-- a build larger than maintenance_work_mem falls back to inserts, same answers
CREATE TABLE spill (id int, v vector(64));
INSERT INTO spill SELECT i, ARRAY(SELECT sin(i * 7 + j) FROM generate_series(1, 64) j)::vector
	FROM generate_series(1, 3000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX spill_idx ON spill USING retrieval (v vector_l2_ops);
RESET maintenance_work_mem;
SET enable_seqscan = off;
SET retrieval.ef_search = 100;
SELECT count(*) FROM (SELECT id FROM spill ORDER BY v <-> (SELECT v FROM spill WHERE id = 1)) s;
SELECT id FROM spill ORDER BY v <-> (SELECT v FROM spill WHERE id = 1) LIMIT 1;
RESET enable_seqscan;
RESET retrieval.ef_search;
DROP TABLE spill;

-- the planner: the index for LIMIT queries; a btree on a very selective
-- filter instead when that is cheaper
CREATE TABLE plan_t (id int, tenant int, v vector(16));
INSERT INTO plan_t SELECT i, i % 1000, ARRAY(SELECT ((i * 31 + j * 17) % 97)::real FROM generate_series(1, 16) j)::vector
	FROM generate_series(1, 20000) i;
CREATE INDEX ON plan_t USING retrieval (v vector_l2_ops);
CREATE INDEX ON plan_t (tenant);
ANALYZE plan_t;
EXPLAIN (COSTS OFF) SELECT id FROM plan_t ORDER BY v <-> (SELECT v FROM plan_t WHERE id = 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM plan_t WHERE tenant = 7 ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM plan_t ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]';
DROP TABLE plan_t;

-- islands: 51 rows sharing one vector link only among themselves (they are
-- at distance 0 from each other), so the 8 distinct rows loaded before them
-- were unreachable from an entry point among the duplicates; the build now
-- links every group a walk from the entry point misses
CREATE TABLE dup_t (id int, v vector(64));
INSERT INTO dup_t SELECT i, ARRAY(SELECT sin(i * 1.7 + j * 0.37 * i)::real FROM generate_series(1, 64) j)::vector
	FROM generate_series(2, 9) i;
INSERT INTO dup_t SELECT i, ARRAY(SELECT cos(j * 0.11)::real FROM generate_series(1, 64) j)::vector
	FROM generate_series(10, 60) i;
INSERT INTO dup_t SELECT 1, ARRAY(SELECT sin(j * 0.23)::real FROM generate_series(1, 64) j)::vector;
CREATE INDEX dup_l2 ON dup_t USING retrieval (v vector_l2_ops);
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM dup_t ORDER BY v <-> (SELECT v FROM dup_t WHERE id = 7)) s;
SELECT id FROM dup_t ORDER BY v <-> (SELECT v FROM dup_t WHERE id = 7) LIMIT 1;
DROP INDEX dup_l2;
CREATE INDEX dup_cos ON dup_t USING retrieval (v vector_cosine_ops);
SELECT count(*) FROM (SELECT id FROM dup_t ORDER BY v <=> (SELECT v FROM dup_t WHERE id = 7)) s;
SELECT count(*) FROM (SELECT id FROM dup_t WHERE id < 10 ORDER BY v <=> (SELECT v FROM dup_t WHERE id = 7) LIMIT 9) s;
RESET enable_seqscan;
DROP TABLE dup_t;
-- the same after inserts: groups of equal vectors inserted into an existing
-- index fill each other's lists and are cut off (how many varies: inserts
-- draw random levels); VACUUM, even with nothing to delete, links every
-- element a walk from the entry point misses, and a full scan, which goes
-- on from the entry point when the descent's region is exhausted, then
-- returns every row, from anywhere
CREATE TABLE isle_t (id int, v vector(8));
INSERT INTO isle_t SELECT i, ARRAY(SELECT sin(i * 0.7 + j * 1.3 * i)::real FROM generate_series(1, 8) j)::vector
	FROM generate_series(1, 1000) i;
CREATE INDEX isle_i ON isle_t USING retrieval (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
INSERT INTO isle_t SELECT 10000 + i, '[5,5,5,5,5,5,5,5]' FROM generate_series(1, 100) i;
INSERT INTO isle_t SELECT 20000 + i, '[5,5,5,5,5,5,5,5.01]' FROM generate_series(1, 100) i;
VACUUM isle_t;
SET enable_seqscan = off;
SET retrieval.ef_search = 1000;
SELECT count(*) FROM (SELECT id FROM isle_t ORDER BY v <-> '[0,0,0,0,0,0,0,0]') s;
SELECT count(*) FROM (SELECT id FROM isle_t ORDER BY v <-> '[5,5,5,5,5,5,5,5]') s;
SET retrieval.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM isle_t WHERE id > 20000 ORDER BY v <-> '[0,0,0,0,0,0,0,0]') s;
RESET retrieval.ef_search;
RESET enable_seqscan;
DROP TABLE isle_t;
-- a backend remembers which shared buffer held each index page
-- (hnsw_buffers.c); when the index is rewritten (REINDEX, TRUNCATE, drop
-- and re-create) the same session's scans still read the right pages.
-- Distances, not ids: the points have ties, and an index filled by inserts
-- draws random levels, so tied rows can come in either order.
CREATE TABLE hint_t (id int, v vector(3));
INSERT INTO hint_t SELECT i, ARRAY[i % 17, i % 23, i % 29]::vector FROM generate_series(1, 3000) i;
CREATE INDEX hint_i ON hint_t USING retrieval (v vector_l2_ops);
SET enable_seqscan = off;
SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '[3,4,5]' AS d FROM hint_t ORDER BY v <-> '[3,4,5]' LIMIT 5) s;
REINDEX INDEX hint_i;
SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '[3,4,5]' AS d FROM hint_t ORDER BY v <-> '[3,4,5]' LIMIT 5) s;
TRUNCATE hint_t;
INSERT INTO hint_t SELECT i, ARRAY[i % 19, i % 13, i % 31]::vector FROM generate_series(1, 3000) i;
SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '[3,4,5]' AS d FROM hint_t ORDER BY v <-> '[3,4,5]' LIMIT 5) s;
DROP INDEX hint_i;
DELETE FROM hint_t WHERE id % 2 = 0;
CREATE INDEX hint_i ON hint_t USING retrieval (v vector_l2_ops);
SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '[3,4,5]' AS d FROM hint_t ORDER BY v <-> '[3,4,5]' LIMIT 5) s;
RESET enable_seqscan;
SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '[3,4,5]' AS d FROM hint_t ORDER BY v <-> '[3,4,5]' LIMIT 5) s;
DROP TABLE hint_t;
DROP TABLE pts;
