# 015_hybrid_crash.pl: crash recovery of hybrid text indexes (BM25 + HNSW
# over embeddings in one relation, src/fusion/).
#
# Why: every change to a hybrid index after CREATE INDEX is GenericXLog:
# an insert places the row's element in the graph (HNSW pages) and then
# appends a BM25 document keyed by the element's TID (buffer, flushes,
# merges); VACUUM marks elements deleted and removes their documents.  The
# two parts share the relation and interleave their pages.  After a crash,
# redo must give an index whose three scans (<@> BM25, <~> cosine over
# the graph, <=> fused) return exactly what the per-row operators give a
# sequential scan, whose graph still reaches every row, and whose BM25
# statistics are exact again after VACUUM.
#
# How: a hybrid index with a tiny write buffer (buffer_pages = 2: inserts
# flush and merge all the time); pgbench clients insert, update and delete
# random short texts (autovacuum running) while a tracker commits known
# rows one transaction at a time into a second hybrid-indexed table; the
# postmaster and all its children get SIGKILL mid-write and the node
# restarts through crash recovery.  Then, at retrieval.ef_search = 1000 (a
# graph search that is exact at this size):
#  - for several queries and each operator the index scan's top-20 (ids,
#    values, order; ties in id order) equals the sequential scan's, and
#    the whole <@> ranking too;
#  - a full <~> and <=> index scan (default ef_search: many rounds)
#    returns every non-NULL row exactly once and nothing else;
#  - every acknowledged tracker row is found through the index (+ all or
#    nothing of the one in flight), each first by its own unique term;
# the same after deletes + VACUUM (then index_stats counts exactly the
# rows with terms) and after more writes + VACUUM; the same after a crash
# in the middle of a VACUUM's index phase (documents of deleted elements
# are skipped) and after the next VACUUM (which removes them: exact
# index_stats again).  Last, a hybrid CREATE INDEX killed mid-build leaves
# no index behind.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;
use IPC::Run;
use Time::HiRes qw(time);

$SIG{PIPE} = 'IGNORE';

my $node = PostgreSQL::Test::Cluster->new('hybrid_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
synchronous_commit = on
max_connections = 20
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 20
autovacuum_vacuum_scale_factor = 0.02
log_statement = none
});
$node->start;

# short texts over a small vocabulary (several topics, so the embeddings
# differ meaningfully; frequent words, so BM25 has ties and long lists)
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
CREATE FUNCTION rand_doc() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg((ARRAY['plants', 'sunlight', 'energy', 'leaves', 'water', 'bank', 'interest', 'market',
    'money', 'inflation', 'cake', 'flour', 'oven', 'sugar', 'pasta', 'football', 'goal', 'match', 'runner',
    'team', 'compiler', 'code', 'memory', 'database', 'index', 'volcano', 'magma', 'earthquake', 'river',
    'ocean', 'the', 'a', 'of', 'and', 'green', 'fast', 'old', 'new', 'big', 'small'])[1 + floor(40 * random() ^ 1.5)::int], ' ')
  FROM generate_series(1, 2 + (random() * 8)::int) $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, body text);
INSERT INTO docs (body) SELECT rand_doc() FROM generate_series(1, 600);
INSERT INTO docs (body) VALUES (NULL), (''), ('the and of'), ('zz');
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (buffer_pages = 2);
CREATE TABLE acked (n int PRIMARY KEY, body text NOT NULL);
CREATE INDEX acked_idx ON acked USING retrieval (body) WITH (buffer_pages = 2);
CHECKPOINT;
});
$node->safe_psql('postgres', hybrid_ranking_functions_sql());
is($node->safe_psql('postgres', "SELECT documents = (" . rows_with_terms_sql('docs') . ") FROM retrieval.index_stats('docs_idx')"),
	't', 'after the build the index counts the rows with terms');

my $script = $node->basedir . '/churn.sql';
append_to_file(
	$script, q{
\set id random(1, 1500)
BEGIN;
INSERT INTO docs (body) VALUES (rand_doc());
UPDATE docs SET body = rand_doc() WHERE id = :id;
DELETE FROM docs WHERE id = :id + 1;
END;
});
my ($bench_out, $bench_err) = ('', '');
my $bench;
{
	local $ENV{PGAPPNAME} = 'churn';
	$bench = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '3', '-j', '2', '-T', '120',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$bench_out, '2>', \$bench_err,
		IPC::Run::timeout(300));
}

# tracker transaction i inserts row i with text "ack<i> common ..."
sub tracker_txn
{
	my ($i) = @_;
	return "INSERT INTO acked VALUES ($i, 'ack$i common ' || rand_doc());";
}

my $tracker = $node->background_psql('postgres');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'churn'", '3'),
	'3 pgbench clients are running');

my $acked = 0;
for my $phase (1, 2)
{
	my $until = time + 3;
	while (time < $until)
	{
		$tracker->query_safe(tracker_txn($acked + 1));
		$acked++;
	}
	$tracker->query_safe('CHECKPOINT') if $phase == 1;
}
note "tracker: $acked acknowledged commits";
cmp_ok($acked, '>', 20, 'tracker committed a useful number of transactions');
$tracker->query_until(qr/inflight/, "\\echo inflight\n" . tracker_txn($acked + 1) . "\n");

my @killed = crash_node($node);
eval { $tracker->quit };
$bench->finish;
like($bench_err, qr/Run was aborted/, 'pgbench was cut off by the crash');
ok(wait_gone(@killed), 'killed server processes are gone');

my $log_offset = -s $node->logfile;
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress', $log_offset),
	'restart went through crash recovery');
cmp_ok($node->safe_psql('postgres', 'SELECT max(id) FROM docs'), '>', 604, 'rows committed by pgbench survived');

my @queries = ('how do plants make energy', 'interest rates and money', 'volcano near the ocean');
my $wide = 'SET retrieval.ef_search = 1000;';
my $idx = 'SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off;';

sub check_all
{
	my ($when) = @_;
	hybrid_check_rankings($node, queries => \@queries, n => 20, settings => $wide, when => $when);
	hybrid_check_rankings($node, queries => [ $queries[0] ], ops => ['<@>'], settings => $wide, when => $when);

	# every non-NULL row is in the graph: a full <~> / <=> scan returns each once
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM docs WHERE body IS NOT NULL');
	for my $op ('<~>', '<=>')
	{
		my $full = "SELECT id FROM docs ORDER BY body $op '$queries[1]'";
		like($node->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) $full"),
			qr/Index Scan using docs_idx/, "$op: full scan reads the index $when");
		my $got = $node->safe_psql('postgres',
			"$idx CREATE TEMP TABLE got AS $full; "
			  . "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM docs WHERE body IS NOT NULL AND id NOT IN (SELECT id FROM got)), "
			  . "(SELECT count(*) FROM got WHERE id NOT IN (SELECT id FROM docs WHERE body IS NOT NULL)), "
			  . "(SELECT string_agg(id::text, ',') FROM docs WHERE body IS NOT NULL AND id NOT IN (SELECT id FROM got)) FROM got");
		my ($n, $distinct, $missing, $unknown, $missing_ids) = split /\|/, $got;
		is("$n|$distinct|$missing|$unknown", "$rows|$rows|0|0",
			"$op: a full index scan returns each of the $rows non-NULL rows exactly once $when (rows|distinct|missing|unknown)")
		  or diag "missing ids: " . ($missing_ids // '');
	}

	like($node->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) SELECT n FROM acked ORDER BY body <@> 'common' LIMIT 5"),
		qr/Index Scan using acked_idx/, "acked is read through its index $when");
	my ($n, $distinct) = split /\|/, $node->safe_psql('postgres',
		"$idx SELECT count(*), count(DISTINCT n) FROM (SELECT n FROM acked ORDER BY body <@> 'common') s");
	ok($n == $distinct && ($n == $acked || $n == $acked + 1),
		"<@>: all $acked acknowledged rows (+ maybe the in-flight one) are found through the index $when ($n)");
	($n, $distinct) = split /\|/, $node->safe_psql('postgres',
		"$idx SELECT count(*), count(DISTINCT n) FROM (SELECT n FROM acked ORDER BY body <~> 'common') s");
	ok($n == $distinct && ($n == $acked || $n == $acked + 1),
		"<~>: all $acked acknowledged rows (+ maybe the in-flight one) are found through the graph $when ($n)");
	is( $node->safe_psql('postgres',
			"$idx SELECT count(*) FROM acked a WHERE (SELECT b.n FROM acked b ORDER BY b.body <@> ('ack' || a.n) LIMIT 1) <> a.n"),
		'0', "every acked row is found first by its own unique term $when");
}

check_all('after crash recovery');

$node->safe_psql('postgres', 'DELETE FROM docs WHERE id % 5 = 0; DELETE FROM acked WHERE n % 7 = 0;');
$acked -= int($acked / 7);
$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs; VACUUM (FREEZE, INDEX_CLEANUP ON) acked;');
# the in-flight tracker row, if it committed, is n = $acked + 1 of the
# original numbering; renumbering does not matter for the counts below
# except that it may add one, which check_all allows
is( $node->safe_psql('postgres',
		"SELECT documents = (" . rows_with_terms_sql('docs') . ") FROM retrieval.index_stats('docs_idx')"),
	't', 'after deletes and VACUUM the index counts exactly the rows with terms');
check_all('after deletes and VACUUM');

$node->safe_psql(
	'postgres', q{
INSERT INTO docs (body) SELECT rand_doc() FROM generate_series(1, 150);
DELETE FROM docs WHERE id % 7 = 0;
UPDATE docs SET body = rand_doc() WHERE id % 11 = 0;
VACUUM (FREEZE, INDEX_CLEANUP ON) docs;
});
is( $node->safe_psql('postgres',
		"SELECT documents = (" . rows_with_terms_sql('docs') . ") FROM retrieval.index_stats('docs_idx')"),
	't', 'after more writes and VACUUM the index counts exactly the rows with terms');
check_all('after more writes and a second VACUUM');

# --- a crash during VACUUM ------------------------------------------------------------
# hybrid_bulkdelete vacuums the graph, then removes the BM25 documents of
# the dead elements; a crash in between leaves documents of deleted
# elements, which scans must skip and the next VACUUM must remove.  Where
# in the index phase the kill lands is not controlled.
$node->safe_psql('postgres',
	'INSERT INTO docs (body) SELECT rand_doc() FROM generate_series(1, 700); DELETE FROM docs WHERE id % 5 IN (1, 2); CHECKPOINT;');
my ($vac_out, $vac_err) = ('', '');
my $vac = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'VACUUM (INDEX_CLEANUP ON) docs' ],
	'<', \undef, '>', \$vac_out, '2>', \$vac_err, IPC::Run::timeout(300));
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'docs'::regclass AND phase = 'vacuuming indexes'", '1'),
	'VACUUM is vacuuming the indexes');
@killed = crash_node($node);
$vac->finish;
unlike($vac_out, qr/VACUUM/, 'VACUUM did not complete');
ok(wait_gone(@killed), 'killed server processes are gone (VACUUM)');
$node->start;
note 'after the crash during VACUUM: documents ' . $node->safe_psql('postgres',
	"SELECT documents FROM retrieval.index_stats('docs_idx')") . ', rows with terms '
  . $node->safe_psql('postgres', rows_with_terms_sql('docs'));
check_all('after a crash during VACUUM');
$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs');
is( $node->safe_psql('postgres',
		"SELECT documents = (" . rows_with_terms_sql('docs') . ") FROM retrieval.index_stats('docs_idx')"),
	't', 'the VACUUM after the crashed one leaves the index counting exactly the rows with terms');
check_all('after the VACUUM following the crashed one');

# --- a crash during a hybrid CREATE INDEX ------------------------------------------
$node->safe_psql('postgres',
	"CREATE TABLE big (id int, body text); INSERT INTO big SELECT i, rand_doc() FROM generate_series(1, 5000) i; CHECKPOINT;");
my ($build_out, $build_err) = ('', '');
my $build = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', "CREATE INDEX big_idx ON big USING retrieval (body)" ],
	'<', \undef, '>', \$build_out, '2>', \$build_err, IPC::Run::timeout(300));
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX big_idx%' AND state = 'active' AND now() - query_start > interval '1 s'",
		'1'),
	'CREATE INDEX is under way');
@killed = crash_node($node);
$build->finish;
unlike($build_out, qr/CREATE INDEX/, 'CREATE INDEX did not complete');
ok(wait_gone(@killed), 'killed server processes are gone (2)');
$node->start;
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'big_idx'"),
	'0', 'the interrupted index does not exist');
$node->safe_psql('postgres', "DELETE FROM big WHERE id > 300; CREATE INDEX big_idx ON big USING retrieval (body)");
is( $node->safe_psql('postgres',
		"SELECT documents = (" . rows_with_terms_sql('big') . ") FROM retrieval.index_stats('big_idx')"),
	't', 'a new build after the crash indexes every row with terms');
is( $node->safe_psql('postgres',
		"$idx SELECT count(*) FROM (SELECT id FROM big ORDER BY body <~> 'energy') s"),
	'300', 'a new build after the crash has every row in its graph');

$node->stop;
done_testing();
