"""The admin console as PgBouncer 1.18's tooling reads it: every SHOW both proxies have answers with
PgBouncer's column names and type OIDs, in its order, with pgrouter's own columns only after them;
the commands both have answer with the same tag. Both proxies run in the same test against the same
cluster, so the reference is the PgBouncer installed here, not a list copied into the test."""

import psycopg
import pytest

from admin_helpers import console
from helpers import db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

# pgrouter's columns after PgBouncer's, per command (none: exactly PgBouncer's).
CONN_OWN = ["id", "worker", "node", "role"]
EXTRA = {
    "POOLS": ["paused", "cl_waiting_primary", "cl_waiting_replica", "sv_active_replica", "sv_idle_replica",
              "sv_login_replica"],
    "STATS": ["total_server_assignment_count", "total_routed_primary", "total_routed_replica"],
    "STATS_TOTALS": [], "STATS_AVERAGES": [], "TOTALS": [],
    "CLIENTS": CONN_OWN, "SERVERS": CONN_OWN, "SOCKETS": CONN_OWN,
    "DATABASES": ["replicas", "target", "current_replica_connections", "current_client_connections",
                  "server_lifetime"],
    "USERS": [], "CONFIG": [], "MEM": [], "FDS": [], "DNS_HOSTS": [], "DNS_ZONES": [], "LISTS": [],
    "VERSION": [],
}
# The same durations and sizes in both files: SHOW CONFIG must print them the same way.
SAME_SETTINGS = {"server_lifetime": 1800, "server_idle_timeout": 300, "query_wait_timeout": 45,
                 "reserve_pool_timeout": 2.5, "client_login_timeout": 30, "server_connect_timeout": 7,
                 "server_login_retry": 3, "client_idle_timeout": 0, "idle_transaction_timeout": 90,
                 "max_client_conn": 50, "default_pool_size": 5, "min_pool_size": 0,
                 "reserve_pool_size": 1, "max_packet_size": 1048576, "tcp_keepalive": 1}
COMMANDS = ["RECONNECT", "RECONNECT postgres", "WAIT_CLOSE", "WAIT_CLOSE postgres", "DISABLE postgres",
            "ENABLE postgres"]
FAILING = ["DISABLE", "ENABLE", "RECONNECT nosuch", "DISABLE nosuch", "WAIT_CLOSE nosuch"]


def describe(conn, what):
    """[(name, type OID)] of SHOW <what>, and its rows (decoded by those types)."""
    cur = conn.execute(f"SHOW {what}")
    return [(d.name, d.type_code) for d in cur.description], cur.fetchall()


@pytest.fixture
def both(pgrouter, cluster):
    """A pgrouter and a PgBouncer in front of the same primary, same settings, each with a client that
    has run a query (so that pools, servers and statistics have rows)."""
    proxies = {}
    for kind in ("pgrouter", "pgbouncer"):
        proxies[kind] = pgrouter(kind=kind, databases={"postgres": db_entry(cluster)}, **SAME_SETTINGS)
        with proxies[kind].connect(user="pgr_app") as app:
            app.execute("SELECT 1")
    return proxies


def test_every_shared_show_has_pgbouncers_columns_and_types(both):
    with console(both["pgbouncer"], dbname="pgbouncer") as pgb, console(both["pgrouter"]) as pgr:
        for what, extra in EXTRA.items():
            want, _ = describe(pgb, what)
            got, rows = describe(pgr, what)   # fetching decodes every value by its column's type
            assert got[:len(want)] == want, (what, got, want)
            assert [name for name, _ in got[len(want):]] == extra, (what, got)
        # rows that name things in PgBouncer's order: SHOW LISTS' lists, SHOW TOTALS' counters
        for what in ("LISTS", "TOTALS"):
            names_pgb = [r[0] for r in describe(pgb, what)[1]]
            names_pgr = [r[0] for r in describe(pgr, what)[1]]
            assert names_pgr[:len(names_pgb)] == names_pgb, (what, names_pgr, names_pgb)


def test_show_config_prints_durations_and_sizes_in_pgbouncers_units(both):
    with console(both["pgbouncer"], dbname="pgbouncer") as pgb, console(both["pgrouter"]) as pgr:
        conf = {name: {r[0]: r[1] for r in describe(c, "CONFIG")[1]} for name, c in (("pgb", pgb), ("pgr", pgr))}
    mine = {k: conf["pgr"].get(k) for k in SAME_SETTINGS}
    theirs = {k: conf["pgb"].get(k) for k in SAME_SETTINGS}
    assert mine == theirs


def test_shared_commands_answer_with_pgbouncers_tags(both):
    with console(both["pgbouncer"], dbname="pgbouncer") as pgb, console(both["pgrouter"]) as pgr:
        for cmd in COMMANDS:
            tags = []
            for conn in (pgb, pgr):
                cur = conn.execute(cmd)
                tags.append((cur.statusmessage, cur.description))
            assert tags[0] == tags[1], (cmd, tags)
        for cmd in FAILING:
            for conn in (pgb, pgr):
                with pytest.raises(psycopg.Error):
                    conn.execute(cmd)
                conn.execute("SHOW VERSION")   # the session goes on
        # SUSPEND is PgBouncer's online restart, which pgrouter does not have: a clear error
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="online restart"):
            pgr.execute("SUSPEND")
        pgr.execute("SHOW VERSION")
