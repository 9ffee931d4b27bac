#!/usr/bin/python3
"""Two pgrouter binaries, A and B, on the same cluster in one run: callgrind instructions per
transaction (repeatable whatever else the machine does) and pgbench TPS in alternating rounds
(A, B, A, B, ...), for select-only, TPC-B and select-only with -M prepared. Used to show what a
change costs, e.g. the session-isolation work against the commit before it:

    bench/ab.py --a /tmp/old/build/pgrouter --b build/pgrouter --name isolation-cost

Writes bench/results/YYYY-MM-DD-NAME.md (never overwritten) and prints it.
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
from callgrind import VALGRIND, callgrind_total  # noqa: E402
from procs import DB, BenchError, PGBENCH, give_to_postgres, pg_env, run_checked  # noqa: E402

# name: pgbench arguments (after the connection options)
WORKLOADS = {
    "select-only simple": ["-S", "-M", "simple"],
    "TPC-B simple": ["-M", "simple"],
    "select-only prepared": ["-S", "-M", "prepared"],
}


def pgbench(port, args, clients, extra):
    """Run pgbench through port; return its stdout (raises on failure)."""
    argv = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n", *args,
            "-c", str(clients), "-j", "2", *extra, DB]
    r = subprocess.run(argv, env=pg_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise BenchError(f"pgbench {' '.join(args)} failed:\n{r.stdout[-600:]}{r.stderr[-600:]}")
    return r.stdout


def start(binary, name, port, cl, workdir, opts, wrapper=()):
    """pgrouter as bench/run starts it (transaction pooling, pool 20), monitor off for callgrind."""
    extra = {"monitor_interval": "0"} if wrapper else None
    return tg.start_pgrouter(binary, name, port, cl, workdir, opts, wrapper=wrapper, timeout=120,
                             extra=extra)


def instructions(binary, name, port, cl, workdir, opts, args):
    """Callgrind Ir per transaction: two runs of different lengths, the difference divided."""
    totals = []
    for tx in opts.callgrind_tx:
        out = os.path.join(workdir, f"callgrind.{name}.{tx}.out")
        proxy = start(binary, name, port, cl, workdir, opts,
                      wrapper=[VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}"])
        try:
            text = pgbench(port, args, opts.callgrind_clients, ["-t", str(tx)])
        finally:
            proxy.stop(timeout=120)
        done = re.search(r"number of transactions actually processed: (\d+)", text)
        if not done or int(done.group(1)) != opts.callgrind_clients * tx:
            raise BenchError(f"{name}: pgbench under callgrind did not finish its transactions")
        totals.append(callgrind_total(out))
    return (totals[1] - totals[0]) / (opts.callgrind_clients * (opts.callgrind_tx[1] - opts.callgrind_tx[0]))


def tps_rounds(binaries, cl, workdir, opts, args, ports):
    """Alternating TPS runs; returns {label: [tps, ...]}."""
    out = {label: [] for label in binaries}
    proxies = {label: start(b, f"tps-{label}", ports[label], cl, workdir, opts)
               for label, b in binaries.items()}
    try:
        for _ in range(opts.rounds):
            for label in binaries:
                text = pgbench(ports[label], args, opts.clients, ["-T", str(opts.duration)])
                m = re.search(r"tps = ([\d.]+) \((?:without|excluding)", text)
                out[label].append(float(m.group(1)) if m else 0.0)
    finally:
        for p in proxies.values():
            p.stop()
    return out


def results_path(name):
    """bench/results/YYYY-MM-DD-name.md, with -2, -3 ... when it exists."""
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        f"{datetime.date.today().isoformat()}-{name}")
    path, n = base + ".md", 2
    while os.path.exists(path):
        path, n = f"{base}-{n}.md", n + 1
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="pgrouter binary A (the baseline)")
    ap.add_argument("--b", required=True, help="pgrouter binary B (the change)")
    ap.add_argument("--a-label", default="A")
    ap.add_argument("--b-label", default="B")
    ap.add_argument("--name", default="ab")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=int, default=5, help="seconds per TPS run")
    ap.add_argument("--rounds", type=int, default=3, help="TPS runs per binary and workload")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--callgrind-clients", type=int, default=4)
    ap.add_argument("--callgrind-tx", default="50,550")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="a subset of: " + ", ".join(WORKLOADS))
    ap.add_argument("--no-tps", action="store_true", help="callgrind only")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (callgrind files)")
    opts = ap.parse_args()
    opts.callgrind_tx = [int(x) for x in opts.callgrind_tx.split(",")]
    opts.pool_size, opts.max_client_conn, opts.workers = 20, 10000, os.cpu_count() or 2
    binaries = {opts.a_label: os.path.abspath(opts.a), opts.b_label: os.path.abspath(opts.b)}
    command = "bench/ab.py " + " ".join(sys.argv[1:])
    workdir = tempfile.mkdtemp(prefix="pgr-ab-")
    os.chmod(workdir, 0o755)
    give_to_postgres(workdir)   # pgrouter runs as postgres when started as root; callgrind writes its file there
    cl = harness.Cluster(os.path.join(workdir, "cluster"), replicas=2, max_connections=300,
                         extra_conf={"shared_buffers": "256MB"})
    try:
        cl.create()
        cl.sql(cl.primary, f"CREATE DATABASE {DB}")
        run_checked([PGBENCH, "-h", "127.0.0.1", "-p", str(cl.primary.port), "-U", "postgres",
                     "-i", "-s", str(opts.scale), "-q", DB], "pgbench -i")
        ports = dict(zip(binaries, harness.pick_ports(3, avoid={n.port for n in cl.nodes})))
        cg_port = harness.pick_ports(1, avoid={n.port for n in cl.nodes} | set(ports.values()))[0]
        rows = []
        for wname in [w.strip() for w in opts.workloads.split(",")]:
            args = WORKLOADS[wname]
            print(f"ab: {wname}", flush=True)
            ir = {label: instructions(b, f"cg-{label}-{args[-1]}{len(args)}", cg_port, cl, workdir, opts, args)
                  for label, b in binaries.items()}
            tps = {label: [0.0] for label in binaries} if opts.no_tps else \
                tps_rounds(binaries, cl, workdir, opts, args, ports)
            rows.append((wname, ir, tps))
    finally:
        cl.destroy()
        if opts.keep:
            print(f"ab: kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", workdir])
    a, b = opts.a_label, opts.b_label
    runs = "" if opts.no_tps else f"pgbench -c {opts.clients}, {opts.rounds} alternating {opts.duration} s runs each; "
    lines = [f"# pgrouter {b} vs {a}", "", f"`{command}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, "
             f"{os.cpu_count()} cores; {runs}callgrind with -c {opts.callgrind_clients}, "
             f"-t {opts.callgrind_tx[0]} and {opts.callgrind_tx[1]})", "",
             f"- {a}: `{binaries[a]}`", f"- {b}: `{binaries[b]}`", ""]
    head = f"| workload | Ir/tx {a} | Ir/tx {b} | {b}/{a} Ir |"
    if not opts.no_tps:
        head += f" TPS {a} (runs) | TPS {b} (runs) | {b}/{a} TPS (median) |"
    lines += [head, "|---" * head.count(" | ") + "|---|"]
    for wname, ir, tps in rows:
        line = f"| {wname} | {ir[a]:.0f} | {ir[b]:.0f} | {ir[b] / ir[a]:.3f}x |"
        if not opts.no_tps:
            med = {k: sorted(v)[len(v) // 2] or float("nan") for k, v in tps.items()}
            line += (f" {', '.join(f'{x:.0f}' for x in tps[a])} | {', '.join(f'{x:.0f}' for x in tps[b])} | "
                     f"{med[b] / med[a]:.3f}x |")
        lines.append(line)
    text = "\n".join(lines) + "\n"
    path = results_path(opts.name)
    with open(path, "w") as f:
        f.write(text)
    print(text + f"\nwritten to {path}")


if __name__ == "__main__":
    main()
