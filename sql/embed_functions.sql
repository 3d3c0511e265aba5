-- retrieval.embed / retrieval.model_tokens with the default model (USE-lite).
-- Exact agreement with the TF.js reference is checked by the "embed" suite
-- (test/embed/check_reference.py); this file covers behaviour: shape, norm,
-- truncation, batching, NULLs, odd input, and use in generated columns.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

-- 512 dimensions, unit norm
SELECT vector_dims(retrieval.embed('how do plants make energy')) AS dims,
       round(vector_norm(retrieval.embed('how do plants make energy'))::numeric, 5) AS norm;

-- the token ids the model sees
SELECT retrieval.model_tokens('how do plants make energy');
SELECT retrieval.model_tokens('A man is playing a guitar.');
SELECT retrieval.model_tokens('  double  spaces ');          -- every space is a U+2581
SELECT retrieval.model_tokens('Ünïcödé ﬁ ligature ①');       -- NFKC first
SELECT retrieval.model_tokens('东京 and 中文分词测试');         -- unknown runs merge into one 0
SELECT retrieval.model_tokens('');

-- empty text embeds as the single token 0
SELECT vector_dims(retrieval.embed('')) AS dims, round(vector_norm(retrieval.embed(''))::numeric, 5) AS norm;

-- deterministic, and the batch form equals the single form exactly
SELECT retrieval.embed('determinism') = retrieval.embed('determinism') AS deterministic;
SELECT bool_and(b = retrieval.embed(t)) AS batch_equals_single, count(*)
FROM unnest(ARRAY['a', 'second text, a bit longer than the first', '', 'x y z', repeat('long ', 300)],
            retrieval.embed(ARRAY['a', 'second text, a bit longer than the first', '', 'x y z', repeat('long ', 300)])) AS u(t, b);
-- many items (several forward passes of at most 256 tokens)
SELECT bool_and(b = retrieval.embed(t)) AS batch_equals_single, count(*)
FROM (SELECT array_agg('passage number ' || g || repeat(' word', g % 40) ORDER BY g) a FROM generate_series(1, 100) g) x,
     unnest(x.a, retrieval.embed(x.a)) AS u(t, b);

-- long input: 1 MB, truncated to the first 128 tokens
SELECT octet_length(repeat('hello world ', 87382)) AS bytes,
       retrieval.embed(repeat('hello world ', 87382)) = retrieval.embed(repeat('hello world ', 70)) AS truncated_to_128;
SELECT array_length(retrieval.model_tokens(repeat('hello world ', 1000)), 1) AS all_tokens;
SELECT vector_dims(retrieval.embed(repeat('é', 600000))) AS one_word_1mb,
       vector_dims(retrieval.embed(repeat('中', 400000))) AS unknown_1mb;

-- any Unicode: controls, combining marks, astral characters, noncharacters
SELECT retrieval.model_tokens(E'emoji \U0001F600 test');
SELECT vector_dims(retrieval.embed(E'\u0001\u0002\t\n\r \U0001F600 \uFFFD \u200B e\u0301 \uFDD0 \U0010FFFD')) AS dims;

-- NULLs: STRICT for the whole argument, element-wise inside arrays
SELECT retrieval.embed(NULL::text) IS NULL AS null_text,
       retrieval.embed(NULL::text[]) IS NULL AS null_array,
       retrieval.model_tokens(NULL) IS NULL AS null_tokens;
SELECT array_length(e, 1) AS n, e[1] IS NULL AS first_null, e[2] IS NULL AS second_null, e[3] IS NULL AS third_null
FROM (SELECT retrieval.embed(ARRAY['a', NULL, 'b']) AS e) x;
SELECT retrieval.embed('{}'::text[]) AS empty_array, retrieval.embed(ARRAY[NULL]::text[]) AS only_null;
SELECT array_dims(retrieval.embed(ARRAY[['a', 'b'], ['c', 'd']])) AS dims_kept;

-- meaning: related sentences are closer than unrelated ones
SELECT (retrieval.embed('A man is playing a guitar.') <=> retrieval.embed('A person plays the guitar.'))
     < (retrieval.embed('A man is playing a guitar.') <=> retrieval.embed('The stock market fell sharply today.')) AS related_closer;

-- IMMUTABLE: usable in generated columns and expression indexes
CREATE TABLE embed_docs (id int PRIMARY KEY, body text,
	e vector(512) GENERATED ALWAYS AS (retrieval.embed(body)) STORED);
INSERT INTO embed_docs (id, body) VALUES
	(1, 'The cat rested on the carpet.'), (2, 'The stock market fell sharply today.'),
	(3, 'How do I create an index in PostgreSQL?');
CREATE INDEX embed_docs_expr ON embed_docs ((vector_dims(retrieval.embed(body))));
SELECT id FROM embed_docs ORDER BY e <=> retrieval.embed('kitten sleeping on a rug') LIMIT 1;
SELECT id FROM embed_docs ORDER BY e <=> retrieval.embed('database index') LIMIT 1;
DROP TABLE embed_docs;

-- the SQL contract
SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
       p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p WHERE p.pronamespace = 'retrieval'::regnamespace ORDER BY 1;
