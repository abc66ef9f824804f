"""Allocations per second on PostgreSQL with 32 concurrent clients, against the server's plain commit rate.

Both are measured in the same run, on the same server, with the same number of client threads:

- baseline: each client repeatedly runs ``INSERT INTO bench_commit(...) VALUES (...)`` + ``COMMIT``;
- allocation: each client repeatedly randomizes an eligible subject (``randomize_subject`` + commit, with its
  audit event), as ``trialdesk randomization qualify`` does, on a scratch trial.

Prints both rates and their ratio (goal >= 0.5). Allocations are serialized by design (one randomization
number sequence, one audit chain), so the ratio is bounded by the length of the locked part of the transaction.

Usage::

    TRIALDESK_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_allocation.py [--clients 32] [--subjects 1500]

(``TRIALDESK_TEST_POSTGRES_URL`` is used when the BENCH variable is not set.) A scratch database is created and
dropped.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid

from sqlalchemy import create_engine, text


def commit_rate(url: str, clients: int, seconds: float) -> float:
    engine = create_engine(url, pool_size=clients, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, client int, "
                          "payload text)"))
    done = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(i: int) -> None:
        n = 0
        with engine.connect() as conn:
            while time.perf_counter() < stop:
                conn.execute(text("INSERT INTO bench_commit (client, payload) VALUES (:c, :p)"),
                             {"c": i, "p": "x" * 64})
                conn.commit()
                n += 1
        with lock:
            done[0] += n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return done[0] / elapsed


def allocation_rate(url: str, clients: int, subjects: int) -> dict:
    from trialdesk.bootstrap import bootstrap
    from trialdesk.entrypoints.cli.cmd_randomization import allocate_concurrently, setup_scratch_trial
    from trialdesk.entrypoints.cli.people import operator
    from trialdesk.services import randomization as rz

    import random

    app = bootstrap(url, pool_size=clients)
    principal = operator()
    nct_id, store, seed, numbers = setup_scratch_trial(app, principal, subjects, rng=random.Random(1))
    run = allocate_concurrently(app, principal, nct_id, numbers, clients, store)
    with app.uow(principal.username) as uow:
        report = rz.verify_list(uow, principal, nct_id, seed)
    app.dispose()
    if run["errors"] or report["status"] != "ok":
        raise SystemExit(f"allocation run failed: {run['errors'][:3]} {report['problems'][:3]}")
    return {"per_second": len(numbers) / run["seconds"], "retries": run["retries"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--subjects", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of the commit-rate baseline.")
    args = parser.parse_args()
    admin_url = os.environ.get("TRIALDESK_BENCH_POSTGRES_URL") or os.environ.get("TRIALDESK_TEST_POSTGRES_URL")
    if not admin_url:
        raise SystemExit("set TRIALDESK_BENCH_POSTGRES_URL (or TRIALDESK_TEST_POSTGRES_URL) to a PostgreSQL server")
    from trialdesk.adapters.db.engine import resolve_url

    admin_url = resolve_url(admin_url)
    name = f"trialdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        baseline = commit_rate(url, args.clients, args.seconds)
        alloc = allocation_rate(url, args.clients, args.subjects)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    print(f"PostgreSQL, {args.clients} concurrent clients (threads), one process")
    print(f"  commit rate (INSERT one row + COMMIT): {baseline:10.1f} /s")
    print(f"  allocations (randomize_subject+commit): {alloc['per_second']:10.1f} /s   "
          f"({args.subjects} allocations, {alloc['retries']} retries)")
    print(f"  ratio allocations / commits: {alloc['per_second'] / baseline:.3f}   (goal >= 0.5)")


if __name__ == "__main__":
    main()
