# 007_hnsw_churn_recall.pl: HNSW recall under churn (delete + VACUUM +
# re-insert) compared with a fresh build.
#
# Why: the issue requires that deleting and re-inserting 30% of the rows
# leaves recall within 0.01 of a freshly built index.  VACUUM marks dead
# elements deleted and repairs the links of their neighbours; if the repair
# is too weak, the graph decays and recall drops with every cycle of churn.
#
# How: a deterministic clustered data set (20k rows x 32 dimensions, 50
# Gaussian-like clusters, generated in SQL from setseed) and 100 held-out
# queries from the same distribution; the exact top-10 of each query comes
# from a sequential scan.  recall@10 of the fresh index at ef_search = 40;
# then 30% of the rows are deleted, VACUUMed, re-inserted with the same ids
# and vectors and VACUUMed again; the exact answers must be unchanged and
# recall_after >= recall_fresh - 0.01 (both printed), and a full index scan
# returns every row: the last VACUUM (no dead rows left, so only its cleanup
# runs) links whatever the re-inserts left unreachable.
# When $SHARED_DATA has the GloVe-100 set, the same cycle runs on its first
# 20k vectors with the cosine class (skipped cleanly otherwise), and the
# synthetic cycle runs again with quantization = 'sq8'.  The insert
# path draws levels at random, so recall_after varies a little between runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('churn');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
autovacuum = off
log_statement = none
shared_buffers = 128MB
maintenance_work_mem = 256MB
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION retrieval');

my $index_only = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $exact = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

# Runs the whole cycle on table $t (id int PRIMARY KEY, v vector(dims))
# with held-out queries in ${t}_q (q int, v vector(dims)).
sub churn_cycle
{
	my ($t, $opclass, $op, $quant) = @_;
	$quant //= 'none';
	my $start = time;

	# the exact top-10 per query, as "q:id,id,..." lines
	my $truth_query =
	  "SELECT q || ':' || array_to_string(ARRAY(SELECT id FROM $t ORDER BY $t.v $op qq.v, id LIMIT 10), ',') "
	  . "FROM ${t}_q qq ORDER BY q";
	# recall@10 of the index against the stored truth, 3 decimals
	my $recall_query = qq{
SELECT round(avg(cardinality(ARRAY(
         SELECT unnest(ARRAY(SELECT id FROM $t ORDER BY $t.v $op qq.v LIMIT 10))
         INTERSECT SELECT unnest(tr.ids)))) / 10.0, 3)
FROM ${t}_q qq JOIN ${t}_truth tr USING (q)};

	$node->safe_psql('postgres',
		"CREATE INDEX ${t}_idx ON $t USING retrieval (v $opclass) WITH (m = 16, ef_construction = 64, quantization = '$quant')");
	my $nrows = $node->safe_psql('postgres', "SELECT count(*) FROM $t");

	my $truth = $node->safe_psql('postgres', "$exact $truth_query");
	is(scalar(split /\n/, $truth), 100, "$t: exact top-10 of 100 queries");
	$node->safe_psql('postgres',
		"$exact CREATE TABLE ${t}_truth AS SELECT q, ARRAY(SELECT id FROM $t ORDER BY $t.v $op qq.v, id LIMIT 10) AS ids FROM ${t}_q qq"
	);

	like(
		$node->safe_psql('postgres', "$index_only EXPLAIN (COSTS OFF) $recall_query"),
		qr/Index Scan using ${t}_idx/,
		"$t: the recall query reads the HNSW index");
	is($node->safe_psql('postgres', "$exact $recall_query"),
		'1.000', "$t: the recall query gives 1.000 for the exact plan");

	my $recall_fresh =
	  $node->safe_psql('postgres', "$index_only SET retrieval.ef_search = 40; $recall_query");
	cmp_ok($recall_fresh, '>=', 0.5, "$t: the fresh index is useful (recall\@10 $recall_fresh)");

	my $unreachable_fresh = unreachable($t, $op);

	# churn: delete 30%, VACUUM, re-insert the same rows, VACUUM
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE ${t}_gone AS SELECT * FROM $t WHERE id % 10 IN (1, 4, 7);
DELETE FROM $t WHERE id % 10 IN (1, 4, 7);
VACUUM $t;
INSERT INTO $t SELECT * FROM ${t}_gone ORDER BY id;
VACUUM $t;
});
	is($node->safe_psql('postgres', "SELECT count(*) FROM $t"), $nrows, "$t: $nrows rows again");
	my $truth_after = $node->safe_psql('postgres', "$exact $truth_query");
	ok($truth_after eq $truth, "$t: the exact answers are unchanged by the churn");

	my $recall_after =
	  $node->safe_psql('postgres', "$index_only SET retrieval.ef_search = 40; $recall_query");
	my $unreachable_after = unreachable($t, $op);
	diag sprintf(
		"%s: recall\@10 at ef_search = 40: fresh build %s, after 30%% churn %s; "
		  . "rows a full index scan misses: fresh %d, after churn %d (%.1f s)",
		$t, $recall_fresh, $recall_after, $unreachable_fresh, $unreachable_after, time - $start);
	cmp_ok($recall_after, '>=', $recall_fresh - 0.01,
		"$t: recall after churn ($recall_after) within 0.01 of the fresh build ($recall_fresh)");
	is($unreachable_after, 0, "$t: after the churn and VACUUM a full index scan returns every row");
}

# rows of $t that a full index scan (ef_search = 1000, no LIMIT) never returns
sub unreachable
{
	my ($t, $op) = @_;
	return $node->safe_psql('postgres',
		"$index_only SET retrieval.ef_search = 1000; SELECT (SELECT count(*) FROM $t WHERE v IS NOT NULL) - "
		  . "count(*) FROM (SELECT id FROM $t ORDER BY v $op (SELECT v FROM ${t}_q WHERE q = 1)) s");
}

# --- synthetic: 50 clusters in 32 dimensions ------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT setseed(0.42);
CREATE TABLE centers AS
  SELECT c, ARRAY(SELECT random() * 10 FROM generate_series(1, 32)) AS a FROM generate_series(1, 50) c;
-- noise: (sum of 3 uniforms - 1.5) * 0.8 per dimension
CREATE FUNCTION noisy(c int) RETURNS vector LANGUAGE sql VOLATILE AS $$
  SELECT array_agg(a[d] + (random() + random() + random() - 1.5) * 0.8 ORDER BY d)::vector
  FROM centers, generate_series(1, 32) d WHERE centers.c = noisy.c
$$;
CREATE TABLE syn (id int PRIMARY KEY, v vector(32) NOT NULL);
SELECT setseed(0.43);
INSERT INTO syn SELECT i, noisy(1 + (i * 7) % 50) FROM generate_series(1, 20000) i;
CREATE TABLE syn_q AS SELECT q, noisy(1 + (q * 13) % 50)::vector(32) AS v FROM generate_series(1, 100) q;
});
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT v::text) FROM syn'),
	'20000|20000', 'synthetic data: 20000 distinct vectors');
churn_cycle('syn', 'vector_l2_ops', '<->');

# the same churn with sq8 codes (inserts prune with decoded codes, VACUUM
# repairs with them, scans re-rank from the heap): recall must hold as well
$node->safe_psql('postgres',
	'CREATE TABLE syn8 (id int PRIMARY KEY, v vector(32) NOT NULL); '
	  . 'INSERT INTO syn8 SELECT * FROM syn ORDER BY id; CREATE TABLE syn8_q AS SELECT * FROM syn_q;');
churn_cycle('syn8', 'vector_l2_ops', '<->', 'sq8');

# --- GloVe-100 (angular), when the shared data set is present ---------------------
SKIP:
{
	my $dir = ($ENV{SHARED_DATA} // '') . '/ann/glove100-200k';
	skip "GloVe data not found in \$SHARED_DATA ($dir)", 1
	  unless $ENV{SHARED_DATA} && -r "$dir/base.fvecs" && -r "$dir/queries.fvecs";

	# fvecs: per vector an int32 dimension count and that many float32
	my $read_fvecs = sub {
		my ($file, $count) = @_;
		open(my $fh, '<:raw', $file) or die "cannot open $file: $!";
		my @rows;
		for (1 .. $count)
		{
			my $got = read($fh, my $head, 4);
			last unless $got == 4;
			my $dim = unpack('l<', $head);
			read($fh, my $body, 4 * $dim) == 4 * $dim or die "short read in $file";
			push @rows, '[' . join(',', map { sprintf('%.9g', $_) } unpack("f<$dim", $body)) . ']';
		}
		close $fh;
		return \@rows;
	};
	my $base = $read_fvecs->("$dir/base.fvecs", 20000);
	my $queries = $read_fvecs->("$dir/queries.fvecs", 100);
	is(scalar(@$base) . '/' . scalar(@$queries), '20000/100', 'GloVe: 20000 base vectors, 100 queries read');

	my $copy = $node->basedir . '/glove.copy';
	my $qcopy = $node->basedir . '/glove_q.copy';
	open(my $out, '>', $copy) or die;
	print $out ($_ + 1) . "\t" . $base->[$_] . "\n" for 0 .. $#$base;
	close $out;
	open($out, '>', $qcopy) or die;
	print $out ($_ + 1) . "\t" . $queries->[$_] . "\n" for 0 .. $#$queries;
	close $out;
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE glove (id int PRIMARY KEY, v vector(100) NOT NULL);
COPY glove FROM '$copy';
CREATE TABLE glove_q (q int, v vector(100));
COPY glove_q FROM '$qcopy';
});
	churn_cycle('glove', 'vector_cosine_ops', '<=>');
}

$node->stop;
done_testing();
