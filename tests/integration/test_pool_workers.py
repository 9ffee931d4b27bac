"""Two workers share one pool_size: a busy pool keeps its server connections, and no worker's clients starve."""

import threading

import psycopg


def run_clients(pgr, clients, rounds, sql, warmup=0):
    """clients threads, each on its own connection, run sql rounds times; (backend pids seen, errors, pids first
    seen after every client had run warmup statements: the ones the pool opened once all queues had formed)."""
    pids, late, errors = set(), set(), []
    lock = threading.Lock()
    queued = threading.Barrier(clients) if warmup else None

    def client():
        try:
            with pgr.connect() as conn:
                for i in range(rounds):
                    if queued and i == warmup:
                        queued.wait(60)
                    pid = conn.execute(sql).fetchone()[0]
                    with lock:
                        if queued and i >= warmup and pid not in pids:
                            late.add(pid)
                        pids.add(pid)
        except (psycopg.Error, threading.BrokenBarrierError) as e:
            if queued:
                queued.abort()
            with lock:
                errors.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return pids, errors, late


def test_saturated_pool_keeps_its_server_connections(pgrouter):
    # 40 clients queue for 4 connections in two workers: both queues are long all the time. Trading a slot
    # between the workers would be a new PostgreSQL login each time; the pool must keep its connections.
    pgr = pgrouter(workers=2, default_pool_size=4, pool_mode="transaction")
    pids, errors, late = run_clients(pgr, 40, 120, "SELECT pg_backend_pid() FROM pg_sleep(0.002)", warmup=10)
    assert not errors, errors[:3]
    # While the 40 connections arrive, settling which worker holds which slot closes a few (4-11 logins on a
    # quiet machine, far more on a loaded one where connecting takes long). Once every client is queued, a pool
    # that trades slots back and forth logs in again at every trade; one that keeps them logs in rarely.
    assert len(late) <= 8, f"{len(late)} server logins once all queues had formed ({len(pids)} in all) for a pool of 4"


def test_one_slot_serves_the_clients_of_both_workers(pgrouter):
    # One connection for two workers: whichever worker holds it must give it up for the other's clients.
    pgr = pgrouter(workers=2, default_pool_size=1, pool_mode="transaction", query_wait_timeout=20)
    pids, errors, _ = run_clients(pgr, 12, 20, "SELECT pg_backend_pid() FROM pg_sleep(0.005)")
    assert not errors, errors[:3]
    log = pgr.log
    assert "c0-" in log and "c1-" in log, "the clients did not reach both workers"
