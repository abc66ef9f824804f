"""What the randomization use cases share: the seed store and seed check, the stored spec, slot rows."""

from __future__ import annotations

import hmac
from typing import Any

from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.randomization import RandomizationSpec, Slot, seal_arm
from trialdesk.domain.records import RandomizationList
from trialdesk.services.ports import SeedStore
from trialdesk.services.registry import get_protocol
from trialdesk.services.unit_of_work import UnitOfWork


def _seeds(uow: UnitOfWork, seeds: SeedStore | None = None) -> SeedStore:
    """The seed store: the one given (tests), else the unit of work's seed port (the only place seeds load from)."""
    if seeds is not None:
        return seeds
    store: SeedStore = uow.ports.seeds.store()
    return store


def _seed_check(uow: UnitOfWork, seed: bytes) -> str:
    check: str = uow.ports.seeds.check(seed)
    return check


def _spec_of(lst: RandomizationList) -> RandomizationSpec:
    return RandomizationSpec.model_validate_json(lst.spec_json)


def _slot_label(stratum: str, block_index: int, position: int) -> str:
    return f"{stratum}#{block_index}.{position}"


def _protocol_spec(uow: UnitOfWork, nct_id: str) -> RandomizationSpec:
    spec = get_protocol(uow, nct_id, live_sites=False).operations.randomization
    if spec is None:
        raise Conflict(f"{nct_id} has no operations.randomization section in its protocol")
    return spec


def _check_seed_matches(uow: UnitOfWork, lst: RandomizationList, seed: bytes) -> None:
    if not hmac.compare_digest(_seed_check(uow, seed), lst.seed_check):
        raise InvalidInput("this is not the seed the list was generated with (seed check differs)", field="seed")


def _slot_rows(list_id: int, key: bytes, slots: list[Slot], first_seq: int) -> list[dict[str, Any]]:
    return [
        {
            "list_id": list_id,
            "stratum": s.stratum,
            "seq": first_seq + i,
            "block_index": s.block_index,
            "position": s.position,
            "block_size": s.block_size,
            "sealed_arm": seal_arm(key, s.slot_id, s.arm),
        }
        for i, s in enumerate(slots)
    ]
