"""`make demo`: it starts a primary, two replicas and pgrouter, runs a short mixed
workload and reports where reads went and why, each replica's lag and the status page's address;
`make demo-stop` ends it cleanly."""
import os
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.pgrouter_only

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo.sh"


def listening(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.pgr_timeout(300)
def test_demo_runs_a_workload_and_stops_cleanly():
    if listening(6432):
        pytest.fail("port 6432 is taken: the demo cannot start (stop the other program first)")
    env = dict(os.environ)
    env.setdefault("PGROUTER_BIN", str(REPO / "build" / "pgrouter"))
    try:
        r = subprocess.run(["bash", str(DEMO), "start"], env=env, capture_output=True, text=True, timeout=240)
        out = r.stdout + r.stderr
        print(out)
        assert r.returncode == 0, out
        assert "Reads that missed the client's own write: 0." in out
        # its readers query a table another connection has just created: a replica that has not
        # replayed it yet must not surface as a traceback (the read is re-run on the primary)
        assert "Traceback" not in out and "42P01" not in out, out
        assert "on the replica  read" in out and "on the primary  dml" in out, out
        replica_lines = [line for line in out.splitlines() if " replica  up " in line]
        assert len(replica_lines) == 2 and all(" s / " in line and "bytes" in line for line in replica_lines), out
        assert "Status page: http://127.0.0.1:6480/" in out
        assert listening(6432) and listening(6480)
    finally:
        s = subprocess.run(["bash", str(DEMO), "stop"], env=env, capture_output=True, text=True, timeout=120)
        print(s.stdout + s.stderr)
    assert s.returncode == 0
    assert "pgrouter stopped" in s.stdout and "PostgreSQL cluster stopped" in s.stdout
    assert not listening(6432) and not listening(6480) and not listening(55432)
