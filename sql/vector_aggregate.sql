-- avg(vector) and sum(vector), serial and parallel.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]'), ('[5,9,1]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector), (NULL)) t(v);
SELECT avg(v) IS NULL AS avg_null, sum(v) IS NULL AS sum_null FROM (SELECT NULL::vector v WHERE false) t;
SELECT g, avg(v), sum(v) FROM (VALUES (1, '[1,1]'::vector), (1, '[3,5]'), (2, '[2,2]')) t(g, v)
	GROUP BY g ORDER BY g;
-- sums are kept in double precision: 1e7 copies of 0.1 would drift in float4
SELECT avg(v) FROM (SELECT '[0.1]'::vector v FROM generate_series(1, 100000)) t;
-- sum beyond float4 range
\set VERBOSITY sqlstate
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
\set VERBOSITY default
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);

-- parallel aggregation gives the serial answer
CREATE TABLE agg_t AS SELECT i, ARRAY[i % 7, i % 11, 1]::vector(3) AS v FROM generate_series(1, 50000) i;
ANALYZE agg_t;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_t;
SELECT avg(v), sum(v) FROM agg_t;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT avg(v), sum(v) FROM agg_t;
RESET ALL;
DROP TABLE agg_t;
