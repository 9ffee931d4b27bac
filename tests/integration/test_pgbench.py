"""pgbench through the proxy: initialisation, select-only and TPC-B, simple and extended
protocol, with zero failed transactions."""

import os
import re
import subprocess

import pytest

from helpers import db_entry

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
BENCH_DB = "pgr_bench"


@pytest.fixture(scope="module")
def bench_db(cluster):
    """A database for pgbench, dropped afterwards."""
    cluster.sql(cluster.primary, f"DROP DATABASE IF EXISTS {BENCH_DB}")
    cluster.sql(cluster.primary, f"CREATE DATABASE {BENCH_DB}")
    yield BENCH_DB
    cluster.sql(cluster.primary, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def pgbench(pgr, *args, timeout=120):
    """Run pgbench against the proxy; return its combined output, failing on a non-zero exit."""
    if not os.access(PGBENCH, os.X_OK):
        pytest.fail(f"{PGBENCH} missing: install postgresql-15 (or postgresql-client-15)")
    argv = [PGBENCH, "-h", "127.0.0.1", "-p", str(pgr.port), "-U", "postgres", *args, BENCH_DB]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench {' '.join(args)} exited {r.returncode}:\n{out}"
    return out


@pytest.mark.pgr_timeout(240)
def test_pgbench_init_select_only_and_tpcb(pgrouter, cluster, bench_db):
    pgr = pgrouter(pool_mode="transaction", default_pool_size=8, max_client_conn=100,
                   databases={BENCH_DB: db_entry(cluster, BENCH_DB),
                              "postgres": db_entry(cluster)})
    pgbench(pgr, "-i", "-s", "5", "-q")
    accounts = cluster.sql(cluster.primary, "SELECT count(*) FROM pgbench_accounts",
                           dbname=BENCH_DB)[0][0]
    assert accounts == 500_000
    for mode in ("simple", "extended"):
        for script in ("-S", "-b tpcb-like"):
            out = pgbench(pgr, *script.split(), "-M", mode, "-c", "12", "-j", "2", "-T", "3")
            processed = re.search(r"number of transactions actually processed: (\d+)", out)
            failed = re.search(r"number of failed transactions: (\d+)", out)
            assert processed and int(processed.group(1)) > 100, out
            assert failed and int(failed.group(1)) == 0, out
