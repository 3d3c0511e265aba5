-- Every SIMD kernel set the CPU supports returns the scalar result (within
-- float rounding) through the SQL operators, on odd lengths; forcing a set
-- the CPU lacks is refused.  Output does not depend on the CPU.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT name FROM distance_kernels() ORDER BY name;
SELECT count(*) = 1 AS one_active FROM distance_kernels() WHERE active;
SELECT bool_and(supported) AS active_is_supported FROM distance_kernels() WHERE active;
SHOW retrieval.distance_kernel;

SELECT setseed(0.42);
CREATE TEMP TABLE kv AS
	SELECT i,
	       ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 1 + (i * 7) % 301) WHERE i > 0)::vector AS a,
	       ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 1 + (i * 7) % 301) WHERE i > 0)::vector AS b
	FROM generate_series(1, 400) i;

CREATE TEMP TABLE scalar_results AS
	SELECT i, a <-> b AS l2, a <#> b AS nip, a <=> b AS cos, a <+> b AS l1,
	       (SELECT sum(abs(x * y)) FROM unnest(a::real[], b::real[]) u(x, y)) AS ip_scale
	FROM kv, (SELECT set_config('retrieval.distance_kernel', 'scalar', false)) s;

-- compare each supported kernel with scalar: relative 1e-5 of the sum of |terms|
CREATE FUNCTION pg_temp.kernel_mismatches(kernel text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM set_config('retrieval.distance_kernel', kernel, false);
	SELECT count(*) INTO n
	FROM kv JOIN scalar_results s USING (i)
	WHERE abs((kv.a <-> kv.b) - s.l2) > 1e-5 * s.l2 + 1e-30
	   OR abs((kv.a <#> kv.b) - s.nip) > 1e-5 * s.ip_scale + 1e-30
	   OR abs((kv.a <=> kv.b) - s.cos) > 1e-4
	   OR abs((kv.a <+> kv.b) - s.l1) > 1e-5 * s.l1 + 1e-30;
	RETURN n;
END $$;

SELECT count(*) AS kernels_disagreeing_with_scalar
FROM distance_kernels() k
WHERE k.supported AND pg_temp.kernel_mismatches(k.name) <> 0;

-- an unsupported kernel set is refused, never selected
CREATE FUNCTION pg_temp.unsupported_refused() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	k text;
BEGIN
	FOR k IN SELECT name FROM distance_kernels() WHERE NOT supported LOOP
		BEGIN
			PERFORM set_config('retrieval.distance_kernel', k, false);
			RETURN false;
		EXCEPTION WHEN invalid_parameter_value THEN
			NULL;
		END;
	END LOOP;
	RETURN true;
END $$;
SELECT pg_temp.unsupported_refused();
SET retrieval.distance_kernel = 'scalar';
SELECT name FROM distance_kernels() WHERE active;
SET retrieval.distance_kernel = 'no_such_kernel';
RESET retrieval.distance_kernel;
SELECT bool_and(supported) FROM distance_kernels() WHERE active;
