"""The admin console as PgBouncer 1.18's tooling reads it: every SHOW both proxies have answers with
PgBouncer's column names and type OIDs, in its order, with pgrouter's own columns only after them;
the commands both have answer with the same tag. Both proxies run in the same test against the same
cluster, so the reference is the PgBouncer installed here, not a list copied into the test."""

import re

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


# ----- pgbouncer_exporter ----------------------------------------------------------------------
# What the Prometheus exporter for PgBouncer 1.18 reads: per command, the label columns and the
# columns it parses as float metrics by name; SHOW LISTS becomes one metric per list, SHOW CONFIG one
# per key it knows. The exporter is not installable here, so its parsing is encoded below and run
# against PgBouncer too, which checks the encoding itself.
EXPORTER = {
    "STATS": (["database"], ["total_query_count", "total_query_time", "total_received", "total_sent",
                             "total_xact_count", "total_xact_time", "total_wait_time"]),
    "POOLS": (["database", "user"], ["cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                                     "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle",
                                     "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us"]),
    "DATABASES": (["name", "host", "port", "database", "force_user", "pool_mode"],
                  ["pool_size", "reserve_pool", "max_connections", "current_connections", "paused",
                   "disabled"]),
}
EXPORTER_CONFIG = ["max_client_conn"]
NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700}   # int8, int2, int4, float4, float8, numeric


def scrape(conn):
    """The exporter's scrape as {(command, labels..., column): float}; fails where the exporter would."""
    metrics = {}
    for what, (labels, values) in EXPORTER.items():
        cur = conn.execute(f"SHOW {what}")
        types = {d.name: d.type_code for d in cur.description}
        for col in values:
            assert types.get(col) in NUMERIC_OIDS, (what, col, types.get(col))
        names = [d.name for d in cur.description]
        for row in cur.fetchall():
            r = dict(zip(names, row))
            key = tuple(str(r[label]) for label in labels)
            for col in values:
                series = (what, *key, col)
                assert series not in metrics, f"duplicate series {series}: Prometheus refuses the scrape"
                metrics[series] = float(r[col])
    cur = conn.execute("SHOW LISTS")
    assert [d.type_code for d in cur.description] == [25, 23], cur.description
    for name, items in cur.fetchall():
        metrics[("LISTS", name)] = float(items)
    conf = dict((r[0], r[1]) for r in conn.execute("SHOW CONFIG").fetchall())
    for key in EXPORTER_CONFIG:
        metrics[("CONFIG", key)] = float(conf[key])
    version = conn.execute("SHOW VERSION").fetchone()[0]
    assert re.search(r"\d+\.\d+\.\d+", version), version
    return metrics


def test_pgbouncer_exporter_scrapes_pgrouter(both, cluster):
    for kind, proxy in both.items():
        with proxy.connect(user="pgr_pool") as app:
            for i in range(5):
                app.execute(f"SELECT {i}")
        dbname = "pgbouncer" if kind == "pgbouncer" else "pgrouter"
        with console(proxy, dbname=dbname) as c:
            m = wait_for(lambda: (s := scrape(c)) and s[("STATS", "postgres", "total_query_count")] >= 6 and s,
                         timeout=3, what=f"{kind}: the statistics to count the queries")
        assert m[("STATS", "postgres", "total_xact_count")] >= 6, (kind, m)
        assert ("POOLS", "postgres", "pgr_pool", "sv_idle") in m, (kind, m)
        assert m[("DATABASES", "postgres", "127.0.0.1", str(cluster.primary.port), "postgres", "None", "None",
                  "pool_size")] == 5, (kind, m)
        assert m[("LISTS", "used_clients")] >= 1 and m[("CONFIG", "max_client_conn")] == 50, (kind, m)
