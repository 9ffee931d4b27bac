#!/usr/bin/env python3
"""Read-your-writes on a mixed workload: replica offload and stale reads for off, window and lsn.

A pgbench custom script with 10% writes runs through pgrouter against a primary and two replicas that
apply WAL late (recovery_min_apply_delay). Every client owns one counter row: a write increments it and
remembers the new value; a read fetches the client's own row ("own read": must not be older than the
client's last write) and, as a second statement of the same transaction-less script, another client's row
("unrelated read": any replica may serve it). A read that sees its own counter below the last written
value runs a marker statement, so stale reads are counted on the servers, by pg_stat_statements, not by
the proxy under test. Where each read ran also comes from pg_stat_statements on every node.

    bench/ryw_mixed.py [--clients 16] [--seconds 20] [--delay-ms 50] [--modes off,window,lsn] [--out FILE]

Writes bench/results/DATE-ryw-mixed.md (or --out) with the command, the machine and one row per mode.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
import cluster as harness  # noqa: E402  (path set just above)
from procs import run_as_settings  # noqa: E402  (bench/ is the script's directory)

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
ROWS = 1000

# One pgbench "transaction": 10% a write of the client's own row, 90% a read of it plus an unrelated read.
SCRIPT = """\\set r random(1, 100)
\\set own :client_id + 1
\\set other random(1, {rows})
\\if :r <= 10
UPDATE ryw_mixed SET v = v + 1 WHERE id = :own RETURNING v AS last \\gset
\\else
SELECT id, v AS unrelated FROM ryw_mixed WHERE id = :other \\gset
SELECT v AS seen FROM ryw_mixed WHERE id = :own \\gset
\\if :seen < :last
SELECT ryw_stale_marker();
\\endif
\\endif
"""

OWN_READ = "SELECT v AS seen FROM ryw_mixed"
UNRELATED_READ = "AS unrelated FROM ryw_mixed"
MARKER = "ryw_stale_marker"


def free_ports(n, start):
    """n consecutive-ish free loopback ports from start on."""
    return harness.pick_ports(n, start=start)


def stmt_calls(cluster, node, needle):
    """Calls of the statements containing needle on one node, from pg_stat_statements."""
    rows = cluster.sql(node, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                             "WHERE query LIKE %s", (f"%{needle}%",))
    return int(rows[0][0])


def reset_stats(cluster):
    """Zero pg_stat_statements on every node (replicas keep their own statistics)."""
    for n in cluster.nodes:
        cluster.sql(n, "SELECT pg_stat_statements_reset()")


def metric(http_port, name, label=None):
    """Sum of one /metrics family's samples (those with label, when given)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def start_pgrouter(binary, workdir, cluster, port, http_port, mode):
    """Start pgrouter in transaction pooling with the replicas and the given read_your_writes mode."""
    reps = ",".join(f"127.0.0.1:{r.port}" for r in cluster.replicas)
    rw, *extra = mode.split("+")   # e.g. "lsn+ryw_wait=100ms": more settings for this run
    ini = os.path.join(workdir, f"pgrouter-{len(os.listdir(workdir))}.ini")
    log = ini[:-4] + ".log"
    with open(ini, "w") as f:
        f.write(f"[databases]\npostgres = host=127.0.0.1 port={cluster.primary.port} replicas={reps}\n\n"
                f"[pgrouter]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
                f"pool_mode = transaction\ndefault_pool_size = 20\nread_your_writes = {rw}\n"
                f"ryw_window = 1s\nhttp_port = {http_port}\nmonitor_interval = 100ms\n"
                f"logfile = {log}\n" + "".join(f"{k} = {v}\n" for k, v in run_as_settings().items())
                + "".join(f"{e}\n" for e in extra))
    proc = subprocess.Popen([binary, ini], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            with harness.import_psycopg().connect(f"host=127.0.0.1 port={port} dbname=postgres "
                                                  "user=postgres", autocommit=True) as c:
                c.execute("SELECT 1")
            return proc
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"pgrouter ({mode}) did not start: {e}; see {log}")
            time.sleep(0.2)


def run_mode(args, cluster, workdir, mode, port, http_port):
    """One mode: reset statistics, run pgbench through pgrouter, read the counts off the servers."""
    proc = start_pgrouter(args.binary, workdir, cluster, port, http_port, mode)
    try:
        reset_stats(cluster)
        script = os.path.join(workdir, "ryw_mixed.sql")
        cmd = [PGBENCH, "-n", "-M", "simple", "-c", str(args.clients), "-j", "2", "-T", str(args.seconds),
               "-D", "last=0", "-f", script, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "postgres"]
        if args.rate:
            cmd[1:1] = ["-R", str(args.rate * args.clients)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 120)
        if r.returncode != 0:
            raise SystemExit(f"pgbench failed in mode {mode}:\n{r.stdout}{r.stderr}")
        tps = float(re.search(r"tps = ([0-9.]+)", r.stdout).group(1))
        lat = re.search(r"latency average = ([0-9.]+) ms", r.stdout)
        row = {"mode": mode, "tps": tps, "latency": float(lat.group(1)) if lat else float("nan")}
        for what, needle in (("own", OWN_READ), ("unrelated", UNRELATED_READ)):
            on_primary = stmt_calls(cluster, cluster.primary, needle)
            on_replicas = sum(stmt_calls(cluster, n, needle) for n in cluster.replicas)
            row[what] = (on_replicas, on_primary + on_replicas)
        row["stale"] = sum(stmt_calls(cluster, n, MARKER) for n in cluster.nodes)
        row["writes"] = stmt_calls(cluster, cluster.primary, "UPDATE ryw_mixed")
        row["learned"] = metric(http_port, "pgrouter_ryw_lsn_learned_total")
        return row
    finally:
        proc.terminate()
        proc.wait(10)


def pct(part_total):
    part, total = part_total
    return f"{100.0 * part / total:.1f}% of {total}" if total else "-"


def report(args, rows, argv):
    """Markdown with the command, the machine and one row per mode."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cpus = os.cpu_count()
    lines = [f"# Read-your-writes on a mixed workload (10% writes), {now:%Y-%m-%d}", "",
             f"Machine: {platform.node()}, {cpus} CPUs, {platform.platform()}. Primary + 2 streaming replicas "
             f"(tests/harness/cluster.py) with `recovery_min_apply_delay = {args.delay_ms}ms` on both replicas; "
             f"pgrouter in transaction pooling, monitor_interval 100 ms, `ryw_window = 1s` for window mode.", "",
             "```", "bench/ryw_mixed.py " + " ".join(argv), "```", "",
             f"{args.clients} clients, {args.seconds} s per mode, "
             + (f"{args.rate} scripts/s per client (pgbench -R {args.rate * args.clients}), " if args.rate
                else "as fast as they can, ") + "each client owns one counter row: 10% of the "
             "script runs write it, 90% read it back (own read) and read a random other row (unrelated read). "
             "Counts come from pg_stat_statements on every node; a stale read is an own read that returned "
             "less than the client's last written value (a marker statement counted on the servers).", "",
             "| read_your_writes | TPS | latency avg (ms) | writes | own reads on replicas "
             "| unrelated reads on replicas | stale reads | LSNs learned |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['tps']:.0f} | {r['latency']:.2f} | {r['writes']} | {pct(r['own'])} | {pct(r['unrelated'])} "
                     f"| {r['stale']} | {r['learned']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rate", type=int, default=50,
                    help="scripts per second per client (0: as fast as possible); 50 = a write every ~200 ms")
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--modes", default="off,window,lsn")
    ap.add_argument("--port", type=int, default=16600, help="first port to try for the cluster and pgrouter")
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "pgrouter"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    argv = argv if argv is not None else sys.argv[1:]
    harness.raise_nofile_limit()
    base = tempfile.mkdtemp(prefix="ryw-mixed-")
    os.chmod(base, 0o755)
    cluster = harness.Cluster(os.path.join(base, "pg"), port=args.port, replicas=2,
                              extra_conf={"shared_preload_libraries": "'pg_stat_statements'"})
    cluster.create()
    try:
        cluster.sql(cluster.primary, "CREATE EXTENSION pg_stat_statements")
        cluster.sql(cluster.primary, "CREATE TABLE ryw_mixed (id int PRIMARY KEY, v bigint NOT NULL)")
        # pg_stat_statements keys statements by structure, not by aliases or constants: the marker is a
        # function of its own so that nothing else can be counted as a stale read.
        cluster.sql(cluster.primary, "CREATE FUNCTION ryw_stale_marker() RETURNS int STABLE LANGUAGE sql "
                                     "AS 'SELECT 1'")
        cluster.sql(cluster.primary, f"INSERT INTO ryw_mixed SELECT g, 0 FROM generate_series(1, {ROWS}) g")
        cluster.wait_caught_up()
        for r in cluster.replicas:
            cluster.set_guc(r, "recovery_min_apply_delay", f"{args.delay_ms}ms")
        with open(os.path.join(base, "ryw_mixed.sql"), "w") as f:
            f.write(SCRIPT.format(rows=ROWS))
        port, http_port = free_ports(2, args.port + 10)
        rows = []
        for mode in args.modes.split(","):
            cluster.sql(cluster.primary, "UPDATE ryw_mixed SET v = 0")
            cluster.wait_caught_up(timeout=60)
            rows.append(run_mode(args, cluster, base, mode, port, http_port))
            print(rows[-1], flush=True)
        text = report(args, rows, argv)
        out = args.out or os.path.join(REPO, "bench", "results",
                                       f"{datetime.date.today():%Y-%m-%d}-ryw-mixed.md")
        with open(out, "w") as f:
            f.write(text)
        print(text)
        print(f"written to {out}")
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
