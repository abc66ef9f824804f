"""The IWRS: generate the allocation list, go live, allocate, flag errors, verify, export, report balance.

Concealment rules applied here:

- Only the statistician (``Action.RANDOMIZATION_LIST`` / ``RANDOMIZATION_MANAGE``) sees the list, its slots, the
  balance by stratum and the export. Site staff see an allocation only once it is made.
- Every check that can refuse an allocation runs *before* the next slot is read, so errors cannot depend on the
  upcoming arm. Results never carry a slot's sequence, block or position.
- Audit events never carry sealed arms, block sizes or slot counts of unallocated slots.
- The seed is not in the database (see :mod:`trialdesk.adapters.randomization_secret`); slots hold AES-GCM
  sealed arms, so the tables alone do not reveal upcoming arms.

Concurrency: an allocation reads and validates first, then takes the list row lock (randomization number, cap)
and the stratum cursor lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are ``BEGIN
IMMEDIATE``), re-checks what another transaction could have changed (subject already randomized, client key
used), takes the next slot, writes the allocation and its audit event, and the caller commits: one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter, defaultdict
from typing import Callable

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict, IntegrityError, InvalidInput, NotFound
from trialdesk.domain.minimization import counts_from_assignments, minimization_assign
from trialdesk.domain.randomization import (
    SITE_FACTOR,
    HmacStream,
    RandomizationSpec,
    Slot,
    all_strata,
    balance_table,
    commitment,
    derive_key,
    generate_stratum_blocks,
    open_arm,
    seal_arm,
    simple_assign,
    stratum_key,
)
from trialdesk.domain.sites import require_recruiting
from trialdesk.domain.subject_lifecycle import SubjectStatus
from trialdesk.services.registry import get_protocol, get_trial_row
from trialdesk.services.subjects import get_subject, touch

__all__ = [
    "generate_list",
    "go_live",
    "list_info",
    "randomize_subject",
    "get_allocation",
    "flag_randomized_in_error",
    "verify_list",
    "export_list",
    "balance",
    "subject_strata",
    "preview_randomization",
]

#: Test hook: called inside :func:`randomize_subject` after the slot was taken and the cursor, number and
#: allocation were flushed (row locks held), before the caller commits. ``None`` in production.
_before_commit_hook: Callable[[], None] | None = None

_MINIMIZATION_LABEL = "trialdesk/minimization/v1"
_SIMPLE_LABEL = "trialdesk/simple/v1"
_CLIENT_KEY_MAX = 120


def _seeds(seeds):
    if seeds is not None:
        return seeds
    from trialdesk.adapters.randomization_secret import default_store

    return default_store()


def _seed_check(seed: bytes) -> str:
    from trialdesk.adapters.randomization_secret import seed_check

    return seed_check(seed)


def _spec_of(lst) -> RandomizationSpec:
    return RandomizationSpec.model_validate_json(lst.spec_json)


def _slot_label(stratum: str, block_index: int, position: int) -> str:
    return f"{stratum}#{block_index}.{position}"


def _protocol_spec(uow, nct_id: str) -> RandomizationSpec:
    spec = get_protocol(uow, nct_id, live_sites=False).operations.randomization
    if spec is None:
        raise Conflict(f"{nct_id} has no operations.randomization section in its protocol")
    return spec


def _check_seed_matches(lst, seed: bytes) -> None:
    import hmac

    if not hmac.compare_digest(_seed_check(seed), lst.seed_check):
        raise InvalidInput("this is not the seed the list was generated with (seed check differs)", field="seed")


# ----------------------------------------------------------------------------------------------------------------
# Generating the list and going live (statistician)
# ----------------------------------------------------------------------------------------------------------------


def _slot_rows(list_id: int, key: bytes, slots: list[Slot], first_seq: int) -> list[dict]:
    return [{"list_id": list_id, "stratum": s.stratum, "seq": first_seq + i, "block_index": s.block_index,
             "position": s.position, "block_size": s.block_size, "sealed_arm": seal_arm(key, s.slot_id, s.arm)}
            for i, s in enumerate(slots)]


def default_slots_per_stratum(spec: RandomizationSpec, n_strata: int) -> int:
    """Slots generated per stratum: the enrollment cap (no stratum can run out), or, with the site as a factor,
    twice the average share of the cap; at least one block of the largest size."""
    target = spec.enrollment_cap if not spec.site_as_factor else math.ceil(2 * spec.enrollment_cap / max(n_strata, 1))
    return max(target, max(spec.block_sizes or (1,)))


def generate_list(uow, principal: Principal, nct_id: str, seed: bytes, *,
                  slots_per_stratum: int | None = None, reason: str | None = None) -> dict:
    """Build the allocation list of the protocol's randomization spec from ``seed``, per stratum, in the database.

    A previous list that is only ``generated`` is retired; a ``live`` list cannot be replaced (Conflict). For the
    blocks scheme each stratum gets whole blocks until it holds at least ``slots_per_stratum`` slots (default
    :func:`default_slots_per_stratum`). Minimization and simple schemes have no slots: the list row holds the
    spec and the seed check, and assignments are derived from the seed at allocation time.
    """
    require(principal, Action.RANDOMIZATION_MANAGE)
    trial = get_trial_row(uow, nct_id)
    spec = _protocol_spec(uow, nct_id)
    if slots_per_stratum is not None and (isinstance(slots_per_stratum, bool) or slots_per_stratum < 1):
        raise InvalidInput(f"must be a positive integer, got {slots_per_stratum!r}", field="slots_per_stratum")
    derive_key(seed, "seal")  # validates the seed (bytes, >= 16)
    repo = uow.randomization
    current = repo.current_list(trial.id, for_update=True)
    if current is not None and current.status == "live":
        raise Conflict(f"{nct_id} already has a live randomization list (#{current.id}); it cannot be replaced")
    now = uow.now().isoformat()
    if current is not None:
        current.status = "retired"
        uow.record("randomization.list_retired", "randomization_list", current.id, before={"status": "generated"},
                   after={"status": "retired"}, reason=reason or "replaced by a newly generated list", trial=nct_id,
                   actor=principal.username)
    lst = repo.create_list(trial_id=trial.id, spec_json=spec.model_dump_json(), spec_version=spec.version,
                           seed_check=_seed_check(seed), status="generated", commitment=None, generated_at=now,
                           next_number=1)
    n_strata, n_slots = 0, 0
    if spec.scheme == "blocks":
        key = derive_key(seed, "seal")
        sites = [s.site_key for s in uow.sites.for_trial(trial.id)]
        strata = all_strata(spec, sites)
        target = slots_per_stratum or default_slots_per_stratum(spec, len(strata))
        for stratum in strata:
            slots: list[Slot] = []
            block = 0
            while len(slots) < target:
                slots.extend(generate_stratum_blocks(spec, seed, stratum, block, 1))
                block += 1
            repo.create_stratum(list_id=lst.id, stratum=stratum, next_seq=0, n_slots=len(slots), n_blocks=block,
                                initial_blocks=0)
            repo.add_slots(_slot_rows(lst.id, key, slots, 0))
            n_strata, n_slots = n_strata + 1, n_slots + len(slots)
    summary = {"list_id": lst.id, "scheme": spec.scheme, "spec_version": spec.version, "strata": n_strata,
               "status": "generated"}
    # the audit trail is readable by monitors: it records the number of strata, never slot counts or sizes
    uow.record("randomization.list_generated", "randomization_list", lst.id, after=summary, reason=reason,
               trial=nct_id, actor=principal.username)
    return {**summary, "slots": n_slots, "seed_check": lst.seed_check}


def _regenerate(spec: RandomizationSpec, seed: bytes, stratum: str, n_blocks: int) -> list[Slot]:
    return generate_stratum_blocks(spec, seed, stratum, 0, n_blocks) if n_blocks else []


def go_live(uow, principal: Principal, nct_id: str, seed: bytes, *, reason: str | None = None) -> dict:
    """Check the generated list against the seed, record its SHA-256 commitment and open it for allocation."""
    require(principal, Action.RANDOMIZATION_MANAGE)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(trial.id, for_update=True)
    if lst is None:
        raise Conflict(f"{nct_id} has no generated randomization list; run 'randomization generate' first")
    if lst.status != "generated":
        raise Conflict(f"randomization list #{lst.id} is {lst.status}, not generated")
    _check_seed_matches(lst, seed)
    spec = _spec_of(lst)
    key = derive_key(seed, "seal")
    strata = repo.strata(lst.id)
    by_stratum: dict[str, list] = defaultdict(list)
    for row in repo.slots(lst.id):
        by_stratum[row.stratum].append(row)
    slots: list[Slot] = []
    for st in strata:
        expected = _regenerate(spec, seed, st.stratum, st.n_blocks)
        stored = by_stratum.get(st.stratum, [])
        if len(stored) != len(expected):
            raise IntegrityError(f"stratum {st.stratum}: {len(stored)} slots stored, {len(expected)} expected")
        for row, slot in zip(stored, expected):
            if (row.block_index, row.position, row.block_size) != (slot.block_index, slot.position, slot.block_size) \
                    or open_arm(key, slot.slot_id, row.sealed_arm) != slot.arm:
                raise IntegrityError(f"slot {slot.slot_id} does not match the list regenerated from the seed")
        st.initial_blocks = st.n_blocks
        slots.extend(expected)
    digest = commitment(spec, slots)
    lst.status, lst.commitment, lst.live_at = "live", digest, uow.now().isoformat()
    after = {"list_id": lst.id, "status": "live", "commitment": digest, "scheme": spec.scheme,
             "spec_version": spec.version}
    uow.record("randomization.list_live", "randomization_list", lst.id, before={"status": "generated"}, after=after,
               reason=reason, trial=nct_id, actor=principal.username)
    return after


def list_info(uow, principal: Principal, nct_id: str) -> dict | None:
    """The current list as the statistician sees it (no slots): status, commitment, counts."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(trial.id)
    if lst is None:
        return None
    spec = _spec_of(lst)
    strata = repo.strata(lst.id)
    return {"list_id": lst.id, "status": lst.status, "scheme": spec.scheme, "spec_version": lst.spec_version,
            "commitment": lst.commitment, "generated_at": lst.generated_at, "live_at": lst.live_at,
            "allocated": lst.next_number - 1, "enrollment_cap": spec.enrollment_cap, "strata": len(strata),
            "slots": sum(s.n_slots for s in strata),
            "extended_blocks": sum(max(s.n_blocks - s.initial_blocks, 0) for s in strata) if lst.live_at else 0,
            "seed_check": lst.seed_check}


# ----------------------------------------------------------------------------------------------------------------
# Allocation (site staff)
# ----------------------------------------------------------------------------------------------------------------


def subject_strata(spec: RandomizationSpec, derived: dict, site_key: str, *, include_site: bool) -> dict[str, str]:
    """The subject's level of every stratification factor, from the screening record's derived values.

    Raises :class:`Conflict` naming the first missing factor, :class:`InvalidInput` for a level the spec does
    not know."""
    levels: dict[str, str] = {}
    for factor in spec.factors:
        value = derived.get(factor.derive)
        if value is None or value == "":
            raise Conflict(f"stratification factor {factor.name} is missing from the latest screening "
                           f"(derived value {factor.derive!r}); complete the screening record first")
        if isinstance(value, bool):
            value = "yes" if value else "no"
        value = str(value)
        if value not in factor.levels:
            raise InvalidInput(f"{value!r} is not a level of {factor.name} {list(factor.levels)}",
                               field=f"screening.derived.{factor.derive}")
        levels[factor.name] = value
    if include_site:
        levels[SITE_FACTOR] = site_key
    return levels


def _latest_screening(uow, subject_id: int):
    try:
        from trialdesk.services.screening import latest_screening
    except ImportError:
        return uow.randomization.latest_screening(subject_id)
    return latest_screening(uow, subject_id)


def _allocation_dict(row, subject_number: str, spec: RandomizationSpec | None, nct_id: str, *,
                     created: bool = False) -> dict:
    labels = {a.id: a.label for a in spec.arms} if spec is not None else {}
    return {"trial": nct_id, "subject_number": subject_number, "site": row.site_key,
            "randomization_number": row.randomization_number, "arm": row.arm, "arm_label": labels.get(row.arm),
            "stratum": row.stratum, "randomized_on": row.randomized_on, "allocated_at": row.allocated_at,
            "allocated_by": row.allocated_by, "in_error": bool(row.in_error), "error_reason": row.error_reason,
            "created": created}


def _check_client_key(client_key: str | None) -> None:
    if client_key is None:
        return
    if not isinstance(client_key, str) or not client_key.strip() or len(client_key) > _CLIENT_KEY_MAX:
        raise InvalidInput(f"must be 1 to {_CLIENT_KEY_MAX} characters", field="client_key")


def _check_randomized_on(value: str | dt.date | None, today: dt.date) -> str:
    if value is None:
        return today.isoformat()
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"must be a date YYYY-MM-DD, got {value!r}", field="randomized_on") from None
    if day > today:
        raise InvalidInput(f"{day.isoformat()} is in the future (today is {today.isoformat()})",
                           field="randomized_on")
    return day.isoformat()


def _replay(row, subject, spec, nct_id: str, client_key: str | None) -> dict:
    if row.subject_id != subject.id:
        raise Conflict(f"client_key {client_key!r} was already used to randomize another subject")
    return _allocation_dict(row, subject.subject_number, spec, nct_id)


class _Ready:
    """What the checks before allocation established (nothing about the list's slots)."""

    __slots__ = ("trial", "subject", "lst", "spec", "screening", "levels", "stratum", "on")

    def __init__(self, **values) -> None:
        for k, v in values.items():
            setattr(self, k, v)


def _preflight(uow, principal: Principal, nct_id: str, subject_number: str, randomized_on) -> _Ready:
    """Every check that can refuse an allocation, in a fixed order, before any slot is read."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
    repo = uow.randomization
    existing = repo.allocation_for_subject(subject.id)
    if existing is not None:
        raise Conflict(f"subject {subject_number} is already randomized ({existing.randomization_number})")
    on = _check_randomized_on(randomized_on, uow.now().date())
    site = uow.sites.get(trial.id, subject.site_key)
    require_recruiting(subject.site_key, site.status if site is not None else None)
    screening = _latest_screening(uow, subject.id)
    if screening is None:
        raise Conflict(f"subject {subject_number} has no screening record")
    if screening.verdict != "eligible":
        raise Conflict(f"subject {subject_number}'s latest screening verdict is {screening.verdict}, not eligible")
    lst = repo.live_list(trial.id)
    if lst is None:
        raise Conflict(f"{nct_id} has no live randomization list")
    spec = _spec_of(lst)
    derived = json.loads(screening.derived_json or "{}")
    levels = subject_strata(spec, derived, subject.site_key, include_site=spec.site_as_factor)
    stratum = stratum_key(levels, spec) if spec.scheme == "blocks" else stratum_key(
        {k: v for k, v in levels.items() if k != SITE_FACTOR})
    if lst.next_number > spec.enrollment_cap:
        raise Conflict(f"enrollment cap reached: {spec.enrollment_cap} subjects are randomized")
    return _Ready(trial=trial, subject=subject, lst=lst, spec=spec, screening=screening, levels=levels,
                  stratum=stratum, on=on)


def preview_randomization(uow, principal: Principal, nct_id: str, subject_number: str) -> dict:
    """For the confirmation page: whether the subject can be randomized now and with which stratification
    factors, or the reason why not. Says nothing about the list (same checks as :func:`randomize_subject`)."""
    try:
        ready = _preflight(uow, principal, nct_id, subject_number, None)
    except (Conflict, InvalidInput) as exc:
        return {"ready": False, "problem": exc.message, "levels": None, "screening_number": None}
    return {"ready": True, "problem": None, "levels": ready.levels, "stratum": ready.stratum,
            "screening_number": ready.screening.screening_number, "site": ready.subject.site_key}


def randomize_subject(uow, principal: Principal, nct_id: str, subject_number: str, *,
                      client_key: str | None = None, randomized_on: str | dt.date | None = None,
                      seeds=None) -> dict:
    """Allocate the subject to an arm: next slot of its stratum (blocks), minimization or simple draw.

    Requires ``Action.RANDOMIZE`` at the subject's site (refusal answered as not found), a RECRUITING site, a
    latest screening verdict ``eligible`` with every stratification factor, enrollment below the cap and a live
    list. With ``client_key`` a retried request returns the same allocation (``created`` False); the same key
    for another subject is a Conflict. The caller commits the unit of work.
    """
    _check_client_key(client_key)
    if client_key is not None:
        trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
        previous = uow.randomization.allocation_by_client_key(trial.id, client_key)
        if previous is not None:
            lst = uow.randomization.live_list(trial.id)
            return _replay(previous, subject, _spec_of(lst) if lst else None, nct_id, client_key)
    ready = _preflight(uow, principal, nct_id, subject_number, randomized_on)
    trial, subject, lst, spec = ready.trial, ready.subject, ready.lst, ready.spec
    levels, stratum, on, screening = ready.levels, ready.stratum, ready.on, ready.screening
    repo = uow.randomization
    try:
        seed = _seeds(seeds).load(nct_id, lst.seed_check)
    except NotFound as exc:
        raise Conflict(f"randomization is unavailable: {exc.message}") from None
    key = derive_key(seed, "seal") if spec.scheme == "blocks" else b""
    before_status = subject.status
    subject.status = SubjectStatus.RANDOMIZED.value
    touch(uow, subject, reason="randomized")  # before the locks: keeps the locked part short

    # -- locks last: list row (number, cap), then the stratum cursor -------------------------------------------
    lst = repo.lock_list(lst.id)
    if lst.status != "live":
        raise Conflict(f"randomization list #{lst.id} is {lst.status}, not live")
    n = lst.next_number
    if n > spec.enrollment_cap:
        raise Conflict(f"enrollment cap reached: {spec.enrollment_cap} subjects are randomized")
    if client_key is not None:  # a concurrent retry may have committed meanwhile
        previous = repo.allocation_by_client_key(trial.id, client_key)
        if previous is not None:
            uow.rollback()  # nothing of this attempt is kept
            return _replay(previous, subject, spec, nct_id, client_key)
    existing = repo.allocation_for_subject(subject.id)
    if existing is not None:
        raise Conflict(f"subject {subject_number} is already randomized ({existing.randomization_number})")
    number = spec.randomization_number(n)
    details: dict = {"levels": levels, "n": n}
    slot_id = None
    if spec.scheme == "blocks":
        cursor = repo.lock_stratum(lst.id, stratum)
        if cursor is None:
            raise IntegrityError(f"randomization list #{lst.id} has no stratum {stratum}")
        if cursor.next_seq >= cursor.n_slots:
            _extend(uow, spec, seed, key, lst, cursor, nct_id, principal)
        slot = repo.slot_at(lst.id, stratum, cursor.next_seq)
        if slot is None:
            raise IntegrityError(f"stratum {stratum}: slot {cursor.next_seq} is missing")
        arm = open_arm(key, _slot_label(stratum, slot.block_index, slot.position), slot.sealed_arm)
        cursor.next_seq += 1
        slot_id = slot.id
    elif spec.scheme == "minimization":
        past = [(json.loads(a.details_json)["levels"], a.arm) for a in repo.allocations(trial.id)]
        decision = minimization_assign(spec, counts_from_assignments(spec, past), levels,
                                       HmacStream(seed, f"{_MINIMIZATION_LABEL}|{spec.version}|{n}"))
        arm = decision.arm
        details.update(scores=decision.scores, probabilities=decision.probabilities)
    else:
        arm = simple_assign(spec, HmacStream(seed, f"{_SIMPLE_LABEL}|{spec.version}|{n}"))
    lst.next_number = n + 1
    now = uow.now().isoformat()
    row = repo.add_allocation(trial_id=trial.id, subject_id=subject.id, site_key=subject.site_key, list_id=lst.id,
                              slot_id=slot_id, stratum=stratum, randomization_number=number, arm=arm,
                              randomized_on=on, allocated_at=now, allocated_by=principal.username,
                              client_key=client_key, details_json=json.dumps(details, sort_keys=True),
                              in_error=False)
    uow.record("randomization.allocated", "subject", subject_number,
               before={"status": before_status},
               after={"status": SubjectStatus.RANDOMIZED.value, "randomization_number": number, "arm": arm, "stratum": stratum,
                      "randomized_on": on, "screening": screening.screening_number},
               trial=nct_id, site=subject.site_key, actor=principal.username)
    if _before_commit_hook is not None:
        uow.session.flush()
        _before_commit_hook()
    return _allocation_dict(row, subject_number, spec, nct_id, created=True)


def _extend(uow, spec, seed, key, lst, cursor, nct_id: str, principal: Principal, n_blocks: int | None = None) -> None:
    """Append blocks to a stratum that ran out: deterministic from the seed (blocks n_blocks, n_blocks+1, ...)."""
    if n_blocks is None:
        # enough blocks for a tenth of the cap (at least one block): extensions stay rare
        n_blocks = max(1, math.ceil(spec.enrollment_cap / 10 / (sum(spec.block_sizes) / len(spec.block_sizes))))
    slots = generate_stratum_blocks(spec, seed, cursor.stratum, cursor.n_blocks, n_blocks)
    uow.randomization.add_slots(_slot_rows(lst.id, key, slots, cursor.n_slots))
    first = cursor.n_blocks
    cursor.n_blocks += n_blocks
    cursor.n_slots += len(slots)
    # neither slot counts nor block sizes go to the audit trail (monitors read it)
    uow.record("randomization.stratum_extended", "randomization_list", lst.id,
               after={"list_id": lst.id, "stratum": cursor.stratum, "first_block": first, "blocks_added": n_blocks},
               reason="stratum ran out of slots; blocks derived deterministically from the seed", trial=nct_id,
               actor=principal.username)


def get_allocation(uow, principal: Principal, nct_id: str, subject_number: str) -> dict | None:
    """The subject's allocation (``None`` before randomization), for whoever may view the subject."""
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    row = uow.randomization.allocation_for_subject(subject.id)
    if row is None:
        return None
    lst = uow.randomization.live_list(trial.id)
    return _allocation_dict(row, subject_number, _spec_of(lst) if lst else None, nct_id)


def flag_randomized_in_error(uow, principal: Principal, nct_id: str, subject_number: str, reason: str) -> dict:
    """Flag an allocation made in error. The subject keeps the slot and number; slots are never reused."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a reason is required", field="reason")
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.RANDOMIZE)
    row = uow.randomization.allocation_for_subject(subject.id)
    if row is None:
        raise Conflict(f"subject {subject_number} is not randomized")
    if row.in_error:
        raise Conflict(f"{row.randomization_number} is already flagged as randomized in error")
    row.in_error, row.error_reason = True, reason.strip()
    touch(uow, subject, reason="randomized in error")
    uow.record("randomization.flagged_in_error", "subject", subject_number,
               before={"randomization_number": row.randomization_number, "in_error": False},
               after={"randomization_number": row.randomization_number, "in_error": True}, reason=reason.strip(),
               trial=nct_id, site=subject.site_key, actor=principal.username)
    lst = uow.randomization.live_list(trial.id)
    return _allocation_dict(row, subject_number, _spec_of(lst) if lst else None, nct_id)


# ----------------------------------------------------------------------------------------------------------------
# Verification, export, balance (statistician)
# ----------------------------------------------------------------------------------------------------------------


def verify_list(uow, principal: Principal, nct_id: str, seed: bytes) -> dict:
    """Regenerate the list from ``seed`` and check it, the go-live commitment and every allocation.

    Checks: the seed check; every stratum's stored slots equal the blocks regenerated from the seed (sealed arm,
    block, position, size, sequence); the commitment over the blocks present at go-live; extension blocks as
    deterministic regenerations; every allocation's arm equals its slot's arm, its stratum the slot's stratum;
    no slot used twice; slots used in sequence order without gaps (exactly ``0 .. next_seq-1`` per stratum);
    randomization numbers contiguous from the first. For minimization and simple schemes the draws are replayed
    from the seed in randomization-number order. Audited as ``randomization.verified``.

    Returns a report with ``status`` ``"ok"`` or ``"failed"`` and the ``problems`` found.
    """
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(trial.id)
    if lst is None:
        raise Conflict(f"{nct_id} has no randomization list")
    _check_seed_matches(lst, seed)
    spec = _spec_of(lst)
    problems: list[str] = []
    allocations = repo.allocations(trial.id)
    report = {"list_id": lst.id, "status": "ok", "scheme": spec.scheme, "list_status": lst.status,
              "strata": 0, "slots": 0, "allocations": len(allocations), "extended_blocks": 0,
              "completed_blocks": 0, "commitment": lst.commitment}
    # randomization numbers: contiguous 1 .. next_number-1, one allocation each
    numbers = Counter(a.randomization_number for a in allocations)
    expected_numbers = {spec.randomization_number(i) for i in range(1, lst.next_number)} if lst.next_number > 1 \
        else set()
    if set(numbers) != expected_numbers or any(c > 1 for c in numbers.values()):
        missing = sorted(expected_numbers - set(numbers))[:5]
        extra = sorted(set(numbers) - expected_numbers)[:5]
        dup = sorted(k for k, c in numbers.items() if c > 1)[:5]
        problems.append(f"randomization numbers are not contiguous: missing {missing}, unexpected {extra}, "
                        f"duplicated {dup}")
    if spec.scheme == "blocks":
        _verify_blocks(repo, lst, spec, seed, allocations, problems, report)
    else:
        _verify_draws(lst, spec, seed, allocations, problems)
    report["problems"] = problems
    report["status"] = "ok" if not problems else "failed"
    uow.record("randomization.verified", "randomization_list", lst.id,
               after={"status": report["status"], "allocations": len(allocations), "problems": len(problems)},
               trial=nct_id, actor=principal.username)
    return report


def _verify_blocks(repo, lst, spec, seed, allocations, problems: list[str], report: dict) -> None:
    key = derive_key(seed, "seal")
    strata = repo.strata(lst.id)
    stored_by_stratum: dict[str, list] = defaultdict(list)
    for row in repo.slots(lst.id):
        stored_by_stratum[row.stratum].append(row)
    arm_of_slot: dict[int, tuple[str, str, int]] = {}  # slot row id -> (stratum, arm, seq)
    initial: list[Slot] = []
    slots_of_stratum: dict[str, list[Slot]] = {}
    for st in strata:
        expected = _regenerate(spec, seed, st.stratum, st.n_blocks)
        slots_of_stratum[st.stratum] = expected
        stored = stored_by_stratum.pop(st.stratum, [])
        if len(stored) != len(expected) or st.n_slots != len(expected):
            problems.append(f"stratum {st.stratum}: {len(stored)} slots stored (cursor says {st.n_slots}), "
                            f"{len(expected)} regenerated from {st.n_blocks} blocks")
        for seq, (row, slot) in enumerate(zip(stored, expected)):
            label = slot.slot_id
            if (row.seq, row.block_index, row.position, row.block_size) != (seq, slot.block_index, slot.position,
                                                                            slot.block_size):
                problems.append(f"slot {label}: stored as seq {row.seq} block {row.block_index}.{row.position} "
                                f"size {row.block_size}, regenerated as seq {seq} size {slot.block_size}")
                continue
            try:
                stored_arm = open_arm(key, label, row.sealed_arm)
            except IntegrityError as exc:
                problems.append(exc.message)
                continue
            if stored_arm != slot.arm:
                problems.append(f"slot {label}: sealed arm differs from the arm regenerated from the seed")
            arm_of_slot[row.id] = (st.stratum, slot.arm, seq)
        if lst.commitment is not None:
            initial.extend(s for s in expected if s.block_index < st.initial_blocks)
            report["extended_blocks"] += max(st.n_blocks - st.initial_blocks, 0)
        report["strata"] += 1
        report["slots"] += len(expected)
    for stratum in stored_by_stratum:
        problems.append(f"slots stored for unknown stratum {stratum}")
    if lst.commitment is not None:
        recomputed = commitment(spec, initial)
        if recomputed != lst.commitment:
            problems.append(f"commitment recorded at go-live {lst.commitment} differs from the regenerated list's "
                            f"{recomputed}")
    used: dict[str, list[int]] = defaultdict(list)
    slot_use = Counter(a.slot_id for a in allocations)
    for slot_id, count in slot_use.items():
        if slot_id is not None and count > 1:
            problems.append(f"slot row {slot_id} was allocated {count} times")
    for a in allocations:
        found = arm_of_slot.get(a.slot_id) if a.slot_id is not None else None
        if found is None:
            problems.append(f"{a.randomization_number}: allocated slot {a.slot_id} is not a verified slot of list "
                            f"#{lst.id}")
            continue
        stratum, arm, seq = found
        if a.stratum != stratum:
            problems.append(f"{a.randomization_number}: allocation stratum {a.stratum} but slot stratum {stratum}")
        if a.arm != arm:
            problems.append(f"{a.randomization_number}: allocated arm {a.arm} but the slot's arm is {arm}")
        used[stratum].append(seq)
    completed = 0
    for st in strata:
        seqs = sorted(used.get(st.stratum, []))
        if seqs != list(range(st.next_seq)):
            gaps = sorted(set(range(st.next_seq)) - set(seqs))[:5]
            beyond = [s for s in seqs if s >= st.next_seq][:5]
            problems.append(f"stratum {st.stratum}: slots used out of order (cursor {st.next_seq}; unused "
                            f"{gaps}; beyond the cursor {beyond})")
        # every block whose slots are all used is balanced (follows from the regeneration; counted for reports)
        by_block: dict[int, list[Slot]] = defaultdict(list)
        for slot in slots_of_stratum.get(st.stratum, [])[: st.next_seq]:
            by_block[slot.block_index].append(slot)
        for block in by_block.values():
            if len(block) == block[0].block_size:
                counts = Counter(s.arm for s in block)
                unit = block[0].block_size // spec.ratio_total
                if any(counts.get(a.id, 0) != a.ratio * unit for a in spec.arms):
                    problems.append(f"stratum {st.stratum}: block {block[0].block_index} is not balanced")
                completed += 1
    report["completed_blocks"] = completed


def _verify_draws(lst, spec, seed, allocations, problems: list[str]) -> None:
    ordered = sorted(allocations, key=lambda a: json.loads(a.details_json or "{}").get("n", 0))
    past: list[tuple[dict, str]] = []
    for index, a in enumerate(ordered, start=1):
        levels = json.loads(a.details_json or "{}").get("levels", {})
        if spec.scheme == "minimization":
            expected = minimization_assign(spec, counts_from_assignments(spec, past), levels,
                                           HmacStream(seed, f"{_MINIMIZATION_LABEL}|{spec.version}|{index}")).arm
        else:
            expected = simple_assign(spec, HmacStream(seed, f"{_SIMPLE_LABEL}|{spec.version}|{index}"))
        if a.arm != expected:
            problems.append(f"{a.randomization_number}: allocated arm {a.arm} but the replayed draw gives {expected}")
        past.append((levels, a.arm))


def export_list(uow, principal: Principal, nct_id: str, seed: bytes) -> list[dict]:
    """The whole list in clear, with the allocation of each used slot. Statistician only; audited."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(trial.id)
    if lst is None:
        raise Conflict(f"{nct_id} has no randomization list")
    _check_seed_matches(lst, seed)
    key = derive_key(seed, "seal")
    allocated = {a.slot_id: (a, number) for a, number in repo.allocations_with_subjects(trial.id)
                 if a.slot_id is not None}
    rows = []
    for slot in repo.slots(lst.id):
        label = _slot_label(slot.stratum, slot.block_index, slot.position)
        a = allocated.get(slot.id)
        rows.append({"stratum": slot.stratum, "seq": slot.seq, "block": slot.block_index,
                     "position": slot.position, "block_size": slot.block_size,
                     "arm": open_arm(key, label, slot.sealed_arm),
                     "randomization_number": a[0].randomization_number if a else None,
                     "subject_number": a[1] if a else None, "site": a[0].site_key if a else None,
                     "in_error": bool(a[0].in_error) if a else None})
    if lst.status != "generated" or not rows:  # draws-based schemes: export the allocations made
        for a, number in repo.allocations_with_subjects(trial.id):
            if a.slot_id is None:
                rows.append({"stratum": a.stratum, "seq": None, "block": None, "position": None, "block_size": None,
                             "arm": a.arm, "randomization_number": a.randomization_number, "subject_number": number,
                             "site": a.site_key, "in_error": bool(a.in_error)})
    uow.record("randomization.list_exported", "randomization_list", lst.id, after={"rows": len(rows)},
               trial=nct_id, actor=principal.username)
    return rows


def balance(uow, principal: Principal, nct_id: str) -> list[dict]:
    """Arm counts by stratum x site with margins (every allocation, in-error ones included). Statistician only:
    within-stratum counts help predict the next assignment of a blocked list."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    lst = uow.randomization.current_list(trial.id)
    spec = _spec_of(lst) if lst is not None else _protocol_spec(uow, nct_id)
    rows = balance_table(spec, [(a.stratum, a.site_key, a.arm) for a in uow.randomization.allocations(trial.id)])
    return [{"stratum": r.stratum, "site": r.site, "counts": r.counts, "total": r.total, "imbalance": r.imbalance}
            for r in rows]
