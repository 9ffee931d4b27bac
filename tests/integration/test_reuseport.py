"""so_reuseport: two pgrouter processes on one port, and a rolling restart (SIGINT to one of them) that
fails no transaction of clients that keep reconnecting."""

import os
import signal
import threading
import time

import psycopg
import pytest

from test_config_signals import run_to_exit

pytestmark = pytest.mark.pgrouter_only


def on_same_port(pgrouter, **settings):
    """Two started pgrouters listening on one port with so_reuseport = 1."""
    first = pgrouter(so_reuseport=1, **settings)
    second = pgrouter(launch=False, so_reuseport=1, **settings)
    second.port = first.port
    second.settings["listen_port"] = first.port
    return first, second.start()


class Reconnecting:
    """Clients that each loop on: connect, a short transaction, disconnect; counting successes and failures."""

    def __init__(self, proxy, n):
        self.dsn = proxy.dsn()
        self.done, self.failures = 0, []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]

    def run(self):
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as c:
                    with c.transaction():
                        c.execute("SELECT 1")
                        c.execute("SELECT pg_backend_pid()")
                with self.lock:
                    self.done += 1
            except psycopg.Error as e:
                with self.lock:
                    self.failures.append(repr(e))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def logins(proxy):
    """How many client logins the proxy logged."""
    return proxy.log.count("login: db=")


def test_second_instance_on_the_port_needs_so_reuseport(pgrouter):
    first = pgrouter(so_reuseport=1)
    second = pgrouter(launch=False)
    second.port = first.port
    second.settings["listen_port"] = first.port
    second.write_config()
    rc, out = run_to_exit(second, second.ini)
    assert rc == 1 and "Address already in use" in out, out


@pytest.mark.pgr_timeout(120)
def test_rolling_restart_fails_no_transaction(pgrouter):
    old, new = on_same_port(pgrouter, workers=2, pool_mode="transaction", default_pool_size=4,
                            max_client_conn=200)
    with Reconnecting(old, 8) as clients:
        deadline = time.monotonic() + 20
        while (logins(old) < 50 or logins(new) < 50) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logins(old) >= 50 and logins(new) >= 50, "the kernel did not spread clients over both"
        old.send_signal(signal.SIGINT)
        assert old.proc.wait(20) == 0, old.log_tail()
        served_after = clients.done
        time.sleep(1.0)
        assert clients.done > served_after, "the remaining instance serves no one"
    assert clients.failures == [], f"{len(clients.failures)} failed of {clients.done}: {clients.failures[:5]}"
    assert new.alive()
    with new.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_sigint_serves_connections_the_kernel_queued(pgrouter):
    """Connections queued on the stopping process's listening socket (it was SIGSTOPped while they
    arrived) are accepted and served after SIGINT, not reset."""
    old, new = on_same_port(pgrouter, workers=1, pool_mode="transaction")
    results = []

    def one():
        try:
            with psycopg.connect(old.dsn(connect_timeout=20), autocommit=True) as c:
                with c.transaction():
                    results.append(c.execute("SELECT 1").fetchone()[0])
        except psycopg.Error as e:
            results.append(repr(e))

    os.kill(old.pid, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=one) for _ in range(16)]
        for t in threads:
            t.start()
        time.sleep(1.0)   # the handshakes complete in the kernel; half or so wait on the stopped process
        old.send_signal(signal.SIGINT)
    finally:
        os.kill(old.pid, signal.SIGCONT)
    for t in threads:
        t.join(30)
    assert old.proc.wait(20) == 0, old.log_tail()
    assert results == [1] * 16, results
    assert logins(old) >= 1, "no connection waited on the stopped process"
    assert new.alive()
