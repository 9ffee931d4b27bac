"""SHOW ROUTES and SHOW ROUTE '<sql>' on the admin console. SHOW ROUTE must agree with
where statements really run: every statement below is explained on the console first, then run
through pgrouter by a client of the same database, user and application_name, and the servers'
own logs (log_statement = 'all') say which node ran it."""

import psycopg
import pytest

from helpers import db_entry, wait_for
from routing_helpers import PRIMARY, REPLICAS, ServerLogs, Tagger, connect, placed, statements_logged

pytestmark = pytest.mark.pgrouter_only

SETUP_SQL = """
DROP SCHEMA IF EXISTS pgr_sr CASCADE;
CREATE SCHEMA pgr_sr;
CREATE TABLE pgr_sr.t (id serial PRIMARY KEY, v text);
INSERT INTO pgr_sr.t (v) VALUES ('seed');
CREATE SEQUENCE pgr_sr.seq;
GRANT ALL ON SCHEMA pgr_sr TO PUBLIC;
GRANT ALL ON ALL TABLES IN SCHEMA pgr_sr TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pgr_sr TO PUBLIC;
"""

ROUTES = {
    "reports": "tag=reports target=primary max_lag=5s",
    "dash": "application_name=dashboard target=replica max_lag=30s",
    "strict": "database=postgres regex='pgr_sr\\.t WHERE v = .strict' target=replica fallback=error",
}


@pytest.fixture(scope="module")
def logged(cluster):
    """The shared cluster with every statement logged on every node and the pgr_sr schema."""
    with statements_logged(cluster, SETUP_SQL, "DROP SCHEMA IF EXISTS pgr_sr CASCADE") as c:
        yield c


def console(proxy, **kw):
    """The admin console as postgres (simple protocol only)."""
    return psycopg.connect(proxy.dsn(user="postgres", dbname="pgrouter", **kw), autocommit=True,
                           prepare_threshold=None)


def explain(c, sql, **where):
    """SHOW ROUTE of sql as a dict, with DATABASE/USER/APPLICATION_NAME from where."""
    quoted = "'" + sql.replace("'", "''") + "'"
    extra = " ".join(f"{k.upper()} \"{v}\"" for k, v in where.items())
    cur = c.execute(f"SHOW ROUTE {quoted} {extra}")
    cols = [d.name for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(cols, rows[0]))


# (application_name, SQL with {tag}, expected target, expected reason)
CASES = [
    (None, "SELECT '{tag}'", "replica", "read"),
    (None, "select v from pgr_sr.t where v <> '{tag}'", "replica", "read"),
    (None, "SHOW search_path /* {tag} */", "replica", "show"),
    (None, "INSERT INTO pgr_sr.t (v) VALUES ('{tag}')", "primary", "dml"),
    (None, "UPDATE pgr_sr.t SET v = v WHERE v = '{tag}'", "primary", "dml"),
    (None, "SELECT * FROM pgr_sr.t WHERE v = '{tag}' FOR UPDATE", "primary", "for-update:update"),
    (None, "SELECT nextval('pgr_sr.seq'), '{tag}'", "primary", "volatile-function:nextval"),
    (None, "WITH w AS (INSERT INTO pgr_sr.t (v) VALUES ('{tag}') RETURNING id) SELECT id FROM w",
     "primary", "writable-cte"),
    (None, "/* pgrouter: primary */ SELECT '{tag}'", "primary", "hint:primary"),
    (None, "/* pgrouter: replica */ SELECT '{tag}'", "replica", "hint:replica"),
    (None, "/* route: reports */ SELECT '{tag}'", "primary", "rule:reports"),
    (None, "SELECT id FROM pgr_sr.t WHERE v = 'strict{tag}'", "replica", "rule:strict"),
    (None, "BEGIN READ ONLY; SELECT '{tag}'; COMMIT", "replica", "read-only-transaction"),
    (None, "BEGIN; SELECT '{tag}'; COMMIT", "primary", "explicit-transaction"),
    ("dashboard", "SELECT '{tag}'", "replica", "rule:dash"),
    ("dashboard", "INSERT INTO pgr_sr.t (v) VALUES ('{tag}')", "primary", "dml"),   # a rule never moves a write
]


def test_show_route_agrees_with_where_statements_run(logged, pgrouter):
    proxy = pgrouter(databases={"postgres": db_entry(logged, replicas=True),
                                "other": db_entry(logged)},
                     routes=ROUTES, workers=2, stats_users="pgr_other",
                     # SHOW ROUTE explains for a fresh session; this one writes too, and read-your-writes
                     # would send its later reads to the primary until the replicas replay them
                     read_your_writes="off")
    tag = Tagger()
    logs = ServerLogs(logged)
    want, explained = {}, {}
    with console(proxy, application_name="admin-routes-test") as c:
        for app, template, target, reason in CASES:
            t = tag()
            sql = template.format(tag=t)
            where = {"database": "postgres", "user": "pgr_app"}
            if app:
                where["application_name"] = app
            row = explain(c, sql, **where)
            explained[t] = (sql, row)
            assert (row["target"], row["reason"]) == (target, reason), (sql, row)
            assert (row["database"], row["user"]) == ("postgres", "pgr_app"), row
            want[t] = (app, sql, {PRIMARY} if target == "primary" else REPLICAS)
        # the explanation's other columns
        rep = explained[[t for t, (s, r) in explained.items() if r["reason"] == "rule:reports"][0]][1]
        assert (rep["rule"], rep["max_lag"], rep["fallback"], rep["nodes"]) == \
            ("reports", "5s", "primary", f"127.0.0.1:{logged.primary.port}"), rep
        strict = explained[[t for t, (s, r) in explained.items() if r["reason"] == "rule:strict"][0]][1]
        assert (strict["fallback"], strict["statement_class"], strict["statement_reason"]) == \
            ("error", "replica", "read"), strict
        assert strict["nodes"] == ",".join(f"127.0.0.1:{r.port}" for r in logged.replicas), strict
        ins = explained[[t for t, (s, r) in explained.items() if r["reason"] == "dml"][0]][1]
        assert (ins["rule"], ins["statement_class"], ins["statement_reason"]) == (None, "primary", "dml"), ins
        # no replicas in the entry: everything is explained as the primary's, as it would run
        assert explain(c, "SELECT 1", database="other")["reason"] == "no-replicas"
        # the console's own session: its user and application_name (no rule matches "admin-routes-test")
        mine = explain(c, "SELECT 1", database="postgres")
        assert (mine["user"], mine["target"], mine["rule"]) == ("postgres", "replica", None), mine
        before = {r[0]: int(r[5]) for r in c.execute("SHOW ROUTES").fetchall()}

    # now run them for real and ask the servers
    conns = {}
    try:
        for t, (app, sql, allowed) in want.items():
            if app not in conns:
                conns[app] = connect(proxy, user="pgr_app", **({"application_name": app} if app else {}))
            conns[app].execute(sql)
    finally:
        for conn in conns.values():
            conn.close()
    where = wait_for(lambda: (p := placed(logs, list(want))) and all(p.values()) and p, timeout=5,
                     what="every statement in the server logs")
    wrong = {t: (want[t][1], sorted(where[t]), explained[t][1]["reason"]) for t in want
             if len(where[t]) != 1 or not where[t] <= want[t][2]}
    assert not wrong, f"SHOW ROUTE disagrees with where statements ran: {wrong}\n{logs.excerpt(*wrong)}"

    # SHOW ROUTE ran nothing: only the real runs reached the servers, once each
    hits = logs.where(*want)
    assert all(sum(len(p) for p in hits[t].values()) == 1 for t in want), hits

    # SHOW ROUTES counted the real runs (not the explanations)
    with console(proxy) as c:
        cur = c.execute("SHOW ROUTES")
        assert [d.name for d in cur.description] == ["name", "match", "target", "max_lag", "fallback", "hits",
                                                     "slo_breach_seconds"]
        rows = {r[0]: r for r in cur.fetchall()}
    assert list(rows) == ["reports", "dash", "strict"], rows
    assert rows["reports"][1:5] == ("tag=reports", "primary", "5s", "primary"), rows
    assert rows["dash"][1:5] == ("application_name=dashboard", "replica", "30s", "primary"), rows
    assert rows["strict"][2:5] == ("replica", None, "error"), rows
    assert rows["strict"][1].startswith("database=postgres regex="), rows
    counted = {"reports": 1, "dash": 2, "strict": 1}
    assert {k: int(rows[k][5]) - before[k] for k in counted} == counted, (rows, before)
    # SLO breach seconds are the cluster monitor's to count; until it reports any they read zero
    assert {r[6] for r in rows.values()} == {"0.000"}, rows


def test_show_route_quotes_and_statement_text(pgrouter, cluster):
    """The statement is an ordinary SQL string literal: doubled quotes inside it are quotes, and it is
    classified exactly as a client's query text would be."""
    proxy = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)})
    with console(proxy) as c:
        row = explain(c, "SELECT 'it''s'; SELECT 2")
        assert (row["target"], row["reason"]) == ("replica", "read"), row
        row = explain(c, "SELECT 1; DELETE FROM x WHERE a = 'b''c'")
        assert (row["target"], row["reason"]) == ("primary", "dml"), row
        row = explain(c, "SELEC garbage")
        assert row["target"] == "primary" and row["reason"].startswith("unparseable"), row
        row = explain(c, "SET pgrouter.target = primary")
        assert row["target"] == "replica", row   # answered by pgrouter; touches no data
