"""Final analysis use cases: run the analysis at a data cut, post the results to the registry, export datasets.

Only a statistician runs (``Action.ANALYSIS_RUN``) and posts (``Action.RESULTS_POST``); runs are stored in
``analysis_runs`` with their summary, resultsSection and HTML report, and both actions are audited. Posting lives
in :mod:`trialdesk.services.results_posting` (due, approved by the sponsor, confirmed, versioned). Everybody sees
the results once posted (the registry page and the CT.gov export read ``trials.results_json``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.analysis_spec import AnalysisSpec
from trialdesk.domain.audit import canonical_json
from trialdesk.domain.datasets import CapturedData, Datasets, derive_datasets
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.protocol import Protocol
from trialdesk.domain.recist import RecistSpec
from trialdesk.domain.records import AnalysisRun
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.domain.timeline import cut_problems, raise_problems, trial_dates
from trialdesk.services.commands import PostResults, RunAnalysis
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork
from trialdesk.stats.analysis import FinalAnalysis

__all__ = [
    "analyze_captured",
    "analysis_datasets",
    "get_run",
    "list_runs",
    "post_results",
    "run_analysis",
    "run_summary",
]


def _specs(protocol: Protocol) -> tuple[AnalysisSpec, ScheduleSpec, int, int]:
    ops = protocol.operations
    spec = ops.analysis or AnalysisSpec()
    schedule = ops.schedule or ScheduleSpec()
    recist = ops.recist or RecistSpec()
    min_sd = recist.min_sd_interval_days - recist.min_sd_window_days
    cycle = schedule.cycle_length_days
    return spec, schedule, min_sd, cycle


def _cut(uow: UnitOfWork, nct_id: str, cut_date: dt.date | str | None) -> dt.date:
    """The data cut-off (default: today by the unit of work's clock); text is read as YYYY-MM-DD. It lies inside
    the trial: not before the trial start nor the first randomization, not after today (domain/timeline.py)."""
    today = uow.now().date()
    if cut_date is None:
        cut = today
    elif isinstance(cut_date, str):
        try:
            cut = dt.date.fromisoformat(cut_date)
        except ValueError:
            raise InvalidInput(f"must be a date YYYY-MM-DD; got {cut_date!r}", field="cut_date") from None
    else:
        cut = cut_date
    trial_id = stored_id(get_trial_row(uow, nct_id))
    randomized = [dt.date.fromisoformat(a.randomized_on) for a in uow.allocations.for_trial(trial_id)]
    dates = trial_dates(get_protocol(uow, nct_id, live_sites=False), today)
    raise_problems(cut_problems(cut, min(randomized, default=None), dates))
    return cut


def analyze_captured(
    protocol: Protocol, data: CapturedData, cut_date: dt.date, *, ties: str | None = None
) -> tuple[FinalAnalysis, Datasets]:
    """Derive the datasets and fit the analysis (no database, no access check): the pure core of a run."""
    spec, schedule, min_sd, cycle = _specs(protocol)
    ds = derive_datasets(data, spec, schedule, cut_date, min_sd_days=min_sd, cycle_length_days=cycle)
    labels: dict[str, str] = {}
    for arm in protocol.registry.arm_groups:
        if arm.id:
            labels[arm.id] = arm.label
    if not ds.adsl["itt"].any():
        raise Conflict(f"no subject randomized on or before the cut date {cut_date}; nothing to analyse")
    return FinalAnalysis(spec, ties=ties, arm_labels=labels).fit(ds), ds


def analysis_datasets(
    uow: UnitOfWork, principal: Principal, nct_id: str, cut_date: dt.date | str | None = None
) -> Datasets:
    """The analysis datasets at a cut (statistician only: they are unblinded)."""
    require(principal, Action.ANALYSIS_RUN)
    trial = get_trial_row(uow, nct_id)
    protocol = get_protocol(uow, nct_id, live_sites=False)
    spec, schedule, min_sd, cycle = _specs(protocol)
    return derive_datasets(
        uow.analysis.captured_data(stored_id(trial)),
        spec,
        schedule,
        _cut(uow, nct_id, cut_date),
        min_sd_days=min_sd,
        cycle_length_days=cycle,
    )


def run_analysis(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    cmd: RunAnalysis,
    *,
    with_report: bool = True,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the final analysis at ``cmd.cut_date`` (default: today by the unit of work's clock), store and audit it.

    Parameters
    ----------
    cmd : RunAnalysis
        The data cut-off and, optionally, ``ties`` ({"efron", "breslow"}) overriding the protocol's Cox ties.
    with_report : bool
        Render and store the HTML report with the run.
    keep : dict, optional
        When given, receives ``analysis`` (the fitted :class:`FinalAnalysis`) and ``datasets`` for the caller
        (the CLI writes the PDF from them).

    Returns
    -------
    dict
        ``run_id``, ``cut_date``, ``summary`` (:meth:`FinalAnalysis.to_dict`) and ``results_section``.
    """
    require(principal, Action.ANALYSIS_RUN)
    results = uow.ports.results
    trial = get_trial_row(uow, nct_id)
    protocol = get_protocol(uow, nct_id, live_sites=False)
    cut = _cut(uow, nct_id, cmd.cut_date)
    analysis, datasets = analyze_captured(protocol, uow.analysis.captured_data(stored_id(trial)), cut, ties=cmd.ties)
    summary = analysis.to_dict()
    section = results.build_results_section(summary, protocol)
    results.check_results_section(section)
    report_html = None
    if with_report:
        report_html = results.render_report_html(
            analysis, title=f"{nct_id} — {protocol.registry.identification.brief_title}: final analysis"
        )
    row = uow.analysis.add_run(
        trial_id=stored_id(trial),
        cut_date=cut.isoformat(),
        run_at=uow.now().isoformat(),
        run_by=principal.username,
        summary_json=canonical_json(summary),
        results_section_json=canonical_json(section),
        report_html=report_html,
    )
    uow.record(
        "analysis.run",
        "analysis_run",
        row.id,
        after=run_summary(row, summary),
        trial=nct_id,
        actor=principal.username,
        reason=f"data cut {cut.isoformat()}",
    )
    if keep is not None:
        keep.update(analysis=analysis, datasets=datasets)
    return {"run_id": row.id, "cut_date": cut.isoformat(), "summary": summary, "results_section": section}


def run_summary(row: AnalysisRun, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Headline numbers of a run (for lists and the audit trail)."""
    s = summary if summary is not None else json.loads(row.summary_json)
    cox = s["pfs"]["cox"] or {}
    lr = s["pfs"]["logrank_stratified"] or {}
    return {
        "run_id": row.id,
        "cut_date": row.cut_date,
        "run_at": row.run_at,
        "run_by": row.run_by,
        "posted_at": row.posted_at,
        "n_itt": s["n_itt"],
        "pfs_events": sum(r["events"] for r in s["pfs"]["km"]),
        "hr": cox.get("hr"),
        "hr_lower": cox.get("lower"),
        "hr_upper": cox.get("upper"),
        "logrank_p": lr.get("p_value"),
    }


def list_runs(uow: UnitOfWork, principal: Principal, nct_id: str) -> list[dict[str, Any]]:
    require(principal, Action.ANALYSIS_RUN)
    trial = get_trial_row(uow, nct_id)
    return [run_summary(r) for r in uow.analysis.list_runs(stored_id(trial))]


def get_run(uow: UnitOfWork, principal: Principal, nct_id: str, run_id: int | None = None) -> dict[str, Any]:
    """A stored run (the latest when ``run_id`` is None), with its summary, resultsSection and report."""
    require(principal, Action.ANALYSIS_RUN)
    trial_id = stored_id(get_trial_row(uow, nct_id))
    row = uow.analysis.latest_run(trial_id) if run_id is None else uow.analysis.get_run(trial_id, int(run_id))
    if row is None:
        raise NotFound(
            f"no analysis run {run_id} for {nct_id}" if run_id is not None else f"no analysis run for {nct_id}"
        )
    return {
        **run_summary(row),
        "summary": json.loads(row.summary_json),
        "results_section": json.loads(row.results_section_json) if row.results_section_json else None,
        "report_html": row.report_html,
    }


def post_results(uow: UnitOfWork, principal: Principal, nct_id: str, cmd: PostResults) -> dict[str, Any]:
    """Post a run's results: see :func:`trialdesk.services.results_posting.post_results` (due, approved by the
    sponsor, confirmed, versioned)."""
    from trialdesk.services import results_posting

    return results_posting.post_results(uow, principal, nct_id, cmd)
