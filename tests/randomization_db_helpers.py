"""Fixtures for the IWRS tests: a generated (and live) list, eligible subjects with screening rows.

Subjects and screenings are written through ``uow.subjects`` / ``uow.randomization`` directly (the screening
service is a colleague's), with the derived stratification factors the eligibility engine would record.
"""

from __future__ import annotations

import itertools
import json

from trialdesk.adapters.randomization_secret import SeedStore
from trialdesk.domain.access import SYSTEM
from trialdesk.services import randomization as rz

NCT = "NCT07003074"
OWN = "hunan-cancer-hospital"
SEED = bytes(range(32))  # fixed test seed (32 bytes)

LEVELS = {
    "hr_status": ("positive", "negative"),
    "disease_setting": ("de_novo", "recurrent"),
    "visceral_metastases": ("yes", "no"),
}
ALL_STRATA = [dict(zip(LEVELS, combo)) for combo in itertools.product(*LEVELS.values())]


def store_for(tmp_path, seed: bytes = SEED) -> SeedStore:
    store = SeedStore(tmp_path / "secrets")
    store.save(NCT, seed)
    return store


def setup_list(td, seed: bytes = SEED, *, live: bool = True, slots_per_stratum: int | None = 30) -> dict:
    with td.uow("statistician") as uow:
        info = rz.generate_list(uow, SYSTEM, NCT, seed, slots_per_stratum=slots_per_stratum)
        uow.commit()
    if live:
        with td.uow("statistician") as uow:
            info.update(rz.go_live(uow, SYSTEM, NCT, seed))
            uow.commit()
    return info


def add_subjects(
    td,
    strata: list[dict],
    *,
    site: str = OWN,
    verdict: str = "eligible",
    prefix: str = "HUN",
    start: int = 1,
    nct: str = NCT,
) -> list[str]:
    """One eligible subject per entry of ``strata`` (factor -> level; a missing key leaves the factor out)."""
    numbers = []
    with td.uow("setup") as uow:
        trial = uow.trials.get(nct)
        now = uow.now().isoformat()
        for i, levels in enumerate(strata, start=start):
            number = f"{prefix}-{i:04d}"
            subject = uow.subjects.create(
                trial_id=trial.id,
                site_key=site,
                subject_number=number,
                patient_ref=f"{prefix}-P{i}",
                status="screening",
                created_at=now,
                data_version=0,
            )
            uow.randomization.add_screening(
                trial_id=trial.id,
                subject_id=subject.id,
                site_key=site,
                screening_number=f"S-{prefix}-{i:04d}",
                screened_on="2025-01-02",
                verdict=verdict,
                record_json="{}",
                results_json="{}",
                derived_json=json.dumps(levels),
                failed_criteria="",
                protocol_digest="0" * 64,
                created_at=now,
                created_by="setup",
            )
            numbers.append(number)
        uow.commit()
    return numbers


def upcoming_arms(td, seed: bytes = SEED) -> dict[str, list[str]]:
    """Decrypt the stored list (as only the statistician could): stratum -> arms of the unallocated slots."""
    from trialdesk.domain.randomization import derive_key, open_arm

    key = derive_key(seed, "seal")
    out: dict[str, list[str]] = {}
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        lst = uow.randomization.current_list(trial.id)
        cursors = {s.stratum: s.next_seq for s in uow.randomization.strata(lst.id)}
        for slot in uow.randomization.slots(lst.id):
            if slot.seq >= cursors[slot.stratum]:
                out.setdefault(slot.stratum, []).append(
                    open_arm(key, f"{slot.stratum}#{slot.block_index}.{slot.position}", slot.sealed_arm)
                )
    return out
