# 012_bm25_concurrency.pl: concurrent inserts and searches on a BM25 index.
#
# Why: inserts append to the write buffer under the metapage lock and, when
# it is full, one of them seals it, writes a segment and merges segments
# (under the flush lock) while other inserts keep appending to the new
# buffer and scans read the metapage, the sealed chain, the buffer and the
# segments.  Nothing may error, lose a row or count one twice; a scan with
# LIMIT 10 must always return 10 rows; REINDEX CONCURRENTLY (whose
# validation inserts through aminsert) must give the same answers.
#
# How: pgbench with 3 clients inserting single rows (each has a unique
# term and a common one) and 2 clients searching (LIMIT 10 through the
# index; a search for a just-committed row of the same client must find
# it), a tiny write buffer (buffer_pages = 2) so flushes and merges happen
# constantly, a REINDEX CONCURRENTLY in the middle; then every row is found
# by its unique term, the full index scan equals the sequential scan, and
# the index counts every row; the same after REINDEX and VACUUM.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use RetrievalTest;

my $node = PostgreSQL::Test::Cluster->new('bm25_conc');
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
  SELECT string_agg('t' || floor(40 * random() ^ 2)::int, ' ') FROM generate_series(1, 1 + (random() * 20)::int) $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, client int NOT NULL, body text NOT NULL);
INSERT INTO docs (client, body) SELECT -1, 'u' || i || ' common ' || rand_doc() FROM generate_series(1, 1000) i;
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
CREATE TABLE search_log (n int, own_found int);
});
$node->safe_psql('postgres', bm25_ranking_functions_sql());

my $dir = $node->basedir;
append_to_file("$dir/insert.sql", q{
INSERT INTO docs (client, body) SELECT :client_id, 'u' || nextval('docs_id_seq') || ' common ' || rand_doc();
});
# find the client's own latest row by its unique term, and 10 rows for 'common'
append_to_file("$dir/search.sql", q{
INSERT INTO docs (client, body) VALUES (:client_id + 100, 'mine' || :client_id || 'x' || :random_seed || ' common') RETURNING id AS mine \gset
SELECT count(*) AS n FROM (SELECT id FROM docs ORDER BY body <@> 'common t3' LIMIT 10) s \gset
SELECT count(*) AS own FROM (SELECT id FROM docs ORDER BY body <@> ('mine' || :client_id || 'x' || :random_seed) LIMIT 1) s WHERE id = :mine \gset
DELETE FROM docs WHERE id = :mine;
INSERT INTO search_log VALUES (:n, :own);
});

my $writers = pgbench_start($node, 'writers', 3, 6, "$dir/insert.sql");
my $readers = pgbench_start($node, 'readers', 2, 6, "$dir/search.sql");
ok($node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('writers', 'readers')", '5'),
	'5 pgbench clients are running');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY docs_idx');
ok($writers->{h}->pumpable, 'the writers were still running during REINDEX CONCURRENTLY');
my $inserted = pgbench_finish($writers, 'writers');
my $searched = pgbench_finish($readers, 'readers');
note "writers: $inserted inserts, readers: $searched searches";
cmp_ok($inserted, '>', 100, 'a useful number of concurrent inserts');
cmp_ok($searched, '>', 20, 'a useful number of concurrent searches');
is($node->safe_psql('postgres', 'SELECT count(*) FROM docs'), 1000 + $inserted, "docs has 1000 + $inserted rows");
is($node->safe_psql('postgres', 'SELECT count(*), min(n), max(n), sum(own_found) FROM search_log'),
	"$searched|10|10|$searched", "all $searched searches returned 10 rows and found the row their client had just committed");

sub check_all
{
	my ($when) = @_;
	is( $node->safe_psql('postgres',
			"SET enable_seqscan = off; SELECT count(*) FROM docs a WHERE (SELECT b.id FROM docs b ORDER BY b.body <@> split_part(a.body, ' ', 1) LIMIT 1) <> a.id"),
		'0', "every row is found first by its unique term $when");
	for my $q ('common', 't0 t1', 't7 t7 t30')
	{
		my $i = $node->safe_psql('postgres', "SELECT idx_list('$q')");
		my $s = $node->safe_psql('postgres', "SELECT seq_list('$q')");
		ok($i eq $s, "'$q': full index scan = sequential scan $when")
		  or diag "index: " . substr($i, 0, 300) . "\nseq:   " . substr($s, 0, 300);
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <@> 'common') s"),
		$node->safe_psql('postgres', 'SELECT count(*) FROM docs'), "the full scan for 'common' returns every row $when");
}

check_all('after the concurrent inserts');
$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs');
is($node->safe_psql('postgres', "SELECT documents = (SELECT count(*) FROM docs) FROM retrieval.index_stats('docs_idx')"),
	't', 'after VACUUM the index counts exactly the rows');
check_all('after VACUUM');
$node->safe_psql('postgres', 'REINDEX INDEX docs_idx');
check_all('after REINDEX');

$node->stop;
done_testing();
