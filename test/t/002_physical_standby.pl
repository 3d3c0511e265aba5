# 002_physical_standby.pl: the extension on a streaming hot standby.
#
# Why: everything the extension stores (vector heap tuples, btree indexes
# built and maintained with vector_ops, an expression index on a distance)
# must replay on a physical standby to the very same pages, and its
# functions and operators must work read-only there.
#
# How: a primary with wal_consistency_checking = 'all' (the standby compares
# every replayed page with the full-page image the primary logged, and
# stops on any difference) and a streaming standby.  On the primary: create
# the extension, load vectors, build indexes, update, delete, VACUUM,
# CLUSTER on the vector index.  After catch-up, a set of queries (kNN by
# sequential scan with ids and distances, aggregates, index-ordered scans,
# range and equality lookups through the index, scalar functions) must
# print identical text on both nodes; amcheck passes on the standby; the
# standby rejects writes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my $DIM = 16;
my $q = '[' . join(',', map { ($_ * 37 % 11) / 2 } 1 .. $DIM) . ']';

my ($primary, $standby) = start_primary_and_standby(
	'vector', q{
wal_consistency_checking = 'all'
log_statement = none
});

# --- workload on the primary --------------------------------------------------
$primary->safe_psql(
	'postgres', qq{
CREATE EXTENSION retrieval;
CREATE EXTENSION amcheck;

-- deterministic pseudo-random vectors: values with two decimals in [0, 10],
-- every 10th row one of 5 constant vectors (equal keys)
CREATE TABLE items (id int PRIMARY KEY, v vector($DIM) NOT NULL);
INSERT INTO items
  SELECT i, CASE WHEN i % 10 = 0
           THEN array_fill((i / 10 % 5)::real, ARRAY[$DIM])::vector($DIM)
           ELSE (SELECT array_agg((abs(hashint4(i * 100 + d)) % 1001)::real / 100 ORDER BY d)
                   FROM generate_series(1, $DIM) d)::vector($DIM)
         END
  FROM generate_series(1, 3000) i;
CREATE INDEX items_v_idx ON items (v);
CREATE INDEX items_dist_idx ON items ((v <-> '$q'));

-- maintenance of the indexes after the build
INSERT INTO items
  SELECT i, (SELECT array_agg((abs(hashint4(i * 100 + d)) % 1001)::real / 100 ORDER BY d)
               FROM generate_series(1, $DIM) d)::vector($DIM)
  FROM generate_series(3001, 4000) i;
UPDATE items SET v = v + array_fill(0.5::real, ARRAY[$DIM])::vector WHERE id % 3 = 0;
UPDATE items SET v = v * array_fill(-1::real, ARRAY[$DIM])::vector WHERE id % 17 = 0;
DELETE FROM items WHERE id BETWEEN 1000 AND 1999;
VACUUM items;

-- a unique vector index, and a heap rewrite in vector order
CREATE TABLE uniq (id int, v vector(3) UNIQUE);
INSERT INTO uniq SELECT i, ARRAY[i % 10, i / 10 % 10, i / 100]::real[] FROM generate_series(0, 999) i;
CLUSTER items USING items_v_idx;
});
$primary->wait_for_catchup($standby);

ok(!$standby->log_contains('inconsistent page found'),
	'wal_consistency_checking found no inconsistent page on the standby');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');
is($standby->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'retrieval'"),
	$primary->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'retrieval'"),
	'extension replicated');

# --- the same answers on both nodes --------------------------------------------
my $enable_index = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $enable_seq =
  'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';
my $lo = '[' . join(',', 2, (0) x ($DIM - 1)) . ']';
my $hi = '[' . join(',', 4, (0) x ($DIM - 1)) . ']';

# name => [settings, query, index the plan must use (or undef), expected row count]
my @queries = (
	[
		'kNN by sequential scan', $enable_seq,
		"SELECT id, v <-> '$q' FROM items ORDER BY v <-> '$q', id LIMIT 10",
		undef, 10
	],
	[
		'cosine and inner product kNN', $enable_seq,
		"SELECT id, v <=> '$q', v <#> '$q' FROM items ORDER BY v <=> '$q', id LIMIT 10",
		undef, 10
	],
	[
		'aggregates', '',
		'SELECT count(*), avg(v), sum(v) FROM items',
		undef, 1
	],
	[
		'grouped aggregates', '',
		'SELECT id % 4, avg(v) FROM items GROUP BY 1 ORDER BY 1',
		undef, 4
	],
	[
		'full index-ordered scan', $enable_index,
		'SELECT id, v FROM items ORDER BY v, id',
		'items_v_idx', 3000
	],
	[
		'index range scan', $enable_index,
		"SELECT id, v FROM items WHERE v >= '$lo' AND v < '$hi' ORDER BY v, id",
		'items_v_idx'
	],
	[
		'index equality lookups', $enable_index,
		"SELECT k, (SELECT count(*) FROM items WHERE v = array_fill(k::real, ARRAY[$DIM])::vector) "
		  . 'FROM generate_series(0, 4) k',
		'items_v_idx', 5
	],
	[
		'kNN through the distance expression index', $enable_index,
		"SELECT id, v <-> '$q' FROM items ORDER BY v <-> '$q', id LIMIT 10",
		'items_dist_idx', 10
	],
	[
		'unique vector index', $enable_index,
		"SELECT id, v FROM uniq WHERE v > '[5,5,5]' AND v < '[5,6,0]' ORDER BY v",
		'uniq_v_key', 4
	],
	[
		'scalar functions', '',
		"SELECT vector_dims(v), round(vector_norm(v)::numeric, 4), l2_normalize(v), subvector(v, 2, 3), "
		  . "l2_distance(v, '$q'), inner_product(v, '$q'), cosine_distance(v, '$q'), l1_distance(v, '$q'), "
		  . "v::real[], v || v FROM items WHERE id IN (1, 10, 2000, 3001) ORDER BY id",
		undef, 4
	],
);

for my $qq (@queries)
{
	my ($name, $settings, $query, $index, $rows) = @$qq;
	if (defined $index)
	{
		my $plan = $standby->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $query");
		like($plan, qr/Index (Only )?Scan using $index/, "$name: standby plan uses $index");
	}
	my $on_primary = $primary->safe_psql('postgres', "$settings $query");
	my $on_standby = $standby->safe_psql('postgres', "$settings $query");
	my @lines = split /\n/, $on_primary;
	if (defined $rows)
	{
		is(scalar(@lines), $rows, "$name: $rows rows");
	}
	else
	{
		cmp_ok(scalar(@lines), '>', 0, "$name: not empty");
	}
	ok($on_primary eq $on_standby, "$name: standby output = primary output");
	diag "primary:\n" . substr($on_primary, 0, 2000) . "\nstandby:\n" . substr($on_standby, 0, 2000)
	  if $on_primary ne $on_standby;
}

# the index scan agrees with a sort of the sequential scan, on the standby
is( $standby->safe_psql('postgres', "$enable_index SELECT id, v FROM items ORDER BY v, id"),
	$standby->safe_psql('postgres', "$enable_seq SELECT id, v FROM items ORDER BY v, id"),
	'standby: index order = sorted sequential scan');

# exact values: the kNN must find the stored vector nearest to itself
is( $standby->safe_psql(
		'postgres',
		"$enable_index SELECT id, v <-> (SELECT v FROM items WHERE id = 2501) FROM items "
		  . "ORDER BY v <-> (SELECT v FROM items WHERE id = 2501), id LIMIT 1"),
	'2501|0',
	'standby: a stored vector is its own nearest neighbour');

# exact aggregate values: each element of uniq.v takes every digit 100 times
is($standby->safe_psql('postgres', 'SELECT sum(v), avg(v), count(*) FROM uniq'),
	'[4500,4500,4500]|[4.5,4.5,4.5]|1000', 'standby: exact sum and avg');

# --- amcheck on the standby ------------------------------------------------------
for my $idx (qw(items_pkey items_v_idx items_dist_idx uniq_v_key))
{
	my ($ret, $out, $err) =
	  $standby->psql('postgres', "SELECT bt_index_check('$idx', heapallindexed => true)");
	is($ret . $err, '0', "amcheck $idx on the standby");
}

# --- the standby is read-only --------------------------------------------------------
my ($ret, $out, $err) =
  $standby->psql('postgres', "INSERT INTO items VALUES (99999, '$q')");
isnt($ret, 0, 'INSERT fails on the standby');
like($err, qr/cannot execute INSERT in a read-only transaction/, 'INSERT: read-only error');
($ret, $out, $err) = $standby->psql('postgres', 'CREATE INDEX ON items (v)');
isnt($ret, 0, 'CREATE INDEX fails on the standby');
like($err, qr/read-only transaction/, 'CREATE INDEX: read-only error');

# --- more changes stream over, including a DROP INDEX and a REINDEX ----------------
$primary->safe_psql(
	'postgres', qq{
UPDATE items SET v = '$q' WHERE id = 42;
DELETE FROM items WHERE id % 5 = 1;
REINDEX INDEX items_v_idx;
DROP INDEX items_dist_idx;
});
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('postgres',
		"$enable_index SELECT id FROM items WHERE v = '$q' ORDER BY id"),
	'42', 'standby sees the update through the rebuilt index');
is( $standby->safe_psql('postgres', 'SELECT count(*) FROM items'),
	$primary->safe_psql('postgres', 'SELECT count(*) FROM items'),
	'standby row count = primary row count');
is( $standby->safe_psql('postgres',
		"$enable_seq SELECT id, v <-> '$q' FROM items ORDER BY v <-> '$q', id LIMIT 10"),
	$primary->safe_psql('postgres',
		"$enable_seq SELECT id, v <-> '$q' FROM items ORDER BY v <-> '$q', id LIMIT 10"),
	'kNN after more changes: standby = primary');
($ret, $out, $err) =
  $standby->psql('postgres', "SELECT bt_index_check('items_v_idx', heapallindexed => true)");
is($ret . $err, '0', 'amcheck of the rebuilt index on the standby');
ok(!$standby->log_contains('inconsistent page found'),
	'still no inconsistent page on the standby');

$standby->stop;
$primary->stop;
done_testing();
