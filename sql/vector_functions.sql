-- Distances, norms and element-wise arithmetic.  Inputs use small integers
-- so every sum is exact and results do not depend on the SIMD kernel.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT '[1,2,3]'::vector <-> '[4,6,3]' AS l2,
       l2_distance('[1,2,3]', '[4,6,3]') AS l2_fn,
       vector_l2_squared_distance('[1,2,3]', '[4,6,3]') AS l2_squared;
SELECT '[1,2,3]'::vector <#> '[4,5,6]' AS neg_ip,
       inner_product('[1,2,3]', '[4,5,6]') AS ip,
       vector_negative_inner_product('[1,2,3]', '[4,5,6]') AS neg_ip_fn;
SELECT '[1,0]'::vector <=> '[0,1]' AS orthogonal,
       '[1,1]'::vector <=> '[2,2]' AS same_direction,
       '[1,1]'::vector <=> '[-1,-1]' AS opposite,
       cosine_distance('[3,4]', '[4,3]') AS cos_fn;
SELECT '[0,0]'::vector <=> '[1,1]' AS zero_is_nan;
SELECT l1_distance('[1,2,3]', '[4,0,3]'), '[1,2,3]'::vector <+> '[4,0,3]';
SELECT vector_dims('[1,2,3]'), vector_norm('[3,4]'), vector_norm('[0,0]');
SELECT l2_normalize('[3,4]'), l2_normalize('[0,0]'), l2_normalize('[-2]');
-- odd lengths and every kernel tail: 1..40 elements of 1 vs 2
SELECT n,
       vector_l2_squared_distance(('[' || repeat('1,', n - 1) || '1]')::vector, ('[' || repeat('3,', n - 1) || '3]')::vector) AS l2sq,
       ('[' || repeat('1,', n - 1) || '1]')::vector <#> ('[' || repeat('2,', n - 1) || '2]')::vector AS negip,
       l1_distance(('[' || repeat('1,', n - 1) || '1]')::vector, ('[' || repeat('-1,', n - 1) || '-1]')::vector) AS l1
FROM generate_series(1, 40, 3) n;

SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]', '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]';
SELECT subvector('[1,2,3,4,5]', 2, 3), subvector('[1,2,3,4,5]', 4, 10),
       subvector('[1,2,3,4,5]', -1, 3), subvector('[1,2,3,4,5]', 1, 5);

\set VERBOSITY sqlstate
SELECT subvector('[1,2,3]', 4, 1);
SELECT subvector('[1,2,3]', 1, 0);
SELECT subvector('[1,2,3]', -5, 3);
SELECT subvector('[1,2,3]', 2147483647, 2147483647);
-- dimension mismatch: data_exception
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT '[1,2]'::vector <=> '[1,2,3]';
SELECT '[1,2]'::vector <#> '[1,2,3]';
SELECT l1_distance('[1,2]', '[1,2,3]');
SELECT '[1,2]'::vector + '[1,2,3]';
SELECT '[1,2]'::vector - '[1]';
SELECT '[1,2]'::vector * '[1]';
-- overflow: numeric_value_out_of_range
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT ('[' || repeat('1,', 7999) || '1]')::vector || ('[' || repeat('1,', 8000) || '1]')::vector;
\set VERBOSITY default
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT '[3e38]'::vector + '[3e38]';

-- NULL in, NULL out (functions are strict)
SELECT NULL::vector <-> '[1]', vector_dims(NULL), l2_normalize(NULL);
