"""TLS on both legs: clients with psql and psycopg (require, verify-ca, verify-full,
client certificates, cert authentication), pgrouter toward a PostgreSQL that serves TLS
(server_tls_sslmode = verify-full, checked in pg_stat_ssl), protocol and cipher limits, and a
certificate swapped on SIGHUP while a session stays open."""

import hashlib
import shutil
import ssl

import psycopg
import pytest

import pgwire
from conftest import authid_secret
from helpers import client_backends

pytestmark = pytest.mark.pgrouter_only


def app_users(cluster):
    """auth_file entries: pgr_app by its SCRAM secret (passthrough), pgr_cert in clear (cert
    logins prove no password, so pgrouter needs one for the server)."""
    return {"pgr_app": authid_secret(cluster, "pgr_app"),
            "pgr_cert": cluster.password_of("pgr_cert")}


def connect(pgr, tls, user="pgr_app", password=None, **libpq):
    """psycopg connection through pgrouter with libpq TLS parameters (default verify-full)."""
    return psycopg.connect(pgr.dsn(user=user, password=password, **tls.libpq(**libpq)),
                           autocommit=True)


def refused(pgr, tls, **kw):
    """Error text of a psycopg connection attempt that must fail."""
    with pytest.raises(psycopg.OperationalError) as e:
        connect(pgr, tls, **kw).close()
    return str(e.value)


def still_serves(pgr, tls, cluster):
    """A verify-full SCRAM client logs in and runs a query."""
    with connect(pgr, tls, password=cluster.password_of("pgr_app")) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "pgr_app"


# ----- client leg -------------------------------------------------------------------

def test_psql_and_psycopg_with_require_and_verify_full(secure_pgrouter, auth_cluster, tls, psql):
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          **tls.proxy_settings("require"))
    pw = auth_cluster.password_of("pgr_app")
    for mode in ("require", "verify-ca", "verify-full"):
        with connect(pgr, tls, password=pw, sslmode=mode) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT current_user").fetchone()[0] == "pgr_app"
        r = psql(pgr.dsn(user="pgr_app", **tls.libpq(mode)), r"\conninfo", pw)
        assert r.rc == 0 and "SSL connection (protocol: TLSv1" in r.out, r
    # sslmode=require on pgrouter: plaintext is refused before any password is asked
    r = psql(pgr.dsn(user="pgr_app", sslmode="disable"), "SELECT 1", pw)
    assert r.rc != 0 and "SSL required" in r.err, r
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_app", pw)
        assert w.auth_codes == []
    assert e.value.fields["C"] == "28000" and "SSL required" in e.value.fields["M"]


def test_verify_full_rejects_wrong_hostname_and_foreign_ca(secure_pgrouter, auth_cluster, tls,
                                                           psql):
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          **tls.proxy_settings("require"))
    pw = auth_cluster.password_of("pgr_app")
    err = refused(pgr, tls, password=pw, sslmode="verify-full", host="db.example.com")
    assert 'does not match host name "db.example.com"' in err, err
    # verify-ca does not look at the name: the same connection is accepted
    with connect(pgr, tls, password=pw, sslmode="verify-ca", host="db.example.com") as c:
        assert c.pgconn.ssl_in_use
    err = refused(pgr, tls, password=pw, sslmode="verify-full", rootcert=tls.ca2.cert)
    assert "certificate verify failed" in err, err
    r = psql(pgr.dsn(user="pgr_app", **tls.libpq(host="db.example.com")), "SELECT 1", pw)
    assert r.rc != 0 and "does not match host name" in r.err, r
    still_serves(pgr, tls, auth_cluster)


def test_client_certificate_required_with_verify_ca(secure_pgrouter, auth_cluster, tls, psql):
    """client_tls_sslmode = verify-ca: a certificate from the configured CA is required on top
    of the password."""
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          **tls.proxy_settings("verify-ca"))
    pw = auth_cluster.password_of("pgr_app")
    mine = tls.client("pgr_app")
    with connect(pgr, tls, password=pw, sslmode="verify-full", client=mine) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "pgr_app"
    r = psql(pgr.dsn(user="pgr_app", **tls.libpq(client=mine)), "SELECT current_user", pw)
    assert r.rc == 0 and r.out == "pgr_app", r
    refused(pgr, tls, password=pw, sslmode="verify-full")                       # no certificate
    refused(pgr, tls, password=pw, sslmode="verify-full", client=tls.stranger_client)  # CA2
    err = refused(pgr, tls, password="wrong", sslmode="verify-full", client=mine)
    assert 'password authentication failed for user "pgr_app"' in err, err
    # plaintext is not an escape hatch
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_app", pw)
    assert e.value.fields["C"] == "28000", e.value.fields
    assert "handshake" in pgr.log or "certificate" in pgr.log, pgr.log_tail()


def test_cert_auth_cn_is_the_user(secure_pgrouter, auth_cluster, tls, psql):
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="cert",
                          **tls.proxy_settings("verify-ca"))
    cert = tls.client("pgr_cert")
    with connect(pgr, tls, user="pgr_cert", client=cert) as c:  # no password at all
        assert c.execute("SELECT current_user").fetchone()[0] == "pgr_cert"
    r = psql(pgr.dsn(user="pgr_cert", **tls.libpq(client=cert)), "SELECT current_user")
    assert r.rc == 0 and r.out == "pgr_cert", r
    # another CN, even one of a real user, does not log in as pgr_cert
    for other in ("mallory", "pgr_app"):
        err = refused(pgr, tls, user="pgr_cert", client=tls.client(other))
        assert 'password authentication failed for user "pgr_cert"' in err, err
    # a valid certificate for a name nobody configured opens nothing
    err = refused(pgr, tls, user="mallory", client=tls.client("mallory"))
    assert "FATAL" in err, err  # the server login has no password for mallory
    err = refused(pgr, tls, user="pgr_cert", client=tls.stranger_client)  # right CN, wrong CA
    assert "password authentication" not in err, err
    # the raw client presents a certificate too: 28P01 for a CN mismatch
    ctx = pgwire.tls_client_context(tls.ca.cert, tls.client("mallory").cert,
                                     tls.client("mallory").key)
    with pgwire.AuthWire(pgr.port) as w:
        assert w.ssl_request(ctx) == b"S"
        with pytest.raises(pgwire.ServerError) as e:
            w.login("pgr_cert", "")
    assert e.value.fields["C"] == "28P01", e.value.fields


def test_tls_protocol_and_cipher_limits(secure_pgrouter, auth_cluster, tls):
    pw = auth_cluster.password_of("pgr_app")
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          client_tls_protocols="tlsv1.3", **tls.proxy_settings("require"))
    old = pgwire.tls_client_context(tls.ca.cert, max_version=ssl.TLSVersion.TLSv1_2)
    with pgwire.AuthWire(pgr.port) as w:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            w.ssl_request(old)
    with pgwire.AuthWire(pgr.port) as w:
        w.ssl_request(pgwire.tls_client_context(tls.ca.cert))
        assert w.sock.version() == "TLSv1.3"
        w.login("pgr_app", pw)

    pgr2 = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                           client_tls_protocols="tlsv1.2",
                           client_tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
                           **tls.proxy_settings("require"))
    ctx = pgwire.tls_client_context(tls.ca.cert, max_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with pgwire.AuthWire(pgr2.port) as w:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            w.ssl_request(ctx)
    ctx = pgwire.tls_client_context(tls.ca.cert, max_version=ssl.TLSVersion.TLSv1_2)
    with pgwire.AuthWire(pgr2.port) as w:
        w.ssl_request(ctx)
        assert w.sock.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"
        w.login("pgr_app", pw)


# ----- server leg -------------------------------------------------------------------

def server_side_ssl(cluster, user):
    """pg_stat_ssl.ssl of the user's TCP backends, as seen by the server itself."""
    return [r[0] for r in cluster.sql(
        cluster.primary, "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.usename = %s AND a.client_addr IS NOT NULL", (user,))]


def server_entry(cluster, host="127.0.0.1"):
    """[databases] entry for the auth cluster's primary under a given host name."""
    return {"host": host, "port": cluster.primary.port, "dbname": "postgres"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_server_tls_verify_full(secure_pgrouter, auth_cluster, tls, host):
    pgr = secure_pgrouter(databases={"postgres": server_entry(auth_cluster, host)},
                          userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          server_tls_sslmode="verify-full", server_tls_ca_file=tls.ca.cert)
    with pgr.connect(user="pgr_app", password=auth_cluster.password_of("pgr_app")) as c:
        ssl_on, version = c.execute("SELECT ssl, version FROM pg_stat_ssl "
                                    "WHERE pid = pg_backend_pid()").fetchone()
        assert ssl_on and version.startswith("TLSv1"), (ssl_on, version)
        assert server_side_ssl(auth_cluster, "pgr_app") == [True]


def test_server_tls_verification_failures(secure_pgrouter, auth_cluster, tls):
    """A server certificate from an unknown CA, or for another name, is not accepted; the
    client hears why instead of hanging; verify-ca does not check the name."""
    pw = auth_cluster.password_of("pgr_app")
    cases = [("verify-full", tls.ca2.cert, "127.0.0.1", False),
             ("verify-full", tls.ca.cert, "127.0.0.2", False),  # not in the certificate
             ("verify-ca", tls.ca.cert, "127.0.0.2", True),
             ("disable", "", "127.0.0.1", True)]
    for mode, ca, host, works in cases:
        pgr = secure_pgrouter(databases={"postgres": server_entry(auth_cluster, host)},
                              userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                              server_tls_sslmode=mode, server_tls_ca_file=ca or None)
        if works:
            with pgr.connect(user="pgr_app", password=pw) as c:
                on = c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                assert on.fetchone()[0] == (mode != "disable"), (mode, host)
            continue
        with pgwire.AuthWire(pgr.port) as w:
            with pytest.raises(pgwire.ServerError) as e:
                w.login("pgr_app", pw)
        f = e.value.fields
        assert f["C"].startswith("08") and "certificate" in f["M"], (mode, host, f)
        assert client_backends(auth_cluster, user="pgr_app") == []


# ----- certificates reloaded on SIGHUP ---------------------------------------------------

def peer_fingerprint(port):
    """SHA-256 of the certificate pgrouter presents (no verification)."""
    with pgwire.AuthWire(port) as w:
        assert w.ssl_request(pgwire.tls_client_context()) == b"S"
        return hashlib.sha256(w.sock.getpeercert(binary_form=True)).hexdigest()


def test_sighup_swaps_certificate_and_keeps_sessions(secure_pgrouter, auth_cluster, tls):
    pw = auth_cluster.password_of("pgr_app")
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          pool_mode="session", launch=False)
    cert, key = pgr.workdir / "live.crt", pgr.workdir / "live.key"
    shutil.copy(tls.server.cert, cert)
    shutil.copy(tls.server.key, key)
    pgr.hand_over(key)   # read again on reload, after the switch to an unprivileged user
    pgr.settings.update(tls.proxy_settings("require"))
    pgr.settings.update(client_tls_cert_file=str(cert), client_tls_key_file=str(key))
    pgr.start()
    assert peer_fingerprint(pgr.port) == tls.server.fingerprint()
    session = connect(pgr, tls, password=pw)
    assert session.execute("SELECT 1").fetchone()[0] == 1

    # a new certificate from another CA, same file names
    shutil.copy(tls.server2.cert, cert)
    shutil.copy(tls.server2.key, key)
    pgr.reload()
    assert "configuration reloaded" in pgr.log, pgr.log_tail()
    assert peer_fingerprint(pgr.port) == tls.server2.fingerprint()
    assert "certificate verify failed" in refused(pgr, tls, password=pw)
    with connect(pgr, tls, password=pw, sslmode="verify-full", rootcert=tls.ca2.cert) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "pgr_app"
    assert session.execute("SELECT 2").fetchone()[0] == 2  # the old session never noticed
    assert session.pgconn.ssl_in_use

    # a broken certificate file is refused and the running one stays
    cert.write_text("not a certificate\n")
    pgr.reload()
    assert "reload failed" in pgr.log, pgr.log_tail()
    assert peer_fingerprint(pgr.port) == tls.server2.fingerprint()
    assert session.execute("SELECT 3").fetchone()[0] == 3
    session.close()


def test_scram_channel_binding_over_tls(secure_pgrouter, auth_cluster, tls, psql):
    """Over TLS pgrouter offers SCRAM-SHA-256-PLUS bound to its certificate: libpq with
    channel_binding=require logs in with the right password, still fails with a wrong one, and a
    plaintext connection is offered plain SCRAM only (so channel_binding=require refuses it)."""
    pgr = secure_pgrouter(userlist=app_users(auth_cluster), auth_type="scram-sha-256",
                          **tls.proxy_settings("allow"))
    pw = auth_cluster.password_of("pgr_app")
    r = psql(pgr.dsn(user="pgr_app", channel_binding="require", **tls.libpq("verify-full")),
             "SELECT current_user", pw)
    assert r.rc == 0 and "pgr_app" in r.out, r
    r = psql(pgr.dsn(user="pgr_app", channel_binding="require", **tls.libpq("verify-full")),
             "SELECT 1", "wrong-" + pw)
    assert r.rc != 0 and "password authentication failed" in r.err, r
    r = psql(pgr.dsn(user="pgr_app", sslmode="disable", channel_binding="require"), "SELECT 1", pw)
    assert r.rc != 0 and "channel binding" in r.err.lower(), r
