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
-- ---- end embed ----
