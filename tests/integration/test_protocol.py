"""Protocol paths through the proxy: pipelines, COPY, cancel, clients that vanish."""

import hashlib
import struct
import threading
import time

import psycopg
import pytest

import pgwire
from helpers import ServerCounter, backend_id, wait_for

ONE_WORKER = {"workers": 1}


# ----- extended protocol pipeline ------------------------------------------------------

def send_pipeline(w, n, bad, sync_every):
    """Send n Parse/Bind/Execute triples in one write, query `bad` dividing by zero, with a
    Sync after every sync_every queries (and at the end)."""
    out = []
    for i in range(n):
        if i == bad:
            out += [pgwire.parse("SELECT 1 / $1::int"), pgwire.bind(["0"])]
        else:
            out += [pgwire.parse("SELECT $1::int"), pgwire.bind([str(i)])]
        out.append(pgwire.execute())
        if (i + 1) % sync_every == 0 or i == n - 1:
            out.append(pgwire.sync())
    w.send(b"".join(out))


def read_pipeline(w, n, bad, sync_every):
    """Read a pipeline's replies and check them message by message: every query before the
    error answers, the error comes at query `bad`, the rest of its Sync segment is skipped,
    and later segments run again."""
    seg_of_bad = bad // sync_every
    for seg_start in range(0, n, sync_every):
        seg_end = min(seg_start + sync_every, n)
        if seg_start // sync_every == seg_of_bad:
            expected_queries = range(seg_start, bad + 1)
        else:
            expected_queries = range(seg_start, seg_end)
        for i in expected_queries:
            assert w.read_message()[0] == b"1", f"ParseComplete for query {i}"
            kind, payload = w.read_message()
            if kind == b"2":  # BindComplete; a constant 1/0 may already fail at Bind
                kind, payload = w.read_message()
            if i == bad:
                assert kind == b"E", f"expected the error at query {i}, got {kind!r}"
                assert pgwire.error_fields(payload)["C"] == "22012"
                break
            assert kind == b"D" and pgwire.data_row(payload) == [str(i)], (i, kind, payload)
            assert w.read_message() == (b"C", b"SELECT 1\0")
        kind, payload = w.read_message()
        assert (kind, payload) == (b"Z", b"I"), f"ReadyForQuery after segment at {seg_start}"


@pytest.mark.parametrize("sync_every", [1000, 100], ids=["one-sync", "sync-every-100"])
def test_pipeline_1000_with_error_in_the_middle(pgrouter, sync_every):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2)
    errors = []

    def client(k):
        try:
            with pgwire.Wire(pgr.port, timeout=20) as w:
                w.startup()
                send_pipeline(w, 1000, 500, sync_every)
                read_pipeline(w, 1000, 500, sync_every)
                rows, err = w.simple(f"SELECT {k}")  # recovered after Sync
                assert err is None and rows == [[str(k)]]
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(f"client {k}: {e!r}")
    # four clients pipelining at once through two server connections
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_psycopg_pipeline_mode(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2)
    with pgr.connect() as conn:
        with conn.pipeline():
            curs = [conn.execute("SELECT %s::int", (i,)) for i in range(1000)]
        assert [c.fetchone()[0] for c in curs] == list(range(1000))
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.pipeline():
                ok = conn.execute("SELECT %s::int", (1,))
                conn.execute("SELECT 1 / %s::int", (0,))
                conn.execute("SELECT %s::int", (3,))
        assert ok.fetchone()[0] == 1
        assert conn.execute("SELECT 42").fetchone()[0] == 42


# ----- COPY ---------------------------------------------------------------------------

COPY_ROWS = 1_000_000  # ~100 bytes a row: 100 MB each way
_BLOCK = hashlib.sha512(b"pgrouter").hexdigest() * 20  # 2,560 chars to slice payloads from


def copy_in_rows(n):
    """Yield the COPY text lines of the test table, ~100 bytes each, deterministically."""
    for i in range(1, n + 1):
        off = (i * 37) % 2400
        yield f"{i}\t{_BLOCK[off:off + 90]}\n"


def row_digest(payload):
    """The per-row checksum the server computes too: first 64 bits of md5(payload), signed."""
    return struct.unpack("!q", hashlib.md5(payload.encode()).digest()[:8])[0]


@pytest.mark.pgr_timeout(300)
def test_copy_in_100mb(pgrouter, cluster):
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS copy_in_test")
    cluster.sql(cluster.primary, "CREATE UNLOGGED TABLE copy_in_test (id int, payload text)")
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2)
    count, size, xor = 0, 0, 0
    with pgr.connect() as conn:
        with conn.cursor().copy("COPY copy_in_test FROM STDIN") as copy:
            chunk = []
            for line in copy_in_rows(COPY_ROWS):
                chunk.append(line)
                count += 1
                payload = line[line.index("\t") + 1:-1]
                size += len(payload)
                xor ^= row_digest(payload)
                if len(chunk) == 10000:
                    copy.write("".join(chunk))
                    chunk = []
            copy.write("".join(chunk))
        assert conn.execute("SELECT 1").fetchone()[0] == 1  # the connection is usable after
    assert size > 85_000_000
    got = cluster.sql(cluster.primary,
                      "SELECT count(*), sum(length(payload)), "
                      "bit_xor(('x' || left(md5(payload), 16))::bit(64)::bigint) "
                      "FROM copy_in_test")[0]
    cluster.sql(cluster.primary, "DROP TABLE copy_in_test")
    assert tuple(got) == (count, size, xor)


@pytest.mark.pgr_timeout(300)
def test_copy_out_100mb(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=2)
    query = (f"COPY (SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, {COPY_ROWS}) i) "
             "TO STDOUT")
    got = hashlib.md5()
    received = 0
    with pgr.connect() as conn:
        with conn.cursor().copy(query) as copy:
            for data in copy:
                got.update(data)
                received += len(data)
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    want = hashlib.md5()
    expected = 0
    for i in range(1, COPY_ROWS + 1):
        line = f"{i}\t{hashlib.md5(str(i).encode()).hexdigest() * 3}\n".encode()
        want.update(line)
        expected += len(line)
    assert received == expected and expected > 100_000_000
    assert got.hexdigest() == want.hexdigest()


def test_copy_in_error_leaves_connection_usable(pgrouter, cluster):
    cluster.sql(cluster.primary, "CREATE TABLE IF NOT EXISTS copy_err_test (id int)")
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    with pgr.connect() as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with conn.cursor().copy("COPY copy_err_test FROM STDIN") as copy:
                copy.write("1\n2\nnot-a-number\n4\n")
        assert conn.execute("SELECT count(*) FROM copy_err_test").fetchone()[0] == 0
    with pgr.connect() as other:  # the server went back clean
        assert other.execute("SELECT 1").fetchone()[0] == 1
    cluster.sql(cluster.primary, "DROP TABLE copy_err_test")


# ----- cancel -------------------------------------------------------------------------

def run_sleep(conn, seconds, result):
    """Run pg_sleep on conn; record 'done' or the SQLSTATE it failed with, and the time taken."""
    t0 = time.monotonic()
    try:
        conn.execute(f"SELECT pg_sleep({seconds})")
        result["outcome"] = "done"
    except psycopg.Error as e:
        result["outcome"] = e.sqlstate
    result["elapsed"] = time.monotonic() - t0


def test_cancel_hits_only_that_query(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=4)
    with pgr.connect() as a, pgr.connect() as b:
        ra, rb = {}, {}
        ta = threading.Thread(target=run_sleep, args=(a, 30, ra))
        tb = threading.Thread(target=run_sleep, args=(b, 2, rb))
        ta.start()
        tb.start()
        time.sleep(0.5)
        a.cancel()
        ta.join(10)
        assert ra.get("outcome") == "57014" and ra["elapsed"] < 5, ra
        tb.join(10)
        assert rb.get("outcome") == "done" and rb["elapsed"] >= 1.9, rb
        assert a.execute("SELECT 1").fetchone()[0] == 1  # the cancelled client goes on


def test_stale_or_foreign_cancel_key_cancels_nothing(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    with pgwire.Wire(pgr.port) as gone:
        gone.startup()
        rows, _ = gone.simple("SELECT 1")
        stale_key = gone.backend_key
    idle = pgwire.Wire(pgr.port).startup()
    idle.simple("SELECT 1")  # used the only server connection, then gave it back
    with pgr.connect() as busy:
        result = {}
        t = threading.Thread(target=run_sleep, args=(busy, 2, result))
        t.start()
        time.sleep(0.4)
        pid, key = stale_key
        pgwire.send_cancel(pgr.port, pid, key)  # a client that has left
        pgwire.send_cancel(pgr.port, *idle.backend_key)  # a client not running anything now
        pgwire.send_cancel(pgr.port, pid ^ 0x5A5A, key ^ 0xA5A5A5A5)  # a made-up key
        t.join(10)
        assert result.get("outcome") == "done", result
    idle.close()


# ----- clients that vanish ------------------------------------------------------------

@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_killed_inside_begin_leaves_no_open_transaction(pgrouter, cluster, how):
    cluster.sql(cluster.primary, "CREATE TABLE IF NOT EXISTS killed_tx (id int)")
    cluster.sql(cluster.primary, "GRANT ALL ON killed_tx TO pgr_pool")
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    counter = ServerCounter(cluster, "pgr_pool")
    w = pgwire.Wire(pgr.port).startup(user="pgr_pool")
    for sql in ("BEGIN", "INSERT INTO killed_tx VALUES (1)"):
        assert w.simple(sql)[1] is None
    assert counter.idle_in_transaction() == 1
    w.abort() if how == "reset" else w.close()
    wait_for(lambda: counter.idle_in_transaction() == 0, what="no idle-in-transaction backend")
    counter.close()
    with pgr.connect(user="pgr_pool") as nxt:  # the next client of that pool starts clean
        notices = []
        nxt.add_notice_handler(lambda d: notices.append(d.message_primary))
        nxt.execute("BEGIN")
        assert not notices, notices  # no "there is already a transaction in progress"
        assert nxt.execute("SELECT count(*) FROM killed_tx").fetchone()[0] == 0
        nxt.execute("COMMIT")
    cluster.sql(cluster.primary, "DROP TABLE killed_tx")


def test_client_killed_mid_query_does_not_dirty_the_pool(pgrouter, cluster):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    counter = ServerCounter(cluster, "pgr_pool")
    w = pgwire.Wire(pgr.port).startup(user="pgr_pool")
    w.simple("BEGIN")
    w.send(pgwire.query("SELECT pg_sleep(1)"))
    time.sleep(0.2)
    w.abort()
    with pgr.connect(user="pgr_pool") as nxt:
        # a fresh implicit transaction starts with this statement, not in the dead client's one
        assert nxt.execute("SELECT now() = statement_timestamp()").fetchone()[0]
    wait_for(lambda: counter.idle_in_transaction() == 0, what="no idle-in-transaction backend")
    counter.close()


def test_terminate_message_and_reconnect(pgrouter):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=1, **ONE_WORKER)
    for _ in range(20):
        with pgwire.Wire(pgr.port) as w:
            w.startup()
            assert w.simple("SELECT 1") == ([["1"]], None)
            w.send(pgwire.terminate())
            assert w.wait_closed(5), "proxy did not close after Terminate"
    with pgr.connect() as c:
        assert backend_id(c)[1] > 0


def test_startup_and_terminate_in_one_packet_is_a_clean_disconnect(pgrouter):
    # A driver that connects and ends at once sends both before reading anything.
    pgr = pgrouter()
    with pgwire.Wire(pgr.port) as w:
        w.send(pgwire.startup_packet() + pgwire.terminate())
        assert w.wait_closed(5)
    time.sleep(0.2)
    assert "invalid startup packet" not in pgr.log
    assert "protocol error" not in pgr.log


def test_a_terminated_backend_reaches_the_client_as_the_servers_error(pgrouter, cluster):
    # pg_terminate_backend: the client gets FATAL 57P01 as it would directly, and nothing after it.
    pgr = pgrouter()
    with pgwire.Wire(pgr.port) as w:
        w.startup()
        pid = w.simple("SELECT pg_backend_pid()")[0][0][0]
        killer = threading.Timer(0.3, cluster.sql, (cluster.primary, f"SELECT pg_terminate_backend({pid})"))
        killer.start()
        w.send(pgwire.query("SELECT pg_sleep(10)"))
        errors = []
        try:
            while True:
                kind, payload = w.read_message(10)
                if kind == b"E":
                    errors.append(pgwire.error_fields(payload))
        except pgwire.Closed:
            pass
        killer.join()
    assert [(e.get("V", e.get("S")), e.get("C")) for e in errors] == [("FATAL", "57P01")]


@pytest.mark.parametrize("replicas", [False, True], ids=["primary", "two-replicas"])
def test_a_client_that_leaves_mid_statement_leaves_nothing_running(pgrouter, cluster, proxy_kind, replicas):
    # The client's statement waits on a lock another session holds; the client vanishes. Its statement
    # must not go on (and take the lock later) after the client is gone.
    from helpers import db_entry
    dbs = {"postgres": db_entry(cluster, replicas=replicas and proxy_kind == "pgrouter")}
    pgr = pgrouter(databases=dbs, pool_mode="transaction", default_pool_size=2)
    cluster.sql(cluster.primary, "CREATE TABLE IF NOT EXISTS pgr_leave (x int)")
    holder = cluster.connect(cluster.primary)
    holder.autocommit = False
    holder.execute("LOCK TABLE pgr_leave IN ACCESS EXCLUSIVE MODE")
    w = pgwire.Wire(pgr.port).startup()
    w.send(pgwire.query("/* pgr_leave_marker */ INSERT INTO pgr_leave VALUES (1)"))
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '/* pgr_leave_marker */%' "
               "AND state = 'active'")
    wait_for(lambda: cluster.sql(cluster.primary, waiting)[0][0] == 1, what="the INSERT waiting on the lock")
    w.abort()
    wait_for(lambda: cluster.sql(cluster.primary, waiting)[0][0] == 0, timeout=1.0,
             what="nothing left running for the departed client")
    holder.commit()
    holder.close()
    assert cluster.sql(cluster.primary, "SELECT count(*) FROM pgr_leave")[0][0] == 0
