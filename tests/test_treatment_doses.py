"""Doses administered through the service, against hand-computed label values (both databases).

Hand computations (Mosteller BSA = sqrt(weight x height / 3600), rounded to 3 decimals; doses to 0.1 mg):
- 60 kg, 160 cm: sqrt(9600 / 3600) = sqrt(2.6667) = 1.63299 -> 1.633 m²; docetaxel 75 x 1.633 = 122.475 -> 122.5 mg;
  trastuzumab 8 x 60 = 480 mg (loading), 6 x 60 = 360 mg; pertuzumab 840 mg then 420 mg; TQB2102 6 x 60 = 360 mg.
- 66 kg, 160 cm: sqrt(10560 / 3600) = 1.71270 -> 1.713 m²; docetaxel 75 x 1.713 = 128.475 -> 128.5 mg;
  trastuzumab 6 x 66 = 396 mg.
"""

from __future__ import annotations

import json

import pytest

from access_helpers import NCT, OTHER
from test_treatment_helpers import Clock, day, principals, randomized_subject
from trialdesk.domain.access import Role
from trialdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from trialdesk.services import treatment
from trialdesk.services.commands import EditDose, PlanDoses, Randomize, RecordDose

R = "2025-03-03"  # randomization


@pytest.fixture
def setup(td):
    td.clock = Clock("2025-09-30")
    users = principals()
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    randomized_subject(td, "01-002", arm="tqb2102", randomized_on=R)
    return td, users[Role.COORDINATOR], users


def _record(td, who, number="01-001", **kw):
    with td.uow(who.username) as uow:
        out = treatment.record_dose(uow, who, NCT, number, RecordDose(**kw))
        uow.commit()
    return out


def _plan(td, who, number="01-001", **kw):
    with td.uow(who.username) as uow:
        return treatment.planned_doses(uow, who, NCT, number, PlanDoses(**kw))


def _doses(td, number="01-001"):
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        return uow.doses.for_subject(uow.subjects.get(trial.id, number).id)


def _mg(plan):
    return {d["drug"]: d["dose_mg"] for d in plan["doses"]}


def _events(td, action=None):
    with td.uow() as uow:
        events = list(uow.audit.events())
    return [e for e in events if action is None or e.action == action]


def test_label_values_at_cycles_1_and_2(setup):
    td, coord, _ = setup
    plan = _plan(td, coord, cycle=1, weight_kg=60, dose_date=day(R, 1))
    assert plan["bsa_m2"] == 1.633
    assert _mg(plan) == {"docetaxel": 122.5, "trastuzumab": 480.0, "pertuzumab": 840.0}
    for drug, mg in _mg(plan).items():
        _record(td, coord, drug=drug, cycle=1, dose_date=day(R, 1), actual_mg=mg, weight_kg=60)
    plan2 = _plan(td, coord, cycle=2, weight_kg=60, dose_date=day(R, 22))
    assert _mg(plan2) == {"docetaxel": 122.5, "trastuzumab": 360.0, "pertuzumab": 420.0}
    assert plan2["planned_day1"] == day(R, 22) and plan2["delay_days"] == 0
    assert "122.475" in next(d["formula"] for d in plan2["doses"] if d["drug"] == "docetaxel")
    tqb = _plan(td, coord, "01-002", cycle=1, weight_kg=60, dose_date=day(R, 1))
    assert _mg(tqb) == {"tqb2102": 360.0}

    rows = _doses(td)
    assert [(r.drug, r.planned_mg, r.actual_mg, r.loading) for r in sorted(rows, key=lambda r: r.drug)] == [
        ("docetaxel", 122.5, 122.5, False),
        ("pertuzumab", 840.0, 840.0, True),
        ("trastuzumab", 480.0, 480.0, True),
    ]
    calc = json.loads(rows[0].calculation_json)
    assert calc["formula"] and calc["weight_kg_used"] == 60
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "01-001")
        assert subject.status == "on_treatment" and subject.data_version == 3
    assert len(_events(td, "dose.recorded")) == 3
    assert len(_events(td, "subject.status_changed")) == 1


@pytest.mark.parametrize("gap, trastuzumab", [(28, 360.0), (29, 480.0)])
def test_trastuzumab_reload_more_than_one_week_late(setup, gap, trastuzumab):
    td, coord, _ = setup
    _record(td, coord, drug="trastuzumab", cycle=1, dose_date=day(R, 1), actual_mg=480, weight_kg=60)
    plan = _plan(td, coord, cycle=2, weight_kg=60, dose_date=day(R, 1 + gap))
    assert _mg(plan)["trastuzumab"] == trastuzumab
    assert plan["days_since_last_dose"] == {"trastuzumab": gap}
    out = _record(
        td, coord, drug="trastuzumab", cycle=2, dose_date=day(R, 1 + gap), actual_mg=trastuzumab, weight_kg=60
    )
    assert out["planned_mg"] == trastuzumab and out["loading"] is (gap == 29)
    assert out["delay_days"] == gap - 21


@pytest.mark.parametrize("gap, pertuzumab", [(41, 420.0), (42, 840.0)])
def test_pertuzumab_reload_at_six_weeks(setup, gap, pertuzumab):
    td, coord, _ = setup
    _record(td, coord, drug="pertuzumab", cycle=1, dose_date=day(R, 1), actual_mg=840, weight_kg=60)
    assert _mg(_plan(td, coord, cycle=2, weight_kg=60, dose_date=day(R, 1 + gap)))["pertuzumab"] == pertuzumab


def test_weight_rule_compares_with_the_weight_last_used(setup):
    td, coord, _ = setup
    _record(td, coord, drug="trastuzumab", cycle=1, dose_date=day(R, 1), actual_mg=480, weight_kg=60)
    # 65.9 kg is +9.8% of 60: the last weight stands
    plan = _plan(td, coord, cycle=2, weight_kg=65.9, dose_date=day(R, 22))
    assert plan["weight_kg_used"] == 60 and _mg(plan)["trastuzumab"] == 360.0 and _mg(plan)["docetaxel"] == 122.5
    _record(td, coord, drug="trastuzumab", cycle=2, dose_date=day(R, 22), actual_mg=360, weight_kg=65.9)
    # 66 kg is +10% of the weight last USED (60, not 65.9): recalculated
    plan = _plan(td, coord, cycle=3, weight_kg=66, dose_date=day(R, 43))
    assert plan["last_used_weight_kg"] == 60 and plan["weight_kg_used"] == 66
    assert plan["bsa_m2"] == 1.713 and _mg(plan)["trastuzumab"] == 396.0 and _mg(plan)["docetaxel"] == 128.5
    # 54.1 kg is -9.8% of 60: stands
    assert _plan(td, coord, cycle=3, weight_kg=54.1, dose_date=day(R, 43))["weight_kg_used"] == 60


def test_dose_before_randomization_refused_and_nothing_stored(setup):
    td, coord, _ = setup
    n_events = len(_events(td))
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, -1), actual_mg=122.5, weight_kg=60)
    assert exc.value.problems[0].path == "dose_date" and "before randomization" in exc.value.message
    assert _doses(td) == [] and len(_events(td)) == n_events


@pytest.mark.parametrize("weight", [24.9, 300.5])
def test_impossible_weight_refused(setup, weight):
    td, coord, _ = setup
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=weight)
    assert exc.value.problems[0].path == "weight_kg"
    assert _doses(td) == []


def test_cycle_beyond_docetaxel_limit_and_skipped_cycle(setup):
    td, coord, _ = setup
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=2, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60)
    assert exc.value.problems[0].path == "cycle"
    for c in range(1, 7):
        _record(td, coord, drug="docetaxel", cycle=c, dose_date=day(R, 1 + 21 * (c - 1)), actual_mg=122.5, weight_kg=60)
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=7, dose_date=day(R, 127), actual_mg=122.5, weight_kg=60)
    assert exc.value.problems[0].path == "cycle" and "6 cycles" in exc.value.message
    # trastuzumab continues: first given at cycle 7 it is not a loading dose by cycle, but 6 mg/kg
    assert (
        _record(td, coord, drug="trastuzumab", cycle=7, dose_date=day(R, 127), actual_mg=360, weight_kg=60)[
            "planned_mg"
        ]
        == 360.0
    )


def test_override_needs_a_reason_which_is_audited(setup):
    td, coord, _ = setup
    # 135 mg vs 122.5 calculated: +10.2% > 10%
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=135, weight_kg=60)
    assert exc.value.problems[0].path == "override_reason"
    assert _doses(td) == [] and _events(td, "dose.override") == []
    # TQB2102 395.9 mg vs 360 calculated is +9.97%: within tolerance, no reason needed
    _record(td, coord, "01-002", drug="tqb2102", cycle=1, dose_date=day(R, 1), actual_mg=395.9, weight_kg=60)
    out = _record(
        td,
        coord,
        drug="docetaxel",
        cycle=1,
        dose_date=day(R, 1),
        actual_mg=135,
        weight_kg=60,
        override_reason="pharmacy dose banding",
    )
    assert out["override_required"] is True and out["override_reason"] == "pharmacy dose banding"
    [event] = _events(td, "dose.override")
    assert event.reason == "pharmacy dose banding" and event.actor == coord.username
    after = json.loads(event.after)
    assert after["calculated_mg"] == 122.5 and after["prescribed_mg"] == 135


def test_interrupted_infusion_needs_no_override(setup):
    td, coord, _ = setup
    out = _record(
        td, coord, drug="trastuzumab", cycle=1, dose_date=day(R, 1), actual_mg=200, weight_kg=60, interrupted=True
    )
    assert out["interrupted"] is True and out["override_required"] is False


def test_duplicate_and_wrong_drug(setup):
    td, coord, _ = setup
    _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60)
    with pytest.raises(Conflict):
        _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60)
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="tqb2102", cycle=1, dose_date=day(R, 1), actual_mg=360, weight_kg=60)
    assert exc.value.problems[0].path == "drug"


def test_reduction_level_needs_a_reason_and_is_kept(setup):
    td, coord, _ = setup
    _record(td, coord, "01-002", drug="tqb2102", cycle=1, dose_date=day(R, 1), actual_mg=360, weight_kg=60)
    with pytest.raises(InvalidInput) as exc:
        _record(
            td,
            coord,
            "01-002",
            drug="tqb2102",
            cycle=2,
            dose_date=day(R, 22),
            actual_mg=288,
            weight_kg=60,
            reduction_level=-1,
        )
    assert exc.value.problems[0].path == "reduction_reason"
    with pytest.raises(InvalidInput) as exc:
        _record(
            td,
            coord,
            "01-002",
            drug="tqb2102",
            cycle=2,
            dose_date=day(R, 22),
            actual_mg=288,
            weight_kg=60,
            reduction_level=-3,
            reduction_reason="x",
        )
    assert exc.value.problems[0].path == "reduction_level"
    # level -1: 4.8 mg/kg x 60 kg = 288 mg; the next plan keeps level -1
    out = _record(
        td,
        coord,
        "01-002",
        drug="tqb2102",
        cycle=2,
        dose_date=day(R, 22),
        actual_mg=288,
        weight_kg=60,
        reduction_level=-1,
        reduction_reason="grade 3 neutropenia recovered",
    )
    assert out["planned_mg"] == 288.0
    assert _mg(_plan(td, coord, "01-002", cycle=3, weight_kg=60, dose_date=day(R, 43))) == {"tqb2102": 288.0}


def test_late_dose_delay_and_window(setup):
    td, coord, _ = setup
    _record(td, coord, drug="pertuzumab", cycle=1, dose_date=day(R, 1), actual_mg=840, weight_kg=60)
    out = _record(
        td,
        coord,
        drug="pertuzumab",
        cycle=2,
        dose_date=day(R, 27),
        actual_mg=420,
        weight_kg=60,
        delay_reason="neutropenia",
    )
    assert out["delay_days"] == 5 and out["out_of_window"] is True and out["delay_reason"] == "neutropenia"
    # stored, and the edit check DOSE-WINDOW opened a query on the dose date
    assert out["query_opened"] is True
    [opened] = _events(td, "query.opened")
    after = json.loads(opened.after)
    assert (after["entity_type"], after["entity_id"], after["field"], after["check_id"]) == (
        "dose",
        str(out["id"]),
        "dose_date",
        "DOSE-WINDOW",
    )
    # cycle 3 is planned 21 days after the ACTUAL day 1 of cycle 2
    plan = _plan(td, coord, cycle=3, weight_kg=60, dose_date=day(R, 48))
    assert plan["planned_day1"] == day(R, 48) and plan["delay_days"] == 0 and not plan["out_of_window"]


def test_dose_date_in_the_future_refused(setup):
    td, coord, _ = setup
    with pytest.raises(InvalidInput) as exc:
        _record(td, coord, drug="docetaxel", cycle=1, dose_date="2025-10-01", actual_mg=122.5, weight_kg=60)
    assert exc.value.problems[0].path == "dose_date" and "future" in exc.value.message


def test_edit_with_reason_audits_old_new_who_when_why(setup):
    td, coord, users = setup
    out = _record(td, coord, drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60)
    with td.uow(coord.username) as uow, pytest.raises(InvalidInput) as exc:
        treatment.update_dose(uow, coord, NCT, "01-001", out["id"], EditDose(changes={"actual_mg": 120}, reason="  "))
    assert exc.value.problems[0].path == "reason"
    td.clock.set("2025-10-02")
    inv = users[Role.INVESTIGATOR]
    with td.uow(inv.username) as uow:
        edited = treatment.update_dose(
            uow, inv, NCT, "01-001", out["id"], EditDose(changes={"actual_mg": 120}, reason="transcription error")
        )
        uow.commit()
    assert edited["changes"] == {"actual_mg": {"old": 122.5, "new": 120.0}}
    [event] = _events(td, "dose.updated")
    # the event names the subject in both states (the audit trail's subject filter finds it; not a change)
    assert json.loads(event.before) == {"subject_number": "01-001", "actual_mg": 122.5}
    assert json.loads(event.after) == {"subject_number": "01-001", "actual_mg": 120.0}
    assert event.actor == inv.username and event.reason == "transcription error"
    # audit timestamps never run backwards: the clock's time, unless an earlier event (the trial load, on the real
    # date) is dated later
    earlier = max(e.occurred_at for e in _events(td) if e.seq < event.seq)
    assert event.occurred_at == max(earlier, "2025-10-02T12:00:00.000000+00:00")
    [row] = _doses(td)
    assert row.actual_mg == 120.0 and row.weight_kg == 60.0
    # a change of weight that moves the planned dose is audited as a derived change: 75 x sqrt(70 x 160/3600)
    # = 75 x 1.764 = 132.3 mg
    with td.uow(inv.username) as uow:
        edited = treatment.update_dose(
            uow,
            inv,
            NCT,
            "01-001",
            out["id"],
            EditDose(changes={"weight_kg": 70, "actual_mg": 132.3}, reason="weight was measured wrongly"),
        )
        uow.commit()
    assert edited["changes"]["planned_mg"] == {"old": 122.5, "new": 132.3}
    with td.uow(inv.username) as uow, pytest.raises(InvalidInput) as exc:
        treatment.update_dose(uow, inv, NCT, "01-001", out["id"], EditDose(changes={"cycle": 2}, reason="x"))
    assert exc.value.problems[0].path == "cycle"


def test_access_other_site_and_monitor(setup):
    td, coord, users = setup
    randomized_subject(td, "02-001", site=OTHER, randomized_on=R)
    with pytest.raises(PermissionDenied) as denied, td.uow(coord.username) as uow:
        treatment.record_dose(
            uow,
            coord,
            NCT,
            "02-001",
            RecordDose(drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60),
        )
    with pytest.raises(PermissionDenied) as denied, td.uow(coord.username) as uow:
        treatment.planned_doses(uow, coord, NCT, "02-001", PlanDoses(cycle=1, weight_kg=60))
    monitor = users[Role.MONITOR]
    with pytest.raises(PermissionDenied) as denied, td.uow(monitor.username) as uow:
        treatment.record_dose(
            uow,
            monitor,
            NCT,
            "01-001",
            RecordDose(drug="docetaxel", cycle=1, dose_date=day(R, 1), actual_mg=122.5, weight_kg=60),
        )
    assert denied.value.status_code == 404  # answered as "not found"
    assert _doses(td) == [] and _doses(td, "02-001") == []
    assert [e.actor for e in _events(td, "access.denied")] == [coord.username, coord.username, monitor.username]
    # the monitor may read the plan and the doses
    with td.uow(monitor.username) as uow:
        assert treatment.list_doses(uow, monitor, NCT, "01-001") == []


def test_not_randomized_subject(setup):
    td, coord, _ = setup
    with td.uow("setup") as uow:
        trial = uow.trials.get(NCT)
        uow.subjects.create(
            trial_id=trial.id,
            site_key="hunan-cancer-hospital",
            subject_number="01-009",
            patient_ref="P9",
            status="screening",
            created_at="2025-03-01",
            data_version=0,
        )
        uow.commit()
    with td.uow(coord.username) as uow, pytest.raises(Conflict):
        treatment.planned_doses(uow, coord, NCT, "01-009", PlanDoses(cycle=1, weight_kg=60))


def test_height_missing_then_recorded_with_first_dose(setup):
    td, coord, _ = setup
    randomized_subject(td, "01-003", randomized_on=R, height_cm=None)
    with pytest.raises(InvalidInput) as exc:
        _plan(td, coord, "01-003", cycle=1, weight_kg=60, dose_date=day(R, 1))
    assert exc.value.problems[0].path == "height_cm"
    assert _plan(td, coord, "01-003", cycle=1, weight_kg=60, height_cm=160, dose_date=day(R, 1))["bsa_m2"] == 1.633
    _record(
        td,
        coord,
        "01-003",
        drug="docetaxel",
        cycle=1,
        dose_date=day(R, 1),
        actual_mg=122.5,
        weight_kg=60,
        height_cm=160,
    )
    assert _plan(td, coord, "01-003", cycle=2, weight_kg=60, dose_date=day(R, 22))["height_cm"] == 160


def test_subject_randomized_by_the_randomization_service(td, tmp_path):
    """End to end with the real allocation: the arm the service stores drives the dose engine and calendar."""
    from randomization_db_helpers import ALL_STRATA, add_subjects, setup_list, store_for
    from trialdesk.services import randomization

    td.clock = Clock("2025-07-01")
    coord = principals()[Role.COORDINATOR]
    store = store_for(tmp_path)
    setup_list(td)
    [number] = add_subjects(td, ALL_STRATA[:1])
    with td.uow(coord.username) as uow:
        alloc = randomization.randomize_subject(
            uow, coord, NCT, number, Randomize(confirm=True, randomized_on="2025-07-01"), seeds=store
        )
        uow.commit()
    arm = alloc["arm"]
    expected = {"thp": {"pertuzumab": 840.0, "trastuzumab": 480.0, "docetaxel": 122.5}, "tqb2102": {"tqb2102": 360.0}}[
        arm
    ]
    plan = _plan(td, coord, number, cycle=1, weight_kg=60, height_cm=160, dose_date="2025-07-01")
    assert plan["arm"] == arm and _mg(plan) == expected
    with td.uow(coord.username) as uow:
        visits = treatment.subject_calendar(uow, coord, NCT, number, "2025-07-01")
    assert visits[0].label == "C1D1" and visits[0].status.value == "due"
