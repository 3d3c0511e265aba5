-- HNSW with quantization = 'sq8' and 'binary': traversal on codes, exact
-- re-ranking (from the heap row, or from the index for expression
-- indexes), every operator class against exact answers, inserts, deletes +
-- VACUUM, unlogged tables, the maintenance_work_mem fallback, empty
-- builds, 4,000 dimensions and the dimension limits.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

-- deterministic 24-dimensional points
CREATE TABLE q (id int PRIMARY KEY, category int, v vector(24));
INSERT INTO q
	SELECT i, i % 50, ARRAY(SELECT sin(i * 0.37 + j * 1.3) * (1 + (i % 7)) + (j % 3)
	                        FROM generate_series(1, 24) j)::vector
	FROM generate_series(1, 1500) i;

-- options
\set VERBOSITY sqlstate
CREATE INDEX ON q USING retrieval (v vector_l2_ops) WITH (quantization = 'sq4');
\set VERBOSITY default
CREATE INDEX ON q USING retrieval (v vector_l2_ops) WITH (quantization = 'SQ8');

-- index top-k = exact top-k for every class and mode
CREATE FUNCTION pg_temp.knn(tab text, q vector, op text, k int, use_index bool) RETURNS int[]
LANGUAGE plpgsql AS $$
DECLARE
	r int[];
BEGIN
	PERFORM set_config('enable_seqscan', CASE WHEN use_index THEN 'off' ELSE 'on' END, true);
	PERFORM set_config('enable_indexscan', CASE WHEN use_index THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	-- as a set: near-ties may swap places (float rounding differs from the operators')
	EXECUTE format('SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM %I ORDER BY v %s $1 LIMIT $2) s', tab, op)
		INTO r USING q, k;
	RETURN r;
END $$;
-- queries: the rows with id % modulus = 1, each class, each mode
CREATE FUNCTION pg_temp.check_exact(tab text, label text, modulus int) RETURNS TABLE (mode text, op text, queries int, exact int)
LANGUAGE plpgsql AS $$
DECLARE
	m text;
	o text;
	opclass text;
	n int;
	same int;
	qv vector;
BEGIN
	FOREACH m IN ARRAY ARRAY['sq8', 'binary'] LOOP
		FOREACH o IN ARRAY ARRAY['<->', '<#>', '<=>'] LOOP
			opclass := CASE o WHEN '<->' THEN 'vector_l2_ops' WHEN '<#>' THEN 'vector_ip_ops' ELSE 'vector_cosine_ops' END;
			EXECUTE format('CREATE INDEX tmp_idx ON %I USING retrieval (v %s) WITH (quantization = %L)', tab, opclass, m);
			n := 0;
			same := 0;
			FOR qv IN EXECUTE format('SELECT v FROM %I WHERE id %% %s = 1 ORDER BY id', tab, modulus) LOOP
				n := n + 1;
				IF pg_temp.knn(tab, qv, o, 10, true) = pg_temp.knn(tab, qv, o, 10, false) THEN
					same := same + 1;
				END IF;
			END LOOP;
			EXECUTE 'DROP INDEX tmp_idx';
			mode := m || label;
			op := o;
			queries := n;
			exact := same;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END $$;
SET retrieval.ef_search = 300;
SELECT * FROM pg_temp.check_exact('q', '', 75);

-- what each mode stores: sizes shrink, metadata records the codec
CREATE INDEX q_none ON q USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
CREATE INDEX q_sq8 ON q USING retrieval (v vector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX q_bin ON q USING retrieval (v vector_l2_ops) WITH (quantization = 'binary');
SELECT pg_relation_size('q_sq8') < pg_relation_size('q_none') AS sq8_smaller,
       pg_relation_size('q_bin') < pg_relation_size('q_sq8') AS binary_smaller;
DROP INDEX q_none;

-- ORDER BY values are exact (re-ranked), in order
SET enable_seqscan = off;
SELECT id, round((v <-> (SELECT v FROM q WHERE id = 3))::numeric, 5) AS d
FROM q ORDER BY v <-> (SELECT v FROM q WHERE id = 3) LIMIT 3;
DROP INDEX q_bin;
SELECT id, round((v <-> (SELECT v FROM q WHERE id = 3))::numeric, 5) AS d
FROM q ORDER BY v <-> (SELECT v FROM q WHERE id = 3) LIMIT 3;

-- streaming under filters: LIMIT is met; all rows reachable
SET retrieval.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM q WHERE category = 7 ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM q ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]') s;
RESET retrieval.ef_search;

-- updates re-rank against the visible row version
UPDATE q SET v = (SELECT v FROM q WHERE id = 3) WHERE id = 1000;
SELECT id FROM q ORDER BY v <-> (SELECT v FROM q WHERE id = 3), id LIMIT 2;

-- inserts, deletes + VACUUM
INSERT INTO q SELECT i, 99, ARRAY(SELECT cos(i * 0.11 + j) * 3 FROM generate_series(1, 24) j)::vector
	FROM generate_series(2001, 2300) i;
DELETE FROM q WHERE id % 4 = 0;
VACUUM q;
SET retrieval.ef_search = 300;
SELECT count(*) FROM (SELECT id FROM q WHERE id % 4 = 0 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') s;
-- XXX: after this churn 3-5 of the ~1,350 rows are unreachable, with 'none'
-- as well (3): the graph's known reachability gap (docs/architecture.md,
-- "Reachability"), not the codes; inserts draw random levels, so the number
-- varies between runs.  Tolerate 1%.
SELECT (SELECT count(*) FROM q) - count(*) BETWEEN 0 AND 13 AS reachable
FROM (SELECT id FROM q ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') s;
RESET enable_seqscan;
DROP INDEX q_sq8;
SELECT * FROM pg_temp.check_exact('q', ' after churn', 75);

-- expression index: vectors kept in the index for re-ranking
CREATE INDEX q_expr ON q USING retrieval ((l2_normalize(v)::vector(24)) vector_l2_ops) WITH (quantization = 'sq8');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM q ORDER BY l2_normalize(v)::vector(24) <-> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 2;
SELECT id, round((l2_normalize(v)::vector(24) <-> l2_normalize((SELECT v FROM q WHERE id = 5)))::numeric, 5) AS d
FROM q ORDER BY l2_normalize(v)::vector(24) <-> l2_normalize((SELECT v FROM q WHERE id = 5)) LIMIT 2;
RESET enable_seqscan;
DROP INDEX q_expr;

-- a build larger than maintenance_work_mem: the rows that do not fit are
-- inserted one by one
SET maintenance_work_mem = '1MB';
CREATE TABLE spill (id int, v vector(64));
INSERT INTO spill SELECT i, ARRAY(SELECT sin(i * 7 + j) FROM generate_series(1, 64) j)::vector
	FROM generate_series(1, 3000) i;
CREATE INDEX spill_idx ON spill USING retrieval (v vector_l2_ops) WITH (quantization = 'sq8');
RESET maintenance_work_mem;
SET enable_seqscan = off;
SET retrieval.ef_search = 100;
SELECT count(*) FROM (SELECT id FROM spill ORDER BY v <-> (SELECT v FROM spill WHERE id = 1)) s;
SELECT id FROM spill ORDER BY v <-> (SELECT v FROM spill WHERE id = 1) LIMIT 1;
RESET enable_seqscan;
RESET retrieval.ef_search;
DROP TABLE spill;

-- empty builds: sq8 needs no training; binary is not centred (a notice says
-- so where it matters); then inserts
CREATE TABLE e (id int, v vector(3));
CREATE INDEX e_l2 ON e USING retrieval (v vector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX e_cos ON e USING retrieval (v vector_cosine_ops) WITH (quantization = 'binary');
INSERT INTO e SELECT i, ARRAY[i % 10, i / 10 % 10, i / 100]::vector FROM generate_series(1, 500) i;
SET enable_seqscan = off;
SELECT id FROM e ORDER BY v <-> '[3,4,2]' LIMIT 1;
SELECT id FROM e ORDER BY v <=> '[1,2,3]' LIMIT 1;
RESET enable_seqscan;
DROP TABLE e;

-- unlogged: the init fork holds the metapage and the codec pages
CREATE UNLOGGED TABLE ul (id int, v vector(2));
CREATE INDEX ul_idx ON ul USING retrieval (v vector_l2_ops) WITH (quantization = 'binary');
INSERT INTO ul SELECT i, ARRAY[i, -i]::vector FROM generate_series(1, 100) i;
SET enable_seqscan = off;
SELECT id FROM ul ORDER BY v <-> '[50.2,-50.2]' LIMIT 3;
RESET enable_seqscan;
DROP TABLE ul;

-- 4,000 dimensions: refused for 'none' with a hint, exact with sq8 and binary
CREATE TABLE wide (id int, v vector(4000));
INSERT INTO wide SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 0.013 * (1 + i % 5)) FROM generate_series(1, 4000) j)::vector
	FROM generate_series(1, 200) i;
CREATE INDEX ON wide USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
\set VERBOSITY sqlstate
CREATE INDEX ON wide USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
\set VERBOSITY default
CREATE INDEX ON wide USING retrieval ((l2_normalize(v)::vector(4000)) vector_l2_ops) WITH (quantization = 'sq8');
SET retrieval.ef_search = 40;
SELECT * FROM pg_temp.check_exact('wide', ' 4000 dims', 20);
CREATE INDEX wide_sq8 ON wide USING retrieval (v vector_cosine_ops) WITH (quantization = 'sq8');
INSERT INTO wide SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 0.013 * (1 + i % 5)) FROM generate_series(1, 4000) j)::vector
	FROM generate_series(201, 220) i;
SET enable_seqscan = off;
SELECT id FROM wide ORDER BY v <=> (SELECT v FROM wide WHERE id = 210) LIMIT 1;
RESET enable_seqscan;
RESET retrieval.ef_search;
CREATE TABLE widest (v vector(16000));
CREATE INDEX ON widest USING retrieval (v vector_l2_ops) WITH (quantization = 'binary');
CREATE TABLE toowide (v vector(9000));
CREATE INDEX ON toowide USING retrieval (v vector_l2_ops) WITH (quantization = 'sq8');
DROP TABLE wide, widest, toowide;
-- cost model: a quantized scan pays for re-ranking each candidate (a heap
-- fetch and an exact distance; from the index page for an expression
-- index) on top of the graph walk: ef_search candidates in the startup
-- cost, one per row in the total.  Same rows, one index per table.
CREATE TABLE cost_none AS SELECT id, v FROM q ORDER BY id LIMIT 1000;
CREATE TABLE cost_sq8 AS SELECT id, v FROM q ORDER BY id LIMIT 1000;
CREATE TABLE cost_expr AS SELECT id, v FROM q ORDER BY id LIMIT 1000;
CREATE INDEX ON cost_none USING retrieval (v vector_l2_ops) WITH (quantization = 'none');
CREATE INDEX ON cost_sq8 USING retrieval (v vector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX ON cost_expr USING retrieval ((l2_normalize(v)::vector(24)) vector_l2_ops) WITH (quantization = 'sq8');
ANALYZE cost_none, cost_sq8, cost_expr;
CREATE FUNCTION pg_temp.scan_costs(tab text, expr text) RETURNS numeric[]
LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	-- the index scan's own cost, whatever plan 1,000 rows would prefer
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT id FROM %I ORDER BY %s <-> %L::vector LIMIT 10',
				   tab, expr, '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') INTO plan;
	plan := plan->0->'Plan'->'Plans'->0;
	IF plan->>'Node Type' <> 'Index Scan' THEN
		RAISE EXCEPTION 'not an index scan: %', plan->>'Node Type';
	END IF;
	RETURN ARRAY[(plan->>'Startup Cost')::numeric, (plan->>'Total Cost')::numeric];
END $$;
SET retrieval.ef_search = 40;
-- per candidate, 24 dimensions: 1 page + 1.75 operators (+ 1 tuple from the heap):
-- sq8 1.014375, expression 1.004375; startup x 40, total x (40 + 1,000)
-- (the expression's total also has 1,000 x 0.005 for evaluating l2_normalize)
SELECT round(s[1] - n[1], 1) AS sq8_startup_extra, round(s[2] - n[2]) AS sq8_total_extra,
	   round(e[1] - n[1], 1) AS expr_startup_extra, round(e[2] - n[2]) AS expr_total_extra
FROM pg_temp.scan_costs('cost_none', 'v') n, pg_temp.scan_costs('cost_sq8', 'v') s,
	 pg_temp.scan_costs('cost_expr', 'l2_normalize(v)::vector(24)') e;
RESET retrieval.ef_search;
DROP TABLE cost_none, cost_sq8, cost_expr;
DROP TABLE q;
