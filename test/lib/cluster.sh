#!/usr/bin/env bash
# test/lib/cluster.sh: a throwaway PostgreSQL cluster for tests, the demo and
# benchmarks.
#
#   cluster.sh start DIR [setting=value ...]   initdb DIR, start it
#   cluster.sh stop DIR                        stop it and remove DIR
#
# The server listens only on a Unix socket inside DIR (no TCP port, so
# clusters never collide); connect with host=DIR port=5432.  Run as root,
# it re-runs itself as the "postgres" account.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)

if [ "$(id -u)" = 0 ]; then
	if [ "${1:-}" = start ]; then
		mkdir -p "$2"
		chown "${SERVER_USER:-postgres}" "$2"
	fi
	exec runuser -u "${SERVER_USER:-postgres}" -- "$0" "$@"
fi

cmd=$1
dir=$(realpath -m "$2")
shift 2

case "$cmd" in
	start)
		mkdir -p "$dir"
		"$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
		{
			echo "listen_addresses = ''"
			echo "unix_socket_directories = '$dir'"
			echo "port = 5432"
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "max_connections = 50"
			echo "shared_buffers = 256MB"
			echo "maintenance_work_mem = 1GB"
			echo "max_prepared_transactions = 10"
			echo "log_min_messages = warning"
			for setting in "$@"; do echo "$setting"; done
		} >>"$dir/data/postgresql.conf"
		"$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
		;;
	stop)
		if [ -f "$dir/data/postmaster.pid" ]; then
			"$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
		fi
		rm -rf "$dir"
		;;
	*)
		echo "usage: $0 start|stop DIR [setting=value ...]" >&2
		exit 2
		;;
esac
