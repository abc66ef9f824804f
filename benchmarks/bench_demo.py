"""Demo throughput: how many subjects per second ``run_demo`` drives through the services, SQLite vs PostgreSQL.

    python benchmarks/bench_demo.py [--subjects 40] [--seed 7] [--until 2026-06-30] [--to-completion]
                                    [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--no-pg]
                                    [--profile [--top 25]]

The same scenario and seed run on a fresh SQLite file and on a scratch PostgreSQL database (created on the server
of ``--pg-url`` and dropped afterwards), in this process. Only ``run_demo`` is timed (not creating and migrating
the database); it includes reading the CTCAE workbook when one is found. For each backend it prints subjects
randomized per second, service calls per second (the report's ``actions``, every successful call as a user) and
the PostgreSQL:SQLite ratio of the wall times, SQLite being the baseline run in the same process. It also counts
the SQL statements sent per service call (deterministic, unlike times on a shared machine).

``--profile`` runs the SQLite demo once more under cProfile and prints the top functions by cumulative and by own
time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TRIALDESK_ARGON2_PROFILE", "fast")


@contextmanager
def scratch_postgres(admin_url: str):
    """A fresh database on the server of ``admin_url``, dropped afterwards (as tests/conftest.py pg_url)."""
    from sqlalchemy import create_engine, text

    from trialdesk.adapters.db.engine import resolve_url

    base = resolve_url(admin_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"trialdesk_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def run_once(url: str, args, profiler: cProfile.Profile | None = None) -> dict:
    from trialdesk.bootstrap import bootstrap
    from trialdesk.services.demo import run_demo

    from sqlalchemy import event

    td = bootstrap(url)
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    event.listen(td.engine, "before_cursor_execute", count)
    try:
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = run_demo(td, subjects=args.subjects, seed=args.seed, until=args.until,
                          to_completion=args.to_completion)
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - t0
    finally:
        td.dispose()
    actions = sum(report.actions.values())
    return {"wall": wall, "statements": statements[0], "randomized": report.randomized,
            "screened": report.screened, "actions": actions, "refused": len(report.refused), "until": report.until,
            "ctcae": report.ctcae_loaded,
            "fingerprint": (report.screened, report.randomized, report.pfs_events,
                            tuple(sorted(report.actions.items())))}


def line(label: str, r: dict) -> str:
    return (f"{label:<11}: {r['randomized']:>4} randomized ({r['screened']} screened), {r['actions']:>6} service calls "
            f"in {r['wall']:7.1f} s = {r['randomized'] / r['wall']:6.2f} subjects/s, "
            f"{r['actions'] / r['wall']:7.1f} calls/s; {r['statements'] / max(r['actions'], 1):.1f} SQL statements "
            f"per call; refused {r['refused']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30),
                    help="simulated stop date (default: about a year after the first randomization)")
    ap.add_argument("--to-completion", action="store_true", help="run to the event-driven cut, analyse, post")
    ap.add_argument("--pg-url", default=os.environ.get("TRIALDESK_TEST_POSTGRES_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--profile", action="store_true", help="profile the SQLite run once more with cProfile")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if args.to_completion:
        args.until = None

    with tempfile.TemporaryDirectory(prefix="trialdesk-bench-") as tmp:
        os.environ["TRIALDESK_DATA_DIR"] = str(Path(tmp) / "data")  # the demo's randomization seed file
        print(f"demo: {args.subjects} subjects, seed {args.seed}, "
              f"{'to completion' if args.to_completion else f'until {args.until}'}")
        sqlite = run_once(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args)
        print(line("SQLite", sqlite))
        if not sqlite["ctcae"]:
            print("  (no CTCAE workbook found: adverse events were not simulated; set TRIALDESK_CTCAE_XLSX)")
        if not args.no_pg:
            try:
                with scratch_postgres(args.pg_url) as url:
                    pg = run_once(url, args)
            except Exception as exc:  # noqa: BLE001 - report and carry on with the SQLite figures
                print(f"PostgreSQL : not run ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            else:
                print(line("PostgreSQL", pg))
                same = "same" if pg["fingerprint"] == sqlite["fingerprint"] else "DIFFERENT"
                print(f"ratio PostgreSQL:SQLite wall time {pg['wall'] / sqlite['wall']:.2f} "
                      f"(subjects/s {(pg['randomized'] / pg['wall']) / (sqlite['randomized'] / sqlite['wall']):.2f}x); "
                      f"{same} simulated trial on both")
        if args.profile:
            profiler = cProfile.Profile()
            run_once(f"sqlite:///{Path(tmp) / 'profile.sqlite'}", args, profiler)
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.strip_dirs()
            print(f"\ncProfile of the SQLite demo, top {args.top} by cumulative time:")
            stats.sort_stats("cumulative").print_stats(args.top)
            print(f"top {args.top} by own time:")
            stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
