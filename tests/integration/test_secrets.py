"""Passwords never leave pgrouter: whatever sets or changes a setting that holds one (the file, a
reload, the console's SET, a broken file), neither the log, nor the console's answers and errors,
nor /status and the status page show it."""

import urllib.error
import urllib.request

import psycopg
import pytest

import cluster as harness
from admin_helpers import config, console, show
from helpers import db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

MONITOR_PW = "mon-S3cr3t-1"
MONITOR_PW2 = "mon-S3cr3t-2"
DB_PW = "db-S3cr3t-3"
DB_PW2 = "db-S3cr3t-4"
REDIS_PW = "redis-S3cr3t-5"
ALL = (MONITOR_PW, MONITOR_PW2, DB_PW, DB_PW2, REDIS_PW, "S3cr3t")


def http_text(port, path):
    """Body of GET path on the HTTP listener ("" while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return ""


def console_text(conn):
    """Everything the console shows about configuration: SHOW CONFIG, DATABASES, POOLS."""
    return repr([show(conn, what) for what in ("CONFIG", "DATABASES", "POOLS")])


def console_error(conn, sql):
    """The console's error message for sql (which must fail)."""
    with pytest.raises(psycopg.Error) as e:
        conn.execute(sql)
    return str(e.value)


def assert_hidden(where, text):
    """No secret of this module appears in text."""
    leaked = [s for s in ALL if s in text]
    assert not leaked, f"{where} shows {leaked}:\n{text[-3000:]}"


@pytest.fixture
def leaky(pgrouter, cluster):
    """pgrouter with a server password in its database entry, a monitor password and the HTTP
    listener; returns (proxy, http port)."""
    port = harness.pick_ports(1)[0]
    entry = db_entry(cluster, user="pgr_app", password=DB_PW)
    pgr = pgrouter(databases={"postgres": entry}, http_port=port, workers=1,
                   monitor_password=MONITOR_PW)
    wait_for(lambda: http_text(port, "/status"), timeout=5, what="the HTTP listener")
    return pgr, port


def test_monitor_password_from_set_and_reload_is_never_shown(leaky):
    pgr, port = leaky
    with console(pgr) as c:
        assert config(c)["monitor_password"] == "********"
        c.execute(f"SET monitor_password = '{MONITOR_PW2}'")
        assert config(c)["monitor_password"] == "********"
        assert_hidden("the console", console_text(c))
        c.execute("RELOAD")
        pgr.write_config(monitor_password=MONITOR_PW2)
        c.execute("RELOAD")
        assert_hidden("the console", console_text(c))
    assert "reload: monitor_password = '********' (was '********')" in pgr.log, pgr.log_tail()
    assert_hidden("/status", http_text(port, "/status"))
    assert_hidden("the status page", http_text(port, "/"))
    assert_hidden("the log", pgr.log)


def test_database_password_changes_and_errors_are_never_shown(leaky, cluster):
    pgr, port = leaky
    with pgr.connect(user="pgr_app") as conn:   # a pool that uses the password exists
        conn.execute("SELECT 1")
    pgr.databases["postgres"] = db_entry(cluster, user="pgr_app", password=DB_PW2)
    pgr.write_config()
    pgr.reload()
    # a password with an unquoted space breaks the entry: the message names the key only
    pgr.databases["postgres"] = f"host=127.0.0.1 port={cluster.primary.port} password={DB_PW} S3cr3t"
    pgr.write_config()
    with console(pgr) as c:
        err = console_error(c, "RELOAD")
        assert "password" in err, err
        assert_hidden("RELOAD's error", err)
        assert_hidden("the console", console_text(c))
    assert_hidden("/status", http_text(port, "/status"))
    assert_hidden("the log", pgr.log)


def test_consistency_store_password_is_never_shown(leaky):
    pgr, port = leaky
    url = f"redis://:{REDIS_PW}@127.0.0.1:6379"
    with console(pgr) as c:
        err = console_error(c, f"SET consistency_store = '{url}'")
        assert "consistency_store" in err, err
        assert_hidden("SET's error", err)
        pgr.write_config(consistency_store=url)
        err = console_error(c, "RELOAD")
        assert_hidden("RELOAD's error", err)
        assert_hidden("the console", console_text(c))
    assert_hidden("the log", pgr.log)


def test_bad_monitor_password_on_startup_is_never_shown(pgrouter):
    """A startup that fails on another setting prints its messages without the secrets."""
    pgr = pgrouter(launch=False, monitor_password=MONITOR_PW,
                   consistency_store=f"redis://:{REDIS_PW}@127.0.0.1:6379")
    pgr.start(wait=False)
    wait_for(lambda: not pgr.alive(), timeout=5, what="pgrouter to refuse the config")
    pgr.stopped_by_test = True
    assert "consistency_store" in pgr.log, pgr.log
    assert_hidden("the startup error", pgr.log)
