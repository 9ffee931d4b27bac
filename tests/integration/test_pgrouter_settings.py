"""pgrouter's own session settings (pgrouter.*) through psycopg: SET of a name pgrouter does not
have is an error as in PostgreSQL (42704), and SHOW answers every one of them, in every pool mode,
between transactions and inside one."""

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.pgrouter_only


def show(conn, name):
    return conn.execute(f"SHOW {name}").fetchone()[0]


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_unknown_pgrouter_setting_is_an_error(pgrouter, mode):
    pgr = pgrouter(pool_mode=mode)
    with pgr.connect() as c:
        with pytest.raises(errors.UndefinedObject) as e:
            c.execute("SET pgrouter.targt = 'primary'")
        assert e.value.sqlstate == "42704"
        assert 'unrecognized configuration parameter "pgrouter.targt"' in str(e.value), e.value
        with pytest.raises(errors.UndefinedObject):
            c.execute("SHOW pgrouter.no_such_thing")
        with pytest.raises(errors.CantChangeRuntimeParam):   # a report, not a setting
            c.execute("SET pgrouter.lsn = '0/1'")
        with pytest.raises(errors.InvalidParameterValue):
            c.execute("SET pgrouter.target = 'sideways'")
        assert c.execute("SELECT 1").fetchone()[0] == 1   # the session goes on


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_show_pgrouter_settings(pgrouter, mode):
    pgr = pgrouter(pool_mode=mode)
    with pgr.connect() as c:
        c.execute("SELECT 1")   # in session mode the client is now linked to a server
        assert show(c, "pgrouter.target") == "auto"
        assert show(c, "pgrouter.consistency_key") == ""
        assert show(c, "pgrouter.min_lsn") == ""
        cur = c.execute("SHOW pgrouter.target")
        assert [d.name for d in cur.description] == ["pgrouter.target"]
        c.execute("SET pgrouter.target = primary")
        c.execute("SET pgrouter.consistency_key = 'user:42'")
        c.execute("SET pgrouter.min_lsn = '0/3000148'")
        assert show(c, "pgrouter.target") == "primary"
        assert show(c, "pgrouter.consistency_key") == "user:42"
        assert show(c, "pgrouter.min_lsn") == "0/3000148"
        c.execute("RESET pgrouter.min_lsn")
        assert show(c, "pgrouter.min_lsn") == ""
        assert show(c, "pgrouter.lsn") == ""   # no commit yet: no token
    with pgr.connect(autocommit=False) as c:   # inside a transaction block
        c.execute("SELECT 1")
        assert show(c, "pgrouter.target") == "auto"
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        c.execute("SELECT 2")
        c.commit()
