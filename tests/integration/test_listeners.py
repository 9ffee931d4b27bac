"""Where the proxy listens: both address families, a Unix socket, and a port shared by two processes."""

import grp
import re
import os
import shutil
import signal
import socket
import stat
import subprocess

import psycopg
import pytest

from helpers import wait_for


def has_ipv6_loopback():
    """True when this host can bind ::1 (IPv6 present on the loopback interface)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def query_via(proxy, host):
    """Run SELECT 1 through the proxy's TCP port at host; returns the value."""
    with proxy.connect(host=host) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


@pytest.mark.parametrize("addr", ["*", "0.0.0.0,::"])
def test_wildcard_listen_addr_serves_ipv4_and_ipv6(pgrouter, addr):
    proxy = pgrouter(listen_addr=addr)
    assert query_via(proxy, "127.0.0.1") == 1
    if not has_ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1): only the IPv4 half was checked")
    assert query_via(proxy, "::1") == 1


def wait_socket(d, proxy):
    """The proxy's socket file in d, once it exists (the TCP port may answer a moment earlier)."""
    path = d / f".s.PGSQL.{proxy.port}"
    wait_for(path.exists, what=f"{path} to appear")
    return path


def answers(path):
    """True when something accepts connections on the Unix socket at path."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def socket_dir(proxy):
    """A directory for the proxy's Unix socket that the proxy's user (postgres for PgBouncer) may write."""
    d = proxy.workdir / "sock"
    d.mkdir(exist_ok=True)
    d.chmod(0o777)
    return d


def test_unix_socket_listener_with_mode(pgrouter, psql):
    probe = pgrouter(launch=False)
    d = socket_dir(probe)
    proxy = pgrouter(unix_socket_dir=str(d), unix_socket_mode="0770")
    sock = wait_socket(d, proxy)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o770
    with psycopg.connect(host=str(d), port=proxy.port, dbname="postgres", user="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    r = psql(f"host={d} port={proxy.port} dbname=postgres user=postgres", "SELECT 42")
    assert (r.rc, r.out) == (0, "42"), r


def test_unix_socket_group(pgrouter):
    probe = pgrouter(launch=False)
    d = socket_dir(probe)
    group = grp.getgrgid(os.getegid()).gr_name if os.geteuid() != 0 else "postgres"
    proxy = pgrouter(unix_socket_dir=str(d), unix_socket_group=group)
    assert wait_socket(d, proxy).stat().st_gid == grp.getgrnam(group).gr_gid


def test_stale_unix_socket_is_replaced_and_removed_at_exit(pgrouter):
    probe = pgrouter(launch=False)
    d = socket_dir(probe)
    proxy = pgrouter(unix_socket_dir=str(d), launch=False)
    path = d / f".s.PGSQL.{proxy.port}"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()   # the file stays behind, as after a crash
    proxy.start()
    wait_for(lambda: answers(path), what="a listening socket in place of the stale one")
    with psycopg.connect(host=str(d), port=proxy.port, dbname="postgres", user="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    proxy.stop(signal.SIGINT)
    assert not path.exists()


def test_unix_socket_in_use_stops_startup(pgrouter):
    probe = pgrouter(launch=False)
    d = socket_dir(probe)
    first = pgrouter(unix_socket_dir=str(d))
    wait_socket(d, first)
    second = pgrouter(unix_socket_dir=str(d), listen_port=first.port, launch=False)
    second.settings["listen_port"] = first.port
    rc = subprocess.run(second.command(), capture_output=True, text=True, timeout=10, cwd=second.workdir)
    assert rc.returncode != 0
    assert "in use" in (rc.stdout + rc.stderr).lower()
    with psycopg.connect(host=str(d), port=first.port, dbname="postgres", user="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="peer authentication as another Unix user needs root")
def test_peer_auth_over_unix_socket(pgrouter):
    probe = pgrouter(launch=False)
    d = socket_dir(probe)
    hba = probe.workdir / "hba.conf"
    hba.write_text("local all all peer\nhost all all 127.0.0.1/32 trust\n")
    hba.chmod(0o644)
    proxy = pgrouter(unix_socket_dir=str(d), auth_type="hba", auth_hba_file=str(hba))
    wait_socket(d, proxy)
    psql_bin = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    argv = [psql_bin, "-X", "-A", "-t", "-w", "-c", "SELECT current_user",
            f"host={d} port={proxy.port} dbname=postgres user=postgres"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "5"}
    as_postgres = subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv,
                                 env=env, capture_output=True, text=True, timeout=20, cwd="/")
    assert (as_postgres.returncode, as_postgres.stdout.strip()) == (0, "postgres"), as_postgres
    as_root = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20)
    assert as_root.returncode != 0 and "FATAL" in as_root.stderr, as_root


def keepalive_timer_seconds(port):
    """Seconds left on the keepalive timer of an established connection to 127.0.0.1:port (from ss), or None."""
    out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"timer:\(keepalive,([^,]+),", out)
    if not m:
        return None
    units = {"min": 60, "sec": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(min|sec|ms)", m.group(1)))


@pytest.mark.pgrouter_only   # PgBouncer 1.18 takes plain seconds only here ("invalid value")
def test_keepalive_durations_take_units(pgrouter):
    proxy = pgrouter(tcp_keepalive=1, tcp_keepidle="2min", tcp_keepintvl="10s")
    with proxy.connect() as conn:
        conn.execute("SELECT 1")
        # right after a reply the retransmission timer shows instead, until the client's ACK
        wait_for(lambda: keepalive_timer_seconds(proxy.port) is not None, what="the keepalive timer")
        left = keepalive_timer_seconds(proxy.port)
    assert 60 < left <= 120, left
