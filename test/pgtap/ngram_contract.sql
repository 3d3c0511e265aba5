-- The SQL contract of the n-gram index (src/ngram/, docs/sql.md "N-gram
-- index"): functions, operators, the operator classes, the setting, the
-- index option, and the SQLSTATEs of misuse.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;
SET search_path = public, retrieval;

SELECT plan(39);

-- functions: signatures, results, volatility, strictness
SELECT function_returns('retrieval', 'ngram_count', ARRAY['regclass', 'text'], 'bigint');
SELECT function_returns('retrieval', 'ngram_count', ARRAY['regclass', 'integer[]'], 'bigint');
SELECT function_returns('retrieval', 'ngram_next', ARRAY['regclass', 'text', 'integer'], 'setof record');
SELECT function_returns('retrieval', 'ngram_next', ARRAY['regclass', 'integer[]', 'integer', 'integer[]'], 'setof record');
SELECT function_returns('retrieval', 'ngram_docs', ARRAY['regclass', 'text'], 'setof record');
SELECT function_returns('retrieval', 'ngram_docs', ARRAY['regclass', 'integer[]'], 'setof record');
SELECT function_returns('retrieval', 'seal_search', ARRAY['regclass', 'text[]', 'double precision[]', 'integer'], 'setof record');
SELECT function_returns('retrieval', 'seal_search', ARRAY['regclass', 'integer[]', 'double precision[]', 'integer'], 'setof record');
SELECT function_returns('retrieval', 'ngram_stats', ARRAY['regclass'], 'record');
SELECT volatility_is('retrieval', 'ngram_count', ARRAY['regclass', 'text'], 'stable');
SELECT volatility_is('retrieval', 'ngram_next', ARRAY['regclass', 'text', 'integer'], 'stable');
SELECT volatility_is('retrieval', 'seal_search', ARRAY['regclass', 'text[]', 'double precision[]', 'integer'], 'stable');
SELECT is_strict('retrieval', 'ngram_count', ARRAY['regclass', 'text']);
SELECT isnt_strict('retrieval', 'ngram_next', ARRAY['regclass', 'text', 'integer']);
SELECT is((SELECT array_agg(p.proargnames::text ORDER BY p.oid) FROM pg_proc p
           WHERE p.pronamespace = 'retrieval'::regnamespace AND p.proname = 'ngram_next'),
          ARRAY['{index,prefix,k,next,count}', '{index,prefix,k,candidates,next,count}'],
          'ngram_next: argument and column names');
SELECT is((SELECT p.proargnames::text FROM pg_proc p
           WHERE p.pronamespace = 'retrieval'::regnamespace AND p.proname = 'seal_search' LIMIT 1),
          '{index,ngrams,logprobs,k,ctid,score}', 'seal_search: argument and column names');
SELECT is((SELECT bool_and(NOT p.prosecdef) FROM pg_proc p
           WHERE p.pronamespace = 'retrieval'::regnamespace AND p.proname ~ '^(ngram|seal)'),
          true, 'nothing SECURITY DEFINER');

-- operators and operator classes
SELECT has_operator('text', '<%>', 'text', 'double precision');
SELECT has_operator('text', '<%>', 'text[]', 'double precision');
SELECT results_eq(
	$$SELECT a.amopstrategy::int, o.oprname::text COLLATE "default", a.amoppurpose::text COLLATE "default"
	  FROM pg_opclass c JOIN pg_amop a ON a.amopfamily = c.opcfamily JOIN pg_operator o ON o.oid = a.amopopr
	  WHERE c.opcname = 'text_bm25_ops' ORDER BY 1$$,
	$$VALUES (1, '<@>', 'o'), (2, '<~>', 'o'), (3, '<=>', 'o'), (4, '<%>', 'o')$$,
	'text_bm25_ops orders by <@>, <~>, <=> and <%>');
SELECT has_opclass('ngram_ops');
SELECT is((SELECT opcintype::regtype::text FROM pg_opclass WHERE opcname = 'ngram_ops'), 'integer[]',
          'ngram_ops is for integer[]');
SELECT is((SELECT opcdefault FROM pg_opclass WHERE opcname = 'ngram_ops'), false, 'ngram_ops is not a default class');
SELECT is((SELECT count(*)::int FROM pg_opclass c JOIN pg_amop a ON a.amopfamily = c.opcfamily
           WHERE c.opcname = 'ngram_ops'), 0, 'ngram_ops has no operators (functions only)');

-- setting and option
SELECT is(current_setting('retrieval.seal_max_occurrences'), '10000', 'retrieval.seal_max_occurrences defaults to 10000');
SELECT throws_ok($$SET retrieval.seal_max_occurrences = 0$$, '22023', NULL, 'seal_max_occurrences below 1 refused');
CREATE TEMP TABLE ng (id int, body text, toks int[]);
INSERT INTO ng VALUES (1, 'alpha beta gamma', ARRAY[1, 2, 3]), (2, 'beta gamma delta', ARRAY[2, 3, 4]);
SELECT lives_ok($$CREATE INDEX ng_text ON ng USING retrieval (body) WITH (ngrams = on, model = 'none')$$,
                'a text index WITH (ngrams = on)');
SELECT lives_ok($$CREATE INDEX ng_toks ON ng USING retrieval (toks ngram_ops)$$, 'an ngram_ops index');
SELECT throws_ok($$CREATE INDEX ON ng USING retrieval (body) WITH (ngrams = 'maybe')$$, '22023', NULL,
                 'ngrams is a boolean option');

-- results
SELECT is(retrieval.ngram_count('ng_text', 'beta gamma'), 2::bigint, 'ngram_count on text');
SELECT is(retrieval.ngram_count('ng_toks', ARRAY[2, 3]), 2::bigint, 'ngram_count on tokens');
SELECT results_eq($$SELECT next, count FROM retrieval.ngram_next('ng_toks', ARRAY[3])$$,
                  $$VALUES (4, 1::bigint)$$, 'ngram_next on tokens');
SELECT results_eq($$SELECT mode, documents, symbols, segments, buffered_documents FROM retrieval.ngram_stats('ng_text')$$,
                  $$VALUES ('bytes'::text, 2::bigint, 32::bigint, 1, 0)$$, 'ngram_stats');

-- misuse
SELECT throws_ok($$SELECT retrieval.ngram_count('ng_toks', 'x')$$, '42804', NULL, 'text n-gram on a token index');
SELECT throws_ok($$SELECT retrieval.ngram_count('ng_text', ARRAY[1])$$, '42804', NULL, 'array n-gram on a text index');
SELECT throws_ok($$CREATE INDEX ng_plain ON ng USING retrieval (body) WITH (model = 'none');
                   SELECT retrieval.ngram_count('ng_plain', 'x')$$, '55000', NULL, 'index without an n-gram part');
SELECT throws_ok($$SELECT retrieval.ngram_count('ng', 'x')$$, '42809', NULL, 'not an index');
SELECT throws_ok($$INSERT INTO ng VALUES (3, 'x', ARRAY[-5])$$, '22003', NULL, 'negative token id');
SELECT throws_ok($$SELECT * FROM retrieval.seal_search('ng_text', ARRAY['beta'], logprobs => ARRAY[0.0])$$,
                 '22023', NULL, 'a log probability must be negative');

SELECT * FROM finish();
ROLLBACK;
