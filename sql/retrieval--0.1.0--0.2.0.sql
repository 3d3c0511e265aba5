-- retrieval 0.1.0 -> 0.2.0
--
-- 0.1.0 is the released base script; CREATE EXTENSION retrieval installs
-- 0.2.0 by running it and then this script, so a fresh install and an
-- upgraded one are the same objects by construction.  Every object is
-- qualified with @extschema@ (or the retrieval API schema created by the
-- base script); test/lint-install-script.sh checks it.
--
-- One section per subsystem, each between its own markers.

\echo Use "ALTER EXTENSION retrieval UPDATE TO '0.2.0'" to load this file. \quit

-- ---- tokenize: text analysis (src/tokenize/) ----
-- IMMUTABLE in the sense to_tsvector(regconfig, text) is: the terms change
-- only when ICU, libstemmer, PostgreSQL's stopword files or (for 'pg:')
-- the text search configuration change, and then indexes built on them
-- need REINDEX (docs/architecture.md, "Text analysis").
CREATE FUNCTION retrieval.tokenize(text, language text DEFAULT 'english', tokenizer text DEFAULT 'icu')
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'retrieval_tokenize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100;
CREATE FUNCTION retrieval.tokenize_positions(text, language text DEFAULT 'english', tokenizer text DEFAULT 'icu',
		OUT "position" integer, OUT term text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'retrieval_tokenize_positions' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100 ROWS 100;
COMMENT ON FUNCTION retrieval.tokenize(text, text, text) IS 'the terms the text analyzer makes of a text, in order';
COMMENT ON FUNCTION retrieval.tokenize_positions(text, text, text) IS 'the terms of a text with their token positions';
-- ---- end tokenize ----

-- ---- bm25: the inverted index on text columns (src/bm25/) ----
-- ---- end bm25 ----

-- ---- hnsw: quantization and storage (src/hnsw/) ----
-- ---- end hnsw ----

-- ---- embed: named models (src/embed/) ----
-- 0.1.0 created the API schema without USAGE for PUBLIC, so only its owner
-- could call retrieval.embed.  Granted here when the schema is the
-- extension's own (not when the extension was installed into a
-- pre-existing schema "retrieval", whose ACL belongs to its owner).
DO $embed$
BEGIN
	IF '@extschema@' <> 'retrieval' THEN
		GRANT USAGE ON SCHEMA retrieval TO PUBLIC;
	END IF;
END
$embed$;

-- The registry of named models (docs/sql.md, "Embeddings").  Readable by
-- everyone; written only by register_model / unregister_model, which check
-- superuser or pg_read_server_files in C and then write as the table's
-- owner.  pg_dump keeps the registrations (pg_extension_config_dump).
CREATE TABLE retrieval.model_registry (
	name text PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 63),
	kind text NOT NULL CHECK (kind IN ('use-lite', 'bert', 'static')),
	dims integer NOT NULL CHECK (dims BETWEEN 1 AND 16000),
	max_tokens integer NOT NULL CHECK (max_tokens > 0),
	file text NOT NULL,
	sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('retrieval.model_registry', '');
REVOKE ALL ON retrieval.model_registry FROM PUBLIC;
GRANT SELECT ON retrieval.model_registry TO PUBLIC;

CREATE FUNCTION retrieval.register_model(name text, path text) RETURNS void
	AS 'MODULE_PATHNAME', 'retrieval_register_model' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION retrieval.unregister_model(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'retrieval_unregister_model' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
-- sha256 of the model's files (model_registry.c says how to reproduce it).
-- STABLE: it reads the registry.
CREATE FUNCTION retrieval.model_fingerprint(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'retrieval_model_fingerprint' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.default_model_info(OUT file text, OUT sha256 text) RETURNS record
	AS 'MODULE_PATHNAME', 'retrieval_default_model_info' LANGUAGE C STABLE PARALLEL SAFE;

-- Named models.  IMMUTABLE by contract, not by construction: the name is
-- bound to fingerprinted files, a backend refuses files that no longer
-- match, and a name cannot be re-pointed without unregistering it first
-- (docs/sql.md, "Embeddings", IMMUTABLE).
CREATE FUNCTION retrieval.embed(text, model text) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'retrieval_embed' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
CREATE FUNCTION retrieval.embed(text[], model text) RETURNS @extschema@.vector[]
	AS 'MODULE_PATHNAME', 'retrieval_embed_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
CREATE FUNCTION retrieval.model_tokens(text, model text) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'retrieval_model_tokens' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100;

CREATE VIEW retrieval.models AS
	SELECT 'use-lite'::text AS name, 'use-lite'::text AS kind, 512 AS dims, 128 AS max_tokens,
	       d.file, d.sha256
	FROM retrieval.default_model_info() AS d
	UNION ALL
	SELECT r.name, r.kind, r.dims, r.max_tokens, r.file, r.sha256
	FROM retrieval.model_registry AS r;
GRANT SELECT ON retrieval.models TO PUBLIC;

COMMENT ON FUNCTION retrieval.register_model(text, text) IS 'register an embedding model (file or Hugging Face directory) under a name';
COMMENT ON FUNCTION retrieval.unregister_model(text) IS 'forget a registered embedding model';
COMMENT ON FUNCTION retrieval.model_fingerprint(text) IS 'sha256 fingerprint of an embedding model''s files';
COMMENT ON FUNCTION retrieval.embed(text, text) IS 'embedding of a text by a named model';
COMMENT ON FUNCTION retrieval.embed(text[], text) IS 'embeddings of many texts by a named model, batched';
COMMENT ON FUNCTION retrieval.model_tokens(text, text) IS 'token ids of a text under a named model''s tokenizer';
COMMENT ON VIEW retrieval.models IS 'the default and the registered embedding models';
-- ---- end embed ----
