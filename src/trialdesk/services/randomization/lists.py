"""Generating the allocation list and going live (statistician), and the list as the statistician sees it."""

from __future__ import annotations

import math
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.randomization import (
    RandomizationSpec,
    Slot,
    StoredSlot,
    StratumState,
    all_strata,
    check_go_live,
    commitment,
    derive_key,
    generate_stratum_blocks,
)
from trialdesk.domain.records import RandomizationSlot, RandomizationStratum
from trialdesk.services.randomization._common import (
    _check_seed_matches,
    _protocol_spec,
    _seed_check,
    _slot_rows,
    _spec_of,
)
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork


def default_slots_per_stratum(spec: RandomizationSpec, n_strata: int) -> int:
    """Slots generated per stratum: the enrollment cap (no stratum can run out), or, with the site as a factor,
    twice the average share of the cap; at least one block of the largest size."""
    target = spec.enrollment_cap if not spec.site_as_factor else math.ceil(2 * spec.enrollment_cap / max(n_strata, 1))
    return max(target, max(spec.block_sizes or (1,)))


def generate_list(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    seed: bytes,
    *,
    slots_per_stratum: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
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
    trial_id = stored_id(trial)
    current = repo.current_list(trial_id, for_update=True)
    if current is not None and current.status == "live":
        raise Conflict(f"{nct_id} already has a live randomization list (#{current.id}); it cannot be replaced")
    now = uow.now().isoformat()
    if current is not None:
        current.status = "retired"
        uow.record(
            "randomization.list_retired",
            "randomization_list",
            current.id,
            before={"status": "generated"},
            after={"status": "retired"},
            reason=reason or "replaced by a newly generated list",
            trial=nct_id,
            actor=principal.username,
        )
    lst = repo.create_list(
        trial_id=trial_id,
        spec_json=spec.model_dump_json(),
        spec_version=spec.version,
        seed_check=_seed_check(uow, seed),
        status="generated",
        commitment=None,
        generated_at=now,
        next_number=1,
    )
    list_id = stored_id(lst)
    n_strata, n_slots = 0, 0
    if spec.scheme == "blocks":
        key = derive_key(seed, "seal")
        sites = [s.site_key for s in uow.sites.for_trial(trial_id)]
        strata = all_strata(spec, sites)
        target = slots_per_stratum or default_slots_per_stratum(spec, len(strata))
        for stratum in strata:
            slots: list[Slot] = []
            block = 0
            while len(slots) < target:
                slots.extend(generate_stratum_blocks(spec, seed, stratum, block, 1))
                block += 1
            repo.create_stratum(
                list_id=list_id, stratum=stratum, next_seq=0, n_slots=len(slots), n_blocks=block, initial_blocks=0
            )
            repo.add_slots(_slot_rows(list_id, key, slots, 0))
            n_strata, n_slots = n_strata + 1, n_slots + len(slots)
    summary = {
        "list_id": lst.id,
        "scheme": spec.scheme,
        "spec_version": spec.version,
        "strata": n_strata,
        "status": "generated",
    }
    # the audit trail is readable by monitors: it records the number of strata, never slot counts or sizes
    uow.record(
        "randomization.list_generated",
        "randomization_list",
        lst.id,
        after=summary,
        reason=reason,
        trial=nct_id,
        actor=principal.username,
    )
    return {**summary, "slots": n_slots, "seed_check": lst.seed_check}


def stratum_state(row: RandomizationStratum) -> StratumState:
    """A stored stratum cursor as the domain sees it."""
    return StratumState(
        stratum=row.stratum,
        n_blocks=row.n_blocks,
        n_slots=row.n_slots,
        initial_blocks=row.initial_blocks,
        next_seq=row.next_seq,
    )


def stored_slot(row: RandomizationSlot) -> StoredSlot:
    """A stored slot as the domain sees it."""
    return StoredSlot(
        id=stored_id(row),
        stratum=row.stratum,
        seq=row.seq,
        block_index=row.block_index,
        position=row.position,
        block_size=row.block_size,
        sealed_arm=bytes(row.sealed_arm),
    )


def go_live(
    uow: UnitOfWork, principal: Principal, nct_id: str, seed: bytes, *, reason: str | None = None
) -> dict[str, Any]:
    """Check the generated list against the seed, record its SHA-256 commitment and open it for allocation."""
    require(principal, Action.RANDOMIZATION_MANAGE)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(stored_id(trial), for_update=True)
    if lst is None:
        raise Conflict(f"{nct_id} has no generated randomization list; run 'randomization generate' first")
    if lst.status != "generated":
        raise Conflict(f"randomization list #{lst.id} is {lst.status}, not generated")
    _check_seed_matches(uow, lst, seed)
    spec = _spec_of(lst)
    strata = repo.strata(stored_id(lst))
    slots = check_go_live(
        spec, seed, [stratum_state(st) for st in strata], [stored_slot(r) for r in repo.slots(stored_id(lst))]
    )
    for st in strata:
        st.initial_blocks = st.n_blocks
    digest = commitment(spec, slots)
    lst.status, lst.commitment, lst.live_at = "live", digest, uow.now().isoformat()
    after = {
        "list_id": lst.id,
        "status": "live",
        "commitment": digest,
        "scheme": spec.scheme,
        "spec_version": spec.version,
    }
    uow.record(
        "randomization.list_live",
        "randomization_list",
        lst.id,
        before={"status": "generated"},
        after=after,
        reason=reason,
        trial=nct_id,
        actor=principal.username,
    )
    return after


def list_info(uow: UnitOfWork, principal: Principal, nct_id: str) -> dict[str, Any] | None:
    """The current list as the statistician sees it (no slots): status, commitment, counts."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    repo = uow.randomization
    lst = repo.current_list(stored_id(trial))
    if lst is None:
        return None
    spec = _spec_of(lst)
    strata = repo.strata(stored_id(lst))
    return {
        "list_id": lst.id,
        "status": lst.status,
        "scheme": spec.scheme,
        "spec_version": lst.spec_version,
        "commitment": lst.commitment,
        "generated_at": lst.generated_at,
        "live_at": lst.live_at,
        "allocated": lst.next_number - 1,
        "enrollment_cap": spec.enrollment_cap,
        "strata": len(strata),
        "slots": sum(s.n_slots for s in strata),
        "extended_blocks": sum(max(s.n_blocks - s.initial_blocks, 0) for s in strata) if lst.live_at else 0,
        "seed_check": lst.seed_check,
    }
