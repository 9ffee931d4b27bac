"""Session settings in the startup packet (driver connect options, `options=-c name=value`): a client
gets them on every server connection it uses, primary and replicas, as it would connecting directly; the
server judges names and values at login. PgBouncer 1.18 refuses any startup parameter outside
track_extra_parameters / ignore_startup_parameters; pgrouter takes every session setting."""

import psycopg
import pytest

import pgwire
from helpers import db_entry

ONE_CONN = {"pool_mode": "transaction", "default_pool_size": 1, "workers": 1}
PRIMARY = "/* pgrouter: primary */ "


@pytest.fixture
def routed(pgrouter, cluster, proxy_kind):
    if proxy_kind != "pgrouter":
        pytest.skip("PgBouncer refuses startup parameters it does not track")
    return pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, **ONE_CONN)


def settings(conn, prefix=""):
    return conn.execute(prefix + "SELECT current_setting('statement_timeout'), current_setting('work_mem'), "
                        "current_setting('search_path'), current_setting('app.tenant', true)").fetchone()


OPTIONS = "-c statement_timeout=1234 -c work_mem=8MB -c search_path=s2,public -c app.tenant=t42"


def test_options_are_the_clients_session_on_every_node(routed, cluster):
    cluster.sql(cluster.primary, "CREATE SCHEMA IF NOT EXISTS s2")
    cluster.wait_caught_up()
    with psycopg.connect(cluster.dsn(cluster.primary), options=OPTIONS) as direct:
        WANT = settings(direct)
    assert WANT[:2] == ("1234ms", "8MB") and WANT[3] == "t42"
    with routed.connect(options=OPTIONS) as a:
        assert settings(a, PRIMARY) == WANT
        ports = set()
        for _ in range(8):   # reads spread over the replicas
            assert settings(a) == WANT
            ports.add(int(a.execute("SELECT current_setting('port')").fetchone()[0]))
        assert ports - {cluster.primary.port}, "no read reached a replica"
    with routed.connect() as b:   # the next client on the same connections has the defaults
        assert settings(b, PRIMARY)[:3] == ("0", "4MB", '"$user", public')


def test_reset_goes_back_to_the_startup_value(routed):
    with routed.connect(options="-c statement_timeout=1234") as a:
        a.execute("SET statement_timeout = 5000")
        assert a.execute(PRIMARY + "SHOW statement_timeout").fetchone()[0] == "5s"
        a.execute("RESET statement_timeout")
        assert a.execute(PRIMARY + "SHOW statement_timeout").fetchone()[0] == "1234ms"
        a.execute("RESET ALL")
        assert a.execute(PRIMARY + "SHOW statement_timeout").fetchone()[0] == "1234ms"


@pytest.mark.parametrize("options,sqlstate", [
    ("-c statement_timeout=abc", "22023"),
    ("-c pgr_no_such_setting=1", "42704"),
])
def test_an_invalid_setting_fails_the_login_with_the_servers_error(routed, cluster, options, sqlstate):
    with pytest.raises(psycopg.OperationalError) as direct:
        psycopg.connect(cluster.dsn(cluster.primary), options=options)
    with pytest.raises(psycopg.OperationalError) as proxied:
        routed.connect(options=options)
    # the server's own message, word for word
    assert str(direct.value).split("FATAL:")[-1].strip() in str(proxied.value)
    with pgwire.Wire(routed.port) as w:
        name, value = options[3:].split("=")
        w.send(pgwire.startup_packet(**{name: value}))
        err = w.expect_error_or_close(5)
        assert err and err["C"] == sqlstate and err["S"] == "FATAL"
    with routed.connect() as ok:   # the pool is none the worse
        assert ok.execute(PRIMARY + "SHOW statement_timeout").fetchone()[0] == "0"


def test_startup_parameters_without_options(routed):
    with pgwire.Wire(routed.port) as w:
        w.startup(statement_timeout="2500", idle_in_transaction_session_timeout="7s")
        rows, err = w.simple(PRIMARY + "SELECT current_setting('statement_timeout'), "
                             "current_setting('idle_in_transaction_session_timeout')")
        assert err is None and rows == [["2500ms", "7s"]]


def test_ignore_startup_parameters_still_ignores(pgrouter, cluster, proxy_kind):
    pgr = pgrouter(ignore_startup_parameters="statement_timeout")
    with pgr.connect(options="-c statement_timeout=abc") as c:
        assert c.execute("SHOW statement_timeout").fetchone()[0] == "0"


def test_replication_connections_are_refused_clearly(routed):
    with pgwire.Wire(routed.port) as w:
        w.send(pgwire.startup_packet(replication="database"))
        err = w.expect_error_or_close(5)
        assert err and err["C"] == "08P01" and "replication" in err["M"]
