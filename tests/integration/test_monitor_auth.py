"""The cluster monitor in front of a password-protected cluster: a node it cannot log in to is
named in the log with the fix, and SHOW NODES and /status say why it gets no reads; the monitor
logs in with a plain or md5 auth_file entry, and with a SCRAM-only entry once a client proved
its key (as the pools do)."""

import json
import time
import urllib.request

import pgwire
import pytest

from admin_helpers import console, show
from conftest import authid_secret

pytestmark = pytest.mark.pgrouter_only


def status_node(pgr):
    """The first node of /status."""
    with urllib.request.urlopen(f"http://127.0.0.1:{pgr.settings['http_port']}/status", timeout=5) as r:
        return json.loads(r.read())["nodes"][0]


def wait_state(pgr, state, timeout=10):
    """The node's /status entry once its state is state (or when timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        node = status_node(pgr)
        if node["state"] == state or time.monotonic() > deadline:
            return node
        time.sleep(0.2)


def free_port():
    """A loopback TCP port nobody listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scram_only_monitor_user_is_reported_then_logs_in_with_a_proven_key(secure_pgrouter,
                                                                             auth_cluster):
    pgr = secure_pgrouter(userlist={"pgr_app": authid_secret(auth_cluster, "pgr_app")},
                          auth_type="scram-sha-256", monitor_user="pgr_app", http_port=free_port())
    time.sleep(1.5)
    lines = [l for l in pgr.log.splitlines() if "cannot monitor node" in l]
    assert len(lines) == 1, pgr.log_tail()   # one line per node, at startup
    assert f"127.0.0.1:{auth_cluster.primary.port}" in lines[0]
    assert "SCRAM secret for pgr_app" in lines[0] and "monitor_password" in lines[0], lines[0]
    password = auth_cluster.password_of("pgr_app")
    assert password not in pgr.log
    assert status_node(pgr)["state"] == "unknown"
    # pgr_app's first SCRAM login through pgrouter proves its key: the monitor logs in with it
    with pgwire.AuthWire(pgr.port) as w:
        w.login("pgr_app", password, database="postgres")
        assert w.simple("SELECT 1") == ([["1"]], None)
    row = wait_state(pgr, "up")
    assert (row["state"], row["role"]) == ("up", "primary"), row
    assert "accepts the monitor now" in pgr.log


def test_unmonitored_reason_in_show_nodes_and_status(secure_pgrouter, auth_cluster):
    pgr = secure_pgrouter(userlist={"pgr_app": authid_secret(auth_cluster, "pgr_app"),
                                    "pgr_plain": auth_cluster.password_of("pgr_plain")},
                          auth_type="scram-sha-256", monitor_user="pgr_app", stats_users="pgr_plain",
                          admin_users="", http_port=free_port())
    time.sleep(1)
    with console(pgr, user="pgr_plain", dbname="pgrouter",
                 password=auth_cluster.password_of("pgr_plain")) as c:
        row = show(c, "NODES")[0]
    assert row["state"] == "unknown", row
    reason = row["not_in_rotation_reason"]
    assert reason.startswith("unmonitored: ") and "monitor_password" in reason, reason
    st = status_node(pgr)
    assert st["not_in_rotation_reason"] == reason, st


@pytest.mark.parametrize("user", ["pgr_plain", "pgr_md5"])
def test_monitor_logs_in_with_a_plain_or_md5_auth_file_entry(secure_pgrouter, auth_cluster, user):
    secret = (auth_cluster.password_of(user) if user == "pgr_plain"
              else authid_secret(auth_cluster, user))
    pgr = secure_pgrouter(userlist={user: secret}, auth_type="scram-sha-256",
                          monitor_user=user, http_port=free_port())
    st = wait_state(pgr, "up")
    assert (st["state"], st["role"]) == ("up", "primary"), (st, pgr.log_tail())
    assert "cannot monitor node" not in pgr.log
