-- The upgrade path.  0.1.0 is released; later versions ship an upgrade
-- script, and CREATE EXTENSION of the default version runs the base script
-- and then the chain, so a fresh install and an upgraded one are the same
-- objects by construction.  This checks the chain exists and that an index
-- built under 0.1.0 keeps answering after ALTER EXTENSION UPDATE.
DROP EXTENSION IF EXISTS retrieval CASCADE;
SELECT default_version FROM pg_available_extensions WHERE name = 'retrieval';
SELECT source, target, path FROM pg_extension_update_paths('retrieval')
	WHERE path IS NOT NULL ORDER BY source, target;

CREATE EXTENSION retrieval VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'retrieval';
CREATE TABLE upgrade_items (id int PRIMARY KEY, v vector(3));
INSERT INTO upgrade_items SELECT i, ARRAY[i, i % 7, i % 3]::real[]::vector FROM generate_series(1, 200) i;
CREATE INDEX upgrade_items_v ON upgrade_items USING retrieval (v vector_l2_ops);

ALTER EXTENSION retrieval UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'retrieval';

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM upgrade_items ORDER BY v <-> '[10.2,3,1]' LIMIT 3;
SELECT id FROM upgrade_items ORDER BY v <-> '[10.2,3,1]' LIMIT 3;
INSERT INTO upgrade_items VALUES (0, '[10.2,3,1.5]');
SELECT id FROM upgrade_items ORDER BY v <-> '[10.2,3,1]' LIMIT 3;
RESET enable_seqscan;

-- a fresh install gives the default version
DROP TABLE upgrade_items;
DROP EXTENSION retrieval;
CREATE EXTENSION retrieval;
SELECT extversion FROM pg_extension WHERE extname = 'retrieval';
DROP EXTENSION retrieval;
