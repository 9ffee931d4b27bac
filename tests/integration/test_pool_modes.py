"""Pool modes, pool limits and per-client state, as a PgBouncer user expects them."""

import threading
import time

import psycopg
import pytest

import pgwire
from helpers import Sampler, ServerCounter, backend_id, backend_in_tx, wait_for

# Tests that steer clients onto particular backends pin pgrouter to one worker, so one pool
# of exactly default_pool_size connections serves every client (PgBouncer's model).
ONE_WORKER = {"workers": 1}


def hold_both(b, c):
    """Open a transaction on b and on c, so both backends of a 2-connection pool are taken;
    return their backend ids."""
    b.execute("BEGIN")
    bb = backend_id(b)
    c.execute("BEGIN")
    cb = backend_id(c)
    assert bb != cb, "two open transactions share one server connection"
    return bb, cb


def test_session_mode_keeps_one_backend_per_client(pgrouter):
    pgr = pgrouter(pool_mode="session", default_pool_size=2, **ONE_WORKER)
    with pgr.connect() as a, pgr.connect() as b:
        seen_a, seen_b = set(), set()
        for _ in range(5):  # interleave the two clients' transactions
            seen_a.add(backend_in_tx(a))
            seen_b.add(backend_in_tx(b))
            seen_a.add(backend_id(a))
        assert len(seen_a) == 1 and len(seen_b) == 1
        assert seen_a != seen_b


def test_session_mode_third_client_waits_for_a_free_server(pgrouter):
    pgr = pgrouter(pool_mode="session", default_pool_size=1, **ONE_WORKER)
    a = pgr.connect()
    first = backend_id(a)
    result = {}

    def second_client():
        with pgr.connect() as b:
            result["id"] = backend_id(b)
    t = threading.Thread(target=second_client)
    t.start()
    time.sleep(0.5)
    assert "id" not in result, "second client got a server while the only one is in a session"
    a.close()
    t.join(10)
    assert result.get("id") == first  # the same server connection, handed over after a left


def test_transaction_mode_moves_client_between_backends(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2, **ONE_WORKER)
    with pgr.connect() as a, pgr.connect() as b, pgr.connect() as c:
        first = backend_in_tx(a)
        bb, cb = hold_both(b, c)
        assert first in (bb, cb), "pool opened a third server connection"
        holder, other = (b, c) if bb == first else (c, b)
        other.execute("COMMIT")  # frees the backend a has not used yet
        second = backend_in_tx(a)
        assert second != first and second in (bb, cb)
        holder.execute("COMMIT")
        # within one explicit transaction a client stays on one backend
        with a.transaction():
            ids = {backend_id(a) for _ in range(5)}
        assert len(ids) == 1


def test_transaction_mode_idle_client_holds_no_server(pgrouter, cluster):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    clients = [pgr.connect(user="pgr_pool") for _ in range(5)]
    ids = {backend_in_tx(c) for c in clients}  # five clients, one after another, one server
    assert len(ids) == 1
    counter = ServerCounter(cluster, "pgr_pool")
    assert counter() == 1
    counter.close()
    for c in clients:
        c.close()


def test_statement_mode_runs_single_statements(pgrouter):
    pgr = pgrouter(pool_mode="statement", default_pool_size=1, **ONE_WORKER)
    with pgr.connect() as a, pgr.connect() as b, pgr.connect() as c:
        assert a.execute("SELECT 41 + 1").fetchone()[0] == 42
        assert b.execute("SELECT %s::int * 2", (21,)).fetchone()[0] == 42  # extended protocol
        # one multi-statement query that ends outside a transaction is one statement here
        cur = c.execute("SELECT 1; SELECT 2")
        assert cur.fetchone()[0] == 1 and cur.nextset() and cur.fetchone()[0] == 2
        # three connected clients take turns on the one server connection
        assert len({backend_id(x) for x in (a, b, c, a, b, c)}) == 1


def test_statement_mode_rejects_transaction_blocks(pgrouter, cluster):
    pgr = pgrouter(pool_mode="statement", default_pool_size=2, **ONE_WORKER)
    counter = ServerCounter(cluster, "pgr_app")
    conn = pgr.connect(user="pgr_app", autocommit=False)
    with pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT 1")  # psycopg sends BEGIN first
        conn.commit()
    assert "statement" in str(err.value).lower()
    conn.close()
    wait_for(lambda: counter.idle_in_transaction() == 0, what="no idle-in-transaction backend")
    counter.close()
    with pgr.connect() as other:  # the proxy still serves others
        assert other.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.pgr_timeout(120)
def test_200_clients_never_exceed_default_pool_size(pgrouter, cluster):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=10, max_client_conn=400)
    n_clients, errors = 200, []
    ready = threading.Barrier(n_clients + 1)
    counter = ServerCounter(cluster, "pgr_pool")

    def client():
        try:
            with pgr.connect(user="pgr_pool") as conn:
                ready.wait(60)
                for _ in range(5):
                    with conn.transaction():
                        conn.execute("SELECT pg_sleep(0.02)")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))
            ready.abort()
    threads = [threading.Thread(target=client) for _ in range(n_clients)]
    for t in threads:
        t.start()
    with Sampler(counter, interval=0.01) as sampler:
        ready.wait(60)  # all 200 clients are connected before they start working
        for t in threads:
            t.join(60)
    counter.close()
    assert not errors, errors[:5]
    assert sampler.samples > 20
    assert sampler.max <= 10, f"{sampler.max} server connections for default_pool_size=10"
    assert sampler.max == 10, "pool never filled up: the load did not go through the pool"


# PgBouncer 1.18 leaves application_name alone for a client that never sent one, so a
# previous client's value shows through; pgrouter must not. Those checks are pgrouter-only.
def test_transaction_mode_set_does_not_leak_to_next_client(pgrouter, cluster, proxy_kind):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    default_tz, default_ds = cluster.sql(
        cluster.primary, "SELECT current_setting('TimeZone'), current_setting('DateStyle')")[0]
    with pgr.connect(application_name="client_a") as a:
        a.execute("SET TimeZone = 'Asia/Tokyo'")
        a.execute("SET DateStyle = 'German'")
        a.execute("SET application_name = 'client_a_changed'")
        mine = a.execute("SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
                         "current_setting('application_name')").fetchone()
        assert mine == ("Asia/Tokyo", "German, DMY", "client_a_changed")
        used_by_a = backend_id(a)
        with pgr.connect(application_name="client_b") as b:
            assert backend_id(b) == used_by_a  # pool of one: b gets a's former server
            theirs = b.execute("SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
                               "current_setting('application_name')").fetchone()
            assert theirs == (default_tz, default_ds, "client_b")
            assert b.info.parameter_status("TimeZone") == default_tz
            assert b.info.parameter_status("DateStyle") == default_ds
        with pgr.connect() as c:  # no application_name at all
            if proxy_kind == "pgrouter":
                assert c.execute("SHOW application_name").fetchone()[0] == ""
            assert c.execute("SHOW TimeZone").fetchone()[0] == default_tz
        # a's own settings come back on its next transaction
        assert a.execute("SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
                         "current_setting('application_name')").fetchone() == mine
        assert a.info.parameter_status("TimeZone") == "Asia/Tokyo"


def test_transaction_mode_set_follows_client_to_another_backend(pgrouter, cluster):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2, **ONE_WORKER)
    default_tz, default_ds = cluster.sql(
        cluster.primary, "SELECT current_setting('TimeZone'), current_setting('DateStyle')")[0]
    settings_sql = ("SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
                    "current_setting('application_name')")
    bystander = {"application_name": "bystander"}
    with pgr.connect() as a, pgr.connect(**bystander) as b, pgr.connect(**bystander) as c:
        with a.transaction():
            a.execute("SET TimeZone = 'America/New_York'")
            a.execute("SET DateStyle = 'SQL, DMY'")
            a.execute("SET application_name = 'moving_client'")
            set_on = backend_id(a)
        mine = ("America/New_York", "SQL, DMY", "moving_client")
        bb, cb = hold_both(b, c)  # each sees defaults, whichever backend it got
        for conn in (b, c):
            assert conn.execute(settings_sql).fetchone() == (default_tz, default_ds, "bystander")
        holder, other = (b, c) if bb == set_on else (c, b)
        other.execute("COMMIT")
        with a.transaction():  # the only free backend is not the one a's SETs ran on
            assert backend_id(a) != set_on
            assert a.execute(settings_sql).fetchone() == mine
        holder.execute("COMMIT")
        for _ in range(3):
            assert a.execute(settings_sql).fetchone() == mine
            assert b.execute(settings_sql).fetchone() == (default_tz, default_ds, "bystander")


@pytest.mark.parametrize("reset_query", ["DISCARD ALL", "RESET work_mem"])
def test_session_mode_server_reset_query(pgrouter, cluster, reset_query):
    pgr = pgrouter(pool_mode="session", default_pool_size=1, server_reset_query=reset_query,
                   **ONE_WORKER)
    default_wm = cluster.sql(cluster.primary, "SHOW work_mem")[0][0]
    with pgr.connect() as a:
        used = backend_id(a)
        a.execute("SET work_mem = '7MB'")
        a.execute("SET statement_timeout = '12345ms'")
        a.execute("PREPARE left_behind AS SELECT 1")
    with pgr.connect() as b:
        assert backend_id(b) == used, "session mode did not reuse the server connection"
        assert b.execute("SHOW work_mem").fetchone()[0] == default_wm
        prepared = b.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        timeout = b.execute("SHOW statement_timeout").fetchone()[0]
        if reset_query == "DISCARD ALL":
            assert prepared == 0 and timeout == "0"
        else:  # only the configured query runs: what it does not reset survives
            assert prepared == 1 and timeout == "12345ms"


def test_query_wait_timeout_when_pool_is_full(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, query_wait_timeout=1,
                   **ONE_WORKER)
    with pgr.connect() as holder:
        holder.execute("BEGIN")
        backend_id(holder)  # the only server connection is now inside holder's transaction
        w = pgwire.Wire(pgr.port, timeout=10)
        started = time.monotonic()
        try:
            w.startup()
            _, err = w.simple("SELECT 1", timeout=10)
        except pgwire.ServerError as e:  # refusing the login itself is as good
            err = e.fields
        waited = time.monotonic() - started
        assert err is not None, "query ran although the pool was full"
        assert err["C"] in ("08P01", "53300") and "query_wait_timeout" in err["M"], err
        assert 0.8 <= waited <= 6, f"error after {waited:.2f}s for query_wait_timeout=1"
        w.close()
        holder.execute("COMMIT")
    with pgr.connect() as after:
        assert after.execute("SELECT 1").fetchone()[0] == 1


def test_max_client_conn(pgrouter, proxy_kind):
    pgr = pgrouter(max_client_conn=3)
    conns = [pgr.connect() for _ in range(3)]
    w = pgwire.Wire(pgr.port)
    w.send(pgwire.startup_packet())
    err = w.expect_error_or_close()
    assert err is not None, "fourth client was closed without an error"
    assert "max_client_conn" in err["M"], err
    # PgBouncer 1.18 uses 08P01; pgrouter promises 53300 (too_many_connections)
    assert err["C"] == ("08P01" if proxy_kind == "pgbouncer" else "53300"), err
    w.close()
    for c in conns:
        assert c.execute("SELECT 1").fetchone()[0] == 1  # those inside are unaffected
    conns.pop().close()

    def can_connect():
        try:
            with pgr.connect() as c:
                return c.execute("SELECT 1").fetchone()[0] == 1
        except psycopg.OperationalError:
            return False
    wait_for(can_connect, what="a client slot after one client left")
    for c in conns:
        c.close()


def test_ignore_startup_parameters(pgrouter, cluster, proxy_kind):
    default_geqo = cluster.sql(cluster.primary, "SHOW geqo_effort")[0][0]
    strict = pgrouter()
    w = pgwire.Wire(strict.port)
    if proxy_kind == "pgbouncer":   # PgBouncer refuses a setting it does not track
        with pytest.raises(pgwire.ServerError) as err:
            w.startup(geqo_effort="7")
        assert "geqo_effort" in err.value.fields["M"]
    else:   # pgrouter takes every session setting (test_startup_params.py)
        w.startup(geqo_effort="7")
        assert w.simple("SHOW geqo_effort") == ([["7"]], None)
    w.close()

    lenient = pgrouter(ignore_startup_parameters="extra_float_digits,geqo_effort")
    with pgwire.Wire(lenient.port) as w:
        w.startup(geqo_effort="7", extra_float_digits="2")
        rows, err = w.simple("SHOW geqo_effort")
        assert err is None and rows == [[default_geqo]]  # accepted, and not applied


def test_parameter_status_at_login(pgrouter, cluster):
    pgr = pgrouter()
    with pgwire.Wire(cluster.primary.port) as direct:
        direct.startup()
        server = direct.params
    with pgwire.Wire(pgr.port) as w:
        w.startup()
        for key in ("server_version", "server_encoding", "client_encoding", "DateStyle",
                    "TimeZone", "integer_datetimes", "standard_conforming_strings",
                    "IntervalStyle"):
            assert w.params.get(key) == server[key], key
        assert w.backend_key is not None
    with pgwire.Wire(pgr.port) as w:
        w.startup(client_encoding="LATIN1", TimeZone="Asia/Tokyo", application_name="ps_test",
                  DateStyle="ISO, DMY")
        assert w.params["client_encoding"] == "LATIN1"
        assert w.params["TimeZone"] == "Asia/Tokyo"
        assert w.params["DateStyle"] == "ISO, DMY"
        assert w.params["application_name"] == "ps_test"
        rows, err = w.simple("SELECT current_setting('client_encoding'), "
                             "current_setting('TimeZone'), current_setting('application_name')")
        assert err is None and rows == [["LATIN1", "Asia/Tokyo", "ps_test"]]
