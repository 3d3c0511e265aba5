# 016_hybrid_standby.pl: hybrid text indexes on a streaming hot standby.
#
# Why: a hybrid build (BM25 + HNSW over embeddings, src/fusion/) is logged
# as full pages at the end; every later change (graph element placement
# and links, BM25 buffer appends, flushes and merges, VACUUM's element
# deletion and document removal, both metapages) is a GenericXLog record.
# A standby must replay all of it to exactly the primary's pages; its three
# scans (<@>, <~>, <=>), which read both parts and (for <=>) the heap,
# must answer exactly as the primary's.  Unlogged tables get their empty
# hybrid index (both metapages) from the init fork.
#
# How: a primary with wal_consistency_checking = 'generic' (the standby
# compares every replayed generic page with the primary's full image and
# stops on a difference) and a streaming standby.  On the primary: a
# hybrid index built over existing rows, another on an empty table filled
# by single-row inserts with a tiny write buffer, updates, deletes,
# VACUUM, more inserts.  After catch-up: no "inconsistent page" in the
# standby log; for each operator and query the top-20 ranking (ids, values)
# and the full index scan are identical on both nodes, filtered LIMIT 10
# too; on the standby the index scan equals its own sequential scan;
# identical index_stats; the standby's plans use the indexes.  An UNLOGGED
# table's hybrid index is empty and usable after an immediate stop of the
# primary, and on the standby after its promotion.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my ($primary, $standby) = start_primary_and_standby(
	'hybrid', q{
wal_consistency_checking = 'generic'
autovacuum = off
log_statement = none
});

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
-- deterministic short texts over a small vocabulary
CREATE FUNCTION hdoc(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg((ARRAY['plants', 'sunlight', 'energy', 'leaves', 'water', 'bank', 'interest', 'market',
    'money', 'inflation', 'cake', 'flour', 'oven', 'sugar', 'pasta', 'football', 'goal', 'match', 'runner',
    'team', 'compiler', 'code', 'memory', 'database', 'index', 'volcano', 'magma', 'earthquake', 'river',
    'ocean', 'the', 'a', 'of', 'and', 'green', 'fast', 'old', 'new', 'big', 'small'])
    [1 + floor(40 * power((hashint4(i * 977 + j) & 2147483647) / 2147483648.0, 1.5))::int], ' ' ORDER BY j)
  FROM generate_series(1, 2 + (hashint4(i) & 7)) j $$;
CREATE TABLE docs (id int PRIMARY KEY, cat int, body text);
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(1, 500) i;
INSERT INTO docs VALUES (501, 1, NULL), (502, 2, ''), (503, 3, 'the and of');
CREATE INDEX docs_idx ON docs USING retrieval (body);
CREATE TABLE grow (id int PRIMARY KEY, body text);
CREATE INDEX grow_idx ON grow USING retrieval (body) WITH (buffer_pages = 2);
DO $$ BEGIN FOR i IN 1..300 LOOP INSERT INTO grow VALUES (i, hdoc(i + 10000)); END LOOP; END $$;
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(601, 700) i;
UPDATE docs SET body = hdoc(id + 20000) WHERE id % 10 = 1;
DELETE FROM docs WHERE id % 3 = 0;
DELETE FROM grow WHERE id % 4 = 1;
VACUUM docs;
VACUUM grow;
INSERT INTO docs SELECT i, i % 5, hdoc(i) FROM generate_series(801, 900) i;
DO $$ BEGIN FOR i IN 301..400 LOOP INSERT INTO grow VALUES (i, hdoc(i + 10000)); END LOOP; END $$;
});
$primary->safe_psql('postgres', hybrid_ranking_functions_sql());
$primary->wait_for_catchup($standby);
ok(!$standby->log_contains('inconsistent page'), 'no inconsistent page found while replaying (wal_consistency_checking)');

my $idx = 'SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off;';
my @queries = ('how do plants make energy', 'money market inflation', 'the volcano');
for my $t ('docs', 'grow')
{
	for my $op ('<@>', '<~>', '<=>')
	{
		for my $q (@queries)
		{
			my $sql = "SELECT hybrid_ranking('$t', '${t}_idx', '$op', '$q', true, 20)";
			my $p = $primary->safe_psql('postgres', $sql);
			ok(length($p) > 0, "$t $op '$q': the primary's top-20 is not empty");
			is($standby->safe_psql('postgres', $sql), $p, "$t $op '$q': standby top-20 = primary top-20 (ids, values)");
		}
		my $filter = $t eq 'docs' ? 'cat = 2' : 'id % 3 = 1';
		my $filtered = "SELECT string_agg(id || ':' || d, ' ') FROM (SELECT id, body $op '$queries[0]' AS d FROM $t WHERE $filter ORDER BY body $op '$queries[0]' LIMIT 10) s";
		is($standby->safe_psql('postgres', "$idx $filtered"), $primary->safe_psql('postgres', "$idx $filtered"),
			"$t $op WHERE $filter LIMIT 10: standby = primary");
		my $full = "SELECT count(*), md5(string_agg(id::text, ',')) FROM (SELECT id FROM $t ORDER BY body $op '$queries[1]') s";
		is($standby->safe_psql('postgres', "$idx $full"), $primary->safe_psql('postgres', "$idx $full"),
			"$t $op '$queries[1]': standby full index scan = primary's");
	}
	# the replayed index is right, not only the same: index = sequential scan on the standby
	hybrid_check_rankings($standby, table => $t, index => "${t}_idx", queries => [ $queries[0] ], n => 20,
		settings => 'SET retrieval.ef_search = 1000;', when => 'on the standby');
	is($standby->safe_psql('postgres', "SELECT * FROM retrieval.index_stats('${t}_idx')"),
		$primary->safe_psql('postgres', "SELECT * FROM retrieval.index_stats('${t}_idx')"),
		"${t}_idx: identical index_stats on both nodes");
	is( $standby->safe_psql('postgres',
			"SELECT documents = (" . rows_with_terms_sql($t) . ") FROM retrieval.index_stats('${t}_idx')"),
		't', "${t}_idx: after VACUUM the standby's index counts the rows with terms");
}
is( $standby->safe_psql('postgres',
		"$idx SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <~> 'energy') s"),
	$standby->safe_psql('postgres', 'SELECT count(*) FROM docs WHERE body IS NOT NULL'),
	'the standby graph reaches every non-NULL row');
like($standby->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) SELECT id FROM grow ORDER BY body <=> 'plants' LIMIT 3"),
	qr/Index Scan using grow_idx/, 'the standby plans use the index');
is($primary->safe_psql('postgres', "SELECT segments > 1 OR segment_documents > 0 FROM retrieval.index_stats('grow_idx')"),
	't', 'grow_idx was flushed into segments');
my ($ret, $out, $err) = $standby->psql('postgres', "INSERT INTO grow VALUES (99999, 'x')");
isnt($ret, 0, 'INSERT fails on the standby');

# --- unlogged: empty hybrid index from the init fork after a crash ---------------
$primary->safe_psql(
	'postgres', q{
CREATE UNLOGGED TABLE ul (id int, body text);
CREATE INDEX ul_idx ON ul USING retrieval (body);
INSERT INTO ul SELECT i, hdoc(i) FROM generate_series(1, 150) i;
CHECKPOINT;
});
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0', 'unlogged table is empty after the crash');
for my $op ('<@>', '<~>', '<=>')
{
	is($primary->safe_psql('postgres', "$idx SELECT count(*) FROM (SELECT id FROM ul ORDER BY body $op 'plants') s"),
		'0', "unlogged: the empty index returns nothing for $op");
}
$primary->safe_psql('postgres', 'INSERT INTO ul SELECT i, hdoc(i) FROM generate_series(1, 120) i');
is($primary->safe_psql('postgres', "$idx SELECT count(*) FROM (SELECT id FROM ul ORDER BY body <~> 'plants') s"),
	'120', 'unlogged: after the crash every new row is in the graph');
hybrid_check_rankings($primary, table => 'ul', index => 'ul_idx', queries => [ $queries[0] ], n => 10,
	when => 'unlogged, after the crash');

$primary->safe_psql('postgres', "INSERT INTO grow VALUES (7777, 'zzzunique plants')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "$idx SELECT id FROM grow ORDER BY body <@> 'zzzunique' LIMIT 1"),
	'7777', 'the standby finds a row inserted after the primary restart (<@>)');
is($standby->safe_psql('postgres', "$idx SELECT id FROM grow ORDER BY body <=> 'zzzunique' LIMIT 1"),
	'7777', 'the standby finds a row inserted after the primary restart (<=>)');
ok(!$standby->log_contains('inconsistent page'), 'still no inconsistent page on the standby');

# --- the standby promoted: its unlogged hybrid index is the empty init fork --------
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'ul_idx'"),
	'1', 'promoted standby: the unlogged hybrid index exists');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0', 'promoted standby: unlogged table is empty');
is($standby->safe_psql('postgres', "$idx SELECT count(*) FROM (SELECT id FROM ul ORDER BY body <=> 'plants') s"),
	'0', 'promoted standby: the unlogged index returns nothing');
$standby->safe_psql('postgres', 'INSERT INTO ul SELECT i, hdoc(i) FROM generate_series(1, 60) i');
is($standby->safe_psql('postgres', "$idx SELECT count(*) FROM (SELECT id FROM ul ORDER BY body <~> 'plants') s"),
	'60', 'promoted standby: the unlogged index takes inserts, every row in the graph');
hybrid_check_rankings($standby, table => 'ul', index => 'ul_idx', queries => [ $queries[1] ], n => 10,
	when => 'unlogged, on the promoted standby');
$standby->safe_psql('postgres', 'INSERT INTO grow VALUES (8888, $$turtles on the beach$$)');
is($standby->safe_psql('postgres', "$idx SELECT id FROM grow ORDER BY body <=> 'turtles on the beach' LIMIT 1"),
	'8888', 'promoted standby: a logged hybrid index takes inserts');

$standby->stop;
$primary->stop;
done_testing();
