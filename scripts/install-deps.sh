#!/bin/sh
# Install the Debian packages pgrouter needs to build, test and run its demo; skips what is present.
set -e
PKGS="build-essential pkg-config libevent-dev libinih-dev libpg-query-dev libssl-dev
      postgresql-15 postgresql-contrib python3 python3-pytest python3-psycopg pgbouncer
      clang libclang-rt-14-dev openssl chromium python3-prometheus-client"
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/tmp/pgrouter-apt.log 2>&1 || { tail -20 /tmp/pgrouter-apt.log; exit 1; }
