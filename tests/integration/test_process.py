"""The process as an operator runs it: signals, the command line, the user it runs as, the open-files limit."""

import os
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from helpers import wait_for


def query_in_thread(proxy, sql):
    """Run sql on a new connection through proxy in a thread; returns (thread, result dict)."""
    result = {}

    def run():
        try:
            with proxy.connect() as conn:
                result["value"] = conn.execute(sql).fetchone()[0]
        except psycopg.Error as e:
            result["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def test_sigusr1_pauses_and_sigusr2_resumes(pgrouter):
    proxy = pgrouter()
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    proxy.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert proxy.alive(), "SIGUSR1 ended the process"
    t, result = query_in_thread(proxy, "SELECT 7")
    t.join(1.5)
    assert t.is_alive() and not result, f"a query ran while paused: {result}"
    proxy.send_signal(signal.SIGUSR2)
    t.join(10)
    assert result == {"value": 7}
    assert proxy.alive()


@pytest.mark.pgrouter_only
def test_stray_signals_are_ignored(pgrouter):
    proxy = pgrouter()
    for sig in (signal.SIGPIPE, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
                signal.SIGXFSZ, signal.SIGTTIN, signal.SIGTTOU, signal.SIGRTMIN, signal.SIGRTMAX):
        proxy.send_signal(sig)
    time.sleep(0.3)
    assert proxy.alive(), f"a stray signal ended the process:\n{proxy.log_tail()}"
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
