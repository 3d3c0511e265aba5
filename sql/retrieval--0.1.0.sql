-- retrieval 0.1.0: install script.
--
-- Every object is created in, and every reference qualified with,
-- @extschema@ (the schema chosen at CREATE EXTENSION), so that no
-- search_path in effect later can redirect a reference.

\echo Use "CREATE EXTENSION retrieval" to load this file. \quit

-------------------------------------------------------------------------------
-- The vector type (binary compatible with pgvector's)
-------------------------------------------------------------------------------

CREATE TYPE @extschema@.vector;

CREATE FUNCTION @extschema@.vector_in(cstring, oid, integer) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_out(@extschema@.vector) RETURNS cstring
	AS 'MODULE_PATHNAME', 'vector_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'vector_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME', 'vector_typmod_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_recv(internal, oid, integer) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_send(@extschema@.vector) RETURNS bytea
	AS 'MODULE_PATHNAME', 'vector_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.vector (
	INPUT = @extschema@.vector_in,
	OUTPUT = @extschema@.vector_out,
	TYPMOD_IN = @extschema@.vector_typmod_in,
	TYPMOD_OUT = @extschema@.vector_typmod_out,
	RECEIVE = @extschema@.vector_recv,
	SEND = @extschema@.vector_send,
	STORAGE = external
);

COMMENT ON TYPE @extschema@.vector IS 'float4 vector of up to 16000 dimensions (pgvector compatible)';

-------------------------------------------------------------------------------
-- Functions
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.l2_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_l2_squared_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.inner_product(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_negative_inner_product(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.cosine_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.l1_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.vector_dims(@extschema@.vector) RETURNS integer
	AS 'MODULE_PATHNAME', 'vector_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_norm(@extschema@.vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vector_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.l2_normalize(@extschema@.vector) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.subvector(@extschema@.vector, integer, integer) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.vector_add(@extschema@.vector, @extschema@.vector) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_sub(@extschema@.vector, @extschema@.vector) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_mul(@extschema@.vector, @extschema@.vector) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_concat(@extschema@.vector, @extschema@.vector) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Which SIMD kernel sets this build has, which the CPU supports, which is in use.
CREATE FUNCTION @extschema@.distance_kernels(OUT name text, OUT supported boolean, OUT active boolean)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'retrieval_distance_kernels' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

-------------------------------------------------------------------------------
-- Aggregates
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.vector_accum(double precision[], @extschema@.vector) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'vector_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'vector_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_avg(double precision[]) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_sum(double precision[]) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.avg(@extschema@.vector) (
	SFUNC = @extschema@.vector_accum,
	STYPE = double precision[],
	FINALFUNC = @extschema@.vector_avg,
	COMBINEFUNC = @extschema@.vector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);

CREATE AGGREGATE @extschema@.sum(@extschema@.vector) (
	SFUNC = @extschema@.vector_accum,
	STYPE = double precision[],
	FINALFUNC = @extschema@.vector_sum,
	COMBINEFUNC = @extschema@.vector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);

-------------------------------------------------------------------------------
-- Casts
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.vector(@extschema@.vector, integer, boolean) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'vector_enforce_typmod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.array_to_vector(integer[], integer, boolean) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.array_to_vector(real[], integer, boolean) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.array_to_vector(double precision[], integer, boolean) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.array_to_vector(numeric[], integer, boolean) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_to_float4(@extschema@.vector, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME', 'vector_to_float4_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_to_float8(@extschema@.vector, integer, boolean) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'vector_to_float8_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_to_int4(@extschema@.vector, integer, boolean) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'vector_to_int4_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_to_numeric(@extschema@.vector, integer, boolean) RETURNS numeric[]
	AS 'MODULE_PATHNAME', 'vector_to_numeric_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (@extschema@.vector AS @extschema@.vector)
	WITH FUNCTION @extschema@.vector(@extschema@.vector, integer, boolean) AS IMPLICIT;

CREATE CAST (integer[] AS @extschema@.vector)
	WITH FUNCTION @extschema@.array_to_vector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS @extschema@.vector)
	WITH FUNCTION @extschema@.array_to_vector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS @extschema@.vector)
	WITH FUNCTION @extschema@.array_to_vector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS @extschema@.vector)
	WITH FUNCTION @extschema@.array_to_vector(numeric[], integer, boolean) AS ASSIGNMENT;

-- vector -> real[] is implicit as in pgvector; the widening casts are
-- assignment casts so they never make operator resolution ambiguous.
CREATE CAST (@extschema@.vector AS real[])
	WITH FUNCTION @extschema@.vector_to_float4(@extschema@.vector, integer, boolean) AS IMPLICIT;
CREATE CAST (@extschema@.vector AS double precision[])
	WITH FUNCTION @extschema@.vector_to_float8(@extschema@.vector, integer, boolean) AS ASSIGNMENT;
CREATE CAST (@extschema@.vector AS integer[])
	WITH FUNCTION @extschema@.vector_to_int4(@extschema@.vector, integer, boolean) AS ASSIGNMENT;
CREATE CAST (@extschema@.vector AS numeric[])
	WITH FUNCTION @extschema@.vector_to_numeric(@extschema@.vector, integer, boolean) AS ASSIGNMENT;

-------------------------------------------------------------------------------
-- Operators
-------------------------------------------------------------------------------

CREATE OPERATOR @extschema@.<-> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.l2_distance,
	COMMUTATOR = OPERATOR(@extschema@.<->)
);
CREATE OPERATOR @extschema@.<#> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_negative_inner_product,
	COMMUTATOR = OPERATOR(@extschema@.<#>)
);
CREATE OPERATOR @extschema@.<=> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.cosine_distance,
	COMMUTATOR = OPERATOR(@extschema@.<=>)
);
CREATE OPERATOR @extschema@.<+> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.l1_distance,
	COMMUTATOR = OPERATOR(@extschema@.<+>)
);

CREATE OPERATOR @extschema@.+ (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_add,
	COMMUTATOR = OPERATOR(@extschema@.+)
);
CREATE OPERATOR @extschema@.- (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_sub
);
CREATE OPERATOR @extschema@.* (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_mul,
	COMMUTATOR = OPERATOR(@extschema@.*)
);
CREATE OPERATOR @extschema@.|| (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_concat
);

-------------------------------------------------------------------------------
-- Comparison and the btree operator class
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.vector_lt(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_le(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_eq(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_ne(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_ge(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_gt(@extschema@.vector, @extschema@.vector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vector_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.vector_cmp(@extschema@.vector, @extschema@.vector) RETURNS integer
	AS 'MODULE_PATHNAME', 'vector_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector,
	FUNCTION = @extschema@.vector_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR CLASS @extschema@.vector_ops
	DEFAULT FOR TYPE @extschema@.vector USING btree AS
	OPERATOR 1 @extschema@.<,
	OPERATOR 2 @extschema@.<=,
	OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=,
	OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.vector_cmp(@extschema@.vector, @extschema@.vector);

-------------------------------------------------------------------------------
-- The retrieval index access method and its vector operator classes (HNSW)
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.retrieval_am_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME', 'retrieval_am_handler' LANGUAGE C PARALLEL SAFE;

CREATE ACCESS METHOD retrieval TYPE INDEX HANDLER @extschema@.retrieval_am_handler;
COMMENT ON ACCESS METHOD retrieval IS 'HNSW graphs over vector columns (and, later, BM25 over text)';

-- Support function 1 of each operator class names the index kind and metric.
CREATE FUNCTION @extschema@.retrieval_vector_l2_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_vector_l2_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.retrieval_vector_ip_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_vector_ip_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.retrieval_vector_cosine_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'retrieval_vector_cosine_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OPERATOR CLASS @extschema@.vector_l2_ops
	FOR TYPE @extschema@.vector USING retrieval AS
	OPERATOR 1 @extschema@.<-> (@extschema@.vector, @extschema@.vector) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 @extschema@.retrieval_vector_l2_support(internal);

CREATE OPERATOR CLASS @extschema@.vector_ip_ops
	FOR TYPE @extschema@.vector USING retrieval AS
	OPERATOR 1 @extschema@.<#> (@extschema@.vector, @extschema@.vector) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 @extschema@.retrieval_vector_ip_support(internal);

CREATE OPERATOR CLASS @extschema@.vector_cosine_ops
	FOR TYPE @extschema@.vector USING retrieval AS
	OPERATOR 1 @extschema@.<=> (@extschema@.vector, @extschema@.vector) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 @extschema@.retrieval_vector_cosine_support(internal);

-------------------------------------------------------------------------------
-- embed: in-database embeddings (src/embed/)
--
-- The namespaced API lives in schema "retrieval", created here and owned by
-- the extension, unless the extension itself is installed in "retrieval"
-- (docs/architecture.md, "Schema").  A pre-existing unrelated schema of that
-- name is refused rather than silently extended.
-------------------------------------------------------------------------------

DO $embed$
BEGIN
	IF '@extschema@' <> 'retrieval' THEN
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'retrieval') THEN
			RAISE EXCEPTION 'schema "retrieval" already exists'
				USING ERRCODE = 'duplicate_schema',
				      DETAIL = 'The retrieval extension creates a schema named retrieval for its API.',
				      HINT = 'Drop or rename that schema, or create the extension in it: CREATE EXTENSION retrieval SCHEMA retrieval.';
		END IF;
		CREATE SCHEMA retrieval;
	END IF;
END
$embed$;

-- The default model (Universal Sentence Encoder Lite): 512 dimensions,
-- at most 128 tokens (longer texts are truncated), L2-normalised.
CREATE FUNCTION retrieval.embed(text) RETURNS @extschema@.vector
	AS 'MODULE_PATHNAME', 'retrieval_embed' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
-- Batched: NULL elements give NULL elements.
CREATE FUNCTION retrieval.embed(text[]) RETURNS @extschema@.vector[]
	AS 'MODULE_PATHNAME', 'retrieval_embed_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
-- The full tokenization (embed() uses the first 128 ids).
CREATE FUNCTION retrieval.model_tokens(text) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'retrieval_model_tokens' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100;

COMMENT ON FUNCTION retrieval.embed(text) IS 'embedding of a text by the default model (USE-lite, 512 dimensions)';
COMMENT ON FUNCTION retrieval.embed(text[]) IS 'embeddings of many texts, batched';
COMMENT ON FUNCTION retrieval.model_tokens(text) IS 'token ids of a text under the default model''s tokenizer';

-- ---- end embed ----
