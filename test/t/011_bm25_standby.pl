# 011_bm25_standby.pl: BM25 indexes on a streaming hot standby.
#
# Why: a BM25 build is logged as full pages at the end; every later change
# (buffer appends, flushes into new segments, merges, VACUUM's deletion
# marks and df updates, the metapage) is a GenericXLog record.  A standby
# must replay all of it to exactly the primary's pages and answer queries
# identically.  Unlogged tables get their empty index from the init fork.
#
# How: a primary with wal_consistency_checking = 'all' (the standby
# compares every replayed page with the primary's full image and stops on
# a difference) and a streaming standby.  On the primary: a BM25 index
# built over existing rows, another on an empty table filled by single-row
# inserts with a tiny write buffer (many flushes and merges), deletes,
# VACUUM, more inserts.  After catch-up: no "inconsistent page" in the
# standby log, identical rankings and scores on both nodes (top-10 with and
# without filters, full scans), identical index_stats; the standby's plans
# use the indexes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my ($primary, $standby) = start_primary_and_standby(
	'bm25', q{
wal_consistency_checking = 'all'
autovacuum = off
log_statement = none
});

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
CREATE FUNCTION hdoc(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg('t' || floor(50 * power((hashint4(i * 977 + j) & 2147483647) / 2147483648.0, 2))::int, ' ' ORDER BY j)
  FROM generate_series(1, 1 + (hashint4(i) & 31)) j $$;
CREATE TABLE docs (id int PRIMARY KEY, cat int, body text);
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(1, 3000) i;
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple');
CREATE TABLE grow (id int PRIMARY KEY, body text);
CREATE INDEX grow_idx ON grow USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
DO $$ BEGIN FOR i IN 1..1500 LOOP INSERT INTO grow VALUES (i, hdoc(i + 10000)); END LOOP; END $$;
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(3001, 3400) i;
INSERT INTO docs VALUES (5001, 1, repeat('big ', 300000) || 't1');
DELETE FROM docs WHERE id % 3 = 0;
DELETE FROM grow WHERE id % 4 = 1;
VACUUM docs;
VACUUM grow;
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(4001, 4300) i;
DO $$ BEGIN FOR i IN 1501..2500 LOOP INSERT INTO grow VALUES (i, hdoc(i + 10000)); END LOOP; END $$;
});
$primary->wait_for_catchup($standby);
ok(!$standby->log_contains('inconsistent page'), 'no inconsistent page found while replaying (wal_consistency_checking)');

my $idx = 'SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off;';
for my $q ('t0', 't1 t2', 't5 t5 t9', 't20 t30 t40 t49', 'big t1')
{
	for my $t ('docs', 'grow')
	{
		for my $filter ('', ($t eq 'docs' ? 'WHERE cat = 2' : 'WHERE id % 3 = 1'))
		{
			my $sql = "SELECT string_agg(id || ':' || d, ' ') FROM (SELECT id, body <@> '$q' AS d FROM $t $filter ORDER BY body <@> '$q' LIMIT 10) s";
			my $p = $primary->safe_psql('postgres', "$idx $sql");
			my $s = $standby->safe_psql('postgres', "$idx $sql");
			is($s, $p, "$t '$q' $filter: standby top-10 = primary top-10");
		}
		my $full = "SELECT md5(string_agg(id || ':' || d, ' ')) FROM (SELECT id, body <@> '$q' AS d FROM $t ORDER BY body <@> '$q') s";
		is($standby->safe_psql('postgres', "$idx $full"), $primary->safe_psql('postgres', "$idx $full"),
			"$t '$q': standby full index scan = primary's");
	}
}
like($standby->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) SELECT id FROM grow ORDER BY body <@> 't1' LIMIT 3"),
	qr/Index Scan using grow_idx/, 'the standby plans use the index');
for my $i ('docs_idx', 'grow_idx')
{
	is($standby->safe_psql('postgres', "SELECT * FROM retrieval.index_stats('$i')"),
		$primary->safe_psql('postgres', "SELECT * FROM retrieval.index_stats('$i')"),
		"$i: identical index_stats on both nodes");
}
is($primary->safe_psql('postgres', "SELECT segments > 1 OR segment_documents > 0 FROM retrieval.index_stats('grow_idx')"),
	't', 'grow_idx was flushed into segments');
my ($ret, $out, $err) = $standby->psql('postgres', "INSERT INTO grow VALUES (99999, 'x')");
isnt($ret, 0, 'INSERT fails on the standby');

# unlogged: empty index from the init fork after a crash
$primary->safe_psql(
	'postgres', q{
CREATE UNLOGGED TABLE ul (id int, body text);
CREATE INDEX ul_idx ON ul USING retrieval (body) WITH (model = 'none', language = 'simple');
INSERT INTO ul SELECT i, hdoc(i) FROM generate_series(1, 300) i;
CHECKPOINT;
});
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0', 'unlogged table is empty after the crash');
is($primary->safe_psql('postgres', "$idx SELECT count(*) FROM (SELECT id FROM ul ORDER BY body <@> 't1') s"),
	'0', 'unlogged: the empty index returns nothing');
$primary->safe_psql('postgres', 'INSERT INTO ul SELECT i, hdoc(i) FROM generate_series(1, 200) i');
my $seq = $primary->safe_psql('postgres',
	"SET enable_indexscan = off; SELECT string_agg(id::text, ',') FROM (SELECT id FROM ul WHERE (body <@> 't1') < 0 ORDER BY body <@> 't1', ctid) s");
is($primary->safe_psql('postgres', "$idx SELECT string_agg(id::text, ',') FROM (SELECT id FROM ul ORDER BY body <@> 't1') s"),
	$seq, 'unlogged: after the crash the index works and equals the sequential scan');

$primary->safe_psql('postgres', "INSERT INTO grow VALUES (7777, 'zzzunique t1')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "$idx SELECT id FROM grow ORDER BY body <@> 'zzzunique' LIMIT 1"),
	'7777', 'the standby finds a row inserted after the primary restart');
ok(!$standby->log_contains('inconsistent page'), 'still no inconsistent page on the standby');

$standby->stop;
$primary->stop;
done_testing();
