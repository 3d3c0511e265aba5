-- Text input and output of the vector type, pgvector's rules: brackets,
-- optional whitespace anywhere between tokens, any strtof() number form,
-- shortest round-trip output.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT '[1,2,3]'::vector;
SELECT '[-1,2.5,-3.25]'::vector;
SELECT ' [ 1 , 2 , 3 ] '::vector;
SELECT E'[\t1,\n2\r,3\f]'::vector;
SELECT '[1e3,1E-3,-2.5e+2,.5,5.,+7]'::vector;
SELECT '[0x1p3]'::vector;             -- hexadecimal floats, as strtof reads them
SELECT '[1.23456789]'::vector;        -- rounded to float4, printed shortest
SELECT '[3.4028235e38,-3.4028235e38,1e-45]'::vector;
SELECT '[-0]'::vector;
SELECT '[1e-50]'::vector;             -- underflow reads as 0, as in pgvector
SELECT array_length(('[' || repeat('1,', 15999) || '1]')::vector::real[], 1);

-- malformed text: invalid_text_representation (22P02)
\set VERBOSITY sqlstate
SELECT ''::vector;
SELECT '1,2,3'::vector;
SELECT '[1,2,3'::vector;
SELECT '[1,2,3]x'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1,2,]'::vector;
SELECT '[,1]'::vector;
SELECT '[1 2]'::vector;
SELECT '[a]'::vector;
SELECT '[1;2]'::vector;
SELECT '[[1]]'::vector;
SELECT '['::vector;
-- NaN and infinities: data_exception (22000)
SELECT '[NaN]'::vector;
SELECT '[1,nan]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf,1]'::vector;
-- overflow: numeric_value_out_of_range (22003)
SELECT '[1e39]'::vector;
SELECT '[-4e38]'::vector;
-- empty: data_exception (22000); too many dimensions: program_limit_exceeded (54000)
SELECT '[]'::vector;
SELECT '[ ]'::vector;
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
\set VERBOSITY default
-- the messages themselves
SELECT '[1,2'::vector;
SELECT '[NaN]'::vector;
SELECT '[1e39]'::vector;
SELECT '[]'::vector;

-- typmod: vector(n) enforced on input, assignment and explicit casts
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3]'::vector::vector(2);
SELECT NULL::vector(5);
CREATE TABLE typmod_t (v vector(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3,4]'::vector);
INSERT INTO typmod_t SELECT '[4,5,6]'::vector;
SELECT v FROM typmod_t ORDER BY v;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'typmod_t'::regclass AND attname = 'v';
CREATE TABLE typmod_bad (v vector(0));
CREATE TABLE typmod_bad (v vector(16001));
CREATE TABLE typmod_bad (v vector(3, 2));
CREATE TABLE typmod_max (v vector(16000));
DROP TABLE typmod_t, typmod_max;

-- binary I/O round trip through send/recv
SELECT vector_send('[1,-2.5,3]'::vector);
SELECT length(vector_send(('[' || repeat('0.5,', 99) || '1]')::vector)) = 4 + 4 * 100 AS size_ok;
