"""Client authentication against a PostgreSQL 15 that really checks passwords.

The auth matrix: every client method (plain, md5, scram-sha-256, hba) x first login vs an
already-pooled server connection x right / wrong / empty password x known / unknown user,
tried with psycopg (TLS verify-full), psql (sslmode=require) and a raw-protocol client (which
sees SQLSTATEs and the exact authentication requests). A wrong or empty password is always
28P01; an unknown user gets exactly what a wrong password gets; the right password works."""

import psycopg
import pytest

import pgwire
from conftest import authid_secret
from helpers import client_backends

pytestmark = pytest.mark.pgrouter_only

UNKNOWN = "pgr_nobody"  # a name neither the auth_file nor the server knows

# id: (auth_type, user, what the auth_file holds for the user, request the client must see)
SCENARIOS = {
    "plain": ("plain", "pgr_app", "plain", pgwire.AUTH_CLEARTEXT),
    "md5": ("md5", "pgr_app", "plain", pgwire.AUTH_MD5),
    "md5-passthrough": ("md5", "pgr_md5", "authid", pgwire.AUTH_MD5),
    "md5-with-scram-secret": ("md5", "pgr_app", "authid", pgwire.AUTH_SASL),
    "scram": ("scram-sha-256", "pgr_app", "plain", pgwire.AUTH_SASL),
    "scram-passthrough": ("scram-sha-256", "pgr_app", "authid", pgwire.AUTH_SASL),
    "hba-scram": ("hba", "pgr_app", "authid", pgwire.AUTH_SASL),
    "hba-md5": ("hba", "pgr_md5", "authid", pgwire.AUTH_MD5),
    "hba-password": ("hba", "pgr_plain", "plain", pgwire.AUTH_CLEARTEXT),
}

# Unknown users fall through to the last line, so only hba-scram compares request shapes.
MATRIX_HBA = """\
# auth_hba_file of the auth matrix
host    all   pgr_md5     127.0.0.1/32   md5
host    all   pgr_plain   127.0.0.1/32   password
host    all   all         127.0.0.1/32   scram-sha-256
"""


def auth_failed(user):
    """The one message every authentication failure carries."""
    return f'password authentication failed for user "{user}"'


def userlist_for(cluster, user, stored):
    """{user: secret} for the auth_file: the clear password, or pg_authid's secret."""
    if stored == "plain":
        return {user: cluster.password_of(user)}
    return {user: authid_secret(cluster, user)}


def start_matrix_proxy(secure_pgrouter, cluster, tls, scenario):
    """A pgrouter for one scenario: TLS offered (prefer), transaction pooling, one worker (so
    that every client meets the same pool and a pooled server is really reused)."""
    auth_type, user, stored, _ = SCENARIOS[scenario]
    if auth_type == "hba":
        users = {"pgr_app": authid_secret(cluster, "pgr_app"),
                 "pgr_md5": authid_secret(cluster, "pgr_md5"),
                 "pgr_plain": cluster.password_of("pgr_plain")}
        return secure_pgrouter(userlist=users, hba=MATRIX_HBA, auth_type="hba", workers=1,
                               **tls.proxy_settings("prefer"))
    return secure_pgrouter(userlist=userlist_for(cluster, user, stored), auth_type=auth_type,
                           workers=1, **tls.proxy_settings("prefer"))


# ----- three ways to log in ---------------------------------------------------------

class Outcome:
    """One login attempt: ok (with current_user and backend pid) or the error it got."""

    def __init__(self, client, ok, user=None, backend=None, error=None, fields=None,
                 codes=None):
        self.client, self.ok, self.user, self.backend = client, ok, user, backend
        self.error, self.fields, self.codes = error, fields, codes

    def __repr__(self):
        return (f"Outcome({self.client}, ok={self.ok}, user={self.user}, error={self.error!r}, "
                f"fields={self.fields}, codes={self.codes})")


WHO = "SELECT current_user, pg_backend_pid()"


def via_psycopg(pgr, tls, user, password):
    """psycopg over TLS with sslmode=verify-full against the harness CA."""
    try:
        with psycopg.connect(pgr.dsn(user=user, password=password, **tls.libpq()),
                             autocommit=True) as c:
            assert c.pgconn.ssl_in_use, "sslmode=verify-full connection without TLS"
            name, pid = c.execute(WHO).fetchone()
            return Outcome("psycopg", True, name, pid)
    except psycopg.OperationalError as e:
        return Outcome("psycopg", False, error=str(e))


def via_psql(pgr, tls, psql, user, password):
    """psql with sslmode=require (encrypted, no certificate check)."""
    r = psql(pgr.dsn(user=user, **tls.libpq("require")), WHO, password)  # -A: "name|pid"
    if r.rc != 0:
        return Outcome("psql", False, error=r.err)
    name, pid = r.out.split("|")
    return Outcome("psql", True, name, int(pid))


def via_raw(pgr, user, password):
    """The raw client in plaintext: sees the SQLSTATE and each authentication request."""
    with pgwire.AuthWire(pgr.port) as w:
        try:
            w.login(user, password)
        except pgwire.ServerError as e:
            return Outcome("raw", False, error=e.fields.get("M"), fields=e.fields,
                           codes=w.auth_codes)
        rows, err = w.simple(WHO)
        assert err is None, err
        return Outcome("raw", True, rows[0][0], int(rows[0][1]), codes=w.auth_codes)


def attempt_all(pgr, tls, psql, user, password):
    """The same login by all three clients."""
    return [via_psycopg(pgr, tls, user, password), via_psql(pgr, tls, psql, user, password),
            via_raw(pgr, user, password)]


def assert_refused(outcomes, user):
    """Every client was refused with the uniform 28P01 message (SQLSTATE seen by raw)."""
    for o in outcomes:
        assert not o.ok, f"login as {user} should have failed: {o}"
        assert auth_failed(user) in o.error, o
        if o.fields is not None:
            assert o.fields.get("C") == "28P01" and o.fields.get("S") == "FATAL", o.fields


def normalized(fields, user):
    """ErrorResponse fields with the user name taken out, for comparing two users' errors."""
    return {k: v.replace(f'"{user}"', '"<user>"') for k, v in fields.items()}


def assert_indistinguishable(wrong, unknown, user, same_requests=True):
    """An unknown user's refusal says exactly what a wrong password's does."""
    for w, u in zip(wrong, unknown):
        assert w.error.replace(f'"{user}"', '"<user>"') == \
            u.error.replace(f'"{UNKNOWN}"', '"<user>"'), (w, u)
    w, u = wrong[-1], unknown[-1]
    assert normalized(w.fields, user) == normalized(u.fields, UNKNOWN), (w.fields, u.fields)
    if same_requests:
        assert w.codes == u.codes, \
            f"the authentication requests reveal that {user} exists: {w.codes} vs {u.codes}"


def empty_password_refused(pgr, tls, psql, user):
    """An empty password: the raw client really sends it (libpq would not) and gets 28P01;
    psql and psycopg fail too (libpq refuses to send an empty password at all)."""
    raw = via_raw(pgr, user, "")
    assert_refused([raw], user)
    for o in (via_psycopg(pgr, tls, user, ""), via_psql(pgr, tls, psql, user, "")):
        assert not o.ok, o
    return raw


# ----- the matrix ---------------------------------------------------------------------

@pytest.mark.pgr_timeout(90)
@pytest.mark.parametrize("pooled", ["first-login", "pooled-server"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_auth_matrix(secure_pgrouter, auth_cluster, tls, psql, scenario, pooled):
    auth_type, user, _, expected_request = SCENARIOS[scenario]
    password = auth_cluster.password_of(user)
    pgr = start_matrix_proxy(secure_pgrouter, auth_cluster, tls, scenario)
    pooled_backend = None
    if pooled == "pooled-server":
        first = via_psycopg(pgr, tls, user, password)
        assert first.ok and first.user == user, first
        pooled_backend = first.backend
        assert len(client_backends(auth_cluster, user=user)) == 1

    wrong = attempt_all(pgr, tls, psql, user, "not-" + password)
    assert_refused(wrong, user)
    assert wrong[-1].codes[0] == expected_request, wrong[-1]
    empty_password_refused(pgr, tls, psql, user)
    unknown = attempt_all(pgr, tls, psql, UNKNOWN, password)
    assert_refused(unknown, UNKNOWN)
    assert_indistinguishable(wrong, unknown, user,
                             same_requests=scenario not in ("hba-md5", "hba-password"))

    backends = client_backends(auth_cluster, user=user)
    if pooled_backend is None:
        assert backends == [], f"refused logins reached the server: {backends}"
    else:
        assert [b[0] for b in backends] == [pooled_backend], backends

    right = attempt_all(pgr, tls, psql, user, password)
    for o in right:
        assert o.ok and o.user == user, o
    assert right[-1].codes[0] == expected_request, right[-1]
    if pooled_backend is not None:  # the refused clients did not disturb the pooled server
        assert {o.backend for o in right} == {pooled_backend}, right
    # the same clients keep being refused once the pool is warm
    assert_refused(attempt_all(pgr, tls, psql, user, "not-" + password), user)


@pytest.mark.parametrize("stored", ["plain", "authid"], ids=["plain-secret", "scram-secret"])
def test_scram_salt_does_not_reveal_whether_user_exists(secure_pgrouter, auth_cluster, stored):
    """PostgreSQL answers an unknown user with a made-up but stable salt, just like a real
    user's stored one; a salt that changes on every attempt for real users only would tell
    an attacker which names exist."""
    pgr = secure_pgrouter(userlist=userlist_for(auth_cluster, "pgr_app", stored),
                          auth_type="scram-sha-256")
    salts = {}
    for user in ("pgr_app", UNKNOWN):
        seen = []
        for _ in range(2):
            with pgwire.AuthWire(pgr.port) as w:
                with pytest.raises(pgwire.ServerError) as e:
                    w.login(user, "wrong-password")
                assert e.value.fields["C"] == "28P01"
                seen.append(w.scram_salts[0])
        salts[user] = seen
    known_stable = salts["pgr_app"][0] == salts["pgr_app"][1]
    unknown_stable = salts[UNKNOWN][0] == salts[UNKNOWN][1]
    assert known_stable == unknown_stable, (
        f"SCRAM salts tell users apart: known user {'stable' if known_stable else 'changing'}, "
        f"unknown user {'stable' if unknown_stable else 'changing'}: {salts}")
    assert salts["pgr_app"][0][1] == salts[UNKNOWN][0][1], "iteration counts differ"


# ----- passthrough toward the server ----------------------------------------------

PASSTHROUGH_HBA = """\
# SCRAM over TLS, clear-text passwords in plaintext (both checked against a SCRAM secret)
hostssl    all  all  127.0.0.1/32  scram-sha-256
hostnossl  all  all  127.0.0.1/32  password
"""


def test_scram_passthrough_needs_one_scram_login_first(secure_pgrouter, auth_cluster, tls, psql):
    """With only pg_authid's SCRAM secret, pgrouter can log in to the server only with the
    ClientKey a client proved in a SCRAM exchange. A clear-text login (checked against the
    secret) cannot provide it: until a SCRAM client has logged in, the server login fails
    with a clear 28P01; afterwards everyone gets served."""
    pgr = secure_pgrouter(userlist={"pgr_app": authid_secret(auth_cluster, "pgr_app")},
                          hba=PASSTHROUGH_HBA, auth_type="hba", **tls.proxy_settings("prefer"))
    password = auth_cluster.password_of("pgr_app")
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_app", password)
        assert w.auth_codes[0] == pgwire.AUTH_CLEARTEXT  # the password itself was accepted
    assert e.value.fields["C"] == "28P01", e.value.fields
    assert "passthrough" in e.value.fields["M"], e.value.fields

    scram = via_psycopg(pgr, tls, "pgr_app", password)  # TLS: the hba line says SCRAM
    assert scram.ok and scram.user == "pgr_app", scram
    for _ in range(2):  # the pool's server connection is in use ...
        o = via_raw(pgr, "pgr_app", password)
        assert o.ok and o.codes[0] == pgwire.AUTH_CLEARTEXT, o
    # ... and a new server login (after the pooled one is gone) uses the learned key
    auth_cluster.sql(auth_cluster.primary, "SELECT pg_terminate_backend(pid) FROM "
                     "pg_stat_activity WHERE usename = 'pgr_app'")
    r = psql(pgr.dsn(user="pgr_app", sslmode="disable"), "SELECT current_user", password)
    assert r.rc == 0 and r.out == "pgr_app", r


def test_wrong_scram_login_does_not_teach_passthrough(secure_pgrouter, auth_cluster, tls):
    """A failed SCRAM proof must not leave a usable (or a poisoned) key behind."""
    pgr = secure_pgrouter(userlist={"pgr_app": authid_secret(auth_cluster, "pgr_app")},
                          auth_type="scram-sha-256", **tls.proxy_settings("prefer"))
    for _ in range(3):
        o = via_raw(pgr, "pgr_app", "guess")
        assert not o.ok and o.fields["C"] == "28P01", o
    assert client_backends(auth_cluster, user="pgr_app") == []
    o = via_psycopg(pgr, tls, "pgr_app", auth_cluster.password_of("pgr_app"))
    assert o.ok and o.user == "pgr_app", o


def test_server_password_from_database_entry(secure_pgrouter, auth_cluster, tls, psql):
    """password= in [databases] logs in to the server (SCRAM) whatever the client used."""
    entry = {"host": "127.0.0.1", "port": auth_cluster.primary.port, "dbname": "postgres",
             "user": "pgr_plain", "password": auth_cluster.password_of("pgr_plain")}
    pgr = secure_pgrouter(databases={"postgres": entry}, userlist={"someone": "s3cret"},
                          auth_type="md5", **tls.proxy_settings("prefer"))
    r = psql(pgr.dsn(user="someone", **tls.libpq()), "SELECT current_user", "s3cret")
    assert r.rc == 0 and r.out == "pgr_plain", r
    r = psql(pgr.dsn(user="someone", **tls.libpq()), "SELECT current_user", "s3cre")
    assert r.rc != 0 and auth_failed("someone") in r.err, r


def test_server_rejects_wrong_configured_password(secure_pgrouter, auth_cluster):
    """If the password pgrouter holds for the server is wrong, the client hears the server's
    28P01 (not a hang, not a success)."""
    pgr = secure_pgrouter(userlist={"pgr_app": "stale-password"}, auth_type="plain")
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_app", "stale-password")
    assert e.value.fields["C"] == "28P01", e.value.fields


# ----- auth_hba_file ---------------------------------------------------------------------

HBA_RULES = """\
# host types, databases and reject lines
host       nosuchdb  all        0.0.0.0/0      reject
hostssl    all       pgr_app    127.0.0.1/32   scram-sha-256
hostnossl  all       pgr_app    127.0.0.1/32   reject
host       all       pgr_md5    10.0.0.0/8     trust
host       all       pgr_md5    127.0.0.1/32   md5
"""


def test_hba_rules(secure_pgrouter, auth_cluster, tls, psql):
    pgr = secure_pgrouter(userlist={"pgr_app": authid_secret(auth_cluster, "pgr_app"),
                                    "pgr_md5": authid_secret(auth_cluster, "pgr_md5")},
                          hba=HBA_RULES, auth_type="hba", **tls.proxy_settings("prefer"))
    app_pw, md5_pw = auth_cluster.password_of("pgr_app"), auth_cluster.password_of("pgr_md5")
    # hostssl line: TLS and SCRAM
    o = via_psycopg(pgr, tls, "pgr_app", app_pw)
    assert o.ok and o.user == "pgr_app", o
    # hostnossl reject: the same user in plaintext is turned away before any password
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_app", app_pw)
        assert w.auth_codes == []
    assert e.value.fields["C"] == "28000" and "no pg_hba.conf entry" in e.value.fields["M"]
    # the 10.0.0.0/8 trust line does not match 127.0.0.1: md5 applies
    r = psql(pgr.dsn(user="pgr_md5", sslmode="disable"), "SELECT current_user", "wrong")
    assert r.rc != 0 and auth_failed("pgr_md5") in r.err, r
    r = psql(pgr.dsn(user="pgr_md5", sslmode="disable"), "SELECT current_user", md5_pw)
    assert r.rc == 0 and r.out == "pgr_md5", r
    # a user no line names is rejected, as is the reject line's database
    for user, db in ((UNKNOWN, "postgres"), ("pgr_md5", "nosuchdb")):
        with pgwire.AuthWire(pgr.port) as w:
            with pytest.raises(pgwire.ServerError) as e:
                w.login(user, "x", database=db)
        assert e.value.fields["C"] == "28000", e.value.fields
