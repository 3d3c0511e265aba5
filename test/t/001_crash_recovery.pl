# 001_crash_recovery.pl: crash recovery of tables and btree indexes on vectors.
#
# Why: the extension's datatype and its btree opclass (vector_ops) must come
# back intact after a crash: WAL replay of btree inserts, splits and posting
# list updates of vector keys has to give an index that agrees with the heap,
# and every commit acknowledged to a client has to survive.
#
# How: pgbench clients insert/update/delete random vectors (with many equal
# keys) in an indexed table while a tracker client commits known rows one
# transaction at a time; then the postmaster and all its children are killed
# with SIGKILL mid-write, and the node restarts through crash recovery.
# Afterwards:
#  - the tracker's table holds exactly what it committed (plus, atomically,
#    all or nothing of the one transaction in flight at the kill);
#  - amcheck (heapallindexed, parent checks) finds every index sound;
#  - index scans (ORDER BY v, ranges, equality, the distance expression
#    index) return exactly the rows and order of a sequential scan + sort.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;
use IPC::Run;
use Time::HiRes qw(time usleep);

# psql / pgbench die with the server; writing to their pipes must not kill us
$SIG{PIPE} = 'IGNORE';

my $DIM = 16;
my $center = '[' . join(',', (5) x $DIM) . ']';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
synchronous_commit = on
max_connections = 20
autovacuum_naptime = 1s
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION retrieval;
CREATE EXTENSION amcheck;

-- 30%: one of 8 constant vectors (many equal keys: btree posting lists);
-- 70%: 16 random values with one decimal in [0, 10].
CREATE FUNCTION rand_vec() RETURNS vector LANGUAGE sql VOLATILE AS \$\$
  SELECT CASE WHEN random() < 0.3
    THEN array_fill(floor(random() * 8)::real, ARRAY[$DIM])::vector($DIM)
    ELSE (SELECT array_agg(round(random() * 100)::real / 10)
            FROM generate_series(1, $DIM))::vector($DIM)
  END
\$\$;

CREATE TABLE items (id bigserial PRIMARY KEY, v vector($DIM) NOT NULL);
INSERT INTO items (v) SELECT rand_vec() FROM generate_series(1, 5000);
CREATE INDEX items_v_idx ON items (v);
CREATE INDEX items_dist_idx ON items ((v <-> '$center'));

CREATE TABLE acked (n int PRIMARY KEY, v vector($DIM) NOT NULL);
CREATE INDEX acked_v_idx ON acked (v);
CHECKPOINT;
});

# --- concurrent churn: pgbench -------------------------------------------
my $script = $node->basedir . '/churn.sql';
append_to_file(
	$script, q{
\set id random(1, 8000)
BEGIN;
INSERT INTO items (v) VALUES (rand_vec());
UPDATE items SET v = rand_vec() WHERE id = :id;
DELETE FROM items WHERE id = :id + 1;
UPDATE items SET v = v + v WHERE id = :id + 2;
END;
});
my ($bench_out, $bench_err) = ('', '');
my $bench;
{
	# (PostgreSQL::Test::Cluster sets PGAPPNAME for everything; name the churn)
	local $ENV{PGAPPNAME} = 'churn';
	$bench = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-T', '120',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$bench_out, '2>', \$bench_err,
		IPC::Run::timeout(300));
}

# --- the tracker: one known transaction at a time, commits acknowledged ----
# Transaction i inserts row i with vector tvec(i) and adds 1 to the last
# element of row floor(i/2).  tvec(i) starts with i, so ORDER BY v = ORDER BY n.
sub tvec
{
	my ($i, $last) = @_;
	return '[' . join(',', $i, $i % 7, $i % 3, (0) x ($DIM - 4), $last) . ']';
}

sub tracker_txn
{
	my ($i) = @_;
	my $half = int($i / 2);
	return "BEGIN; INSERT INTO acked VALUES ($i, '"
	  . tvec($i, 0)
	  . "'); UPDATE acked SET v = v + '"
	  . tvec(0, 1)
	  . "' WHERE n = $half; COMMIT;";
}

# the state of acked after transactions 1..$n, one "n:v" per row in n order
sub expected_acked
{
	my ($n) = @_;
	return join(',',
		map { "$_:" . tvec($_, (2 * $_ <= $n) + (2 * $_ + 1 <= $n)) } 1 .. $n);
}

my $tracker = $node->background_psql('postgres');
$tracker->query_safe('SET synchronous_commit = on');

# wait until all pgbench clients are connected and working
my $running = $node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'churn'", '4');
if (!$running)
{
	$bench->pump_nb;
	diag "pgbench stdout: $bench_out\npgbench stderr: $bench_err";
}
ok($running, '4 pgbench clients are running');

my $acked = 0;
for my $phase (1, 2)
{
	my $until = time + 1.2;
	while (time < $until)
	{
		$tracker->query_safe(tracker_txn($acked + 1));
		$acked++;
	}
	# a checkpoint in the middle of the churn: redo starts from here
	$tracker->query_safe('CHECKPOINT') if $phase == 1;
}
note "tracker: $acked acknowledged commits";
cmp_ok($acked, '>', 10, 'tracker committed a useful number of transactions');

# one more tracker transaction in flight while we pull the plug
$tracker->query_until(qr/inflight/,
	"\\echo inflight\n" . tracker_txn($acked + 1) . "\n");

# --- the crash ---------------------------------------------------------------
my @killed = crash_node($node);

# the clients notice and exit
eval { $tracker->quit };
$bench->finish;
note "pgbench stdout:\n$bench_out\npgbench stderr:\n$bench_err";
like($bench_err, qr/Run was aborted/, 'pgbench was cut off by the crash');

# --- crash recovery ------------------------------------------------------------
# The new postmaster refuses to start while the old one's PID is alive (even
# as a zombie not yet reaped), so wait until all killed processes are gone.
ok(wait_gone(@killed), 'killed server processes are gone');
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress'),
	'restart went through crash recovery');
ok($node->log_contains('redo done at'), 'redo finished');

# --- acknowledged commits survived; the in-flight one is all or nothing -----
my $enable_index = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $acked_state = $node->safe_psql('postgres',
	"$enable_index SELECT string_agg(n || ':' || v::text, ',') FROM (SELECT n, v FROM acked ORDER BY v) s"
);
my $plan = $node->safe_psql('postgres',
	"$enable_index EXPLAIN (COSTS OFF) SELECT n, v FROM acked ORDER BY v");
like($plan, qr/Index Scan using acked_v_idx/, 'acked is read through its vector index');
my $state_ok = $acked_state eq expected_acked($acked)
  || $acked_state eq expected_acked($acked + 1);
ok($state_ok,
	"acked holds exactly the $acked acknowledged transactions (+ all or none of the in-flight one)"
);
if (!$state_ok)
{
	diag "expected (first 300 chars): " . substr(expected_acked($acked), 0, 300);
	diag "got      (first 300 chars): " . substr($acked_state, 0, 300);
}
my $acked_count = $node->safe_psql('postgres', 'SELECT count(*) FROM acked');
note 'the in-flight transaction ' . ($acked_count > $acked ? 'committed' : 'was lost');
ok($acked_count == $acked || $acked_count == $acked + 1,
	"acked row count ($acked_count) is $acked or " . ($acked + 1));

# pgbench's committed work is there too
my $max_id = $node->safe_psql('postgres', 'SELECT max(id) FROM items');
cmp_ok($max_id, '>', 5000, 'rows committed by pgbench survived');

# --- amcheck ---------------------------------------------------------------------
sub check_indexes
{
	my ($when) = @_;
	for my $idx (qw(items_pkey items_v_idx items_dist_idx acked_pkey acked_v_idx))
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SELECT bt_index_parent_check('$idx', heapallindexed => true, rootdescend => true)"
		);
		is($ret . $err, '0', "amcheck $idx $when");
	}
	for my $tab (qw(items acked))
	{
		is( $node->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('$tab')"),
			'0', "verify_heapam $tab $when");
	}
}
check_indexes('after crash recovery');

# --- index scans agree with sequential scans ---------------------------------------
my $enable_seq =
  'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';

# Runs $query through an index (whose name must appear in the plan) and
# through a sequential scan; the outputs must be identical.
sub same_as_seqscan
{
	my ($name, $index, $query, $expected_rows) = @_;

	my $iplan = $node->safe_psql('postgres', "$enable_index EXPLAIN (COSTS OFF) $query");
	my $splan = $node->safe_psql('postgres', "$enable_seq EXPLAIN (COSTS OFF) $query");
	like($iplan, qr/Index (Only )?Scan using $index/, "$name: index plan uses $index");
	unlike($splan, qr/Index/, "$name: reference plan has no index");

	my $iout = $node->safe_psql('postgres', "$enable_index $query");
	my $sout = $node->safe_psql('postgres', "$enable_seq $query");
	my @ilines = split /\n/, $iout;
	my @slines = split /\n/, $sout;
	is(scalar(@ilines), $expected_rows, "$name: $expected_rows rows") if defined $expected_rows;
	cmp_ok(scalar(@slines), '>', 0, "$name: not empty");
	my $same = $iout eq $sout;
	ok($same, "$name: index scan = sequential scan (" . scalar(@ilines) . " rows)");
	if (!$same)
	{
		for my $i (0 .. $#slines)
		{
			next if defined $ilines[$i] && $ilines[$i] eq $slines[$i];
			diag "first difference at row $i: index <"
			  . ($ilines[$i] // 'none')
			  . "> seqscan <$slines[$i]>";
			last;
		}
	}
}

sub compare_scans
{
	my ($when) = @_;
	my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	my $lo = '[' . join(',', 2, (0) x ($DIM - 1)) . ']';
	my $hi = '[' . join(',', (5) x $DIM) . ']';

	same_as_seqscan("ORDER BY v $when", 'items_v_idx',
		'SELECT id, v FROM items ORDER BY v, id', $count);
	same_as_seqscan("range $when", 'items_v_idx',
		"SELECT id, v FROM items WHERE v >= '$lo' AND v <= '$hi' ORDER BY v, id");
	same_as_seqscan(
		"equal keys $when",
		'items_v_idx',
		"SELECT k, (SELECT count(*) FROM items WHERE v = array_fill(k::real, ARRAY[$DIM])::vector) "
		  . "FROM generate_series(0, 7) k",
		8);
	same_as_seqscan("distance order $when", 'items_dist_idx',
		"SELECT id, v <-> '$center' FROM items ORDER BY v <-> '$center', id LIMIT 200",
		200);
	same_as_seqscan(
		"distance range $when",
		'items_dist_idx',
		"SELECT id, v <-> '$center' FROM items WHERE v <-> '$center' < 8 ORDER BY v <-> '$center', id");
}
compare_scans('after crash recovery');

# --- the recovered node keeps working --------------------------------------------
$node->safe_psql(
	'postgres', qq{
INSERT INTO items (v) SELECT rand_vec() FROM generate_series(1, 500);
UPDATE items SET v = v - '$center' WHERE id % 10 = 0;
DELETE FROM items WHERE id % 7 = 0;
VACUUM items;
});
check_indexes('after more writes and VACUUM');
compare_scans('after more writes and VACUUM');

$node->stop;
done_testing();
