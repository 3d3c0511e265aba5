# 018_ngram_crash.pl: crash recovery of n-gram (FM-index) indexes.
#
# Why: after CREATE INDEX every change to an n-gram index is WAL-logged:
# inserts append documents to the write buffer's pages; at 256k buffered
# symbols an insert folds the buffer into a new immutable segment (its
# pages, a new buffer chain, the metapage's segment list) and 8 segments
# of a size tier are merged into one (text recovered from the segments,
# the list swapped in one metapage record); VACUUM rewrites segments that
# hold dead rows.  After a crash, redo must give an index whose documents
# are exactly the visible rows, whose counts are exact again after VACUUM,
# and whose <%> scan returns what the per-row operator gives.
#
# How: a text table with a byte-mode index (WITH (ngrams = on), and a
# tiny BM25 write buffer, buffer_pages = 2, so that the BM25 part of the
# same relation flushes, merges and reuses free pages all the time) and an
# int4[] table with a token-mode index (ngram_ops), ~2000 symbols per
# row; pgbench clients insert rows into both until several folds and a
# merge happened in each, then the postmaster and all its children get
# SIGKILL mid-write and the node restarts through crash recovery.  Then
# for a set of probe n-grams ngram_docs returns exactly the rows
# containing the probe (with occurrences), and after VACUUM ngram_count
# equals the occurrences in the live rows and ngram_stats counts exactly
# the rows and symbols; the <%> index scan's top-20 and whole ranking equal
# the sequential scan's; the same after more writes (deletes among the
# newest rows, so VACUUM rewrites the newest segments and the buffer, not
# everything: rewriting is slow) and VACUUM.  Last, an
# unlogged table's n-gram indexes are empty after a crash and work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

$SIG{PIPE} = 'IGNORE';

my $node = PostgreSQL::Test::Cluster->new('ngram_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
synchronous_commit = on
max_connections = 20
autovacuum = off
log_statement = none
});
$node->start;

# ~2 kB texts over a small vocabulary (ASCII: bytes = characters), token
# arrays of 2000 ids skewed towards small ones
$node->safe_psql(
	'postgres', "CREATE EXTENSION retrieval;
" . ngram_corpus_functions_sql() . q{
CREATE TABLE docs (id bigserial PRIMARY KEY, body text);
INSERT INTO docs (body) SELECT rand_doc(300) FROM generate_series(1, 100);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (ngrams = on, model = 'none', buffer_pages = 2);
CREATE TABLE toks (id bigserial PRIMARY KEY, t int4[]);
INSERT INTO toks (t) SELECT rand_toks(2000) FROM generate_series(1, 100);
CREATE INDEX toks_idx ON toks USING retrieval (t ngram_ops);
CHECKPOINT;
});
$node->safe_psql('postgres', hybrid_ranking_functions_sql());

my @byte_probes = ('volcano ', 'the ', 'river ocean', 'gma', 'bank interest ', 'earthquake magma ');
my @token_probes = ('{1,2}', '{2,0,1}', '{3,4}', '{10,1}', '{500}');
my @queries = ('the volcano near the river', 'interest rates and money market', 'fast green plants and water');

sub check_all
{
	my ($when, $exact) = @_;
	ngram_check_index($node, probes => \@byte_probes, exact => $exact, when => $when);
	ngram_check_index($node, table => 'toks', index => 'toks_idx', mode => 'tokens',
		probes => \@token_probes, exact => $exact, when => $when);
	hybrid_check_rankings($node, queries => \@queries, ops => ['<%>'], n => 20, when => $when);
	hybrid_check_rankings($node, queries => [ $queries[0] ], ops => ['<%>'], when => $when);
}

check_all('after the build', 1);

my $script = $node->basedir . '/insert.sql';
append_to_file(
	$script, q{
INSERT INTO docs (body) VALUES (rand_doc(300));
INSERT INTO toks (t) VALUES (rand_toks(2000));
});
my $bench = pgbench_start($node, 'insert', 2, 120, $script);
ok($node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'insert'", '2'),
	'2 pgbench clients are running');

# 8 x 256k more symbols: at least 7 folds, so 8 segments of the first tier
# (with the build's) existed; fewer than 8 segments now: they were merged
my $docs0 = $node->safe_psql('postgres', "SELECT symbols FROM retrieval.ngram_stats('docs_idx')");
my $toks0 = $node->safe_psql('postgres', "SELECT symbols FROM retrieval.ngram_stats('toks_idx')");
ok( $node->poll_query_until(
		'postgres',
		"SELECT (SELECT symbols > $docs0 + 8 * 262144 AND segments < 8 FROM retrieval.ngram_stats('docs_idx')) "
		  . "AND (SELECT symbols > $toks0 + 8 * 262144 AND segments < 8 FROM retrieval.ngram_stats('toks_idx'))"),
	'both indexes folded at least 7 times and merged');
note 'before the crash: '
  . $node->safe_psql('postgres', "SELECT string_agg(s::text, ' ') FROM (SELECT retrieval.ngram_stats('docs_idx') s UNION ALL SELECT retrieval.ngram_stats('toks_idx')) x");
$node->safe_psql('postgres', 'CHECKPOINT');
# more writes after the checkpoint, so that redo replays folds
my $d1 = $node->safe_psql('postgres', "SELECT symbols FROM retrieval.ngram_stats('docs_idx')");
my $t1 = $node->safe_psql('postgres', "SELECT symbols FROM retrieval.ngram_stats('toks_idx')");
ok( $node->poll_query_until(
		'postgres',
		"SELECT (SELECT symbols > $d1 + 2 * 262144 FROM retrieval.ngram_stats('docs_idx')) "
		  . "AND (SELECT symbols > $t1 + 2 * 262144 FROM retrieval.ngram_stats('toks_idx'))"),
	'both indexes folded again after the checkpoint');

my @killed = crash_node($node);
$bench->{h}->finish;
like($bench->{err}, qr/Run was aborted/, 'pgbench was cut off by the crash');
ok(wait_gone(@killed), 'killed server processes are gone');

my $log_offset = -s $node->logfile;
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress', $log_offset),
	'restart went through crash recovery');
cmp_ok($node->safe_psql('postgres', 'SELECT max(id) FROM docs'), '>', 1000, 'rows committed by pgbench survived');
note 'after the crash: '
  . $node->safe_psql('postgres', "SELECT string_agg(s::text, ' ') FROM (SELECT retrieval.ngram_stats('docs_idx') s UNION ALL SELECT retrieval.ngram_stats('toks_idx')) x");
is( $node->safe_psql('postgres',
		"SELECT (SELECT documents FROM retrieval.ngram_stats('docs_idx')) >= (SELECT count(*) FROM docs) AND (SELECT documents FROM retrieval.ngram_stats('toks_idx')) >= (SELECT count(*) FROM toks)"),
	't', 'the indexes hold at least every live row (those of transactions cut off count until VACUUM)');

check_all('after crash recovery', 0);

$node->safe_psql('postgres', 'VACUUM (FREEZE, INDEX_CLEANUP ON) docs; VACUUM (FREEZE, INDEX_CLEANUP ON) toks;');
check_all('after crash recovery and VACUUM', 1);

$node->safe_psql(
	'postgres', q{
INSERT INTO docs (body) SELECT rand_doc(300) FROM generate_series(1, 200);
INSERT INTO toks (t) SELECT rand_toks(2000) FROM generate_series(1, 200);
DELETE FROM docs WHERE id > (SELECT max(id) - 300 FROM docs) AND id % 5 = 0;
DELETE FROM toks WHERE id > (SELECT max(id) - 300 FROM toks) AND id % 7 = 0;
UPDATE docs SET body = rand_doc(100) WHERE id > (SELECT max(id) - 300 FROM docs) AND id % 11 = 0;
VACUUM (FREEZE, INDEX_CLEANUP ON) docs;
VACUUM (FREEZE, INDEX_CLEANUP ON) toks;
});
check_all('after more writes and a second VACUUM', 1);

# --- unlogged: empty indexes from the init fork after a crash -------------------
$node->safe_psql(
	'postgres', q{
CREATE UNLOGGED TABLE ul (id bigserial PRIMARY KEY, body text);
CREATE INDEX ul_idx ON ul USING retrieval (body) WITH (ngrams = on, model = 'none');
CREATE UNLOGGED TABLE ult (id bigserial PRIMARY KEY, t int4[]);
CREATE INDEX ult_idx ON ult USING retrieval (t ngram_ops);
INSERT INTO ul (body) SELECT rand_doc(300) FROM generate_series(1, 200);
INSERT INTO ult (t) SELECT rand_toks(2000) FROM generate_series(1, 200);
CHECKPOINT;
});
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM ul) + (SELECT count(*) FROM ult)'),
	'0', 'unlogged tables are empty after the crash');
is( $node->safe_psql('postgres',
		"SELECT (SELECT documents || '|' || symbols || '|' || segments || '|' || buffered_documents FROM retrieval.ngram_stats('ul_idx')) "
		  . "|| ' ' || (SELECT documents || '|' || symbols || '|' || segments || '|' || buffered_documents FROM retrieval.ngram_stats('ult_idx'))"),
	'0|0|0|0 0|0|0|0', 'unlogged: both n-gram indexes are empty after the crash');
is( $node->safe_psql('postgres',
		"SELECT retrieval.ngram_count('ul_idx', 'the ') || '|' || retrieval.ngram_count('ult_idx', '{0}'::int4[]) || '|' "
		  . "|| (SELECT count(*) FROM retrieval.ngram_docs('ul_idx', 'the ')) || '|' "
		  . "|| (SELECT count(*) FROM (SELECT id FROM ul ORDER BY body <%> 'the volcano') s)"),
	'0|0|0|0', 'unlogged: the empty indexes find nothing');
$node->safe_psql('postgres',
	'INSERT INTO ul (body) SELECT rand_doc(300) FROM generate_series(1, 200); INSERT INTO ult (t) SELECT rand_toks(2000) FROM generate_series(1, 200);');
ngram_check_index($node, table => 'ul', index => 'ul_idx', probes => \@byte_probes, exact => 1,
	when => 'after the crash and new inserts');
ngram_check_index($node, table => 'ult', index => 'ult_idx', mode => 'tokens', probes => \@token_probes, exact => 1,
	when => 'after the crash and new inserts');
hybrid_check_rankings($node, table => 'ul', index => 'ul_idx', queries => \@queries, ops => ['<%>'],
	when => 'after the crash and new inserts');

$node->stop;
done_testing();
