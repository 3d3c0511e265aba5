# test/lib/env.sh: shared shell setup for test/all.sh, test/demo.sh and the
# benchmarks.  Source it from the project root.
#
# Provides: PG_CONFIG, PGBIN, PGXS_DIR, as_server_user, install_packages,
# build_and_install.  The server never runs as root (PostgreSQL refuses):
# as_server_user runs a command as the Debian "postgres" account when we are
# root, and as ourselves otherwise.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
if [ -x "$PG_CONFIG" ]; then
	PGBIN=$("$PG_CONFIG" --bindir)
	PGXS_DIR=$(realpath "$(dirname "$("$PG_CONFIG" --pgxs)")/../..")
fi
SERVER_USER=${SERVER_USER:-postgres}

if [ "$(id -u)" = 0 ]; then
	SUDO=""
else
	SUDO="sudo"
fi

log() { printf '\n==> %s\n' "$*"; }

as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$SERVER_USER" -- "$@"
	else
		"$@"
	fi
}

# Install the Debian packages listed in test/debian-packages.txt that are
# missing (apt-get update only when something is missing).
install_packages() {
	local wanted missing=()
	wanted=$(grep -v '^#' test/debian-packages.txt | grep -v '^$')
	for p in $wanted "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# Node.js and npm (for the client-library test): Debian's packages, unless
	# the machine already has a node with npm (a NodeSource nodejs package
	# conflicts with Debian's npm).
	command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing Debian packages: ${missing[*]}"
		$SUDO apt-get update -q
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
	fi
	PGBIN=$("$PG_CONFIG" --bindir)
	PGXS_DIR=$(realpath "$(dirname "$("$PG_CONFIG" --pgxs)")/../..")
}

build_and_install() {
	log "building and installing the extension"
	make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
	$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}
