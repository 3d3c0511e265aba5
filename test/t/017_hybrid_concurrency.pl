# 017_hybrid_concurrency.pl: concurrent writes, VACUUM and searches on a
# hybrid text index.
#
# Why: an insert into a hybrid index places the row's element in the graph
# (HNSW locking: other inserts link to it, scans walk it) and then appends
# the BM25 document keyed by that element (write buffer, flushes and merges
# under their own locks); VACUUM deletes elements, repairs links and then
# removes the documents of dead elements; a fused (<=>) scan reads both
# streams and fetches heap rows with its snapshot, dropping rows it cannot
# see.  Run together, nothing may error, a LIMIT query must always return
# its rows, a committed row must be found at once, and afterwards the
# index must answer exactly as a sequential scan.
#
# How: pgbench writers (3 clients: insert, update, delete single rows, each
# with a unique term and a common one), readers (2 clients: insert a row of
# their own, check that <=> with the row's exact text finds it first, that
# <=> and <~> LIMIT 10 return 10 rows, delete the row) and a client running
# VACUUM in a loop; a REINDEX CONCURRENTLY in the middle (its validation
# inserts through aminsert).  A tiny write buffer (buffer_pages = 2) makes
# flushes and merges constant.  Then: no failed transaction, no ERROR in the
# server log; after a final VACUUM the index counts exactly the rows with
# terms, every row is found first by its unique term, and for each
# operator the index scan's top-20 equals the sequential scan's, the whole
# <@> ranking too, and a full <~> scan returns every row once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use RetrievalTest;

my $node = PostgreSQL::Test::Cluster->new('hybrid_conc');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 30
autovacuum = off
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
CREATE FUNCTION rand_doc() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg((ARRAY['plants', 'sunlight', 'energy', 'leaves', 'water', 'bank', 'interest', 'market',
    'money', 'inflation', 'cake', 'flour', 'oven', 'sugar', 'pasta', 'football', 'goal', 'match', 'runner',
    'team', 'compiler', 'code', 'memory', 'database', 'index', 'volcano', 'magma', 'earthquake', 'river',
    'ocean', 'the', 'a', 'of', 'and', 'green', 'fast', 'old', 'new', 'big', 'small'])[1 + floor(40 * random() ^ 1.5)::int], ' ')
  FROM generate_series(1, 1 + (random() * 6)::int) $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, client int NOT NULL, body text NOT NULL);
INSERT INTO docs (client, body) SELECT -1, 'u' || i || ' common ' || rand_doc() FROM generate_series(1, 400) i;
SELECT setval('docs_id_seq', 1000);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (buffer_pages = 2);
CREATE TABLE search_log (fused int, semantic int, own_found int);
});
$node->safe_psql('postgres', hybrid_ranking_functions_sql());

my $dir = $node->basedir;
append_to_file("$dir/insert.sql", q{
INSERT INTO docs (client, body) SELECT :client_id, 'u' || nextval('docs_id_seq') || ' common ' || rand_doc();
});
append_to_file("$dir/update.sql", q{
\set r random(1, 2000)
UPDATE docs SET body = split_part(body, ' ', 1) || ' common ' || rand_doc() WHERE id = :r AND client < 100;
});
append_to_file("$dir/delete.sql", q{
\set r random(1, 2000)
DELETE FROM docs WHERE id = :r AND client < 100;
});
# a row of the client's own: its exact text puts it first for <=> (cosine
# distance 0 and the only row with the unique term); its earlier versions
# (deleted rows with the same text) are in the index but not visible
append_to_file("$dir/search.sql", q{
INSERT INTO docs (client, body) VALUES (:client_id + 100, 'mine' || :client_id || 'x' || :random_seed || ' common plants energy') RETURNING id AS mine \gset
SELECT count(*) AS fused FROM (SELECT id FROM docs ORDER BY body <=> 'common plants' LIMIT 10) s \gset
SELECT count(*) AS semantic FROM (SELECT id FROM docs ORDER BY body <~> 'money and banks' LIMIT 10) s \gset
SELECT count(*) AS own FROM (SELECT id FROM docs ORDER BY body <=> ('mine' || :client_id || 'x' || :random_seed || ' common plants energy') LIMIT 1) s WHERE id = :mine \gset
DELETE FROM docs WHERE id = :mine;
INSERT INTO search_log VALUES (:fused, :semantic, :own);
});
append_to_file("$dir/vacuum.sql", q{
VACUUM docs;
\sleep 300 ms
});

my $log_offset = -s $node->logfile;
my $secs = 15;
my $writers = pgbench_start($node, 'writers', 3, $secs, "$dir/insert.sql\@5", "$dir/update.sql\@2", "$dir/delete.sql\@1");
my $readers = pgbench_start($node, 'readers', 2, $secs, "$dir/search.sql");
my $vacuum = pgbench_start($node, 'vacuum', 1, $secs, "$dir/vacuum.sql");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('writers', 'readers', 'vacuum')", '6'),
	'6 pgbench clients are running');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY docs_idx');
ok($writers->{h}->pumpable, 'the writers were still running during REINDEX CONCURRENTLY');
my $written = pgbench_finish($writers, 'writers');
my $searched = pgbench_finish($readers, 'readers');
my $vacuums = pgbench_finish($vacuum, 'vacuum');
note "writers: $written writes, readers: $searched searches, $vacuums VACUUMs";
cmp_ok($written, '>', 50, 'a useful number of concurrent writes');
cmp_ok($searched, '>', 10, 'a useful number of concurrent searches');
cmp_ok($vacuums, '>', 2, 'VACUUM ran during the writes');
# The own row must come first even when the graph cannot reach it: its
# earlier versions (same text, same embedding) pile up until VACUUM and can
# form an island of identical vectors, so the fused scan must not trust the
# graph's exhaustion (it once did: 9 misses in 780 searches).
is($node->safe_psql('postgres', 'SELECT count(*), min(fused), max(fused), min(semantic), max(semantic), sum(own_found) FROM search_log'),
	"$searched|10|10|10|10|$searched",
	"all $searched searches returned 10 rows for <=> and <~> and found their own just-committed row first");
is($node->safe_psql('postgres', 'SELECT count(*) FROM docs WHERE client >= 100'), '0', 'the readers deleted their rows');

my $idx = 'SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off;';

sub check_all
{
	my ($when) = @_;
	is( $node->safe_psql('postgres',
			"$idx SELECT count(*) FROM docs a WHERE (SELECT b.id FROM docs b ORDER BY b.body <@> split_part(a.body, ' ', 1) LIMIT 1) <> a.id"),
		'0', "every row is found first by its unique term $when");
	hybrid_check_rankings($node, queries => [ 'common plants', 'money and banks' ], n => 20,
		settings => 'SET retrieval.ef_search = 1000;', when => $when);
	hybrid_check_rankings($node, queries => [ 'common', 'cake oven sugar' ], ops => ['<@>'], when => $when);
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM docs');
	# Concurrent inserts and VACUUM's repairs can leave graph elements
	# without incoming links (the HNSW issue's open XXX; 007 tolerates 0.2%
	# after churn): rows once, and at most 1% of them missing here, where
	# the readers' identical texts make islands (measured: 3 of 1,947, 5 of
	# 2,447, 13 of about 2,600).
	my ($got, $distinct) = split /\|/, $node->safe_psql('postgres',
			"$idx SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM docs ORDER BY body <~> 'football') s");
	is($distinct, $got, "a full <~> index scan returns each row at most once $when");
	diag "rows a full <~> index scan misses $when: " . ($rows - $got) if $got != $rows;
	cmp_ok($rows - $got, '<=', 0.01 * $rows,
		"a full <~> index scan misses at most 1% of the $rows rows $when ($got returned)");
}

$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs');
is( $node->safe_psql('postgres',
		"SELECT documents = (" . rows_with_terms_sql('docs') . ") FROM retrieval.index_stats('docs_idx')"),
	't', 'after VACUUM the index counts exactly the rows with terms');
check_all('after the concurrent writes and VACUUM');

my $log = slurp_file($node->logfile, $log_offset);
my @bad = grep { /ERROR|PANIC|TRAP|WARNING|terminated by signal/ } split /\n/, $log;
is(scalar(@bad), 0, 'no ERROR, WARNING or crash in the server log') or diag join("\n", @bad[ 0 .. ($#bad < 20 ? $#bad : 19) ]);

$node->stop;
done_testing();
