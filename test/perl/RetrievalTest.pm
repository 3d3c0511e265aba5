# RetrievalTest.pm: helpers shared by the project's TAP tests (test/t/).
#
# crash_node($node): SIGKILL the postmaster and all its children at the same
#   moment (a real crash mid-write, not a shutdown); returns the killed PIDs.
# wait_gone(@pids): wait until those processes have disappeared (a new
#   postmaster refuses to start while the old PID exists, even as a zombie
#   not yet reaped); true if they did within 60 s.
# bm25_ranking_functions_sql(), bm25_check_rankings($node, \@queries, $when):
#   the BM25 tests' comparison of full index-scan rankings with sequential
#   scans over a table docs (id, body).
# hybrid_ranking_functions_sql(), hybrid_check_rankings($node, %args): the
#   hybrid index tests' comparison of index-scan rankings (<@>, <~>, <=>;
#   <%> for the n-gram tests) with sequential scans, top-N or whole, ties
#   put in id order.
# same_ranking($node, $name, $index_sql, $seq_sql): one test, the two
#   rankings are equal and not empty (both queries return one text value).
# rows_with_terms_sql($table): the number of rows a text index on
#   $table.body counts as documents (the body has at least one term).
# ngram_check_index($node, %args): the n-gram tests' check that an n-gram
#   index agrees with its table (ngram_docs, and after VACUUM ngram_count
#   and ngram_stats) for a list of probe n-grams.
# ngram_corpus_functions_sql(): SQL creating rand_doc(n) (n words of a small
#   skewed vocabulary) and rand_toks(n) (n skewed token ids), the n-gram
#   tests' generated corpora.
# start_primary_and_standby($name, $conf): a streaming primary with the
#   extra postgresql.conf lines $conf, backed up into a started physical
#   standby; returns ($primary, $standby).
package RetrievalTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils qw(slurp_file);
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(crash_node wait_gone bm25_ranking_functions_sql bm25_check_rankings
  hybrid_ranking_functions_sql hybrid_check_rankings same_ranking rows_with_terms_sql
	pgbench_start pgbench_finish ngram_check_index ngram_corpus_functions_sql
	start_primary_and_standby);

sub crash_node
{
	my ($node) = @_;
	my ($pm_pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	my @children;
	opendir(my $proc, '/proc') or die "cannot open /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir $proc)
	{
		my $stat = eval { slurp_file("/proc/$pid/stat") } // next;
		push @children, $pid if $stat =~ /^\d+ \(.*\) \S+ (\d+) /s && $1 == $pm_pid;
	}
	closedir $proc;
	note "postmaster $pm_pid, children: @children";
	$node->kill9;
	kill 'KILL', @children;
	return ($pm_pid, @children);
}

sub wait_gone
{
	my @pids = @_;
	for (1 .. 600)
	{
		return 1 unless grep { kill 0, $_ } @pids;
		usleep(100_000);
	}
	return 0;
}


# SQL creating idx_list(q) and seq_list(q) over a table docs (id, body) with
# a BM25 index: the whole ranking "id:distance ..." through the index, and
# through a sequential scan sorted by the operator (ties by ctid, the
# index's rule).  The BM25 TAP tests compare the two.
sub bm25_ranking_functions_sql
{
	return <<'SQL';
CREATE FUNCTION idx_list(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off;
  SELECT string_agg(id || ':' || d, ' ') INTO r FROM (SELECT id, body <@> q AS d FROM docs ORDER BY body <@> q) s;
  RETURN r;
END $$;
CREATE FUNCTION seq_list(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
  SELECT string_agg(id || ':' || d, ' ') INTO r FROM
    (SELECT id, body <@> q AS d FROM docs WHERE (body <@> q) < 0 ORDER BY 2, ctid) s;
  RETURN r;
END $$;
SQL
}


# One test: the ranking through the index equals the sequential scan's and
# is not empty; on failure, the start of both.
sub same_ranking
{
	my ($node, $name, $index_sql, $seq_sql) = @_;
	my $idx = $node->safe_psql('postgres', $index_sql);
	my $seq = $node->safe_psql('postgres', $seq_sql);
	my $ok = ok($idx eq $seq && length($idx) > 0, $name);
	if (!$ok)
	{
		my @i = split / /, $idx;
		my @s = split / /, $seq;
		my $first = 0;
		$first++ while $first < @i && $first < @s && $i[$first] eq $s[$first];
		diag "first difference at rank " . ($first + 1) . " (index " . scalar(@i) . " rows, seq " . scalar(@s) . " rows)\n"
		  . "index: " . substr($idx, 0, 600) . "\nseq:   " . substr($seq, 0, 600);
	}
	return $ok;
}

# For each query, one test: the whole ranking through the index equals the
# sequential scan's (functions from bm25_ranking_functions_sql) and is not
# empty.
sub bm25_check_rankings
{
	my ($node, $queries, $when) = @_;
	for my $q (@$queries)
	{
		same_ranking($node, "'$q': full index scan = sequential scan (rows, scores, order) $when",
			"SELECT idx_list('$q')", "SELECT seq_list('$q')");
	}
}


# SQL creating hybrid_ranking(tbl, idx, op, q, use_index, n): the ranking of
# table tbl (id, body) by "body op q" as "id:value ...", through the index
# idx (use_index) or through a sequential scan sorted by the value.  The
# query is bound to idx (retrieval.bm25_query), as the bare operator is
# bound by the planner outside PL/pgSQL.  The first n rows, extended to the
# end of the last group of equal values (all rows when n is NULL); within a
# group of equal values the rows are put in id order (the index breaks ties
# by TID, and for <@> by the TID of the row's graph element, which a
# sequential scan cannot know).  Apart from that the index's own order is
# kept, so a row out of order shows.  Rows: for <@> those with a score
# (the index has only those), for <~> and <=> every non-NULL row.  Also
# serves <%> (SEAL, an index WITH (ngrams = on)): rows with a score, as <@>.
sub hybrid_ranking_functions_sql
{
	return <<'SQL';
CREATE FUNCTION hybrid_ranking(tbl regclass, idx regclass, op text, q text, use_index bool, n int DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  bq text := retrieval.bm25_query(q, idx);
  r record;
  result text[] := '{}';
  grp int[] := '{}';
  last float8;
  cnt int := 0;
  sql text;
BEGIN
  IF op NOT IN ('<@>', '<~>', '<=>', '<%>') THEN
    RAISE EXCEPTION 'unknown operator %', op;
  END IF;
  -- every setting both ways: SET LOCAL lasts to the end of the transaction,
  -- which may call this function again
  SET LOCAL enable_bitmapscan = off;
  IF use_index THEN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
    SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off;
    sql := format('SELECT id, body %1$s %2$L AS d FROM %3$s ORDER BY body %1$s %2$L', op, bq, tbl);
  ELSE
    SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
    SET LOCAL enable_sort = on; SET LOCAL enable_incremental_sort = on;
    sql := format('SELECT id, d FROM (SELECT id, body %1$s %2$L AS d FROM %3$s WHERE body IS NOT NULL) s %4$s ORDER BY d, id',
                  op, bq, tbl, CASE WHEN op IN ('<@>', '<%>') THEN 'WHERE d < 0' ELSE '' END);
  END IF;
  FOR r IN EXECUTE sql LOOP
    IF cnt > 0 AND r.d IS DISTINCT FROM last THEN
      result := result || ARRAY(SELECT g || ':' || last FROM unnest(grp) g ORDER BY g);
      grp := '{}';
      EXIT WHEN n IS NOT NULL AND cnt >= n;
    END IF;
    grp := grp || r.id::int;
    last := r.d;
    cnt := cnt + 1;
  END LOOP;
  result := result || ARRAY(SELECT g || ':' || last FROM unnest(grp) g ORDER BY g);
  RETURN array_to_string(result, ' ');
END $$;
SQL
}


# hybrid_check_rankings($node, table => 'docs', index => 'docs_idx',
#   queries => [...], ops => ['<@>', '<~>', '<=>'], n => 20 (undef: all rows),
#   settings => 'SET ...;' (both scans), when => '...'): for each operator
# and query one test, index ranking = sequential scan ranking.
sub hybrid_check_rankings
{
	my ($node, %a) = @_;
	my $t = $a{table} // 'docs';
	my $i = $a{index} // 'docs_idx';
	my $n = defined $a{n} ? $a{n} : 'NULL';
	my $set = $a{settings} // '';
	my $top = defined $a{n} ? "top-$a{n}" : 'full';
	for my $op (@{ $a{ops} // [ '<@>', '<~>', '<=>' ] })
	{
		for my $q (@{ $a{queries} })
		{
			(my $ql = $q) =~ s/'/''/g;
			same_ranking($node, "$t $op '$q': $top index scan = sequential scan (ids, values, order) $a{when}",
				"$set SELECT hybrid_ranking('$t', '$i', '$op', '$ql', true, $n)",
				"$set SELECT hybrid_ranking('$t', '$i', '$op', '$ql', false, $n)");
		}
	}
}


# The number of rows of $table that a text index on body (default language
# and tokenizer) holds as BM25 documents: those with at least one term.
sub rows_with_terms_sql
{
	my ($table) = @_;
	return "SELECT count(*) FROM $table WHERE cardinality(retrieval.tokenize(body)) > 0";
}

# A pgbench run in the background against $node: $clients clients for
# $secs seconds over @scripts (file[@weight]), application_name $name.
sub pgbench_start
{
	my ($node, $name, $clients, $secs, @scripts) = @_;
	my %r = (out => '', err => '');
	local $ENV{PGAPPNAME} = $name;
	$r{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $clients, '-j', '1', '-T', $secs,
			(map { ('-f', $_) } @scripts),
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$r{out}, '2>', \$r{err},
		IPC::Run::timeout(300));
	return \%r;
}

# Wait for a pgbench_start() run; check it succeeded without failed
# transactions or errors; return the number of transactions it processed.
sub pgbench_finish
{
	my ($r, $name) = @_;
	$r->{h}->finish;
	is($r->{h}->result(0), 0, "$name: pgbench exited successfully");
	like($r->{out}, qr/number of failed transactions: 0 /, "$name: no failed transactions");
	unlike($r->{err}, qr/ERROR|aborted/, "$name: no errors");
	diag "$name stdout:\n$r->{out}\nstderr:\n$r->{err}" if $r->{h}->result(0) != 0;
	my ($n) = $r->{out} =~ /number of transactions actually processed: (\d+)/;
	return $n // -1;
}

# ngram_check_index($node, table => 'docs', index => 'docs_idx',
#   mode => 'bytes' (column body, probes are texts) or 'tokens' (column t
#   int4[], probes are arrays like '{3,7}'), probes => [...], exact => 1,
#   when => '...'): for each probe one test, the rows ngram_docs returns
# (ctid and occurrences) are exactly the rows whose value contains the
# probe, with their number of occurrences; with exact (after a VACUUM, when
# dead rows no longer count) also ngram_count = the occurrences in the
# live rows, and one test that ngram_stats counts exactly the non-NULL
# rows and their symbols.  The occurrences are counted in SQL with
# replace(), which counts non-overlapping ones: probes must not overlap
# themselves (no proper prefix that is also a suffix, e.g. 'cat ').  Token
# arrays are compared as strings '(3)(7)...'.
sub ngram_check_index
{
	my ($node, %a) = @_;
	my $t = $a{table} // 'docs';
	my $i = $a{index} // 'docs_idx';
	my $bytes = ($a{mode} // 'bytes') eq 'bytes';
	my $col = $bytes ? 'body' : 't';
	my $str = sub { $bytes ? $_[0] : "('(' || array_to_string($_[0], ')(') || ')')" };
	for my $p (@{ $a{probes} })
	{
		(my $pl = $p) =~ s/'/''/g;
		my $lit = $bytes ? "'$pl'::text" : "'$pl'::int4[]";
		my $ps = $str->($lit);
		my $occ = "(octet_length(" . $str->($col) . ") - octet_length(replace(" . $str->($col) . ", $ps, ''))) / octet_length($ps)";
		my $got = $node->safe_psql(
			'postgres', qq{
WITH idx AS (SELECT ctid, occurrences FROM retrieval.ngram_docs('$i', $lit)),
  tbl AS (SELECT ctid, ($occ)::int AS occurrences FROM $t WHERE strpos(} . $str->($col) . qq{, $ps) > 0)
SELECT (SELECT count(*) FROM idx) || '|' || (SELECT count(*) FROM tbl)
  || '|' || (SELECT count(*) FROM (TABLE idx EXCEPT ALL TABLE tbl) x)
  || '|' || (SELECT count(*) FROM (TABLE tbl EXCEPT ALL TABLE idx) x)
  || '|' || (SELECT coalesce(sum(occurrences), 0) FROM tbl)
  || '|' || } . ($a{exact} ? "retrieval.ngram_count('$i', $lit)" : "(SELECT coalesce(sum(occurrences), 0) FROM tbl)"));
		my ($ni, $nt, $extra, $missing, $sum, $count) = split /\|/, $got;
		ok($ni == $nt && $extra == 0 && $missing == 0 && $nt > 0 && $count == $sum,
			"$i '$p': ngram_docs = the rows containing it ($nt, with occurrences)"
			  . ($a{exact} ? ", ngram_count = their occurrences ($sum)" : '') . " $a{when}")
		  or diag "index rows $ni, table rows $nt, index rows not in the table $extra, table rows not in the index $missing, "
		  . "occurrences in the table $sum, ngram_count $count";
	}
	return unless $a{exact};
	my $len = $bytes ? 'octet_length(body)' : 'cardinality(t)';
	is( $node->safe_psql('postgres',
			"SELECT documents || '|' || symbols FROM retrieval.ngram_stats('$i')"),
		$node->safe_psql('postgres', "SELECT count($col) || '|' || coalesce(sum($len), 0) FROM $t"),
		"$i: ngram_stats counts exactly the rows and their symbols $a{when}");
}

sub ngram_corpus_functions_sql
{
	return <<'SQL';
CREATE FUNCTION rand_doc(n int) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg((ARRAY['plants', 'sunlight', 'energy', 'leaves', 'water', 'bank', 'interest', 'market',
    'money', 'inflation', 'cake', 'flour', 'oven', 'sugar', 'pasta', 'football', 'goal', 'match', 'runner',
    'team', 'compiler', 'code', 'memory', 'database', 'index', 'volcano', 'magma', 'earthquake', 'river',
    'ocean', 'the', 'a', 'of', 'and', 'green', 'fast', 'old', 'new', 'big', 'small'])[1 + floor(40 * random() ^ 1.5)::int], ' ')
  FROM generate_series(1, n) $$;
CREATE FUNCTION rand_toks(n int) RETURNS int4[] LANGUAGE sql VOLATILE AS $$
  SELECT array_agg(floor(1000 * random() ^ 3)::int) FROM generate_series(1, n) $$;
SQL
}


sub start_primary_and_standby
{
	my ($name, $conf) = @_;
	my $primary = PostgreSQL::Test::Cluster->new("${name}_primary");

	$primary->init(allows_streaming => 1);
	$primary->append_conf('postgresql.conf', $conf);
	$primary->start;

	# A physical slot, reserving WAL now: without it a primary that writes
	# WAL faster than the walsender ships it (a bulk build, with
	# wal_consistency_checking's page images) recycles segments the standby
	# still needs, and the standby never catches up.
	$primary->safe_psql('postgres',
		"SELECT pg_create_physical_replication_slot('${name}_standby', true)");
	$primary->backup('backup');
	my $standby = PostgreSQL::Test::Cluster->new("${name}_standby");
	$standby->init_from_backup($primary, 'backup', has_streaming => 1);
	$standby->append_conf('postgresql.conf', "primary_slot_name = '${name}_standby'");
	$standby->start;
	return ($primary, $standby);
}

1;
