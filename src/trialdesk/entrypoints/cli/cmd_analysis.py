"""``trialdesk analyze``, ``trialdesk results export|approve|post|decide|history``, ``trialdesk datasets export``.

Registered automatically (``register(app)``). The caller is ``--as USER`` / ``$TRIALDESK_TOKEN`` / the local
operator (see :func:`~trialdesk.entrypoints.cli.people.resolve_principal`); running and posting need the
statistician's rights, approving the sponsor's, which the services check.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    AsUser,
    Db,
    JsonFlag,
    Trial,
    TrialArg,
    cli_errors,
    console,
    print_json,
    run_as,
)

if TYPE_CHECKING:
    from trialdesk.domain.access import Principal

results_app = typer.Typer(
    help="CT.gov results: export the resultsSection, approve (sponsor), post (versioned), record decisions.",
    no_args_is_help=True,
)
datasets_app = typer.Typer(help="Analysis datasets (ADSL, ADTTE, ADRS, ADAE, ADEX, screening).", no_args_is_help=True)

Cut = Annotated[str | None, typer.Option("--cut", help="Data cut-off date YYYY-MM-DD (default: today).")]


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)
    app.add_typer(results_app, name="results")
    app.add_typer(datasets_app, name="datasets")


def _fmt(v: float | None, d: int = 2) -> str:
    return "NE" if v is None else f"{v:.{d}f}"


def _print_summary(s: dict[str, Any], run_id: int, paths: dict[str, Path]) -> None:
    from rich.table import Table

    label = {a["id"]: a["label"] for a in s["arms"]}
    console.print(f"[bold]Analysis run {run_id}[/] — data cut-off {s['cut_date']}, ITT {s['n_itt']} subjects")
    t = Table(title=f"PFS ({s['spec']['time_unit']}, {s['spec']['conf_type']} CI)")
    for col in ("Arm", "N", "Events", "Median (95% CI)", "ORR % (95% CI)"):
        t.add_column(col)
    orr = {r["arm"]: r for r in s["orr"]["arms"]}
    for r in s["pfs"]["km"]:
        o = orr.get(r["arm"])
        t.add_row(
            label.get(r["arm"], r["arm"]),
            str(r["n"]),
            str(r["events"]),
            f"{_fmt(r['median'], 1)} ({_fmt(r['median_lower'], 1)}, {_fmt(r['median_upper'], 1)})",
            f"{_fmt(100 * o['orr'], 1)} ({_fmt(100 * o['lower'], 1)}, {_fmt(100 * o['upper'], 1)})"
            if o and o["orr"] is not None
            else "NE",
        )
    console.print(t)
    cox, lr = s["pfs"]["cox"], s["pfs"]["logrank_stratified"]
    if cox:
        console.print(
            f"Stratified HR {_fmt(cox['hr'], 3)} (95% CI {_fmt(cox['lower'], 3)}–{_fmt(cox['upper'], 3)}),"
            f" {cox['ties']} ties; stratified log-rank p = {lr['p_value']:.4g}"
        )
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")


def analyze_command(
    cut: Cut = None,
    out: Path = typer.Option(Path("analysis-report"), "--out", help="Directory for report.html and report.pdf."),
    ties: str | None = typer.Option(None, "--ties", help="efron (default) or breslow."),
    nct_id: Trial = DEFAULT_NCT,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Run the final analysis at the data cut: store the run, write report.html and report.pdf, print the summary."""
    from trialdesk.adapters.report import write_report
    from trialdesk.services import analysis
    from trialdesk.services.commands import RunAnalysis

    with cli_errors():
        command = RunAnalysis.model_validate({"cut_date": cut, "ties": ties})
        keep: dict[str, Any] = {}
        run = run_as(db, as_user, lambda uow, p: analysis.run_analysis(uow, p, nct_id, command, keep=keep), commit=True)
        paths = write_report(keep["analysis"], out, title=f"{nct_id} final analysis (data cut-off {run['cut_date']})")
        if as_json:
            print_json(
                {
                    "run_id": run["run_id"],
                    "cut_date": run["cut_date"],
                    "files": {k: str(v) for k, v in paths.items()},
                    "summary": run["summary"],
                }
            )
        else:
            _print_summary(run["summary"], run["run_id"], paths)


@results_app.command("export")
def results_export(
    nct_id: TrialArg = DEFAULT_NCT,
    run_id: int | None = typer.Option(None, "--run", help="This analysis run (statistician)."),
    posted: bool = typer.Option(False, "--posted", help="The posted results, whoever asks."),
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Print the CT.gov resultsSection JSON: of a run (default the latest, statistician only) or, with --posted
    or for anyone else, the posted results."""
    from trialdesk.domain.access import Action
    from trialdesk.domain.errors import NotFound
    from trialdesk.services import analysis, registry

    def section_for(uow: Any, principal: Principal) -> Any:
        if posted or (run_id is None and not principal.can(Action.ANALYSIS_RUN)):
            section = registry.posted_results(uow, nct_id)
            if section is None:
                raise NotFound(f"{nct_id} has no posted results")
            return section
        return analysis.get_run(uow, principal, nct_id, run_id)["results_section"]

    with cli_errors():
        print_json(run_as(db, as_user, section_for, commit=False))


@results_app.command("post")
def results_post(
    nct_id: TrialArg = DEFAULT_NCT,
    run_id: int | None = typer.Option(None, "--run", help="Default: the latest run."),
    confirm: bool = typer.Option(False, "--confirm", help="Required: publish the results on the registry page."),
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Post an approved analysis run's results to the registry page as the next version (statistician; the
    primary analysis must be due; audited)."""
    from trialdesk.services import results_posting
    from trialdesk.services.commands import PostResults

    with cli_errors():
        command = PostResults.model_validate({"run_id": run_id, "confirm": confirm})
        posted = run_as(db, as_user, lambda uow, p: results_posting.post_results(uow, p, nct_id, command), commit=True)
        if as_json:
            print_json(posted)
        else:
            console.print(
                f"Posted results of analysis run {posted['run_id']} (cut {posted['cut_date']}) for "
                f"{nct_id} as version {posted['version']} at {posted['posted_at']}."
            )


@results_app.command("approve")
def results_approve(
    run_id: int = typer.Argument(..., help="The analysis run whose results are approved."),
    nct_id: Trial = DEFAULT_NCT,
    confirm: bool = typer.Option(False, "--confirm", help="Required: confirm the approval."),
    note: str | None = typer.Option(None, "--note", help="A note kept with the approval."),
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Approve an analysis run's results for posting (sponsor; audited)."""
    from trialdesk.services import results_posting
    from trialdesk.services.commands import ApproveResults

    with cli_errors():
        command = ApproveResults.model_validate({"run_id": run_id, "confirm": confirm, "note": note})
        out = run_as(db, as_user, lambda uow, p: results_posting.approve_results(uow, p, nct_id, command), commit=True)
        if as_json:
            print_json(out)
        else:
            console.print(f"Approved results of analysis run {out['run_id']} (cut {out['cut_date']}) for posting.")


@results_app.command("decide")
def results_decide(
    kind: str = typer.Argument(..., help="early_stop, recruitment_closed or completed."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the decision and in the audit trail)."),
    on: str | None = typer.Option(None, "--on", help="Date of the decision YYYY-MM-DD (default: today)."),
    nct_id: Trial = DEFAULT_NCT,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Record a trial decision: an early stop (the primary analysis is due), recruitment closed, or completion
    (sponsor or statistician; audited)."""
    from trialdesk.services import results_posting
    from trialdesk.services.commands import RecordTrialDecision

    with cli_errors():
        command = RecordTrialDecision.model_validate({"kind": kind, "reason": reason, "decided_on": on})
        out = run_as(db, as_user, lambda uow, p: results_posting.record_decision(uow, p, nct_id, command), commit=True)
        if as_json:
            print_json(out)
        else:
            console.print(f"Recorded {out['kind']} on {out['decided_on']} for {nct_id}.")


@results_app.command("history")
def results_history(nct_id: TrialArg = DEFAULT_NCT, as_user: AsUser = None, db: Db = None) -> None:
    """Print the registry status, first posted, last updated and every posted version (JSON)."""
    from trialdesk.services import results_posting

    with cli_errors():
        print_json(run_as(db, as_user, lambda uow, p: results_posting.registry_view(uow, nct_id), commit=False))


@datasets_app.command("export")
def datasets_export(
    directory: Path = typer.Argument(..., help="Output directory (created if missing)."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    cut: Cut = None,
    nct_id: Trial = DEFAULT_NCT,
    as_user: AsUser = None,
    db: Db = None,
) -> None:
    """Write the analysis datasets at the cut as CSV or parquet files (statistician only: unblinded)."""
    from trialdesk.adapters.report import write_datasets
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.services import analysis

    with cli_errors():
        if fmt not in ("csv", "parquet"):
            raise InvalidInput(f"must be csv or parquet; got {fmt!r}", field="--format")
        ds = run_as(db, as_user, lambda uow, p: analysis.analysis_datasets(uow, p, nct_id, cut), commit=False)
        paths = write_datasets(ds, directory, fmt)
        for p in paths:
            console.print(str(p))


__all__ = ["register", "analyze_command", "results_app", "datasets_app"]
