"""auth_user + auth_query: users missing from auth_file are looked up on a PostgreSQL
15 that really checks passwords. Roles that exist only in PostgreSQL (one with a SCRAM secret,
one stored as md5) log in through pgrouter, and pgrouter logs in to the server for them by
SCRAM / md5 passthrough of the secret it looked up. Failures look like wrong passwords (28P01),
a lookup that cannot log in fails fast (08006), and a bad auth_query is a config error."""

import re
import signal
import subprocess
import time

import psycopg
import pytest

import pgwire
from helpers import client_backends, db_entry

pytestmark = pytest.mark.pgrouter_only

SCRAM_ROLE, SCRAM_PW = "pgr_aq_scram", "aq-scram-Pw1"
MD5_ROLE, MD5_PW = "pgr_aq_md5", "aq-md5-Pw2"
UNKNOWN = "pgr_aq_nobody"
AUTH_FILE = {"postgres": "postgres"}   # auth_user's clear-text password (harness superuser)
HBA_MARK = "# test_auth_query: md5 role"


@pytest.fixture(scope="module")
def aq_cluster(auth_cluster):
    """auth_cluster plus two roles pgrouter's auth_file never names: SCRAM_ROLE (SCRAM secret)
    and MD5_ROLE (md5 secret, with its own md5 line in pg_hba.conf, as an md5 secret cannot
    pass a scram-sha-256 line). Both are dropped and the hba line removed afterwards."""
    c = auth_cluster
    hba = f"{c.primary.datadir}/pg_hba.conf"
    with open(hba) as f:
        original = f.read()
    lines = original.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("host"))
    lines.insert(at, f"host all {MD5_ROLE} 127.0.0.1/32 md5  {HBA_MARK}\n")
    with open(hba, "w") as f:   # rewritten in place: owner and mode stay PostgreSQL's
        f.write("".join(lines))
    c.sql(c.primary, f"DROP ROLE IF EXISTS {SCRAM_ROLE}; DROP ROLE IF EXISTS {MD5_ROLE}")
    c.sql(c.primary, f"SET password_encryption = 'scram-sha-256'; "
                     f"CREATE ROLE {SCRAM_ROLE} LOGIN PASSWORD '{SCRAM_PW}'")
    c.sql(c.primary, f"SET password_encryption = 'md5'; "
                     f"CREATE ROLE {MD5_ROLE} LOGIN PASSWORD '{MD5_PW}'")
    c.sql(c.primary, "SELECT pg_reload_conf()")
    secrets = dict(c.sql(c.primary, "SELECT rolname, rolpassword FROM pg_authid "
                                    "WHERE rolname IN (%s, %s)", (SCRAM_ROLE, MD5_ROLE)))
    assert secrets[SCRAM_ROLE].startswith("SCRAM-SHA-256$"), secrets
    assert secrets[MD5_ROLE].startswith("md5"), secrets
    try:
        yield c
    finally:
        with open(hba, "w") as f:
            f.write(original)
        c.sql(c.primary, "SELECT pg_reload_conf()")
        c.sql(c.primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         f"WHERE usename IN ('{SCRAM_ROLE}', '{MD5_ROLE}')")
        time.sleep(0.2)
        c.sql(c.primary, f"DROP ROLE IF EXISTS {SCRAM_ROLE}; DROP ROLE IF EXISTS {MD5_ROLE}")


def failed_msg(user):
    """The one message every authentication failure carries."""
    return f'password authentication failed for user "{user}"'


def raw_login(pgr, user, password, database="postgres"):
    """Log in with the raw client. Returns (AuthWire, None) logged in, or (AuthWire, error
    fields); the caller closes the wire."""
    w = pgwire.AuthWire(pgr.port, timeout=10)
    try:
        w.login(user, password, database=database)
    except pgwire.ServerError as e:
        return w, e.fields
    return w, None


def who(w):
    """current_user and session_user on a logged-in raw connection."""
    rows, err = w.simple("SELECT current_user, session_user, 6 * 7")
    assert err is None, err
    return rows[0]


def terminate_server_logins(cluster, user):
    """Close the server connections pgrouter pooled for user, so that the next client needs a
    fresh server login (which must work from the looked-up secret alone)."""
    cluster.sql(cluster.primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE usename = %s", (user,))
    deadline = time.monotonic() + 5
    while client_backends(cluster, user=user) and time.monotonic() < deadline:
        time.sleep(0.05)


# (auth_type, role, password, authentication request the client must see)
LOGINS = [
    ("scram-sha-256", SCRAM_ROLE, SCRAM_PW, pgwire.AUTH_SASL),
    ("md5", SCRAM_ROLE, SCRAM_PW, pgwire.AUTH_SASL),   # a SCRAM secret upgrades md5, as in PG
    ("md5", MD5_ROLE, MD5_PW, pgwire.AUTH_MD5),
]


@pytest.mark.parametrize("auth_type,role,password,request_code", LOGINS,
                         ids=["scram-role-scram", "scram-role-md5", "md5-role-md5"])
def test_role_known_only_to_postgres_logs_in(secure_pgrouter, aq_cluster, psql, auth_type, role,
                                             password, request_code):
    pgr = secure_pgrouter(userlist=AUTH_FILE, auth_type=auth_type, auth_user="postgres",
                          workers=1)
    w, err = raw_login(pgr, role, password)
    with w:
        assert err is None, err
        assert w.auth_codes[0] == request_code, w.auth_codes
        if request_code == pgwire.AUTH_SASL:
            assert w.server_verified, "pgrouter's SCRAM server signature did not verify"
        assert who(w) == [role, role, "42"]
    with psycopg.connect(pgr.dsn(user=role, password=password, sslmode="disable"),
                         autocommit=True) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == role
        c.execute("CREATE TEMP TABLE aq_probe AS SELECT 1 AS a")   # the server session is real
        assert c.execute("SELECT count(*) FROM aq_probe").fetchone()[0] == 1
    # a fresh server login (nothing pooled) works from the looked-up secret
    terminate_server_logins(aq_cluster, role)
    r = psql(pgr.dsn(user=role, sslmode="disable"), "SELECT current_user", password)
    assert r.rc == 0 and r.out == role, r
    assert client_backends(aq_cluster, user=role), "no server connection of the role was made"
    # ... and the right password stays the only way in
    w, err = raw_login(pgr, role, "not-" + password)
    w.close()
    assert err is not None and err["C"] == "28P01" and err["M"] == failed_msg(role), err


def test_md5_secret_cannot_answer_scram(secure_pgrouter, aq_cluster):
    """As in PostgreSQL, a role whose stored secret is md5 cannot log in where SCRAM is
    required: the md5 hash cannot produce a SCRAM proof. It fails like a wrong password."""
    pgr = secure_pgrouter(userlist=AUTH_FILE, auth_type="scram-sha-256", auth_user="postgres")
    w, err = raw_login(pgr, MD5_ROLE, MD5_PW)
    w.close()
    assert err is not None and err["C"] == "28P01" and err["M"] == failed_msg(MD5_ROLE), err
    assert w.auth_codes[0] == pgwire.AUTH_SASL


@pytest.mark.parametrize("auth_user_in", ["pgrouter", "databases"])
@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_wrong_password_and_unknown_user_look_alike(secure_pgrouter, aq_cluster, auth_type,
                                                   auth_user_in):
    """auth_user set in [pgrouter] or in the [databases] entry: the same rules."""
    if auth_user_in == "pgrouter":
        pgr = secure_pgrouter(userlist=AUTH_FILE, auth_type=auth_type, auth_user="postgres")
    else:
        pgr = secure_pgrouter(databases={"postgres": db_entry(aq_cluster, auth_user="postgres")},
                              userlist=AUTH_FILE, auth_type=auth_type)
    results = {}
    # an injection attempt through the user name must not find postgres's secret
    sly = "x' OR usename = 'postgres"
    for user, pw in ((SCRAM_ROLE, "wrong-" + SCRAM_PW), (UNKNOWN, SCRAM_PW), (sly, "postgres"),
                     ("x\\' OR true --", "postgres")):
        t0 = time.monotonic()
        w, err = raw_login(pgr, user, pw)
        w.close()
        assert time.monotonic() - t0 < 5, f"login of {user!r} took too long"
        assert err is not None, f"{user!r} logged in with {pw!r}"
        assert err["C"] == "28P01", err
        if "\\" in user:   # pgrouter writes a backslash in a name as \x5c
            assert err["M"].startswith(failed_msg("")[:-1]), err
            continue
        assert err["M"] == failed_msg(user), err
        results[user] = ({k: v.replace(f'"{user}"', '"<user>"') for k, v in err.items()},
                         w.auth_codes)
    assert results[SCRAM_ROLE][0] == results[UNKNOWN][0], results
    # what the client is asked for must not tell a real SCRAM role from a name nobody has
    # (PostgreSQL asks an unknown user for SCRAM, its password_encryption)
    assert results[SCRAM_ROLE][1] == results[UNKNOWN][1], \
        f"{auth_type}: the authentication request reveals that {SCRAM_ROLE} exists: {results}"
    assert not client_backends(aq_cluster, user=SCRAM_ROLE), "refused logins reached the server"


def test_auth_file_user_still_works(secure_pgrouter, aq_cluster):
    """A user in auth_file is served from it (no lookup needed), next to looked-up ones."""
    users = dict(AUTH_FILE, pgr_plain=aq_cluster.password_of("pgr_plain"))
    pgr = secure_pgrouter(userlist=users, auth_type="scram-sha-256", auth_user="postgres")
    for user, pw in (("pgr_plain", users["pgr_plain"]), (SCRAM_ROLE, SCRAM_PW),
                     ("postgres", "postgres")):
        w, err = raw_login(pgr, user, pw)
        with w:
            assert err is None, (user, err)
            assert who(w)[0] == user
    w, err = raw_login(pgr, "pgr_plain", "wrong")
    w.close()
    assert err["C"] == "28P01" and err["M"] == failed_msg("pgr_plain"), err


def test_auth_user_per_database_entry(secure_pgrouter, aq_cluster):
    """auth_user= in a [databases] entry turns lookups on for that database only."""
    dbs = {"looked": db_entry(aq_cluster, auth_user="postgres"), "plainfile": db_entry(aq_cluster)}
    pgr = secure_pgrouter(databases=dbs, userlist=AUTH_FILE, auth_type="scram-sha-256")
    w, err = raw_login(pgr, SCRAM_ROLE, SCRAM_PW, database="looked")
    with w:
        assert err is None, err
        assert who(w)[0] == SCRAM_ROLE
    w, err = raw_login(pgr, SCRAM_ROLE, SCRAM_PW, database="plainfile")
    w.close()
    assert err is not None and err["C"] == "28P01" and err["M"] == failed_msg(SCRAM_ROLE), err


def test_custom_auth_query(secure_pgrouter, aq_cluster):
    """$1 may sit anywhere in auth_query; the query's answer is what counts."""
    q = "SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin AND rolname = $1 LIMIT 1"
    pgr = secure_pgrouter(userlist=AUTH_FILE, auth_type="md5", auth_user="postgres",
                          auth_query=q)
    for role, pw in ((SCRAM_ROLE, SCRAM_PW), (MD5_ROLE, MD5_PW)):
        w, err = raw_login(pgr, role, pw)
        with w:
            assert err is None, (role, err)
            assert who(w)[0] == role


EXPIRED_ROLE, VALID_ROLE, VU_PW = "pgr_aq_expired", "pgr_aq_valid", "aq-vu-Pw3"


@pytest.fixture
def valid_until_roles(aq_cluster):
    """EXPIRED_ROLE, whose password expired (VALID UNTIL in the past), and VALID_ROLE, whose
    password is valid until far in the future; both dropped afterwards."""
    c = aq_cluster
    drop = f"DROP ROLE IF EXISTS {EXPIRED_ROLE}; DROP ROLE IF EXISTS {VALID_ROLE}"
    c.sql(c.primary, drop)
    c.sql(c.primary, f"SET password_encryption = 'scram-sha-256'; "
                     f"CREATE ROLE {EXPIRED_ROLE} LOGIN PASSWORD '{VU_PW}' VALID UNTIL '2001-01-01'; "
                     f"CREATE ROLE {VALID_ROLE} LOGIN PASSWORD '{VU_PW}' VALID UNTIL '2999-01-01'")
    try:
        yield c
    finally:
        c.sql(c.primary, drop)


def test_expired_password_cannot_log_in(secure_pgrouter, valid_until_roles):
    """The default auth_query gives no secret for a role past its VALID UNTIL. With a server
    user forced in the database entry, PostgreSQL never sees the client's role, so pgrouter's
    lookup is all that stands between the expired password and the database."""
    c = valid_until_roles
    entry = db_entry(c, user="pgr_app", password=c.password_of("pgr_app"))
    pgr = secure_pgrouter(databases={"postgres": entry}, userlist=AUTH_FILE,
                          auth_type="scram-sha-256", auth_user="postgres")
    w, err = raw_login(pgr, VALID_ROLE, VU_PW)
    with w:
        assert err is None, err
        assert who(w)[0] == "pgr_app"
    w, err = raw_login(pgr, EXPIRED_ROLE, VU_PW)
    w.close()
    assert err is not None and err["C"] == "28P01" and err["M"] == failed_msg(EXPIRED_ROLE), err


@pytest.mark.pgr_timeout(30)
def test_broken_auth_user_password_fails_fast(secure_pgrouter, aq_cluster):
    users = {"postgres": "not-the-password", "pgr_plain": aq_cluster.password_of("pgr_plain")}
    pgr = secure_pgrouter(userlist=users, auth_type="scram-sha-256", auth_user="postgres")
    for _ in range(2):
        t0 = time.monotonic()
        w, err = raw_login(pgr, SCRAM_ROLE, SCRAM_PW)
        w.close()
        assert time.monotonic() - t0 < 7, "a failing auth_query login made the client hang"
        assert err is not None and err["C"] == "08006", err
    assert re.search(r"auth_query as postgres on 127\.0\.0\.1:\d+/postgres failed", pgr.log), \
        pgr.log_tail()
    w, err = raw_login(pgr, "pgr_plain", users["pgr_plain"])   # auth_file users are unaffected
    with w:
        assert err is None, err
    assert pgr.alive()


def test_auth_query_without_placeholder_is_a_config_error(secure_pgrouter, aq_cluster):
    bad = "SELECT usename, passwd FROM pg_shadow WHERE usename = current_user"
    pgr = secure_pgrouter(userlist=AUTH_FILE, auth_type="scram-sha-256", auth_user="postgres",
                          auth_query=bad, launch=False)
    line = pgr.config_text().splitlines().index(f"auth_query = {bad}") + 1
    try:
        r = subprocess.run(pgr.command(), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=5, cwd=pgr.workdir)
    except subprocess.TimeoutExpired:
        pytest.fail("pgrouter kept running with an auth_query that lacks $1")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(rf"{re.escape(pgr.ini.name)}:{line}\b.*auth_query", out), out
    assert "$1" in out, out

    # the same file on a reload is refused, and the running configuration stays
    pgr.write_config(auth_query=None)
    pgr.start()
    pgr.write_config(auth_query=bad)
    line = pgr.config_text().splitlines().index(f"auth_query = {bad}") + 1
    pgr.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while "reload failed" not in pgr.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert re.search(rf"reload failed.*{re.escape(pgr.ini.name)}:{line}\b.*auth_query", pgr.log), \
        pgr.log_tail()
    w, err = raw_login(pgr, SCRAM_ROLE, SCRAM_PW)
    with w:
        assert err is None, err
