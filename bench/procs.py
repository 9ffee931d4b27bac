"""Process plumbing for bench/run: running programs, users, CPU and memory readings, the Proxy class."""

import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
import cluster as harness  # noqa: E402  (path set just above)

PG_BIN = "/usr/lib/postgresql/15/bin"
PGBENCH = os.path.join(PG_BIN, "pgbench")
PSQL = os.path.join(PG_BIN, "psql")
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PGPOOL = shutil.which("pgpool") or "/usr/sbin/pgpool"
# The benchmark's database. Not "postgres": Pgpool-II never caches connections to postgres,
# template0/1 or regression, and would then fork a backend for every client login.
DB = "bench"


class BenchError(RuntimeError):
    """A failure that stops the benchmark, with a message meant for a human."""


def pg_env():
    """Environment for client programs: no stray PG* variables from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def as_postgres(argv):
    """Prefix argv so it runs as the postgres user when we are root (PgBouncer refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv


def give_to_postgres(path):
    """Make a file or directory we created usable by the postgres user when we are root."""
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def run_as_settings():
    """pgrouter settings that make it switch to postgres when we are root (it refuses to serve as root)."""
    return {"user": "postgres"} if os.geteuid() == 0 else {}


def write_file(path, text, mode=0o644):
    """Write a small config file readable by the postgres user."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    give_to_postgres(path)


def process_cpu(pid, with_children=False):
    """utime+stime (and with_children: cutime+cstime of reaped children) of one process, seconds;
    a process's utime/stime already sum all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # Fields after the command name start at field 3 (state): utime is field 14, stime 15.
    fields = [int(x) for x in stat[stat.rindex(")") + 2:].split()[11:15]]
    return sum(fields if with_children else fields[:2]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """CPU seconds of a process tree, including children it has reaped (a postmaster reaps its
    backends, so backends that exited during a run still count)."""
    return sum(process_cpu(p, with_children=True) for p in harness.process_tree(pid))


def machine_task_cpu():
    """Machine-wide user+nice+system CPU seconds so far (/proc/stat). Interrupt and softirq time
    are left out because the kernel charges them to no process, so they cannot be attributed."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:4]]
    return sum(fields) / os.sysconf("SC_CLK_TCK")


def status_kb(pid, field="VmRSS"):
    """A kB field of /proc/PID/status (VmRSS by default), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kb(pid):
    """Proportional set size of a process in kB (/proc/PID/smaps_rollup), or None."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tail(path, lines=20):
    """The last lines of a log file, for error messages."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def run_checked(argv, what, timeout=600):
    """Run a program to completion; raise BenchError with its output if it fails."""
    r = subprocess.run(argv, env=pg_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError(f"{what} failed (exit {r.returncode}): {' '.join(argv)}\n"
                         f"{r.stdout}{r.stderr}")
    return r.stdout


def psql(port, sql, dbname=DB, timeout=30):
    """Run one statement through psql on 127.0.0.1:port as postgres; (rc, unaligned rows, stderr)."""
    r = subprocess.run([PSQL, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-X", "-A",
                        "-t", "-F", "=", "-c", sql, dbname],
                       env=pg_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


class Proxy:
    """A pooler process under test: its name, port, config and log files, and the running process.
    tree=True: its CPU is the whole process tree's (Pgpool-II forks a child per client)."""

    def __init__(self, name, port, workdir, tree=False, stop_signal=signal.SIGTERM):
        self.name = name
        self.port = port
        self.ini = os.path.join(workdir, f"{name}.ini")
        self.log = os.path.join(workdir, f"{name}.log")
        self.proc = None
        self.tree = tree
        self.stop_signal = stop_signal
        self.size = None  # Pgpool-II: the num_init_children it was started with

    def start(self, argv, timeout=15):
        """Start argv in its own session (so a terminal Ctrl-C reaches only bench/run) and wait
        until it answers queries."""
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start; "
                                 f"log {self.log}:\n{tail(self.log)}")
            rc, out, err = psql(self.port, "SELECT 1")
            if rc == 0 and out == "1":
                return
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.name} does not answer on port {self.port} after "
                                 f"{timeout} s: {err}\nlog {self.log}:\n{tail(self.log)}")
            time.sleep(0.2)

    def alive(self):
        """True while the proxy process runs."""
        return self.proc is not None and self.proc.poll() is None

    def cpu(self):
        """CPU seconds the proxy (with tree: its whole process tree) has used so far, or None."""
        if not self.alive():
            return None
        return tree_cpu(self.proc.pid) if self.tree else process_cpu(self.proc.pid)

    def stop(self, timeout=10):
        """Send the stop signal, then SIGKILL the process group if it is still there."""
        if not self.alive():
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait()
