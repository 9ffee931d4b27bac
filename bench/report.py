"""bench/run's tables and results file: throughput with ratios, CPU, idle memory, instructions,
the performance targets marked met / not met, and the machine and versions."""

import datetime
import os
import platform
import subprocess

from procs import PGBENCH, PGBOUNCER, PGPOOL, REPO

NOISY_PCT = 25  # CPU used by unrelated processes during a run, in % of one core, worth a warning
SESSION_ONLY = "pgbouncer-session"
LABEL = {"pgbouncer": "PgBouncer", "pgpool": "Pgpool-II"}


def fmt(v, spec, missing="–"):
    """Format a number, or a dash if it is missing."""
    return missing if v is None else format(v, spec)


def ratio(a, b):
    """a/b as '0.93×', or a dash."""
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}×"


def table(rows):
    """Markdown table text from a header row and data rows."""
    rows = [rows[0], ["---"] * len(rows[0])] + rows[1:]
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


def per100k(res):
    """Proxy CPU seconds per 100,000 queries for a run, or None."""
    if res is None or res.get("cpu") is None or not res.get("processed"):
        return None
    return res["cpu"] * 100000 / (res["processed"] * res["queries_per_tx"])


def cell(res):
    """A run's TPS for a table cell: the number, 'n/a' or 'error'."""
    if res is None:
        return "–"
    if res.get("na"):
        return "n/a"
    return fmt(res["tps"], ".0f", "error")


class Lookup:
    """Results by (case name, target); a +replicas row reads its other targets from its base."""

    def __init__(self, results):
        self.by = {(r["case"], r["target"]): r for r in results}

    def get(self, case, target):
        """The run of target in case (for pgbouncer: the session-mode one in prepared cases)."""
        name = case.base.name if case.base is not None and target != "pgrouter" else case.name
        r = self.by.get((name, target))
        if r is None and target == "pgbouncer":
            r = self.by.get((name, SESSION_ONLY))
        return r

    def tps(self, case, target):
        """TPS of that run, or None."""
        r = self.get(case, target)
        return r["tps"] if r and not r.get("na") else None


def throughput_table(results, cases, targets):
    """Markdown table: TPS per target and pgrouter's ratios to each other target."""
    look = Lookup(results)
    cols = [t for t in ("direct", "pgrouter", "pgrouter-norouting", "pgbouncer", "pgpool")
            if t in targets or (t == "pgbouncer" and SESSION_ONLY in targets)]
    head = ["case"] + [f"{LABEL.get(t, t)} TPS" for t in cols]
    others = [t for t in ("direct", "pgbouncer", "pgpool") if t in cols]
    head += [f"pgrouter/{LABEL.get(t, t)}" for t in others if "pgrouter" in cols]
    if "pgrouter" in cols and "pgrouter-norouting" in cols:
        head.append("routing on/off")
    head.append("failed")
    rows = [head]
    for c in cases:
        row = [c.name]
        for t in cols:
            r = look.get(c, t)
            if c.base is not None and t != "pgrouter":
                row.append("–")
            else:
                row.append(cell(r) + (" (session)" if r and r["target"] == SESSION_ONLY else ""))
        if "pgrouter" in cols:
            row += [ratio(look.tps(c, "pgrouter"), look.tps(c, t)) for t in others]
            if "pgrouter-norouting" in cols:
                row.append(ratio(look.tps(c, "pgrouter"), look.tps(c, "pgrouter-norouting")))
        row.append(" ".join(f"{r['target']}:{failed_text(r)}"
                            for r in results if r["case"] == c.name and not r.get("na")
                            and (r["failed"] or r["aborted"] or r["error"])) or "none")
        rows.append(row)
    return table(rows)


def ryw_table(results, cases):
    """Markdown table for read-your-writes cost: TPC-B through pgrouter with replicas, lsn vs off."""
    look = Lookup(results)
    rows = [["case", "pgrouter-replicas (read_your_writes = lsn) TPS",
             "pgrouter-rywoff (read_your_writes = off) TPS", "lsn/off"]]
    for c in cases:
        a, b = look.get(c, "pgrouter-replicas"), look.get(c, "pgrouter-rywoff")
        if a or b:
            rows.append([c.name, cell(a), cell(b),
                         ratio(look.tps(c, "pgrouter-replicas"), look.tps(c, "pgrouter-rywoff"))])
    return table(rows) if len(rows) > 1 else ""


def cpu_table(results, cases, targets):
    """Markdown table: proxy CPU seconds per 100k queries per proxy, and pgrouter/PgBouncer."""
    look = Lookup(results)
    cols = [t for t in ("pgrouter", "pgrouter-norouting", "pgbouncer", "pgpool")
            if t in targets or (t == "pgbouncer" and SESSION_ONLY in targets)]
    rows = [["case"] + [f"{LABEL.get(t, t)}" for t in cols] + ["pgrouter/PgBouncer"]]
    for c in cases:
        if c.base is not None:
            continue
        vals = {t: per100k(look.get(c, t)) for t in cols}
        rows.append([c.name] + [("n/a" if (look.get(c, t) or {}).get("na") else fmt(vals[t], ".2f"))
                                for t in cols]
                    + [ratio(vals.get("pgrouter"), vals.get("pgbouncer"))])
    return table(rows)


def failed_text(res):
    """Failed transactions of a run, with aborted clients if any ('?' when unknown)."""
    if res is None or res["failed"] is None:
        return "error" if res and res["error"] else "?"
    return str(res["failed"]) + (f"+{res['aborted']}ab" if res["aborted"] else "")


def noise_note(results):
    """A warning naming the runs during which other programs used much CPU, or ''."""
    noisy = [f"{r['target']} {r['case']} ({r['other_pct']:.0f}%)" for r in results
             if r.get("other_pct") is not None and r["other_pct"] > NOISY_PCT]
    if not noisy:
        return ""
    return (f"Warning: other processes used more than {NOISY_PCT}% of a core during: "
            + "; ".join(noisy) + ". Those numbers are less trustworthy; rerun on a quiet machine.")


def churn_note(results, pool_size):
    """A note naming the pooled runs that logged in to the primary more than twice the pool size
    (server connections closed and reopened during the run), or ''. Every such login forks a
    backend while clients wait, which explains a low TPS with little proxy CPU."""
    churned = [f"{r['target']} {r['case']} ({r['logins']})" for r in results
               if r["target"] not in ("direct", SESSION_ONLY) and not r.get("na")
               and r.get("logins") is not None and r["logins"] > 2 * pool_size]
    if not churned:
        return ""
    return (f"Server connection churn: these pooled runs logged in to the primary more than "
            f"{2 * pool_size} times (pool size {pool_size}): " + "; ".join(churned)
            + ". Each login starts a backend while clients wait; see \"logins on the primary\".")


def replica_pct(res):
    """Share of the statements pgrouter routed during a run that went to a replica, in %, or None."""
    if not res.get("routed") or sum(res["routed"]) == 0:
        return None
    return 100 * res["routed"][1] / sum(res["routed"])


def detail_table(results, duration):
    """Markdown table with every run's raw numbers."""
    rows = [["case", "target", "TPS", "latency ms", "transactions", "failed", "aborted clients",
             "login time s", "logins on the primary", "proxy CPU s", "proxy CPU % of a core",
             "CPU-s/100k queries", "on replicas %", "other load % of a core", "error or n/a"]]
    for r in results:
        if r.get("na"):
            rows.append([r["case"], r["target"]] + ["n/a"] + ["–"] * 11 + [r["na"]])
            continue
        cpu_pct = None if r["cpu"] is None or not r["wall"] else 100 * r["cpu"] / r["wall"]
        rows.append([r["case"], r["target"], fmt(r["tps"], ".0f"), fmt(r["latency_ms"], ".3f"),
                     fmt(r["processed"], "d"), fmt(r["failed"], "d"), r["aborted"],
                     fmt(r["connect_ms"] and r["connect_ms"] / 1000, ".1f"),
                     fmt(r["logins"], "d"), fmt(r["cpu"], ".2f"), fmt(cpu_pct, ".0f"),
                     fmt(per100k(r), ".2f"),
                     fmt(replica_pct(r), ".0f"), fmt(r["other_pct"], ".0f"), r["error"] or ""])
    return table(rows)


def idle_table(idle):
    """Markdown table: proxy RSS before/after the idle clients, bytes per client."""
    rows = [["proxy", "idle clients", "RSS before kB", "RSS with clients kB", "bytes per client"]]
    for name, m in idle.items():
        if m.get("na"):
            rows.append([LABEL.get(name, name), "–", "–", "–", "n/a: " + m["na"]])
        else:
            rows.append([LABEL.get(name, name), m["clients"], m["rss0"], m["rss1"],
                         f"{m['per_client']:.0f}"])
    if "pgrouter" in idle and "pgbouncer" in idle and not idle["pgrouter"].get("na") \
            and not idle["pgbouncer"].get("na"):
        rows.append(["pgrouter/PgBouncer", "", "", "",
                     ratio(idle["pgrouter"]["per_client"], idle["pgbouncer"]["per_client"])])
    return table(rows)


def callgrind_table(cg):
    """Markdown table: callgrind instructions per forwarded query per proxy, and the ratio."""
    rows = [["proxy", "Ir (short run)", "Ir (long run)", "extra queries", "instructions per query"]]
    for name, m in cg.items():
        if m.get("na"):
            rows.append([LABEL.get(name, name), "–", "–", "–", "n/a: " + m["na"]])
        else:
            rows.append([LABEL.get(name, name), f"{m['ir_small']:,}", f"{m['ir_large']:,}",
                         f"{m['queries']:,}", f"{m['per_query']:,.0f}"])
    ok = {n: m["per_query"] for n, m in cg.items() if not m.get("na")}
    if "pgrouter" in ok and "pgbouncer" in ok:
        rows.append(["pgrouter/PgBouncer", "", "", "", ratio(ok["pgrouter"], ok["pgbouncer"])])
    return table(rows)


# ----- the performance targets -------------------------------------------------------------------

def verdict(value, goal, lower_is_better=False):
    """'met' / 'not met' / 'not measured' for a value against a goal."""
    if value is None:
        return "not measured"
    ok = value <= goal if lower_is_better else value >= goal
    return "met" if ok else "not met"


def targets_table(results, cases, ctx):
    """Markdown table of the performance targets with what this run measured."""
    look = Lookup(results)
    rows = [["target", "measured", "verdict"]]

    def tps_ratio(c, a, b):
        x, y = look.tps(c, a), look.tps(c, b)
        return x / y if x is not None and y else None

    def add(what, value, goal, lower=False, unit="×"):
        shown = "–" if value is None else (f"{value:.2f}×" if unit == "×" else
                                          f"{value:,.0f} {unit}")
        rows.append([what, shown, verdict(value, goal, lower)])

    for c in cases:
        if c.base is not None or not c.name.startswith("select-only"):
            continue
        # Lookup gives the session-mode PgBouncer in -M prepared cases: say so in the label.
        bouncer = "PgBouncer (session mode)" if c.prepared else "PgBouncer"
        if c.clients in (32, 100):
            add(f"{c.name}: pgrouter ≥ 1.15× {bouncer}", tps_ratio(c, "pgrouter", "pgbouncer"),
                1.15)
            add(f"{c.name}: pgrouter ≥ 0.95× direct", tps_ratio(c, "pgrouter", "direct"), 0.95)
            add(f"{c.name}: routing on ≥ 0.95× off",
                tps_ratio(c, "pgrouter", "pgrouter-norouting"), 0.95)
        if c.clients >= 1000:
            add(f"{c.name}: pgrouter ≥ 1.3× {bouncer}", tps_ratio(c, "pgrouter", "pgbouncer"),
                1.3)
    for c in cases:
        if c.tpcb and c.base is None:
            add(f"{c.name}: pgrouter ≥ 1.0× PgBouncer", tps_ratio(c, "pgrouter", "pgbouncer"), 1.0)
            add(f"{c.name}: read_your_writes lsn ≥ 0.95× off",
                tps_ratio(c, "pgrouter-replicas", "pgrouter-rywoff"), 0.95)
    cpu_case = next((c for c in cases if c.name == ctx.get("cpu_case")), None)
    if cpu_case:
        a, b = per100k(look.get(cpu_case, "pgrouter")), per100k(look.get(cpu_case, "pgbouncer"))
        add(f"proxy CPU per query ({cpu_case.name}) ≤ 0.6× PgBouncer",
            a / b if a is not None and b else None, 0.6, lower=True)
    cg = ctx.get("callgrind", {})
    if cg:
        a, b = (cg.get(n, {}).get("per_query") for n in ("pgrouter", "pgbouncer"))
        add("callgrind instructions per query ≤ 0.6× PgBouncer",
            a / b if a is not None and b else None, 0.6, lower=True)
    idle = ctx.get("idle", {}).get("pgrouter")
    if idle is not None:
        add(f"idle memory at {idle.get('clients', '?')} clients ≤ 1,000 bytes per client",
            idle.get("per_client"), 1000, lower=True, unit="B/client")
    return table(rows)


# ----- machine and versions ------------------------------------------------------------------

def cpu_model():
    """The CPU model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    """The 1/5/15-minute load averages from /proc/loadavg."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def first_line(argv):
    """First output line of a command, or a note that it failed."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return f"({argv[0]} did not say)"


def git_describe():
    """Commit of the working tree, marked dirty when there are uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" + uncommitted changes" if dirty else "")


def machine_lines(binary, server_version, load):
    """Bullet lines describing the machine and the software versions."""
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    # With PGROUTER_BIN the binary may predate the working tree: say when it was built.
    built = datetime.datetime.fromtimestamp(os.path.getmtime(binary)).astimezone() \
        .strftime("%Y-%m-%d %H:%M %Z")
    return [f"- machine: {os.cpu_count()} CPUs (`nproc`: {first_line(['nproc'])}), "
            f"{cpu_model()}, {mem_gb:.0f} GiB RAM, Linux {platform.release()}",
            f"- load average before the run (other work on the machine): {load}",
            f"- pgrouter: {first_line([binary, '-V'])}, binary `{binary}` built {built}, "
            f"working tree {git_describe()}",
            f"- PgBouncer: {first_line([PGBOUNCER, '--version'])}",
            f"- Pgpool-II: {first_line([PGPOOL, '--version'])}",
            f"- PostgreSQL: {server_version}",
            f"- pgbench: {first_line([PGBENCH, '--version'])}"]


def results_path(name):
    """bench/results/YYYY-MM-DD-<name>.md, with -2, -3 … appended rather than overwriting."""
    outdir = os.path.join(REPO, "bench", "results")
    os.makedirs(outdir, exist_ok=True)
    stem = f"{datetime.date.today().isoformat()}-{name}"
    path, n = os.path.join(outdir, stem + ".md"), 2
    while os.path.exists(path):
        path, n = os.path.join(outdir, f"{stem}-{n}.md"), n + 1
    return path


def settings_lines(ctx, opts):
    """Bullet lines saying how every target was configured and how each figure was measured."""
    rr = opts.replicas_routing
    return [
        f"- pgrouter and PgBouncer: `pool_mode = transaction`, `default_pool_size = "
        f"{opts.pool_size}`, `max_client_conn = {opts.max_client_conn}`, trust auth, connection "
        f"logging off; pgrouter `workers = {opts.workers}`; PgBouncer one process",
        "- pgrouter: `routing = 1`, its `[databases]` entry without `replicas=`, so every "
        "statement is classified and routed, and runs on the primary; pgrouter-norouting: the "
        "same with `routing = 0` (a plain pooler); pgrouter-replicas and pgrouter-rywoff (TPC-B "
        "only): `replicas=` both replicas, `read_your_writes = lsn` (the default) and `off`"
        + (f"; rows ending in `{ctx['replicas_suffix'].strip()}` run through pgrouter-replicas, "
           "reads on the replicas, ratios against the same case's primary-only runs" if rr else ""),
        f"- `-M prepared` rows: PgBouncer is Debian's 1.18, which cannot carry named statements "
        f"in transaction mode, so its cell is `{SESSION_ONLY}`: session mode with "
        f"`default_pool_size` = the case's clients (a server connection per client)",
        "- Pgpool-II: `backend_clustering_mode = streaming_replication`, primary and both "
        "replicas as backends (weight 1 each), `load_balance_mode = on` (session-level: a "
        "client's reads go to the node chosen at connect), `connection_cache = on`, "
        "`num_init_children` = the case's clients (a process per client; restarted when the "
        "client count changes), `max_pool = 1`, sr_check and health_check every 10 s as "
        "postgres with trust, no failover, no pcp over TCP, no watchdog, warnings-only log"
        + (f"; not run above {opts.pgpool_max_clients} clients (`--pgpool-max-clients`)"
           if opts.pgpool_max_clients else ""),
        f"- PostgreSQL: primary + 2 streaming replicas, max_connections "
        f"{ctx['max_connections']}, shared_buffers {ctx['shared_buffers']}, fsync off, "
        f"`pgbench -i -s {opts.scale}` in database `bench` (not `postgres`: Pgpool-II never "
        "caches connections to `postgres`)",
        f"- each run: `pgbench -n -c C -j {opts.jobs} -T {opts.duration}` plus the case's "
        "arguments (from 500 clients on -T gets a second per 100 clients more: pgbench counts "
        "logging the clients in as part of -T, not of its TPS); TPC-B runs are preceded by pgbench's own vacuum, done directly on the "
        "primary; the connect-per-transaction case adds `-C` (a new login per transaction)",
        "- proxy CPU: user+system seconds of the proxy process (all threads; Pgpool-II: its "
        "whole process tree) from `/proc/PID/stat` before and after the run, per 100,000 "
        "queries (select-only: one query per transaction; TPC-B: seven statements)",
        f"- idle memory: VmRSS of the proxy before and while {opts.idle_clients} idle clients "
        "are logged in (raw sockets, startup packet, trust, ReadyForQuery: "
        "`bench/idle_clients.py`), difference / clients",
        f"- instructions: the proxy under `valgrind --tool=callgrind`, `pgbench -n -S -M simple "
        f"-c {opts.callgrind_clients} -t N` with N = {opts.callgrind_tx[0]} and "
        f"{opts.callgrind_tx[1]} (two separate starts); (Ir long - Ir short) / extra queries, "
        "so start-up, logins and shutdown cancel out; pgrouter with `monitor_interval = 0` "
        "there (no primary-only polling, which would scale with time, not queries)",
    ]


def write_report(path, ctx, results, cases, targets, opts):
    """Write the results file: when, where, how, versions, the performance targets and every table."""
    parts = [
        f"# pgbench: direct vs pgrouter vs PgBouncer vs Pgpool-II ({opts.name})",
        "",
        f"- date: {ctx['started']}, the whole run took {ctx['elapsed_min']:.1f} minutes",
        f"- command: `{ctx['command']}`",
        *ctx["machine"],
        *settings_lines(ctx, opts),
        "",
        "## Performance targets",
        "",
        targets_table(results, cases, ctx),
        "",
        "## Throughput (TPS)",
        "",
        "Ratios above 1.00× mean pgrouter is faster; routing on/off = pgrouter / "
        "pgrouter-norouting. n/a = the target cannot run that case (see \"Every run\"). "
        "failed = pgbench's failed transactions and aborted clients (`+Nab`), by target.",
        "",
        throughput_table(results, cases, targets),
        "",
        noise_note(results),
        "",
        churn_note(results, opts.pool_size),
    ]
    ryw = ryw_table(results, cases)
    if ryw:
        parts += ["", "## Read-your-writes cost (TPC-B, pgrouter with replicas)", "", ryw]
    parts += ["", "## Proxy CPU seconds per 100,000 queries", "", cpu_table(results, cases, targets)]
    if ctx.get("idle"):
        parts += ["", "## Idle memory per client", "", idle_table(ctx["idle"])]
    if ctx.get("callgrind"):
        parts += ["", "## Instructions per forwarded query (callgrind)", "",
                  callgrind_table(ctx["callgrind"])]
    if ctx.get("pgpool_nodes"):
        parts += ["", "Pgpool-II SELECTs per backend over the whole run (its load balancing): "
                  + ", ".join(f"port {k}: {v}" for k, v in ctx["pgpool_nodes"].items())]
    parts += ["", "## Every run", "", detail_table(results, opts.duration), ""]
    with open(path, "w") as f:
        f.write("\n".join(parts))
