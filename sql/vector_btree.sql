-- Comparison operators, the btree operator class, DISTINCT / GROUP BY /
-- ORDER BY / unique indexes on vectors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

SELECT '[1,2]'::vector < '[1,3]', '[1,2]'::vector < '[1,2,0]', '[2]'::vector > '[1,9]',
       '[1,2]'::vector = '[1,2]', '[1,2]'::vector <> '[1,2]', '[0]'::vector = '[-0]',
       '[1,2]'::vector <= '[1,2]', '[1,2]'::vector >= '[1,3]';
SELECT vector_cmp('[1,2]', '[1,2,3]'), vector_cmp('[1,3]', '[1,2,3]'), vector_cmp('[5]', '[5]');

CREATE TABLE bt (id int, v vector);
INSERT INTO bt VALUES (1, '[3,1]'), (2, '[1,2,3]'), (3, '[1,2]'), (4, '[-1,5]'), (5, '[1,2]'), (6, '[2]');
SELECT id, v FROM bt ORDER BY v, id;
SELECT DISTINCT v FROM bt ORDER BY v;
SELECT v, count(*) FROM bt GROUP BY v ORDER BY v;

CREATE INDEX bt_v_idx ON bt (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bt WHERE v = '[1,2]';
SELECT id FROM bt WHERE v = '[1,2]' ORDER BY id;
SELECT id, v FROM bt WHERE v > '[1,2]' ORDER BY v, id;
RESET enable_seqscan;

CREATE UNIQUE INDEX bt_unique ON bt (v) WHERE id <> 5;
\set VERBOSITY sqlstate
INSERT INTO bt VALUES (7, '[3,1]');
\set VERBOSITY default
DROP TABLE bt;
