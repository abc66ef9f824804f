"""Verification, export and balance (statistician): the list regenerated from the seed and checked, the list in
clear, and the arm counts by stratum and site. The checks themselves are
:func:`trialdesk.domain.randomization.verify_allocation_list`."""

from __future__ import annotations

import json
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict
from trialdesk.domain.randomization import AllocationFact, balance_table, derive_key, open_arm, verify_allocation_list
from trialdesk.domain.records import Allocation, RandomizationList, Trial
from trialdesk.services.randomization._common import _check_seed_matches, _protocol_spec, _slot_label, _spec_of
from trialdesk.services.randomization.lists import stored_slot, stratum_state
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork


def _allocation_fact(row: Allocation) -> AllocationFact:
    details = json.loads(row.details_json or "{}")
    return AllocationFact(
        randomization_number=row.randomization_number,
        arm=row.arm,
        stratum=row.stratum,
        slot_id=row.slot_id,
        n=details.get("n", 0),
        levels=details.get("levels", {}),
    )


def _seeded_list(uow: UnitOfWork, principal: Principal, nct_id: str, seed: bytes) -> tuple[Trial, RandomizationList]:
    """The trial and its current list, for a statistician who holds the list's seed: what verifying and exporting
    the list both start from (no list is a conflict; a wrong seed is invalid input)."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    lst = uow.randomization.current_list(stored_id(trial))
    if lst is None:
        raise Conflict(f"{nct_id} has no randomization list")
    _check_seed_matches(uow, lst, seed)
    return trial, lst


def verify_list(uow: UnitOfWork, principal: Principal, nct_id: str, seed: bytes) -> dict[str, Any]:
    """Regenerate the list from ``seed`` and check it, the go-live commitment and every allocation.

    Checks: the seed check; every stratum's stored slots equal the blocks regenerated from the seed (sealed arm,
    block, position, size, sequence); the commitment over the blocks present at go-live; extension blocks as
    deterministic regenerations; every allocation's arm equals its slot's arm, its stratum the slot's stratum;
    no slot used twice; slots used in sequence order without gaps (exactly ``0 .. next_seq-1`` per stratum);
    randomization numbers contiguous from the first. For minimization and simple schemes the draws are replayed
    from the seed in randomization-number order. Audited as ``randomization.verified``.

    Returns a report with ``status`` ``"ok"`` or ``"failed"`` and the ``problems`` found.
    """
    trial, lst = _seeded_list(uow, principal, nct_id, seed)
    repo = uow.randomization
    spec = _spec_of(lst)
    allocations = uow.allocations.for_trial(stored_id(trial), include_in_error=True)
    blocks = spec.scheme == "blocks"
    found = verify_allocation_list(
        spec,
        seed,
        list_id=stored_id(lst),
        next_number=lst.next_number,
        committed=lst.commitment,
        strata=[stratum_state(st) for st in repo.strata(stored_id(lst))] if blocks else [],
        slots=[stored_slot(s) for s in repo.slots(stored_id(lst))] if blocks else [],
        allocations=[_allocation_fact(a) for a in allocations],
    )
    problems = found.problems
    report: dict[str, Any] = {
        "list_id": lst.id,
        "status": "ok" if not problems else "failed",
        "scheme": spec.scheme,
        "list_status": lst.status,
        "strata": found.strata,
        "slots": found.slots,
        "allocations": len(allocations),
        "extended_blocks": found.extended_blocks,
        "completed_blocks": found.completed_blocks,
        "commitment": lst.commitment,
        "problems": problems,
    }
    uow.record(
        "randomization.verified",
        "randomization_list",
        lst.id,
        after={"status": report["status"], "allocations": len(allocations), "problems": len(problems)},
        trial=nct_id,
        actor=principal.username,
    )
    return report


def export_list(uow: UnitOfWork, principal: Principal, nct_id: str, seed: bytes) -> list[dict[str, Any]]:
    """The whole list in clear, with the allocation of each used slot. Statistician only; audited."""
    trial, lst = _seeded_list(uow, principal, nct_id, seed)
    repo = uow.randomization
    key = derive_key(seed, "seal")
    allocated = {
        a.slot_id: (a, number)
        for a, number in uow.allocations.with_subject_numbers(stored_id(trial), include_in_error=True)
        if a.slot_id is not None
    }
    rows: list[dict[str, Any]] = []
    for slot in repo.slots(stored_id(lst)):
        label = _slot_label(slot.stratum, slot.block_index, slot.position)
        used = allocated.get(stored_id(slot))
        rows.append(
            {
                "stratum": slot.stratum,
                "seq": slot.seq,
                "block": slot.block_index,
                "position": slot.position,
                "block_size": slot.block_size,
                "arm": open_arm(key, label, slot.sealed_arm),
                "randomization_number": used[0].randomization_number if used else None,
                "subject_number": used[1] if used else None,
                "site": used[0].site_key if used else None,
                "in_error": bool(used[0].in_error) if used else None,
            }
        )
    if lst.status != "generated" or not rows:  # draws-based schemes: export the allocations made
        for a, number in uow.allocations.with_subject_numbers(stored_id(trial), include_in_error=True):
            if a.slot_id is None:
                rows.append(
                    {
                        "stratum": a.stratum,
                        "seq": None,
                        "block": None,
                        "position": None,
                        "block_size": None,
                        "arm": a.arm,
                        "randomization_number": a.randomization_number,
                        "subject_number": number,
                        "site": a.site_key,
                        "in_error": bool(a.in_error),
                    }
                )
    uow.record(
        "randomization.list_exported",
        "randomization_list",
        lst.id,
        after={"rows": len(rows)},
        trial=nct_id,
        actor=principal.username,
    )
    return rows


def balance(uow: UnitOfWork, principal: Principal, nct_id: str) -> list[dict[str, Any]]:
    """Arm counts by stratum x site with margins (every allocation, in-error ones included). Statistician only:
    within-stratum counts help predict the next assignment of a blocked list."""
    require(principal, Action.RANDOMIZATION_LIST)
    trial = get_trial_row(uow, nct_id)
    lst = uow.randomization.current_list(stored_id(trial))
    spec = _spec_of(lst) if lst is not None else _protocol_spec(uow, nct_id)
    rows = balance_table(
        spec,
        [(a.stratum, a.site_key, a.arm) for a in uow.allocations.for_trial(stored_id(trial), include_in_error=True)],
    )
    return [
        {"stratum": r.stratum, "site": r.site, "counts": r.counts, "total": r.total, "imbalance": r.imbalance}
        for r in rows
    ]
