-- The extension installs into the schema the user names, every internal
-- reference is schema-qualified (a hostile search_path cannot capture
-- them), and nothing is SECURITY DEFINER.
DROP EXTENSION IF EXISTS retrieval CASCADE;
CREATE SCHEMA search;
CREATE EXTENSION retrieval SCHEMA search;
SELECT extname, nspname, extrelocatable FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	WHERE extname = 'retrieval';
SELECT count(*) AS objects_outside_schema
FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retrieval')
  AND p.pronamespace <> 'search'::regnamespace
  AND p.pronamespace <> 'retrieval'::regnamespace;  -- the namespaced API (retrieval.embed, ...)
SELECT count(*) AS security_definer_functions
FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retrieval') AND p.prosecdef;

-- works with an empty search_path when qualified
SET search_path = '';
SELECT '[1,2]'::search.vector OPERATOR(search.<->) '[4,6]'::search.vector;
SELECT search.avg(v) FROM (VALUES ('[1,3]'::search.vector)) t(v);
RESET search_path;

-- cannot be moved after creation (non-relocatable: see docs/architecture.md)
ALTER EXTENSION retrieval SET SCHEMA public;
DROP EXTENSION retrieval;
DROP SCHEMA search;
CREATE EXTENSION retrieval;
SELECT nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'retrieval';
