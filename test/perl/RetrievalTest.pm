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
package RetrievalTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils qw(slurp_file);
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(crash_node wait_gone bm25_ranking_functions_sql bm25_check_rankings);

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


# For each query, one test: the whole ranking through the index equals the
# sequential scan's (functions from bm25_ranking_functions_sql) and is not
# empty.
sub bm25_check_rankings
{
	my ($node, $queries, $when) = @_;
	for my $q (@$queries)
	{
		my $idx = $node->safe_psql('postgres', "SELECT idx_list('$q')");
		my $seq = $node->safe_psql('postgres', "SELECT seq_list('$q')");
		ok($idx eq $seq && length($idx) > 0, "'$q': full index scan = sequential scan (rows, scores, order) $when")
		  or diag "index: " . substr($idx, 0, 400) . "\nseq:   " . substr($seq, 0, 400);
	}
}

1;
