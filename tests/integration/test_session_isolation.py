"""Session isolation: in transaction pooling, nothing one client does to its session reaches the next
client on the same server connection.

Every story runs with default_pool_size = 1 and one worker, so that client B gets the very server
connection client A used (on the primary, which the stories reach with a primary hint), and with two
replicas, so that reads spread over three nodes. After A is done, B looks at its session on the primary:
current_user, search_path, transaction_read_only, advisory locks, temp tables, LISTEN channels.
"""

import psycopg
import pytest

from helpers import db_entry

ONE_CONN = {"pool_mode": "transaction", "default_pool_size": 1, "workers": 1}
PRIMARY = "/* pgrouter: primary */ "
ROLE = "pgr_iso_alice"


def view(conn):
    """What a client's session looks like on the primary: the things another client could leave behind."""
    return conn.execute(
        PRIMARY + "SELECT current_user::text, current_setting('search_path'), "
        "current_setting('transaction_read_only'), "
        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
        "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()), "
        "(SELECT count(*) FROM pg_listening_channels())").fetchone()


CLEAN = ("postgres", '"$user", public', "off", 0, 0, 0)


@pytest.fixture(scope="module")
def objects(cluster):
    """A role the stories SET ROLE to, a schema s2, and a function that changes the session."""
    cluster.sql(cluster.primary, f"""
        DO $$BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
            CREATE ROLE {ROLE} NOLOGIN;
          END IF;
        END$$;
        CREATE SCHEMA IF NOT EXISTS s2;
        CREATE OR REPLACE FUNCTION pgr_iso_set_path() RETURNS text LANGUAGE sql
          AS $$ SELECT set_config('search_path', 's2', false) $$;
        CREATE OR REPLACE FUNCTION pgr_iso_lock() RETURNS void LANGUAGE plpgsql
          AS $$ BEGIN PERFORM pg_advisory_lock(4242); END $$;
        CREATE TABLE IF NOT EXISTS pgr_iso_t (x int);
    """)
    cluster.wait_caught_up()


@pytest.fixture(params=[1, 0], ids=["routing", "routing=0"])
def shared(request, pgrouter, cluster, proxy_kind, objects):
    """A pgrouter (or PgBouncer) whose clients take turns on one server connection per node; pgrouter
    both routing over two replicas and as a plain pooler (routing = 0)."""
    dbs = {"postgres": db_entry(cluster, replicas=proxy_kind == "pgrouter")}
    settings = dict(ONE_CONN, routing=request.param)
    if proxy_kind != "pgrouter":
        if request.param == 0:
            pytest.skip("routing = 0 is pgrouter's")
        settings.pop("workers")
        settings.pop("routing")
    return pgrouter(databases=dbs, **settings)


def after(shared, story):
    """Run story(conn) as client A, disconnect, and return what client B then sees on the primary."""
    with shared.connect() as a:
        story(a)
    with shared.connect() as b:
        return view(b)


# ----- a rolled-back or failed change is not kept -------------------------------------------

def test_rolled_back_reset_role_keeps_the_role_and_the_next_client_is_itself(shared):
    with shared.connect() as a:
        a.execute(f"SET ROLE {ROLE}")
        a.execute("BEGIN")
        a.execute(PRIMARY + "SELECT 1")
        a.execute("RESET ROLE")
        a.execute("ROLLBACK")
        # as on a direct connection: the RESET was rolled back, A is still the role
        assert a.execute(PRIMARY + "SELECT current_user::text").fetchone()[0] == ROLE
    with shared.connect() as b:
        assert view(b) == CLEAN
        b.execute("CREATE TEMP TABLE pgr_iso_ok (x int)")   # permission to create: B is postgres


@pytest.mark.parametrize("reset", ["RESET search_path", "RESET ROLE"])
def test_a_failed_query_does_not_apply_its_reset(shared, reset):
    with shared.connect() as a:
        a.execute(f"SET ROLE {ROLE}")
        a.execute("SET search_path = s2")
        with pytest.raises(psycopg.errors.DivisionByZero):
            a.execute(f"{reset}; SELECT 1/0")
        # the implicit transaction failed, so the RESET did not happen
        assert view(a)[:2] == (ROLE, "s2")
    with shared.connect() as b:
        assert view(b) == CLEAN


def test_a_failed_pipeline_does_not_apply_its_reset(shared):
    with shared.connect(autocommit=False) as a:
        a.execute("SET search_path = s2")
        a.commit()
        with pytest.raises(psycopg.errors.DivisionByZero):
            with a.pipeline():
                a.execute("RESET search_path")
                a.execute("SELECT 1/0")
        a.rollback()
        assert a.execute(PRIMARY + "SELECT current_setting('search_path')").fetchone()[0] == "s2"
        a.commit()
    with shared.connect() as b:
        assert view(b) == CLEAN


def test_a_rolled_back_set_is_not_the_connections_state(shared, cluster):
    with shared.connect() as a:
        a.execute("BEGIN")
        a.execute("SET search_path = s2")
        a.execute("ROLLBACK")
        assert view(a) == CLEAN
    with shared.connect() as b:
        b.execute("SET search_path = s2")
        # the SET takes effect wherever B's statements run: the primary and the replicas
        assert view(b)[1] == "s2"
        for _ in range(6):
            assert b.execute("SELECT current_setting('search_path')").fetchone()[0] == "s2"


def test_set_local_and_a_committed_set(shared):
    with shared.connect() as a:
        a.execute("BEGIN")
        a.execute("SET LOCAL search_path = s2")
        a.execute("COMMIT")
        assert view(a) == CLEAN
        a.execute("BEGIN")
        a.execute("SET search_path = s2")
        a.execute("COMMIT")
        assert view(a)[1] == "s2"
    with shared.connect() as b:
        assert view(b) == CLEAN


def test_a_savepoint_rollback_keeps_what_came_before_it(shared):
    with shared.connect() as a:
        a.execute("BEGIN")
        a.execute("SET search_path = s2")
        a.execute("SAVEPOINT sp")
        with pytest.raises(psycopg.errors.DivisionByZero):
            a.execute("SELECT 1/0")
        a.execute("ROLLBACK TO SAVEPOINT sp")
        a.execute("COMMIT")
        assert view(a)[1] == "s2"
        assert a.execute("SELECT current_setting('search_path')").fetchone()[0] == "s2"
    with shared.connect() as b:
        assert view(b) == CLEAN


# ----- changes pgrouter cannot see through: the connection is reset before the next client ---------

@pytest.mark.parametrize("statement", [
    pytest.param(f"DO $$BEGIN EXECUTE 'SET ROLE {ROLE}'; END$$", id="do-set-role"),
    pytest.param("UPDATE pg_settings SET setting = 's2' WHERE name = 'search_path'", id="update-pg-settings"),
    pytest.param("SELECT pgr_iso_set_path()", id="function-set-config"),
    pytest.param("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", id="session-characteristics"),
    pytest.param("DO $$BEGIN PERFORM pg_advisory_lock(4242); END$$", id="do-advisory-lock"),
    pytest.param("SELECT pgr_iso_lock()", id="function-advisory-lock"),
    pytest.param("DO $$BEGIN CREATE TEMP TABLE pgr_iso_tmp (x int); END$$", id="do-temp-table"),
    pytest.param("DO $$BEGIN EXECUTE 'LISTEN pgr_iso_chan'; END$$", id="do-listen"),
])
def test_session_changes_inside_code_do_not_reach_the_next_client(shared, statement):
    assert after(shared, lambda a: a.execute(statement)) == CLEAN
    with shared.connect() as b:
        b.execute("INSERT INTO pgr_iso_t VALUES (1)")   # not read-only, not another role


def test_session_characteristics_stay_with_their_client(shared):
    with shared.connect() as a:
        a.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            a.execute("INSERT INTO pgr_iso_t VALUES (2)")
    with shared.connect() as b:
        b.execute("INSERT INTO pgr_iso_t VALUES (2)")


def test_ordinary_statements_do_not_reset_the_connection(shared, cluster, proxy_kind):
    """now(), nextval(), random() and plain DML leave the session alone: no reset between clients."""
    if proxy_kind != "pgrouter":
        pytest.skip("counts pgrouter's reset queries")
    cluster.sql(cluster.primary, "CREATE SEQUENCE IF NOT EXISTS pgr_iso_seq")
    marker = "pgr_iso_ordinary"
    before = cluster.primary.read_log().count("DISCARD ALL")
    for _ in range(3):
        with shared.connect() as a:
            a.execute(f"INSERT INTO pgr_iso_t SELECT nextval('pgr_iso_seq') WHERE now() IS NOT NULL "
                      f"AND random() >= 0 AND '{marker}' <> ''")
            a.execute("UPDATE pgr_iso_t SET x = x + 1 WHERE x < 0")
    with shared.connect() as b:
        assert view(b) == CLEAN
    assert cluster.primary.read_log().count("DISCARD ALL") == before


# ----- prepared statements belong to their client -----------------------------------------

OWNER_SQL = PRIMARY + "SELECT 'pgr_iso_owner'::text || %s::text"


def server_side_names(conn):
    """The prepared statements pgrouter made on the primary's connection, as any client can see them."""
    return [r[0] for r in conn.execute(
        PRIMARY + "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%pgr_iso_owner%'").fetchall()]


def owner_runs(owner):
    """The owner's named statement still answers (psycopg prepares it at once with prepare=True)."""
    return owner.execute(OWNER_SQL, ("x",), prepare=True).fetchone()[0] == "pgr_iso_ownerx"


@pytest.mark.parametrize("attack", [
    "DEALLOCATE {name}",
    "SELECT 1; DEALLOCATE {name}",
    "DEALLOCATE PREPARE {name}",
    "EXECUTE {name}('y')",
    'DEALLOCATE "{name}"',
    "EXECUTE /* {name} */ {name}('y')",
])
def test_another_client_cannot_use_or_drop_a_clients_statement(shared, proxy_kind, attack):
    if proxy_kind != "pgrouter":
        pytest.skip("pgrouter's own server-side statement names")
    with shared.connect() as owner:
        assert owner_runs(owner)
        with shared.connect() as other:
            names = server_side_names(other)
            assert names, "the owner's statement is not on the shared connection"
            with pytest.raises(psycopg.errors.InvalidSqlStatementName):
                other.execute(PRIMARY + attack.format(name=names[0]))
            assert other.execute("SELECT 1").fetchone()[0] == 1   # the other client carries on
        for _ in range(3):
            assert owner_runs(owner)
    with shared.connect() as newcomer:
        assert owner_runs(newcomer)


def test_protocol_messages_naming_anothers_statement_get_26000(shared, proxy_kind):
    if proxy_kind != "pgrouter":
        pytest.skip("pgrouter's own server-side statement names")
    import pgwire
    with shared.connect() as owner:
        assert owner_runs(owner)
        with shared.connect() as peek:
            name = server_side_names(peek)[0]
        with pgwire.Wire(shared.port) as w:
            w.startup()
            w.send(pgwire.bind(params=("y",), stmt=name) + pgwire.execute() + pgwire.sync())
            msgs = w.read_until()
            errors = [pgwire.error_fields(p) for k, p in msgs if k == b"E"]
            assert errors and errors[0]["C"] == "26000"
            w.send(pgwire.close(b"S", name) + pgwire.sync())
            assert [k for k, _ in w.read_until()] == [b"3", b"Z"]
            rows, err = w.simple("SELECT 1")
            assert err is None and rows == [["1"]]
        assert owner_runs(owner)


def test_a_client_may_sql_prepare_a_name_of_pgrouters_form(shared, proxy_kind):
    if proxy_kind != "pgrouter":
        pytest.skip("pgrouter's own server-side statement names")
    with shared.connect() as a:
        a.execute("PREPARE pgr0_1 AS SELECT 41 + 1")
        assert a.execute("EXECUTE pgr0_1").fetchone()[0] == 42
        a.execute("DEALLOCATE pgr0_1")
    with shared.connect() as b:
        assert view(b) == CLEAN


def test_a_statement_dropped_inside_code_is_prepared_again_for_its_owner(shared, proxy_kind):
    # DEALLOCATE ALL inside a DO block drops pgrouter's server-side statements without pgrouter seeing
    # the statement itself: the owner's next execution must still work, in the same transaction too.
    if proxy_kind != "pgrouter":
        pytest.skip("pgrouter's own server-side statement names")
    with shared.connect() as owner:
        assert owner_runs(owner)
        with owner.transaction():
            assert owner_runs(owner)
            owner.execute("DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$")
            assert owner_runs(owner)
        assert owner_runs(owner)
