# 013_bm25_merge_crash.pl: a crash in the middle of a BM25 merge, and a
# scan that outlives merges while their pages are reused.
#
# Why: a merge writes the merged segment into pages taken from the index's
# free runs (or new pages), then, in one metapage WAL record, publishes it
# and releases the merged segments' pages.  A crash between the two must
# leave the old segments in place and usable, with no page used twice.  A
# scan copies the metapage once and later reads the segments it listed
# (again when the executor wants more rows): their pages must not be reused
# while such a scan can run (bm25_space.c).
#
# How: (1) in a REPEATABLE READ transaction the sequential-scan ranking of a
# query is taken, then an index-scan cursor on it fetches one row; another
# session inserts, deletes and VACUUMs enough for many flushes, merges and
# page releases; the cursor's remaining rows (recomputed with larger k over
# the old segment list) must complete the ranking exactly.  (2) after deletes
# and VACUUMs (so that free runs exist), a session with the developer option
# retrieval.bm25_merge_pause inserts until a merge has written its segment
# and waits before publishing it (announced in the server log); scans run
# meanwhile; then the postmaster and all its children get SIGKILL.  After
# crash recovery, for several queries the full index scan equals the
# sequential scan sorted by the operator (rows, scores, ties by TID), every
# committed row is found through the index, VACUUM releases the pages of the
# unpublished segment (and finds no such page without a crash), the index
# counts exactly the live rows after VACUUM, and the same holds after more
# writes that flush, merge and reuse pages.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my $node = PostgreSQL::Test::Cluster->new('bm25_merge_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
autovacuum = off
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
CREATE FUNCTION rand_doc() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg('t' || floor(60 * random() ^ 2)::int, ' ') FROM generate_series(1, 1 + (random() * 25)::int) $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, body text NOT NULL);
INSERT INTO docs (body) SELECT 'common ' || rand_doc() FROM generate_series(1, 800);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
});
$node->safe_psql('postgres', bm25_ranking_functions_sql());

# one round of churn: new rows (flushes, merges), the oldest out, VACUUM
sub churn
{
	my ($rows) = @_;
	$node->safe_psql('postgres',
		"INSERT INTO docs (body) SELECT 'common ' || rand_doc() FROM generate_series(1, $rows)");
	$node->safe_psql('postgres',
		"DELETE FROM docs WHERE id IN (SELECT id FROM docs ORDER BY id LIMIT $rows)");
	$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) docs');
}

# --- (1) a cursor's scan outlives merges and page releases --------------------
my $q = 't1 t2 t7';
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $expected = $reader->query_safe("SELECT seq_list('$q')");
$reader->query_safe(
	'SET LOCAL enable_indexscan = on; SET LOCAL enable_seqscan = off; '
	  . 'SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off');
like(
	$reader->query_safe("EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY body <@> '$q'"),
	qr/Index Scan using docs_idx/,
	'the cursor reads the index');
$reader->query_safe(
	"DECLARE c CURSOR FOR SELECT id || ':' || (body <@> '$q') FROM docs ORDER BY body <@> '$q'");
my $first = $reader->query_safe('FETCH 1 FROM c');
my $segs_before = $node->safe_psql('postgres', "SELECT segments FROM retrieval.index_stats('docs_idx')");
churn(400) for 1 .. 4;
my $rest = $reader->query_safe('FETCH ALL FROM c');
my $got = join(' ', grep { length } $first, split(/\n/, $rest));
ok($got eq $expected && length($expected) > 0,
	'a cursor opened before 4 rounds of flushes, merges and VACUUM returns exactly the ranking of its snapshot')
  or diag "cursor: " . substr($got, 0, 300) . "\nseq:    " . substr($expected, 0, 300);
$reader->query_safe('COMMIT');
$reader->quit;
note "segments before the churn: $segs_before";

# the released pages become reusable now that the cursor is gone
churn(400) for 1 .. 2;
my $pages_mid = $node->safe_psql('postgres', "SELECT pg_relation_size('docs_idx') / 8192");
churn(400) for 1 .. 6;
my $pages_end = $node->safe_psql('postgres', "SELECT pg_relation_size('docs_idx') / 8192");
cmp_ok($pages_end, '<=', $pages_mid,
	"6 more rounds of churn reuse pages: $pages_mid pages before, $pages_end after");
my $vacuum_offset = -s $node->logfile;
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) docs');
ok(!$node->log_contains(qr/unreferenced pages/, $vacuum_offset), 'without a crash VACUUM finds no unreferenced page');

# --- (2) a crash between writing a merged segment and publishing it ------------
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM docs');
my $log_offset = -s $node->logfile;
my $merger = $node->background_psql('postgres');
$merger->query_safe("SET retrieval.bm25_merge_pause = '10min'");
$merger->query_until(qr/started/,
	"\\echo started\nINSERT INTO docs (body) SELECT 'common ' || rand_doc() FROM generate_series(1, 5000);\n");
ok($node->wait_for_log(qr/BM25 merge of index "docs_idx" paused/, $log_offset),
	'a merge has written its segment and waits before publishing it');
my @queries = ('common', 't0', 't1 t7', 't3 t3 t20', 't10 t11 t12 t13 t14 t15', 't59 t58');
is($node->safe_psql('postgres', "SELECT idx_list('t1 t7') = seq_list('t1 t7')"),
	't', 'scans during the paused merge read the old segments');
# a commit flushes the WAL written so far, the merge's pages and the record
# that took them from the free runs included: they must survive the crash
$node->safe_psql('postgres', 'CREATE TABLE wal_flushed AS SELECT 1 AS x');

my @killed = crash_node($node);
eval { $merger->quit };
ok(wait_gone(@killed), 'killed server processes are gone');
$log_offset = -s $node->logfile;
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress', $log_offset),
	'restart went through crash recovery');

sub check_all
{
	my ($when) = @_;
	bm25_check_rankings($node, \@queries, $when);
	my $found = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_sort = off; SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM docs ORDER BY body <@> 'common') s");
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM docs');
	is($found, "$rows|$rows", "every row ($rows) is found once through the index $when");
}

is($node->safe_psql('postgres', 'SELECT count(*) FROM docs'), $committed,
	'the rows of the interrupted INSERT are gone, the committed ones are there');
check_all('after a crash mid-merge');
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) docs');
ok($node->log_contains(qr/BM25 index "docs_idx": [1-9]\d* unreferenced pages \(of an interrupted flush or merge\) released/, $log_offset),
	'VACUUM releases the pages of the merged segment that was never published');
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) docs');
ok(!$node->log_contains(qr/unreferenced pages/, $log_offset), 'a second VACUUM finds none');
is( $node->safe_psql('postgres',
		"SELECT documents = (SELECT count(*) FROM docs) FROM retrieval.index_stats('docs_idx')"),
	't', 'after VACUUM the index counts exactly the live rows');
check_all('after VACUUM');

churn(400) for 1 .. 3;
is( $node->safe_psql('postgres',
		"SELECT documents = (SELECT count(*) FROM docs) FROM retrieval.index_stats('docs_idx')"),
	't', 'after more flushes, merges and reuse the index counts exactly the live rows');
check_all('after more writes');

$node->stop;
done_testing();
