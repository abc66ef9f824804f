"""``trialdesk randomization generate|go-live|verify|export|balance|randomize|in-error|qualify|simulate``.

Registered automatically (``register(app)``). The seed never goes to the database: ``generate`` writes it to a
0600 file in the data directory (see :mod:`trialdesk.adapters.randomization_secret`); the other commands find it
there or in ``$TRIALDESK_RANDOMIZATION_SECRET``, or take ``--seed-file``.
"""

from __future__ import annotations

import csv
import json
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    AsUser,
    Db,
    JsonFlag,
    Trial,
    app_for,
    cli_errors,
    console,
    print_json,
    run_as,
)
from trialdesk.entrypoints.cli.people import resolve_principal
from trialdesk.entrypoints.cli.randomization_sim import simulate_command

if TYPE_CHECKING:
    from trialdesk.bootstrap import App
    from trialdesk.domain.access import Principal
    from trialdesk.services.ports import SeedStore

T = TypeVar("T")

randomization_app = typer.Typer(
    help="The IWRS: allocation list, allocation, verification, qualification.", no_args_is_help=True
)
randomization_app.command("simulate")(simulate_command)

SeedFile = Annotated[
    Path | None, typer.Option("--seed-file", help="File holding the seed as hex (default: the seed store).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(randomization_app, name="randomization")


def _read_seed_file(path: Path) -> bytes:
    from trialdesk.adapters.randomization_secret import parse_seed

    try:
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="--seed-file") from None
    return parse_seed(text, field="--seed-file")


def _seed_for(app: App, principal: Principal, nct_id: str, seed_file: Path | None) -> bytes:
    """The list's seed: the ``--seed-file`` given, else through the app's seed port (the one place seeds load)."""
    from trialdesk.services import randomization as rz

    if seed_file is not None:
        return _read_seed_file(seed_file)
    with app.uow(principal.username) as uow:
        info = rz.list_info(uow, principal, nct_id)
    if info is None:
        raise Conflict(f"{nct_id} has no randomization list")
    return app.ports.seeds.store().load(nct_id, info["seed_check"])


@randomization_app.command("generate")
def generate(
    nct_id: Trial = DEFAULT_NCT,
    seed_file: Path | None = typer.Option(
        None, "--seed-file", help="Use this seed (hex) instead of a fresh random one."
    ),
    slots_per_stratum: int | None = typer.Option(None, "--slots-per-stratum", help="Default: the enrollment cap."),
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Generate the allocation list from the protocol's spec and a secret seed (stored outside the database)."""
    from trialdesk.services import randomization as rz

    with cli_errors():
        app = app_for(db)
        principal = resolve_principal(app, as_user)
        seed = _read_seed_file(seed_file) if seed_file else app.ports.seeds.new_seed()
        path = app.ports.seeds.store().save(nct_id, seed)
        with app.uow(principal.username) as uow:
            info = rz.generate_list(uow, principal, nct_id, seed, slots_per_stratum=slots_per_stratum)
            uow.commit()
    info["seed_file"] = str(path)
    if as_json:
        print_json(info)
        return
    console.print(
        f"list #{info['list_id']} generated ({info['scheme']}, {info['strata']} strata, "
        f"{info['slots']} slots). Seed stored at {path} (mode 0600): keep a copy in escrow.",
        highlight=False,
        markup=False,
    )


def _run_with_seed(
    service: Callable[[Any, Principal, str, bytes], T],
    nct_id: str,
    seed_file: Path | None,
    as_user: str | None,
    db: str | None,
) -> T:
    """Resolve the caller and the list's seed, then run ``service(uow, principal, nct_id, seed)`` and commit."""
    with cli_errors():
        app = app_for(db)
        principal = resolve_principal(app, as_user)
        seed = _seed_for(app, principal, nct_id, seed_file)
        with app.uow(principal.username) as uow:
            out = service(uow, principal, nct_id, seed)
            uow.commit()
    return out


@randomization_app.command("go-live")
def go_live(
    nct_id: Trial = DEFAULT_NCT,
    seed_file: SeedFile = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Check the list against the seed, record its SHA-256 commitment and open allocation."""
    from trialdesk.services import randomization as rz

    out = _run_with_seed(rz.go_live, nct_id, seed_file, as_user, db)
    if as_json:
        print_json(out)
        return
    console.print(f"list #{out['list_id']} is live. Commitment (SHA-256): {out['commitment']}", highlight=False)


@randomization_app.command("verify")
def verify(
    nct_id: Trial = DEFAULT_NCT,
    seed_file: SeedFile = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Regenerate the list from the seed; check the commitment and every allocation (exit 1 on any problem)."""
    from trialdesk.services import randomization as rz

    report = _run_with_seed(rz.verify_list, nct_id, seed_file, as_user, db)
    if as_json:
        print_json(report)
    else:
        console.print(
            f"verify: {report['status']} ({report['allocations']} allocations, {report['slots']} slots, "
            f"{report['extended_blocks']} extension blocks)",
            highlight=False,
        )
        for problem in report["problems"]:
            console.print(f"  {problem}", highlight=False, markup=False)
    if report["status"] != "ok":
        raise typer.Exit(1)


@randomization_app.command("export")
def export(
    nct_id: Trial = DEFAULT_NCT,
    out: Path = typer.Option(..., "--out", help="CSV or JSON file to write."),
    seed_file: SeedFile = None,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Export the whole list in clear (statistician only; audited)."""
    from trialdesk.services import randomization as rz

    rows = _run_with_seed(rz.export_list, nct_id, seed_file, as_user, db)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    else:
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["stratum"])
            writer.writeheader()
            writer.writerows(rows)
    console.print(f"{len(rows)} rows written to {out}", highlight=False, markup=False)


@randomization_app.command("balance")
def balance(nct_id: Trial = DEFAULT_NCT, as_json: JsonFlag = False, as_user: AsUser = None, db: Db = None) -> None:
    """Arm counts by stratum x site with margins (statistician only)."""
    from trialdesk.services import randomization as rz

    with cli_errors():
        rows = run_as(db, as_user, lambda uow, p: rz.balance(uow, p, nct_id), commit=False)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        counts = "  ".join(f"{k}={v}" for k, v in r["counts"].items())
        console.print(
            f"{r['stratum']:<70} {r['site']:<45} {counts}  imbalance {r['imbalance']:g}", highlight=False, markup=False
        )


@randomization_app.command("randomize")
def randomize(
    subject: str,
    nct_id: Trial = DEFAULT_NCT,
    client_key: str | None = typer.Option(None, "--client-key", help="Idempotency key."),
    on: str | None = typer.Option(None, "--date", help="Randomization date (default today)."),
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Randomize an eligible subject."""
    from trialdesk.services import randomization as rz
    from trialdesk.services.commands import Randomize

    with cli_errors():
        command = Randomize.model_validate({"confirm": True, "client_key": client_key, "randomized_on": on})
        out = run_as(db, as_user, lambda uow, p: rz.randomize_subject(uow, p, nct_id, subject, command), commit=True)
    if as_json:
        print_json(out)
        return
    console.print(
        f"{subject}: {out['randomization_number']} -> {out['arm_label'] or out['arm']}", highlight=False, markup=False
    )


@randomization_app.command("in-error")
def in_error(
    subject: str,
    reason: str = typer.Option(..., "--reason"),
    nct_id: Trial = DEFAULT_NCT,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Flag a subject as randomized in error (the slot stays used)."""
    from trialdesk.services import randomization as rz
    from trialdesk.services.commands import FlagRandomizedInError

    with cli_errors():
        command = FlagRandomizedInError.model_validate({"reason": reason})
        out = run_as(
            db, as_user, lambda uow, p: rz.flag_randomized_in_error(uow, p, nct_id, subject, command), commit=True
        )
    console.print(
        f"{subject}: {out['randomization_number']} flagged as randomized in error", highlight=False, markup=False
    )


# -------------------------------------------------------------------------------------------------------------
# Qualification
# -------------------------------------------------------------------------------------------------------------


def setup_scratch_trial(
    app: App,
    principal: Principal,
    subjects: int,
    *,
    rng: random.Random,
    slots_per_stratum: int | None = None,
    nct_id: str | None = None,
    seed_dir: Path | None = None,
) -> tuple[str, SeedStore, bytes, list[str]]:
    """A copy of NCT07003074 under a scratch NCT id, all sites recruiting, a live list, ``subjects`` eligible
    subjects at random sites with random strata. Returns ``(nct_id, seed store, seed, subject numbers)``.

    The scratch list's seed comes from the seed port but lives only in a throwaway :class:`SeedStore` (``seed_dir``,
    else an empty temporary directory; the seed remembered in memory, never written): a qualification run must not
    leave a seed file in the real seed directory nor a scratch seed in the process-wide store the app's port hands
    out.
    """
    from trialdesk.adapters.protocol_files import load_default_protocol
    from trialdesk.adapters.randomization_secret import SeedStore as ScratchSeedStore
    from trialdesk.services import randomization as rz
    from trialdesk.services.commands import ChangeSiteStatus
    from trialdesk.services.registry import get_trial_row, save_protocol, stored_id
    from trialdesk.services.sites import change_site_status

    base = load_default_protocol()
    with app.uow(principal.username) as uow:
        while nct_id is None:
            candidate = f"NCT9{secrets.randbelow(10**7):07d}"
            if uow.trials.get(candidate) is None:
                nct_id = candidate
    registry = base.registry.model_copy(
        update={"identification": base.registry.identification.model_copy(update={"nct_id": nct_id})}
    )
    copy = base.model_copy(update={"registry": registry})
    spec = copy.operations.randomization
    if spec is None:
        raise Conflict(f"{base.registry.identification.nct_id} has no randomization spec to qualify")
    with app.uow(principal.username) as uow:
        save_protocol(
            uow, copy, reason=f"randomization qualification: scratch copy of {base.registry.identification.nct_id}"
        )
        uow.commit()
    with app.uow(principal.username) as uow:
        sites = uow.sites.for_trial(stored_id(get_trial_row(uow, nct_id)))
        for site in sites:
            if site.status != "RECRUITING":
                change_site_status(
                    uow,
                    principal,
                    nct_id,
                    site.site_key,
                    ChangeSiteStatus(status="RECRUITING", reason="qualification run"),
                )
        uow.commit()
    seed = app.ports.seeds.new_seed()
    store = ScratchSeedStore(seed_dir or tempfile.mkdtemp(prefix="trialdesk-qualify-seeds-"))
    store.remember(seed)
    with app.uow(principal.username) as uow:
        rz.generate_list(uow, principal, nct_id, seed, slots_per_stratum=slots_per_stratum, reason="qualification run")
        uow.commit()
    with app.uow(principal.username) as uow:
        rz.go_live(uow, principal, nct_id, seed, reason="qualification run")
        uow.commit()
    numbers: list[str] = []
    with app.uow(principal.username) as uow:
        trial_id = stored_id(get_trial_row(uow, nct_id))
        site_keys = [s.site_key for s in uow.sites.for_trial(trial_id)]
        now = uow.now().isoformat()
        for i in range(1, subjects + 1):
            site_key = rng.choice(site_keys)
            levels = {f.derive: rng.choice(f.levels) for f in spec.factors}
            number = f"Q-{i:05d}"
            row = uow.subjects.create(
                trial_id=trial_id,
                site_key=site_key,
                subject_number=number,
                patient_ref=f"QP-{i:05d}",
                status="screening",
                created_at=now,
                data_version=0,
            )
            uow.randomization.add_screening(
                trial_id=trial_id,
                subject_id=row.id,
                site_key=site_key,
                screening_number=f"QS-{i:05d}",
                screened_on=now[:10],
                verdict="eligible",
                record_json="{}",
                results_json="{}",
                derived_json=json.dumps(levels),
                failed_criteria="",
                protocol_digest="0" * 64,
                created_at=now,
                created_by=principal.username,
            )
            numbers.append(number)
        uow.commit()
    return nct_id, store, seed, numbers


def allocate_concurrently(
    app: App, principal: Principal, nct_id: str, numbers: list[str], concurrency: int, store: SeedStore
) -> dict[str, Any]:
    """Randomize ``numbers`` from ``concurrency`` threads, each allocation its own unit of work; transient lock
    errors are retried with backoff. Returns ``{"seconds", "retries", "errors"}``."""
    from trialdesk.adapters.db.errors import is_retryable
    from trialdesk.services import randomization as rz
    from trialdesk.services.commands import Randomize

    lock = threading.Lock()
    pending = list(reversed(numbers))
    retries, errors = [0], list[str]()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                number = pending.pop()
            for attempt in range(30):
                try:
                    with app.uow(principal.username) as uow:
                        rz.randomize_subject(uow, principal, nct_id, number, Randomize(confirm=True), seeds=store)
                        uow.commit()
                    break
                except Exception as exc:
                    if is_retryable(exc) and attempt < 29:
                        with lock:
                            retries[0] += 1
                        time.sleep(min(0.5, 0.005 * 2**attempt) * random.random())
                        continue
                    with lock:
                        errors.append(f"{number}: {type(exc).__name__}: {exc}")
                    break

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"seconds": time.perf_counter() - start, "retries": retries[0], "errors": errors}


def run_qualification(
    app: App,
    principal: Principal,
    subjects: int,
    concurrency: int,
    *,
    seed: int | None = None,
    slots_per_stratum: int | None = None,
    seed_dir: Path | None = None,
) -> dict[str, Any]:
    """Operational qualification: N allocations from C concurrent workers on a scratch trial, then checks. ``app``
    should be a scratch database of its own (:func:`qualify` makes one): the scratch trial stays in it."""
    from trialdesk.services import randomization as rz

    if subjects < 1:
        raise InvalidInput(f"must be >= 1, got {subjects}", field="--subjects")
    if concurrency < 1:
        raise InvalidInput(f"must be >= 1, got {concurrency}", field="--concurrency")
    rng = random.Random(seed)
    nct_id, store, list_seed, numbers = setup_scratch_trial(
        app, principal, subjects, rng=rng, slots_per_stratum=slots_per_stratum, seed_dir=seed_dir
    )
    run = allocate_concurrently(app, principal, nct_id, numbers, concurrency, store)
    with app.uow(principal.username) as uow:
        report = rz.verify_list(uow, principal, nct_id, list_seed)
        rows = rz.export_list(uow, principal, nct_id, list_seed)
        uow.commit()
    used = [r for r in rows if r["randomization_number"]]
    duplicates = sum(c - 1 for c in Counter(r["randomization_number"] for r in used).values() if c > 1)
    duplicates += sum(c - 1 for c in Counter(r["subject_number"] for r in used).values() if c > 1)
    by_stratum: dict[str, list[int]] = defaultdict(list)
    blocks: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in used:
        by_stratum[r["stratum"]].append(r["seq"])
        blocks[(r["stratum"], r["block"])].append(r)
    gaps = sum(max(seqs) + 1 - len(seqs) for seqs in by_stratum.values() if seqs)
    n_numbers = len(used)
    expected_numbers = {f"{i}" for i in range(1, n_numbers + 1)}
    got_numbers = {str(int("".join(ch for ch in r["randomization_number"] if ch.isdigit()))) for r in used}
    gaps += len(expected_numbers - got_numbers)
    balanced = all(
        Counter(r["arm"] for r in block).most_common()[0][1] * 2 == len(block) and len({r["arm"] for r in block}) == 2
        for block in blocks.values()
        if len(block) == block[0]["block_size"]
    )
    out = {
        "trial": nct_id,
        "database": app.engine.dialect.name,
        "subjects": subjects,
        "concurrency": concurrency,
        "allocated": len(used),
        "duplicates": duplicates,
        "gaps": gaps,
        "balanced_blocks": balanced,
        "completed_blocks": report["completed_blocks"],
        "verify": report["status"],
        "verify_problems": report["problems"][:10],
        "retries": run["retries"],
        "errors": run["errors"][:10],
        "seconds": round(run["seconds"], 3),
        "per_second": round(len(used) / run["seconds"], 1),
    }
    out["ok"] = (
        out["allocated"] == subjects
        and duplicates == 0
        and gaps == 0
        and balanced
        and report["status"] == "ok"
        and not run["errors"]
    )
    return out


@randomization_app.command("qualify")
def qualify(
    db: Db = None,
    subjects: int = typer.Option(500, "--subjects", help="Allocations to run."),
    concurrency: int = typer.Option(16, "--concurrency", help="Concurrent workers (threads)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the subjects' random strata."),
    as_json: JsonFlag = False,
) -> None:
    """Operational qualification on a scratch database of the kind --db names (a temporary SQLite file, or a
    scratch database created and dropped on the same PostgreSQL server), never --db itself: N allocations from C
    workers, then duplicates, gaps, block balance and verify. Nothing is left behind, even when killed (SIGTERM
    cleans up; a later run sweeps what a SIGKILL left). Exits 1 on any anomaly."""
    from trialdesk.adapters.db.scratch import scratch_database, terminate_as_interrupt
    from trialdesk.bootstrap import bootstrap
    from trialdesk.entrypoints.cli.people import operator
    from trialdesk.settings import get_settings

    try:
        with cli_errors(), terminate_as_interrupt(), scratch_database(db) as (url, workdir):
            settings = get_settings().model_copy(
                update={
                    "database_url": url,
                    "data_dir": workdir,
                    "randomization_dir": workdir / "randomization",
                    "randomization_secret": None,
                    "audit_dir": workdir / "audit",
                    "audit_key": None,
                }
            )
            app = bootstrap(url, settings=settings)
            try:
                out = run_qualification(app, operator(), subjects, concurrency, seed=seed, seed_dir=workdir / "seeds")
            finally:
                app.dispose()
    except KeyboardInterrupt:
        sys.stderr.write("qualification interrupted: its scratch database and files were removed\n")
        raise typer.Exit(130) from None
    out["database"] = f"scratch {out['database']} (removed)"
    if as_json:
        print_json(out)
    else:
        for key, value in out.items():
            console.print(f"{key:>18}: {value}", highlight=False, markup=False)
    if not out["ok"]:
        sys.stderr.write("qualification FAILED\n")
        raise typer.Exit(1)
