"""Starting the proxies bench/run compares: pgrouter variants, PgBouncer and Pgpool-II, with
equivalent settings, and reading their counters."""

import os
import signal

from procs import (DB, PGBOUNCER, PGPOOL, Proxy, as_postgres, give_to_postgres, psql, run_as_settings,
                   write_file)


def pool_settings(opts):
    """Pooling settings given to pgrouter and PgBouncer, in PgBouncer's names (the fairness)."""
    return {"pool_mode": "transaction", "default_pool_size": str(opts.pool_size),
            "max_client_conn": str(opts.max_client_conn), "auth_type": "trust",
            "log_connections": "0", "log_disconnections": "0"}


def start_pgrouter(binary, name, port, cl, workdir, opts, routing=True, replicas=False,
                   extra=None, wrapper=(), timeout=15):
    """Write a pgrouter ini and start it in the foreground (it logs to stderr). routing=False is
    `routing = 0` (a plain pooler); replicas=True lists both replicas in the database entry, so
    that reads are routed to them. Without replicas= pgrouter still classifies and routes every
    statement, and every route ends on the primary: routing on vs off then isolates that cost.
    extra: more settings; wrapper: argv prefix (valgrind)."""
    p = Proxy(name, port, workdir)
    settings = {"listen_addr": "127.0.0.1", "listen_port": str(port), **pool_settings(opts),
                "workers": str(opts.workers), "routing": "1" if routing else "0",
                # Lets bench/run read SHOW STATS (routed_primary/routed_replica) between runs.
                "stats_users": "postgres", **run_as_settings(), **(extra or {})}
    entry = f"host=127.0.0.1 port={cl.primary.port} dbname={DB}"
    if replicas:
        entry += " replicas=" + ",".join(f"127.0.0.1:{r.port}" for r in cl.replicas)
    write_file(p.ini, f"[databases]\n{DB} = {entry}\n"
               "[pgrouter]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    # Under valgrind the tool itself must run as postgres: it writes its output file when pgrouter exits,
    # after pgrouter has switched to postgres (user = postgres when we are root).
    p.start(as_postgres([*wrapper, binary, p.ini]) if wrapper else [binary, p.ini], timeout=timeout)
    return p


def routed_counts(proxy):
    """(routed_primary, routed_replica) from a pgrouter's SHOW STATS, or None if it won't say."""
    if proxy is None or not proxy.name.startswith("pgrouter") or not proxy.alive():
        return None
    _, out, _ = psql(proxy.port, "SHOW STATS", dbname="pgrouter")
    stats = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    try:
        return int(stats["routed_primary"]), int(stats["routed_replica"])
    except (KeyError, ValueError):
        return None


def start_pgbouncer(port, pg_port, workdir, opts, name="pgbouncer", session_pool=None,
                    wrapper=(), timeout=15):
    """Write PgBouncer's ini and auth_file and start it as postgres (it will not run as root).
    session_pool: session pooling with that many server connections instead."""
    p = Proxy(name, port, workdir)
    auth_file = os.path.join(workdir, "userlist.txt")
    write_file(auth_file, '"postgres" ""\n')  # trust ignores the password; the user must exist
    settings = {"listen_addr": "127.0.0.1", "listen_port": str(port), **pool_settings(opts),
                "auth_file": auth_file, "unix_socket_dir": ""}
    if session_pool:
        settings.update(pool_mode="session", default_pool_size=str(session_pool))
    write_file(p.ini, "[databases]\n"
               f"{DB} = host=127.0.0.1 port={pg_port} dbname={DB}\n"
               "[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    p.start(as_postgres([*wrapper, PGBOUNCER, p.ini]), timeout=timeout)
    return p


def pgpool_conf(port, pcp_port, cl, rundir, children):
    """pgpool.conf text: streaming replication over the primary and both replicas, load balancing
    and connection cache on, one pre-forked child per client, no pcp over TCP, no watchdog, no
    failover (a slow node under load must not be detached mid-run), warnings-only logging."""
    s = {"backend_clustering_mode": "'streaming_replication'",
         "listen_addresses": "'127.0.0.1'", "port": str(port),
         "unix_socket_directories": f"'{rundir}'", "pcp_listen_addresses": "''",
         "pcp_port": str(pcp_port), "pcp_socket_dir": f"'{rundir}'",
         # trust everywhere: pgpool passes authentication through to the backends. An empty
         # pool_passwd file (not '') keeps it from warning every client about a missing one.
         "enable_pool_hba": "off", "pool_passwd": f"'{rundir}/pool_passwd'",
         "num_init_children": str(children), "max_pool": "1", "reserved_connections": "0",
         "child_life_time": "0", "child_max_connections": "0", "connection_life_time": "0",
         "client_idle_limit": "0", "connection_cache": "on", "load_balance_mode": "on",
         "sr_check_period": "10", "sr_check_user": "'postgres'", "sr_check_password": "''",
         "sr_check_database": "'postgres'", "health_check_period": "10",
         "health_check_user": "'postgres'", "health_check_password": "''",
         "health_check_database": "'postgres'", "failover_on_backend_error": "off",
         "use_watchdog": "off", "memory_cache_enabled": "off", "log_destination": "'stderr'",
         "log_min_messages": "warning", "log_connections": "off", "log_disconnections": "off",
         "log_statement": "off", "log_per_node_statement": "off",
         "pid_file_name": f"'{rundir}/pgpool.pid'", "logdir": f"'{rundir}'"}
    for i, node in enumerate(cl.nodes):
        s.update({f"backend_hostname{i}": "'127.0.0.1'", f"backend_port{i}": str(node.port),
                  f"backend_weight{i}": "1", f"backend_flag{i}": "'ALLOW_TO_FAILOVER'"})
    return "".join(f"{k} = {v}\n" for k, v in s.items())


def start_pgpool(port, pcp_port, cl, workdir, children):
    """Start Pgpool-II as postgres with num_init_children = children (a pgbench client holds a
    child for the whole run, so there must be one per client); wait until it answers."""
    rundir = os.path.join(workdir, "pgpool")
    os.makedirs(rundir, exist_ok=True)
    give_to_postgres(rundir)
    p = Proxy("pgpool", port, workdir, tree=True, stop_signal=signal.SIGINT)  # SIGINT: fast stop
    p.size = children
    write_file(os.path.join(rundir, "pool_passwd"), "", mode=0o600)
    write_file(os.path.join(rundir, "pcp.conf"), "")
    write_file(p.ini, pgpool_conf(port, pcp_port, cl, rundir, children))
    # -n: foreground, -D: forget node states from an earlier start (a restart per client count).
    p.start(as_postgres([PGPOOL, "-n", "-D", "-f", p.ini, "-F", os.path.join(rundir, "pcp.conf")]),
            timeout=60 + children // 20)
    return p


def pgpool_select_counts(proxy):
    """SELECTs Pgpool-II sent to each node so far ({node port: count}), from SHOW POOL_NODES."""
    if proxy is None or not proxy.alive():
        return None
    rc, out, _ = psql(proxy.port, "SHOW POOL_NODES")
    if rc != 0:
        return None
    counts = {}
    for line in out.splitlines():
        f = line.split("=")
        if len(f) > 8 and f[8].isdigit():  # node_id, host, port, status, … select_cnt
            counts[f[2]] = int(f[8])
    return counts
