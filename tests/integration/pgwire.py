"""Raw PostgreSQL v3 wire helpers for tests that must send exact (or broken) bytes."""

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class Closed(Exception):
    """The peer closed (or reset) the connection."""


class Timeout(Exception):
    """Nothing (or not enough) arrived within the timeout."""


class ServerError(Exception):
    """An ErrorResponse arrived where success was expected; .fields holds its fields."""

    def __init__(self, fields):
        super().__init__(f"{fields.get('C')}: {fields.get('M')}")
        self.fields = fields


# ----- message builders --------------------------------------------------------

def cstr(s):
    """NUL-terminated UTF-8 bytes of s."""
    return s.encode() + b"\0"


def startup_packet(user="postgres", database="postgres", **params):
    """StartupMessage for protocol 3.0 with the given parameters."""
    body = struct.pack("!I", PROTOCOL_V3)
    for k, v in (("user", user), ("database", database), *params.items()):
        if v is not None:
            body += cstr(k) + cstr(str(v))
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def special_request(code, *ints):
    """An untyped request (SSLRequest, GSSENCRequest, CancelRequest): length, code, int32s."""
    body = struct.pack("!I", code) + b"".join(struct.pack("!I", i & 0xFFFFFFFF) for i in ints)
    return struct.pack("!I", len(body) + 4) + body


def msg(kind, payload=b""):
    """A typed message: one type byte, int32 length (self-inclusive), payload."""
    return kind + struct.pack("!I", len(payload) + 4) + payload


def query(sql):
    """Simple Query message."""
    return msg(b"Q", cstr(sql))


def parse(sql, name="", param_oids=()):
    """Parse message."""
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(param_oids))
               + b"".join(struct.pack("!I", o) for o in param_oids))


def bind(params=(), portal="", stmt=""):
    """Bind message with text-format parameters (None is NULL) and text results."""
    body = cstr(portal) + cstr(stmt) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            b = str(p).encode()
            body += struct.pack("!i", len(b)) + b
    return msg(b"B", body + struct.pack("!H", 0))


def describe_portal(portal=""):
    """Describe (portal) message."""
    return msg(b"D", b"P" + cstr(portal))


def describe_statement(name=""):
    """Describe (prepared statement) message."""
    return msg(b"D", b"S" + cstr(name))


def close(kind=b"S", name=""):
    """Close message for a prepared statement (kind b"S") or a portal (b"P")."""
    return msg(b"C", kind + cstr(name))


def execute(portal="", max_rows=0):
    """Execute message."""
    return msg(b"E", cstr(portal) + struct.pack("!I", max_rows))


def sync():
    """Sync message."""
    return msg(b"S")


def flush():
    """Flush message."""
    return msg(b"H")


def terminate():
    """Terminate message."""
    return msg(b"X")


# ----- message parsers -----------------------------------------------------------

def error_fields(payload):
    """Fields of an ErrorResponse/NoticeResponse payload as {code letter: text}."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def data_row(payload):
    """Column values of a DataRow payload, as str (None for NULL)."""
    (n,), pos, out = struct.unpack_from("!H", payload), 2, []
    for _ in range(n):
        (length,) = struct.unpack_from("!i", payload, pos)
        pos += 4
        if length < 0:
            out.append(None)
        else:
            out.append(payload[pos:pos + length].decode())
            pos += length
    return out


# ----- a raw connection ------------------------------------------------------------

class Wire:
    """One TCP connection speaking raw protocol bytes, with timeouts on every read."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.params = {}
        self.backend_key = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Send all bytes; raise Closed if the peer is gone."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e)) from e

    def recv_exact(self, n, timeout=None):
        """Receive exactly n bytes within timeout; raise Closed on EOF, Timeout on silence."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"got {len(buf)} of {n} bytes")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout as e:
                raise Timeout(f"got {len(buf)} of {n} bytes") from e
            except ConnectionResetError as e:
                raise Closed("reset") from e
            if not chunk:
                raise Closed("eof")
            buf += chunk
        return buf

    def read_message(self, timeout=None):
        """Read one typed message and return (type byte, payload)."""
        head = self.recv_exact(5, timeout)
        (length,) = struct.unpack("!I", head[1:])
        if length < 4 or length > 1 << 30:
            raise AssertionError(f"peer sent an invalid length {length} for type {head[:1]!r}")
        return head[:1], self.recv_exact(length - 4, timeout)

    def read_until(self, kinds=(b"Z",), timeout=None):
        """Read messages up to and including the first whose type is in kinds; return them all."""
        out = []
        while True:
            m = self.read_message(timeout)
            out.append(m)
            if m[0] in kinds:
                return out

    def startup(self, user="postgres", database="postgres", **params):
        """Log in (trust auth), collecting ParameterStatus and BackendKeyData; raise
        ServerError if the login is refused."""
        self.send(startup_packet(user, database, **params))
        while True:
            kind, payload = self.read_message()
            if kind == b"E":
                raise ServerError(error_fields(payload))
            if kind == b"R":
                (code,) = struct.unpack_from("!I", payload)
                if code != 0:
                    raise AssertionError(f"authentication method {code} requested; "
                                         "these tests expect trust")
            elif kind == b"S":
                k, v, _ = payload.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif kind == b"K":
                self.backend_key = struct.unpack("!II", payload)
            elif kind == b"Z":
                return self

    def simple(self, sql, timeout=None):
        """Run a simple query; return (rows as lists of str, error fields or None)."""
        self.send(query(sql))
        rows, err = [], None
        try:
            while True:
                kind, payload = self.read_message(timeout)
                if kind == b"D":
                    rows.append(data_row(payload))
                elif kind == b"E":
                    err = error_fields(payload)
                elif kind == b"Z":
                    return rows, err
        except Closed:
            if err is None:  # an error followed by a close is a verdict; a bare close is not
                raise
            return rows, err

    def expect_error_or_close(self, timeout=None):
        """Wait for the proxy's verdict on bad input: return the ErrorResponse fields, or None if
        it closed the connection without one; raise Timeout if it did neither (a hang)."""
        try:
            while True:
                kind, payload = self.read_message(timeout)
                if kind == b"E":
                    return error_fields(payload)
        except Closed:
            return None

    def wait_closed(self, timeout=None):
        """Return True if the peer closes the connection within timeout (data is discarded)."""
        try:
            while True:
                self.recv_exact(1, timeout)
        except Closed:
            return True
        except Timeout:
            return False

    def abort(self):
        """Close with a TCP RST (SO_LINGER 0), as a killed client's kernel might."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        """Close the socket without a Terminate message."""
        self.sock.close()


def send_cancel(port, pid, key, host="127.0.0.1"):
    """Send a CancelRequest on a fresh connection and wait until the peer closes it."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(special_request(CANCEL_REQUEST, pid, key))
        try:
            while s.recv(64):
                pass
        except (socket.timeout, ConnectionResetError):
            pass


# ----- authentication and TLS on a raw connection -----------------------

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12
SCRAM_MECH = "SCRAM-SHA-256"


def password_message(data):
    """PasswordMessage / SASLResponse ('p') carrying data (bytes) as is."""
    return msg(b"p", data)


def sasl_initial(mech, data, length=None):
    """SASLInitialResponse: mechanism, int32 length (default: len(data); -1 means none), data."""
    n = len(data) if length is None else length
    return msg(b"p", cstr(mech) + struct.pack("!i", n) + data)


def md5_password(user, password, salt):
    """The md5 response PostgreSQL expects: 'md5' + md5(md5(password + user) + salt)."""
    inner = hashlib.md5((password + user).encode()).hexdigest().encode()
    return "md5" + hashlib.md5(inner + salt).hexdigest()


def _hmac(key, data):
    """HMAC-SHA-256."""
    return hmac.new(key, data, hashlib.sha256).digest()


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802/7677, no channel binding), step by step, so
    tests can send each message correctly or break it on purpose."""

    def __init__(self, password, nonce=None):
        self.password = password
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.gs2 = "n,,"
        self.first_bare = f"n=,r={self.nonce}"
        self.salt = self.iterations = self.server_nonce = None
        self.server_signature = None

    def first(self):
        """client-first-message bytes."""
        return (self.gs2 + self.first_bare).encode()

    def parse_server_first(self, data):
        """Read r=, s=, i= from server-first-message; return them as a dict."""
        text = data.decode()
        attrs = dict(part.split("=", 1) for part in text.split(","))
        self.server_first = text
        self.server_nonce = attrs["r"]
        self.salt = base64.b64decode(attrs["s"])
        self.iterations = int(attrs["i"])
        return attrs

    def final(self, server_first, nonce=None, channel=None, proof=None):
        """client-final-message bytes for server_first; nonce/channel/proof override the
        correct values (for hostile tests)."""
        self.parse_server_first(server_first)
        cbind = channel if channel is not None else base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={cbind},r={nonce if nonce is not None else self.server_nonce}"
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), self.salt, self.iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(stored_key, auth_message)
        good = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        p = proof if proof is not None else base64.b64encode(good).decode()
        return f"{without_proof},p={p}".encode()

    def verify_final(self, data):
        """True if server-final-message carries the server signature we expect."""
        return data.decode() == "v=" + base64.b64encode(self.server_signature).decode()


class AuthWire(Wire):
    """A raw connection that can negotiate TLS and answer password, md5 and SCRAM requests.

    After login(), auth_codes lists the authentication request codes the peer sent, and
    scram_salts the (salt, iterations) pairs it offered: tests compare them between a known
    and an unknown user."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        super().__init__(port, host, timeout)
        self.auth_codes = []
        self.scram_salts = []
        self.server_verified = None

    def ssl_request(self, context=None, server_hostname="localhost"):
        """Send SSLRequest; on 'S' and a context, wrap the socket in TLS. Returns the answer byte."""
        self.send(special_request(SSL_REQUEST))
        answer = self.recv_exact(1)
        if answer == b"S" and context is not None:
            self.sock.settimeout(self.timeout)
            self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        return answer

    def auth_request(self, timeout=None):
        """Read the next message, which must be an authentication request; return (code, data).
        Raise ServerError on an ErrorResponse."""
        while True:
            kind, payload = self.read_message(timeout)
            if kind == b"E":
                raise ServerError(error_fields(payload))
            if kind == b"v":  # NegotiateProtocolVersion: not an answer yet
                continue
            if kind != b"R":
                raise AssertionError(f"expected an authentication request, got {kind!r}")
            (code,) = struct.unpack_from("!I", payload)
            self.auth_codes.append(code)
            return code, payload[4:]

    def begin(self, user, database="postgres", **params):
        """Send the startup packet and return the first authentication request (code, data)."""
        self.send(startup_packet(user, database, **params))
        return self.auth_request()

    def login(self, user, password, database="postgres", **params):
        """Log in with whatever method the peer asks for; return self once ReadyForQuery
        arrives. Raise ServerError (fields of the ErrorResponse) if the login is refused."""
        code, data = self.begin(user, database, **params)
        scram = None
        while code != AUTH_OK:
            if code == AUTH_CLEARTEXT:
                self.send(password_message(cstr(password)))
            elif code == AUTH_MD5:
                self.send(password_message(cstr(md5_password(user, password, data))))
            elif code == AUTH_SASL:
                mechs = [m.decode() for m in data.split(b"\0") if m]
                if SCRAM_MECH not in mechs:
                    raise AssertionError(f"no {SCRAM_MECH} among {mechs}")
                scram = ScramClient(password)
                self.send(sasl_initial(SCRAM_MECH, scram.first()))
            elif code == AUTH_SASL_CONTINUE:
                final = scram.final(data)
                self.scram_salts.append((scram.salt, scram.iterations))
                self.send(password_message(final))
            elif code == AUTH_SASL_FINAL:
                self.server_verified = scram.verify_final(data)
            else:
                raise AssertionError(f"unsupported authentication request {code}")
            code, data = self.auth_request()
        while True:
            kind, payload = self.read_message()
            if kind == b"E":
                raise ServerError(error_fields(payload))
            if kind == b"S":
                k, v, _ = payload.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif kind == b"K":
                self.backend_key = struct.unpack("!II", payload)
            elif kind == b"Z":
                return self


def tls_client_context(cafile=None, certfile=None, keyfile=None, check_hostname=True,
                       min_version=None, max_version=None):
    """An ssl.SSLContext for AuthWire.ssl_request: verify against cafile (or not at all when
    cafile is None), optionally present a client certificate, optionally pin TLS versions."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx
