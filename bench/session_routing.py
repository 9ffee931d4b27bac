#!/usr/bin/python3
"""Session pooling with replicas: pgbench -S through pgrouter with `pool_mode = session`, each client
holding one session for the whole run, and where its reads ran (each node's own count of committed
transactions in the bench database). Also the same run with the replicas left out of the database entry,
for the TPS of plain session pooling on the primary. Run as root (PostgreSQL runs as postgres):

    bench/session_routing.py --clients 16 --duration 10

Writes bench/results/YYYY-MM-DD-session-routing.md (never overwritten) and prints it.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster as harness  # noqa: E402
import targets as tg  # noqa: E402
from ab import results_path  # noqa: E402
from procs import DB, BenchError, PGBENCH, give_to_postgres, pg_env, run_checked  # noqa: E402


def commits(cl):
    """Committed transactions in the bench database, per node."""
    return {n.name: int(cl.sql(n, "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (DB,))[0][0])
            for n in cl.nodes}


def run(cl, port, clients, duration):
    """pgbench -S through port; returns (tps, commits per node during the run)."""
    before = commits(cl)
    argv = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n", "-S", "-M", "simple",
            "-c", str(clients), "-j", "2", "-T", str(duration), DB]
    r = subprocess.run(argv, env=pg_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=duration + 120)
    if r.returncode != 0:
        raise BenchError(f"pgbench failed:\n{r.stdout[-600:]}{r.stderr[-600:]}")
    tps = float(re.search(r"tps = ([\d.]+)", r.stdout).group(1))
    after = commits(cl)
    return tps, {k: after[k] - before[k] for k in after}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                   "build", "pgrouter"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--scale", type=int, default=10)
    opts = ap.parse_args()
    opts.pool_size, opts.max_client_conn, opts.workers = opts.clients, 10000, os.cpu_count() or 2
    command = "bench/session_routing.py " + " ".join(sys.argv[1:])
    workdir = tempfile.mkdtemp(prefix="pgr-sr-")
    os.chmod(workdir, 0o755)
    give_to_postgres(workdir)
    cl = harness.Cluster(os.path.join(workdir, "cluster"), replicas=2, max_connections=300,
                         extra_conf={"shared_buffers": "256MB"})
    rows = []
    try:
        cl.create()
        cl.sql(cl.primary, f"CREATE DATABASE {DB}")
        run_checked([PGBENCH, "-h", "127.0.0.1", "-p", str(cl.primary.port), "-U", "postgres",
                     "-i", "-s", str(opts.scale), "-q", DB], "pgbench -i")
        cl.wait_caught_up(timeout=120)
        ports = harness.pick_ports(2, avoid={n.port for n in cl.nodes})
        session = {"pool_mode": "session"}
        for name, port, replicas in (("session, replicas", ports[0], True), ("session, primary only", ports[1], False)):
            proxy = tg.start_pgrouter(os.path.abspath(opts.binary), name.replace(", ", "-").replace(" ", "-"),
                                      port, cl, workdir, opts, replicas=replicas, extra=session)
            try:
                tps, per_node = run(cl, port, opts.clients, opts.duration)
            finally:
                proxy.stop()
            rows.append((name, tps, per_node))
    finally:
        cl.destroy()
        subprocess.run(["rm", "-rf", workdir])
    nodes = [n.name for n in cl.nodes]
    lines = ["# Session pooling with replicas: where pgbench -S reads run", "",
             f"`{command}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores; pgbench -S -M simple "
             f"-c {opts.clients} -T {opts.duration}, pool_mode = session, default_pool_size = {opts.clients})", "",
             "| pgrouter | TPS | " + " | ".join(f"transactions on {n}" for n in nodes) + " | share on replicas |",
             "|---|---|" + "---|" * len(nodes) + "---|"]
    for name, tps, per_node in rows:
        total = sum(per_node.values()) or 1
        on_replicas = sum(v for k, v in per_node.items() if k != cl.primary.name)
        lines.append(f"| {name} | {tps:.0f} | " + " | ".join(str(per_node[n]) for n in nodes)
                     + f" | {100 * on_replicas / total:.0f}% |")
    text = "\n".join(lines) + "\n"
    path = results_path("session-routing")
    with open(path, "w") as f:
        f.write(text)
    print(text + f"\nwritten to {path}")


if __name__ == "__main__":
    main()
