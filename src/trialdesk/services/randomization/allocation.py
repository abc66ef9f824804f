"""Allocation (site staff): the checks before allocation, allocating, the subject's allocation, flagging errors.

Every check that can refuse an allocation runs *before* the next slot is read (:func:`_preflight`), so errors
cannot depend on the upcoming arm; results never carry a slot's sequence, block or position.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import Conflict, IntegrityError, InvalidInput, NotFound
from trialdesk.domain.minimization import counts_from_assignments, minimization_assign
from trialdesk.domain.randomization import (
    RandomizationSpec,
    allocation_stratum,
    derive_key,
    draw_stream,
    generate_stratum_blocks,
    open_arm,
    simple_assign,
    subject_strata,
)
from trialdesk.domain.recist import RecistSpec
from trialdesk.domain.records import Allocation, RandomizationList, RandomizationStratum, Screening, Subject, Trial
from trialdesk.domain.sites import require_recruiting
from trialdesk.domain.subject_lifecycle import SubjectStatus
from trialdesk.domain.timeline import raise_problems, randomization_problems, trial_dates
from trialdesk.services.commands import FlagRandomizedInError, Randomize
from trialdesk.services.ports import SeedStore
from trialdesk.services.randomization._common import _seeds, _slot_label, _slot_rows, _spec_of
from trialdesk.services.registry import get_protocol, stored_id
from trialdesk.services.subjects import get_subject, touch
from trialdesk.services.unit_of_work import UnitOfWork

_CLIENT_KEY_MAX = 120


def _latest_screening(uow: UnitOfWork, subject_id: int) -> Screening | None:
    try:
        from trialdesk.services.screening import latest_screening
    except ImportError:
        return uow.randomization.latest_screening(subject_id)
    return latest_screening(uow, subject_id)


def _allocation_dict(
    row: Allocation, subject_number: str, spec: RandomizationSpec | None, nct_id: str, *, created: bool = False
) -> dict[str, Any]:
    labels = {a.id: a.label for a in spec.arms} if spec is not None else {}
    return {
        "trial": nct_id,
        "subject_number": subject_number,
        "site": row.site_key,
        "randomization_number": row.randomization_number,
        "arm": row.arm,
        "arm_label": labels.get(row.arm),
        "stratum": row.stratum,
        "randomized_on": row.randomized_on,
        "allocated_at": row.allocated_at,
        "allocated_by": row.allocated_by,
        "in_error": bool(row.in_error),
        "error_reason": row.error_reason,
        "created": created,
    }


def _check_client_key(client_key: str | None) -> None:
    """A key of blanks is no key (the command bounds its length)."""
    if client_key is not None and (not client_key.strip() or len(client_key) > _CLIENT_KEY_MAX):
        raise InvalidInput(f"must be 1 to {_CLIENT_KEY_MAX} characters", field="client_key")


def _check_randomized_on(day: dt.date | None, today: dt.date) -> str:
    """The randomization date (default: today), never in the future."""
    if day is None:
        return today.isoformat()
    if day > today:
        raise InvalidInput(f"{day.isoformat()} is in the future (today is {today.isoformat()})", field="randomized_on")
    return day.isoformat()


def _check_timeline(uow: UnitOfWork, nct_id: str, screening: Screening, on: dt.date) -> None:
    """Randomization inside the trial, not before the eligible screening nor the consent (domain/timeline.py)."""
    consent = json.loads(screening.record_json or "{}").get("consent_date")
    protocol = get_protocol(uow, nct_id, live_sites=False)
    dates = trial_dates(protocol, uow.now().date())
    window = (protocol.operations.recist or RecistSpec()).baseline_window_days
    baseline = [a.assessment_date for a in uow.tumor_assessments.for_subject(screening.subject_id) if a.baseline]
    raise_problems(
        randomization_problems(
            on,
            dt.date.fromisoformat(screening.screened_on),
            dt.date.fromisoformat(consent) if consent else None,
            dates,
            baseline_assessment=dt.date.fromisoformat(baseline[0]) if baseline else None,
            window_days=window,
        )
    )


def _replay(
    row: Allocation, subject: Subject, spec: RandomizationSpec | None, nct_id: str, client_key: str | None
) -> dict[str, Any]:
    if row.subject_id != subject.id:
        raise Conflict(f"client_key {client_key!r} was already used to randomize another subject")
    return _allocation_dict(row, subject.subject_number, spec, nct_id)


class _Ready:
    """What the checks before allocation established (nothing about the list's slots)."""

    __slots__ = ("levels", "lst", "on", "screening", "spec", "stratum", "subject", "trial")

    def __init__(
        self,
        *,
        trial: Trial,
        subject: Subject,
        lst: RandomizationList,
        spec: RandomizationSpec,
        screening: Screening,
        levels: dict[str, str],
        stratum: str,
        on: str,
    ) -> None:
        self.trial, self.subject, self.lst, self.spec = trial, subject, lst, spec
        self.screening, self.levels, self.stratum, self.on = screening, levels, stratum, on


def _preflight(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, randomized_on: dt.date | None
) -> _Ready:
    """Every check that can refuse an allocation, in a fixed order, before any slot is read."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
    trial_id, subject_id = stored_id(trial), stored_id(subject)
    repo = uow.randomization
    existing = uow.allocations.for_subject(subject_id, include_in_error=True)
    if existing is not None:
        raise Conflict(f"subject {subject_number} is already randomized ({existing.randomization_number})")
    on = _check_randomized_on(randomized_on, uow.now().date())
    site = uow.sites.get(trial_id, subject.site_key)
    require_recruiting(subject.site_key, site.status if site is not None else None)
    screening = _latest_screening(uow, subject_id)
    if screening is None:
        raise Conflict(f"subject {subject_number} has no screening record")
    if screening.verdict != "eligible":
        raise Conflict(f"subject {subject_number}'s latest screening verdict is {screening.verdict}, not eligible")
    _check_timeline(uow, nct_id, screening, dt.date.fromisoformat(on))
    lst = repo.live_list(trial_id)
    if lst is None:
        raise Conflict(f"{nct_id} has no live randomization list")
    spec = _spec_of(lst)
    derived = json.loads(screening.derived_json or "{}")
    levels = subject_strata(spec, derived, subject.site_key, include_site=spec.site_as_factor)
    stratum = allocation_stratum(spec, levels)
    if lst.next_number > spec.enrollment_cap:
        raise Conflict(f"enrollment cap reached: {spec.enrollment_cap} subjects are randomized")
    return _Ready(
        trial=trial, subject=subject, lst=lst, spec=spec, screening=screening, levels=levels, stratum=stratum, on=on
    )


def preview_randomization(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> dict[str, Any]:
    """For the confirmation page: whether the subject can be randomized now and with which stratification
    factors, or the reason why not. Says nothing about the list (same checks as :func:`randomize_subject`)."""
    try:
        ready = _preflight(uow, principal, nct_id, subject_number, None)
    except (Conflict, InvalidInput) as exc:
        return {"ready": False, "problem": exc.message, "levels": None, "screening_number": None}
    return {
        "ready": True,
        "problem": None,
        "levels": ready.levels,
        "stratum": ready.stratum,
        "screening_number": ready.screening.screening_number,
        "site": ready.subject.site_key,
    }


def randomize_subject(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    subject_number: str,
    cmd: Randomize,
    *,
    seeds: SeedStore | None = None,
) -> dict[str, Any]:
    """Allocate the subject to an arm: next slot of its stratum (blocks), minimization or simple draw.

    Requires ``Action.RANDOMIZE`` at the subject's site (refusal answered as not found), a RECRUITING site, a
    latest screening verdict ``eligible`` with every stratification factor, enrollment below the cap and a live
    list. With ``cmd.client_key`` a retried request returns the same allocation (``created`` False); the same key
    for another subject is a Conflict. ``cmd.randomized_on`` defaults to today and is never in the future.
    ``seeds``: a seed store to use instead of the seed port (tests). The caller commits the unit of work.
    """
    from trialdesk.services import randomization as package  # the test hook is set on the package

    client_key = cmd.client_key
    _check_client_key(client_key)
    if client_key is not None:
        trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
        previous = uow.allocations.by_client_key(stored_id(trial), client_key)
        if previous is not None:
            live = uow.randomization.live_list(stored_id(trial))
            return _replay(previous, subject, _spec_of(live) if live else None, nct_id, client_key)
    ready = _preflight(uow, principal, nct_id, subject_number, cmd.randomized_on)
    trial, subject, lst, spec = ready.trial, ready.subject, ready.lst, ready.spec
    levels, stratum, on, screening = ready.levels, ready.stratum, ready.on, ready.screening
    trial_id, subject_id, list_id = stored_id(trial), stored_id(subject), stored_id(lst)
    repo = uow.randomization
    try:
        seed = _seeds(uow, seeds).load(nct_id, lst.seed_check)
    except NotFound as exc:
        raise Conflict(f"randomization is unavailable: {exc.message}") from None
    key = derive_key(seed, "seal") if spec.scheme == "blocks" else b""
    before_status = subject.status
    subject.status = SubjectStatus.RANDOMIZED.value
    touch(uow, subject, reason="randomized")  # before the locks: keeps the locked part short

    # -- locks last: list row (number, cap), then the stratum cursor -------------------------------------------
    lst = repo.lock_list(list_id)
    if lst.status != "live":
        raise Conflict(f"randomization list #{list_id} is {lst.status}, not live")
    n = lst.next_number
    if n > spec.enrollment_cap:
        raise Conflict(f"enrollment cap reached: {spec.enrollment_cap} subjects are randomized")
    if client_key is not None:  # a concurrent retry may have committed meanwhile
        previous = uow.allocations.by_client_key(trial_id, client_key)
        if previous is not None:
            uow.rollback()  # nothing of this attempt is kept
            return _replay(previous, subject, spec, nct_id, client_key)
    existing = uow.allocations.for_subject(subject_id, include_in_error=True)
    if existing is not None:
        raise Conflict(f"subject {subject_number} is already randomized ({existing.randomization_number})")
    number = spec.randomization_number(n)
    details: dict[str, Any] = {"levels": levels, "n": n}
    slot_id = None
    if spec.scheme == "blocks":
        cursor = repo.lock_stratum(list_id, stratum)
        if cursor is None:
            raise IntegrityError(f"randomization list #{list_id} has no stratum {stratum}")
        if cursor.next_seq >= cursor.n_slots:
            _extend(uow, spec, seed, key, lst, cursor, nct_id, principal)
        slot = repo.slot_at(list_id, stratum, cursor.next_seq)
        if slot is None:
            raise IntegrityError(f"stratum {stratum}: slot {cursor.next_seq} is missing")
        arm = open_arm(key, _slot_label(stratum, slot.block_index, slot.position), slot.sealed_arm)
        cursor.next_seq += 1
        slot_id = slot.id
    elif spec.scheme == "minimization":
        past = [
            (json.loads(a.details_json)["levels"], a.arm)
            for a in uow.allocations.for_trial(trial_id, include_in_error=True)
        ]
        decision = minimization_assign(spec, counts_from_assignments(spec, past), levels, draw_stream(seed, spec, n))
        arm = decision.arm
        details.update(scores=decision.scores, probabilities=decision.probabilities)
    else:
        arm = simple_assign(spec, draw_stream(seed, spec, n))
    lst.next_number = n + 1
    now = uow.now().isoformat()
    row = uow.allocations.add(
        trial_id=trial_id,
        subject_id=subject_id,
        site_key=subject.site_key,
        list_id=list_id,
        slot_id=slot_id,
        stratum=stratum,
        randomization_number=number,
        arm=arm,
        randomized_on=on,
        allocated_at=now,
        allocated_by=principal.username,
        client_key=client_key,
        details_json=json.dumps(details, sort_keys=True),
        in_error=False,
    )
    uow.record(
        "randomization.allocated",
        "subject",
        subject_number,
        before={"status": before_status},
        after={
            "status": SubjectStatus.RANDOMIZED.value,
            "randomization_number": number,
            "arm": arm,
            "stratum": stratum,
            "randomized_on": on,
            "screening": screening.screening_number,
        },
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    hook = package._before_commit_hook
    if hook is not None:
        uow.flush()
        hook()
    return _allocation_dict(row, subject_number, spec, nct_id, created=True)


def _extend(
    uow: UnitOfWork,
    spec: RandomizationSpec,
    seed: bytes,
    key: bytes,
    lst: RandomizationList,
    cursor: RandomizationStratum,
    nct_id: str,
    principal: Principal,
    n_blocks: int | None = None,
) -> None:
    """Append blocks to a stratum that ran out: deterministic from the seed (blocks n_blocks, n_blocks+1, ...)."""
    if n_blocks is None:
        # enough blocks for a tenth of the cap (at least one block): extensions stay rare
        n_blocks = max(1, math.ceil(spec.enrollment_cap / 10 / (sum(spec.block_sizes) / len(spec.block_sizes))))
    slots = generate_stratum_blocks(spec, seed, cursor.stratum, cursor.n_blocks, n_blocks)
    uow.randomization.add_slots(_slot_rows(stored_id(lst), key, slots, cursor.n_slots))
    first = cursor.n_blocks
    cursor.n_blocks += n_blocks
    cursor.n_slots += len(slots)
    # neither slot counts nor block sizes go to the audit trail (monitors read it)
    uow.record(
        "randomization.stratum_extended",
        "randomization_list",
        lst.id,
        after={"list_id": lst.id, "stratum": cursor.stratum, "first_block": first, "blocks_added": n_blocks},
        reason="stratum ran out of slots; blocks derived deterministically from the seed",
        trial=nct_id,
        actor=principal.username,
    )


def get_allocation(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> dict[str, Any] | None:
    """The subject's allocation (``None`` before randomization), for whoever may view the subject."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    row = uow.allocations.for_subject(stored_id(subject), include_in_error=True)
    if row is None:
        return None
    lst = uow.randomization.live_list(stored_id(trial))
    return _allocation_dict(row, subject_number, _spec_of(lst) if lst else None, nct_id)


def flag_randomized_in_error(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: FlagRandomizedInError
) -> dict[str, Any]:
    """Flag an allocation made in error, with the reason (not blank). The subject keeps the slot and number;
    slots are never reused."""
    reason = cmd.reason
    if not reason.strip():
        raise InvalidInput("a reason is required", field="reason")
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
    row = uow.allocations.for_subject(stored_id(subject), include_in_error=True)
    if row is None:
        raise Conflict(f"subject {subject_number} is not randomized")
    if row.in_error:
        raise Conflict(f"{row.randomization_number} is already flagged as randomized in error")
    row.in_error, row.error_reason = True, reason.strip()
    touch(uow, subject, reason="randomized in error")
    uow.record(
        "randomization.flagged_in_error",
        "subject",
        subject_number,
        before={"randomization_number": row.randomization_number, "in_error": False},
        after={"randomization_number": row.randomization_number, "in_error": True},
        reason=reason.strip(),
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    lst = uow.randomization.live_list(stored_id(trial))
    return _allocation_dict(row, subject_number, _spec_of(lst) if lst else None, nct_id)
