#!/usr/bin/python3
"""Regenerate the committed seed corpora (fuzz/corpus/) and dictionaries (fuzz/dict/).

Run from anywhere, after changing a harness or when the parsers learn new syntax:
setting names for the config dictionary are read from src/config/config.c, and one config
seed is etc/pgrouter.ini without its comments.

Every seed is a small valid input shaped like real traffic or real files, so the
fuzzers start deep inside the parsers. SCRAM seeds are computed here with hashlib
and hmac from the protocol definition (RFC 5802/7677), with the fixed nonces,
password and secret the harnesses use.
"""
import base64
import hashlib
import hmac
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
DICT = os.path.join(HERE, "dict")

# Shared with fuzz_scram_server.c / fuzz_scram_client.c.
PASSWORD = b"correct horse battery staple"
SALT = base64.b64decode("XAsemn0/LkGgjGsdnk96Ig==")
CNONCE = "fyko+d2lbbFgONRv9qkxdawL"
SNONCE = "3rfcNHYJY1ZVvWVs7j0hLm1x"
CBIND = hashlib.sha256(b"fake certificate").digest()


def write(target, name, data):
    """Store one seed file."""
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- protocol messages -------------------------------------------------------

def msg(t, body=b""):
    """A typed message: type byte, int32 length (self-inclusive), body."""
    return t.encode() + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def startup(params, code=196608):
    """An untyped startup-phase packet with name/value pairs."""
    body = struct.pack("!I", code) + b"".join(cstr(k) + cstr(v) for k, v in params) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def error_body(sev, code, text, extra=()):
    fields = [(b"S", sev), (b"V", sev), (b"C", code), (b"M", text)] + list(extra)
    return b"".join(k + cstr(v) for k, v in fields) + b"\0"


def codec_seeds():
    t = "fuzz_codec"
    maxp = b"\x03"  # max_packet 2^31-1, chunk pattern 0
    write(t, "client_preauth_password", b"\x00" + msg("p", cstr("secret")) + msg("X"))
    write(t, "client_simple_query", maxp + msg("Q", cstr("SELECT 1")) + msg("X"))
    ext = (msg("P", cstr("s1") + cstr("SELECT $1::int") + struct.pack("!HI", 1, 23))
           + msg("B", cstr("") + cstr("s1") + struct.pack("!HH", 1, 0) + struct.pack("!Hi", 1, 1) + b"7"
                 + struct.pack("!H", 0))
           + msg("D", b"P" + cstr("")) + msg("E", cstr("") + struct.pack("!I", 0))
           + msg("C", b"S" + cstr("s1")) + msg("S") + msg("H"))
    write(t, "client_extended_query", b"\x07" + ext)
    server = (msg("R", struct.pack("!I", 0))
              + msg("S", cstr("server_version") + cstr("15.6"))
              + msg("S", cstr("client_encoding") + cstr("UTF8"))
              + msg("K", struct.pack("!II", 4242, 0xdeadbeef))
              + msg("Z", b"I")
              + msg("T", struct.pack("!H", 1) + cstr("?column?") + struct.pack("!IHIhih", 0, 0, 23, 4, -1, 0))
              + msg("D", struct.pack("!Hi", 1, 1) + b"1")
              + msg("C", cstr("SELECT 1"))
              + msg("Z", b"I"))
    write(t, "server_login_and_query", b"\x0b" + server)
    sasl = (msg("R", struct.pack("!I", 10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + b"\0")
            + msg("R", struct.pack("!I", 11) + ("r=%s%s,s=XAsemn0/LkGgjGsdnk96Ig==,i=4096" % (CNONCE, SNONCE)).encode())
            + msg("R", struct.pack("!I", 12) + b"v=bJcl/rmLS841pT/yvK0Pl8jeqturlgHL0bdFPLiWTAg=")
            + msg("R", struct.pack("!I", 5) + b"\x01\x02\x03\x04"))
    write(t, "server_sasl", b"\x13" + sasl)
    err = (msg("E", error_body("FATAL", "28P01", 'password authentication failed for user "alice"'))
           + msg("N", error_body("NOTICE", "00000", "relation exists, skipping",
                                 [(b"F", "tablecmds.c"), (b"L", "123"), (b"R", "fn")])))
    write(t, "server_error_notice", b"\x1f" + err)
    copy = (msg("G", b"\x00" + struct.pack("!H", 1) + struct.pack("!H", 0))
            + msg("d", b"1\t2\n") + msg("c") + msg("H", b"\x00\x00\x00")
            + msg("v", struct.pack("!II", 0, 1) + cstr("_pq_.x")))
    write(t, "server_copy_negotiate", b"\x23" + copy)
    write(t, "client_copy_data", b"\x02" + msg("d", b"1\t2\n") + msg("c") + msg("f", cstr("boom")))


def startup_seeds():
    t = "fuzz_startup"
    write(t, "psql", startup([("user", "alice"), ("database", "app"), ("application_name", "psql"),
                              ("client_encoding", "UTF8")]))
    write(t, "psycopg", startup([("user", "bob"), ("database", "postgres"),
                                 ("options", "-c search_path=app\\ x"), ("DateStyle", "ISO")]))
    write(t, "replication", startup([("user", "rep"), ("replication", "database"), ("database", "db")]))
    write(t, "protocol_3_2", startup([("user", "u"), ("_pq_.compression", "on")], code=196610))
    write(t, "empty_params", startup([]))
    write(t, "ssl_request", struct.pack("!II", 8, 80877103))
    write(t, "gssenc_request", struct.pack("!II", 8, 80877104))
    write(t, "cancel_request", struct.pack("!IIII", 16, 80877102, 4242, 0xdeadbeef))


# ---- SCRAM ------------------------------------------------------------------

def keys(iterations):
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD, SALT, iterations)
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ck, hashlib.sha256(ck).digest(), sk


def exchange(iterations, cfb, gs2=b"n,,", cbind=b""):
    """Client-first, server-first, client-final and server-final of one valid exchange."""
    ck, stored, sk = keys(iterations)
    nonce = CNONCE + SNONCE
    sf = "r=%s,s=%s,i=%d" % (nonce, base64.b64encode(SALT).decode(), iterations)
    cfwp = "c=%s,r=%s" % (base64.b64encode(gs2 + cbind).decode(), nonce)
    am = ("%s,%s,%s" % (cfb, sf, cfwp)).encode()
    proof = bytes(a ^ b for a, b in zip(ck, hmac.new(stored, am, hashlib.sha256).digest()))
    sig = hmac.new(sk, am, hashlib.sha256).digest()
    return (gs2.decode() + cfb, sf, cfwp + ",p=" + base64.b64encode(proof).decode(),
            "v=" + base64.b64encode(sig).decode())


def scram_seeds():
    s, c = "fuzz_scram_server", "fuzz_scram_client"
    cfb = "n=,r=" + CNONCE
    cf, sf, cfin, sfin = exchange(4096, cfb)
    write(s, "libpq_ok", "0" + cf + "\0" + cfin)
    write(s, "tls_offered_no_binding", "1" + cf + "\0" + cfin)
    pcf, _, pcfin, _ = exchange(4096, cfb, b"p=tls-server-end-point,,", CBIND)
    write(s, "plus_ok", "3" + pcf + "\0" + pcfin)
    write(s, "doomed", "4" + cf + "\0" + cfin)
    write(s, "downgrade_y", "1y,,n=,r=" + CNONCE + "\0" + cfin.replace("c=biws", "c=eSws"))
    write(s, "extension_and_user", "0n,,n=us=2Cer=3D,r=" + CNONCE + ",x=ext\0" + cfin)
    write(s, "rfc7677_client", "0n,,n=user,r=rOprNGfwEbeRWgbNEkqO\0"
          "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
          "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")

    _, sf16, _, sfin16 = exchange(16, cfb)
    write(c, "password_ok", "0" + sf16 + "\0" + sfin16)
    write(c, "passthrough_ok", "1" + sf + "\0" + sfin)
    _, sfu, _, sfinu = exchange(16, "n=fuzz=2Cuser=3Dx,r=" + CNONCE)
    write(c, "escaped_user_ok", "2" + sfu + "\0" + sfinu)
    write(c, "too_many_iterations", "0" + sf + "\0" + sfin)
    write(c, "server_error", "1" + sf + "\0e=invalid-proof")
    write(c, "extension", "0" + sf16 + ",x=1\0" + sfin16 + ",y=2")


# ---- files --------------------------------------------------------------------

def md5_secret(user, pw):
    return "md5" + hashlib.md5((pw + user).encode()).hexdigest()


def scram_secret(iterations):
    _, stored, sk = keys(iterations)
    b = lambda x: base64.b64encode(x).decode()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b(SALT), b(stored), b(sk))


def file_seeds():
    a = "fuzz_authfile"
    write(a, "pgbouncer_userlist",
          '"alice" "secret"\n"bob" "%s"\n"carol" "%s"\n' % (md5_secret("bob", "secret"), scram_secret(4096)))
    write(a, "comments_quotes",
          '; PgBouncer userlist\n# comment\n\n  "we""ird" ""  trailing words\n\t"dave" "p""w"\r\n')
    write(a, "scram_low_iterations", '"erin" "%s"\n"frank" "md5%s"\n' % (scram_secret(16), "0" * 32))

    h = "fuzz_hba"
    write(h, "pg_hba",
          "# TYPE  DATABASE USER ADDRESS METHOD\n"
          "local   all      postgres        peer\n"
          "host    all      all  127.0.0.1/32  scram-sha-256\n"
          "host    all      all  ::1/128       md5\n"
          "hostssl app      alice,bob 10.0.0.0 255.0.0.0 cert\n"
          "hostnossl sameuser all 0.0.0.0/0 password\n"
          "hostnogssenc all all all trust\n"
          "host    all      all  all           reject\n")
    write(h, "includes_and_quotes",
          'host @dbs @users,"Quoted User" 10.1.2.3/32 md5\n'
          'host "all" @nested ::ffff:10.1.2.0/120 scram-sha-256 # trailing comment\n'
          "local all @empty trust\n")

    c = "fuzz_config"
    write(c, "pgrouter_scram",
          "[pgrouter]\nlisten_addr = 127.0.0.1\nlisten_port = 6432\nworkers = 2\n"
          "auth_type = scram-sha-256\nauth_file = users.txt\npool_mode = transaction\n"
          "default_pool_size = 20\nserver_idle_timeout = 10min\nquery_wait_timeout = 250ms\n"
          "max_packet_size = 16MB\npkt_buf = 8kB\nadmin_users = postgres, admin\n"
          "stats_users = stats\nserver_tls_sslmode = disable\n\n[databases]\n"
          "app = host=127.0.0.1 port=5432 dbname=app replicas=10.0.0.2:5433@2,[::1]:5434\n"
          "* = host=localhost pool_size=5 pool_mode=session password='it''s' user=app\n")
    write(c, "pgbouncer_compat",
          "; a PgBouncer file\n[pgbouncer]\nlisten_port = 6433\nunix_socket_dir = x\n"
          "auth_type = md5\nauth_file = users.txt\nserver_reset_query = DISCARD ALL\n"
          "server_reset_query_always = yes\ntcp_keepalive = off\nlog_connections = 0\n"
          "ignore_startup_parameters = extra_float_digits, options\n\n[databases]\n"
          "postgres = host=127.0.0.1 dbname=postgres client_encoding=UTF8 "
          "datestyle='ISO, MDY' timezone=UTC application_name=pgr\n")
    write(c, "tls_cert_auth",
          "[pgrouter]\nauth_type = cert\nclient_tls_sslmode = verify-full\n"
          "client_tls_cert_file = server.crt\nclient_tls_key_file = server.key\n"
          "client_tls_ca_file = ca.crt\nclient_tls_protocols = tlsv1.2,tlsv1.3\n"
          "client_tls_ciphers = HIGH:!aNULL\nserver_tls_sslmode = verify-ca\n"
          "server_tls_ca_file = ca.crt\nserver_tls_protocols = secure\n")
    write(c, "hba", "[pgrouter]\nauth_type = hba\nauth_hba_file = hba.conf\nauth_file = users.txt\n"
          "server_tls_sslmode = prefer\n")
    write(c, "routes",
          "[pgrouter]\nserver_tls_sslmode = disable\nprimary_read_weight = 1\n[databases]\n"
          "app = host=10.0.0.1 replicas=10.0.0.2\napp_ro = host=10.0.0.1 replicas=10.0.0.2 target=replica\n"
          "[routes]\ndashboards = application_name=grafana target=replica fallback=error\n"
          "reports = tag=reports target=replica max_lag=30s\n"
          "heavy = regex='^select .* from big_table' user=analyst max_lag=16MB target=auto\n"
          "admin = database=app fallback=primary target=primary\n")
    example = os.path.join(ROOT, "etc", "pgrouter.ini")
    if os.path.exists(example):
        with open(example) as f:
            lines = [l for l in f if l.strip() and not l.lstrip().startswith((";", "#"))]
        write(c, "etc_pgrouter_ini", "".join(lines))
    long_replicas = ",".join("10.0.%d.%d:%d@%d" % (i, i + 1, 5432 + i, i) for i in range(15))
    write(c, "long_line", "[pgrouter]\nserver_tls_sslmode = disable\n[databases]\n"
          "big = host=db.example port=5432 replicas=%s\n" % long_replicas)


# ---- dictionaries ---------------------------------------------------------------

def write_dict(target, what, words):
    """One libFuzzer dictionary: a comment line, then one quoted token per line."""
    os.makedirs(DICT, exist_ok=True)
    with open(os.path.join(DICT, target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary for %s: %s (generated by fuzz/make_seeds.py).\n" % (target, what))
        for w in dict.fromkeys(words):
            f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"'))


def dicts():
    with open(os.path.join(ROOT, "src", "config.c")) as f:
        src = f.read()
    settings = re.findall(r'\{ "([a-z_]+)", CT_', src)
    m = re.search(r"ignored_settings\[\] = \{(.*?)NULL", src, re.S)
    ignored = re.findall(r'"([a-z_]+)"', m.group(1))[:5] if m else []
    words = ["[pgrouter]", "[pgbouncer]", "[databases]", "[routes]", "[users]"] + settings + ignored + [
        "session", "transaction", "statement", "disable", "allow", "prefer", "require", "verify-ca",
        "verify-full", "trust", "any", "plain", "md5", "scram-sha-256", "cert", "hba",
        "host=", "port=", "dbname=", "user=", "password=", "pool_size=", "min_pool_size=", "reserve_pool=",
        "max_db_connections=", "pool_mode=", "replicas=", "target=", "client_encoding=", "datestyle=",
        "timezone=", "application_name=", "auth_user=", "database=", "tag=", "regex=", "max_lag=",
        "fallback=", "primary", "replica", "auto", "error", "wait:",
        "users.txt", "hba.conf", "server.crt", "server.key", "other.key", "ca.crt", "names", "empty",
        "bad_users.txt", "bad_hba.conf", "ms", "min", "kB", "MB", "GB", "tlsv1.2", "tlsv1.3", "secure",
        "legacy", "HIGH:!aNULL", "yes", "off", "true"]
    write_dict("fuzz_config", "sections, setting names, values and the sandbox's file names", words)
    write_dict("fuzz_hba", "pg_hba.conf keywords, addresses and the sandbox's @files", [
        "local", "host", "hostssl", "hostnossl", "hostnogssenc", "hostgssenc", "all", "sameuser",
        "samerole", "samegroup", "replication", "samehost", "samenet", "trust", "reject", "md5",
        "password", "scram-sha-256", "cert", "peer", "ident", "@users", "@dbs", "@nested", "@empty",
        "@self", "@bad", "/32", "/128", "/0", "255.255.255.0", "127.0.0.1", "::1", "::ffff:10.1.2.3",
        "10.0.0.0/8", '"', "clientcert=verify-full"])
    scram = ["n,,", "y,,", "p=tls-server-end-point,,", "p=", "a=", "m=", "n=", "r=", ",r=", ",s=", ",i=",
             ",p=", "c=biws", "c=", "v=", "e=", "=2C", "=3D", CNONCE, SNONCE,
             base64.b64encode(SALT).decode(), "4096", "=="]
    for t in ("fuzz_scram_server", "fuzz_scram_client"):
        write_dict(t, "SCRAM attributes, gs2 headers and the harness's fixed nonces and salt", scram)


def main():
    for t in ("fuzz_codec", "fuzz_startup", "fuzz_scram_server", "fuzz_scram_client",
              "fuzz_authfile", "fuzz_hba", "fuzz_config"):
        shutil.rmtree(os.path.join(CORPUS, t), ignore_errors=True)
    codec_seeds()
    startup_seeds()
    scram_seeds()
    file_seeds()
    dicts()


if __name__ == "__main__":
    main()
