-- The namespaced API schema "retrieval" (docs/architecture.md, "Schema"):
-- created and owned by the extension, shared when the extension itself is
-- installed in "retrieval", and a pre-existing unrelated schema is refused.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS retrieval CASCADE;
RESET client_min_messages;

CREATE EXTENSION retrieval;
SELECT n.nspname, d.deptype FROM pg_depend d JOIN pg_namespace n ON d.objid = n.oid
WHERE d.classid = 'pg_namespace'::regclass AND d.refclassid = 'pg_extension'::regclass;
-- vector in the extension's schema, the API in retrieval
SELECT pg_typeof(retrieval.embed('x'))::text AS type;
DROP EXTENSION retrieval;
SELECT count(*) AS retrieval_schema_left FROM pg_namespace WHERE nspname = 'retrieval';

-- an unrelated schema of that name is not silently extended
CREATE SCHEMA retrieval;
\set VERBOSITY sqlstate
CREATE EXTENSION retrieval;
\set VERBOSITY default
CREATE EXTENSION retrieval;

-- but the extension can be installed into it: both kinds share it
CREATE EXTENSION retrieval SCHEMA retrieval;
SELECT count(*) AS functions_in_retrieval FROM pg_proc WHERE pronamespace = 'retrieval'::regnamespace
	AND proname IN ('embed', 'model_tokens', 'l2_distance');
SELECT retrieval.vector_dims(retrieval.embed('shared schema')) AS dims;
DROP EXTENSION retrieval;
DROP SCHEMA retrieval;
CREATE EXTENSION retrieval;
