"""Posting results that are true: due, approved, confirmed, versioned; the registry's status and dates.

* :func:`record_decision`: the sponsor or the statistician records an early stop, a recruitment closure or the
  trial's completion, with its reason (``Action.TRIAL_DECIDE``; audited ``trial.decision``). An early stop or a
  recruitment closure closes recruitment at every site in the same transaction
  (:func:`trialdesk.services.sites.close_recruitment`): no new subject is screened or randomized, subjects
  already randomized continue. A completion closes every site (ACTIVE_NOT_RECRUITING where the records still
  follow a subject).
* :func:`approve_results`: the sponsor approves an analysis run's results for posting, confirming it explicitly
  (``Action.RESULTS_APPROVE``; audited ``results.approved``).
* :func:`post_results`: the statistician posts an approved run's resultsSection, confirming it explicitly, once
  the protocol's primary analysis is due (:func:`trialdesk.domain.results_posting.analysis_due_problem`). Each
  posting is a new version; earlier versions are kept (``Action.RESULTS_POST``; audited ``results.posted``).
* :func:`registry_view`: what the public page says: the computed status
  (:func:`trialdesk.domain.results_posting.registry_status`), first posted, last updated and the history.
  :func:`current_status` is its status and last-updated date alone: the one home the home list, the API's protocol
  JSON and the CT.gov export read them from (:mod:`trialdesk.services.registry`).
"""

from __future__ import annotations

import json
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.protocol import OverallStatus, Protocol
from trialdesk.domain.records import AnalysisRun, Trial
from trialdesk.domain.results_posting import DecisionKind, TrialOperations, analysis_due_problem, registry_status
from trialdesk.services.analysis import run_summary
from trialdesk.services.commands import ApproveResults, PostResults, RecordTrialDecision
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.sites import STUDY_ENDED, close_recruitment
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = [
    "approve_results",
    "current_status",
    "decisions",
    "post_results",
    "posting_due",
    "record_decision",
    "registry_view",
    "runs_for_approval",
    "trial_status",
]

#: Decisions that close recruitment at every site (a completion closes the sites themselves).
_CLOSES_RECRUITMENT = frozenset(
    {DecisionKind.EARLY_STOP.value, DecisionKind.RECRUITMENT_CLOSED.value, DecisionKind.COMPLETED.value}
)


def _confirmed(confirm: bool, what: str) -> None:
    if not confirm:
        raise InvalidInput(f"must be true: confirm that you {what}", field="confirm")


def _target_events(protocol: Protocol) -> int | None:
    design = protocol.operations.design
    return design.target_events if design is not None else None


def _decision_kinds(uow: UnitOfWork, trial_id: int) -> frozenset[str]:
    return frozenset(d.kind for d in uow.analysis.decisions(trial_id))


def _run(uow: UnitOfWork, trial_id: int, nct_id: str, run_id: int | None) -> AnalysisRun:
    row = uow.analysis.latest_run(trial_id) if run_id is None else uow.analysis.get_run(trial_id, run_id)
    if row is None:
        raise NotFound(
            f"no analysis run {run_id} for {nct_id}"
            if run_id is not None
            else f"no analysis run for {nct_id}; run the analysis first"
        )
    if not row.results_section_json:
        raise Conflict(f"analysis run {row.id} has no resultsSection")
    return row


def posting_due(uow: UnitOfWork, nct_id: str, run: AnalysisRun) -> str | None:
    """Why this run's results may not be posted yet (``None``: the primary analysis is due)."""
    trial_id = stored_id(get_trial_row(uow, nct_id))
    events = int(run_summary(run)["pfs_events"])
    return analysis_due_problem(
        events, _target_events(get_protocol(uow, nct_id, live_sites=False)), _decision_kinds(uow, trial_id)
    )


def record_decision(uow: UnitOfWork, principal: Principal, nct_id: str, cmd: RecordTrialDecision) -> dict[str, Any]:
    """Record a trial-level decision (sponsor or statistician), dated on or before today; audited."""
    require(principal, Action.TRIAL_DECIDE)
    trial = get_trial_row(uow, nct_id)
    today = uow.now().date()
    decided_on = cmd.decided_on or today
    if decided_on > today:
        raise InvalidInput(f"must not be in the future (today is {today})", field="decided_on")
    row = uow.analysis.add_decision(
        trial_id=stored_id(trial),
        kind=cmd.kind,
        decided_on=decided_on.isoformat(),
        reason=cmd.reason,
        recorded_at=uow.now().isoformat(),
        recorded_by=principal.username,
    )
    trial.updated_at = row.recorded_at
    out = {"id": row.id, "kind": row.kind, "decided_on": row.decided_on, "reason": row.reason}
    uow.record("trial.decision", "trial", nct_id, after=out, trial=nct_id, actor=principal.username, reason=cmd.reason)
    if cmd.kind in _CLOSES_RECRUITMENT:
        completed = cmd.kind == DecisionKind.COMPLETED.value
        close_recruitment(
            uow, nct_id, reason=f"{cmd.kind}: {cmd.reason}", actor=principal.username, completed=completed
        )
    return {**out, "recorded_by": row.recorded_by, "recorded_at": row.recorded_at}


def decisions(uow: UnitOfWork, nct_id: str) -> list[dict[str, Any]]:
    trial_id = stored_id(get_trial_row(uow, nct_id))
    return [
        {"id": d.id, "kind": d.kind, "decided_on": d.decided_on, "reason": d.reason, "recorded_by": d.recorded_by}
        for d in uow.analysis.decisions(trial_id)
    ]


def approve_results(uow: UnitOfWork, principal: Principal, nct_id: str, cmd: ApproveResults) -> dict[str, Any]:
    """The sponsor approves a run's results for posting (explicit confirmation required); audited."""
    require(principal, Action.RESULTS_APPROVE)
    _confirmed(cmd.confirm, f"approve the results of analysis run {cmd.run_id} for posting")
    trial_id = stored_id(get_trial_row(uow, nct_id))
    run = _run(uow, trial_id, nct_id, cmd.run_id)
    run_id = stored_id(run)
    if uow.analysis.approval_for_run(trial_id, run_id) is not None:
        raise Conflict(f"analysis run {run_id} is already approved")
    row = uow.analysis.add_approval(
        trial_id=trial_id,
        run_id=run_id,
        approved_at=uow.now().isoformat(),
        approved_by=principal.username,
        note=cmd.note,
    )
    out = {
        "approval_id": row.id,
        "run_id": run_id,
        "cut_date": run.cut_date,
        "approved_at": row.approved_at,
        "approved_by": row.approved_by,
    }
    uow.record(
        "results.approved",
        "analysis_run",
        run_id,
        after=out,
        trial=nct_id,
        actor=principal.username,
        reason=cmd.note or f"results of analysis run {run_id} (cut {run.cut_date}) approved for posting",
    )
    return out


def post_results(uow: UnitOfWork, principal: Principal, nct_id: str, cmd: PostResults) -> dict[str, Any]:
    """Post an approved run's resultsSection (the latest run when ``cmd.run_id`` is None) as the next version.

    Refused (nothing written) without ``cmd.confirm``, before the primary analysis is due, or without the
    sponsor's approval of that run.
    """
    require(principal, Action.RESULTS_POST)
    _confirmed(cmd.confirm, "publish these results on the public registry page")
    trial = uow.trials.get(nct_id, for_update=True)
    if trial is None:
        raise NotFound(f"trial {nct_id} is not loaded")
    trial_id = stored_id(trial)
    run = _run(uow, trial_id, nct_id, cmd.run_id)
    run_id = stored_id(run)
    problem = posting_due(uow, nct_id, run)
    if problem is not None:
        raise Conflict(f"results of analysis run {run_id} may not be posted: {problem}")
    approval = uow.analysis.approval_for_run(trial_id, run_id)
    if approval is None:
        raise Conflict(f"analysis run {run_id} is not approved by the sponsor; the sponsor approves before posting")
    section_json = run.results_section_json or ""
    uow.ports.results.check_results_section(json.loads(section_json))
    earlier = uow.analysis.postings(trial_id)
    version = (earlier[-1].version if earlier else 0) + 1
    now = uow.now().isoformat()
    uow.analysis.add_posting(
        trial_id=trial_id,
        version=version,
        run_id=run_id,
        approval_id=stored_id(approval),
        cut_date=run.cut_date,
        posted_at=now,
        posted_by=principal.username,
        results_json=section_json,
    )
    before = {"results_posted_at": trial.results_posted_at, "version": earlier[-1].version if earlier else None}
    trial.results_json = section_json
    trial.results_posted_at = now
    trial.updated_at = now
    run.posted_at = now
    after = {**run_summary(run), "version": version, "approved_by": approval.approved_by}
    uow.record(
        "results.posted",
        "trial",
        nct_id,
        before=before,
        after=after,
        trial=nct_id,
        actor=principal.username,
        reason=f"results of analysis run {run_id} (cut {run.cut_date}), version {version}",
    )
    return after


def runs_for_approval(uow: UnitOfWork, principal: Principal, nct_id: str) -> list[dict[str, Any]]:
    """The runs' headline numbers with their approval, posting and whether the analysis is due (sponsor or
    statistician)."""
    if not principal.can(Action.ANALYSIS_RUN):
        require(principal, Action.RESULTS_APPROVE)
    trial_id = stored_id(get_trial_row(uow, nct_id))
    approvals = {a.run_id: a for a in uow.analysis.approvals(trial_id)}
    versions: dict[int, list[int]] = {}
    for p in uow.analysis.postings(trial_id):
        versions.setdefault(p.run_id, []).append(p.version)
    out = []
    for run in uow.analysis.list_runs(trial_id):
        approval = approvals.get(stored_id(run))
        out.append(
            {
                **run_summary(run),
                "due_problem": posting_due(uow, nct_id, run),
                "approved_by": approval.approved_by if approval else None,
                "approved_at": approval.approved_at if approval else None,
                "versions": versions.get(stored_id(run), []),
            }
        )
    return out


def _operations(uow: UnitOfWork, trial: Trial, protocol: Protocol) -> TrialOperations:
    trial_id = stored_id(trial)
    allocated = {a.subject_id for a in uow.allocations.for_trial(trial_id)}
    in_study = sum(1 for s in uow.subjects.list(trial_id) if s.id in allocated and s.status not in STUDY_ENDED)
    design = protocol.operations.design
    enrollment = protocol.registry.design.enrollment
    sample_size = design.sample_size if design is not None else (enrollment.count if enrollment else None)
    return TrialOperations(
        record_status=protocol.registry.status.overall_status,
        operated=protocol.operations.randomization is not None or bool(allocated),
        site_statuses=tuple(s.status for s in uow.sites.for_trial(trial_id) if s.status),
        randomized=len(allocated),
        sample_size=sample_size,
        in_study=in_study,
        decisions=_decision_kinds(uow, trial_id),
    )


def trial_status(uow: UnitOfWork, nct_id: str) -> OverallStatus:
    """The registry's overall status now, computed from operations."""
    trial = get_trial_row(uow, nct_id)
    return registry_status(_operations(uow, trial, get_protocol(uow, nct_id, live_sites=False)))


def _day(text: str | None) -> str | None:
    return text[:10] if text else None


def _last_updated(uow: UnitOfWork, trial: Trial, protocol: Protocol, postings: list[Any]) -> str | None:
    trial_id = stored_id(trial)
    dates = [protocol.registry.status.last_update_post_date, _day(trial.updated_at)]
    dates += [_day(p.posted_at) for p in postings]
    dates += [_day(d.recorded_at) for d in uow.analysis.decisions(trial_id)]
    known = sorted(d for d in dates if d)
    return known[-1] if known else None


def current_status(uow: UnitOfWork, nct_id: str) -> tuple[OverallStatus, str | None]:
    """The registry's overall status now and the record's last-updated date (``YYYY-MM-DD``), as the public page
    shows them (:func:`registry_view`)."""
    trial = get_trial_row(uow, nct_id)
    protocol = get_protocol(uow, nct_id, live_sites=False)
    postings = uow.analysis.postings(stored_id(trial))
    return registry_status(_operations(uow, trial, protocol)), _last_updated(uow, trial, protocol, postings)


def registry_view(uow: UnitOfWork, nct_id: str) -> dict[str, Any]:
    """What the public page shows besides the record: ``status``, ``first_posted`` and ``last_posted`` (of the
    results), ``last_updated`` (the latest of the record's own date, a change of the stored record, a posting or a
    decision) and ``history`` (every posting version, oldest first)."""
    trial = get_trial_row(uow, nct_id)
    protocol = get_protocol(uow, nct_id, live_sites=False)
    postings = uow.analysis.postings(stored_id(trial))
    history = [
        {"version": p.version, "posted_on": _day(p.posted_at), "cut_date": p.cut_date, "run_id": p.run_id}
        for p in postings
    ]
    return {
        "status": registry_status(_operations(uow, trial, protocol)).value,
        "first_posted": history[0]["posted_on"] if history else None,
        "last_posted": history[-1]["posted_on"] if history else None,
        "last_updated": _last_updated(uow, trial, protocol, postings),
        "history": history,
    }
