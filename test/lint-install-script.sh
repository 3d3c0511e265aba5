#!/usr/bin/env bash
# Static check of the install and upgrade scripts: every object they create
# or reference by name must be qualified with @extschema@ or retrieval. (the
# namespaced API schema, docs/architecture.md "Schema"; built-in pg_catalog
# objects excepted), and nothing may be SECURITY DEFINER.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for f in sql/retrieval--*.sql; do
	# object names right after CREATE ... / support-function keywords
	bad=$(grep -nE '^\s*CREATE (OR REPLACE )?(FUNCTION|TYPE|AGGREGATE|OPERATOR CLASS|OPERATOR FAMILY|OPERATOR|ACCESS METHOD|TABLE|VIEW) ' "$f" |
		grep -vE 'CREATE (OR REPLACE )?(FUNCTION|TYPE|AGGREGATE|OPERATOR CLASS|OPERATOR FAMILY|OPERATOR|TABLE|VIEW) (@extschema@|retrieval)\.' |
		grep -vE 'CREATE ACCESS METHOD')
	bad+=$(grep -nE '\b(SFUNC|FINALFUNC|COMBINEFUNC|SERIALFUNC|DESERIALFUNC|INPUT|OUTPUT|RECEIVE|SEND|TYPMOD_IN|TYPMOD_OUT|FUNCTION)\s*=' "$f" |
		grep -vE '=\s*(@extschema@|retrieval)\.')
	bad+=$(grep -nE 'OPERATOR\s*[0-9]+\s' "$f" | grep -vE 'OPERATOR\s*[0-9]+\s+(@extschema@|retrieval)\.')
	bad+=$(grep -niE 'SECURITY\s+DEFINER' "$f")
	if [ -n "$bad" ]; then
		echo "$f: unqualified reference or SECURITY DEFINER:"
		echo "$bad"
		status=1
	fi
done
[ $status = 0 ] && echo "install scripts: every object qualified with @extschema@ or retrieval."
exit $status
