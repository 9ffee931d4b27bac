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


def binary(proxy):
    """The proxy's executable, without the wrapper the harness may put around it."""
    return proxy.command()[-2]


def run_cli(proxy, *args, timeout=10):
    """Run the proxy's binary directly (as this process's user) with args; returns (code, output)."""
    r = subprocess.run([binary(proxy), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, cwd=proxy.workdir)
    return r.returncode, r.stdout + r.stderr


def start_direct(proxy, *args):
    """Start the proxy's binary directly with args before the ini, tracked by the fixture's teardown."""
    proxy.write_config()
    with open(proxy.log_path, "ab") as log:
        proxy.proc = subprocess.Popen([binary(proxy), *args, str(proxy.ini)], stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, cwd=proxy.workdir)
    proxy.wait_listening()
    return proxy


def proc_status(pid, field):
    """A field of /proc/pid/status as a list of words."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def writable_dir(proxy, name):
    """A directory in the proxy's workdir that any user (PgBouncer's postgres, too) can write."""
    d = proxy.workdir / name
    d.mkdir()
    d.chmod(0o777)
    return d


def test_help_and_version(pgrouter, proxy_kind):
    proxy = pgrouter(launch=False)
    rc, out = run_cli(proxy, "--help")
    assert rc == 0 and "-d" in out and "-u" in out and "-q" in out and "-V" in out, out
    for flag in ("--version", "-V"):
        rc, out = run_cli(proxy, flag)
        assert rc == 0 and any(ch.isdigit() for ch in out), out
    rc, out = run_cli(proxy, "--no-such-option", str(proxy.ini))
    assert rc != 0 and "no-such-option" in out, out
    if proxy_kind == "pgrouter":
        assert rc == 2


def test_daemon_refused_without_pidfile(pgrouter):
    proxy = pgrouter(launch=False, user=None)
    proxy.write_config()
    rc, out = run_cli(proxy, "-d", "-u", "postgres", str(proxy.ini)) if os.geteuid() == 0 else \
        run_cli(proxy, "-d", str(proxy.ini))
    assert rc != 0 and "pidfile" in out, out
    assert not proxy.alive()


def test_daemon_writes_pidfile_and_logs_to_logfile(pgrouter, proxy_kind):
    probe = pgrouter(launch=False)
    run = writable_dir(probe, "run")
    pidfile, logfile = run / "proxy.pid", run / "proxy.log"
    # stats_period: a PgBouncer setting pgrouter ignores with a warning; the warning must reach the logfile
    extra = {"stats_period": 60} if proxy_kind == "pgrouter" else {}
    proxy = pgrouter(launch=False, pidfile=str(pidfile), logfile=str(logfile), **extra)
    proxy.write_config()
    argv = ["-d", str(proxy.ini)]
    if os.geteuid() == 0 and proxy_kind == "pgbouncer":
        argv = ["-d", "-u", "postgres", str(proxy.ini)]
    rc, out = run_cli(proxy, *argv)
    assert rc == 0, out
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the pidfile")
    pid = int(pidfile.read_text())
    try:
        with proxy.connect() as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        if proxy_kind == "pgrouter":
            text = logfile.read_text()
            assert "stats_period" in text and "listening on" in text, text
            assert "stats_period" in out, "the warning should also reach the terminal before detaching"
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="the daemon to exit")


@pytest.mark.skipif(os.geteuid() != 0, reason="running as root is what is being refused")
def test_root_without_user_is_refused(pgrouter):
    proxy = pgrouter(launch=False, user=None)
    proxy.write_config()
    rc, out = run_cli(proxy, str(proxy.ini))
    assert rc != 0 and "root" in out, out
    if proxy.kind == "pgrouter":
        assert rc == 1 and "user" in out and "-u" in out, out   # names the fix


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_switches_to_user_after_binding(pgrouter):
    import pwd
    pw = pwd.getpwnam("postgres")
    proxy = pgrouter(launch=False, user=None)
    start_direct(proxy, "-u", "postgres")
    # The port accepts (the kernel's backlog) as soon as it is bound, before the switch; the first answered
    # query is what shows the process is serving, and by then it must run as the user.
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    uids = proc_status(proxy.pid, "Uid")
    assert uids == [str(pw.pw_uid)] * 4, uids
    assert proc_status(proxy.pid, "Gid") == [str(pw.pw_gid)] * 4


@pytest.mark.pgrouter_only
def test_unknown_user_is_refused(pgrouter):
    proxy = pgrouter(launch=False, user="no_such_user_here")
    proxy.write_config()
    rc, out = run_cli(proxy, str(proxy.ini))
    assert rc == 1 and "no_such_user_here" in out, out


@pytest.mark.pgrouter_only
def test_open_files_soft_limit_is_raised_to_hard(pgrouter):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"hard limit {hard} leaves nothing to raise")

    def lower():
        """In the child: start from a low soft limit."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    proxy = pgrouter(launch=False)
    proxy.write_config()
    with open(proxy.log_path, "ab") as log:
        proxy.proc = subprocess.Popen(proxy.command(), stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, cwd=proxy.workdir, preexec_fn=lower)
    proxy.wait_listening()
    with open(f"/proc/{proxy.pid}/limits") as f:
        line = next(x for x in f if x.startswith("Max open files"))
    got_soft, got_hard = line.split()[3:5]
    assert got_soft == got_hard, line
