"""The screening log: screen a patient at a site, keep every screening, summarise screen failures.

A screening evaluates a :class:`~trialdesk.domain.screening.ScreeningRecord` against the protocol's eligibility
rules (:func:`trialdesk.domain.eligibility.evaluate`) and stores, with a site-unique screening number
(``S07-0001``), the verdict, every criterion's status and reason, the stratification factor values derived from
the record (read later by randomization), the ids of the failed criteria and the digest of the protocol that
decided. The patient becomes a Subject (``07-0001``) at the first screening; a rescreen adds a screening to the
same subject and never replaces one. A randomized subject cannot be rescreened.

Subject status after a screening: ``eligible``, ``screen_failed`` (ineligible) or ``screening`` (incomplete).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.eligibility import EligibilitySpec, coerce_criteria, evaluate, evaluate_named
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, Problem, problems_from_pydantic
from trialdesk.domain.patient_ref import clean_patient_ref, patient_key
from trialdesk.domain.randomization import factor_level
from trialdesk.domain.records import Screening, Subject
from trialdesk.domain.screening import ScreeningRecord
from trialdesk.domain.sites import require_recruiting
from trialdesk.domain.subject_lifecycle import SCREENING_STATUS, SubjectStatus, can_rescreen, status_after_screening
from trialdesk.domain.timeline import history_problems, screening_problems, trial_dates
from trialdesk.services.commands import ScreenPatient
from trialdesk.services.registry import get_protocol, get_trial_row, protocol_digest, stored_id
from trialdesk.services.subjects import site_code, touch, visible_sites
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = [
    "SUBJECT_STATUS",
    "RESCREENABLE",
    "screen_subject",
    "latest_screening",
    "screenings_of",
    "get_screening",
    "screening_log",
    "screen_failure_summary",
    "parse_record",
]

#: subject status after a screening, by verdict
SUBJECT_STATUS = {verdict: status.value for verdict, status in SCREENING_STATUS.items()}
#: subject statuses from which a patient may be (re)screened
RESCREENABLE = frozenset(SUBJECT_STATUS.values())
PATIENT_REF_MAX = 80


# --------------------------------------------------------------------------------------------- input checks
def parse_record(record: Any, *, prefix: str = "record") -> ScreeningRecord:
    """Validate a screening record; problems name the field as ``record.<path>`` (e.g. ``record.labs.anc.value``)."""
    if isinstance(record, ScreeningRecord):
        return record
    if not isinstance(record, dict):
        raise InvalidInput(f"must be a JSON object, got {type(record).__name__}", field=prefix)
    try:
        return ScreeningRecord.model_validate(record)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix=prefix)) from None


def _check_patient_ref(patient_ref: str) -> str:
    """The reference in its clean form (:func:`clean_patient_ref`): blanks alone are no reference."""
    ref = clean_patient_ref(patient_ref)
    if not ref:
        raise InvalidInput("required: the site's pseudonymous reference of the patient", field="patient_ref")
    if len(ref) > PATIENT_REF_MAX:
        raise InvalidInput(f"at most {PATIENT_REF_MAX} characters, got {len(ref)}", field="patient_ref")
    return ref


def _check_screened_on(screened_on: dt.date | None, today: dt.date) -> dt.date:
    if screened_on is None:
        return today
    if screened_on > today:
        raise InvalidInput(f"{screened_on} is in the future (today is {today})", field="screened_on")
    return screened_on


def _history_dates(value: Any, path: str = "record") -> dict[str, dt.date]:
    """Every date in a dumped screening record, by path (``record.prior_therapies.0.end_date``)."""
    if isinstance(value, dt.date):
        return {path: value}
    out: dict[str, dt.date] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_history_dates(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(_history_dates(item, f"{path}.{index}"))
    return out


def _existing_subject(uow: UnitOfWork, trial_id: int, site_key: str, ref: str) -> Subject | None:
    """The subject at the site whose reference has the same :func:`patient_key` as ``ref`` (locked), or None.
    The site row is locked by the caller, so no other screening at the site can add one meanwhile."""
    subject = uow.screenings.subject_for_patient(trial_id, site_key, ref, for_update=True)
    if subject is not None:
        return subject
    key = patient_key(ref)
    for other in uow.subjects.list(trial_id, frozenset({site_key})):
        if patient_key(other.patient_ref) == key:
            return uow.screenings.subject_for_patient(trial_id, site_key, other.patient_ref, for_update=True)
    return None


def _attestation_problems(spec: EligibilitySpec, rec: ScreeningRecord) -> list[Problem]:
    """Attestations must name criteria of the protocol (not headings)."""
    known = set(spec.leaf_ids())
    return [
        Problem(f"record.attestations.{cid}", f"{cid!r} is not a criterion of this protocol")
        for cid in rec.attestations
        if cid not in known
    ]


def _next_number(taken: Callable[[str], bool], prefix: str, start: int) -> str:
    n = start
    while taken(f"{prefix}{n:04d}"):
        n += 1
    return f"{prefix}{n:04d}"


# --------------------------------------------------------------------------------------------- use cases
def screen_subject(uow: UnitOfWork, principal: Principal, nct_id: str, cmd: ScreenPatient) -> dict[str, Any]:
    """Screen a patient at a site and store the screening.

    Parameters
    ----------
    uow
        Unit of work (the caller commits).
    principal
        The caller; needs :attr:`Action.SCREEN` at the command's site.
    nct_id
        The trial.
    cmd
        ``site``: the site, which must be RECRUITING. ``patient_ref``: the site's pseudonymous reference of the
        patient; the same reference at the same site is the same Subject (rescreening). ``record``: the screening
        record; a malformed one raises :class:`InvalidInput` naming the field (``record.labs.anc.value``) and
        nothing is stored. ``screened_on``: date of the screening (default: today by the unit of work's clock;
        not in the future).

    Returns
    -------
    dict
        ``subject_number``, ``screening_number``, ``verdict``, ``criteria`` (id, text, status, reason, ...),
        ``derived`` (stratification factor values keyed by the derived quantity, ``factor.derive``),
        ``screened_on``, ``rescreen``.

    Raises
    ------
    PermissionDenied
        The caller may not screen at the site (audited, nothing stored).
    Conflict
        The site is not RECRUITING, or the subject is already randomized.
    """
    site_key = cmd.site
    require(principal, Action.SCREEN, site_key)
    trial = get_trial_row(uow, nct_id)
    trial_id = stored_id(trial)
    site = uow.sites.get(trial_id, site_key, for_update=True)  # serialises numbering at the site
    if site is None:
        raise NotFound(f"no site {site_key!r} in {nct_id}")
    require_recruiting(site_key, site.status)

    problems: list[Problem] = []
    ref, day, rec = "", uow.now().date(), None
    try:
        ref = _check_patient_ref(cmd.patient_ref)
    except InvalidInput as exc:
        problems += exc.problems
    try:
        day = _check_screened_on(cmd.screened_on, day)
    except InvalidInput as exc:
        problems += exc.problems
    try:
        rec = parse_record(cmd.record)
    except InvalidInput as exc:
        problems += exc.problems
    if problems or rec is None:
        raise InvalidInput(problems)

    protocol = get_protocol(uow, nct_id, live_sites=False)
    spec = protocol.operations.eligibility
    if spec is None:
        raise Conflict(f"{nct_id} has no eligibility rules (operations.eligibility)")
    problems = screening_problems(day, rec.consent_date, trial_dates(protocol, uow.now().date()))
    problems += history_problems(
        _history_dates(rec.model_dump(exclude={"consent_date", "planned_first_dose_date"})), day
    )
    problems += _attestation_problems(spec, rec)
    if problems:
        raise InvalidInput(problems)
    result = evaluate(spec, rec, protocol.registry.eligibility)
    derived: dict[str, Any] = {}
    if protocol.operations.randomization is not None:
        for factor in protocol.operations.randomization.factors:
            derived[factor.derive] = factor_level(evaluate_named(spec, rec, factor.derive), factor.levels)
    criteria = [c.model_dump(mode="json") for c in result.criteria]
    failed = [c.id for c in result.criteria if c.status == "not_met" and c.basis != "heading"]

    now = uow.now().isoformat()
    code = site_code(uow, trial_id, site_key)
    subject = _existing_subject(uow, trial_id, site_key, ref)
    rescreen = subject is not None
    if subject is None:
        number = _next_number(
            lambda n: uow.subjects.get(trial_id, n) is not None,
            f"{code}-",
            uow.subjects.count_at_site(trial_id, site_key) + 1,
        )
        subject = uow.subjects.create(
            trial_id=trial_id,
            site_key=site_key,
            subject_number=number,
            patient_ref=ref,
            status=SubjectStatus.SCREENING.value,
            created_at=now,
            data_version=0,
        )
        before = None
    else:
        allocated = uow.allocations.for_subject(stored_id(subject), include_in_error=True) is not None
        if not can_rescreen(subject.status) or allocated:
            raise Conflict(
                f"subject {subject.subject_number} is {subject.status}: a randomized subject cannot be rescreened"
            )
        before = _subject_state(subject)

    subject.status = status_after_screening(result.verdict).value
    if rec.birth_date is not None:
        subject.birth_date = rec.birth_date.isoformat()
    if rec.sex is not None:
        subject.sex = rec.sex
    if rec.vitals.height_cm is not None:
        subject.height_cm = rec.vitals.height_cm
    touch(uow, subject, reason="screening recorded")

    screening_number = _next_number(
        lambda n: uow.screenings.number_taken(trial_id, site_key, n),
        f"S{code}-",
        uow.screenings.count_at_site(trial_id, site_key) + 1,
    )
    row = uow.screenings.add(
        trial_id=trial_id,
        subject_id=stored_id(subject),
        site_key=site_key,
        screening_number=screening_number,
        screened_on=day.isoformat(),
        verdict=result.verdict,
        record_json=json.dumps(rec.model_dump(mode="json"), ensure_ascii=False, sort_keys=True),
        results_json=json.dumps(criteria, ensure_ascii=False),
        derived_json=json.dumps(derived, ensure_ascii=False, sort_keys=True),
        failed_criteria=",".join(failed),
        protocol_digest=protocol_digest(protocol),
        created_at=now,
        created_by=principal.username,
    )
    after = _subject_state(subject)
    if before is None:
        uow.record(
            "subject.created",
            "subject",
            subject.subject_number,
            after=after,
            reason="first screening",
            trial=nct_id,
            site=site_key,
            actor=principal.username,
        )
    elif before != after:
        uow.record(
            "subject.updated",
            "subject",
            subject.subject_number,
            before=before,
            after=after,
            reason=f"rescreening {screening_number}",
            trial=nct_id,
            site=site_key,
            actor=principal.username,
        )
    uow.record(
        "screening.recorded",
        "screening",
        f"{site_key}/{screening_number}",
        after={
            "screening_number": screening_number,
            "subject_number": subject.subject_number,
            "screened_on": row.screened_on,
            "verdict": result.verdict,
            "failed_criteria": failed,
            "derived": derived,
            "protocol_digest": row.protocol_digest,
            "rescreen": rescreen,
        },
        reason="rescreening" if rescreen else "screening",
        trial=nct_id,
        site=site_key,
        actor=principal.username,
    )
    return {
        "subject_number": subject.subject_number,
        "screening_number": screening_number,
        "site": site_key,
        "screened_on": row.screened_on,
        "verdict": result.verdict,
        "criteria": criteria,
        "derived": derived,
        "failed_criteria": failed,
        "rescreen": rescreen,
    }


def _subject_state(subject: Subject) -> dict[str, Any]:
    return {
        "subject_number": subject.subject_number,
        "patient_ref": subject.patient_ref,
        "status": subject.status,
        "birth_date": subject.birth_date,
        "sex": subject.sex,
        "height_cm": subject.height_cm,
    }


def latest_screening(uow: UnitOfWork, subject_id: int) -> Screening | None:
    """The subject's most recent :class:`ScreeningRow`, or ``None``. No access check: for services that have
    already loaded the subject through :func:`trialdesk.services.subjects.get_subject` (e.g. randomization reads
    ``derived_json`` from it)."""
    return uow.screenings.latest(subject_id)


def _row_dict(row: Screening, subject: Subject | None = None, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "screening_number": row.screening_number,
        "site": row.site_key,
        "screened_on": row.screened_on,
        "verdict": row.verdict,
        "failed_criteria": [c for c in row.failed_criteria.split(",") if c],
        "derived": json.loads(row.derived_json or "{}"),
        "created_at": row.created_at,
        "created_by": row.created_by,
    }
    if subject is not None:
        out.update(
            subject_number=subject.subject_number, patient_ref=subject.patient_ref, subject_status=subject.status
        )
    if detail:
        out.update(
            criteria=json.loads(row.results_json),
            record=json.loads(row.record_json),
            protocol_digest=row.protocol_digest,
        )
    return out


def screenings_of(uow: UnitOfWork, principal: Principal, nct_id: str, subject: Subject) -> list[dict[str, Any]]:
    """Every screening of a subject the caller may view, oldest first."""
    require(principal, Action.SUBJECT_VIEW, subject.site_key, hide=True)
    return [_row_dict(r, subject) for r in uow.screenings.for_subject(stored_id(subject))]


def get_screening(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str, screening_number: str
) -> dict[str, Any]:
    """One screening with every criterion's result and the record; other sites' screenings are 'not found'."""
    trial = get_trial_row(uow, nct_id)
    row = uow.screenings.get(stored_id(trial), site_key, screening_number)
    if not principal.can(Action.SUBJECT_VIEW, site_key):
        if row is not None:  # audited; answered exactly like absence at a site the caller cannot see
            require(principal, Action.SUBJECT_VIEW, site_key, hide=True)
        raise NotFound("not found")
    if row is None:
        raise NotFound(f"no screening {screening_number} at {site_key}")
    subject = uow.subjects.by_id(row.subject_id)
    return _row_dict(row, subject, detail=True)


def screening_log(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str | None = None
) -> list[dict[str, Any]]:
    """The screening log (every screening, rescreens included, oldest first) at the sites the caller may see
    subjects of; ``site_key`` narrows it to one site (403 if not the caller's)."""
    trial = get_trial_row(uow, nct_id)
    sites = visible_sites(principal, site_key, hide=False)
    if site_key is None and sites is not None and not sites:
        require(principal, Action.SUBJECT_VIEW, None, hide=False)
    return [_row_dict(r, s) for r, s in uow.screenings.log(stored_id(trial), sites)]


def screen_failure_summary(uow: UnitOfWork, principal: Principal, nct_id: str) -> dict[str, Any]:
    """Screening counts and screen failures by criterion, trial-wide and without identifiers.

    Counts are by subject, from each subject's latest screening: ``screened`` subjects, of whom ``eligible``,
    ``ineligible`` and ``incomplete``; ``screenings`` counts every screening (rescreens included). ``failures``
    lists, in protocol order, each criterion that at least one ineligible subject failed, with its verbatim text
    and the number of such subjects (a subject failing several criteria counts under each).
    """
    require(principal, Action.DASHBOARD_VIEW, None)
    trial = get_trial_row(uow, nct_id)
    latest = uow.screenings.latest_per_subject(stored_id(trial))
    verdicts = Counter(r.verdict for r in latest)
    failures = Counter(c for r in latest if r.verdict == "ineligible" for c in r.failed_criteria.split(",") if c)
    protocol = get_protocol(uow, nct_id, live_sites=False)
    order = coerce_criteria(protocol.registry.eligibility)
    rank = {c.id: i for i, c in enumerate(order)}
    texts = {c.id: c.text for c in order}
    ordered = sorted(failures, key=lambda cid: (rank.get(cid, len(rank)), cid))
    rows = [
        {
            "id": cid,
            "text": texts.get(cid),
            "parent": cid.split(".")[0] if "." in cid else None,
            "subjects": failures[cid],
        }
        for cid in ordered
    ]
    return {
        "nct_id": nct_id,
        "screened": len(latest),
        "screenings": uow.screenings.count(stored_id(trial)),
        "eligible": verdicts.get("eligible", 0),
        "ineligible": verdicts.get("ineligible", 0),
        "incomplete": verdicts.get("incomplete", 0),
        "failures": rows,
    }
