"""Where the proxy listens: both address families, a Unix socket, and a port shared by two processes."""

import socket

import psycopg
import pytest


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
