-- Malformed input never crashes a backend: thousands of generated strings
-- (mutations of valid vectors) go through the text input function; each is
-- accepted (and then round-trips exactly) or rejected with a data error.
-- The generator is seeded, so the counts below are exact.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

CREATE FUNCTION pg_temp.mutate(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	alphabet constant text := '[]., -+eE0123456789naifNI' || E'\t\n' || 'x';
	pos int;
BEGIN
	FOR step IN 1..1 + floor(random() * 4)::int LOOP
		pos := 1 + floor(random() * (length(s) + 1))::int;
		CASE floor(random() * 4)::int
			WHEN 0 THEN	-- delete a character
				s := overlay(s PLACING '' FROM pos FOR 1);
			WHEN 1 THEN	-- insert a character
				s := overlay(s PLACING substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1) FROM pos FOR 0);
			WHEN 2 THEN	-- replace a character
				s := overlay(s PLACING substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1) FROM pos FOR 1);
			ELSE		-- huge or tiny exponent
				s := overlay(s PLACING (ARRAY['e39', 'e-50', 'e+38', '1e400', '0x1p200', 'nan', '-inf'])[1 + floor(random() * 7)::int] FROM pos FOR 0);
		END CASE;
	END LOOP;
	RETURN s;
END $$;

CREATE TEMP TABLE fuzz_results (outcome text);
DO $$
DECLARE
	seeds constant text[] := ARRAY['[1,2,3]', '[ -1.5 , 2e3 ]', '[0.1,0.2,0.3,0.4,0.5]', '[3.4e38]', '[-0,1e-45]'];
	input text;
	v text;
BEGIN
	PERFORM setseed(0.5);
	FOR i IN 1..5000 LOOP
		input := pg_temp.mutate(seeds[1 + (i % 5)]);
		BEGIN
			v := input::vector::text;
			IF v::vector::text <> v THEN
				RAISE EXCEPTION 'round trip changed % into %', input, v;
			END IF;
			INSERT INTO fuzz_results VALUES ('accepted');
		EXCEPTION
			WHEN invalid_text_representation OR data_exception OR numeric_value_out_of_range
				OR program_limit_exceeded THEN
				INSERT INTO fuzz_results VALUES (SQLSTATE);
		END;
	END LOOP;
END $$;
SELECT outcome, count(*) FROM fuzz_results GROUP BY outcome ORDER BY outcome;
SELECT 'backend still alive' AS status;
