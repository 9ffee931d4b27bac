#!/usr/bin/env python3
"""Throwaway TLS material for tests: a CA, a server certificate and client certificates.

Everything is generated on the fly with the `openssl` command-line tool (EC P-256 keys, so it
takes milliseconds) and lives only in the directory the caller gives; nothing here is meant to
be committed or trusted outside a test run.

As a library:
    ca = CertAuthority.create("/tmp/x/ca")              # ca.cert, ca.key
    srv = ca.issue("/tmp/x", "server", cn="localhost", dns=["localhost"], ips=["127.0.0.1"])
    cli = ca.issue("/tmp/x", "alice", cn="alice", client=True)   # srv.cert, srv.key
As a CLI:
    certs.py --dir D [--client CN ...]   (prints the paths as JSON)
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile

DAYS = 3
# Certificates serials must differ within one CA; a counter per process is enough for tests.
_serials = itertools.count(1000 + os.getpid() % 100000 * 1000)


class CertError(RuntimeError):
    """openssl failed; the message holds its output."""


def _openssl(*args, cwd=None):
    """Run one openssl command; raise CertError with its output if it fails."""
    r = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise CertError(f"openssl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def _new_key(path):
    """Write a fresh EC P-256 private key (PKCS#8 PEM, mode 0600) to path."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


class Issued:
    """A certificate and its key on disk."""

    def __init__(self, cert, key, cn):
        self.cert, self.key, self.cn = cert, key, cn

    def __repr__(self):
        return f"Issued(cn={self.cn!r}, cert={self.cert!r})"

    def fingerprint(self):
        """SHA-256 fingerprint of the certificate as lowercase hex without colons."""
        out = _openssl("x509", "-in", self.cert, "-noout", "-fingerprint", "-sha256")
        return out.strip().split("=", 1)[1].replace(":", "").lower()


class CertAuthority:
    """A self-signed CA that issues server and client certificates."""

    def __init__(self, cert, key, name):
        self.cert, self.key, self.name = cert, key, name

    @classmethod
    def create(cls, directory, name="pgrouter test CA"):
        """Make directory (if needed) and a new CA in it: ca.crt and ca.key."""
        os.makedirs(directory, exist_ok=True)
        cert, key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
        _new_key(key)
        _openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", str(DAYS),
                 "-subj", f"/CN={name}", "-set_serial", str(next(_serials)),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash")
        return cls(cert, key, name)

    def issue(self, directory, stem, cn, dns=(), ips=(), client=False):
        """Issue a leaf certificate: <stem>.crt and <stem>.key in directory.

        A server certificate (client=False) carries the given DNS names and IP addresses as
        subjectAltName; a client certificate is for TLS client authentication with CN = cn."""
        os.makedirs(directory, exist_ok=True)
        cert, key = os.path.join(directory, stem + ".crt"), os.path.join(directory, stem + ".key")
        _new_key(key)
        ext = ["basicConstraints=critical,CA:FALSE",
               "keyUsage=critical,digitalSignature",
               "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"),
               "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid,issuer"]
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        if sans:
            ext.append("subjectAltName=" + ",".join(sans))
        with tempfile.TemporaryDirectory() as tmp:
            csr, extfile = os.path.join(tmp, "req.csr"), os.path.join(tmp, "ext.cnf")
            with open(extfile, "w") as f:
                f.write("\n".join(ext) + "\n")
            _openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={cn}")
            _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                     "-set_serial", str(next(_serials)), "-days", str(DAYS), "-sha256",
                     "-extfile", extfile, "-out", cert)
        return Issued(cert, key, cn)

    def issue_server(self, directory, stem="server", names=("localhost",), ips=("127.0.0.1",)):
        """A server certificate for localhost / 127.0.0.1 (CN is the first name)."""
        return self.issue(directory, stem, cn=names[0], dns=names, ips=ips)

    def issue_client(self, directory, cn):
        """A client certificate whose CN is cn (file stem client-<cn>)."""
        return self.issue(directory, f"client-{cn}", cn=cn, client=True)


def main(argv=None):
    """CLI: make a CA, a localhost server certificate and the requested client certificates."""
    ap = argparse.ArgumentParser(description="throwaway CA + server/client certificates")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--client", action="append", default=[], metavar="CN")
    args = ap.parse_args(argv)
    try:
        ca = CertAuthority.create(args.dir)
        srv = ca.issue_server(args.dir)
        clients = {cn: ca.issue_client(args.dir, cn) for cn in args.client}
    except CertError as e:
        print(f"certs.py: {e}", file=sys.stderr)
        return 1
    out = {"ca": ca.cert, "server": {"cert": srv.cert, "key": srv.key},
           "clients": {cn: {"cert": c.cert, "key": c.key} for cn, c in clients.items()}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
