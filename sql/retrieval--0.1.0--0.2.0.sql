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

-- text <@> text: the negated BM25 score of the left text for the query on
-- the right, with the corpus statistics of the left operand's index.  The
-- support function binds the bare form to that index at plan time.
CREATE FUNCTION @extschema@.bm25_distance_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'retrieval_bm25_distance_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.bm25_distance(text, text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'retrieval_bm25_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE
	COST 100 SUPPORT @extschema@.bm25_distance_support;
CREATE OPERATOR @extschema@.<@> (
	LEFTARG = text, RIGHTARG = text, PROCEDURE = @extschema@.bm25_distance
);
COMMENT ON OPERATOR @extschema@.<@> (text, text) IS 'negated BM25 score (ascending = best first)';

-- A query bound to a named index (PL/pgSQL, partial indexes, several indexes).
CREATE FUNCTION retrieval.bm25_query(text, regclass) RETURNS text
	AS 'MODULE_PATHNAME', 'retrieval_bm25_query' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.bm25_score(document text, query text, index regclass) RETURNS double precision
	AS 'MODULE_PATHNAME', 'retrieval_bm25_score' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
CREATE FUNCTION retrieval.index_stats(index regclass,
		OUT documents bigint, OUT avg_length double precision, OUT segments integer,
		OUT segment_documents bigint, OUT segment_terms bigint, OUT buffered_documents bigint,
		OUT pages bigint, OUT bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'retrieval_bm25_index_stats' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retrieval.bm25_query(text, regclass) IS 'a BM25 query bound to the given index';
COMMENT ON FUNCTION retrieval.bm25_score(text, text, regclass) IS 'BM25 score of a document for a query with the statistics of the given index';
COMMENT ON FUNCTION retrieval.index_stats(regclass) IS 'documents, segments, terms and size of a BM25 index';

-- ---- fusion: the hybrid text index's operators (src/fusion/) ----
-- text <~> text: cosine distance between the embeddings of the row and the
-- query, made by the model of the left operand's index.  text <=> text: the
-- fused distance 1 - (w * BM25 / max BM25 of the query + (1 - w) * cosine
-- similarity); equal to <@> on an index without embeddings.  Both embed
-- the row per call (hence the cost: ~1000 units, see src/fusion/hybrid_cost.c);
-- the index stores the embeddings.
CREATE FUNCTION @extschema@.text_semantic_distance(text, text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'retrieval_text_semantic_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE
	COST 400000 SUPPORT @extschema@.bm25_distance_support;
CREATE OPERATOR @extschema@.<~> (
	LEFTARG = text, RIGHTARG = text, PROCEDURE = @extschema@.text_semantic_distance
);
COMMENT ON OPERATOR @extschema@.<~> (text, text) IS 'cosine distance between the embeddings of the texts (the index''s model)';
CREATE FUNCTION @extschema@.text_fused_distance(text, text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'retrieval_text_fused_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE
	COST 400000 SUPPORT @extschema@.bm25_distance_support;
CREATE OPERATOR @extschema@.<=> (
	LEFTARG = text, RIGHTARG = text, PROCEDURE = @extschema@.text_fused_distance
);
COMMENT ON OPERATOR @extschema@.<=> (text, text) IS 'fused BM25 + embedding distance (ascending = best first)';
-- The top k rows of a text index with each part's rank and score; fusion
-- 'rrf' (reciprocal rank fusion of the BM25 and semantic lists, each depth
-- long), 'score' (the <=> order), 'bm25' or 'semantic'.  Join on ctid.
CREATE FUNCTION retrieval.search(index regclass, query text, k integer DEFAULT 10,
		fusion text DEFAULT 'rrf', rrf_k integer DEFAULT 60, depth integer DEFAULT NULL)
	RETURNS TABLE (ctid tid, score double precision, bm25_rank integer, bm25_score double precision,
		semantic_rank integer, semantic_distance double precision)
	AS 'MODULE_PATHNAME', 'retrieval_search' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION retrieval.search(regclass, text, integer, text, integer, integer) IS 'top k rows of a text index by reciprocal rank fusion (or another fusion), with each part''s rank and score';
-- ---- end fusion ----

-- ---- ngram: FM-index n-gram index and SEAL scoring (src/ngram/) ----
-- text <%> text: the negated unsupervised SEAL score of the left text for
-- the query's longest n-grams that occur in the corpus of the left
-- operand's index (built WITH (ngrams = on)); bound to that index like <@>.
CREATE FUNCTION @extschema@.seal_distance(text, text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'retrieval_seal_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE
	COST 1000 SUPPORT @extschema@.bm25_distance_support;
CREATE OPERATOR @extschema@.<%> (
	LEFTARG = text, RIGHTARG = text, PROCEDURE = @extschema@.seal_distance
);
COMMENT ON OPERATOR @extschema@.<%> (text, text) IS 'negated SEAL score of the query''s n-grams (ascending = best first)';
-- text <%> text[]: the same with the array's elements as separate phrases
-- (joined by U+001E, which no n-gram crosses).  A SQL function the planner
-- inlines into the text form, so the index serves it too.
CREATE FUNCTION @extschema@.seal_distance(text, text[]) RETURNS double precision
	AS $$ SELECT $1 OPERATOR(@extschema@.<%>) pg_catalog.array_to_string($2, E'\x1E') $$
	LANGUAGE SQL STABLE STRICT PARALLEL SAFE;
CREATE OPERATOR @extschema@.<%> (
	LEFTARG = text, RIGHTARG = text[], PROCEDURE = @extschema@.seal_distance
);
COMMENT ON OPERATOR @extschema@.<%> (text, text[]) IS 'negated SEAL score of the phrases'' n-grams (ascending = best first)';

CREATE FUNCTION retrieval.ngram_count(index regclass, ngram text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'retrieval_ngram_count_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.ngram_count(index regclass, ngram integer[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'retrieval_ngram_count_tokens' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.ngram_next(index regclass, prefix text, k integer DEFAULT NULL)
	RETURNS TABLE (next text, count bigint)
	AS 'MODULE_PATHNAME', 'retrieval_ngram_next_text' LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION retrieval.ngram_next(index regclass, prefix integer[], k integer DEFAULT NULL,
		candidates integer[] DEFAULT NULL)
	RETURNS TABLE (next integer, count bigint)
	AS 'MODULE_PATHNAME', 'retrieval_ngram_next_tokens' LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION retrieval.ngram_docs(index regclass, ngram text)
	RETURNS TABLE (ctid tid, occurrences integer)
	AS 'MODULE_PATHNAME', 'retrieval_ngram_docs_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.ngram_docs(index regclass, ngram integer[])
	RETURNS TABLE (ctid tid, occurrences integer)
	AS 'MODULE_PATHNAME', 'retrieval_ngram_docs_tokens' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retrieval.seal_search(index regclass, ngrams text[],
		logprobs double precision[] DEFAULT NULL, k integer DEFAULT 10)
	RETURNS TABLE (ctid tid, score double precision)
	AS 'MODULE_PATHNAME', 'retrieval_seal_search_text' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
CREATE FUNCTION retrieval.seal_search(index regclass, ngrams integer[],
		logprobs double precision[] DEFAULT NULL, k integer DEFAULT 10)
	RETURNS TABLE (ctid tid, score double precision)
	AS 'MODULE_PATHNAME', 'retrieval_seal_search_tokens' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
CREATE FUNCTION retrieval.ngram_stats(index regclass,
		OUT mode text, OUT documents bigint, OUT symbols bigint, OUT segments integer,
		OUT buffered_documents integer, OUT segment_bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'retrieval_ngram_stats' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retrieval.ngram_count(regclass, text) IS 'occurrences of an n-gram (a UTF-8 substring) in the indexed texts';
COMMENT ON FUNCTION retrieval.ngram_count(regclass, integer[]) IS 'occurrences of a token n-gram in the indexed token arrays';
COMMENT ON FUNCTION retrieval.ngram_next(regclass, text, integer) IS 'characters that follow a prefix in the indexed texts, with counts (top k, or all)';
COMMENT ON FUNCTION retrieval.ngram_next(regclass, integer[], integer, integer[]) IS 'token ids that follow a prefix, with counts (top k, all, or the given candidates)';
COMMENT ON FUNCTION retrieval.ngram_docs(regclass, text) IS 'visible rows whose text contains the n-gram, with occurrences';
COMMENT ON FUNCTION retrieval.ngram_docs(regclass, integer[]) IS 'visible rows whose token array contains the n-gram, with occurrences';
COMMENT ON FUNCTION retrieval.seal_search(regclass, text[], double precision[], integer) IS 'top k rows by SEAL score of the given n-grams (log probabilities P(n|q), or unsupervised)';
COMMENT ON FUNCTION retrieval.seal_search(regclass, integer[], double precision[], integer) IS 'top k rows by SEAL score of token n-grams (-1 between n-grams)';
COMMENT ON FUNCTION retrieval.ngram_stats(regclass) IS 'mode, documents, symbols, segments and size of an n-gram index';

CREATE FUNCTION @extschema@.retrieval_int4_ngram_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_int4_ngram_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR CLASS @extschema@.ngram_ops
	FOR TYPE integer[] USING retrieval AS
	FUNCTION 1 @extschema@.retrieval_int4_ngram_support(internal);
-- ---- end ngram ----

CREATE FUNCTION @extschema@.retrieval_text_bm25_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_text_bm25_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR CLASS @extschema@.text_bm25_ops
	DEFAULT FOR TYPE text USING retrieval AS
	OPERATOR 1 @extschema@.<@> (text, text) FOR ORDER BY pg_catalog.float_ops,
	OPERATOR 2 @extschema@.<~> (text, text) FOR ORDER BY pg_catalog.float_ops,
	OPERATOR 3 @extschema@.<=> (text, text) FOR ORDER BY pg_catalog.float_ops,
	OPERATOR 4 @extschema@.<%> (text, text) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 @extschema@.retrieval_text_bm25_support(internal);
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
