"""Read-your-writes without an extra round trip: the commit-LSN query rides right behind the client's
COMMIT or autocommit write (a simple Query, or the Sync of an extended-protocol batch), and every shape of
statement around it still gets exactly its own answers: a transaction that stays open, COPY FROM STDIN,
errors, two queries in one packet, pipelines, and batches pgrouter cannot read (which ask after the
ReadyForQuery instead)."""
import psycopg
import pytest

import cluster as harness
from pgwire import Wire, bind, data_row, error_fields, execute, msg, parse, query, sync
from test_ryw import app, new_id, rcluster, ryw_metrics, sees, start_router  # noqa: F401 (rcluster: fixture)

pytestmark = pytest.mark.pgrouter_only


def learned(http_port):
    """(with the statement, with an extra round trip) counts of learned commit LSNs."""
    m = ryw_metrics(http_port)
    return (m[("pgrouter_ryw_lsn_learned_total", "with_statement")],
            m[("pgrouter_ryw_lsn_learned_total", "extra_round_trip")])


def run(w, sql):
    """Simple Query on a raw connection: (message types in order, rows, error fields, pgrouter.lsn or None)."""
    w.send(query(sql))
    kinds, rows, err, token = [], [], None, None
    while True:
        kind, payload = w.read_message()
        kinds.append(kind)
        if kind == b"D":
            rows.append(data_row(payload))
        elif kind == b"E":
            err = error_fields(payload)
        elif kind == b"S" and payload.startswith(b"pgrouter.lsn\0"):
            token = payload.split(b"\0")[1].decode()
        elif kind == b"Z":
            return kinds, rows, err, token, payload


def two_ids():
    """rid and rid + 1, both unused."""
    rid = new_id()
    new_id()
    return rid


@pytest.fixture
def router(rcluster, pgrouter):
    http_port = harness.pick_ports(1)[0]
    proxy = start_router(pgrouter, rcluster, http_port=http_port)
    proxy.http = http_port
    return proxy


def test_autocommit_write_and_commit_learn_their_lsn_in_the_same_round_trip(router):
    with Wire(router.port) as w:
        w.startup()
        before = learned(router.http)
        rid = two_ids()
        kinds, _, err, token, z = run(w, f"INSERT INTO ryw_new VALUES ({rid}, 'pipe')")
        assert err is None and z == b"I" and token and "/" in token
        # the client sees its own answer, then the token, then one ReadyForQuery: nothing of pgrouter's query
        assert kinds == [b"C", b"S", b"Z"], kinds
        run(w, "BEGIN")
        run(w, f"INSERT INTO ryw_new VALUES ({rid + 1}, 'pipe')")
        kinds, _, err, token2, z = run(w, "COMMIT")
        assert kinds == [b"C", b"S", b"Z"] and z == b"I" and token2 >= token, (kinds, token, token2)
        kinds, rows, err, _, _ = run(w, f"SELECT count(*) FROM ryw_new WHERE id IN ({rid}, {rid + 1})")
        assert rows == [["2"]] and kinds == [b"T", b"D", b"C", b"Z"], (rows, kinds)
        after = learned(router.http)
        assert after[0] - before[0] == 2 and after[1] == before[1], (before, after)


def test_extended_protocol_learns_behind_the_sync(router):
    with app(router) as conn:
        before = learned(router.http)
        rid = new_id()
        conn.execute("INSERT INTO ryw_new VALUES (%s, 'extended')", (rid,))
        with conn.transaction():
            conn.execute("INSERT INTO ryw_new VALUES (%s, 'extended')", (new_id(),))
        after = learned(router.http)
        assert sees(conn, rid)[0]
        assert after[0] - before[0] == 2 and after[1] == before[1], (before, after)
        # a pipeline of several batches: each write's LSN, in order, and every answer to its owner
        with conn.pipeline():
            ids = [new_id() for _ in range(20)]
            curs = []
            for i in ids:
                conn.execute("INSERT INTO ryw_new VALUES (%s, 'pipeline')", (i,))
                curs.append(conn.execute("SELECT count(*) FROM ryw_new WHERE id = %s", (i,)))
        assert [c.fetchone()[0] for c in curs] == [1] * 20


def test_statement_parsed_in_an_earlier_batch(router):
    """PQprepare then PQexecPrepared of the unnamed statement (inside a transaction: in transaction pooling
    the unnamed statement lives on the server of that transaction): the Bind's batch runs a statement
    pgrouter saw in another batch, nothing rides behind it, and the COMMIT learns the LSN."""
    with Wire(router.port) as w:
        w.startup()
        rid = new_id()
        run(w, "BEGIN")
        w.send(parse("INSERT INTO ryw_new VALUES ($1, 'later')") + sync())
        assert [m[0] for m in w.read_until()] == [b"1", b"Z"]
        w.send(bind([str(rid)]) + execute() + sync())
        kinds = [m[0] for m in w.read_until()]
        assert kinds == [b"2", b"C", b"Z"], kinds
        before = learned(router.http)
        kinds, _, err, token, z = run(w, "COMMIT")
        assert kinds == [b"C", b"S", b"Z"] and z == b"I" and token, kinds
        after = learned(router.http)
        assert after[0] - before[0] == 1 and after[1] == before[1], (before, after)
        assert run(w, f"SELECT count(*) FROM ryw_new WHERE id = {rid}")[1] == [["1"]]


def test_extended_copy_from_stdin_is_not_disturbed(router):
    """COPY FROM STDIN through Parse/Bind/Execute/Sync (as libpq sends it): the server ignores that Sync
    during COPY, so nothing may follow it; the Sync after CopyDone ends the unit."""
    with Wire(router.port) as w:
        w.startup()
        rid = two_ids()
        w.send(parse("COPY ryw_new FROM STDIN") + bind() + execute() + sync())
        kinds = []
        while not kinds or kinds[-1] != b"G":
            kinds.append(w.read_message()[0])
        assert kinds == [b"1", b"2", b"G"], kinds
        w.send(msg(b"d", f"{rid}\tcopy\n{rid + 1}\tcopy\n".encode()) + msg(b"c") + sync())
        kinds = [m[0] for m in w.read_until()]
        assert b"E" not in kinds and kinds[0] == b"C" and kinds[-1] == b"Z", kinds
        assert run(w, f"SELECT count(*) FROM ryw_new WHERE id IN ({rid}, {rid + 1})")[1] == [["2"]]


def test_commit_and_chain_keeps_the_transaction_and_learns_at_the_last_commit(router):
    """COMMIT AND CHAIN looks like the end of the unit but leaves a transaction open: the ridden answer is
    dropped, the client gets status T, and the final COMMIT learns the LSN."""
    with Wire(router.port) as w:
        w.startup()
        rid = two_ids()
        run(w, "BEGIN")
        run(w, f"INSERT INTO ryw_new VALUES ({rid}, 'chain')")
        kinds, _, err, token, z = run(w, "COMMIT AND CHAIN")
        assert err is None and z == b"T" and kinds == [b"C", b"Z"], (kinds, err)
        kinds, rows, err, _, z = run(w, f"SELECT count(*) FROM ryw_new WHERE id = {rid}")
        assert rows == [["1"]] and z == b"T" and kinds == [b"T", b"D", b"C", b"Z"], kinds
        run(w, f"INSERT INTO ryw_new VALUES ({rid + 1}, 'chain')")
        kinds, _, err, token, z = run(w, "COMMIT")
        assert err is None and z == b"I" and token, kinds
        assert run(w, f"SELECT count(*) FROM ryw_new WHERE id IN ({rid}, {rid + 1})")[1] == [["2"]]


def test_failed_write_and_failed_transaction_get_their_own_errors(router):
    with Wire(router.port) as w:
        w.startup()
        rid = two_ids()
        run(w, f"INSERT INTO ryw_new VALUES ({rid}, 'dup')")
        kinds, _, err, _, z = run(w, f"INSERT INTO ryw_new VALUES ({rid}, 'dup')")
        assert err["C"] == "23505" and z == b"I" and kinds[0] == b"E", (kinds, err)
        run(w, "BEGIN")
        run(w, f"INSERT INTO ryw_new VALUES ({rid + 1}, 'aborted')")
        kinds, _, err, _, z = run(w, "SELECT 1/0")
        assert err["C"] == "22012" and z == b"E"
        kinds, _, err, _, z = run(w, "COMMIT")   # becomes ROLLBACK
        assert err is None and z == b"I"
        assert run(w, f"SELECT count(*) FROM ryw_new WHERE id = {rid + 1}")[1] == [["0"]]
        assert run(w, "SELECT 42")[1] == [["42"]]


def test_copy_from_stdin_is_not_disturbed(router):
    """COPY FROM STDIN reads client data after its Query: nothing may ride behind it."""
    with Wire(router.port) as w:
        w.startup()
        rid = two_ids()
        w.send(query("COPY ryw_new FROM STDIN"))
        kind, _ = w.read_message()
        assert kind == b"G", kind
        w.send(msg(b"d", f"{rid}\tcopy\n{rid + 1}\tcopy\n".encode()) + msg(b"c"))
        kinds = [m[0] for m in w.read_until()]
        assert kinds[-1] == b"Z" and b"E" not in kinds and b"C" in kinds, kinds
        assert run(w, f"SELECT count(*) FROM ryw_new WHERE id IN ({rid}, {rid + 1})")[1] == [["2"]]


def test_two_queries_in_one_packet_keep_their_order(router):
    """A client that sends its write and its read together: the read waits behind the write's commit LSN
    and still gets exactly its own answer."""
    with Wire(router.port) as w:
        w.startup()
        for _ in range(50):
            rid = new_id()
            w.send(query(f"INSERT INTO ryw_new VALUES ({rid}, 'packet')") +
                   query(f"SELECT count(*) FROM ryw_new WHERE id = {rid}"))
            first = w.read_until()
            second = w.read_until()
            assert [m[0] for m in first] == [b"C", b"S", b"Z"], first
            rows = [data_row(p) for k, p in second if k == b"D"]
            assert rows == [["1"]], second


def test_session_and_psycopg_simple_queries_read_their_writes(router):
    """The whole loop with simple-protocol writes (psycopg's ClientCursor): 0 stale reads."""
    with psycopg.connect(router.dsn(), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        before = learned(router.http)
        stale = 0
        for _ in range(200):
            rid = new_id()
            conn.execute("INSERT INTO ryw_new VALUES (%s, 'simple')", (rid,))
            n = conn.execute("SELECT count(*) FROM ryw_new WHERE id = %s", (rid,)).fetchone()[0]
            stale += n != 1
        assert stale == 0
        assert learned(router.http)[0] - before[0] == 200
