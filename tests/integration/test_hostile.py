"""Hostile clients on raw sockets: bytes smuggled after an SSLRequest, malformed
SCRAM exchanges, oversized messages, 10,000 connections that never finish logging in, and a
process out of file descriptors. Each gets an ErrorResponse and a close (or just a close),
never a hang or a crash, and pgrouter keeps serving everyone else."""

import base64
import os
import resource
import selectors
import socket
import struct
import subprocess
import threading
import time

import pytest

import pgwire
from conftest import authid_secret

pytestmark = pytest.mark.pgrouter_only


def scram_proxy(secure_pgrouter, cluster, tls, **settings):
    """pgrouter with SCRAM client auth (pgr_app by its pg_authid secret) and TLS offered."""
    return secure_pgrouter(userlist={"pgr_app": authid_secret(cluster, "pgr_app")},
                           auth_type="scram-sha-256", **tls.proxy_settings("prefer"), **settings)


def login_works(pgr, cluster):
    """A correct SCRAM login through the raw client, then a query."""
    with pgwire.AuthWire(pgr.port) as w:
        w.login("pgr_app", cluster.password_of("pgr_app"))
        assert w.server_verified, "pgrouter's SCRAM server signature did not verify"
        assert w.simple("SELECT current_user") == ([["pgr_app"]], None)


def expect_refusal(w, states=("28P01", "08P01", "28000")):
    """The verdict on bad input: an ErrorResponse (FATAL, one of states) then a close, within
    the Wire timeout. Returns the error fields."""
    try:
        while True:
            kind, payload = w.read_message()
            if kind == b"E":
                fields = pgwire.error_fields(payload)
                break
            assert kind != b"Z", "login completed although the exchange was broken"
    except pgwire.Closed:
        pytest.fail("connection closed without an ErrorResponse")
    except pgwire.Timeout:
        pytest.fail("no verdict within the timeout: pgrouter waits for more input")
    assert fields.get("S") == "FATAL" and fields.get("C") in states, fields
    assert w.wait_closed(timeout=5), "connection left open after a FATAL error"
    return fields


# ----- bytes smuggled in front of the TLS handshake -------------------------------------

@pytest.mark.parametrize("tls_on", [True, False], ids=["tls-configured", "tls-off"])
@pytest.mark.parametrize("code", [pgwire.SSL_REQUEST, pgwire.GSSENC_REQUEST],
                         ids=["sslrequest", "gssencrequest"])
def test_plaintext_after_encryption_request_is_refused(secure_pgrouter, auth_cluster, tls,
                                                       tls_on, code):
    """CVE-2021-23214 / CVE-2021-3935 class: whatever arrives with the request, before the
    answer, would be taken for part of the encrypted session. It must be refused, not run."""
    settings = tls.proxy_settings("prefer") if tls_on else {}
    pgr = secure_pgrouter(userlist={"pgr_app": auth_cluster.password_of("pgr_app")},
                          auth_type="scram-sha-256", **settings)
    with pgwire.Wire(pgr.port) as w:
        w.send(pgwire.special_request(code) + pgwire.startup_packet("pgr_app"))
        first = w.recv_exact(1)
        assert first == b"E", f"answered {first!r} instead of refusing the smuggled bytes"
        (length,) = struct.unpack("!I", w.recv_exact(4))
        fields = pgwire.error_fields(w.recv_exact(length - 4))
        assert fields["C"] == "08P01", fields
        assert w.wait_closed(timeout=5)
    assert "unencrypted data after encryption request" in pgr.log
    login_works(pgr, auth_cluster)


def test_plaintext_instead_of_tls_handshake(secure_pgrouter, auth_cluster, tls):
    """After 'S', a startup packet in the clear is not a TLS record: the handshake fails and
    the connection closes without any authentication request."""
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls)
    with pgwire.Wire(pgr.port) as w:
        w.send(pgwire.special_request(pgwire.SSL_REQUEST))
        assert w.recv_exact(1) == b"S"
        w.send(pgwire.startup_packet("pgr_app"))
        got = b""
        try:
            while True:
                got += w.recv_exact(1)
        except pgwire.Closed:
            pass
        except pgwire.Timeout:
            pytest.fail(f"still open 5 s after a non-TLS record (received {got!r})")
        assert not got.startswith(b"R"), got
    login_works(pgr, auth_cluster)


# ----- malformed SCRAM ---------------------------------------------------------------------

def _initial(w, scram, mech=pgwire.SCRAM_MECH, data=None, length=None):
    """Send a SASLInitialResponse (by default the correct one)."""
    w.send(pgwire.sasl_initial(mech, scram.first() if data is None else data, length))


def _final(w, scram, **override):
    """Send the correct client-first, read server-first, send a client-final with overrides."""
    _initial(w, scram)
    code, server_first = w.auth_request()
    assert code == pgwire.AUTH_SASL_CONTINUE
    w.send(pgwire.password_message(scram.final(server_first, **override)))


def _b64(n):
    """Base64 of n random bytes."""
    return base64.b64encode(os.urandom(n)).decode()


MALFORMED_SCRAM = {
    "bad-base64-proof": lambda w, s: _final(w, s, proof="!!not*base64!!"),
    "bad-base64-channel-binding": lambda w, s: _final(w, s, channel="bi~ws"),
    "proof-10kB": lambda w, s: _final(w, s, proof=_b64(7680)),
    "proof-of-16-bytes": lambda w, s: _final(w, s, proof=_b64(16)),
    "wrong-nonce": lambda w, s: _final(w, s, nonce=s.nonce + _b64(18)),
    "client-nonce-only": lambda w, s: _final(w, s, nonce=s.nonce),
    "channel-binding-changed": lambda w, s: _final(
        w, s, channel=base64.b64encode(b"y,,").decode()),
    "missing-gs2-header": lambda w, s: _initial(w, s, data=s.first_bare.encode()),
    "unknown-gs2-flag": lambda w, s: _initial(w, s, data=b"q,," + s.first_bare.encode()),
    "channel-binding-requested": lambda w, s: _initial(
        w, s, data=b"p=tls-server-end-point,," + s.first_bare.encode()),
    "mandatory-extension": lambda w, s: _initial(w, s, data=b"n,,m=ext," + s.first_bare.encode()),
    "nul-in-client-first": lambda w, s: _initial(w, s, data=s.first() + b"\0tail"),
    "empty-nonce": lambda w, s: _initial(w, s, data=b"n,,n=,r="),
    "wrong-mechanism": lambda w, s: _initial(w, s, mech="SCRAM-SHA-1"),
    "plus-mechanism-not-offered": lambda w, s: _initial(
        w, s, mech="SCRAM-SHA-256-PLUS", data=b"p=tls-server-end-point,," + s.first_bare.encode()),
    "length-beyond-message": lambda w, s: _initial(w, s, length=4096),
    "length-minus-one": lambda w, s: _initial(w, s, data=b"", length=-1),
    "saslresponse-before-initial": lambda w, s: w.send(pgwire.password_message(
        b"c=biws,r=" + s.nonce.encode() + b",p=" + _b64(32).encode())),
    "empty-password-message": lambda w, s: w.send(pgwire.password_message(b"")),
    "initial-response-twice": lambda w, s: (_initial(w, s), w.auth_request(), _initial(w, s)),
    "cleartext-password-instead": lambda w, s: w.send(pgwire.password_message(b"app-secret\0")),
    "over-16kB-pre-auth": lambda w, s: w.send(pgwire.password_message(b"n,,n=,r=" + b"x" * 20000)),
    "query-during-auth": lambda w, s: w.send(pgwire.query("SELECT 1")),
    "length-below-4": lambda w, s: w.send(b"p\0\0\0\2"),
}


@pytest.mark.parametrize("case", list(MALFORMED_SCRAM))
def test_malformed_scram_fails_cleanly(secure_pgrouter, auth_cluster, tls, case):
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls, workers=1)
    password = auth_cluster.password_of("pgr_app")
    with pgwire.AuthWire(pgr.port) as bystander:  # a client in the middle of its own login
        assert bystander.begin("pgr_app")[0] == pgwire.AUTH_SASL
        with pgwire.AuthWire(pgr.port) as w:
            code, mechs = w.begin("pgr_app")
            assert code == pgwire.AUTH_SASL and pgwire.SCRAM_MECH.encode() in mechs.split(b"\0")
            try:
                MALFORMED_SCRAM[case](w, pgwire.ScramClient(password))
                fields = expect_refusal(w)
                assert "\0" not in fields["M"] and len(fields["M"]) < 300, fields
            except pgwire.Closed:
                pass  # closed while we were still sending: a verdict too
        # the bystander finishes its login undisturbed
        _final(bystander, pgwire.ScramClient(password))
        assert bystander.auth_request()[0] == pgwire.AUTH_SASL_FINAL
        assert bystander.auth_request()[0] == pgwire.AUTH_OK
        bystander.read_until()
        assert bystander.simple("SELECT 1") == ([["1"]], None)
    login_works(pgr, auth_cluster)


def test_raw_scram_client_is_a_valid_control(secure_pgrouter, auth_cluster, tls):
    """The malformed cases above differ from this exchange only in what they break."""
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls)
    login_works(pgr, auth_cluster)
    with pgwire.AuthWire(pgr.port) as w:  # and inside TLS
        assert w.ssl_request(pgwire.tls_client_context(tls.ca.cert)) == b"S"
        w.login("pgr_app", auth_cluster.password_of("pgr_app"))
        assert w.server_verified


# ----- size limits -------------------------------------------------------------------------

def test_message_over_max_packet_size_after_login(secure_pgrouter, auth_cluster, tls):
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls, max_packet_size=8192)
    with pgwire.AuthWire(pgr.port) as w:
        w.login("pgr_app", auth_cluster.password_of("pgr_app"))
        assert w.simple("SELECT length('" + "x" * 6000 + "')") == ([["6000"]], None)
        w.send(pgwire.query("SELECT length('" + "y" * 20000 + "')"))
        fields = expect_refusal(w, states=("08P01",))
        assert "SELECT" not in fields["M"], fields
    login_works(pgr, auth_cluster)


# ----- slow and silent clients ----------------------------------------------------------

FLOOD = 10_000
BATCH = 500


def open_half_open(port, n, kind):
    """n connections that start a login and stop: 'silent' (nothing), 'partial' (half a
    startup packet), 'sslrequest' (asks for TLS, never shakes hands) or 'auth' (startup
    packet, then never answers the SASL request)."""
    socks = []
    tail = {"silent": b"", "partial": pgwire.startup_packet("pgr_app")[:6],
            "sslrequest": pgwire.special_request(pgwire.SSL_REQUEST),
            "auth": pgwire.startup_packet("pgr_app")}[kind]
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tail:
            s.sendall(tail)
        s.setblocking(False)
        socks.append((s, time.monotonic(), kind))
    return socks


def open_fds(pid):
    """Number of file descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_all_closed(socks, deadline):
    """Drain every socket until the peer closes it; return {kind: [seconds open]} and the
    sockets still open at the deadline."""
    sel = selectors.DefaultSelector()
    for s, t0, kind in socks:
        sel.register(s, selectors.EVENT_READ, (t0, kind))
    lifetimes, left = {}, len(socks)
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s, (t0, kind) = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                data = b"" if isinstance(e, ConnectionResetError) else None
            if data == b"":
                lifetimes.setdefault(kind, []).append(time.monotonic() - t0)
                sel.unregister(s)
                s.close()
                left -= 1
    still_open = [k.fileobj for k in sel.get_map().values()]
    sel.close()
    return lifetimes, still_open


@pytest.mark.pgr_timeout(150)
def test_ten_thousand_half_open_connections(secure_pgrouter, auth_cluster, tls, psql):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < FLOOD + 1000:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {FLOOD + 1000}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # pgrouter inherits it
    # max_pending_logins above the flood: this test is about the login timeout and memory
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls, client_login_timeout=2,
                      max_client_conn=FLOOD + 1000, max_pending_logins=FLOOD + 1000,
                      log_connections=0, log_disconnections=0,
                      log_pooler_errors=0)
    password = auth_cluster.password_of("pgr_app")
    for _ in range(20):  # warm-up: pools, buffers and allocator arenas reach working size
        login_works(pgr, auth_cluster)
    rss_before = pgr.rss_kb()
    rss_after1, peak1 = flood_once(pgr, auth_cluster, tls, psql, password)
    # A second flood must not leave more behind than the first: memory kept after the first one
    # is the allocator's and libevent's per-descriptor tables sized for 10,000 sockets, not a leak.
    rss_after2, _ = flood_once(pgr, auth_cluster, tls, psql, password)
    if pgr.is_asan:
        return
    grown = peak1 - rss_before
    assert rss_after1 - rss_before <= max(8192, grown // 3), (
        f"RSS did not come back down: {rss_before} kB before, {peak1} kB at the peak, "
        f"{rss_after1} kB after all {FLOOD} connections were closed")
    assert rss_after2 - rss_after1 <= max(2048, grown // 10), (
        f"memory grows with every flood: {rss_after1} kB after the first, {rss_after2} kB after the second")


def flood_once(pgr, auth_cluster, tls, psql, password):
    """Open FLOOD half-open connections, check they are all closed by the login timeout while
    normal logins keep working; return (RSS after, peak RSS) in kB."""
    fds_before = open_fds(pgr.pid)
    socks, peak = [], {"fds": 0, "rss": 0}
    stop = threading.Event()

    def sample():
        """Track pgrouter's peak descriptors and memory while the flood runs."""
        while not stop.is_set():
            try:
                peak["fds"] = max(peak["fds"], open_fds(pgr.pid))
                peak["rss"] = max(peak["rss"], pgr.rss_kb())
            except OSError:
                return
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    login_times = []
    try:
        mix = ["partial", "sslrequest", "auth"]
        for i in range(FLOOD // BATCH):
            kind = mix[i] if i < len(mix) else "silent"
            socks += open_half_open(pgr.port, BATCH, kind)
            if i % 5 == 4:  # a normal client logs in while the flood is on (psql: psycopg
                t0 = time.monotonic()  # waits with select(), useless above fd 1024)
                r = psql(pgr.dsn(user="pgr_app", **tls.libpq()), "SELECT current_user",
                         password)
                assert r.rc == 0 and r.out == "pgr_app", r
                login_times.append(time.monotonic() - t0)
        opened = time.monotonic()
        lifetimes, still_open = wait_all_closed(socks, opened + 2 + 15)
    finally:
        stop.set()
        sampler.join()
        for s, _, _ in socks:
            s.close()
    assert not still_open, f"{len(still_open)} of {FLOOD} half-open connections still open " \
                           f"{time.monotonic() - opened:.1f}s after the last was opened"
    assert sum(len(v) for v in lifetimes.values()) == FLOOD
    for kind, times in lifetimes.items():  # closed by the timeout: not before, not much after
        assert min(times) > 1.5 and max(times) < 12, (kind, min(times), max(times))
    assert max(login_times) < 3, f"normal logins during the flood took {login_times}"
    assert peak["fds"] - fds_before > 4000, f"the flood never held many connections: {peak}"
    login_works(pgr, auth_cluster)
    time.sleep(0.5)
    rss_after = pgr.rss_kb()
    print(f"flood: fds {fds_before} -> peak {peak['fds']}; RSS -> peak {peak['rss']} kB -> "
          f"{rss_after} kB; normal logins {login_times}")
    return rss_after, peak["rss"]



def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def set_nofile_limit(proxy, limit):
    """Set the proxy's open-files limit (soft and hard); as the user it switched to, when it did, since a
    process of another user's may not be changed without CAP_SYS_RESOURCE."""
    user = proxy.settings.get("user")
    if not user:
        resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE, (limit, limit))
        return
    subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "prlimit",
                    f"--pid={proxy.pid}", f"--nofile={limit}:{limit}"], check=True, timeout=10)


def test_out_of_descriptors_refuses_instead_of_spinning(secure_pgrouter, auth_cluster, tls):
    """At the descriptor limit, accept refuses (closes) each pending connection once, logs it
    once, and then waits: no busy loop, no log flood, no memory growth."""
    pgr = scram_proxy(secure_pgrouter, auth_cluster, tls, client_login_timeout=30)
    login_works(pgr, auth_cluster)
    limit = open_fds(pgr.pid) + 10
    set_nofile_limit(pgr, limit)
    held = open_half_open(pgr.port, 40, "silent")
    time.sleep(0.5)
    lifetimes, open_ones = wait_all_closed(held, time.monotonic() + 1.0)
    refused = sum(len(v) for v in lifetimes.values())
    cpu0, rss0 = cpu_seconds(pgr.pid), pgr.rss_kb()
    time.sleep(1.0)
    busy, rss1 = cpu_seconds(pgr.pid) - cpu0, pgr.rss_kb()
    logged = pgr.log.count("out of file descriptors")
    problems = []
    if refused < 25 or len(open_ones) < 5:
        problems.append(f"{refused} of 40 connections refused, {len(open_ones)} held open "
                        f"(expected about 30 and 10)")
    if not 1 <= logged <= 40:
        problems.append(f"{logged} 'out of file descriptors' log lines for 40 connections")
    if busy > 0.3:
        problems.append(f"{busy:.2f}s of CPU used in 1s while idle at the descriptor limit")
    if rss1 - rss0 > 4096:
        problems.append(f"RSS grew from {rss0} kB to {rss1} kB in 1s while idle at the limit")
    assert not problems, "; ".join(problems)
    for s in open_ones:
        s.close()
    time.sleep(0.3)
    login_works(pgr, auth_cluster)  # descriptors are back: business as usual


SILENT = 10_000


@pytest.mark.pgr_timeout(150)
@pytest.mark.parametrize("workers", [1, 2])
def test_silent_connections_lock_out_neither_clients_nor_console(pgrouter, psql, workers):
    """Connections that never send a byte are logins in progress: bounded by max_pending_logins
    (oldest closed first), never counted against max_client_conn or the console's extra slots."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = SILENT + 1000
    if hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pgr = pgrouter(workers=workers, max_client_conn=100, max_pending_logins=500,
                   log_connections=0, log_disconnections=0)
    socks = []
    try:
        for _ in range(SILENT):
            socks.append(socket.create_connection(("127.0.0.1", pgr.port), timeout=10))
        time.sleep(0.5)  # let pgrouter accept the last of them
        for user, db, sql in (("pgr_app", "postgres", "SELECT current_user"),
                              ("postgres", "pgrouter", "SHOW VERSION")):
            t0 = time.monotonic()
            r = psql(pgr.dsn(user=user, dbname=db), sql)
            took = time.monotonic() - t0
            assert r.rc == 0 and r.out, (user, db, r)
            assert took < 5, f"{user}@{db} needed {took:.1f}s to get in past {SILENT} silent sockets"
        held = open_fds(pgr.pid)
        assert held < 500 + 200, f"pgrouter holds {held} descriptors for {SILENT} silent sockets"
    finally:
        for s in socks:
            s.close()
    assert "max_pending_logins = 500 reached" in pgr.log
