"""Where did a statement run? Read it from the servers' own logs (log_statement = 'all').

Each routing test tags its statements with a unique word (in a comment or a literal), then asks
every node's PostgreSQL log which backend logged that word. pgrouter's own account of its
routing is never consulted: only the servers say where a statement ran.
"""

import contextlib
import itertools
import re
import threading
import uuid

import psycopg

import pgwire

# Node names the harness gives the cluster's primary and its two replicas.
PRIMARY = "primary"
REPLICAS = {"replica1", "replica2"}

# "2024-05-01 12:00:00.123 UTC [4242] postgres@postgres LOG:  statement: …" (the harness's
# log_line_prefix is '%m [%p] %q%u@%d '); lines without this prefix continue the entry above.
ENTRY_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] ")


class Tagger:
    """Unique words for one test: rt<run><test>_<n>, never a prefix of another tag."""

    def __init__(self):
        self.base = "rt" + uuid.uuid4().hex[:10]
        self.counter = itertools.count(1)

    def __call__(self):
        """A fresh tag, e.g. rt3f2a9c01de_7x (the trailing x keeps _7 from matching _70)."""
        return f"{self.base}_{next(self.counter)}x"


class LogEntry:
    """One message of a server log: node name, backend pid and the text (with its continuation lines)."""

    def __init__(self, node, pid, text):
        self.node, self.pid, self.text = node, pid, text

    def __repr__(self):
        return f"{self.node}[{self.pid}]: {self.text[:200]!r}"


class ServerLogs:
    """The part of every node's log written since this object was made."""

    def __init__(self, cluster):
        self.nodes = list(cluster.nodes)
        self.offsets = {n.name: self._size(n) for n in self.nodes}

    @staticmethod
    def _size(node):
        """Current length of a node's log in bytes (0 when there is none yet)."""
        try:
            with open(node.log, "rb") as f:
                return f.seek(0, 2)
        except OSError:
            return 0

    def entries(self):
        """Every log message of every node since the start, in file order per node."""
        out = []
        for n in self.nodes:
            try:
                with open(n.log, "rb") as f:
                    f.seek(self.offsets[n.name])
                    data = f.read().decode(errors="replace")
            except OSError:
                continue
            current = None
            for line in data.splitlines():
                m = ENTRY_START.match(line)
                if m:
                    current = LogEntry(n.name, int(m.group(1)), line)
                    out.append(current)
                elif current is not None:
                    current.text += "\n" + line
        return out

    def where(self, *tags):
        """{tag: {node name: set of backend pids}} for the log entries that contain each tag."""
        found = {t: {} for t in tags}
        for e in self.entries():
            for t in tags:
                if t in e.text:
                    found[t].setdefault(e.node, set()).add(e.pid)
        return found

    def nodes_of(self, tag):
        """Names of the nodes whose log mentions tag."""
        return set(self.where(tag)[tag])

    def excerpt(self, *tags, limit=40):
        """Log entries mentioning any of the tags, for failure messages."""
        hits = [e for e in self.entries() if any(t in e.text for t in tags)]
        return "\n".join(repr(e) for e in hits[:limit])


def connect(proxy, autocommit=True, **kw):
    """psycopg connection through the proxy that never prepares statements on its own (pgrouter
    does not carry protocol-level prepared statements across servers yet)."""
    return psycopg.connect(proxy.dsn(**kw), autocommit=autocommit, prepare_threshold=None)


def placed(logs, tags):
    """{tag: node names} for tags, from the server logs."""
    return {t: set(nodes) for t, nodes in logs.where(*tags).items()}


def pids_of(logs, tags):
    """{(node, pid)} of every backend that logged any of the tags."""
    out = set()
    for nodes in logs.where(*tags).values():
        out |= {(node, pid) for node, pids in nodes.items() for pid in pids}
    return out


def run_shape(conn, kind, sql, params=None):
    """Run one statement the way its shape says; return its rows (or None)."""
    if kind == "copy_in":
        with conn.cursor().copy(sql) as cp:
            cp.write_row(("copied",))
        return None
    if kind == "copy_out":
        with conn.cursor().copy(sql) as cp:
            return [bytes(b) for b in cp]
    cur = conn.execute(sql, params if kind == "p" else None)
    return cur.fetchall() if cur.description else None


def count_by_node(logs, tags):
    """{node: how many of the tags ran there} (a tag seen on two nodes counts on both)."""
    counts = {}
    for nodes in placed(logs, tags).values():
        for n in nodes:
            counts[n] = counts.get(n, 0) + 1
    return counts


def run_concurrently(n_threads, fn):
    """Run fn(i) in n_threads threads; re-raise the first error."""
    errors = []

    def wrap(i):
        """Run fn(i), keeping its exception."""
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


def assert_one_backend(logs, tags, allowed, what):
    """All tags ran on exactly one backend of one node from `allowed`; return that node."""
    backends = pids_of(logs, tags)
    where = placed(logs, tags)
    assert len(backends) == 1 and all(where[t] for t in tags), \
        f"{what} ran on {sorted(backends)} ({where})\n{logs.excerpt(*tags)}"
    node = next(iter(backends))[0]
    assert node in allowed, f"{what} ran on {node}"
    return node


def raw_segment(sql, params=()):
    """Parse/Bind/Execute/Sync for one statement (unnamed statement and portal)."""
    return pgwire.parse(sql) + pgwire.bind(params) + pgwire.execute() + pgwire.sync()


def read_segment(w):
    """Read one segment's replies up to ReadyForQuery: (rows, command tag, error fields)."""
    rows, tag_, err = [], None, None
    for kind, payload in w.read_until((b"Z",), timeout=5):
        if kind == b"D":
            rows.append(pgwire.data_row(payload))
        elif kind == b"C":
            tag_ = payload.rstrip(b"\0").decode()
        elif kind == b"E":
            err = pgwire.error_fields(payload)
    return rows, tag_, err


@contextlib.contextmanager
def statements_logged(cluster, setup_sql, teardown_sql):
    """The cluster with every statement logged on every node and setup_sql run on the primary (and
    replicated); afterwards teardown_sql runs and log_statement is restored."""
    for n in cluster.nodes:
        cluster.set_guc(n, "log_statement", "all")
    try:
        cluster.sql(cluster.primary, setup_sql)
        cluster.wait_caught_up()
        yield cluster
    finally:
        cluster.sql(cluster.primary, teardown_sql)
        for n in cluster.nodes:
            cluster.set_guc(n, "log_statement", None)
