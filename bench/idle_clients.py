#!/usr/bin/python3
"""Open N logged-in idle PostgreSQL client connections with raw sockets (asyncio), for measuring
a proxy's memory per idle client; usable from bench/run or alone:
    bench/idle_clients.py PORT N [SECONDS]   (holds them SECONDS, default 10, then closes them)"""

import asyncio
import struct
import sys

CONCURRENT_LOGINS = 200  # logins in flight at once: enough for speed, few enough for any backlog


def startup_packet(user="postgres", database="bench"):
    """A protocol 3.0 StartupMessage for user and database."""
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", database)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


async def login(port, gate):
    """Connect, send the startup packet, accept trust auth and wait for ReadyForQuery; return the
    open (reader, writer). Raises RuntimeError on an ErrorResponse or a password request."""
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(startup_packet())
        await writer.drain()
        while True:
            head = await reader.readexactly(5)
            kind, length = head[:1], struct.unpack("!I", head[1:])[0]
            body = await reader.readexactly(length - 4)
            if kind == b"E":
                writer.close()
                raise RuntimeError("login refused: " + body.decode(errors="replace"))
            if kind == b"R" and struct.unpack("!I", body[:4])[0] != 0:
                writer.close()
                raise RuntimeError("the server asks for a password; trust auth expected")
            if kind == b"Z":
                return reader, writer


async def open_idle(port, n):
    """Open n logged-in idle connections to 127.0.0.1:port; return their writers."""
    gate = asyncio.Semaphore(CONCURRENT_LOGINS)
    results = await asyncio.gather(*(login(port, gate) for _ in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    writers = [r[1] for r in results if not isinstance(r, BaseException)]
    if errors:
        close_all(writers)
        raise RuntimeError(f"{len(errors)} of {n} logins failed, first: {errors[0]!r}")
    return writers


def close_all(writers):
    """Close connections abruptly (a proxy must cope; Terminate would cost a write per client)."""
    for w in writers:
        w.close()


def with_idle_clients(port, n, measure):
    """Open n idle logged-in clients to port, call measure() while they are open, close them and
    return what measure returned."""
    async def main():
        writers = await open_idle(port, n)
        await asyncio.sleep(1)  # let the proxy finish whatever it does after the last login
        try:
            return measure()
        finally:
            close_all(writers)
            await asyncio.sleep(0.2)
    return asyncio.run(main())


if __name__ == "__main__":
    import resource
    import time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, count = int(sys.argv[1]), int(sys.argv[2])
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    print(with_idle_clients(port, count, lambda: (print(f"{count} clients logged in"),
                                                  time.sleep(hold))[1]) or "closed")
