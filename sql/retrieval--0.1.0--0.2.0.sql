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

CREATE FUNCTION @extschema@.retrieval_text_bm25_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_text_bm25_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR CLASS @extschema@.text_bm25_ops
	DEFAULT FOR TYPE text USING retrieval AS
	OPERATOR 1 @extschema@.<@> (text, text) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 @extschema@.retrieval_text_bm25_support(internal);
-- ---- end bm25 ----

-- ---- hnsw: quantization and storage (src/hnsw/) ----
-- ---- end hnsw ----

-- ---- embed: named models (src/embed/) ----
-- ---- end embed ----
