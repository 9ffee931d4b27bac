#!/usr/bin/env python3
"""Run node-postgres's own integration tests file by file: directly, and through pgrouter in session and transaction mode.

A manual, recorded run (like the benchmarks in bench/), not part of `make test`: it needs
node-postgres's test files, which the npm package does not ship, so they come from a checkout of
its repository that this script never copies into ours.

    # 1. a scratch copy: the tests of a node-postgres commit + the published `pg` of our lockfile
    /usr/bin/python3 scripts/node_postgres_suite.py prepare --git-dir NODE_POSTGRES.git \\
        [--ref pg@8.23.1] --into /tmp/node-postgres
    # 2. the run: primary + 2 replicas, pgrouter in session and in transaction mode, every file
    /usr/bin/python3 scripts/node_postgres_suite.py run --suite /tmp/node-postgres \\
        [--timeout 60] [--only SUBSTRING] [--modes direct,session,transaction[,transaction-primary]]
        [--verbose]

`prepare` takes `packages/pg/test` from the git ref (default: the tag of the `pg` version in
tests/integration/node/package-lock.json) and `lib/` from that published npm version, so the client
under test is the one our own node tests use; it installs pg's dependencies and the test-only ones
(async, bluebird, co, pg-copy-streams) into the scratch directory.

`run` prints a Markdown table (file, direct, session, transaction) and keeps every file's output
under the work directory (--work, default a fresh /tmp/pgr-node-suite.*), with pgrouter's logs.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCKFILE = os.path.join(REPO, "tests", "integration", "node", "package-lock.json")
CLUSTER_PY = os.path.join(REPO, "tests", "harness", "cluster.py")
PGROUTER = os.path.join(REPO, "build", "pgrouter")
PYTHON = "/usr/bin/python3"
MODES = ("direct", "session", "transaction")
# Optional extra column: transaction mode with the primary alone (no read routing), to tell what
# read routing changes from what transaction pooling changes.
PROXY_MODES = {"session": ("session", True), "transaction": ("transaction", True),
               "transaction-primary": ("transaction", False)}
# Test-only modules the integration files require (node-postgres's devDependencies).
TEST_DEPS = ("async", "bluebird", "co", "pg-copy-streams")


def pg_version():
    """The `pg` version pinned by our node tests' lockfile."""
    with open(LOCKFILE) as f:
        return json.load(f)["packages"]["node_modules/pg"]["version"]


def sh(argv, **kw):
    """Run argv, fail loudly with its output if it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def prepare(args):
    """Build the scratch suite directory: tests from git, lib from npm, dependencies installed."""
    version = pg_version()
    ref = args.ref or f"pg@{version}"
    into = os.path.abspath(args.into)
    if os.path.commonpath([into, REPO]) == REPO:
        sys.exit("--into must be outside the pgrouter repository")
    commit = sh(["git", "--git-dir", args.git_dir, "rev-parse", f"{ref}^{{commit}}"]).strip()
    shutil.rmtree(into, ignore_errors=True)
    os.makedirs(into)
    archive = subprocess.run(["git", "--git-dir", args.git_dir, "archive", commit, "packages/pg/test"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "x", "-C", into], input=archive, check=True)
    pkg_dir = os.path.join(into, "packages", "pg")
    tgz = sh(["npm", "pack", "--silent", f"pg@{version}"], cwd=into).strip().splitlines()[-1]
    os.makedirs(os.path.join(into, "npm"))
    sh(["tar", "xzf", os.path.join(into, tgz), "-C", os.path.join(into, "npm")])
    published = os.path.join(into, "npm", "package")
    shutil.copytree(os.path.join(published, "lib"), os.path.join(pkg_dir, "lib"))
    shutil.copy(os.path.join(published, "package.json"), pkg_dir)
    with open(os.path.join(published, "package.json")) as f:
        meta = json.load(f)
    # With git's package.json: the test-only module versions node-postgres pins at that commit.
    src_meta = json.loads(sh(["git", "--git-dir", args.git_dir, "show", f"{commit}:packages/pg/package.json"]))
    deps = dict(meta["dependencies"])
    deps.update({name: src_meta["devDependencies"][name] for name in TEST_DEPS})
    # Dependencies live one level up so node resolves them from packages/pg without a package.json
    # there asking npm for the Cloudflare/vitest devDependencies.
    with open(os.path.join(into, "package.json"), "w") as f:
        json.dump({"name": "node-postgres-suite-scratch", "private": True, "dependencies": deps}, f, indent=1)
    sh(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=optional"], cwd=into)
    with open(os.path.join(into, "SUITE"), "w") as f:
        f.write(f"pg {version} (npm lib), tests from {ref} = {commit}\n")
    print(f"prepared {into}: pg {version} from npm, tests from {ref} ({commit})")


def find_files(pkg_dir, only):
    """Every *-tests.js under test/integration, sorted, as paths relative to packages/pg."""
    found = []
    for root, _dirs, files in os.walk(os.path.join(pkg_dir, "test", "integration")):
        for name in files:
            if name.endswith("-tests.js"):
                rel = os.path.relpath(os.path.join(root, name), pkg_dir)
                if not only or any(o in rel for o in only):
                    found.append(rel)
    return sorted(found)


def write_pgrouter_ini(path, port, cluster, pool_mode, with_replicas):
    """A pgrouter config: trust, one database routed over the primary and both replicas (or on the
    primary alone)."""
    nodes = {n["name"]: n["port"] for n in cluster["nodes"]}
    replicas = ",".join(f"127.0.0.1:{p}" for name, p in sorted(nodes.items()) if name != "primary")
    lines = [
        "[databases]",
        f"postgres = host=127.0.0.1 port={nodes['primary']} dbname=postgres"
        + (f" replicas={replicas}" if with_replicas else ""),
        # Any other database (a test runs psql against template1) on the primary, as PgBouncer's "*".
        f"* = host=127.0.0.1 port={nodes['primary']}",
        "[pgrouter]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "auth_type = trust",
        "admin_users = postgres",
        f"pool_mode = {pool_mode}",
        "default_pool_size = 10",
        "max_client_conn = 500",
    ]
    if os.geteuid() == 0:
        lines.append("user = postgres")    # pgrouter will not keep running as root
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def free_port():
    """A loopback port nothing listens on (the harness's own chooser)."""
    sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
    import cluster as harness
    return harness.pick_ports(1)[0]


def wait_listening(port, proc, timeout=10.0):
    """Wait until something accepts on 127.0.0.1:port, or fail if proc exited."""
    import socket
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            sys.exit(f"pgrouter exited with {proc.returncode} at startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"pgrouter not listening on {port} after {timeout}s")
            time.sleep(0.05)


def run_file(pkg_dir, rel, port, timeout, log_path):
    """Run one test file the way node-postgres's Makefile does; 'pass', 'FAIL (rc)' or 'TIMEOUT'."""
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(port), PGUSER="postgres",
               PGDATABASE="postgres", PGTESTNOSSL="1")
    env.pop("PGPASSWORD", None)
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["node", rel, "postgres://"], cwd=pkg_dir, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            verdict = "pass" if rc == 0 else f"FAIL ({rc})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            verdict = "TIMEOUT"
        log.write(f"\n[runner] {verdict} after {time.monotonic() - start:.1f}s\n")
    return verdict


def run(args):
    """Start the cluster and both pgrouters, run every file in every mode, print the table."""
    pkg_dir = os.path.join(os.path.abspath(args.suite), "packages", "pg")
    files = find_files(pkg_dir, args.only)
    if not files:
        sys.exit(f"no test files under {pkg_dir}/test/integration")
    modes = args.modes.split(",")
    unknown = [m for m in modes if m != "direct" and m not in PROXY_MODES]
    if unknown:
        sys.exit(f"unknown mode(s) {unknown}; known: direct, {', '.join(PROXY_MODES)}")
    work = args.work or tempfile.mkdtemp(prefix="pgr-node-suite.")
    os.makedirs(work, exist_ok=True)
    cdir = os.path.join(work, "cluster")
    out = sh([PYTHON, CLUSTER_PY, "start", "--dir", cdir, "--replicas", "2", "--json"])
    cluster = json.loads(out)
    ports = {"direct": next(n["port"] for n in cluster["nodes"] if n["name"] == "primary")}
    procs = []
    started = time.monotonic()
    try:
        for mode, (pool_mode, with_replicas) in PROXY_MODES.items():
            if mode not in modes:
                continue
            port = free_port()
            ini = os.path.join(work, f"pgrouter-{mode}.ini")
            write_pgrouter_ini(ini, port, cluster, pool_mode, with_replicas)
            argv = [PGROUTER] + (["-v", "-v"] if args.verbose else []) + [ini]
            with open(os.path.join(work, f"pgrouter-{mode}.log"), "w") as err:
                proc = subprocess.Popen(argv, stdout=err, stderr=subprocess.STDOUT, cwd=work)
            procs.append(proc)
            wait_listening(port, proc)
            ports[mode] = port
        results = {}
        for rel in files:
            results[rel] = {}
            for mode in modes:
                log_dir = os.path.join(work, "logs", mode)
                os.makedirs(log_dir, exist_ok=True)
                log_path = os.path.join(log_dir, rel.replace("/", "__") + ".log")
                results[rel][mode] = run_file(pkg_dir, rel, ports[mode], args.timeout, log_path)
            print(f"{rel}: " + ", ".join(f"{m} {results[rel][m]}" for m in modes), file=sys.stderr,
                  flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep_cluster:
            subprocess.run([PYTHON, CLUSTER_PY, "stop", "--dir", cdir], capture_output=True)
    suite_note = ""
    try:
        with open(os.path.join(os.path.abspath(args.suite), "SUITE")) as f:
            suite_note = f.read().strip()
    except OSError:
        pass
    head = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).strip()
    print(f"node-postgres integration tests, {datetime.date.today()}, pgrouter {head}; {suite_note}; "
          f"per-file timeout {args.timeout}s; {time.monotonic() - started:.0f}s; outputs in {work}\n")
    print("| file | " + " | ".join(modes) + " |")
    print("|---|" + "---|" * len(modes))
    for rel in files:
        print(f"| {rel[len('test/integration/'):]} | " + " | ".join(results[rel][m] for m in modes) + " |")
    totals = {m: sum(r[m] == "pass" for r in results.values()) for m in modes}
    print("\npassed: " + ", ".join(f"{m} {totals[m]}/{len(files)}" for m in modes))
    regress = [rel for rel, r in results.items()
               if r.get("direct") == "pass" and any(r[m] != "pass" for m in modes if m != "direct")]
    if regress:
        print("pass directly, not through pgrouter: " + ", ".join(regress))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="build the scratch suite directory")
    p.add_argument("--git-dir", required=True, help="a node-postgres git (bare) repository")
    p.add_argument("--ref", help="commit or tag for the test files (default pg@<lockfile version>)")
    p.add_argument("--into", required=True, help="scratch directory, outside this repository")
    r = sub.add_parser("run", help="run every integration test file in every mode")
    r.add_argument("--suite", required=True, help="directory made by prepare")
    r.add_argument("--modes", default=",".join(MODES),
                   help="columns, from direct, " + ", ".join(PROXY_MODES))
    r.add_argument("--only", action="append", help="only files whose path contains this (repeatable)")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per file and mode")
    r.add_argument("--work", help="work directory (default: a new /tmp/pgr-node-suite.*)")
    r.add_argument("--verbose", action="store_true", help="run pgrouter with -v -v (routing decisions logged)")
    r.add_argument("--keep-cluster", action="store_true", help="leave PostgreSQL running afterwards")
    args = ap.parse_args()
    return prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
