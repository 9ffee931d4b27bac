#!/bin/bash
# Demo: `scripts/demo.sh start` installs what is missing, builds, and runs a local primary with
# two streaming replicas plus pgrouter on 127.0.0.1:6432; `scripts/demo.sh stop` undoes it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR=/tmp/pgrouter-demo
CLUSTER_DIR=$DEMO_DIR/cluster
INI=$DEMO_DIR/pgrouter.ini
LOG=$DEMO_DIR/pgrouter.log
PIDFILE=$DEMO_DIR/pgrouter.pid
PORT=6432
HTTP_PORT=6480
PG_PORT=55432
PYTHON=/usr/bin/python3
HARNESS=$REPO/tests/harness/cluster.py
PACKAGES="build-essential pkg-config libevent-dev libinih-dev libpg-query-dev libssl-dev
          postgresql-15 postgresql-contrib python3 python3-psycopg"

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# Print the packages from $PACKAGES that dpkg does not report as installed.
missing_packages() {
	local p
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			printf '%s ' "$p"
	done
}

# Install missing Debian packages (needs root); does nothing when all are present.
install_packages() {
	local missing
	missing=$(missing_packages)
	[ -z "$missing" ] && { say "packages: all present"; return 0; }
	[ "$(id -u)" -eq 0 ] || die "missing packages ($missing); run as root or: sudo apt-get install $missing"
	say "installing: $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086  # word splitting of the package list is intended
	apt-get install -y -q --no-install-recommends $missing
}

# Print the pid in $PIDFILE if that process is a running pgrouter, else nothing.
running_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 0
	pid=$(cat "$PIDFILE")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		grep -q pgrouter "/proc/$pid/cmdline" 2>/dev/null; then
		printf '%s' "$pid"
	fi
}

# Print "name port" lines for the cluster's nodes, from the harness's JSON status.
node_ports() {
	"$PYTHON" "$HARNESS" status --dir "$CLUSTER_DIR" --json | "$PYTHON" -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    print(n["name"], n["port"])'
}

# Write the demo config: pgrouter in front of the primary and both replicas.
write_ini() {
	local primary replicas
	primary=$(node_ports | awk '$1 == "primary" {print $2}')
	replicas=$(node_ports | awk '$1 != "primary" {printf "%s127.0.0.1:%s", sep, $2; sep=","}')
	cat >"$INI" <<EOF
; pgrouter demo config, written by scripts/demo.sh
[databases]
postgres = host=127.0.0.1 port=$primary dbname=postgres replicas=$replicas

[pgrouter]
listen_addr = 127.0.0.1
listen_port = $PORT
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
auth_type = trust
admin_users = postgres
http_addr = 127.0.0.1
http_port = $HTTP_PORT
EOF
	# pgrouter will not serve as root: it switches to postgres once its port is bound.
	if [ "$(id -u)" -eq 0 ]; then
		echo "user = postgres" >>"$INI"
	fi
}

# Wait up to $1 seconds for something to accept TCP connections on 127.0.0.1:$PORT.
wait_port() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

print_usage_hint() {
	cat <<EOF

pgrouter is running on 127.0.0.1:$PORT in front of a primary and two streaming replicas:
$(node_ports | awk '{printf "    %-9s 127.0.0.1:%s\n", $1, $2}')

Connect with:
    psql "host=127.0.0.1 port=$PORT dbname=postgres user=postgres"

Status page: http://127.0.0.1:$HTTP_PORT/    Console: psql "host=127.0.0.1 port=$PORT dbname=pgrouter user=postgres" -c 'SHOW NODES'
Config: $INI    Log: $LOG
Stop everything with:
    make demo-stop        (or: scripts/demo.sh stop)
EOF
}

start() {
	mkdir -p "$DEMO_DIR"
	if [ -n "$(running_pid)" ] && "$PYTHON" "$HARNESS" status --dir "$CLUSTER_DIR" >/dev/null 2>&1; then
		say "already running"
		print_usage_hint
		return 0
	fi
	install_packages
	if [ -z "${PGROUTER_BIN:-}" ]; then
		say "building"
		make -C "$REPO" -j"$(nproc)"
	fi
	[ -n "$(running_pid)" ] && stop_pgrouter
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		die "port $PORT is taken by another program (is PgBouncer running?); stop it first"
	fi
	say "starting PostgreSQL primary + 2 replicas in $CLUSTER_DIR"
	"$PYTHON" "$HARNESS" start --dir "$CLUSTER_DIR" --port "$PG_PORT" --replicas 2 >/dev/null
	write_ini
	say "starting pgrouter (log: $LOG)"
	nohup "${PGROUTER_BIN:-$REPO/build/pgrouter}" "$INI" >>"$LOG" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	if ! wait_port 10 || [ -z "$(running_pid)" ]; then
		tail -n 20 "$LOG" >&2 || true
		die "pgrouter did not start; see $LOG"
	fi
	say "running a short mixed workload (writes, reads, read-after-write)"
	"$PYTHON" "$REPO/scripts/demo_workload.py" "$PORT" "$HTTP_PORT" 5 || say "the workload failed; see $LOG"
	print_usage_hint
}

# Stop pgrouter: SIGINT (waits for transactions), then SIGTERM, then SIGKILL.
stop_pgrouter() {
	local pid sig i
	pid=$(running_pid)
	[ -z "$pid" ] && { rm -f "$PIDFILE"; return 0; }
	for sig in INT TERM KILL; do
		kill -s "$sig" "$pid" 2>/dev/null || break
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break 2
			sleep 0.1
		done
	done
	rm -f "$PIDFILE"
	say "pgrouter stopped"
}

stop() {
	stop_pgrouter
	if [ -f "$CLUSTER_DIR/cluster.json" ]; then
		"$PYTHON" "$HARNESS" stop --dir "$CLUSTER_DIR" >/dev/null
		say "PostgreSQL cluster stopped (data kept in $CLUSTER_DIR)"
	else
		say "no demo cluster to stop"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
