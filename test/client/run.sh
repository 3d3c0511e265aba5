#!/usr/bin/env bash
# test/client/run.sh: the client-library suite.  Installs the pinned npm
# packages (pg, pgvector) and runs the node:test files:
#   compat.test.mjs  pgvector's Node.js API against the extension
#   binary.test.mjs  the pgvector binary wire format, both directions
#   fuzz.test.mjs    seeded text and binary input fuzzing (model.mjs oracle)
#
# Run from test/lib/suites.sh as the server account with PGHOST, PGPORT and
# PGUSER pointing at a running cluster where the extension is installed; each
# test file creates (and drops) its own database.  FUZZ_SEED and FUZZ_CASES
# tune the fuzz.
set -euo pipefail
cd "$(dirname "$0")"

# npm's cache goes to a private temporary directory, so nothing depends on
# HOME or is left behind.
npm_config_cache=$(mktemp -d "${TMPDIR:-/tmp}/retrieval-npm-cache.XXXXXX")
export npm_config_cache
trap 'rm -rf "$npm_config_cache"' EXIT
export npm_config_update_notifier=false

npm_flags=(--no-audit --no-fund --ignore-scripts --loglevel=error)
if [ -f package-lock.json ]; then
	npm ci "${npm_flags[@]}"
else
	npm install "${npm_flags[@]}"
fi

# One file at a time keeps the load on a small machine predictable.
node --test --test-concurrency=1 ./*.test.mjs
