"""The Debian package as an operator meets it: dpkg-buildpackage builds it (from a copy of the tree, so the
source stays clean), lintian has nothing unexplained to say, dpkg -i installs it, the installed binary runs as
the packaged user against the test cluster, and dpkg --purge takes it away again. Also make install/uninstall,
the man pages' rendering, --check and --scram-secret against real servers."""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import PGROUTER_BIN, REPO
from helpers import db_entry

pytestmark = pytest.mark.pgrouter_only

# lintian tags the package is known to carry, each explained in docs/packaging.md.
LINTIAN_EXPLAINED = set()


def copy_tree(dest):
    """The source tree as git sees it (tracked and new files, not build output) copied into dest."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            timeout=60)
    if listed.returncode != 0:  # not a git checkout: everything but build directories
        shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns("build*", "node_modules", "__pycache__", "debian/pgrouter"))
        return
    for rel in listed.stdout.decode().split("\0"):
        if rel and (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)


def installed(pkg):
    """True when dpkg has pkg installed."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """pgrouter_<version>_<arch>.deb built from a copy of the tree; skipped where it cannot be built or installed."""
    if os.geteuid() != 0 or not shutil.which("dpkg-buildpackage") or not shutil.which("dh"):
        pytest.skip("needs root, dpkg-buildpackage and debhelper (scripts/install-deps.sh)")
    if installed("pgrouter"):
        pytest.skip("a pgrouter package is installed here already; not replacing it")
    work = tmp_path_factory.mktemp("deb")
    src = work / "pgrouter"
    copy_tree(src)
    r = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    version = subprocess.run(["dpkg-parsechangelog", "-S", "Version"], cwd=src, capture_output=True,
                             text=True).stdout.strip()
    path = work / f"pgrouter_{version}_{arch}.deb"
    assert path.exists(), sorted(p.name for p in work.iterdir())
    return path


@pytest.mark.plain_build
def test_build_leaves_the_tree_clean(deb):
    """Nothing the package build makes lands in the source tree (it builds from a copy)."""
    for p in ("debian/pgrouter", "debian/files", "debian/.debhelper", "debian/debhelper-build-stamp"):
        assert not (REPO / p).exists(), p


@pytest.mark.plain_build
def test_lintian(deb):
    assert shutil.which("lintian"), "lintian is not installed (scripts/install-deps.sh installs it)"
    r = subprocess.run(["lintian", "--no-tag-display-limit", str(deb)], capture_output=True, text=True, timeout=300)
    tags = {ln.split()[2] for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:")}
    assert tags <= LINTIAN_EXPLAINED, r.stdout


@pytest.mark.plain_build
def test_install_run_as_packaged_user_and_purge(deb, cluster, tmp_path):
    r = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    proc = confdir = None
    try:
        pw = pwd.getpwnam("pgrouter")
        assert pw.pw_uid < 1000 and pw.pw_shell in ("/usr/sbin/nologin", "/bin/false")  # a system user
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "pgrouter"], capture_output=True,
                                   text=True).stdout
        assert "/etc/pgrouter/pgrouter.ini" in conffiles
        ini = os.stat("/etc/pgrouter/pgrouter.ini")
        assert (ini.st_mode & 0o777, ini.st_gid) == (0o640, grp.getgrnam("pgrouter").gr_gid)
        log = os.stat("/var/log/pgrouter")
        assert log.st_uid == pw.pw_uid
        for f in ("/usr/sbin/pgrouter", "/lib/systemd/system/pgrouter.service", "/lib/systemd/system/pgrouter.socket",
                  "/usr/share/man/man1/pgrouter.1.gz", "/usr/share/man/man5/pgrouter.ini.5.gz",
                  "/usr/share/doc/pgrouter/examples/pgrouter.ini"):
            assert Path(f).exists(), f
        version = subprocess.run(["/usr/sbin/pgrouter", "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and version.stdout.startswith("pgrouter ")
        # The packaged example configuration passes --check, as the unit's ExecStartPre runs it.
        chk = subprocess.run(["setpriv", "--reuid=pgrouter", "--regid=pgrouter", "--init-groups",
                              "/usr/sbin/pgrouter", "--check", "/etc/pgrouter/pgrouter.ini"],
                             capture_output=True, text=True)
        assert chk.returncode == 0, chk.stderr
        if shutil.which("systemd-analyze"):
            v = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/pgrouter.service",
                                "/lib/systemd/system/pgrouter.socket"], capture_output=True, text=True, timeout=60)
            assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), v.stdout + v.stderr
        # The installed binary as the packaged user, as the unit runs it, with a stand-in for systemd.
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        listen_port = port.getsockname()[1]
        port.close()
        entry = db_entry(cluster)
        confdir = Path(tempfile.mkdtemp(prefix="pgr-pkg-", dir="/tmp"))  # pytest's tmp_path is root's alone
        confdir.chmod(0o755)
        conf = confdir / "pgrouter.ini"
        conf.write_text(
            "[databases]\n" + "postgres = " + " ".join(f"{k}={v}" for k, v in entry.items()) + "\n"
            f"[pgrouter]\nlisten_addr = 127.0.0.1\nlisten_port = {listen_port}\nauth_type = trust\n"
            "logfile = /var/log/pgrouter/pgrouter.log\n")
        conf.chmod(0o644)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = f"pgr-pkg-{uuid.uuid4().hex}"
        notify.bind("\0" + name)
        notify.settimeout(15)
        proc = subprocess.Popen(["setpriv", "--reuid=pgrouter", "--regid=pgrouter", "--init-groups",
                                 "/usr/sbin/pgrouter", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(os.environ, NOTIFY_SOCKET="@" + name))
        try:
            assert b"READY=1" in notify.recv(4096)
        except socket.timeout:
            proc.kill()
            pytest.fail(f"no READY=1 from the installed pgrouter: {proc.communicate()[0].decode()}")
        notify.close()
        with open(f"/proc/{proc.pid}/status") as f:
            uid = next(ln.split()[1] for ln in f if ln.startswith("Uid:"))
        assert int(uid) == pw.pw_uid
        with psycopg.connect(host="127.0.0.1", port=listen_port, dbname="postgres", user="postgres",
                             connect_timeout=5, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert "pgrouter stopped" in Path("/var/log/pgrouter/pgrouter.log").read_text()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if confdir:
            shutil.rmtree(confdir, ignore_errors=True)
        r = subprocess.run(["dpkg", "--purge", "pgrouter"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not installed("pgrouter")
    for f in ("/usr/sbin/pgrouter", "/etc/pgrouter", "/var/log/pgrouter", "/lib/systemd/system/pgrouter.service"):
        assert not Path(f).exists(), f


@pytest.mark.plain_build
def test_make_install_and_uninstall(tmp_path):
    """make install with PREFIX and DESTDIR puts everything in place (units pointing at PREFIX); uninstall
    removes it but keeps the configuration."""
    assert PGROUTER_BIN.exists(), f"build {PGROUTER_BIN} first (make)"
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/opt/pgr"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for f in ("opt/pgr/sbin/pgrouter", "opt/pgr/share/man/man1/pgrouter.1", "opt/pgr/share/man/man5/pgrouter.ini.5",
              "opt/pgr/share/doc/pgrouter/configuration.md", "opt/pgr/share/doc/pgrouter/examples/pgrouter.ini",
              "opt/pgr/etc/pgrouter/pgrouter.ini", "opt/pgr/lib/systemd/system/pgrouter.service"):
        assert (dest / f).exists(), f
    unit = (dest / "opt/pgr/lib/systemd/system/pgrouter.service").read_text()
    assert "ExecStart=/opt/pgr/sbin/pgrouter /opt/pgr/etc/pgrouter/pgrouter.ini" in unit
    (dest / "opt/pgr/etc/pgrouter/pgrouter.ini").write_text("[pgrouter]\n; the operator's\n")
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/opt/pgr"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert "the operator's" in (dest / "opt/pgr/etc/pgrouter/pgrouter.ini").read_text()
    r = subprocess.run(["make", "-s", "uninstall", f"DESTDIR={dest}", "PREFIX=/opt/pgr"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert left == ["opt/pgr/etc/pgrouter/pgrouter.ini"], left


@pytest.mark.parametrize("page", ["pgrouter.1", "pgrouter.ini.5"])
def test_man_pages_render_without_warnings(page):
    path = REPO / "man" / page
    if shutil.which("mandoc"):
        r = subprocess.run(["mandoc", "-T", "lint", str(path)], capture_output=True, text=True)
        assert not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    r = subprocess.run(["groff", "-ww", "-man", "-z", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_man_page_is_generated_from_the_docs():
    r = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "gen_man_ini.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def run_bin(*args, stdin=None, cwd=None):
    """The build's binary with args; (exit status, stdout, stderr)."""
    r = subprocess.run([str(PGROUTER_BIN), *args], input=stdin, capture_output=True, text=True, timeout=30,
                       cwd=cwd)
    return r.returncode, r.stdout, r.stderr


def test_check_prints_every_problem(tmp_path):
    inc = tmp_path / "pool.ini"
    inc.write_text("default_pool_size = lots\n")
    bad = tmp_path / "bad.ini"
    bad.write_text("[pgrouter]\nlisten_port = 70000\nno_such_setting = 1\n"
                   f"%include {inc}\nsyslog_facility = kern2\nmonitor_interval = 5ms\nunix_socket_mode = 99x\n"
                   "[databases]\napp = host=h port=x\nnot a setting\nnor this\n")
    rc, out, err = run_bin("--check", str(bad))
    assert rc == 1, err
    for want in (f"{bad}:2: listen_port: value out of range", f"{bad}:3: no_such_setting: unknown setting",
                 f"{inc}:1: default_pool_size: expected an integer", f"{bad}:9: app: port",
                 # the checks that look at the settings together report every problem too
                 f"{bad}:5: syslog_facility:", f"{bad}:6: monitor_interval:", f"{bad}:7: unix_socket_mode:",
                 # each line that is no setting at all
                 f"{bad}:10: syntax error", f"{bad}:11: syntax error",
                 "9 problems, configuration test failed"):
        assert want in err, err
    good = tmp_path / "good.ini"
    good.write_text("[pgrouter]\nauth_type = trust\n[databases]\napp = host=127.0.0.1\n")
    rc, out, err = run_bin("-t", str(good))
    assert rc == 0 and "configuration test is successful" in err, err
    rc, out, err = run_bin("--check", str(tmp_path / "missing.ini"))
    assert rc == 1 and "missing.ini" in err


def test_scram_secret_logs_a_client_in(pgrouter, cluster, tmp_path):
    """--scram-secret's line in an auth_file lets the user in with that password (and only with it)."""
    rc, line, err = run_bin("--scram-secret=pgr_app", stdin="pgr_app\n")
    assert rc == 0, err
    assert line.startswith('"pgr_app" "SCRAM-SHA-256$4096:') and line.endswith('"\n'), line
    rc2, line2, _ = run_bin("--scram-secret", "pgr_app", stdin="pgr_app\n")
    assert rc2 == 0 and line2 != line  # a fresh salt each time
    rc, _, err = run_bin("--scram-secret=x", stdin="")
    assert rc == 1 and "no password" in err
    proxy = pgrouter(launch=False)
    auth = proxy.workdir / "userlist.txt"
    auth.write_text(line)
    auth.chmod(0o644)
    proxy.settings.update(auth_type="scram-sha-256", auth_file=str(auth))
    proxy.start()
    with proxy.connect(user="pgr_app", password="pgr_app") as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "pgr_app"
    with pytest.raises(psycopg.OperationalError):
        proxy.connect(user="pgr_app", password="wrong").close()


def test_syslog(pgrouter, tmp_path):
    """syslog = 1: lines reach the local syslog socket with syslog_ident and syslog_facility's priority."""
    dev_log = Path("/dev/log")
    if os.geteuid() != 0 or dev_log.exists() or not os.access("/dev", os.W_OK):
        pytest.skip("needs root and no syslog daemon on /dev/log (the test takes its place)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(dev_log))
    try:
        dev_log.chmod(0o666)
        sock.settimeout(10)
        proxy = pgrouter(syslog=1, syslog_ident="pgr-test", syslog_facility="local3")
        seen = []
        while not any("listening on" in s for s in seen):
            seen.append(sock.recv(4096).decode(errors="replace"))
        line = next(s for s in seen if "listening on" in s)
        # <PRI> = facility * 8 + severity: local3 (19) and info (6).
        assert line.startswith(f"<{19 * 8 + 6}>") and "pgr-test[" in line and "level=info" in line, line
        proxy.write_config(syslog_ident="pgr-other")
        proxy.reload()
        with proxy.connect() as conn:
            conn.execute("SELECT 1")
        more = []
        while not any("pgr-other[" in s for s in more):
            more.append(sock.recv(4096).decode(errors="replace"))
    finally:
        sock.close()
        dev_log.unlink()
