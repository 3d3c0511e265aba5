#!/usr/bin/env bash
# test/demo.sh: THE main-job command (README).  Run as root on Debian 12, or
# as a user with sudo:
#
#   bash test/demo.sh
#
# Installs the Debian packages the project needs, builds and installs the
# extension, starts a throwaway cluster (as the "postgres" account), loads
# the PostgreSQL documentation that Debian ships (postgresql-doc-15: ~1,200
# HTML pages, present on any Debian system once installed), indexes it and
# runs example searches with their timings, then stops and removes the
# cluster.
set -euo pipefail

cd "$(dirname "$0")/.."
source test/lib/env.sh

DOCDIR=/usr/share/doc/postgresql-doc-15/html

install_packages
build_and_install

CLUSTER=$(mktemp -d /tmp/retrieval-demo.XXXXXX)
trap 'test/lib/cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true' EXIT
log "starting a throwaway cluster in $CLUSTER"
test/lib/cluster.sh start "$CLUSTER"

run_sql() {
	psql -X -q -h "$CLUSTER" -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -v docdir="$DOCDIR" "$@"
}

log "loading the corpus: $DOCDIR"
run_sql -c "CREATE EXTENSION retrieval"
start=$(date +%s.%N)
run_sql -f test/demo/load_docs.sql
printf 'loaded in %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

log "searches"
run_sql -f test/demo/demo.sql
log "done; removing the cluster"
