#!/usr/bin/python3
"""The demo's short mixed workload: writes, reads and reads right after a write through pgrouter,
then where the reads went and why, each replica's lag, and the status page's address."""
import json
import sys
import threading
import time
import urllib.request

import psycopg

PORT, HTTP_PORT, SECONDS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3] if len(sys.argv) > 3 else 5)
DSN = f"host=127.0.0.1 port={PORT} dbname=postgres user=postgres"


def connect():
    """An application connection through pgrouter."""
    return psycopg.connect(DSN, autocommit=True)


def writer_and_reader(stop, stale):
    """Insert a row, read it back at once (read-your-writes), and read older rows."""
    with connect() as conn:
        while not stop.is_set():
            rid = conn.execute("INSERT INTO demo_posts (body) VALUES ('hello') RETURNING id").fetchone()[0]
            if conn.execute("SELECT count(*) FROM demo_posts WHERE id = %s", (rid,)).fetchone()[0] != 1:
                stale.append(rid)
            conn.execute("SELECT count(*) FROM demo_posts WHERE id < %s", (max(rid - 100, 1),)).fetchone()


def reader(stop):
    """A read-only client: dashboards and listings."""
    with connect() as conn:
        while not stop.is_set():
            conn.execute("SELECT count(*), max(id) FROM demo_posts").fetchone()


def main():
    with connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS demo_posts (id bigserial PRIMARY KEY, body text, "
                      "at timestamptz DEFAULT now())")
    stop, stale = threading.Event(), []
    threads = [threading.Thread(target=writer_and_reader, args=(stop, stale)) for _ in range(2)]
    threads += [threading.Thread(target=reader, args=(stop,)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/status", timeout=5))
    print(f"\nA {SECONDS:.0f}-second mixed workload ran: 2 clients writing and reading their own rows back,"
          f" 4 clients only reading. Reads that missed the client's own write: {len(stale)}.\n")
    print("Where statements went, and why:")
    for r in sorted(status["routing"]["by_reason"], key=lambda r: -r["count"]):
        print(f"    {r['count']:>7}  on the {r['target']:<7}  {r['reason']}")
    print("\nNodes:")
    for n in status["nodes"]:
        lag = "" if n["lag_seconds"] is None else f"lag {n['lag_seconds']:.3f} s / {n['lag_bytes']} bytes"
        rot = "in rotation" if n["in_rotation"] else f"out of rotation ({n['not_in_rotation_reason']})"
        print(f"    {n['name']:<16} {n['role']:<8} {n['state']:<5} {rot:<28} {lag:<30}"
              f" reads {n['reads']}, writes {n['writes']}")
    print(f"\nStatus page: http://127.0.0.1:{HTTP_PORT}/   (metrics: /metrics, JSON: /status)")


if __name__ == "__main__":
    main()
