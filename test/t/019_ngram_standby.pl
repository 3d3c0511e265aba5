# 019_ngram_standby.pl: n-gram (FM-index) indexes on a streaming hot standby.
#
# Why: an n-gram index is logged as full pages at the end of CREATE INDEX;
# every later change (documents appended to the write buffer, folds into
# new segments, merges of a tier's segments, VACUUM's rewrites, the
# metapage's segment list) is a WAL record.  A standby must replay all of
# it to exactly the primary's pages and answer n-gram queries identically.
#
# How: a primary with wal_consistency_checking = 'all' (the standby
# compares every replayed page with the primary's full image and stops on
# a difference) and a streaming standby.  On the primary: a byte-mode text
# index (WITH (ngrams = on)) and a token-mode int4[] index (ngram_ops)
# built over a few rows, then single-row inserts of ~2000 symbols each
# (several buffer folds and a merge in each index), deletes and updates
# of recent rows,
# VACUUM (segments rewritten without the dead rows), more inserts.  After
# catch-up: no "inconsistent page" in the standby log; on the standby the
# indexes agree with the table (ngram_docs, ngram_count, ngram_stats for
# probe n-grams); ngram_count, ngram_next, ngram_docs, ngram_stats and the
# <%> ranking (index scan) are identical on both nodes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my ($primary, $standby) = start_primary_and_standby(
	'ngram', q{
wal_consistency_checking = 'all'
autovacuum = off
log_statement = none
});

$primary->safe_psql(
	'postgres', "CREATE EXTENSION retrieval;
" . ngram_corpus_functions_sql() . q{
CREATE TABLE docs (id bigserial PRIMARY KEY, body text);
INSERT INTO docs (body) SELECT rand_doc(300) FROM generate_series(1, 100);
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (ngrams = on, model = 'none');
CREATE TABLE toks (id bigserial PRIMARY KEY, t int4[]);
INSERT INTO toks (t) SELECT rand_toks(2000) FROM generate_series(1, 100);
CREATE INDEX toks_idx ON toks USING retrieval (t ngram_ops);
DO $$ BEGIN FOR i IN 1..1300 LOOP
  INSERT INTO docs (body) VALUES (rand_doc(300));
  INSERT INTO toks (t) VALUES (rand_toks(2000));
END LOOP; END $$;
});
is( $primary->safe_psql('postgres',
		"SELECT (SELECT segments < 8 AND symbols > 2000000 FROM retrieval.ngram_stats('docs_idx')) "
		  . "AND (SELECT segments < 8 AND symbols > 2000000 FROM retrieval.ngram_stats('toks_idx'))"),
	't', 'both indexes folded their buffer at least 7 times and merged');
# deletes among the newest rows (after the merge's): VACUUM rewrites the
# newest segment and the buffer (rewriting the merged one would be slow)
$primary->safe_psql(
	'postgres', q{
DELETE FROM docs WHERE id > 1150 AND id % 3 = 0;
DELETE FROM toks WHERE id > 1150 AND id % 4 = 1;
UPDATE docs SET body = rand_doc(50) WHERE id > 1150 AND id % 7 = 0;
VACUUM docs;
VACUUM toks;
INSERT INTO docs (body) SELECT rand_doc(300) FROM generate_series(1, 150);
INSERT INTO toks (t) SELECT rand_toks(2000) FROM generate_series(1, 150);
});
$primary->wait_for_catchup($standby);
ok(!$standby->log_contains('inconsistent page'), 'no inconsistent page found while replaying (wal_consistency_checking)');

my @byte_probes = ('volcano ', 'river ocean', 'gma', 'bank interest ');
my @token_probes = ('{1,2}', '{2,0,1}', '{3,4}', '{500}');

# the standby agrees with the table (counts exact: deleted rows were
# vacuumed, the updated ones' old versions too)
$primary->safe_psql('postgres', 'VACUUM docs; VACUUM toks;');
$primary->wait_for_catchup($standby);
ngram_check_index($standby, probes => \@byte_probes, exact => 1, when => 'on the standby');
ngram_check_index($standby, table => 'toks', index => 'toks_idx', mode => 'tokens', probes => \@token_probes,
	exact => 1, when => 'on the standby');

sub same_on_both
{
	my ($name, $sql) = @_;
	my $p = $primary->safe_psql('postgres', $sql);
	my $s = $standby->safe_psql('postgres', $sql);
	ok($p eq $s && length($p) > 0, "$name: identical on both nodes")
	  or diag "primary: " . substr($p, 0, 300) . "\nstandby: " . substr($s, 0, 300);
}

for my $i ('docs_idx', 'toks_idx')
{
	same_on_both("$i ngram_stats", "SELECT * FROM retrieval.ngram_stats('$i')");
}
for my $p (@byte_probes, 'vol', 'ocean')
{
	same_on_both("docs_idx '$p' ngram_count", "SELECT retrieval.ngram_count('docs_idx', '$p')");
	same_on_both("docs_idx '$p' ngram_next",
		"SELECT string_agg(quote_literal(next) || ':' || count, ' ') FROM retrieval.ngram_next('docs_idx', '$p')");
}
# (ngram_docs on the standby was compared with the table above)
for my $p ('river ocean', 'bank interest ')
{
	same_on_both("docs_idx '$p' ngram_docs",
		"SELECT md5(string_agg(ctid || ':' || occurrences, ' ' ORDER BY ctid)) FROM retrieval.ngram_docs('docs_idx', '$p')");
}
for my $p (@token_probes)
{
	same_on_both("toks_idx '$p' ngram_count", "SELECT retrieval.ngram_count('toks_idx', '$p'::int4[])");
	same_on_both("toks_idx '$p' ngram_next top 10",
		"SELECT string_agg(next || ':' || count, ' ') FROM retrieval.ngram_next('toks_idx', '$p'::int4[], 10)");
}
same_on_both("toks_idx '{3,4}' ngram_docs",
	"SELECT md5(string_agg(ctid || ':' || occurrences, ' ' ORDER BY ctid)) FROM retrieval.ngram_docs('toks_idx', '{3,4}'::int4[])");
my $idx = 'SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off;';
like($standby->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY body <%> 'the volcano' LIMIT 3"),
	qr/Index Scan using docs_idx/, 'the standby plans use the index');
for my $q ('the volcano near the river', 'interest rates and money market', 'fast green plants and water')
{
	same_on_both("<%> '$q' top-20 index scan",
		"$idx SELECT string_agg(id || ':' || d, ' ') FROM (SELECT id, body <%> '$q' AS d FROM docs ORDER BY body <%> '$q' LIMIT 20) s");
	same_on_both("<%> '$q' full index scan",
		"$idx SELECT md5(string_agg(id || ':' || d, ' ')) FROM (SELECT id, body <%> '$q' AS d FROM docs ORDER BY body <%> '$q') s");
}
my ($ret, $out, $err) = $standby->psql('postgres', "INSERT INTO docs (body) VALUES ('x')");
isnt($ret, 0, 'INSERT fails on the standby');

$primary->safe_psql('postgres', "INSERT INTO docs (body) VALUES ('zzqx unique words')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM retrieval.ngram_docs('docs_idx', 'zzqx')"),
	'1', 'the standby finds a row inserted later (write buffer)');
ok(!$standby->log_contains('inconsistent page'), 'still no inconsistent page on the standby');

$standby->stop;
$primary->stop;
done_testing();
