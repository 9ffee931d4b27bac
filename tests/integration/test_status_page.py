"""The status page at / in headless Chromium against a running cluster: the page polls
/status, and once it has live data its DOM must show every node with its role and state, the
read/write split pgrouter reports, a lag series per replica and a limit line per route with a
max_lag. A screenshot is saved to tests/artifacts/status_page.png."""

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

import cluster as harness
from helpers import db_entry

pytestmark = pytest.mark.pgrouter_only

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def chromium(url, *args, budget_ms=6000):
    """Run headless Chromium on url with a fresh profile; return its stdout."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        pytest.fail("chromium missing: scripts/install-deps.sh installs the Debian package")
    with tempfile.TemporaryDirectory(prefix="pgr-chromium-") as profile:
        r = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                            f"--virtual-time-budget={budget_ms}", *args, url],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, HOME=profile))
    assert r.returncode == 0, f"chromium exited {r.returncode}: {r.stderr[-2000:]}"
    return r.stdout


class Dom(HTMLParser):
    """The elements of a dumped DOM: (tag, attrs, text directly inside) in document order."""

    def __init__(self, html):
        super().__init__()
        self.elements, self.stack = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(e)
        if tag not in ("br", "meta", "line", "polyline", "input", "img"):
            self.stack.append(e)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag=None, **attrs):
        """Elements with the tag and attribute values (a value of True: the attribute is present)."""
        return [e for e in self.elements if (tag is None or e["tag"] == tag) and
                all((k in e["attrs"]) if v is True else e["attrs"].get(k) == v for k, v in attrs.items())]

    def by_id(self, ident):
        found = self.find(id=ident)
        assert len(found) == 1, f"#{ident}: {found}"
        return found[0]


@pytest.mark.pgr_timeout(240)
def test_status_page_shows_live_data_in_headless_chromium(pgrouter, cluster):
    port = harness.pick_ports(1)[0]
    routes = {"reports": "tag=reports target=primary max_lag=5s",
              "dash": "application_name=dashboard target=replica max_lag=30s",
              "bulk": "application_name=bulk target=primary"}
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, http_port=port, workers=2,
                   routes=routes)
    with psycopg.connect(pgr.dsn(user="pgr_app"), autocommit=True, prepare_threshold=None) as c:
        for i in range(12):
            c.execute(f"SELECT {i}")
        for i in range(5):
            c.execute(f"/* pgrouter: primary */ SELECT {i}")
    url = f"http://127.0.0.1:{port}/"
    dom = Dom(chromium(url, "--dump-dom"))
    status = json.loads(urllib.request.urlopen(url + "status", timeout=10).read())

    # live data: the page polled /status more than once and shows what pgrouter reports
    polls = int(dom.by_id("updated")["attrs"]["data-polls"])
    assert polls >= 2, f"the page polled /status {polls} times"
    assert "poll" in dom.by_id("updated")["text"]
    assert dom.by_id("version")["text"] == status["version"]
    assert dom.by_id("error")["text"].strip() == "", dom.by_id("error")

    rows = {e["attrs"]["data-node"]: e for e in dom.find("tr", **{"data-node": True})}
    want = {n["name"]: (n["role"], n["state"]) for n in status["nodes"]}
    assert {k: (r["attrs"]["data-role"], r["attrs"]["data-state"]) for k, r in rows.items()} == want
    assert want[f"127.0.0.1:{cluster.primary.port}"][0] == "primary"
    for name, row in rows.items():
        assert name in row["text"] and want[name][0] in row["text"] and want[name][1] in row["text"], row

    split = dom.by_id("split")["attrs"]
    assert int(split["data-reads"]) == status["routing"]["reads"] >= 12, (split, status["routing"])
    assert int(split["data-writes"]) == status["routing"]["writes"] >= 5, (split, status["routing"])
    assert "reads (" in dom.by_id("split")["text"]

    # the lag chart: one series per replica, one dashed limit per route with a max_lag in seconds
    series = {e["attrs"]["data-node"]: e for e in dom.find("polyline", **{"class": "series"})}
    assert set(series) == {f"127.0.0.1:{r.port}" for r in cluster.replicas}, series
    limits = {e["attrs"]["data-route"] for e in dom.find("line", **{"class": "limit"})}
    assert limits == {"reports", "dash"}, limits
    lagging = [n["name"] for n in status["nodes"] if n["role"] == "replica" and n["lag_seconds"] is not None]
    for name in lagging:   # once the monitor reports lag, the page must draw it
        assert int(series[name]["attrs"]["data-points"]) >= 1, series[name]
    if not lagging:
        assert "No lag measurements yet" in dom.by_id("lag-note")["text"]
    route_rows = [e["attrs"]["data-route"] for e in dom.find("tr", **{"data-route": True})]
    assert route_rows == ["reports", "dash", "bulk"], route_rows

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "status_page.png"
    if shot.exists():
        shot.unlink()
    chromium(url, f"--screenshot={shot}", "--window-size=1280,1000", budget_ms=4000)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)
