-- pgTAP: the SQL contract of the vector type.  Names, signatures, return
-- types, volatility, strictness, parallel safety, casts and their contexts,
-- operators, the btree operator class, and the SQLSTATE of every error
-- class.  Runs in a transaction that is rolled back.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION retrieval;
RESET client_min_messages;

SELECT plan(126);

-- the extension itself
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'retrieval'), '0.2.0', 'version 0.2.0');
SELECT is((SELECT trusted FROM pg_available_extension_versions WHERE name = 'retrieval' AND version = '0.1.0'),
          false, 'not trusted');
SELECT is((SELECT superuser FROM pg_available_extension_versions WHERE name = 'retrieval' AND version = '0.1.0'),
          true, 'needs a superuser to create');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retrieval') AND p.prosecdef),
          0, 'no SECURITY DEFINER function');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retrieval') AND p.proparallel <> 's'
             AND p.proname NOT IN ('register_model', 'unregister_model')),
          0, 'every function but the model registry''s writers is PARALLEL SAFE');
SELECT is((SELECT array_agg(DISTINCT p.proparallel::text) FROM pg_proc p
           WHERE p.pronamespace = 'retrieval'::regnamespace AND p.proname IN ('register_model', 'unregister_model')),
          ARRAY['u'], 'the model registry''s writers are PARALLEL UNSAFE (they write a table)');

-- the type
SELECT has_type('vector');
SELECT is((SELECT typlen::int FROM pg_type WHERE typname = 'vector'), -1, 'vector is a varlena');
SELECT is((SELECT typstorage::text FROM pg_type WHERE typname = 'vector'), 'e', 'storage external (no compression, like pgvector)');
SELECT is((SELECT typalign::text FROM pg_type WHERE typname = 'vector'), 'i', 'int alignment');
SELECT isnt((SELECT typreceive FROM pg_type WHERE typname = 'vector'), 0::regproc, 'has a binary receive function');
SELECT isnt((SELECT typsend FROM pg_type WHERE typname = 'vector'), 0::regproc, 'has a binary send function');
SELECT is(format_type('vector'::regtype, 384), 'vector(384)', 'typmod shown as vector(n)');

-- functions: name, argument types, result type; all immutable and strict
SELECT has_function('l2_distance', ARRAY['vector', 'vector']);
SELECT has_function('cosine_distance', ARRAY['vector', 'vector']);
SELECT has_function('inner_product', ARRAY['vector', 'vector']);
SELECT has_function('l1_distance', ARRAY['vector', 'vector']);
SELECT has_function('vector_negative_inner_product', ARRAY['vector', 'vector']);
SELECT has_function('vector_l2_squared_distance', ARRAY['vector', 'vector']);
SELECT has_function('vector_dims', ARRAY['vector']);
SELECT has_function('vector_norm', ARRAY['vector']);
SELECT has_function('l2_normalize', ARRAY['vector']);
SELECT has_function('subvector', ARRAY['vector', 'integer', 'integer']);
SELECT function_returns('l2_distance', ARRAY['vector', 'vector'], 'double precision');
SELECT function_returns('cosine_distance', ARRAY['vector', 'vector'], 'double precision');
SELECT function_returns('inner_product', ARRAY['vector', 'vector'], 'double precision');
SELECT function_returns('l1_distance', ARRAY['vector', 'vector'], 'double precision');
SELECT function_returns('vector_dims', ARRAY['vector'], 'integer');
SELECT function_returns('vector_norm', ARRAY['vector'], 'double precision');
SELECT function_returns('l2_normalize', ARRAY['vector'], 'vector');
SELECT function_returns('subvector', ARRAY['vector', 'integer', 'integer'], 'vector');
SELECT volatility_is('l2_distance', ARRAY['vector', 'vector'], 'immutable');
SELECT volatility_is('cosine_distance', ARRAY['vector', 'vector'], 'immutable');
SELECT volatility_is('inner_product', ARRAY['vector', 'vector'], 'immutable');
SELECT volatility_is('l1_distance', ARRAY['vector', 'vector'], 'immutable');
SELECT volatility_is('vector_dims', ARRAY['vector'], 'immutable');
SELECT volatility_is('vector_norm', ARRAY['vector'], 'immutable');
SELECT volatility_is('l2_normalize', ARRAY['vector'], 'immutable');
SELECT volatility_is('subvector', ARRAY['vector', 'integer', 'integer'], 'immutable');
SELECT is_strict('l2_distance', ARRAY['vector', 'vector']);
SELECT is_strict('cosine_distance', ARRAY['vector', 'vector']);
SELECT is_strict('subvector', ARRAY['vector', 'integer', 'integer']);
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retrieval')
             AND p.provolatile <> 'i' AND p.proname NOT IN ('distance_kernels', 'retrieval_am_handler',
                 'register_model', 'unregister_model', 'model_fingerprint', 'default_model_info',
                 -- bm25 and the hybrid text operators: read the index's statistics and model
                 'bm25_distance', 'bm25_query', 'bm25_score', 'index_stats',
                 'text_semantic_distance', 'text_fused_distance', 'search',
                 -- the n-gram index: read the index's counts
                 'seal_distance', 'ngram_count', 'ngram_next', 'ngram_docs', 'seal_search', 'ngram_stats')),
          0, 'every function but distance_kernels(), the AM handler, the model registry''s and the text index ones is IMMUTABLE');
SELECT is((SELECT string_agg(p.proname || '=' || p.provolatile::text, ',' ORDER BY p.proname) FROM pg_proc p
           WHERE p.pronamespace = 'retrieval'::regnamespace
             AND p.proname IN ('register_model', 'unregister_model', 'model_fingerprint', 'default_model_info')),
          'default_model_info=s,model_fingerprint=s,register_model=v,unregister_model=v',
          'the model registry: writers VOLATILE, readers STABLE');
SELECT volatility_is('distance_kernels', ARRAY[]::text[], 'volatile');

-- aggregates
SELECT has_function('avg', ARRAY['vector']);
SELECT has_function('sum', ARRAY['vector']);
SELECT is_aggregate('avg', ARRAY['vector']);
SELECT is_aggregate('sum', ARRAY['vector']);
SELECT function_returns('avg', ARRAY['vector'], 'vector');
SELECT function_returns('sum', ARRAY['vector'], 'vector');
SELECT is((SELECT aggcombinefn::text FROM pg_aggregate WHERE aggfnoid = 'avg(vector)'::regprocedure),
          'vector_combine', 'avg has a combine function (parallel aggregation)');
SELECT is((SELECT aggcombinefn::text FROM pg_aggregate WHERE aggfnoid = 'sum(vector)'::regprocedure),
          'vector_combine', 'sum has a combine function (parallel aggregation)');

-- operators
SELECT has_operator('vector', '<->', 'vector', 'double precision');
SELECT has_operator('vector', '<=>', 'vector', 'double precision');
SELECT has_operator('vector', '<#>', 'vector', 'double precision');
SELECT has_operator('vector', '<+>', 'vector', 'double precision');
SELECT has_operator('vector', '+', 'vector', 'vector');
SELECT has_operator('vector', '-', 'vector', 'vector');
SELECT has_operator('vector', '*', 'vector', 'vector');
SELECT has_operator('vector', '||', 'vector', 'vector');
SELECT has_operator('vector', '<', 'vector', 'boolean');
SELECT has_operator('vector', '<=', 'vector', 'boolean');
SELECT has_operator('vector', '=', 'vector', 'boolean');
SELECT has_operator('vector', '<>', 'vector', 'boolean');
SELECT has_operator('vector', '>=', 'vector', 'boolean');
SELECT has_operator('vector', '>', 'vector', 'boolean');
SELECT is((SELECT c.oprname::text FROM pg_operator o JOIN pg_operator c ON c.oid = o.oprcom
           WHERE o.oprname = '<->' AND o.oprleft = 'vector'::regtype),
          '<->', '<-> is its own commutator');
SELECT is((SELECT n.oprname::text FROM pg_operator o JOIN pg_operator n ON n.oid = o.oprnegate
           WHERE o.oprname = '=' AND o.oprleft = 'vector'::regtype),
          '<>', '= has <> as negator');
SELECT has_opclass('vector_ops');
SELECT is((SELECT opcdefault FROM pg_opclass WHERE opcname = 'vector_ops'
             AND opcmethod = (SELECT oid FROM pg_am WHERE amname = 'btree')),
          true, 'vector_ops is the default btree class');

-- casts and their contexts
SELECT has_cast('integer[]', 'vector');
SELECT has_cast('real[]', 'vector');
SELECT has_cast('double precision[]', 'vector');
SELECT has_cast('numeric[]', 'vector');
SELECT has_cast('vector', 'real[]');
SELECT has_cast('vector', 'double precision[]');
SELECT has_cast('vector', 'integer[]');
SELECT has_cast('vector', 'numeric[]');
SELECT has_cast('vector', 'vector');
SELECT cast_context_is('integer[]', 'vector', 'assignment');
SELECT cast_context_is('real[]', 'vector', 'assignment');
SELECT cast_context_is('double precision[]', 'vector', 'assignment');
SELECT cast_context_is('numeric[]', 'vector', 'assignment');
SELECT cast_context_is('vector', 'real[]', 'implicit');
SELECT cast_context_is('vector', 'double precision[]', 'assignment');
SELECT cast_context_is('vector', 'vector', 'implicit');

-- the distance kernel setting
SELECT is(current_setting('retrieval.distance_kernel'), 'auto', 'retrieval.distance_kernel defaults to auto');
SELECT is((SELECT context FROM pg_settings WHERE name = 'retrieval.distance_kernel'), 'user', 'any user may set it');
SELECT throws_ok($$SET retrieval.distance_kernel = 'sse9'$$, '22023', NULL, 'unknown kernel name refused');
SELECT throws_ok($$SET retrieval.unknown_setting = 1$$, '42602', NULL, 'the retrieval. prefix is reserved');

-- values
SELECT is('[1,2,3]'::vector::text, '[1,2,3]', 'text round trip');
SELECT is(('[1,2]'::vector <-> '[4,6]'), 5::float8, 'l2 distance');
SELECT is(('[1,2]'::vector <#> '[3,4]'), -11::float8, 'negative inner product');
SELECT is(('[1,0]'::vector <=> '[0,2]'), 1::float8, 'cosine distance');
SELECT is(vector_send('[1]'), '\x000100003f800000'::bytea, 'binary layout: int16 dim, int16 0, float4 BE');

-- every class of error has its SQLSTATE
SELECT throws_ok($$SELECT '[1,2'::vector$$, '22P02', NULL, 'unterminated: invalid_text_representation');
SELECT throws_ok($$SELECT 'x'::vector$$, '22P02', NULL, 'no bracket: invalid_text_representation');
SELECT throws_ok($$SELECT '[1,a]'::vector$$, '22P02', NULL, 'not a number: invalid_text_representation');
SELECT throws_ok($$SELECT '[NaN]'::vector$$, '22000', 'NaN not allowed in vector', 'NaN: data_exception');
SELECT throws_ok($$SELECT '[inf]'::vector$$, '22000', 'infinite value not allowed in vector', 'infinity: data_exception');
SELECT throws_ok($$SELECT '[]'::vector$$, '22000', 'vector must have at least 1 dimension', 'empty: data_exception');
SELECT throws_ok($$SELECT ('[' || repeat('0,', 16000) || '0]')::vector$$, '54000',
                 'vector cannot have more than 16000 dimensions', 'too many dimensions: program_limit_exceeded');
SELECT throws_ok($$SELECT '[1e40]'::vector$$, '22003', NULL, 'overflow: numeric_value_out_of_range');
SELECT throws_ok($$SELECT '[1,2]'::vector <-> '[1]'$$, '22000', 'different vector dimensions 2 and 1',
                 'dimension mismatch: data_exception');
SELECT throws_ok($$SELECT '[1,2]'::vector(3)$$, '22000', 'expected 3 dimensions, not 2', 'typmod mismatch: data_exception');
SELECT throws_ok($$SELECT '[1]'::vector(0)$$, '22023', NULL, 'typmod 0: invalid_parameter_value');
SELECT throws_ok($$SELECT '[1]'::vector(16001)$$, '22023', NULL, 'typmod above the limit: invalid_parameter_value');
SELECT throws_ok($$SELECT '{1,NULL}'::real[]::vector$$, '22004', NULL, 'NULL element: null_value_not_allowed');
SELECT throws_ok($$SELECT '{{1},{2}}'::real[]::vector$$, '2202E', NULL, '2-D array: array_subscript_error');
SELECT throws_ok($$SELECT '[3e38]'::vector * '[3e38]'$$, '22003', NULL, 'arithmetic overflow: numeric_value_out_of_range');
SELECT throws_ok($$SELECT subvector('[1,2]', 3, 1)$$, '22000', NULL, 'empty subvector: data_exception');
SELECT throws_ok($$SELECT avg(v) FROM (VALUES ('[1]'::vector), ('[1,2]')) t(v)$$, '22000', NULL,
                 'aggregate over mixed dimensions: data_exception');
SELECT lives_ok($$SELECT NULL::vector(16000)$$, 'vector(16000) is a valid type');
SELECT lives_ok($$SELECT ('[' || repeat('0,', 15999) || '0]')::vector(16000)$$, '16000 dimensions accepted');

-- the index access method and its vector operator classes
SELECT is((SELECT amtype::text FROM pg_am WHERE amname = 'retrieval'), 'i', 'retrieval is an index access method');
SELECT has_opclass('vector_l2_ops');
SELECT has_opclass('vector_ip_ops');
SELECT has_opclass('vector_cosine_ops');
SELECT results_eq(
	$$SELECT c.opcname::text COLLATE "default", o.oprname::text COLLATE "default"
	  FROM pg_opclass c JOIN pg_amop a ON a.amopfamily = c.opcfamily JOIN pg_operator o ON o.oid = a.amopopr
	  WHERE c.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'retrieval') AND c.opcintype = 'vector'::regtype ORDER BY 1$$,
	$$VALUES ('vector_cosine_ops', '<=>'), ('vector_ip_ops', '<#>'), ('vector_l2_ops', '<->')$$,
	'each vector operator class orders by its distance operator');
SELECT is((SELECT bool_and(a.amoppurpose = 'o') FROM pg_amop a JOIN pg_opclass c ON a.amopfamily = c.opcfamily
           WHERE c.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'retrieval')), true,
          'operators of the retrieval classes are ordering operators');
SELECT is((SELECT count(*)::int FROM pg_opclass WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'retrieval') AND opcdefault
             AND opcintype = 'vector'::regtype),
          0, 'no default vector operator class: the metric is always explicit');
SELECT is(current_setting('retrieval.ef_search'), '40', 'retrieval.ef_search defaults to 40');
SELECT throws_ok($$SET retrieval.ef_search = 0$$, '22023', NULL, 'ef_search below 1 refused');
SELECT throws_ok($$CREATE TEMP TABLE t_opt (v vector(3)); CREATE INDEX ON t_opt USING retrieval (v vector_l2_ops) WITH (m = 1)$$,
                 '22023', NULL, 'm out of range refused');
SELECT throws_ok($$CREATE TEMP TABLE t_nodim (v vector); CREATE INDEX ON t_nodim USING retrieval (v vector_l2_ops)$$,
                 '22023', 'column does not have dimensions', 'index needs a dimension');

SELECT * FROM finish();
ROLLBACK;
