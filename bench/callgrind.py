"""Instructions per forwarded query: a proxy under `valgrind --tool=callgrind`, two pgbench runs
of different lengths, the difference in total instructions divided by the difference in queries
(so start-up, logins and shutdown cancel out)."""

import os
import re
import shutil
import subprocess

from procs import DB, BenchError, PGBENCH, pg_env, tail

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"


def callgrind_total(path):
    """Total instructions (Ir) recorded in a callgrind output file."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise BenchError(f"no callgrind output {path}: {e}") from None
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if not m:
        raise BenchError(f"no totals: or summary: line in {path}")
    return int(m.group(1))


def one_run(start, name, port, clients, per_client, workdir):
    """Start the proxy under callgrind, run pgbench -t per_client, stop it; return total Ir."""
    out = os.path.join(workdir, f"callgrind.{name}.{per_client}.out")
    wrapper = [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}"]
    proxy = start(wrapper)
    try:
        argv = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n", "-S",
                "-M", "simple", "-c", str(clients), "-j", "2", "-t", str(per_client), DB]
        r = subprocess.run(argv, env=pg_env(), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=1800)
        done = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
        if r.returncode != 0 or not done or int(done.group(1)) != clients * per_client:
            raise BenchError(f"pgbench under callgrind through {name} failed:\n"
                             f"{r.stdout[-800:]}{r.stderr[-800:]}")
    finally:
        proxy.stop(timeout=120)  # callgrind writes its file when the process exits normally
    # PgBouncer 1.18 exits 1 on SIGTERM; what matters is that callgrind wrote its totals.
    if not os.path.exists(out):
        raise BenchError(f"{name} under callgrind exited {proxy.proc.returncode} without "
                         f"writing {out}:\n{tail(proxy.log)}")
    return callgrind_total(out)


def instructions_per_query(start, name, port, workdir, clients, small, large):
    """Ir per select-only query through a proxy: start(wrapper) starts it under the wrapper.
    Returns a dict with both totals and the per-query figure."""
    ir_small = one_run(start, name, port, clients, small, workdir)
    ir_large = one_run(start, name, port, clients, large, workdir)
    queries = clients * (large - small)
    return {"ir_small": ir_small, "ir_large": ir_large, "queries": queries,
            "per_query": (ir_large - ir_small) / queries}
