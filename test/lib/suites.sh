#!/usr/bin/env bash
# test/lib/suites.sh: runs every test suite against the installed extension.
# Called by test/all.sh as the unprivileged server account, from a private
# copy of the source tree (pg_regress and prove write their results there).
#
#   suites.sh [suite ...]      default: all of lint regress pgtap isolation client tap embed ngram
#
# Prints one line per suite and a final "suites: N passed, M failed" line;
# exits non-zero when any suite failed.
set -uo pipefail

cd "$(dirname "$0")/../.."
source test/lib/env.sh

SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(lint regress pgtap isolation client tap embed ngram)

CLUSTER=$(mktemp -d /tmp/retrieval-cluster.XXXXXX)
cleanup() { test/lib/cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

export PGHOST=$CLUSTER PGPORT=5432 PGUSER=postgres
need_cluster=0
for s in "${SUITES[@]}"; do
	case "$s" in regress | pgtap | isolation | client | embed | ngram) need_cluster=1 ;; esac
done
if [ $need_cluster = 1 ]; then
	log "starting a throwaway cluster in $CLUSTER"
	test/lib/cluster.sh start "$CLUSTER"
fi

REGRESS_TESTS=$(ls sql/*.sql | grep -v "sql/retrieval--" | xargs -n1 basename | sed 's/\.sql$//')
ISOLATION_TESTS=$(ls test/isolation/specs/*.spec 2>/dev/null | xargs -r -n1 basename | sed 's/\.spec$//')

run_lint() {
	bash test/lint-install-script.sh
}

run_regress() {
	"$PGXS_DIR/src/test/regress/pg_regress" --host="$PGHOST" --port="$PGPORT" \
		--user=postgres --inputdir=. --outputdir=. --dbname=retrieval_regress $REGRESS_TESTS ||
		{ [ -f regression.diffs ] && head -200 regression.diffs; return 1; }
}

run_pgtap() {
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS retrieval_tap" -c "CREATE DATABASE retrieval_tap" &&
		pg_prove --dbname retrieval_tap --host "$PGHOST" --port "$PGPORT" --username postgres \
			--failures test/pgtap/*.sql
}

run_isolation() {
	[ -n "$ISOLATION_TESTS" ] || return 0
	"$PGXS_DIR/src/test/isolation/pg_isolation_regress" --host="$PGHOST" \
		--port="$PGPORT" --user=postgres --inputdir=test/isolation --outputdir=test/isolation \
		--dbname=retrieval_isolation $ISOLATION_TESTS ||
		{ [ -f test/isolation/regression.diffs ] && head -200 test/isolation/regression.diffs; return 1; }
}

run_client() {
	(cd test/client && bash run.sh)
}

# The default embedding model against its oracles (TF.js outputs, 5,019
# tokenizer cases), read in place from $SHARED_DATA/../reference/use-lite;
# skipped with a message when they are absent.  Debian's python3 on purpose
# (python3-psycopg2, python3-numpy), not whatever python3 is first on PATH.
run_embed() {
	/usr/bin/python3 test/embed/check_reference.py &&
		PGBIN="$PGBIN" /usr/bin/python3 test/embed/check_models.py
}

# The n-gram index against a brute-force Python reference on generated
# corpora (counts, continuations, documents, LSM folds and merges, VACUUM,
# SEAL scores and <%>, SQLSTATEs).
run_ngram() {
	/usr/bin/python3 test/ngram/check_ngram.py
}

run_tap() {
	rm -rf tmp_check && mkdir -p tmp_check
	TESTDIR=$(pwd) PATH="$PGBIN:$PATH" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
		prove -I "$PGXS_DIR/src/test/perl" -I test/perl -I . test/t/*.pl
}

passed=0
failed=0
failed_names=()
for s in "${SUITES[@]}"; do
	log "suite: $s"
	if "run_$s"; then
		echo "suite $s: ok"
		passed=$((passed + 1))
	else
		echo "suite $s: FAILED"
		failed=$((failed + 1))
		failed_names+=("$s")
	fi
done

echo
[ $failed = 0 ] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed = 0 ]
