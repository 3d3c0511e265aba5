# 010_bm25_crash.pl: crash recovery of BM25 indexes.
#
# Why: after CREATE INDEX (pages logged at the end) every change to a BM25
# index is a GenericXLog record: buffer appends and the metapage counters,
# flushes (sealing the buffer, the new segment's pages, publishing it),
# merges (new segment, replacing the old ones in the metapage) and VACUUM's
# deletion marks and df updates.  After a crash, redo must give an index
# whose scans return exactly the rows and scores that the per-row operator
# computes from the same statistics, and the statistics must again be
# exact after VACUUM.
#
# How: a table with a BM25 index whose write buffer is tiny (buffer_pages =
# 2, so inserts flush and merge all the time); pgbench clients insert,
# update and delete random texts while a tracker commits known rows one
# transaction at a time; the postmaster and all its children get SIGKILL
# mid-write and the node restarts through crash recovery.  Then for several
# queries the full index scan (no LIMIT) equals the sequential scan sorted
# by the operator (same rows, same scores, ties by TID), top-10 too, the
# tracker's committed rows are all found through the index, and after
# VACUUM the index counts exactly the live rows; the same after more writes.
# Last, a CREATE INDEX killed mid-build leaves no index behind.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;
use IPC::Run;
use Time::HiRes qw(time);

$SIG{PIPE} = 'IGNORE';

my $node = PostgreSQL::Test::Cluster->new('bm25_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
synchronous_commit = on
max_connections = 20
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 50
autovacuum_vacuum_scale_factor = 0.05
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
CREATE FUNCTION rand_doc() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg('t' || floor(50 * random() ^ 2)::int, ' ') FROM generate_series(1, 1 + (random() * 30)::int) $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, body text);
INSERT INTO docs (body) SELECT rand_doc() FROM generate_series(1, 1500);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
CREATE TABLE acked (n int PRIMARY KEY, body text NOT NULL);
CREATE INDEX acked_idx ON acked USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
CHECKPOINT;
});
# the whole ranking through the index, and through a sequential scan
$node->safe_psql('postgres', bm25_ranking_functions_sql());

my $script = $node->basedir . '/churn.sql';
append_to_file(
	$script, q{
\set id random(1, 5000)
BEGIN;
INSERT INTO docs (body) VALUES (rand_doc());
UPDATE docs SET body = rand_doc() WHERE id = :id;
DELETE FROM docs WHERE id IN (:id + 1, :id + 2);
END;
});
my ($bench_out, $bench_err) = ('', '');
my $bench;
{
	local $ENV{PGAPPNAME} = 'churn';
	$bench = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-T', '120',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$bench_out, '2>', \$bench_err,
		IPC::Run::timeout(300));
}

# tracker transaction i inserts row i with text "ack<i> common"
sub tracker_txn
{
	my ($i) = @_;
	return "INSERT INTO acked VALUES ($i, 'ack$i common ' || rand_doc());";
}

my $tracker = $node->background_psql('postgres');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'churn'", '4'),
	'4 pgbench clients are running');

my $acked = 0;
for my $phase (1, 2)
{
	my $until = time + 1.5;
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

my @queries = ('t0', 't1 t7', 't3 t3 t20', 't10 t11 t12 t13 t14 t15', 't49 t48');

sub check_all
{
	my ($when) = @_;
	bm25_check_rankings($node, \@queries, $when);
	my $plan = $node->safe_psql('postgres',
		"SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT n FROM acked ORDER BY body <@> 'common' LIMIT 5");
	like($plan, qr/Index Scan using acked_idx/, "acked is read through its index $when");
	my $found = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_sort = off; SELECT count(*), count(DISTINCT n) FROM (SELECT n FROM acked ORDER BY body <@> 'common') s");
	my ($rows, $distinct) = split /\|/, $found;
	ok($rows == $distinct && ($rows == $acked || $rows == $acked + 1),
		"all $acked acknowledged rows (+ maybe the in-flight one) are found through the index $when ($rows)");
	my $bad = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT count(*) FROM acked a WHERE (SELECT b.n FROM acked b ORDER BY b.body <@> ('ack' || a.n) LIMIT 1) <> a.n");
	is($bad, '0', "every acked row is found first by its own unique term $when");
}

check_all('after crash recovery');
cmp_ok($node->safe_psql('postgres', 'SELECT max(id) FROM docs'), '>', 1500, 'rows committed by pgbench survived');

$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs; VACUUM (FREEZE, INDEX_CLEANUP ON) acked;');
is( $node->safe_psql('postgres',
		"SELECT documents = (SELECT count(*) FROM docs WHERE body ~ '[a-z0-9]') FROM retrieval.index_stats('docs_idx')"),
	't', 'after VACUUM the index counts exactly the live rows');
check_all('after VACUUM');

$node->safe_psql(
	'postgres', q{
INSERT INTO docs (body) SELECT rand_doc() FROM generate_series(1, 500);
DELETE FROM docs WHERE id % 5 = 0;
UPDATE docs SET body = rand_doc() WHERE id % 7 = 0;
VACUUM (FREEZE, INDEX_CLEANUP ON) docs;
});
is( $node->safe_psql('postgres',
		"SELECT documents = (SELECT count(*) FROM docs WHERE body ~ '[a-z0-9]') FROM retrieval.index_stats('docs_idx')"),
	't', 'after more writes and VACUUM the index counts exactly the live rows');
check_all('after more writes and a second VACUUM');

# --- a crash during CREATE INDEX ------------------------------------------------
$node->safe_psql('postgres',
	"CREATE TABLE big (id int, body text); INSERT INTO big SELECT i, repeat(rand_doc() || ' ', 40) FROM generate_series(1, 20000) i; CHECKPOINT;");
my ($build_out, $build_err) = ('', '');
my $build = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		"CREATE INDEX big_idx ON big USING retrieval (body) WITH (model = 'none', language = 'simple')" ],
	'<', \undef, '>', \$build_out, '2>', \$build_err, IPC::Run::timeout(300));
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_progress_create_index WHERE tuples_done >= 2000 AND relid = 'big'::regclass",
		'1'),
	'CREATE INDEX is under way (progress reported)');
@killed = crash_node($node);
$build->finish;
unlike($build_out, qr/CREATE INDEX/, 'CREATE INDEX did not complete');
ok(wait_gone(@killed), 'killed server processes are gone (2)');
$node->start;
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'big_idx'"),
	'0', 'the interrupted index does not exist');
$node->safe_psql('postgres', "CREATE INDEX big_idx ON big USING retrieval (body) WITH (model = 'none', language = 'simple')");
is($node->safe_psql('postgres', "SELECT documents FROM retrieval.index_stats('big_idx')"),
	'20000', 'a new build after the crash indexes every row');

$node->stop;
done_testing();
