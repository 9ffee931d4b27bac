#!/usr/bin/env python3
"""Start, stop and break a PostgreSQL 15 primary with N streaming replicas on loopback ports.

Used by the integration tests, the benchmarks and `make demo`. The cluster is
built the way an operator builds one: initdb, wal_level=replica, a replication
role, one physical slot per replica, `pg_basebackup -R -S`, hot_standby=on, and
`pg_stat_replication` checked before returning. Only the standard library and
psycopg (for SQL) are used.

As a library:
    c = Cluster("/tmp/x", replicas=2); c.create(); c.sql(c.primary, "SELECT 1")
As a CLI:
    cluster.py start --dir D [--port 55432] [--replicas 2] [--json]
    cluster.py stop --dir D | status --dir D | sql --dir D NODE 'SQL'
    cluster.py fault --dir D {stop,start,restart,kill9,sigstop,sigcont,promote} NODE
"""

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

STATE_FILE = "cluster.json"
REPL_USER = "replicator"
REPL_PASSWORD = "replicator"
AUTH_METHODS = ("trust", "scram-sha-256", "md5")


class HarnessError(RuntimeError):
    """Any failure of the harness, with a message meant for a human."""


def find_bindir(explicit=None):
    """Return the directory holding the PostgreSQL 15 server binaries or raise HarnessError."""
    chosen = explicit or os.environ.get("PG_BINDIR")
    candidates = [chosen] if chosen else ["/usr/lib/postgresql/15/bin"]
    for cand in candidates:
        if cand and all(os.access(os.path.join(cand, b), os.X_OK)
                        for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres")):
            return cand
    raise HarnessError(
        "PostgreSQL 15 server binaries (initdb, pg_ctl, pg_basebackup, postgres) not found in "
        f"{candidates[0]}; install the Debian package postgresql-15 "
        "or set PG_BINDIR")


def port_is_free(port):
    """True if nothing listens on 127.0.0.1:port (checked the way postgres binds: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count, start=None, avoid=()):
    """Return `count` free loopback ports, from `start` upwards, or from a random base below
    the kernel's ephemeral range (so outgoing connections cannot steal them) when start is None."""
    port = start if start else random.randrange(20000, 30000)
    found = []
    while len(found) < count:
        if port > 65535:
            raise HarnessError(f"no free port found above {start}")
        if port not in avoid and port_is_free(port):
            found.append(port)
        port += 1
    return found


def raise_nofile_limit():
    """Raise this process's soft open-files limit to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_tree(pid):
    """Return pid and all its descendants (from /proc), parents first."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    order, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        order.append(p)
        todo.extend(children.get(p, []))
    return order


def pid_alive(pid):
    """True if a process with this pid exists (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class Node:
    """One PostgreSQL server of the cluster: its name, port and directories."""

    def __init__(self, name, port, base_dir):
        self.name = name
        self.port = port
        self.dir = os.path.join(base_dir, name)
        self.datadir = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")

    def __repr__(self):
        return f"Node({self.name}, 127.0.0.1:{self.port})"

    def postmaster_pid(self):
        """Return the running postmaster's pid, or None if the node is not running."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def read_log(self):
        """Return the node's server log text ('' if there is none yet)."""
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Cluster:
    """A primary plus N streaming replicas under one directory, with fault helpers."""

    def __init__(self, base_dir, port=None, replicas=2, max_connections=300, auth="trust",
                 users=None, superuser_password="postgres", bindir=None, extra_conf=None):
        if auth not in AUTH_METHODS:
            raise HarnessError(f"auth must be one of {AUTH_METHODS}, not {auth!r}")
        self.base_dir = os.path.abspath(base_dir)
        self.base_port = port
        self.n_replicas = replicas
        self.max_connections = max_connections
        self.auth = auth
        # users: name -> password, or name -> (password, "md5" | "scram-sha-256")
        self.users = dict(users or {})
        self.superuser_password = superuser_password
        self.bindir = find_bindir(bindir)
        self.extra_conf = dict(extra_conf or {})
        self.nodes = []
        self.as_root = os.geteuid() == 0

    # ----- naming and state -------------------------------------------------

    @property
    def primary(self):
        """The node created as primary (after promote() it may no longer be the writer)."""
        return self.nodes[0]

    @property
    def replicas(self):
        """The nodes created as replicas."""
        return self.nodes[1:]

    def node(self, which):
        """Resolve a Node, a node name or an index to the Node."""
        if isinstance(which, Node):
            return which
        if isinstance(which, int):
            return self.nodes[which]
        for n in self.nodes:
            if n.name == which:
                return n
        raise HarnessError(f"no node named {which!r}; nodes: {[n.name for n in self.nodes]}")

    def _save_state(self):
        """Write what `load` needs to find this cluster again."""
        state = {"nodes": [{"name": n.name, "port": n.port} for n in self.nodes],
                 "max_connections": self.max_connections, "auth": self.auth,
                 "users": self.users, "superuser_password": self.superuser_password,
                 "bindir": self.bindir}
        tmp = os.path.join(self.base_dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, os.path.join(self.base_dir, STATE_FILE))

    @classmethod
    def load(cls, base_dir):
        """Return the Cluster described by base_dir's state file, or None if there is none."""
        path = os.path.join(os.path.abspath(base_dir), STATE_FILE)
        try:
            with open(path) as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise HarnessError(f"cannot read {path}: {e}") from e
        c = cls(base_dir, replicas=len(state["nodes"]) - 1,
                max_connections=state.get("max_connections", 300),
                auth=state.get("auth", "trust"),
                users={k: tuple(v) if isinstance(v, list) else v
                       for k, v in state.get("users", {}).items()},
                superuser_password=state.get("superuser_password", "postgres"),
                bindir=state.get("bindir"))
        c.nodes = [Node(n["name"], n["port"], c.base_dir) for n in state["nodes"]]
        return c

    # ----- running programs as the postgres user ---------------------------

    def _env(self):
        """Environment for PostgreSQL programs: no stray PG* variables from the caller."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["HOME"] = self.base_dir  # root's HOME is not readable by postgres
        env.setdefault("LC_ALL", "C.UTF-8")
        return env

    def _cmd(self, argv):
        """Prefix argv so it runs as postgres when we are root (setpriv keeps rlimits, su would not)."""
        if not self.as_root:
            return argv
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv

    def _run(self, argv, what, timeout=120):
        """Run a PostgreSQL program to completion; raise HarnessError with its output on failure."""
        full = self._cmd([os.path.join(self.bindir, argv[0])] + argv[1:])
        try:
            r = subprocess.run(full, cwd=self.base_dir, env=self._env(), timeout=timeout,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
        except FileNotFoundError as e:
            raise HarnessError(f"{what}: cannot run {full[0]}: {e}") from e
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"{what}: timed out after {timeout}s: {' '.join(full)}") from e
        if r.returncode != 0:
            raise HarnessError(f"{what} failed (exit {r.returncode}): {' '.join(full)}\n"
                               f"{r.stdout}{r.stderr}")
        return r.stdout

    def _chown(self, path):
        """Give path to the postgres user when we run as root."""
        if self.as_root:
            shutil.chown(path, "postgres", "postgres")

    # ----- creation ---------------------------------------------------------

    def create(self):
        """Build and start a fresh cluster under base_dir (stopping and removing an old one
        there first) and return once every replica streams."""
        if shutil.which("setpriv") is None and self.as_root:
            raise HarnessError("running as root needs setpriv (Debian package util-linux)")
        raise_nofile_limit()
        self.destroy_existing()
        os.makedirs(self.base_dir, exist_ok=True)
        os.chmod(self.base_dir, 0o755)
        self._chown(self.base_dir)
        ports = pick_ports(self.n_replicas + 1, self.base_port)
        names = ["primary"] + [f"replica{i}" for i in range(1, self.n_replicas + 1)]
        self.nodes = [Node(n, p, self.base_dir) for n, p in zip(names, ports)]
        self._save_state()
        try:
            self._init_primary()
            self._in_parallel([lambda r=r: self._create_replica(r) for r in self.replicas])
            self.wait_streaming()
        except BaseException:
            self.stop_all(mode="immediate")  # leave no half-built cluster running
            raise
        return self

    def destroy_existing(self):
        """Stop a cluster left in base_dir by an earlier run and remove its node directories."""
        old = Cluster.load(self.base_dir)
        if old is not None:
            old.stop_all(mode="immediate")
            for n in old.nodes:
                shutil.rmtree(n.dir, ignore_errors=True)
            os.unlink(os.path.join(self.base_dir, STATE_FILE))
        # A crash between makedirs and the state file can leave bare node dirs behind.
        if os.path.isdir(self.base_dir):
            for entry in os.listdir(self.base_dir):
                node = Node(entry, 0, self.base_dir)
                if os.path.exists(os.path.join(node.datadir, "PG_VERSION")):
                    self._stop_dir(node, "immediate")
                    shutil.rmtree(node.dir, ignore_errors=True)

    def _in_parallel(self, funcs):
        """Run the callables in threads; re-raise the first exception any of them raised."""
        errors = []

        def wrap(fn):
            """Run fn, keeping its exception for the caller's thread."""
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - re-raised below in the caller's thread
                errors.append(e)
        threads = [threading.Thread(target=wrap, args=(fn,)) for fn in funcs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _hba(self):
        """pg_hba.conf text: local socket trusted (the harness itself), TCP uses self.auth."""
        lines = ["# written by tests/harness/cluster.py",
                 "local   all          all                     trust",
                 "local   replication  all                     trust"]
        if self.auth != "trust":
            # A password stored as md5 cannot pass a scram-sha-256 line: give md5 users their own.
            lines += [f"host    all          {quote_ident(name)}  127.0.0.1/32 md5"
                      for name, spec in self.users.items()
                      if isinstance(spec, tuple) and spec[1] == "md5"]
        lines += [f"host    all          all        127.0.0.1/32 {self.auth}",
                  f"host    replication  all        127.0.0.1/32 {self.auth}"]
        return "\n".join(lines) + "\n"

    def _common_conf(self):
        """Settings shared by every node (copied to replicas by pg_basebackup)."""
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "max_connections": str(self.max_connections),
            "fsync": "off",  # durability is not under test; synchronous_commit stays on
            "wal_level": "replica",
            "max_wal_senders": "20",
            "max_replication_slots": "20",
            # two-phase commit through pgrouter is tested; a standby needs at least the primary's value
            "max_prepared_transactions": "10",
            "hot_standby": "on",
            "wal_receiver_status_interval": "1s",
            "password_encryption": "'scram-sha-256'",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "log_min_messages": "warning",
            "shared_buffers": "64MB",
        }
        conf.update({k: str(v) for k, v in self.extra_conf.items()})
        lines = ["", "# --- tests/harness/cluster.py ---"]
        lines += [f"{k} = {v}" for k, v in conf.items()]
        lines.append("include_if_exists = 'node.conf'  # port and socket of this node")
        return "\n".join(lines) + "\n"

    def _write_node_conf(self, node):
        """Write the per-node settings that must differ between nodes."""
        path = os.path.join(node.datadir, "node.conf")
        with open(path, "w") as f:
            f.write(f"port = {node.port}\nunix_socket_directories = '{node.datadir}'\n"
                    f"cluster_name = '{node.name}'\n")
        self._chown(path)

    def _init_primary(self):
        """initdb, configure and start the primary; create roles and one slot per replica."""
        p = self.primary
        os.makedirs(p.dir, exist_ok=True)
        self._chown(p.dir)
        self._run(["initdb", "-D", p.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync", "--no-instructions"], "initdb")
        for fname, mode, text in (("postgresql.conf", "a", self._common_conf()),
                                  ("pg_hba.conf", "w", self._hba())):
            with open(os.path.join(p.datadir, fname), mode) as f:
                f.write(text)
            self._chown(os.path.join(p.datadir, fname))
        self._write_node_conf(p)
        self.start(p)
        stmts = [f"CREATE ROLE {REPL_USER} WITH LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'",
                 f"ALTER ROLE postgres PASSWORD {quote_literal(self.superuser_password)}"]
        for name, spec in self.users.items():
            password, method = (spec if isinstance(spec, tuple) else (spec, "scram-sha-256"))
            stmts.append(f"SET password_encryption = {quote_literal(method)}")
            stmts.append(f"CREATE ROLE {quote_ident(name)} LOGIN PASSWORD {quote_literal(password)}")
        stmts.append("RESET password_encryption")
        stmts += [f"SELECT pg_create_physical_replication_slot('{r.name}', true)"
                  for r in self.replicas]
        with self.connect(p) as conn:
            for s in stmts:
                conn.execute(s)

    def _create_replica(self, r):
        """pg_basebackup a replica from the primary through its slot and start it."""
        os.makedirs(r.dir, exist_ok=True)
        self._chown(r.dir)
        conninfo = (f"host=127.0.0.1 port={self.primary.port} user={REPL_USER} "
                    f"password={REPL_PASSWORD} application_name={r.name}")
        self._run(["pg_basebackup", "-D", r.datadir, "-d", conninfo, "-R", "-S", r.name,
                   "-X", "stream", "-c", "fast", "--no-sync"], f"pg_basebackup for {r.name}")
        self._write_node_conf(r)
        for stale in ("postmaster.pid", "postmaster.opts"):
            try:
                os.unlink(os.path.join(r.datadir, stale))
            except FileNotFoundError:
                pass
        self.start(r)

    # ----- checks -----------------------------------------------------------

    def wait_streaming(self, timeout=60):
        """Wait until every running replica shows as 'streaming' in the primary's pg_stat_replication."""
        want = {r.name for r in self.replicas if r.postmaster_pid()}
        deadline = time.monotonic() + timeout
        seen = {}
        while time.monotonic() < deadline:
            rows = self.sql(self.primary, "SELECT application_name, state FROM pg_stat_replication")
            seen = dict(rows)
            if all(seen.get(name) == "streaming" for name in want):
                return seen
            time.sleep(0.1)
        raise HarnessError(f"replicas not streaming after {timeout}s: want {sorted(want)}, "
                           f"pg_stat_replication says {seen}")

    def wait_caught_up(self, nodes=None, timeout=30):
        """Wait until each replica (default: all running ones) has replayed the primary's current LSN."""
        lsn = self.sql(self.primary, "SELECT pg_current_wal_lsn()")[0][0]
        targets = [self.node(n) for n in nodes] if nodes else \
            [r for r in self.replicas if r.postmaster_pid()]
        deadline = time.monotonic() + timeout
        for r in targets:
            while True:
                done = self.sql(r, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]
                if done:
                    break
                if time.monotonic() > deadline:
                    raise HarnessError(f"{r.name} has not replayed {lsn} after {timeout}s")
                time.sleep(0.05)
        return lsn

    def status(self):
        """Return a list of dicts: name, port, running, role and (for writers) replication state."""
        out = []
        for n in self.nodes:
            info = {"name": n.name, "port": n.port, "dir": n.dir, "running": False, "role": None}
            if n.postmaster_pid():
                info["running"] = True
                try:
                    rec = self.sql(n, "SELECT pg_is_in_recovery()", timeout=3)[0][0]
                    info["role"] = "replica" if rec else "primary"
                    if not rec:
                        info["replication"] = dict(self.sql(
                            n, "SELECT application_name, state FROM pg_stat_replication", timeout=3))
                except Exception as e:  # noqa: BLE001 - status must report, not fail
                    info["error"] = str(e).strip()
            out.append(info)
        return out

    # ----- SQL --------------------------------------------------------------

    def dsn(self, which, dbname="postgres", user="postgres", password=None, **extra):
        """libpq DSN for a node over TCP (what a proxy or a client would use)."""
        node = self.node(which)
        if password is None:
            password = self.password_of(user)
        parts = {"host": "127.0.0.1", "port": node.port, "dbname": dbname, "user": user,
                 "password": password, **extra}
        return " ".join(f"{k}={quote_conninfo(str(v))}" for k, v in parts.items() if v is not None)

    def socket_dsn(self, which, dbname="postgres", user="postgres", **extra):
        """libpq DSN for a node over its unix socket (trusted even when TCP needs passwords)."""
        node = self.node(which)
        parts = {"host": node.datadir, "port": node.port, "dbname": dbname, "user": user, **extra}
        return " ".join(f"{k}={quote_conninfo(str(v))}" for k, v in parts.items())

    def password_of(self, user):
        """The password the harness gave `user`, or None."""
        if user == "postgres":
            return self.superuser_password
        if user == REPL_USER:
            return REPL_PASSWORD
        spec = self.users.get(user)
        return spec[0] if isinstance(spec, tuple) else spec

    def connect(self, which, dbname="postgres", user="postgres", timeout=10, **kw):
        """Open an autocommit psycopg connection to a node over its unix socket."""
        psycopg = import_psycopg()
        return psycopg.connect(self.socket_dsn(which, dbname, user), autocommit=True,
                               connect_timeout=timeout, **kw)

    def sql(self, which, query, params=None, dbname="postgres", user="postgres", timeout=10):
        """Run one statement on a node (autocommit) and return its rows, or None if it has none."""
        with self.connect(which, dbname=dbname, user=user, timeout=timeout) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description is not None else None

    # ----- lifecycle and faults ---------------------------------------------

    def start(self, which, timeout=60):
        """Start a stopped node and wait until it accepts connections."""
        n = self.node(which)
        if n.postmaster_pid():
            return
        self._run(["pg_ctl", "start", "-w", "-t", str(timeout), "-D", n.datadir, "-l", n.log],
                  f"start {n.name} (log: {n.log})", timeout=timeout + 10)

    def stop(self, which, mode="fast", timeout=60):
        """Stop a node with pg_ctl (mode fast | immediate | smart); no-op if it is not running."""
        if mode not in ("fast", "immediate", "smart"):
            raise HarnessError(f"stop mode must be fast, immediate or smart, not {mode!r}")
        self._stop_dir(self.node(which), mode, timeout)

    def _stop_dir(self, n, mode, timeout=60):
        """pg_ctl stop one node's data directory; kill it if pg_ctl cannot."""
        pid = n.postmaster_pid()
        if pid is None:
            return
        try:
            self._run(["pg_ctl", "stop", "-w", "-t", str(timeout), "-m", mode, "-D", n.datadir],
                      f"stop {n.name}", timeout=timeout + 10)
        except HarnessError:
            if n.postmaster_pid():
                self.kill9(n)

    def restart(self, which, mode="fast"):
        """Stop then start a node."""
        self.stop(which, mode)
        self.start(which)

    def stop_all(self, mode="fast"):
        """Stop every node, replicas first (a primary stopping first makes walreceivers retry)."""
        for n in reversed(self.nodes):
            self._stop_dir(n, mode)

    def destroy(self):
        """Stop every node at once and remove the whole base directory."""
        self.stop_all(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _signal_tree(self, which, sig):
        """Send sig to a node's postmaster and all its children; return the pids signalled."""
        n = self.node(which)
        pid = n.postmaster_pid()
        if pid is None:
            raise HarnessError(f"{n.name} is not running")
        pids = process_tree(pid)
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        return pids

    def kill9(self, which, timeout=10):
        """SIGKILL a node's postmaster and every backend, like a machine crash."""
        n = self.node(which)
        pids = self._signal_tree(n, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while any(pid_alive(p) for p in pids):
            if time.monotonic() > deadline:
                raise HarnessError(f"{n.name}: processes {pids} survived SIGKILL")
            time.sleep(0.02)
        # Until its parent reaps it, the dead postmaster is a zombie that a new postmaster
        # would take for a live owner of postmaster.pid; the file is stale once it is dead.
        while os.path.exists(f"/proc/{pids[0]}") and time.monotonic() < deadline:
            time.sleep(0.02)
        if os.path.exists(f"/proc/{pids[0]}"):
            os.unlink(os.path.join(n.datadir, "postmaster.pid"))

    def sigstop(self, which):
        """Freeze a node (postmaster and backends) with SIGSTOP: connections hang, nothing closes."""
        self._signal_tree(which, signal.SIGSTOP)

    def sigcont(self, which):
        """Resume a node frozen by sigstop."""
        self._signal_tree(which, signal.SIGCONT)

    def promote(self, which, timeout=60):
        """Promote a replica to primary and wait until it accepts writes."""
        n = self.node(which)
        self._run(["pg_ctl", "promote", "-w", "-t", str(timeout), "-D", n.datadir],
                  f"promote {n.name}", timeout=timeout + 10)
        deadline = time.monotonic() + timeout
        while self.sql(n, "SELECT pg_is_in_recovery()")[0][0]:
            if time.monotonic() > deadline:
                raise HarnessError(f"{n.name} still in recovery {timeout}s after promote")
            time.sleep(0.05)

    def set_guc(self, which, name, value, timeout=10):
        """ALTER SYSTEM SET name = value (None: RESET) on a node, reload, and wait until new
        sessions see the reload (e.g. recovery_min_apply_delay on a replica)."""
        n = self.node(which)
        with self.connect(n) as conn:
            before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
            if value is None:
                conn.execute(f"ALTER SYSTEM RESET {quote_ident(name)}")
            else:
                conn.execute(f"ALTER SYSTEM SET {quote_ident(name)} = {quote_literal(str(value))}")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while self.sql(n, "SELECT pg_conf_load_time()")[0][0] <= before:
            if time.monotonic() > deadline:
                raise HarnessError(f"{n.name} did not reload its configuration in {timeout}s")
            time.sleep(0.02)
        time.sleep(0.05)  # the startup process reloads on its own SIGHUP, a moment later


# ----- small helpers ---------------------------------------------------------

def import_psycopg():
    """Import psycopg or raise a HarnessError that says how to get it."""
    try:
        import psycopg
    except ImportError as e:
        raise HarnessError("psycopg 3 is missing: run with /usr/bin/python3 and "
                           "`apt-get install python3-psycopg`") from e
    return psycopg


def quote_literal(s):
    """SQL string literal for s."""
    return "'" + str(s).replace("'", "''") + "'"


def quote_ident(s):
    """SQL identifier for s."""
    return '"' + str(s).replace('"', '""') + '"'


def quote_conninfo(v):
    """libpq conninfo value for v (quoted when it needs to be)."""
    if v and not any(c in v for c in " '\\\t\n"):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ----- CLI -------------------------------------------------------------------

def _print_nodes(cluster, as_json):
    """Print node names and addresses, as text or JSON."""
    info = cluster.status()
    if as_json:
        print(json.dumps({"dir": cluster.base_dir, "nodes": info}, indent=1))
        return
    for i in info:
        state = (i["role"] or "?") if i["running"] else "stopped"
        extra = ""
        if i.get("replication") is not None:
            extra = " replication: " + (", ".join(f"{k}={v}" for k, v in
                                                  sorted(i["replication"].items())) or "none")
        print(f"{i['name']:<9} 127.0.0.1:{i['port']:<6} {state:<8} {i['dir']}{extra}")


def main(argv=None):
    """CLI entry point; returns the process exit code."""
    ap = argparse.ArgumentParser(description="PostgreSQL 15 primary + streaming replicas for tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="create and start a fresh cluster (replaces one in --dir)")
    st.add_argument("--port", type=int, default=None, help="first port to try (default: random)")
    st.add_argument("--replicas", type=int, default=2)
    st.add_argument("--max-connections", type=int, default=300)
    st.add_argument("--auth", choices=AUTH_METHODS, default="trust")
    st.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD[:md5]",
                    help="extra login role (repeatable)")
    for name in ("stop", "status"):
        sub.add_parser(name)
    sub.choices["stop"].add_argument("--mode", choices=["fast", "immediate", "smart"],
                                     default="fast")
    sub.choices["stop"].add_argument("--remove", action="store_true", help="also delete --dir")
    sq = sub.add_parser("sql", help="run one statement on a node")
    sq.add_argument("node")
    sq.add_argument("query")
    fa = sub.add_parser("fault", help="stop/start/restart/kill9/sigstop/sigcont/promote a node")
    fa.add_argument("action", choices=["stop", "stop-immediate", "start", "restart", "kill9",
                                       "sigstop", "sigcont", "promote"])
    fa.add_argument("node")
    for p in sub.choices.values():
        p.add_argument("--dir", required=True)
        p.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        return _dispatch(args)
    except HarnessError as e:
        print(f"cluster.py: {e}", file=sys.stderr)
        return 1


def _dispatch(args):
    """Carry out one parsed CLI command."""
    if args.cmd == "start":
        users = {}
        for spec in args.user:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise HarnessError(f"--user wants NAME:PASSWORD[:md5], got {spec!r}")
            users[parts[0]] = (parts[1], "md5" if len(parts) == 3 else "scram-sha-256")
        c = Cluster(args.dir, port=args.port, replicas=args.replicas,
                    max_connections=args.max_connections, auth=args.auth, users=users)
        c.create()
        _print_nodes(c, args.json)
        return 0
    c = Cluster.load(args.dir)
    if c is None:
        if args.cmd == "stop":
            print(f"no cluster in {args.dir}")
            return 0
        raise HarnessError(f"no cluster in {args.dir} (no {STATE_FILE})")
    if args.cmd == "stop":
        c.stop_all(mode=args.mode)
        if args.remove:
            shutil.rmtree(c.base_dir, ignore_errors=True)
        print(f"stopped cluster in {c.base_dir}")
    elif args.cmd == "status":
        _print_nodes(c, args.json)
        return 0 if all(n.postmaster_pid() for n in c.nodes) else 3
    elif args.cmd == "sql":
        for row in c.sql(args.node, args.query) or []:
            print("\t".join("" if v is None else str(v) for v in row))
    elif args.cmd == "fault":
        action = {"stop": lambda n: c.stop(n), "stop-immediate": lambda n: c.stop(n, "immediate"),
                  "start": c.start, "restart": c.restart, "kill9": c.kill9,
                  "sigstop": c.sigstop, "sigcont": c.sigcont, "promote": c.promote}[args.action]
        action(args.node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
