-- Named embedding models: the registry, retrieval.models, register /
-- unregister and their errors, named calls.  BERT-family and static models
-- are generated and checked against a numpy reference by the "embed" suite
-- (test/embed/check_models.py); here, the default model's own file is
-- registered under another name.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT name, kind, dims, max_tokens, file LIKE '%/extension/retrieval/models/use-lite/model.rmdl' AS installed_file,
       sha256 ~ '^[0-9a-f]{64}$' AS has_sha256
FROM retrieval.models;

-- the default model by name
SELECT retrieval.embed('hello world', 'use-lite') = retrieval.embed('hello world') AS same,
       retrieval.model_tokens('hello world', 'use-lite') = retrieval.model_tokens('hello world') AS same_tokens;

-- a USE-lite file registered under a name
SELECT retrieval.register_model('lite2', (SELECT file FROM retrieval.default_model_info()));
SELECT name, kind, dims, max_tokens, sha256 = (SELECT sha256 FROM retrieval.models WHERE name = 'use-lite') AS same_fingerprint
FROM retrieval.models ORDER BY name;
SELECT retrieval.model_fingerprint('lite2') = retrieval.model_fingerprint('use-lite') AS fingerprint;
SELECT retrieval.embed('hello world', 'lite2') = retrieval.embed('hello world') AS same_embedding;
SELECT array_length(e, 1), e[1] = retrieval.embed('a') AS first, e[2] IS NULL AS null_kept
FROM (SELECT retrieval.embed(ARRAY['a', NULL, 'b'], 'lite2') AS e) x;

-- generated column with a named model
CREATE TABLE named_docs (id int, body text, e vector(512) GENERATED ALWAYS AS (retrieval.embed(body, 'lite2')) STORED);
INSERT INTO named_docs (id, body) VALUES (1, 'The cat rested on the carpet.'), (2, 'The stock market fell sharply today.');
SELECT id FROM named_docs ORDER BY e <=> retrieval.embed('kitten sleeping on a rug') LIMIT 1;
DROP TABLE named_docs;

-- errors
\set VERBOSITY sqlstate
SELECT retrieval.register_model('lite2', (SELECT file FROM retrieval.default_model_info()));
SELECT retrieval.register_model('use-lite', (SELECT file FROM retrieval.default_model_info()));
SELECT retrieval.register_model('', '/tmp');
SELECT retrieval.register_model('rel', 'relative/path');
SELECT retrieval.register_model('missing', '/nonexistent/retrieval/model');
SELECT retrieval.register_model('devnull', '/dev/null');
SELECT retrieval.register_model('nodir', '/');
SELECT retrieval.embed('x', 'no_such_model');
SELECT retrieval.model_tokens('x', 'no_such_model');
SELECT retrieval.unregister_model('no_such_model');
\set VERBOSITY default
SELECT retrieval.embed('x', 'no_such_model');

-- privileges: plain roles may embed and read, not register or write
CREATE ROLE embed_models_plain;
SET ROLE embed_models_plain;
SELECT vector_dims(retrieval.embed('x', 'lite2')) AS dims, count(*) AS models FROM retrieval.models;
\set VERBOSITY sqlstate
SELECT retrieval.register_model('x', '/tmp');
SELECT retrieval.unregister_model('lite2');
DELETE FROM retrieval.model_registry;
\set VERBOSITY default
SELECT retrieval.register_model('x', '/tmp');
RESET ROLE;
DROP ROLE embed_models_plain;

-- unregister
SELECT retrieval.unregister_model('lite2');
SELECT count(*) FROM retrieval.models;
\set VERBOSITY sqlstate
SELECT retrieval.embed('x', 'lite2');
\set VERBOSITY default

-- the SQL contract of the new functions
SELECT p.oid::regprocedure AS function, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef
FROM pg_proc p WHERE p.pronamespace = 'retrieval'::regnamespace
  AND p.proname IN ('register_model', 'unregister_model', 'model_fingerprint', 'default_model_info', 'embed', 'model_tokens')
ORDER BY 1;
-- pg_dump keeps the registrations
SELECT c.relname, e.extcondition FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'retrieval';
