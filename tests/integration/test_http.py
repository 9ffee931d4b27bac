"""The HTTP listener: /metrics parsed by Prometheus' own text-format parser and checked
against the traffic the test made, /status checked against the JSON schema documented in
docs/monitoring.md, and the listener's errors and isolation from query forwarding."""

import json
import math
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import cluster as harness
import pgwire
from helpers import db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

REPO = Path(__file__).resolve().parents[2]
ROUTES = {"reports": "tag=reports target=primary max_lag=5s",
          "dash": "application_name=dashboard target=replica max_lag=16MB"}


def http(port, path, method="GET"):
    """(status, headers, body text) of one request to the listener."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def metrics(port):
    """/metrics as {family name: Metric} (prometheus_client names counters without _total)."""
    status, headers, body = http(port, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return {f.name: f for f in text_string_to_metric_families(body)}


def samples(families, name, **labels):
    """Samples named name (in whatever family holds them) whose labels include the given ones."""
    found = [s for f in families.values() for s in f.samples if s.name == name]
    assert found or any(name.startswith(f) for f in families), f"no family for {name}"
    return [s for s in found if all(s.labels.get(k) == v for k, v in labels.items())]


def value(families, name, **labels):
    """Sum of the matching samples' values."""
    return sum(s.value for s in samples(families, name, **labels))


def started(pgrouter, cluster, **settings):
    """pgrouter with the HTTP listener on a free port, in front of the primary and both replicas."""
    port = harness.pick_ports(1)[0]
    dbs = settings.pop("databases", None) or {"postgres": db_entry(cluster, replicas=True),
                                              "tiny": db_entry(cluster, pool_size=1)}
    pgr = pgrouter(databases=dbs, http_port=port, workers=2, routes=ROUTES, **settings)
    wait_for(lambda: _answers(port), timeout=5, what="the HTTP listener")
    return pgr, port


def _answers(port):
    """True once the HTTP port accepts connections."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def traffic(pgr):
    """A known mix: 20 reads, 4 hinted primaries, 2 rule hits, 1 volatile function, one client that
    queues for a server, one refused console login and one protocol violation."""
    with psycopg.connect(pgr.dsn(user="pgr_app"), autocommit=True, prepare_threshold=None) as c:
        for i in range(20):
            c.execute(f"SELECT {i}")
        for i in range(4):
            c.execute(f"/* pgrouter: primary */ SELECT {i}")
        for i in range(2):
            c.execute(f"/* route: reports */ SELECT {i}")
        c.execute("SELECT txid_current()")
    holder = pgr.connect(user="pgr_app", dbname="tiny")
    holder.execute("BEGIN")
    holder.execute("SELECT 1")            # holds tiny's only server connection
    waited = threading.Thread(target=lambda: pgr.connect(user="pgr_app", dbname="tiny").execute("SELECT 1").connection.close())
    waited.start()
    time.sleep(0.2)
    holder.execute("COMMIT")
    waited.join(10)
    holder.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pgr.dsn(user="pgr_app", dbname="pgrouter")).close()
    with pgwire.Wire(pgr.port) as w:
        w.startup(user="pgr_app")
        w.send(b"\x01" + struct.pack("!I", 4))
        w.expect_error_or_close()


def test_metrics_parse_and_follow_traffic(pgrouter, cluster):
    pgr, port = started(pgrouter, cluster)
    nodes = {f"127.0.0.1:{cluster.primary.port}": "primary",
             **{f"127.0.0.1:{r.port}": "replica" for r in cluster.replicas}}
    before = metrics(port)
    assert value(before, "pgrouter_queries_routed_total") == 0
    traffic(pgr)

    def counted():
        m = metrics(port)
        ok = (value(m, "pgrouter_queries_routed_total", target="replica", reason="read") >= 20
              and value(m, "pgrouter_pool_queries_total", database="tiny") >= 4
              and value(m, "pgrouter_pool_clients", database="tiny", state="waiting") == 0)
        return m if ok else None
    m = wait_for(counted, timeout=5, what="the traffic in /metrics")

    types = {"pgrouter_info": "gauge", "pgrouter_clients": "gauge", "pgrouter_queries": "counter",
             "pgrouter_queries_routed": "counter", "pgrouter_retries": "counter",
             "pgrouter_sessions_pinned": "counter", "pgrouter_server_connects": "counter",
             "pgrouter_protocol_errors": "counter", "pgrouter_auth_failures": "counter",
             "pgrouter_client_wait_seconds": "summary", "pgrouter_pool_clients": "gauge",
             "pgrouter_pool_server_connections": "gauge", "pgrouter_pool_queued_clients": "gauge",
             "pgrouter_pool_maxwait_seconds": "gauge", "pgrouter_pool_queries": "counter",
             "pgrouter_node_info": "gauge", "pgrouter_node_up": "gauge", "pgrouter_node_is_primary": "gauge",
             "pg_replication_lag_seconds": "gauge", "pg_replication_lag_bytes": "gauge",
             "pgrouter_node_in_rotation": "gauge", "pgrouter_node_routed": "counter",
             "pgrouter_node_errors": "counter", "pgrouter_route_hits": "counter",
             "pgrouter_route_max_lag_seconds": "gauge", "pgrouter_route_slo_breach_seconds": "counter"}
    assert {k: m[k].type for k in types if k in m} == types, sorted(m)
    for f in m.values():
        for s in f.samples:
            assert math.isfinite(s.value) and (f.type != "counter" or s.value >= 0), s

    # routing: by where it ran and why
    assert value(m, "pgrouter_queries_routed_total", target="primary", reason="hint") == 4
    assert value(m, "pgrouter_queries_routed_total", target="primary", reason="rule") == 2
    assert value(m, "pgrouter_queries_routed_total", target="primary", reason="volatile-function") == 1
    assert value(m, "pgrouter_queries_routed_total", target="replica") >= 20
    assert value(m, "pgrouter_queries_total") >= 29
    assert value(m, "pgrouter_retries_total") == 0
    assert value(m, "pgrouter_auth_failures_total") >= 1
    assert value(m, "pgrouter_protocol_errors_total") >= 1
    assert value(m, "pgrouter_client_wait_seconds_count") >= 1
    assert value(m, "pgrouter_client_wait_seconds_sum") > 0
    assert value(m, "pgrouter_clients") >= 0 and value(m, "pgrouter_info", version="0.1.0") == 1

    # nodes: every configured node, its role; lag only once it is known (never a fake zero)
    info = {s.labels["node"]: s.labels for s in samples(m, "pgrouter_node_info")}
    assert {n: info[n]["role"] for n in info} == nodes, info
    assert all(l["state"] in ("up", "down", "unknown") for l in info.values()), info
    for name in ("pg_replication_lag_seconds", "pg_replication_lag_bytes"):
        for s in samples(m, name):
            assert s.labels["node"] in nodes and s.value >= 0, s
    known = {s.labels["node"] for s in samples(m, "pgrouter_node_up")}
    assert known == {n for n, l in info.items() if l["state"] != "unknown"}
    primary, replicas = [n for n, r in nodes.items() if r == "primary"][0], [n for n, r in nodes.items() if r == "replica"]
    assert sum(value(m, "pgrouter_node_routed_total", node=r, kind="read") for r in replicas) >= 20
    assert value(m, "pgrouter_node_routed_total", node=primary, kind="write") >= 7
    assert value(m, "pgrouter_node_routed_total", node=primary, kind="read") == 0   # primary_read_weight 0
    assert all(value(m, "pgrouter_node_in_rotation", node=n) == 1 for n in nodes)
    assert all(value(m, "pgrouter_node_errors_total", node=n) == 0 for n in nodes)

    # pools: per node; tiny's client queued once
    conns = value(m, "pgrouter_pool_server_connections", database="postgres", user="pgr_app", node=primary)
    assert conns >= 1, samples(m, "pgrouter_pool_server_connections")
    assert sum(value(m, "pgrouter_pool_server_connections", database="postgres", node=r) for r in replicas) >= 1
    assert value(m, "pgrouter_pool_queries_total", database="tiny", user="pgr_app") == 4   # BEGIN, SELECT, COMMIT, SELECT

    # routes: hits, limits, and the SLO breach counter the monitor feeds (zero until it does)
    assert value(m, "pgrouter_route_hits_total", route="reports") == 2
    assert value(m, "pgrouter_route_hits_total", route="dash") == 0
    assert value(m, "pgrouter_route_max_lag_seconds", route="reports") == 5
    assert samples(m, "pgrouter_route_max_lag_seconds", route="dash") == []   # a size, not a time
    assert {s.labels["route"]: s.value for s in samples(m, "pgrouter_route_slo_breach_seconds_total")} == \
        {"reports": 0, "dash": 0}


# ----- /status against the schema in docs/monitoring.md -------------------------------------

def documented_schema():
    """The JSON schema of /status from docs/monitoring.md (its one ```json block)."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/monitoring.md should have exactly one ```json block: the schema"
    return json.loads(blocks[0])


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def check(doc, schema, path="$"):
    """Problems of doc against a JSON Schema subset (type, enum, required, properties,
    additionalProperties false, items, minimum); an empty list when it conforms."""
    problems = []
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        ok = False
        for t in types:
            if t == "integer":
                ok |= isinstance(doc, int) and not isinstance(doc, bool)
            elif t == "number":
                ok |= isinstance(doc, (int, float)) and not isinstance(doc, bool)
            else:
                ok |= isinstance(doc, TYPES[t]) and not (t != "boolean" and isinstance(doc, bool))
        if not ok:
            return [f"{path}: {doc!r} is not {types}"]
    if "enum" in schema and doc not in schema["enum"]:
        problems.append(f"{path}: {doc!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(doc, (int, float)) and not isinstance(doc, bool) \
            and doc < schema["minimum"]:
        problems.append(f"{path}: {doc} < {schema['minimum']}")
    if isinstance(doc, dict):
        for k in schema.get("required", []):
            if k not in doc:
                problems.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in doc.items():
            if k in props:
                problems += check(v, props[k], f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: unexpected key {k}")
    if isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            problems += check(v, schema["items"], f"{path}[{i}]")
    return problems


def test_status_json_matches_the_documented_schema(pgrouter, cluster):
    schema = documented_schema()
    assert check({"version": 1}, schema), "the checker must notice a wrong document"
    pgr, port = started(pgrouter, cluster)
    status, headers, body = http(port, "/status")
    assert status == 200 and headers["Content-Type"] == "application/json", headers
    assert check(json.loads(body), schema) == []    # fresh: no traffic, no pools yet
    traffic(pgr)

    def counted():
        doc = json.loads(http(port, "/status")[2])
        return doc if doc["routing"]["reads"] >= 20 and any(p["database"] == "tiny" for p in doc["pools"]) else None
    doc = wait_for(counted, timeout=5, what="the traffic in /status")
    assert check(doc, schema) == [], check(doc, schema)

    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes == {k: nodes[k] for k in [f"127.0.0.1:{cluster.primary.port}"] +
                     [f"127.0.0.1:{r.port}" for r in cluster.replicas]}, list(nodes)
    assert [n["role"] for n in doc["nodes"]] == ["primary", "replica", "replica"]
    assert sum(n["reads"] for n in doc["nodes"]) == doc["routing"]["reads"] >= 20
    assert sum(n["writes"] for n in doc["nodes"]) == doc["routing"]["writes"] >= 7
    assert doc["routing"]["on_replica"] >= 20 and doc["routing"]["enabled"] is True
    reasons = {(r["target"], r["reason"]): r["count"] for r in doc["routing"]["by_reason"]}
    assert reasons[("primary", "hint")] == 4 and reasons[("primary", "rule")] == 2, reasons
    routes = {r["name"]: r for r in doc["routes"]}
    assert list(routes) == ["reports", "dash"]
    assert (routes["reports"]["hits"], routes["reports"]["max_lag_seconds"], routes["reports"]["target"]) == (2, 5, "primary")
    assert (routes["dash"]["max_lag_seconds"], routes["dash"]["max_lag_bytes"]) == (None, 16 * 1024 * 1024)
    assert all(r["slo_breach_seconds"] == 0 for r in doc["routes"])
    assert doc["totals"]["auth_failures"] >= 1 and doc["totals"]["protocol_errors"] >= 1
    assert doc["totals"]["client_waits"] >= 1 and doc["totals"]["client_wait_seconds"] > 0
    pools = {(p["database"], p["user"]): p for p in doc["pools"]}
    assert pools[("tiny", "pgr_app")]["paused"] is False
    for n in doc["nodes"]:   # unknown lag is null, never 0
        assert n["state"] != "unknown" or (n["lag_seconds"] is None and n["lag_bytes"] is None), n


# ----- errors and isolation --------------------------------------------------------------------

def test_http_errors_and_a_stuck_http_client_do_not_stop_queries(pgrouter, cluster):
    pgr, port = started(pgrouter, cluster)
    assert http(port, "/nope")[0] == 404
    status, headers, _ = http(port, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD", headers
    assert http(port, "/status", method="HEAD")[0] == 200
    status, headers, page = http(port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), headers
    assert page.startswith("<!doctype html>") and "</html>" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "the page must be self-contained"
    outside = page.replace("http://www.w3.org/2000/svg", "")   # the SVG namespace is a name, not a fetch
    assert "http://" not in outside and "https://" not in outside

    # an HTTP client that never finishes its request, and one that sends garbage
    stuck = socket.create_connection(("127.0.0.1", port))
    stuck.sendall(b"GET /metr")
    junk = socket.create_connection(("127.0.0.1", port))
    junk.sendall(b"\x00\x01\x02 not http at all\r\n\r\n")
    try:
        with psycopg.connect(pgr.dsn(user="pgr_app"), autocommit=True, prepare_threshold=None) as c:
            for i in range(50):
                assert c.execute(f"SELECT {i}").fetchone()[0] == i
        assert http(port, "/status")[0] == 200   # other HTTP clients are served meanwhile
    finally:
        stuck.close()
        junk.close()
    assert pgr.alive()


def test_http_port_in_use_stops_startup(pgrouter, cluster):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        pgr = pgrouter(http_port=taken.getsockname()[1], wait=False)
        pgr.stopped_by_test = True
        rc = pgr.proc.wait(10)
        assert rc != 0 and "cannot listen for HTTP" in pgr.log, pgr.log
    finally:
        taken.close()
