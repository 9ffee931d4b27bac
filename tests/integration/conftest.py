"""pytest fixtures: a shared PostgreSQL primary + 2 replicas, and a factory that runs pgrouter
(or, with PGR_TEST_PROXY=pgbouncer, Debian's PgBouncer) in front of it."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))
import cluster as harness  # noqa: E402  (path set just above)
from helpers import client_backends, db_entry  # noqa: E402

PROXY_KIND = os.environ.get("PGR_TEST_PROXY", "pgrouter")
if PROXY_KIND not in ("pgrouter", "pgbouncer"):
    raise RuntimeError(f"PGR_TEST_PROXY must be pgrouter or pgbouncer, not {PROXY_KIND!r}")
_bin = Path(os.environ.get("PGROUTER_BIN", "build/pgrouter"))
PGROUTER_BIN = _bin if _bin.is_absolute() else REPO / _bin
PGBOUNCER_BIN = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

# Login roles every test may use; pool tests count server connections per role.
TEST_USERS = {"pgr_app": "pgr_app", "pgr_pool": "pgr_pool", "pgr_other": "pgr_other"}
# Settings pgrouter has and PgBouncer does not; dropped when the suite runs PgBouncer.
PGROUTER_ONLY_SETTINGS = {"workers"}
# The unprivileged user both proxies run as when the suite runs as root (PostgreSQL's own).
RUN_AS = "postgres"
DEFAULT_TEST_TIMEOUT = int(os.environ.get("PGR_TEST_TIMEOUT", "60"))
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error", "LeakSanitizer")


def pytest_configure(config):
    """Register our markers."""
    config.addinivalue_line("markers", "pgr_timeout(seconds): per-test time limit")
    config.addinivalue_line("markers", "pgrouter_only: pgrouter contract PgBouncer does not meet")
    config.addinivalue_line("markers", "plain_build: builds or installs pgrouter itself (the package, make install): "
                            "run once, in the plain suite; the sanitizer suite leaves them out (-m 'not plain_build')")


def pytest_collection_modifyitems(config, items):
    """Skip pgrouter-only tests when the suite runs against PgBouncer."""
    if PROXY_KIND != "pgbouncer":
        return
    skip = pytest.mark.skip(reason="pgrouter-only behaviour (PGR_TEST_PROXY=pgbouncer)")
    for item in items:
        if item.get_closest_marker("pgrouter_only"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item so fixtures can tell whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class TimeLimitExceeded(Exception):
    """A test ran past its time limit (raised from SIGALRM so a hang fails instead of blocking CI)."""


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fail a test that runs longer than its limit (default PGR_TEST_TIMEOUT seconds)."""
    mark = request.node.get_closest_marker("pgr_timeout")
    limit = int(mark.args[0]) if mark else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        """Interrupt the hung test in the main thread."""
        raise TimeLimitExceeded(f"test exceeded {limit}s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ----- the cluster ---------------------------------------------------------------

@pytest.fixture(scope="session")
def cluster():
    """Primary + 2 streaming replicas shared by the whole run. PGR_TEST_CLUSTER_DIR=D reuses
    (or creates and keeps) a cluster in D, which makes re-running a test quick."""
    keep_dir = os.environ.get("PGR_TEST_CLUSTER_DIR")
    if keep_dir:
        c = harness.Cluster.load(keep_dir)
        if c is None or not all(n.postmaster_pid() for n in c.nodes) \
                or not all(u in c.users for u in TEST_USERS):
            c = harness.Cluster(keep_dir, replicas=2, users=TEST_USERS).create()
        yield c
        return
    sweep_abandoned_clusters()
    base = tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir="/tmp")
    Path(base, OWNER_FILE).write_text(str(os.getpid()))
    c = harness.Cluster(base, replicas=2, users=TEST_USERS)
    # `timeout` and CI send SIGTERM: turn it into KeyboardInterrupt so fixtures tear down.
    old_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        c.create()
        yield c
    finally:
        c.destroy()
        signal.signal(signal.SIGTERM, old_term)


CLUSTER_PREFIX = "pgr-it-"
OWNER_FILE = "owner.pid"


def fresh_cluster(**extra_conf):
    """A new primary + 2 replicas of a test module's own (for tests that stop, kill or delay nodes), marked
    as owned by this run so that an interrupted run's leftovers are swept; the caller destroys it."""
    base = tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir="/tmp")
    Path(base, OWNER_FILE).write_text(str(os.getpid()))
    c = harness.Cluster(base, replicas=2, extra_conf=extra_conf)
    try:
        c.create()
    except BaseException:
        c.destroy()
        raise
    return c


def _interrupt(signum, frame):
    """SIGTERM handler: unwind like Ctrl-C so session fixtures stop their servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def sweep_abandoned_clusters():
    """Stop and remove clusters of earlier test runs that were killed before their teardown."""
    for d in Path("/tmp").glob(CLUSTER_PREFIX + "*"):
        try:
            owner = int((d / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if harness.pid_alive(owner):
            continue
        old = harness.Cluster.load(d)
        if old is not None:
            old.stop_all(mode="immediate")
        shutil.rmtree(d, ignore_errors=True)


class Proxy:
    """One pgrouter (or PgBouncer) process under test, with its config file and stderr log."""

    def __init__(self, kind, cluster, workdir, databases, settings):
        self.kind = kind
        self.cluster = cluster
        self.workdir = Path(workdir)
        self.ini = self.workdir / ("pgbouncer.ini" if kind == "pgbouncer" else "pgrouter.ini")
        self.log_path = self.workdir / "proxy.log"
        self.port = harness.pick_ports(1)[0]
        self.databases = databases
        # trust is the tests' explicit choice (the default is md5); auth_type=None drops the line.
        self.settings = {"listen_addr": "127.0.0.1", "listen_port": self.port,
                         "auth_type": "trust", "admin_users": "postgres",
                         "pool_mode": "transaction", "default_pool_size": 10}
        if kind == "pgrouter" and os.geteuid() == 0:
            # pgrouter, like PgBouncer, will not run as root: it switches to postgres once bound, and
            # then writes its pidfile and reopens its logfile in the work directory as postgres.
            self.settings["user"] = RUN_AS
            shutil.chown(self.workdir, RUN_AS, RUN_AS)
        self.settings.update(settings)
        self.proc = None
        self.stopped_by_test = False

    # config

    def config_text(self):
        """The ini text for the current databases and settings, in this proxy kind's dialect."""
        lines = ["[databases]"]
        for name, entry in self.databases.items():
            if isinstance(entry, dict):
                entry = " ".join(f"{k}={v}" for k, v in entry.items()
                                 if not (self.kind == "pgbouncer" and k == "replicas"))
            lines.append(f"{name} = {entry}")
        lines.append("[pgbouncer]" if self.kind == "pgbouncer" else "[pgrouter]")
        settings = dict(self.settings)
        routes = settings.pop("routes", None)   # {name: "key=value ..."} -> a [routes] section
        if self.kind == "pgbouncer":
            for k in PGROUTER_ONLY_SETTINGS:
                settings.pop(k, None)
            settings.setdefault("auth_file", str(self.workdir / "userlist.txt"))
            settings.setdefault("unix_socket_dir", "")
        for k, v in settings.items():
            if v is not None:
                lines.append(f"{k} = {v}")
        if routes:
            lines.append("[routes]")
            lines += [f"{name} = {spec}" for name, spec in routes.items()]
        return "\n".join(lines) + "\n"

    def write_config(self, **changes):
        """Update settings (None removes one) and rewrite the ini; call reload() to apply."""
        for k, v in changes.items():
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = v
        self.ini.write_text(self.config_text())
        self.ini.chmod(0o644)
        if self.kind == "pgbouncer":
            users = ["postgres", *TEST_USERS]
            p = self.workdir / "userlist.txt"
            p.write_text("".join(f'"{u}" ""\n' for u in users))
            p.chmod(0o644)

    def hand_over(self, *paths):
        """Give paths to the user the proxy runs as (when the suite runs as root), as an operator gives
        it a key it must read again on reload."""
        if self.settings.get("user"):
            for p in paths:
                shutil.chown(p, self.settings["user"], self.settings["user"])

    # process

    def command(self):
        """argv that runs this proxy in the foreground (PgBouncer refuses to run as root)."""
        if self.kind == "pgbouncer":
            argv = [PGBOUNCER_BIN, str(self.ini)]
            if os.geteuid() == 0:
                argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv
            return argv
        return [str(PGROUTER_BIN), str(self.ini)]

    def start(self, wait=True, timeout=10.0):
        """Start the process (stderr to proxy.log) and, if wait, until it accepts TCP connections."""
        self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.workdir)
        if wait:
            self.wait_listening(timeout)
        return self

    def wait_listening(self, timeout=10.0):
        """Wait until the proxy accepts a TCP connection; fail with its log if it exits first."""
        import socket
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.kind} exited with {self.proc.returncode} during startup:\n"
                            f"{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.kind} not listening on {self.port} after {timeout}s:\n"
                                f"{self.log_tail()}")
                time.sleep(0.02)

    @property
    def pid(self):
        """Process id of the proxy."""
        return self.proc.pid

    @property
    def log(self):
        """Everything the proxy wrote to stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        """The last n lines of the log."""
        return "\n".join(self.log.splitlines()[-n:])

    def alive(self):
        """True while the process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def is_asan(self):
        """True if this is an AddressSanitizer build (its RSS is not comparable: quarantine)."""
        if self.kind != "pgrouter":
            return False
        try:
            return b"__asan_init" in PGROUTER_BIN.read_bytes()
        except OSError:
            return False

    def rss_kb(self):
        """Resident set size of the proxy in kB (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def reload(self, settle=0.5):
        """SIGHUP the proxy (re-read the ini) and give it a moment to apply it."""
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(settle)

    def send_signal(self, sig):
        """Send sig without waiting; marks the stop as intended so teardown does not call it a crash."""
        if sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGQUIT):
            self.stopped_by_test = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig (SIGINT: safe shutdown, SIGTERM: immediate) and wait for exit; return the code."""
        self.send_signal(sig)
        return self.proc.wait(timeout)

    # clients

    def dsn(self, **kw):
        """libpq DSN for connecting through the proxy; keyword arguments override/add parameters."""
        params = {"host": "127.0.0.1", "port": self.port, "dbname": "postgres",
                  "user": "postgres", "connect_timeout": 5}
        params.update(kw)
        return " ".join(f"{k}={harness.quote_conninfo(str(v))}" for k, v in params.items()
                        if v is not None)

    def connect(self, autocommit=True, **kw):
        """psycopg connection through the proxy (autocommit unless asked otherwise)."""
        return psycopg.connect(self.dsn(**kw), autocommit=autocommit)

    # teardown

    def finish(self):
        """Stop the proxy if still running; return a list of problems (crash, hang, sanitizer)."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append(f"{self.kind} did not exit within 15s of SIGTERM")
        elif not self.stopped_by_test:
            problems.append(f"{self.kind} exited during the test (code {self.proc.returncode})")
        rc = self.proc.returncode
        if rc < 0 and -rc in CRASH_SIGNALS:
            problems.append(f"{self.kind} died of signal {signal.Signals(-rc).name}")
        text = self.log
        for marker in SANITIZER_MARKERS:
            if marker in text:
                problems.append(f"{self.kind} log contains {marker!r}")
        return problems


def clean_server(cluster, timeout=5.0):
    """Wait for the proxies' server connections to close; terminate any that linger (a backend
    stuck in pg_sleep does not notice its client left) so the next test starts clean."""
    deadline = time.monotonic() + timeout
    while client_backends(cluster) and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.sql(cluster.primary,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND client_addr IS NOT NULL "
                "AND pid <> pg_backend_pid()")


@pytest.fixture
def pgrouter(cluster, request):
    """Factory: pgrouter(databases=None, wait=True, launch=True, kind=None, **settings) -> a started Proxy.

    databases maps a database name to a dict (or connection string); the default is the
    cluster's primary alone (routing tests pass db_entry(cluster, replicas=True)). Settings go to [pgrouter] (or [pgbouncer]).
    kind ("pgrouter" or "pgbouncer") picks the proxy regardless of PGR_TEST_PROXY (tests that compare
    the two start one of each); the default is the suite's PROXY_KIND. At teardown
    every proxy is stopped and the test fails if one crashed, hung or logged a sanitizer error."""
    made = []
    workroot = Path(tempfile.mkdtemp(prefix="proxy-", dir=cluster.base_dir))
    workroot.chmod(0o755)  # PgBouncer runs as postgres and must read its files

    def start(databases=None, wait=True, launch=True, kind=None, **settings):
        workdir = workroot / str(len(made))
        workdir.mkdir()
        workdir.chmod(0o755)
        dbs = databases if databases is not None else {"postgres": db_entry(cluster)}
        proxy = Proxy(kind or PROXY_KIND, cluster, workdir, dbs, settings)
        made.append(proxy)
        if not launch:  # the caller only wants the config (e.g. to break it)
            proxy.write_config()
            return proxy
        return proxy.start(wait=wait)

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    problems = []
    for proxy in made:
        found = proxy.finish()
        problems += found
        if found or failed:
            print(f"----- {proxy.kind} log ({proxy.log_path}) -----\n{proxy.log_tail(200)}")
    clean_server(cluster)
    shutil.rmtree(workroot, ignore_errors=True)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def proxy_kind():
    """'pgrouter' or 'pgbouncer': which proxy the suite runs against."""
    return PROXY_KIND


# ----- a password-protected, TLS-enabled cluster for authentication tests ----------

import certs  # noqa: E402  (tests/harness is on sys.path, set at the top)

# Roles of the auth cluster: SCRAM secrets except pgr_md5, whose password is stored as md5.
AUTH_USERS = {"pgr_app": "app-secret", "pgr_md5": ("md5-secret", "md5"),
              "pgr_cert": "cert-secret", "pgr_plain": "plain-secret"}


class TlsMaterial:
    """The certificates of one test run: CA1 (trusted everywhere), CA2 (a stranger's CA),
    server certificates for localhost/127.0.0.1 from both, and client certificates."""

    def __init__(self, base):
        self.dir = Path(base)
        self.ca = certs.CertAuthority.create(str(self.dir / "ca1"), "pgrouter test CA 1")
        self.ca2 = certs.CertAuthority.create(str(self.dir / "ca2"), "pgrouter test CA 2")
        self.server = self.ca.issue_server(str(self.dir / "ca1"))
        self.server2 = self.ca2.issue_server(str(self.dir / "ca2"))
        self.clients = {cn: self.ca.issue_client(str(self.dir / "ca1"), cn)
                        for cn in ("pgr_cert", "pgr_app", "mallory")}
        self.stranger_client = self.ca2.issue_client(str(self.dir / "ca2"), "pgr_cert")
        # PostgreSQL runs as postgres and insists on owning its 0600 key.
        pgdir = self.dir / "pg"
        pgdir.mkdir()
        self.pg_key = pgdir / "server.key"
        shutil.copy(self.server.key, self.pg_key)
        self.pg_key.chmod(0o600)
        if os.geteuid() == 0:
            for p in (self.dir, pgdir, self.pg_key):
                shutil.chown(p, "postgres", "postgres")
        for p in (self.dir, pgdir, self.dir / "ca1", self.dir / "ca2"):
            p.chmod(0o755)
        for p in [self.ca.cert, self.ca2.cert, self.server.cert, self.server2.cert]:
            os.chmod(p, 0o644)
        if os.geteuid() == 0:
            # pgrouter reads its key again on reload, by then as postgres (see Proxy).
            for issued in (self.server, self.server2):
                shutil.chown(issued.key, RUN_AS, RUN_AS)

    def client(self, cn):
        """The client certificate (certs.Issued) issued by CA1 for cn."""
        return self.clients[cn]

    def proxy_settings(self, mode="prefer", server=None, ca=None):
        """pgrouter client_tls_* settings presenting `server` (default: CA1's localhost cert)
        and trusting CA1 (or ca) for client certificates."""
        srv = server or self.server
        return {"client_tls_sslmode": mode, "client_tls_cert_file": srv.cert,
                "client_tls_key_file": srv.key, "client_tls_ca_file": ca or self.ca.cert}

    def libpq(self, sslmode="verify-full", host="localhost", rootcert=None, client=None):
        """libpq parameters for a TLS connection to a proxy on 127.0.0.1 (host names the
        certificate to expect; hostaddr is where to connect)."""
        params = {"sslmode": sslmode, "host": host, "hostaddr": "127.0.0.1"}
        if sslmode in ("verify-ca", "verify-full") or rootcert:
            params["sslrootcert"] = rootcert or self.ca.cert
        if client is not None:
            params["sslcert"], params["sslkey"] = client.cert, client.key
        return params


@pytest.fixture(scope="session")
def tls():
    """TlsMaterial generated once per run in a throwaway directory (removed at the end)."""
    base = tempfile.mkdtemp(prefix="pgr-tls-", dir="/tmp")
    try:
        yield TlsMaterial(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def auth_cluster(tls):
    """A lone PostgreSQL 15 primary that really authenticates (scram-sha-256, md5 for pgr_md5)
    and serves TLS with CA1's certificate, listening on 127.0.0.1 and 127.0.0.2."""
    sweep_abandoned_clusters()
    base = tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir="/tmp")
    Path(base, OWNER_FILE).write_text(str(os.getpid()))
    c = harness.Cluster(base, replicas=0, auth="scram-sha-256", users=AUTH_USERS, extra_conf={
        "listen_addresses": "'127.0.0.1,127.0.0.2'", "ssl": "on",
        "ssl_cert_file": harness.quote_literal(tls.server.cert),
        "ssl_key_file": harness.quote_literal(str(tls.pg_key)),
        "ssl_ca_file": harness.quote_literal(tls.ca.cert)})
    old_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        c.create()
        yield c
    finally:
        c.destroy()
        signal.signal(signal.SIGTERM, old_term)


def authid_secret(cluster, user):
    """The secret PostgreSQL stores for user (pg_authid.rolpassword: SCRAM-SHA-256$… or md5…)."""
    return cluster.sql(cluster.primary, "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                       (user,))[0][0]


def userlist_text(entries):
    """auth_file text in PgBouncer's userlist format for {user: secret}."""
    def q(s):
        return '"' + s.replace('"', '""') + '"'
    return "".join(f"{q(u)} {q(s)}\n" for u, s in entries.items())


@pytest.fixture
def secure_pgrouter(auth_cluster, request):
    """Factory like `pgrouter`, in front of auth_cluster:
    secure_pgrouter(databases=None, userlist=None, hba=None, wait=True, launch=True, **settings).

    userlist ({user: secret}) becomes the auth_file, hba (text) the auth_hba_file, both in the
    proxy's work directory. Teardown fails the test if pgrouter crashed or logged a sanitizer
    error, and prints its log when the test failed."""
    made = []
    workroot = Path(tempfile.mkdtemp(prefix="proxy-", dir=auth_cluster.base_dir))
    workroot.chmod(0o755)

    def start(databases=None, userlist=None, hba=None, wait=True, launch=True, **settings):
        workdir = workroot / str(len(made))
        workdir.mkdir()
        workdir.chmod(0o755)
        if userlist is not None:
            (workdir / "userlist.txt").write_text(userlist_text(userlist))
            settings.setdefault("auth_file", str(workdir / "userlist.txt"))
        if hba is not None:
            (workdir / "hba.conf").write_text(hba)
            settings.setdefault("auth_hba_file", str(workdir / "hba.conf"))
        dbs = databases if databases is not None else {"postgres": db_entry(auth_cluster)}
        proxy = Proxy("pgrouter", auth_cluster, workdir, dbs, settings)
        made.append(proxy)
        if not launch:
            proxy.write_config()
            return proxy
        return proxy.start(wait=wait)

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    problems = []
    for proxy in made:
        found = proxy.finish()
        problems += found
        if found or failed:
            print(f"----- pgrouter log ({proxy.log_path}) -----\n{proxy.log_tail(200)}")
    clean_server(auth_cluster)
    shutil.rmtree(workroot, ignore_errors=True)
    if problems:
        pytest.fail("; ".join(problems))


class PsqlResult:
    """What one psql run printed and returned."""

    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"PsqlResult(rc={self.rc}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def psql():
    """run(dsn, sql, password=None) -> PsqlResult: psql -X -A -t -c sql, with PGPASSWORD
    (when given) and no other PG* variables from the environment."""
    binary = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"

    def run(dsn, sql="SELECT current_user", password=None, timeout=20):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "5"
        if password is not None:
            env["PGPASSWORD"] = password
        r = subprocess.run([binary, "-X", "-A", "-t", "-w", "-c", sql, dsn], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        return PsqlResult(r.returncode, r.stdout.strip(), r.stderr.strip())
    return run
