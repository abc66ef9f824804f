"""Risk-based monitoring for the monitor (issue 15, ICH E6(R3)): source-data verification (SDV) marks per record,
the protocol-deviation log and key risk indicators (KRIs) per site. The rules are ``domain/monitoring.py``'s.

Who may do what (``domain/access.py``):

- ``sdv.mark``: the monitor, at the monitor's sites. Site staff never mark their own data as verified.
- ``deviation.record``: the monitor, the investigator and the coordinator, at their sites (the site documents the
  deviations it finds itself, ICH E6(R3) 2.5); ``deviation.close`` (with the corrective and preventive action):
  the monitor only. Deviations are listed to whoever sees the subjects (``subject.view``).
- ``monitoring.view``: the monitor (its sites) and the sponsor (every site): the KRI table holds aggregates only.

Every change is audited: ``sdv.marked``, ``sdv.cleared``, ``deviation.recorded``, ``deviation.closed``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.monitoring import (
    DEVIATION_CATEGORIES,
    DEVIATION_STATUSES,
    KRIS,
    MonitoringSpec,
    SiteExposure,
    record_version,
    sdv_state,
    site_kris,
)
from trialdesk.domain.records import ProtocolDeviation, SdvMark, Subject
from trialdesk.domain.timeline import in_trial, not_before, raise_problems, trial_dates
from trialdesk.services.commands import Command, Text
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.subjects import get_subject, visible_sites
from trialdesk.services.unit_of_work import UnitOfWork

EntityType = Literal[
    "subject", "screening", "randomization", "dose", "adverse_event", "tumor_assessment", "disposition"
]
Category = Literal[
    "eligibility",
    "informed_consent",
    "ip_administration",
    "visit_schedule",
    "assessment_missed",
    "safety_reporting",
    "other",
]


# -- commands -----------------------------------------------------------------------------------------------------
class MarkSdv(Command):
    """Mark one record source-verified. ``version``: the version the monitor was shown (refused if the record
    changed since)."""

    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=80)
    version: str | None = Field(default=None, max_length=64)


class ClearSdv(Command):
    """Take a verification back, saying why."""

    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=80)
    reason: Text


class RecordDeviation(Command):
    """A protocol deviation of one subject."""

    category: Category
    description: Text
    occurred_on: dt.date
    important: bool = False


class CloseDeviation(Command):
    """Close a deviation with its corrective and preventive action (CAPA)."""

    capa: Text


# -- the records a monitor verifies -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RecordRef:
    entity_type: str
    entity_id: str
    label: str
    version: str


SUBJECT_FIELDS = ("patient_ref", "birth_date", "sex", "height_cm")


def _content(row: Any, only: Iterable[str] | None = None) -> dict[str, Any]:
    names = list(only) if only is not None else [f.name for f in dataclasses.fields(row) if f.name != "id"]
    return {name: getattr(row, name) for name in names}


def subject_records(uow: UnitOfWork, subject: Subject) -> list[RecordRef]:
    """The subject's captured records, each with its current version, in casebook order."""
    sid = stored_id(subject)
    refs = [
        RecordRef("subject", subject.subject_number, "demographics", record_version(_content(subject, SUBJECT_FIELDS)))
    ]
    for s in uow.screenings.for_subject(sid):
        refs.append(
            RecordRef("screening", str(s.id), f"{s.screening_number} · {s.screened_on}", record_version(_content(s)))
        )
    allocation = uow.allocations.for_subject(sid, include_in_error=True)
    if allocation is not None:
        label = f"{allocation.randomization_number} · {allocation.randomized_on}"
        refs.append(RecordRef("randomization", str(allocation.id), label, record_version(_content(allocation))))
    for d in uow.doses.for_subject(sid):
        label = f"C{d.cycle} {d.drug} · {d.dose_date}"
        refs.append(RecordRef("dose", str(d.id), label, record_version(_content(d))))
    for ae in uow.adverse_events.for_subject(sid):
        label = f"{ae.term} G{ae.grade} · {ae.onset_date}"
        refs.append(RecordRef("adverse_event", str(ae.id), label, record_version(_content(ae))))
    for ta in uow.tumor_assessments.for_subject(sid):
        label = f"{'baseline' if ta.baseline else 'follow-up'} · {ta.assessment_date}"
        refs.append(RecordRef("tumor_assessment", str(ta.id), label, record_version(_content(ta))))
    for disp in uow.dispositions.for_subject(sid):
        refs.append(
            RecordRef("disposition", str(disp.id), f"{disp.kind} · {disp.event_date}", record_version(_content(disp)))
        )
    return refs


def _mark_dict(mark: SdvMark | None) -> dict[str, Any] | None:
    if mark is None:
        return None
    return {"version": mark.version, "marked_at": mark.marked_at, "marked_by": mark.marked_by}


def _states(refs: list[RecordRef], marks: Iterable[SdvMark]) -> list[dict[str, Any]]:
    active = {(m.entity_type, m.entity_id): m for m in marks}
    out = []
    for ref in refs:
        mark = active.get((ref.entity_type, ref.entity_id))
        out.append(
            {
                "entity_type": ref.entity_type,
                "entity_id": ref.entity_id,
                "label": ref.label,
                "version": ref.version,
                "state": sdv_state(ref.version, mark.version if mark else None),
                "mark": _mark_dict(mark),
            }
        )
    return out


def subject_sdv(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> dict[str, Any]:
    """The subject's records with their SDV state (``subject.view``), and the coverage."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number)
    rows = _states(subject_records(uow, subject), uow.monitoring.active_marks(stored_id(trial), subject_id=subject.id))
    verified = sum(1 for r in rows if r["state"] == "verified")
    return {
        "subject": subject.subject_number,
        "site": subject.site_key,
        "records": rows,
        "verified": verified,
        "total": len(rows),
        "coverage": verified / len(rows) if rows else None,
        "can_mark": principal.can(Action.SDV_MARK, subject.site_key),
    }


def sdv_state_for(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, refs: Iterable[tuple[str, str | int]]
) -> dict[tuple[str, str], str]:
    """The hook for the subject casebook: ``(entity_type, entity_id) -> verified | changed | unverified`` of the
    given records of one subject (``subject.view``); a record the subject does not have reads ``unverified``."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number)
    current = {(r.entity_type, r.entity_id): r.version for r in subject_records(uow, subject)}
    marks = {
        (m.entity_type, m.entity_id): m.version
        for m in uow.monitoring.active_marks(stored_id(trial), subject_id=subject.id)
    }
    out = {}
    for entity_type, entity_id in refs:
        key = (entity_type, str(entity_id))
        out[key] = sdv_state(current.get(key), marks.get(key)) if key in current else "unverified"
    return out


def _ts(uow: UnitOfWork) -> str:
    return uow.now().astimezone(dt.UTC).isoformat(timespec="seconds")


def _find(uow: UnitOfWork, subject: Subject, entity_type: str, entity_id: str) -> RecordRef:
    for ref in subject_records(uow, subject):
        if (ref.entity_type, ref.entity_id) == (entity_type, entity_id.strip()):
            return ref
    label = entity_type.replace("_", " ")
    raise InvalidInput(f"subject {subject.subject_number} has no {label} {entity_id[:40]!r}", field="entity_id")


def mark_sdv(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: MarkSdv) -> dict[str, Any]:
    """The monitor marks a record source-verified at its current version (``sdv.mark``). Marking a record whose
    mark is out of date (changed since) supersedes the old mark; marking a verified record again changes nothing."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    require(principal, Action.SDV_MARK, subject.site_key, hide=False)
    ref = _find(uow, subject, cmd.entity_type, cmd.entity_id)
    if cmd.version is not None and cmd.version != ref.version:
        raise Conflict(f"{ref.entity_type} {ref.entity_id} changed since the page was loaded; verify it again")
    old = uow.monitoring.active_mark(stored_id(subject), ref.entity_type, ref.entity_id, for_update=True)
    if old is not None and old.version == ref.version:
        return {
            "entity_type": ref.entity_type,
            "entity_id": ref.entity_id,
            "state": "verified",
            "mark": _mark_dict(old),
        }
    when = _ts(uow)
    if old is not None:
        old.cleared_at, old.cleared_by, old.clear_reason = when, principal.username, "superseded: verified again"
    mark = uow.monitoring.add_mark(
        subject_id=stored_id(subject),
        site_key=subject.site_key,
        entity_type=ref.entity_type,
        entity_id=ref.entity_id,
        version=ref.version,
        marked_at=when,
        marked_by=principal.username,
    )
    uow.record(
        "sdv.marked",
        ref.entity_type,
        ref.entity_id,
        before=None if old is None else {"version": old.version, "state": "changed"},
        after={"subject_number": subject.subject_number, "version": ref.version, "state": "verified"},
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    return {"entity_type": ref.entity_type, "entity_id": ref.entity_id, "state": "verified", "mark": _mark_dict(mark)}


def clear_sdv(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: ClearSdv) -> dict[str, Any]:
    """The monitor takes a verification back, with a reason (``sdv.mark``)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    require(principal, Action.SDV_MARK, subject.site_key, hide=False)
    mark = uow.monitoring.active_mark(stored_id(subject), cmd.entity_type, cmd.entity_id.strip(), for_update=True)
    if mark is None:
        raise Conflict(f"{cmd.entity_type} {cmd.entity_id.strip()[:40]} is not marked as verified")
    reason = cmd.reason.strip()
    if not reason:
        raise InvalidInput("must not be blank", field="reason")
    mark.cleared_at, mark.cleared_by, mark.clear_reason = _ts(uow), principal.username, reason
    uow.record(
        "sdv.cleared",
        mark.entity_type,
        mark.entity_id,
        before={"version": mark.version, "marked_by": mark.marked_by},
        after={"subject_number": subject.subject_number, "state": "unverified"},
        reason=reason,
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    return {"entity_type": mark.entity_type, "entity_id": mark.entity_id, "state": "unverified", "mark": None}


# -- protocol deviations ------------------------------------------------------------------------------------------
def deviation_dict(row: ProtocolDeviation, subject_number: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject": subject_number,
        "site": row.site_key,
        "category": row.category,
        "description": row.description,
        "occurred_on": row.occurred_on,
        "important": bool(row.important),
        "found_by": row.found_by,
        "recorded_at": row.recorded_at,
        "status": row.status,
        "capa": row.capa,
        "closed_at": row.closed_at,
        "closed_by": row.closed_by,
    }


def _check_date(uow: UnitOfWork, nct_id: str, subject: Subject, cmd: RecordDeviation) -> None:
    """Inside the trial and not in the future; not before the subject's informed consent, except an
    informed-consent deviation (a procedure done before consent is exactly that deviation)."""
    today = uow.now().date()
    dates = trial_dates(get_protocol(uow, nct_id, live_sites=False), today)
    consent_text = uow.adverse_events.first_consent_date(stored_id(subject))
    consent = dt.date.fromisoformat(consent_text) if consent_text else None
    problems = in_trial("occurred_on", cmd.occurred_on, dates)
    if cmd.category != "informed_consent":
        problems += not_before("occurred_on", cmd.occurred_on, "consent_date", consent)
    raise_problems(problems)


def record_deviation(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RecordDeviation
) -> dict[str, Any]:
    """Log a protocol deviation of a subject (``deviation.record``: the monitor or the site's staff)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    require(principal, Action.DEVIATION_RECORD, subject.site_key, hide=False)
    _check_date(uow, nct_id, subject, cmd)
    description = cmd.description.strip()
    if not description:
        raise InvalidInput("must not be blank", field="description")
    when = _ts(uow)
    row = uow.monitoring.add_deviation(
        subject_id=stored_id(subject),
        site_key=subject.site_key,
        category=cmd.category,
        description=description,
        occurred_on=cmd.occurred_on.isoformat(),
        important=cmd.important,
        found_by=principal.username,
        recorded_at=when,
        recorded_by=principal.username,
        status="open",
    )
    out = deviation_dict(row, subject.subject_number)
    uow.record(
        "deviation.recorded",
        "deviation",
        row.id,
        # the audit trail's subject filter finds an event by its subject_number (as for every subject's record)
        after={
            "subject_number": subject.subject_number,
            **{k: v for k, v in out.items() if k not in ("id", "capa", "closed_at", "closed_by", "subject")},
        },
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    return out


def close_deviation(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, deviation_id: int, cmd: CloseDeviation
) -> dict[str, Any]:
    """The monitor closes a deviation with its corrective and preventive action (``deviation.close``)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    row = uow.monitoring.get_deviation(int(deviation_id), for_update=True)
    if row is None or row.subject_id != subject.id:
        raise NotFound(f"no deviation {deviation_id} of subject {subject_number} in {nct_id}")
    require(principal, Action.DEVIATION_CLOSE, subject.site_key, hide=False)
    if row.status == "closed":
        raise Conflict(f"deviation {row.id} is already closed")
    capa = cmd.capa.strip()
    if not capa:
        raise InvalidInput("must not be blank", field="capa")
    row.status, row.capa, row.closed_at, row.closed_by = "closed", capa, _ts(uow), principal.username
    uow.record(
        "deviation.closed",
        "deviation",
        row.id,
        before={"status": "open"},
        after={"status": "closed", "capa": capa, "subject_number": subject.subject_number},
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    return deviation_dict(row, subject.subject_number)


def list_deviations(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    *,
    site: str | None = None,
    subject_number: str | None = None,
    status: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """The deviations the caller may see (``subject.view`` sites), filtered; in the order they were recorded."""
    if status is not None and status not in DEVIATION_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(DEVIATION_STATUSES)}", field="status")
    if category is not None and category not in DEVIATION_CATEGORIES:
        raise InvalidInput(f"must be one of {', '.join(DEVIATION_CATEGORIES)}", field="category")
    if principal.sites_for(Action.SUBJECT_VIEW) == frozenset():
        require(principal, Action.SUBJECT_VIEW, hide=False)
    trial = get_trial_row(uow, nct_id)
    subject_id = None
    if subject_number is not None:
        _, subject = get_subject(uow, principal, nct_id, subject_number)
        subject_id = subject.id
    sites = visible_sites(principal, site)
    if sites is not None and not sites:
        return []
    rows = uow.monitoring.deviations(stored_id(trial), sites=sites, subject_id=subject_id, status=status)
    return [deviation_dict(d, s.subject_number) for d, s in rows if category is None or d.category == category]


# -- key risk indicators ------------------------------------------------------------------------------------------
def spec_of(uow: UnitOfWork, nct_id: str) -> MonitoringSpec:
    return get_protocol(uow, nct_id, live_sites=False).operations.monitoring or MonitoringSpec()


def exposures(uow: UnitOfWork, nct_id: str, today: dt.date) -> dict[str, SiteExposure]:
    """Every site's numerators and exposure (no principal: the same whoever asks). Randomized subjects, open
    queries and overdue visits are the dashboard's own counts (``services/dashboard.site_counts``)."""
    from trialdesk.services.dashboard import site_counts

    trial = get_trial_row(uow, nct_id)
    trial_id = stored_id(trial)
    site_keys = [s.site_key for s in uow.sites.for_trial(trial_id)]
    counts = site_counts(uow, nct_id, trial_id, site_keys, today)
    subjects = uow.subjects.list(trial_id)
    marks: dict[int, list[SdvMark]] = defaultdict(list)
    for m in uow.monitoring.active_marks(trial_id):
        marks[m.subject_id].append(m)
    by_site: dict[str, Counter[str]] = {site: Counter() for site in site_keys}
    doses = uow.doses.for_subjects([stored_id(s) for s in subjects])
    for subject in subjects:
        c = by_site.setdefault(subject.site_key, Counter())
        states = _states(subject_records(uow, subject), marks.get(stored_id(subject), []))
        c["records"] += len(states)
        c["verified"] += sum(1 for r in states if r["state"] == "verified")
        c["adverse_events"] += len(uow.adverse_events.for_subject(stored_id(subject)))
        c["subject_cycles"] += len({d.cycle for d in doses.get(stored_id(subject), [])})
    for d, _s in uow.monitoring.deviations(trial_id):
        by_site.setdefault(d.site_key, Counter())["deviations"] += 1
    out = {}
    for site, c in by_site.items():
        dash = counts.get(site)
        out[site] = SiteExposure(
            subjects=dash["randomized"] if dash else 0,
            subject_cycles=c["subject_cycles"],
            records=c["records"],
            verified=c["verified"],
            open_queries=dash["open_queries"] if dash else 0,
            adverse_events=c["adverse_events"],
            deviations=c["deviations"],
            overdue_visits=dash["overdue_visits"] if dash else 0,
        )
    return out


def kri_report(uow: UnitOfWork, principal: Principal, nct_id: str, *, today: dt.date | None = None) -> dict[str, Any]:
    """The KRI table of the sites the caller may see (``monitoring.view``), each rate against the trial's."""
    visible = principal.sites_for(Action.MONITORING_VIEW)
    if visible == frozenset():
        require(principal, Action.MONITORING_VIEW, hide=False)
    today = today or uow.now().date()
    spec = spec_of(uow, nct_id)
    by_site = exposures(uow, nct_id, today)
    kris = site_kris(by_site, spec)
    trial_id = stored_id(get_trial_row(uow, nct_id))
    facilities = {s.site_key: s.facility for s in uow.sites.for_trial(trial_id)}
    rows = [
        {
            "site": site,
            "facility": facilities.get(site, site),
            "exposure": dataclasses.asdict(by_site[site]),
            "kris": [k.as_dict() for k in kris[site]],
            "flags": sum(1 for k in kris[site] if k.flag),
        }
        for site in sorted(by_site)
        if visible is None or site in visible
    ]
    total = SiteExposure()
    for exposure in by_site.values():
        total = total + exposure
    return {
        "nct_id": nct_id,
        "as_of": today.isoformat(),
        "kri_keys": [d.key for d in KRIS],
        "spec": spec.model_dump(exclude={"assumptions"}),
        "trial": dataclasses.asdict(total),
        "sites": rows,
    }


def site_kri(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str, *, today: dt.date | None = None
) -> dict[str, Any]:
    """One site's KRIs (``monitoring.view`` at that site)."""
    require(principal, Action.MONITORING_VIEW, site_key, hide=False)
    report = kri_report(uow, principal, nct_id, today=today)
    for row in report["sites"]:
        if row["site"] == site_key:
            return {**report, "sites": [row]}
    raise NotFound(f"no site {site_key} in {nct_id}")
