# 020_ngram_concurrency.pl: concurrent writes and queries on n-gram
# (FM-index) indexes.
#
# Why: writers (inserts appending to the write buffer, the insert that
# folds the buffer into a segment and merges a tier, VACUUM) serialise on
# the n-gram part's write lock, while readers take no heavyweight lock:
# they copy the metapage and read the segments and buffer chain it lists,
# which must never change under them (a fold starts a new chain, merges
# swap the segment list in one record).  No query may error or see a
# half-written document; afterwards nothing may be lost or counted twice.
#
# How: pgbench clients insert ~2000-symbol rows into a text table with a
# byte-mode index (WITH (ngrams = on)) and an int4[] table with a token-mode
# index (ngram_ops), folding the buffers several times, and delete recent
# rows; one client meanwhile runs ngram_count, ngram_next, ngram_docs and
# <%> (index scans) on both: none may error, and <%> 'zebra' LIMIT 10 must
# always return 10 of the 100 initial rows, the only ones with that word
# (never deleted).  Then, before and after VACUUM, the indexes agree with
# the tables (ngram_docs; after VACUUM ngram_count and ngram_stats exactly)
# and the <%> index scan equals the sequential scan.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my $node = PostgreSQL::Test::Cluster->new('ngram_conc');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 30
autovacuum = off
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', "CREATE EXTENSION retrieval;
" . ngram_corpus_functions_sql() . q{
CREATE TABLE docs (id bigserial PRIMARY KEY, body text);
INSERT INTO docs (body) SELECT 'zebra ' || rand_doc(300) FROM generate_series(1, 100);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (ngrams = on, model = 'none');
CREATE TABLE toks (id bigserial PRIMARY KEY, t int4[]);
INSERT INTO toks (t) SELECT rand_toks(2000) FROM generate_series(1, 100);
CREATE INDEX toks_idx ON toks USING retrieval (t ngram_ops);
CREATE TABLE query_log (n int, zebras int, docs_count bigint, docs_rows int, toks_count bigint, toks_next int, toks_rows int);
});
$node->safe_psql('postgres', hybrid_ranking_functions_sql());

my $dir = $node->basedir;
append_to_file("$dir/insert_docs.sql", q{
INSERT INTO docs (body) VALUES (rand_doc(300));
});
append_to_file("$dir/insert_toks.sql", q{
INSERT INTO toks (t) VALUES (rand_toks(2000));
});
# recent rows only (never the initial 100), so VACUUM rewrites little
append_to_file("$dir/delete.sql", q{
\set r random(1, 30)
DELETE FROM docs WHERE id = (SELECT max(id) FROM docs) - :r;
DELETE FROM toks WHERE id = (SELECT max(id) FROM toks) - :r;
});
append_to_file("$dir/query.sql", q{
SET enable_seqscan = off;
SELECT count(*) AS n, count(*) FILTER (WHERE id <= 100) AS z FROM (SELECT id FROM docs ORDER BY body <%> 'zebra' LIMIT 10) s \gset
SELECT count(*) AS v FROM (SELECT id FROM docs ORDER BY body <%> 'the volcano near the river' LIMIT 10) s \gset
SELECT retrieval.ngram_count('docs_idx', 'volcano ') AS dc, (SELECT count(*) FROM retrieval.ngram_docs('docs_idx', 'river ocean')) AS dr \gset
SELECT retrieval.ngram_count('toks_idx', '{1,2}'::int4[]) AS tc, (SELECT count(*) FROM retrieval.ngram_next('toks_idx', '{0}'::int4[], 5)) AS tn, (SELECT count(*) FROM retrieval.ngram_docs('toks_idx', '{3,4}'::int4[])) AS tr \gset
INSERT INTO query_log VALUES (:n, :z, :dc, :dr, :tc, :tn, :tr);
});

my $writers = pgbench_start($node, 'writers', 3, 12, "$dir/insert_docs.sql\@3", "$dir/insert_toks.sql\@2", "$dir/delete.sql\@1");
my $readers = pgbench_start($node, 'readers', 1, 12, "$dir/query.sql");
ok($node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('writers', 'readers')", '4'),
	'4 pgbench clients are running');
my $written = pgbench_finish($writers, 'writers');
my $queried = pgbench_finish($readers, 'readers');
note "writers: $written transactions, readers: $queried";
note 'after the run: '
  . $node->safe_psql('postgres', "SELECT string_agg(s::text, ' ') FROM (SELECT retrieval.ngram_stats('docs_idx') s UNION ALL SELECT retrieval.ngram_stats('toks_idx')) x");
cmp_ok($queried, '>', 10, 'a useful number of concurrent queries');
is( $node->safe_psql('postgres',
		"SELECT count(*) || '|' || min(n) || '|' || max(n) || '|' || min(zebras) || '|' || (min(docs_count) > 0) || '|' || (min(docs_rows) > 0) "
		  . "|| '|' || (min(toks_count) > 0) || '|' || min(toks_next) || '|' || max(toks_next) || '|' || (min(toks_rows) > 0) FROM query_log"),
	"$queried|10|10|10|true|true|true|5|5|true",
	"all $queried concurrent queries returned results (<%> 'zebra' LIMIT 10: 10 initial rows; ngram_next top 5: 5 rows)");
is( $node->safe_psql('postgres',
		"SELECT (SELECT documents - buffered_documents > 100 + 300 FROM retrieval.ngram_stats('docs_idx')) "
		  . "AND (SELECT documents - buffered_documents > 100 + 200 FROM retrieval.ngram_stats('toks_idx'))"),
	't', 'the write buffers were folded into segments several times during the run');

my @byte_probes = ('volcano ', 'the ', 'river ocean', 'gma', 'bank interest ');
my @token_probes = ('{1,2}', '{2,0,1}', '{3,4}', '{500}');

sub check_all
{
	my ($when, $exact) = @_;
	ngram_check_index($node, probes => \@byte_probes, exact => $exact, when => $when);
	ngram_check_index($node, table => 'toks', index => 'toks_idx', mode => 'tokens', probes => \@token_probes,
		exact => $exact, when => $when);
	hybrid_check_rankings($node, queries => [ 'the volcano near the river', 'interest rates and money market' ],
		ops => ['<%>'], n => 20, when => $when);
	hybrid_check_rankings($node, queries => ['fast green plants and water'], ops => ['<%>'], when => $when);
}

check_all('after the concurrent writes', 0);
$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs; VACUUM (FREEZE, INDEX_CLEANUP ON) toks;');
check_all('after VACUUM', 1);

$node->stop;
done_testing();
