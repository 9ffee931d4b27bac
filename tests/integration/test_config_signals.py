"""Config files (good, bad, missing) and the signals an operator sends."""

import re
import signal
import socket
import subprocess
import threading
import time

import psycopg
import pytest

import pgwire
from helpers import Sampler, ServerCounter, backend_id, wait_for


def run_to_exit(proxy, ini_path, timeout=5):
    """Run the proxy on ini_path and return (exit code, output); fail if it keeps running."""
    argv = proxy.command()[:-1] + [str(ini_path)]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=proxy.workdir)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proxy.kind} kept running on a bad config ({ini_path})")
    return r.returncode, r.stdout + r.stderr


def broken_config(proxy, key, value, replace=False):
    """Write the proxy's config with `key = value` added (or replacing key's line) to
    broken.ini; return (path, 1-based line number of that line)."""
    lines = proxy.config_text().splitlines()
    bad = f"{key} = {value}"
    existing = [i for i, line in enumerate(lines) if line.split("=")[0].strip() == key]
    if replace and existing:
        idx = existing[0]
        lines[idx] = bad
    else:
        idx = len(lines)
        lines.append(bad)
    path = proxy.workdir / "broken.ini"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path, idx + 1


def names_file_line_key(output, path, line, key):
    """True if one line of output names the file, the line number and the key."""
    pats = [re.compile(rf"{re.escape(path.name)}:{line}\b"), re.compile(rf"\bline:? *{line}\b")]
    for text in output.splitlines():
        if path.name in text and key in text and any(p.search(text) for p in pats):
            return True
    return False


@pytest.mark.parametrize("key,value,replace", [
    ("no_such_setting", "1", False),
    ("default_pool_size", "lots", True),
    ("query_wait_timeout", "soon", False),
    ("pool_mode", "sometimes", True),
    # PgBouncer 1.18 takes a negative max_client_conn; pgrouter refuses it
    pytest.param("max_client_conn", "-5", False, marks=pytest.mark.pgrouter_only),
], ids=["unknown-key", "bad-integer", "bad-duration", "bad-enum", "negative"])
def test_bad_config_exits_naming_file_line_key(pgrouter, key, value, replace):
    proxy = pgrouter(launch=False)
    path, line = broken_config(proxy, key, value, replace)
    rc, out = run_to_exit(proxy, path)
    assert rc != 0, out
    assert names_file_line_key(out, path, line, key), \
        f"no line naming {path.name}, line {line} and {key}:\n{out}"


def test_missing_config_file(pgrouter):
    proxy = pgrouter(launch=False)
    missing = proxy.workdir / "does-not-exist.ini"
    rc, out = run_to_exit(proxy, missing)
    assert rc != 0
    assert "does-not-exist.ini" in out, out


@pytest.mark.pgrouter_only
def test_pgbouncer_section_name_is_accepted(pgrouter):
    proxy = pgrouter(launch=False)
    text = proxy.config_text().replace("[pgrouter]", "[pgbouncer]")
    assert "[pgbouncer]" in text
    proxy.config_text = lambda: text
    proxy.start()
    with proxy.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.pgrouter_only
def test_duration_units_are_understood(pgrouter):
    pgr = pgrouter(default_pool_size=1, workers=1, query_wait_timeout="1500ms",
                   server_idle_timeout="1min", server_lifetime="3600s",
                   server_connect_timeout="2.5")
    with pgr.connect() as holder:
        holder.execute("BEGIN")
        backend_id(holder)
        w = pgwire.Wire(pgr.port, timeout=10)
        t0 = time.monotonic()
        try:
            w.startup()
            _, err = w.simple("SELECT 1")
        except pgwire.ServerError as e:
            err = e.fields
        waited = time.monotonic() - t0
        w.close()
        assert err is not None and "query_wait_timeout" in err["M"]
        assert 1.3 <= waited <= 4, f"query_wait_timeout=1500ms fired after {waited:.2f}s"
        holder.execute("COMMIT")


def burst(pgr, n, seconds):
    """n clients of role pgr_pool run one pg_sleep transaction each, all at once; return errors."""
    errors = []

    def one():
        try:
            with pgr.connect(user="pgr_pool") as c:
                with c.transaction():
                    c.execute(f"SELECT pg_sleep({seconds})")
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(repr(e))
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return errors


def test_sighup_reloads_pool_size_without_dropping_clients(pgrouter, cluster):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2, workers=1)
    counter = ServerCounter(cluster, "pgr_pool")
    keeper = pgr.connect()  # stays connected, inside a transaction, across the reload
    keeper.execute("BEGIN")
    kept_on = backend_id(keeper)
    with Sampler(counter) as s:
        assert burst(pgr, 6, 0.3) == []
    assert s.max == 2
    pgr.write_config(default_pool_size=5)
    pgr.reload()
    assert pgr.alive()
    assert backend_id(keeper) == kept_on  # same transaction, same server
    keeper.execute("COMMIT")
    with Sampler(counter) as s:
        assert burst(pgr, 8, 0.5) == []
    assert s.max == 5, f"after reload to default_pool_size=5 saw {s.max} server connections"
    assert keeper.execute("SELECT 1").fetchone()[0] == 1
    keeper.close()
    counter.close()


@pytest.mark.pgrouter_only
def test_sighup_as_soon_as_the_port_answers_is_a_reload(pgrouter):
    """A deploy script reloads the moment the port answers: that SIGHUP is a reload, never an exit
    (signals are caught before the listeners open)."""
    pgr = pgrouter(wait=False)
    deadline = time.monotonic() + 10
    while True:
        assert pgr.alive(), pgr.log_tail()
        try:
            socket.create_connection(("127.0.0.1", pgr.port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "pgrouter never listened"
    pgr.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in pgr.log or not pgr.alive(), timeout=10,
             what="the reload")
    assert pgr.alive(), f"SIGHUP right after start killed pgrouter (exit {pgr.proc.returncode})"
    with pgr.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_sigint_waits_for_open_transaction(pgrouter, cluster):
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS sigint_test")
    cluster.sql(cluster.primary, "CREATE TABLE sigint_test (x int)")
    pgr = pgrouter(pool_mode="transaction")
    a = pgr.connect()
    a.execute("BEGIN")
    a.execute("INSERT INTO sigint_test VALUES (1)")
    pgr.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert pgr.alive(), "SIGINT did not wait for the open transaction"
    a.execute("INSERT INTO sigint_test VALUES (2)")
    a.execute("COMMIT")
    rc = pgr.proc.wait(10)
    assert rc == 0
    assert cluster.sql(cluster.primary, "SELECT count(*) FROM sigint_test")[0][0] == 2
    a.close()
    cluster.sql(cluster.primary, "DROP TABLE sigint_test")


def test_sigterm_exits_at_once_and_rolls_back(pgrouter, cluster):
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS sigterm_test")
    cluster.sql(cluster.primary, "CREATE TABLE sigterm_test (x int)")
    cluster.sql(cluster.primary, "GRANT ALL ON sigterm_test TO pgr_pool")
    pgr = pgrouter(pool_mode="transaction")
    counter = ServerCounter(cluster, "pgr_pool")
    a = pgr.connect(user="pgr_pool")
    a.execute("BEGIN")
    a.execute("INSERT INTO sigterm_test VALUES (1)")
    t0 = time.monotonic()
    pgr.stop(signal.SIGTERM, timeout=5)
    assert time.monotonic() - t0 < 3
    with pytest.raises(psycopg.OperationalError):
        a.execute("COMMIT")
    a.close()
    wait_for(lambda: counter() == 0, what="server connections closed after SIGTERM")
    counter.close()
    assert cluster.sql(cluster.primary, "SELECT count(*) FROM sigterm_test")[0][0] == 0
    cluster.sql(cluster.primary, "DROP TABLE sigterm_test")
