"""IWRS on SQLite and PostgreSQL: list generation, go-live commitment, allocation rules, idempotency, in-error flag,
extension, verification (and its detection of tampering), export and balance."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select, update

from access_helpers import make_users
from randomization_db_helpers import ALL_STRATA, NCT, OWN, SEED, add_subjects, setup_list, store_for, upcoming_arms
from trialdesk.adapters.db.tables import (
    AllocationRow,
    RandomizationListRow,
    RandomizationSlotRow,
    RandomizationStratumRow,
)
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from trialdesk.domain.randomization import stratum_key
from trialdesk.services import randomization as rz
from trialdesk.services.audit import verify_audit
from trialdesk.services.commands import FlagRandomizedInError, Randomize

S0 = ALL_STRATA[0]
K0 = stratum_key(S0)


def _randomize(td, number, store, principal=SYSTEM, **kw):
    with td.uow(principal.username) as uow:
        out = rz.randomize_subject(uow, principal, NCT, number, Randomize(confirm=True, **kw), seeds=store)
        uow.commit()
    return out


def _events(td, action):
    with td.uow() as uow:
        return [e for e in uow.audit.events() if e.action == action]


def test_generate_go_live_commitment_matches_hand_computed_document(td, tmp_path):
    info = setup_list(td, slots_per_stratum=6)
    assert info["strata"] == 8 and info["status"] == "live"
    # independent recomputation of the commitment: SHA-256 of the documented JSON document, built here by hand
    import hmac

    from trialdesk.domain.randomization import HmacStream

    spec_json = None
    with td.uow() as uow:
        lst = uow.randomization.current_list(uow.trials.get(NCT).id)
        spec_json = json.loads(lst.spec_json)
        strata = {s.stratum: s.n_blocks for s in uow.randomization.strata(lst.id)}
        assert lst.seed_check == hmac.new(SEED, b"trialdesk/seed-check/v1", hashlib.sha256).hexdigest()
    rows = []
    for stratum, n_blocks in strata.items():
        for b in range(n_blocks):
            stream = HmacStream(SEED, f"trialdesk/blocks/v1|1|{stratum}|{b}")
            size = [2, 4, 6][stream.randbelow(3)]
            arms = ["tqb2102"] * (size // 2) + ["thp"] * (size // 2)
            for i in range(size - 1, 0, -1):
                j = stream.randbelow(i + 1)
                arms[i], arms[j] = arms[j], arms[i]
            rows += [[stratum, b, p, size, a] for p, a in enumerate(arms)]
    doc = json.dumps({"spec": spec_json, "slots": sorted(rows)}, sort_keys=True, separators=(",", ":"))
    assert info["commitment"] == hashlib.sha256(doc.encode()).hexdigest()
    # the tables alone do not reveal arms: no plaintext arm id in any sealed token
    with td.uow() as uow:
        tokens = [s.sealed_arm for s in uow.randomization.slots(lst.id)]
    assert tokens and all(b"tqb2102" not in t and b"thp" not in t and len(t) == 60 for t in tokens)


def test_allocation_takes_next_slot_number_and_sets_status(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td)
    upcoming = upcoming_arms(td)
    numbers = add_subjects(td, [S0, S0, S0, ALL_STRATA[5]])
    got = [_randomize(td, n, store) for n in numbers]
    assert [g["randomization_number"] for g in got] == ["R-0001", "R-0002", "R-0003", "R-0004"]
    assert [g["arm"] for g in got[:3]] == upcoming[K0][:3]
    assert got[3]["arm"] == upcoming[stratum_key(ALL_STRATA[5])][0]
    assert all(g["created"] and g["stratum"] for g in got)
    assert "seq" not in got[0] and "block" not in json.dumps(got[0])
    with td.uow() as uow:
        assert uow.subjects.get(uow.trials.get(NCT).id, numbers[0]).status == "randomized"
        assert verify_audit(uow)[1] is None
    assert len(_events(td, "randomization.allocated")) == 4
    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert report["status"] == "ok", report["problems"]


def test_refusals_before_any_slot_is_taken(td, tmp_path):
    store = store_for(tmp_path)
    users = make_users(td)
    # no live list yet
    [n1] = add_subjects(td, [S0])
    with pytest.raises(Conflict, match="no live randomization list"):
        _randomize(td, n1, store)
    setup_list(td)
    [bad] = add_subjects(td, [S0], verdict="ineligible", start=2)
    with pytest.raises(Conflict, match="ineligible, not eligible"):
        _randomize(td, bad, store)
    missing = {k: v for k, v in S0.items() if k != "disease_setting"}
    [nomiss] = add_subjects(td, [missing], start=3)
    with pytest.raises(Conflict, match="factor disease_setting is missing"):
        _randomize(td, nomiss, store)
    [wrong] = add_subjects(td, [{**S0, "hr_status": "unknown"}], start=4)
    with pytest.raises(InvalidInput, match="hr_status"):
        _randomize(td, wrong, store)
    # other site: not recruiting
    [other] = add_subjects(td, [S0], site="anhui-provincial-hospital", prefix="ANH")
    with pytest.raises(Conflict, match="not RECRUITING"):
        _randomize(td, other, store)
    # roles without RANDOMIZE, or at another site, see "not found"
    for role in (Role.MONITOR, Role.SPONSOR, Role.STATISTICIAN, Role.ADMIN):
        with pytest.raises((NotFound, PermissionDenied)) as refused:
            _randomize(td, n1, store, users[role])
        assert refused.value.status_code == 404
    with pytest.raises((NotFound, PermissionDenied)) as refused:
        _randomize(td, other, store, users[Role.COORDINATOR])
    assert refused.value.status_code == 404
    with pytest.raises(InvalidInput, match="randomized_on"):
        _randomize(td, n1, store, randomized_on="2999-01-01")
    # nothing taken by all these refusals
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        lst = uow.randomization.current_list(trial.id)
        assert lst.next_number == 1 and all(s.next_seq == 0 for s in uow.randomization.strata(lst.id))
    # cap: pretend 642 subjects were randomized
    with td.uow() as uow:
        uow.session.execute(update(RandomizationListRow).values(next_number=643))
        uow.commit()
    with pytest.raises(Conflict, match="enrollment cap reached"):
        _randomize(td, n1, store, users[Role.COORDINATOR])


def test_idempotent_client_key_and_double_randomization(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td)
    a, b = add_subjects(td, [S0, S0])
    first = _randomize(td, a, store, client_key="req-1")
    again = _randomize(td, a, store, client_key="req-1")
    assert again["randomization_number"] == first["randomization_number"] == "R-0001"
    assert again["arm"] == first["arm"] and first["created"] and not again["created"]
    with pytest.raises(Conflict, match="another subject"):
        _randomize(td, b, store, client_key="req-1")
    with pytest.raises(Conflict, match="already randomized"):
        _randomize(td, a, store)
    with td.uow() as uow:
        assert uow.randomization.count_allocations(uow.trials.get(NCT).id) == 1
    assert len(_events(td, "randomization.allocated")) == 1


def test_in_error_keeps_slot_and_is_audited(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td)
    upcoming = upcoming_arms(td)[K0]
    a, b = add_subjects(td, [S0, S0])
    _randomize(td, a, store)
    with pytest.raises(InvalidInput, match="reason"), td.uow() as uow:
        rz.flag_randomized_in_error(uow, SYSTEM, NCT, a, FlagRandomizedInError(reason=" "))
    with td.uow() as uow:
        flagged = rz.flag_randomized_in_error(
            uow, SYSTEM, NCT, a, FlagRandomizedInError(reason="consent withdrawn before randomization")
        )
        uow.commit()
    assert flagged["in_error"] and flagged["randomization_number"] == "R-0001"
    second = _randomize(td, b, store)
    assert second["randomization_number"] == "R-0002" and second["arm"] == upcoming[1]
    [event] = _events(td, "randomization.flagged_in_error")
    assert event.reason == "consent withdrawn before randomization"
    with td.uow() as uow:
        assert rz.verify_list(uow, SYSTEM, NCT, SEED)["status"] == "ok"
        with pytest.raises(Conflict, match="already flagged"):
            rz.flag_randomized_in_error(uow, SYSTEM, NCT, a, FlagRandomizedInError(reason="again"))


def test_stratum_extension_is_deterministic_and_audited(td, tmp_path):
    store = store_for(tmp_path)
    info = setup_list(td, slots_per_stratum=2)
    from trialdesk.domain.randomization import generate_stratum_blocks
    from trialdesk.services.registry import get_protocol

    with td.uow() as uow:
        spec = get_protocol(uow, NCT).operations.randomization
        n_initial = uow.randomization.stratum(info["list_id"], K0).n_blocks
    expected = [s.arm for s in generate_stratum_blocks(spec, SEED, K0, 0, n_initial + 10)]
    numbers = add_subjects(td, [S0] * 14)
    arms = [_randomize(td, n, store)["arm"] for n in numbers]
    assert arms == expected[:14]
    events = _events(td, "randomization.stratum_extended")
    assert events and all("slots" not in (e.after or "") for e in events)
    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert report["status"] == "ok", report["problems"]
    assert report["extended_blocks"] > 0 and report["commitment"] == info["commitment"]


def test_verify_detects_tampered_sealed_arm_and_allocation(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td)
    numbers = add_subjects(td, [S0] * 3)
    for n in numbers:
        _randomize(td, n, store)
    with td.uow() as uow:
        assert rz.verify_list(uow, SYSTEM, NCT, SEED)["status"] == "ok"
    # 1. re-seal an unallocated slot with the other arm (as an attacker knowing the key would): commitment breaks
    from trialdesk.domain.randomization import derive_key, open_arm, seal_arm

    key = derive_key(SEED, "seal")
    with td.uow() as uow:
        slot = uow.session.execute(
            select(RandomizationSlotRow).where(RandomizationSlotRow.stratum == K0, RandomizationSlotRow.seq == 5)
        ).scalar_one()
        label = f"{K0}#{slot.block_index}.{slot.position}"
        other = "thp" if open_arm(key, label, slot.sealed_arm) == "tqb2102" else "tqb2102"
        original = slot.sealed_arm
        slot.sealed_arm = seal_arm(key, label, other)
        uow.commit()
    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert report["status"] == "failed"
    assert any("sealed arm differs" in p for p in report["problems"])
    # 2. a flipped byte fails authentication
    with td.uow() as uow:
        slot = uow.session.get(RandomizationSlotRow, slot.id)
        slot.sealed_arm = original[:-1] + bytes([original[-1] ^ 1])
        uow.commit()
    with td.uow() as uow:
        assert any("failed authentication" in p for p in rz.verify_list(uow, SYSTEM, NCT, SEED)["problems"])
        uow.session.get(RandomizationSlotRow, slot.id).sealed_arm = original
        uow.commit()
    # 3. an allocation's arm changed in the table
    with td.uow() as uow:
        row = uow.session.execute(
            select(AllocationRow).where(AllocationRow.randomization_number == "R-0002")
        ).scalar_one()
        row.arm = "thp" if row.arm == "tqb2102" else "tqb2102"
        uow.commit()
    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert any(p.startswith("R-0002: allocated arm") for p in report["problems"])
    # 4. a skipped slot (cursor moved past an unused slot)
    with td.uow() as uow:
        uow.session.execute(
            update(RandomizationStratumRow).where(RandomizationStratumRow.stratum == K0).values(next_seq=4)
        )
        uow.commit()
    with td.uow() as uow:
        assert any("out of order" in p for p in rz.verify_list(uow, SYSTEM, NCT, SEED)["problems"])
    with td.uow() as uow, pytest.raises(InvalidInput, match="seed"):
        rz.verify_list(uow, SYSTEM, NCT, bytes(32))


def test_export_and_balance_statistician_only(td, tmp_path):
    store = store_for(tmp_path)
    users = make_users(td)
    info = setup_list(td, slots_per_stratum=4)
    numbers = add_subjects(td, [S0, S0, ALL_STRATA[1]])
    got = [_randomize(td, n, store, users[Role.COORDINATOR]) for n in numbers]
    for role in (Role.COORDINATOR, Role.MONITOR, Role.SPONSOR, Role.INVESTIGATOR, Role.ADMIN):
        with td.uow() as uow:
            with pytest.raises(PermissionDenied):
                rz.export_list(uow, users[role], NCT, SEED)
            with pytest.raises(PermissionDenied):
                rz.balance(uow, users[role], NCT)
            with pytest.raises(PermissionDenied):
                rz.verify_list(uow, users[role], NCT, SEED)
    with td.uow() as uow:
        rows = rz.export_list(uow, users[Role.STATISTICIAN], NCT, SEED)
        uow.commit()
    assert len(rows) == info["slots"]
    used = [r for r in rows if r["randomization_number"]]
    assert sorted((r["randomization_number"], r["subject_number"], r["arm"]) for r in used) == sorted(
        (g["randomization_number"], g["subject_number"], g["arm"]) for g in got
    )
    assert len(_events(td, "randomization.list_exported")) == 1
    with td.uow() as uow:
        table = rz.balance(uow, users[Role.STATISTICIAN], NCT)
    total = table[-1]
    assert total["stratum"] == "*" and total["site"] == "*" and total["total"] == 3
    arms = [g["arm"] for g in got]
    assert total["counts"] == {"tqb2102": arms.count("tqb2102"), "thp": arms.count("thp")}
    cell = next(r for r in table if r["stratum"] == K0 and r["site"] == OWN)
    assert cell["total"] == 2


def _switch_scheme(td, scheme: str) -> None:
    from trialdesk.services.registry import get_protocol, save_protocol

    with td.uow() as uow:
        p = get_protocol(uow, NCT, live_sites=False)
        spec = p.operations.randomization.model_copy(update={"scheme": scheme})
        p = p.model_copy(update={"operations": p.operations.model_copy(update={"randomization": spec})})
        save_protocol(uow, p, reason="test: scheme " + scheme)
        uow.commit()


def test_minimization_hand_worked_and_replayed_by_verify(td, tmp_path):
    store = store_for(tmp_path)
    _switch_scheme(td, "minimization")
    info = setup_list(td)
    assert info["slots"] == 0
    a, b, c = add_subjects(td, [S0, S0, ALL_STRATA[7]])
    first = _randomize(td, a, store)
    second = _randomize(td, b, store)
    with td.uow() as uow:
        rows = {
            r.randomization_number: json.loads(r.details_json)
            for r in uow.randomization.allocations(uow.trials.get(NCT).id)
        }
    # subject 1: no one randomized, every G_k = 0 -> tie -> 1/2 each
    assert rows["R-0001"]["probabilities"] == {"tqb2102": 0.5, "thp": 0.5}
    # subject 2 shares all three levels with subject 1 (arm X). Range imbalance per factor: joining X gives
    # |2 - 0| = 2, joining the other arm gives |1 - 1| = 0; G_X = 3 * 2 = 6, G_other = 0 -> p = 0.8 for the other.
    x = first["arm"]
    y = "thp" if x == "tqb2102" else "tqb2102"
    assert rows["R-0002"]["scores"] == {x: 6.0, y: 0.0}
    assert rows["R-0002"]["probabilities"] == pytest.approx({x: 0.2, y: 0.8})
    _randomize(td, c, store)
    with td.uow() as uow:
        assert rz.verify_list(uow, SYSTEM, NCT, SEED)["status"] == "ok"
        row = uow.session.execute(
            select(AllocationRow).where(AllocationRow.randomization_number == "R-0002")
        ).scalar_one()
        row.arm = x if second["arm"] == y else y
        uow.commit()
    with td.uow() as uow:
        assert any("replayed draw" in p for p in rz.verify_list(uow, SYSTEM, NCT, SEED)["problems"])


def test_simple_scheme_replayed_by_verify(td, tmp_path):
    store = store_for(tmp_path)
    _switch_scheme(td, "simple")
    setup_list(td)
    for n in add_subjects(td, ALL_STRATA):
        _randomize(td, n, store)
    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert report["status"] == "ok" and report["allocations"] == 8


def test_generated_list_cannot_replace_live_and_wrong_seed_cannot_go_live(td):
    with td.uow() as uow:
        rz.generate_list(uow, SYSTEM, NCT, SEED, slots_per_stratum=2)
        uow.commit()
    with td.uow() as uow, pytest.raises(InvalidInput, match="seed"):
        rz.go_live(uow, SYSTEM, NCT, bytes(range(1, 33)))
    setup_list(td, slots_per_stratum=2)  # replaces the generated one, then goes live
    with td.uow() as uow:
        statuses = sorted(r.status for r in uow.session.execute(select(RandomizationListRow)).scalars())
    assert statuses == ["live", "retired"]
    with td.uow() as uow, pytest.raises(Conflict, match="live randomization list"):
        rz.generate_list(uow, SYSTEM, NCT, SEED)
