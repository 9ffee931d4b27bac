"""Hostile or broken bytes from clients: each gets an ErrorResponse or a close, never a hang,
a crash or a leak, and everyone else keeps being served."""

import struct
import threading

import pytest

import pgwire

V3 = struct.pack("!I", pgwire.PROTOCOL_V3)


def over_limit_startup():
    """A well-formed startup packet of ~100 kB (PostgreSQL itself stops at 10,000 bytes)."""
    return pgwire.startup_packet(user="postgres", database="postgres", options="x" * 100_000)


# Sent instead of a startup packet. Headers carry the 4-byte protocol code after the length,
# as real clients send them, so a proxy that waits for a full 8-byte header still decides.
BEFORE_STARTUP = {
    "startup-over-limit": over_limit_startup(),
    "startup-length-0": b"\0\0\0\0" + V3,
    "startup-length-3": b"\0\0\0\3" + V3,
    "startup-length-7fffffff": b"\x7f\xff\xff\xff" + V3,
    "startup-unknown-protocol": struct.pack("!II", 8, 0x00090000),
    "garbage-http": b"GET / HTTP/1.1\r\nHost: pgrouter\r\n\r\n",
    "garbage-binary": bytes(range(256)) * 4,
    "startup-no-user": struct.pack("!I", 4 + 4 + 9 + 9 + 1) + V3 + b"database\0postgres\0\0",
    "startup-unterminated": struct.pack("!I", 4 + 4 + 9) + V3 + b"user\0post",
}

# Sent after a successful login.
AFTER_LOGIN = {
    "message-length-0": b"Q\0\0\0\0",
    "message-length-3": b"Q\0\0\0\3",
    "message-length-7fffffff": b"Q\x7f\xff\xff\xffSELECT 1\0",
    "bind-length-7fffffff": b"B\x7f\xff\xff\xff" + b"\0" * 32,
    "unknown-type": pgwire.msg(b"\x01", b"hello"),
    "startup-again": pgwire.startup_packet(),
}


def expect_verdict(w, data):
    """Send data and require an ErrorResponse (with a SQLSTATE) or a close within 5 s."""
    try:
        w.send(data)
    except pgwire.Closed:
        return None  # closed while we were still sending: a verdict too
    try:
        err = w.expect_error_or_close(timeout=5)
    except pgwire.Timeout:
        pytest.fail("no ErrorResponse and no close within 5s: the proxy waits for more input")
    if err is not None:
        assert err.get("S") in ("ERROR", "FATAL") and len(err.get("C", "")) == 5, err
    return err


def still_serving(pgr):
    """A normal client works."""
    with pgr.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.parametrize("case", sorted(BEFORE_STARTUP))
def test_bad_bytes_before_startup(pgrouter, case):
    pgr = pgrouter()
    bystander = pgr.connect()  # an established client must not notice
    with pgwire.Wire(pgr.port) as w:
        expect_verdict(w, BEFORE_STARTUP[case])
    assert bystander.execute("SELECT 2").fetchone()[0] == 2
    bystander.close()
    still_serving(pgr)


@pytest.mark.parametrize("case", sorted(AFTER_LOGIN))
def test_bad_messages_after_login(pgrouter, case):
    pgr = pgrouter()
    bystander = pgr.connect()
    with pgwire.Wire(pgr.port) as w:
        w.startup()
        expect_verdict(w, AFTER_LOGIN[case])
    assert bystander.execute("SELECT 2").fetchone()[0] == 2
    bystander.close()
    still_serving(pgr)


@pytest.mark.parametrize("when", ["before-startup", "after-login", "inside-transaction"])
def test_truncated_message_then_close(pgrouter, when):
    pgr = pgrouter(default_pool_size=1, workers=1)
    for _ in range(20):
        w = pgwire.Wire(pgr.port)
        if when == "before-startup":
            w.send(pgwire.startup_packet()[:11])
        else:
            w.startup()
            if when == "inside-transaction":
                w.simple("BEGIN")
            w.send(pgwire.query("SELECT 'truncated'")[:9])
        w.close()
    still_serving(pgr)  # the pool of one is not stuck behind a half-read message


def bytes_until_close(port, data):
    """Send data on a fresh connection; return everything the peer sends before it closes."""
    with pgwire.Wire(port) as w:
        try:
            w.send(data)
        except pgwire.Closed:
            return b""
        got = b""
        try:
            while True:
                got += w.recv_exact(1)
        except pgwire.Closed:
            return got


# Not a startup packet: PostgreSQL closes without an answer, since there is no protocol yet.
SILENT_BEFORE_STARTUP = {
    # node-postgres's client.end() while still connecting queues Terminate before the startup packet.
    "terminate-then-startup": pgwire.terminate() + pgwire.startup_packet(),
    "garbage-http": BEFORE_STARTUP["garbage-http"],
    "startup-length-3": BEFORE_STARTUP["startup-length-3"],
}


@pytest.mark.pgrouter_only
@pytest.mark.parametrize("case", sorted(SILENT_BEFORE_STARTUP))
def test_invalid_startup_length_closes_silently_like_postgres(pgrouter, cluster, case):
    pgr = pgrouter()
    data = SILENT_BEFORE_STARTUP[case]
    assert bytes_until_close(cluster.primary.port, data) == b""
    assert bytes_until_close(pgr.port, data) == b""
    assert "invalid startup packet length" in pgr.log   # still logged, as PostgreSQL logs it
    still_serving(pgr)


@pytest.mark.parametrize("code", [pgwire.SSL_REQUEST, pgwire.GSSENC_REQUEST], ids=["ssl", "gssenc"])
def test_encryption_requests_answered_n(pgrouter, code):
    pgr = pgrouter()
    with pgwire.Wire(pgr.port) as w:
        w.send(pgwire.special_request(code))
        assert w.recv_exact(1) == b"N"
        w.startup()  # the same connection goes on unencrypted
        assert w.simple("SELECT 'plain'") == ([["plain"]], None)


ALL_CASES = [("pre", v) for v in BEFORE_STARTUP.values()] + \
            [("post", v) for v in AFTER_LOGIN.values()]


def abuse(port, rounds, errors):
    """Run every bad-input case `rounds` times, sequentially, recording unexpected failures."""
    for i in range(rounds):
        phase, data = ALL_CASES[i % len(ALL_CASES)]
        try:
            with pgwire.Wire(port) as w:
                if phase == "post":
                    w.startup()
                try:
                    w.send(data)
                except pgwire.Closed:
                    continue
                w.expect_error_or_close(timeout=5)
        except Exception as e:  # noqa: BLE001 - asserted by the caller
            errors.append(f"{phase} {data[:16]!r}: {e!r}")
            return


@pytest.mark.pgr_timeout(240)
def test_memory_does_not_grow_under_bad_input(pgrouter):
    pgr = pgrouter(max_client_conn=100)
    errors = []

    def run(total, threads=4):
        ts = [threading.Thread(target=abuse, args=(pgr.port, total // threads, errors))
              for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
    run(400)  # warm-up: buffers, pools and allocator arenas reach their working size
    still_serving(pgr)
    before = pgr.rss_kb()
    run(2000)
    still_serving(pgr)
    after = pgr.rss_kb()
    assert not errors, errors[:5]
    # ASan's quarantine keeps freed memory resident, so there the RSS says nothing; LeakSanitizer's
    # report at pgrouter's exit (checked by the fixture's teardown) is the leak check instead.
    if not pgr.is_asan:
        assert after - before < 3072, f"RSS grew from {before} kB to {after} kB over 2,000 bad clients"
