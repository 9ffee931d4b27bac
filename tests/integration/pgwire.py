"""Raw PostgreSQL v3 wire helpers for tests that must send exact (or broken) bytes."""

import socket
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
