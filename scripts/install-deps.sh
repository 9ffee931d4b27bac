#!/bin/sh
# Install the Debian packages pgrouter needs to build, test and run its demo; skips what is present.
set -e
PKGS="build-essential pkg-config libevent-dev libinih-dev libpg-query-dev libssl-dev
      postgresql-15 postgresql-contrib libhiredis-dev redis-server python3 python3-pytest python3-psycopg pgbouncer
      clang libclang-rt-14-dev openssl chromium python3-prometheus-client libpostgresql-jdbc-java
      debhelper dpkg-dev lintian mandoc groff-base systemd"
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# Real-client tests (tests/integration/test_prepared.py): node-postgres needs node and npm, pgjdbc a JDK.
# Any node/npm/javac already on PATH will do (e.g. NodeSource's nodejs bundles npm).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v javac >/dev/null 2>&1 || missing="$missing default-jdk-headless"
if [ -n "$missing" ]; then
	echo "installing:$missing"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq $missing >/tmp/pgrouter-apt.log 2>&1 || { tail -20 /tmp/pgrouter-apt.log; exit 1; }
fi
# node-postgres for the tests, at the version pinned in package-lock.json.
node_dir="$(dirname "$0")/../tests/integration/node"
if [ ! -d "$node_dir/node_modules/pg" ]; then
	echo "installing node-postgres (npm ci in tests/integration/node)"
	(cd "$node_dir" && npm ci --no-audit --no-fund >/tmp/pgrouter-npm.log 2>&1) || { tail -20 /tmp/pgrouter-npm.log; exit 1; }
fi
