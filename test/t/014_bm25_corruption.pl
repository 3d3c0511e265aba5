# 014_bm25_corruption.pl: BM25 scans of damaged index pages never crash.
#
# Why: a scan decodes lengths, counts, offsets, block numbers and varints
# read from segment and write buffer pages.  When those bytes are not what
# the format says (a damaged file, or a hot-standby query reading a page
# the primary has meanwhile reused for another segment, which raises no
# recovery conflict), the backend must raise ERROR with SQLSTATE XX002
# (index_corrupted) or return some rows: never crash, fail an assertion or
# read outside a page.
#
# How: a table of a few thousand generated rows with a BM25 index of
# several segments plus a write buffer; the node is stopped and the BM25
# data pages of the index file (found by their special space: page type 3,
# page id 0xFF91) are damaged in several ways, each with three fixed seeds:
# garbage at the start of the contents (segment headers, line pointers),
# garbage at random offsets, pages copied over other pages (as a reused
# page looks to a standby), damaged special space, zeroed contents.  After
# each, every query (top-10 searches through the index and index_stats)
# either succeeds or fails with XX002 (also when a damaged doc table gives
# a heap TID beyond the table), and no backend crashed (server log,
# postmaster start time).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetrievalTest;

my $node = PostgreSQL::Test::Cluster->new('bm25_corrupt');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
autovacuum = off
log_statement = none
restart_after_crash = on
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION retrieval;
SELECT setseed(0.14);
CREATE TABLE docs (id bigserial PRIMARY KEY, body text NOT NULL);
INSERT INTO docs (body) SELECT (SELECT string_agg('t' || floor(60 * random() ^ 2)::int, ' ')
  FROM generate_series(1, 2 + (random() * 25)::int + 0 * i)) FROM generate_series(1, 3000) i;
CREATE INDEX docs_idx ON docs USING retrieval (body) WITH (model = 'none', language = 'simple', buffer_pages = 2);
});
# later inserts flush the tiny write buffer into segments too small to be
# merged with the built one (a merge needs at most 4x the documents)
for my $round (1 .. 3)
{
	$node->safe_psql(
		'postgres', qq{
SELECT setseed(0.$round);
INSERT INTO docs (body) SELECT (SELECT string_agg('t' || floor(60 * random() ^ 2)::int, ' ')
  FROM generate_series(1, 2 + (random() * 25)::int + 0 * i)) || ' r$round' FROM generate_series(1, 150) i;
});
}
my $segments = $node->safe_psql('postgres', "SELECT segments FROM retrieval.index_stats('docs_idx')");
cmp_ok($segments, '>=', 2, "the index has several segments ($segments)");
like(
	$node->safe_psql(
		'postgres', "SET enable_seqscan = off; EXPLAIN SELECT id FROM docs ORDER BY body <@> 't1' LIMIT 10"),
	qr/Index Scan using docs_idx/,
	'the searches go through the index');

my $file = $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('docs_idx')");
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

my $blcksz = 8192;
my $header = 24;			  # SizeOfPageHeaderData
my $special = $blcksz - 8;	  # MAXALIGN(sizeof(RetrievalPageOpaqueData))
my $original = slurp_file($file);
my $npages = length($original) / $blcksz;

# BM25 data pages (segments and write buffer): special page_type 3, page_id 0xFF91
my @data_pages;
for my $p (1 .. $npages - 1)
{
	my ($next, $type, $id) = unpack('L S S', substr($original, $p * $blcksz + $special, 8));
	push @data_pages, $p if $type == 3 && $id == 0xFF91;
}
# segment pages are filled whole (pd_lower = pd_upper = pd_special); buffer pages hold items
my @segment_pages = grep { unpack('S', substr($original, $_ * $blcksz + 12, 2)) == $special } @data_pages;
cmp_ok(scalar(@segment_pages), '>=', 5, scalar(@segment_pages) . ' segment pages');
cmp_ok(scalar(@data_pages), '>=', 10, scalar(@data_pages) . " BM25 data pages of $npages");

sub garbage
{
	my ($n) = @_;
	return join('', map { chr(int(rand(256))) } 1 .. $n);
}

# Each variant damages a copy of the original file.
my %variants = (
	'garbage at the start of the contents' => sub {
		my ($img) = @_;
		substr($$img, $_ * $blcksz + $header, 64) = garbage(64) for grep { rand() < 0.3 } @data_pages;
	},
	'garbage at random offsets' => sub {
		my ($img) = @_;
		for my $p (grep { rand() < 0.25 } @data_pages)
		{
			for (1 .. 4)
			{
				my $off = $header + int(rand($special - $header - 16));
				substr($$img, $p * $blcksz + $off, 16) = garbage(16);
			}
		}
	},
	'garbage in segment pages only' => sub {
		my ($img) = @_;
		for my $p (grep { rand() < 0.5 } @segment_pages)
		{
			for (1 .. 4)
			{
				my $off = $header + int(rand($special - $header - 16));
				substr($$img, $p * $blcksz + $off, 16) = garbage(16);
			}
		}
	},
	'large values at random offsets' => sub {
		my ($img) = @_;
		for my $p (grep { rand() < 0.25 } @data_pages)
		{
			for (1 .. 8)
			{
				my $off = $header + 4 * int(rand(($special - $header - 8) / 4));
				substr($$img, $p * $blcksz + $off, 4) = pack('L', 0xFFFFFFFF - int(rand(1000)));
			}
		}
	},
	'pages copied over other pages' => sub {
		my ($img) = @_;
		my @src = map { substr($original, $_ * $blcksz, $blcksz) } @data_pages;
		for my $p (@data_pages)
		{
			substr($$img, $p * $blcksz, $blcksz) = $src[ int(rand(@src)) ] if rand() < 0.1;
		}
	},
	'damaged special space' => sub {
		my ($img) = @_;
		for my $p (@data_pages)
		{
			substr($$img, $p * $blcksz + $special, 8) = garbage(8) if rand() < 0.1;
		}
	},
	'zeroed contents' => sub {
		my ($img) = @_;
		for my $p (@data_pages)
		{
			substr($$img, $p * $blcksz + $header, $special - $header) = "\0" x ($special - $header)
			  if rand() < 0.1;
		}
	},);

my @queries = (
	(map { "SELECT id FROM docs ORDER BY body <@> '$_' LIMIT 10" }
		  ('t0', 't1 t2', 't5 t17 t33', 't59 t58', 'r3 t4', 'r2', 'nosuchterm t12', 't0 t1 t2 t3 t4 t5 t6')),
	"SELECT id FROM docs ORDER BY body <@> 't2 t7' LIMIT 500",
	"SELECT * FROM retrieval.index_stats('docs_idx')");

for my $seed (14, 15, 16)
{
	srand($seed);
	for my $variant (sort keys %variants)
	{
		my $name = "$variant (seed $seed)";
		my $img = $original;
		$variants{$variant}->(\$img);
		open(my $fh, '>:raw', $file) or die "open $file: $!";
		print $fh $img;
		close($fh);

		my $log_offset = -s $node->logfile;
		$node->start;
		my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
		my ($ok, $xx002, @other) = (0, 0);
		for my $q (@queries)
		{
			my ($ret, $out, $err) = $node->psql('postgres',
				"\\set VERBOSITY verbose\nSET enable_seqscan = off;\n$q");
			if ($ret == 0)
			{
				$ok++;
			}
			elsif ($err =~ /ERROR:  XX002: index "docs_idx" contains unexpected data/)
			{
				$xx002++;
			}
			else
			{
				push @other, "$q: $err";
			}
		}
		note("$name: $ok succeeded, $xx002 failed with XX002");
		is(join("\n", @other), '', "$name: every query succeeds or fails with XX002");
		is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
			$started, "$name: no backend crashed (the postmaster did not restart)");
		my $log = substr(slurp_file($node->logfile), $log_offset);
		unlike($log, qr/terminated by signal|was terminated|TRAP:/, "$name: no crash in the server log");
		$node->stop;
	}
}

# the undamaged file still answers
open(my $fh, '>:raw', $file) or die "open $file: $!";
print $fh $original;
close($fh);
$node->start;
is($node->safe_psql('postgres', "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM docs ORDER BY body <@> 't1' LIMIT 10) s"),
	'10', 'the restored index answers');
$node->stop;

done_testing();
