"""pgrouter under a service manager: this test plays systemd's part (the notify socket, the watchdog, socket
activation) and checks the messages pgrouter sends and their order; the units pass systemd-analyze verify."""

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import PGROUTER_BIN, REPO
from helpers import db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only


class NotifySocket:
    """The service manager's end of the notify protocol: a datagram socket pgrouter writes KEY=value lines to."""

    def __init__(self, path=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:  # abstract: NOTIFY_SOCKET starts with '@', the address with a NUL byte
            name = f"pgr-notify-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.sock.bind(str(path))
            os.chmod(path, 0o666)  # pgrouter sends as the user it switched to
            self.env = str(path)
        self.messages = []

    def recv(self, timeout=10.0):
        """The next message as a dict (a message may carry several lines); fails after timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            pytest.fail(f"no notify message within {timeout}s; so far: {self.messages}")
        msg = dict(line.split("=", 1) for line in data.split("\n") if line)
        self.messages.append(msg)
        return msg

    def recv_until(self, key, timeout=10.0):
        """Messages up to and including the first with key; returns them all."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            got.append(self.recv(max(0.1, deadline - time.monotonic())))
            if key in got[-1]:
                return got

    def close(self):
        self.sock.close()


def start_with_env(proxy, env, argv_prefix=(), pass_fds=()):
    """Start the proxy's binary with extra environment variables, tracked by the fixture's teardown."""
    proxy.write_config()
    full_env = dict(os.environ, **env)
    with open(proxy.log_path, "ab") as log:
        proxy.proc = subprocess.Popen([*argv_prefix, str(PGROUTER_BIN), str(proxy.ini)], stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, cwd=proxy.workdir, env=full_env,
                                      pass_fds=pass_fds)
    return proxy


def port_answers(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_ready_reload_stopping_in_order(pgrouter, cluster):
    notify = NotifySocket()
    proxy = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, launch=False, monitor_interval="100ms")
    try:
        start_with_env(proxy, {"NOTIFY_SOCKET": notify.env})
        first = notify.recv()
        # READY=1 comes once the port is open and the monitor has looked at every node once.
        assert first.get("READY") == "1", notify.messages
        assert port_answers(proxy.port), "READY=1 before pgrouter listens"
        assert first["STATUS"].startswith("0 clients, 3/3 nodes up, max replica lag "), first
        with proxy.connect() as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        # A reload: RELOADING=1 (with the monotonic time systemd's notify-reload wants), then READY=1.
        proxy.send_signal(signal.SIGHUP)
        msgs = notify.recv_until("READY")
        keys = [k for m in msgs for k in m if k in ("RELOADING", "READY")]
        assert keys == ["RELOADING", "READY"], msgs
        assert int(next(m for m in msgs if "RELOADING" in m)["MONOTONIC_USEC"]) > 0
        # The console's RELOAD takes the same path.
        with proxy.connect(dbname="pgbouncer", user="postgres") as admin:
            admin.execute("RELOAD")
        msgs = notify.recv_until("READY")
        assert [k for m in msgs for k in m if k in ("RELOADING", "READY")] == ["RELOADING", "READY"], msgs
        proxy.send_signal(signal.SIGTERM)
        msgs = notify.recv_until("STOPPING")
        assert msgs[-1]["STOPPING"] == "1"
        assert proxy.proc.wait(10) == 0
        # STOPPING=1 is sent once, and nothing after it.
        notify.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            notify.sock.recv(4096)
        # Standard error is the journal's: each line starts with its syslog level.
        lines = [ln for ln in proxy.log.splitlines() if ln.strip()]
        assert lines and all(ln[:3] in ("<3>", "<4>", "<6>", "<7>") for ln in lines), lines[:5]
        assert any(ln.startswith("<6>") and "configuration reloaded" in ln for ln in lines)
    finally:
        notify.close()


def test_status_and_watchdog(pgrouter, cluster):
    """WATCHDOG_USEC set: WATCHDOG=1 at least every half interval; STATUS= follows the clients."""
    notify = NotifySocket(path=None)
    proxy = pgrouter(launch=False)
    try:
        start_with_env(proxy, {"NOTIFY_SOCKET": notify.env, "WATCHDOG_USEC": "400000"})
        assert notify.recv().get("READY") == "1"
        with proxy.connect() as conn:
            conn.execute("SELECT 1")
            t0 = time.monotonic()
            pings = [m for m in notify.recv_until("WATCHDOG", 2) if "WATCHDOG" in m]
            while len(pings) < 3:
                pings += [m for m in notify.recv_until("WATCHDOG", 2) if "WATCHDOG" in m]
            assert time.monotonic() - t0 < 1.5, "watchdog pings slower than half of WATCHDOG_USEC"
            assert pings[-1]["STATUS"].startswith("1 clients, 1/1 nodes up"), pings[-1]
    finally:
        notify.close()


def test_watchdog_of_another_process_is_ignored(pgrouter):
    """WATCHDOG_PID naming another process: the watchdog is not pgrouter's, no WATCHDOG=1."""
    notify = NotifySocket()
    proxy = pgrouter(launch=False)
    try:
        start_with_env(proxy, {"NOTIFY_SOCKET": notify.env, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
        assert notify.recv().get("READY") == "1"
        notify.sock.settimeout(0.6)
        with pytest.raises(socket.timeout):
            notify.sock.recv(4096)
    finally:
        notify.close()


def test_notify_socket_path(pgrouter):
    """A NOTIFY_SOCKET that is a file system path (not abstract) works too, after the switch to the user."""
    proxy = pgrouter(launch=False)
    sock_dir = proxy.workdir / "notify"
    sock_dir.mkdir()
    sock_dir.chmod(0o777)
    notify = NotifySocket(path=sock_dir / "notify.sock")
    try:
        start_with_env(proxy, {"NOTIFY_SOCKET": notify.env})
        assert notify.recv().get("READY") == "1"
        proxy.send_signal(signal.SIGINT)
        assert "STOPPING" in notify.recv_until("STOPPING")[-1]
        assert proxy.proc.wait(10) == 0
    finally:
        notify.close()


def test_socket_activation(pgrouter, cluster):
    """LISTEN_FDS=1 with LISTEN_PID = pgrouter's pid: it serves on fd 3 and does not bind listen_port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    proxy = pgrouter(launch=False, workers=2)
    fd = listener.fileno()
    # systemd sets LISTEN_PID to the pid it forks; the shell sets it to its own and exec keeps it.
    wrapper = ["bash", "-c", f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&{fd}']
    try:
        start_with_env(proxy, {}, argv_prefix=wrapper, pass_fds=(fd,))
        listener.close()  # pgrouter holds the only copy now
        for _ in range(4):  # both workers accept on the passed socket
            with proxy.connect(port=port) as conn:
                assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert not port_answers(proxy.port), "listen_port was bound although sockets were passed"
        env = Path(f"/proc/{proxy.pid}/environ").read_bytes().split(b"\0")
        assert b"LISTEN_FDS=1" in env  # the kernel's copy; the process unset its own for children
    finally:
        listener.close()


def test_listen_pid_of_another_process_is_ignored(pgrouter):
    """LISTEN_FDS left over from a parent (LISTEN_PID not ours): pgrouter binds listen_port as usual."""
    proxy = pgrouter(launch=False)
    start_with_env(proxy, {"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    proxy.wait_listening()
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


UNITS = REPO / "etc" / "systemd"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_verify(tmp_path):
    """The units as shipped pass systemd-analyze verify (ExecStart pointed at the build's binary)."""
    for name in ("pgrouter.service", "pgrouter.socket"):
        text = (UNITS / name).read_text().replace("/usr/sbin/pgrouter", str(PGROUTER_BIN))
        (tmp_path / name).write_text(text)
    # verify runs man for Documentation=: the pages are found where make install would put them.
    for sec, page in (("man1", "pgrouter.1"), ("man5", "pgrouter.ini.5")):
        (tmp_path / "man" / sec).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "man" / page, tmp_path / "man" / sec / page)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "pgrouter.service"),
                        str(tmp_path / "pgrouter.socket")], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANPATH=str(tmp_path / "man")))
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    service = (UNITS / "pgrouter.service").read_text()
    for needed in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=pgrouter", "NoNewPrivileges=yes",
                   "ProtectSystem=strict", "WatchdogSec="):
        assert needed in service, needed
