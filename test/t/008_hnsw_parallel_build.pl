# 008_hnsw_parallel_build.pl: CREATE INDEX for HNSW with parallel workers.
#
# Why: a parallel build inserts into one shared graph from several
# processes (per-element locks, a shared entry point), trains the binary
# codec on rows that different processes read, and falls back to on-disk
# inserts when its shared memory is full.  None of that can be seen in
# EXPLAIN output, and its answers are not reproducible, so the checks are
# against exact answers: the worker really ran (the DEBUG1 message with the
# number of launched workers), top-10 recall against a sequential scan,
# and full index scans that return every indexed row once.
#
# How: 6,000 deterministic 24-dimensional rows (plus a NULL and a zero
# vector); for L2 and cosine, with quantization none, sq8 and binary: a
# serial build and a parallel build (max_parallel_maintenance_workers = 1,
# min_parallel_table_scan_size = 0), recall@10 over 25 queries at
# ef_search 100 (parallel >= 0.9 and within 0.05 of serial), full scans.
# Then: CREATE INDEX CONCURRENTLY in parallel; two serial builds answer
# identically (serial builds stay reproducible); a 2,000-dimensional table
# larger than the shared memory the build may take (the NOTICE of the
# fallback, every row reachable); progress in pg_stat_progress_create_index
# (tuples_done reaches the rows of all participants); an expression that fails in the middle of
# a parallel build (a clean error, no index); a statement_timeout during a
# parallel build (cancelled, the server keeps running).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $DIM = 24;

my $node = PostgreSQL::Test::Cluster->new('hnsw_parallel');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
autovacuum = off
max_worker_processes = 8
max_parallel_workers = 8
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION retrieval;
CREATE FUNCTION hvec(i int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS \$\$
  SELECT array_agg((abs(hashint4(i * 1000 + d)) % 10001)::real / 1000 - 5 ORDER BY d)::vector($DIM)
  FROM generate_series(1, $DIM) d
\$\$;
CREATE TABLE items (id int PRIMARY KEY, v vector($DIM));
INSERT INTO items SELECT i, hvec(i) FROM generate_series(1, 6000) i;
INSERT INTO items VALUES (6001, NULL), (6002, array_fill(0::real, ARRAY[$DIM])::vector($DIM));
ANALYZE items;
CREATE TABLE queries (k int PRIMARY KEY, v vector($DIM));
INSERT INTO queries SELECT k, hvec(100000 + k) FROM generate_series(1, 25) k;
});

my $PARALLEL =
  "SET max_parallel_maintenance_workers = 1; SET min_parallel_table_scan_size = 0; "
  . "SET maintenance_work_mem = '64MB'; SET client_min_messages = debug1;";
my $SERIAL = "SET max_parallel_maintenance_workers = 0; SET client_min_messages = debug1;";
my $LAUNCHED = qr/parallel build of HNSW index "(\w+)": 1 of 1 workers launched/;
my $BY_INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET retrieval.ef_search = 100;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

# run a CREATE INDEX; returns its stderr (NOTICE and DEBUG messages)
sub build
{
	my ($settings, $ddl) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "$settings $ddl");
	is($ret, 0, "built: $ddl") or diag $err;
	return $err;
}

# top-10 ids per query, "k|id,id,..." lines
sub top10
{
	my ($settings, $op) = @_;
	return $node->safe_psql('postgres',
		"$settings SELECT k, (SELECT string_agg(id::text, ',') FROM "
		  . "(SELECT id FROM items ORDER BY v $op q.v LIMIT 10) s) FROM queries q ORDER BY k");
}

sub recall
{
	my ($got, $want) = @_;
	my %want = map { my ($k, $ids) = split /\|/; ($k => { map { $_ => 1 } split /,/, $ids }) }
	  split /\n/, $want;
	my ($hit, $all) = (0, 0);
	for my $line (split /\n/, $got)
	{
		my ($k, $ids) = split /\|/, $line;
		for my $id (split /,/, $ids // '')
		{
			$hit++ if $want{$k}{$id};
		}
		$all += scalar keys %{ $want{$k} };
	}
	return $all ? $hit / $all : 0;
}

# every indexed row exactly once (the tolerance of 005_hnsw_standby.pl: see
# docs/architecture.md, "Reachability")
sub check_full_scan
{
	my ($name, $op, $indexed) = @_;
	my ($count, $distinct) = split /\|/,
	  $node->safe_psql('postgres',
		"$BY_INDEX SET retrieval.ef_search = 1000; SELECT count(*), count(DISTINCT id) FROM "
		  . "(SELECT id FROM items ORDER BY v $op (SELECT v FROM queries WHERE k = 1)) s");
	my $rows = $node->safe_psql('postgres', "SELECT count(*) FROM items WHERE $indexed");
	my $allowed = $rows * 0.002 > 1 ? int($rows * 0.002) : 1;
	is($distinct, $count, "$name: a full index scan returns no row twice");
	ok($count <= $rows && $rows - $count <= $allowed,
		"$name: a full index scan returns the $rows indexed rows, missing at most $allowed ($count)");
}

my $exact = {};
for my $case (['l2', '<->', 'vector_l2_ops', 'v IS NOT NULL'],
	['cosine', '<=>', 'vector_cosine_ops', 'v IS NOT NULL AND vector_norm(v) > 0'])
{
	my ($metric, $op, $opclass, $indexed) = @$case;
	$exact->{$op} = top10($EXACT, $op);
	for my $quant ('none', 'sq8', 'binary')
	{
		my $ddl = "CREATE INDEX items_idx ON items USING retrieval (v $opclass) WITH (quantization = '$quant')";

		my $err = build($SERIAL, $ddl);
		unlike($err, $LAUNCHED, "$metric/$quant: no worker when max_parallel_maintenance_workers = 0");
		my $serial_recall = recall(top10($BY_INDEX, $op), $exact->{$op});
		$node->safe_psql('postgres', 'DROP INDEX items_idx');

		$err = build($PARALLEL, $ddl);
		like($err, $LAUNCHED, "$metric/$quant: one parallel worker launched");
		like($node->safe_psql('postgres', "$BY_INDEX EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v $op (SELECT v FROM queries WHERE k = 1) LIMIT 10"),
			qr/Index Scan using items_idx/, "$metric/$quant: queries use the index");
		my $parallel_recall = recall(top10($BY_INDEX, $op), $exact->{$op});
		note "$metric/$quant recall\@10: serial $serial_recall, parallel $parallel_recall";
		cmp_ok($parallel_recall, '>=', 0.9, "$metric/$quant: parallel build recall\@10 >= 0.9");
		cmp_ok($parallel_recall, '>=', $serial_recall - 0.05,
			"$metric/$quant: parallel build recall\@10 within 0.05 of the serial build's ($serial_recall)");
		check_full_scan("$metric/$quant parallel", $op, $indexed);
		$node->safe_psql('postgres', 'DROP INDEX items_idx');
	}
}

# --- CREATE INDEX CONCURRENTLY, in parallel -----------------------------------------------
{
	my $err = build($PARALLEL,
		"CREATE INDEX CONCURRENTLY items_cic ON items USING retrieval (v vector_l2_ops)");
	like($err, $LAUNCHED, 'concurrent build: one parallel worker launched');
	cmp_ok(recall(top10($BY_INDEX, '<->'), $exact->{'<->'}), '>=', 0.9, 'concurrent build: recall@10 >= 0.9');
	check_full_scan('concurrent build', '<->', 'v IS NOT NULL');
	is($node->safe_psql('postgres', "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_cic'::regclass"),
		't', 'concurrent build: the index is valid');
	$node->safe_psql('postgres', 'DROP INDEX items_cic');
}

# --- serial builds stay reproducible ------------------------------------------------------
{
	my $ddl = 'CREATE INDEX items_idx ON items USING retrieval (v vector_l2_ops) WITH (m = 6, ef_construction = 20)';
	my $q = "$BY_INDEX SET retrieval.ef_search = 10; SELECT string_agg(id::text, ',') FROM "
	  . "(SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE k = 2) LIMIT 30) s";
	build($SERIAL, $ddl);
	my $first = $node->safe_psql('postgres', $q);
	my $size = $node->safe_psql('postgres', "SELECT pg_relation_size('items_idx')");
	$node->safe_psql('postgres', 'DROP INDEX items_idx');
	build($SERIAL, $ddl);
	is($node->safe_psql('postgres', $q), $first, 'two serial builds answer identically');
	is($node->safe_psql('postgres', "SELECT pg_relation_size('items_idx')"), $size, 'two serial builds have the same size');
	$node->safe_psql('postgres', 'DROP INDEX items_idx');
}

# --- more rows than the shared memory holds: the rest goes through inserts ---------------
# 2,000 dimensions: about 8 kB per element, 64MB of maintenance_work_mem
# holds about 8,000; a + b * b over pairs of 100 random vectors gives 8,500 distinct rows.
$node->safe_psql(
	'postgres', q{
CREATE TABLE base (i int PRIMARY KEY, v vector(2000));
INSERT INTO base SELECT i, (SELECT array_agg(((abs(hashint4(i * 5000 + d)) % 2001)::real / 1000 - 1)) FROM generate_series(1, 2000) d)::vector
  FROM generate_series(0, 99) i;
CREATE TABLE big (id int PRIMARY KEY, v vector(2000));
ALTER TABLE big ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO big SELECT n, a.v + b.v * b.v FROM generate_series(0, 8499) n
  JOIN base a ON a.i = n % 100 JOIN base b ON b.i = n / 100;
ANALYZE big;
});
{
	my $err = build($PARALLEL,
		'CREATE INDEX big_l2 ON big USING retrieval (v vector_l2_ops) WITH (m = 8, ef_construction = 32)');
	like($err, $LAUNCHED, 'large build: one parallel worker launched');
	like($err, qr/HNSW graph no longer fits into maintenance_work_mem after \d+ rows/,
		'large build: the shared graph filled up and the rest was inserted on disk');
	my $full = "SET enable_seqscan = off; SET retrieval.ef_search = 1000; SELECT count(*), count(DISTINCT id) FROM "
	  . "(SELECT id FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 8499)) s";
	my ($count, $distinct) = split /\|/, $node->safe_psql('postgres', $full);
	is($distinct, $count, 'large build: a full index scan returns no row twice');
	# the tolerance of check_full_scan (0.2%).  These rows come in clusters of
	# 100: before an element's own lists were complete when others could
	# reach it, parallel builds left whole clusters unreachable (about 70 rows)
	cmp_ok($count, '>=', 8500 - 17, "large build: a full index scan returns the 8500 rows, missing at most 17 ($count)");
	is( $node->safe_psql('postgres',
			'SET enable_seqscan = off; SELECT id FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 8499) LIMIT 1'),
		'8499', 'large build: the last row (inserted on disk) is its own nearest neighbour');
	is( $node->safe_psql('postgres',
			'SET enable_seqscan = off; SELECT id FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 3) LIMIT 1'),
		'3', 'large build: an early row is its own nearest neighbour');
}

# --- progress: tuples_done counts the rows of every participant --------------------------
# Polled from another session while a parallel build of big runs.  The leader
# reports the shared count, last after every participant has finished and
# before it writes the pages, so the final figure is all 8,500 rows; counting
# only its own rows would show about half.
{
	my $bg = $node->background_psql('postgres');
	$bg->query_until(qr/started/,
		"$PARALLEL SET maintenance_work_mem = '256MB';\n\\echo started\n"
		  . "CREATE INDEX big_progress ON big USING retrieval (v vector_l2_ops) WITH (m = 8, ef_construction = 32);\n");
	my ($max, $seen, $gone) = (0, 0, 0);
	for (1 .. 3000)
	{
		my $r = $node->safe_psql('postgres',
			'SELECT coalesce(max(tuples_done), -1) FROM pg_stat_progress_create_index');
		if ($r >= 0)
		{
			$seen++;
			$max = $r if $r > $max;
		}
		elsif ($seen)
		{
			$gone = 1;
			last;
		}
		usleep(50_000);
	}
	$bg->quit;
	ok($seen && $gone, "the parallel build's progress was visible, then gone ($seen polls)");
	is($max, '8500', 'progress: tuples_done reached the rows of all participants');
	$node->safe_psql('postgres', 'DROP INDEX big_progress');
}

# --- errors and cancellation in a parallel build -----------------------------------------
{
	$node->safe_psql(
		'postgres', qq{
CREATE FUNCTION fails_at(i int, v vector) RETURNS vector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS \$\$
BEGIN
  IF i = 4321 THEN RAISE EXCEPTION 'row % is bad', i; END IF;
  RETURN v;
END \$\$;
});
	my ($ret, $out, $err) = $node->psql('postgres',
		"$PARALLEL CREATE INDEX items_bad ON items USING retrieval ((fails_at(id, v)::vector($DIM)) vector_l2_ops)");
	isnt($ret, 0, 'a failing expression fails the parallel build');
	like($err, $LAUNCHED, 'the failing build had a parallel worker');
	like($err, qr/ERROR:  row 4321 is bad/, 'the expression\'s error is reported');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'items_bad'"),
		'0', 'no index is left behind');

	($ret, $out, $err) = $node->psql('postgres',
		"$PARALLEL SET statement_timeout = '300ms'; CREATE INDEX big_slow ON big USING retrieval (v vector_l2_ops) WITH (m = 32, ef_construction = 200)");
	isnt($ret, 0, 'a parallel build can be cancelled');
	like($err, qr/canceling statement due to statement timeout/, 'the build was cancelled by statement_timeout');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '6002', 'the server still answers');
}

$node->stop;
done_testing();
