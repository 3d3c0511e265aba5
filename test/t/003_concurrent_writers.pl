# 003_concurrent_writers.pl: concurrent writers on vector-indexed tables,
# with online index builds running at the same time.
#
# Why: btree indexes on vectors (vector_ops) are maintained by many backends
# at once, and CREATE INDEX CONCURRENTLY / REINDEX CONCURRENTLY must not lose
# rows inserted or updated during their scan and validation phases; vector
# arithmetic in concurrent UPDATEs must not lose increments.
#
# How: pgbench clients, each transaction inserting a random vector, adding
# [1,...,1] to one of 10 accumulator vectors and replacing one random
# vector, run for a few seconds while CREATE INDEX CONCURRENTLY, CREATE
# UNIQUE INDEX CONCURRENTLY and REINDEX INDEX CONCURRENTLY run on the
# table.  Afterwards: the row count is the initial count plus the number of
# transactions pgbench reports; the accumulators sum to [N,...,N]; every
# index is valid and passes amcheck with heapallindexed; index scans equal
# sequential scans.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $DIM = 16;
my $ones = '[' . join(',', (1) x $DIM) . ']';
my $initial = 2000;

my $node = PostgreSQL::Test::Cluster->new('writers');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 20
autovacuum_naptime = 1s
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION retrieval;
CREATE EXTENSION amcheck;

-- 30%: one of 8 constant vectors (equal keys), 70%: random one-decimal values
CREATE FUNCTION rand_vec() RETURNS vector LANGUAGE sql VOLATILE AS \$\$
  SELECT CASE WHEN random() < 0.3
    THEN array_fill(floor(random() * 8)::real, ARRAY[$DIM])::vector($DIM)
    ELSE (SELECT array_agg(round(random() * 100)::real / 10)
            FROM generate_series(1, $DIM))::vector($DIM)
  END
\$\$;

CREATE TABLE items (id bigserial PRIMARY KEY, client int NOT NULL, v vector($DIM) NOT NULL);
INSERT INTO items (client, v) SELECT -1, rand_vec() FROM generate_series(1, $initial);
CREATE INDEX items_v_idx ON items (v);

CREATE TABLE acc (id int PRIMARY KEY, v vector($DIM) NOT NULL);
INSERT INTO acc SELECT i, array_fill(0::real, ARRAY[$DIM]) FROM generate_series(1, 10) i;
CREATE INDEX acc_v_idx ON acc (v);
});

my $script = $node->basedir . '/writers.sql';
append_to_file(
	$script, qq{
\\set a random(1, 10)
\\set r random(1, $initial)
BEGIN;
INSERT INTO items (client, v) VALUES (:client_id, rand_vec());
UPDATE acc SET v = v + '$ones' WHERE id = :a;
UPDATE items SET v = rand_vec() WHERE id = :r;
END;
});

my ($bench_out, $bench_err) = ('', '');
my $bench;
{
	# (PostgreSQL::Test::Cluster sets PGAPPNAME for everything; name ours)
	local $ENV{PGAPPNAME} = 'writers';
	$bench = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-T', '4',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$bench_out, '2>', \$bench_err,
		IPC::Run::timeout(300));
}
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'writers'",
		'4'),
	'4 pgbench clients are running');

# online index builds while the writers run
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY items_v_cic ON items (v)');
$node->safe_psql('postgres',
	'CREATE UNIQUE INDEX CONCURRENTLY items_v_id_key ON items (v, id)');
for (1 .. 3)
{
	$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY items_v_idx');
	$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY acc_v_idx');
}
ok($bench->pumpable, 'pgbench was still running during the index builds');

$bench->finish;
is($bench->result(0), 0, 'pgbench exited successfully');
note "pgbench stdout:\n$bench_out\npgbench stderr:\n$bench_err";
my ($n) = $bench_out =~ /number of transactions actually processed: (\d+)/;
like($bench_out, qr/number of failed transactions: 0 /, 'no failed transactions');
ok(defined $n && $n > 0, 'pgbench reported its transaction count');
$n //= -1;
note "pgbench processed $n transactions";

# --- every committed transaction is there, once ---------------------------------
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'),
	$initial + $n, "items has $initial + $n rows");
is( $node->safe_psql('postgres',
		'SELECT string_agg(client::text, \',\' ORDER BY client) FROM (SELECT DISTINCT client FROM items) s'),
	'-1,0,1,2,3',
	'rows from all 4 clients');
is( $node->safe_psql('postgres', 'SELECT sum(v) FROM acc'),
	'[' . join(',', ($n) x $DIM) . ']',
	"accumulators sum to [$n,...,$n]: no lost vector increments");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM acc WHERE v <> array_fill((v::real[])[1], ARRAY[$DIM])::vector"),
	'0',
	'every accumulator has equal elements');

# --- the indexes ---------------------------------------------------------------------
is( $node->safe_psql('postgres',
		"SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY indexrelid::regclass::text) "
		  . "FROM pg_index WHERE indrelid IN ('items'::regclass, 'acc'::regclass) AND indisvalid AND indisready"),
	'acc_pkey,acc_v_idx,items_pkey,items_v_cic,items_v_id_key,items_v_idx',
	'all indexes valid and ready, no leftovers of the concurrent builds');

for my $idx (qw(items_pkey items_v_idx items_v_cic items_v_id_key acc_pkey acc_v_idx))
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT bt_index_parent_check('$idx', heapallindexed => true, rootdescend => true)");
	is($ret . $err, '0', "amcheck $idx");
}

my $enable_seq =
  'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';
my $reference = $node->safe_psql('postgres', "$enable_seq SELECT id, v FROM items ORDER BY v, id");
is(scalar(split /\n/, $reference), $initial + $n, 'reference scan returns every row');
for my $idx (qw(items_v_idx items_v_cic items_v_id_key))
{
	# make $idx the only index on v (the DROPs are rolled back)
	my $drop = join(', ', grep { $_ ne $idx } qw(items_v_idx items_v_cic items_v_id_key));
	my $prefix =
	  "BEGIN; DROP INDEX $drop; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;";
	my $query = 'SELECT id, v FROM items ORDER BY v, id';
	like(
		$node->safe_psql('postgres', "$prefix EXPLAIN (COSTS OFF) $query; ROLLBACK;"),
		qr/Index (Only )?Scan using $idx/,
		"plan uses $idx");
	my $out = $node->safe_psql('postgres', "$prefix $query; ROLLBACK;");
	ok($out eq $reference, "index scan of $idx = sorted sequential scan");
}

$node->stop;
done_testing();
