-- Casts between vector and integer[], real[], double precision[], numeric[].
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2.5]::real[]::vector,
       ARRAY[1.25,-2]::double precision[]::vector, ARRAY[1.5,2]::numeric[]::vector;
SELECT '{1,2,3}'::real[]::vector(3);
SELECT '[1,2.5,-3]'::vector::real[], '[1,2.5,-3]'::vector::double precision[],
       '[1,2.5,-3]'::vector::numeric[], '[1,2.5,-3.5]'::vector::integer[];
-- real[] -> vector is an assignment cast, vector -> real[] implicit
CREATE TABLE cast_t (v vector(2));
INSERT INTO cast_t VALUES (ARRAY[1,2]), (ARRAY[3.5,4]::real[]), ('{5,6}'::float8[]);
SELECT v FROM cast_t ORDER BY v;
CREATE FUNCTION pg_temp.real_array_length(real[]) RETURNS int LANGUAGE sql AS 'SELECT array_length($1, 1)';
SELECT pg_temp.real_array_length(v) FROM cast_t ORDER BY v LIMIT 1;
DROP TABLE cast_t;
-- round trip of float4 values is exact
SELECT ('[0.1,1e-7,3.4028235e38]'::vector::real[])::vector = '[0.1,1e-7,3.4028235e38]'::vector AS exact;

\set VERBOSITY sqlstate
SELECT '{{1,2},{3,4}}'::real[]::vector;
SELECT '{1,NULL}'::real[]::vector;
SELECT '{}'::real[]::vector;
SELECT '{NaN}'::real[]::vector;
SELECT '{Infinity}'::float8[]::vector;
SELECT '{1e300}'::float8[]::vector;
SELECT '{NaN}'::numeric[]::vector;
SELECT '{1e50}'::numeric[]::vector;
SELECT ARRAY[1,2]::vector(3);
SELECT '[3e9]'::vector::integer[];
SELECT array_fill(1.0::real, ARRAY[16001])::vector;
\set VERBOSITY default
SELECT '{1,NULL}'::real[]::vector;
SELECT '{{1,2},{3,4}}'::real[]::vector;
SELECT ARRAY[1,2]::vector(3);
