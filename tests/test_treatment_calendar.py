"""Calendars built from stored doses, tumour assessments and dispositions (both databases).

Protocol schedule (operations.schedule): C1D1 within 3 days of randomization R; next day 1 = previous ACTUAL day 1
+ 21 ± 3 days; tumour assessments at R + 42, 84, ... ± 7 days (fixed grid); EOT within 30 days of the last dose.
"""

from __future__ import annotations

import pytest
from icalendar import Calendar

from access_helpers import NCT, OTHER
from test_treatment_helpers import Clock, day, principals, randomized_subject
from trialdesk.adapters.db.tables import TumorAssessmentRow
from trialdesk.adapters.ical import site_calendar_ics, subject_calendar_ics
from trialdesk.domain.access import Role
from trialdesk.domain.errors import InvalidInput, PermissionDenied
from trialdesk.services import treatment
from trialdesk.services.commands import RecordDisposition, RecordDose

R = "2025-01-06"


@pytest.fixture
def setup(td):
    td.clock = Clock(day(R, 200))
    users = principals()
    randomized_subject(td, "01-001", arm="tqb2102", randomized_on=R)
    randomized_subject(td, "01-002", arm="tqb2102", randomized_on=R)
    return td, users[Role.COORDINATOR], users


def _dose(td, who, number, cycle, plus):
    with td.uow(who.username) as uow:
        treatment.record_dose(
            uow,
            who,
            NCT,
            number,
            RecordDose(drug="tqb2102", cycle=cycle, dose_date=day(R, plus), actual_mg=360, weight_kg=60),
        )
        uow.commit()


def _cal(td, who, number="01-001", as_of_plus=200, **kw):
    with td.uow(who.username) as uow:
        return treatment.subject_calendar(uow, who, NCT, number, day(R, as_of_plus), **kw)


def _by_label(visits):
    return {v.label: v for v in visits}


def test_delay_shifts_cycles_not_the_assessment_grid(setup):
    td, coord, _ = setup
    _dose(td, coord, "01-001", 1, 1)
    _dose(td, coord, "01-001", 2, 27)  # planned R+22: 5 days late
    _dose(td, coord, "01-002", 1, 1)
    _dose(td, coord, "01-002", 2, 22)  # on time
    late, on_time = _by_label(_cal(td, coord, as_of_plus=30)), _by_label(_cal(td, coord, "01-002", as_of_plus=30))
    assert late["C2D1"].planned.isoformat() == day(R, 22) and late["C2D1"].actual.isoformat() == day(R, 27)
    assert late["C2D1"].out_of_window and not on_time["C2D1"].out_of_window
    assert late["C3D1"].planned.isoformat() == day(R, 48)
    assert (late["C3D1"].window_start.isoformat(), late["C3D1"].window_end.isoformat()) == (day(R, 45), day(R, 51))
    assert on_time["C3D1"].planned.isoformat() == day(R, 43)
    for label, plus in (("TA1", 42), ("TA2", 84)):
        assert late[label].planned.isoformat() == on_time[label].planned.isoformat() == day(R, plus)
        assert late[label].window_start.isoformat() == day(R, plus - 7)


def test_due_overdue_missed_with_the_injected_clock(setup):
    td, coord, _ = setup
    _dose(td, coord, "01-001", 1, 1)
    at = {plus: _by_label(_cal(td, coord, as_of_plus=plus)) for plus in (20, 30, 40, 50, 77)}
    assert at[20]["C2D1"].status.value == "due"  # window R+19..R+25
    assert at[30]["C2D1"].status.value == "overdue"  # a cycle not given is a delay, never missed
    assert at[30]["TA1"].status.value == "upcoming"  # window R+35..R+49
    assert at[40]["TA1"].status.value == "due"
    assert at[50]["TA1"].status.value == "overdue"
    assert at[77]["TA1"].status.value == "missed"  # TA2's window opened at R+77
    assert at[77]["TA2"].status.value == "due"
    # the default as_of is the clock's date
    td.clock.set(day(R, 40))
    with td.uow(coord.username) as uow:
        assert _by_label(treatment.subject_calendar(uow, coord, NCT, "01-001"))["TA1"].status.value == "due"


def test_assessments_fill_the_grid_and_progression_stops_it(setup):
    td, coord, _ = setup
    _dose(td, coord, "01-001", 1, 1)
    with td.uow("setup") as uow:
        sid = uow.subjects.get(uow.trials.get(NCT).id, "01-001").id
        for plus, baseline, response in ((-10, True, None), (44, False, "SD"), (85, False, "PD")):
            uow.session.add(
                TumorAssessmentRow(
                    subject_id=sid,
                    assessment_date=day(R, plus),
                    baseline=baseline,
                    lesions_json="[]",
                    overall_response=response,
                    entered_at="x",
                    entered_by="setup",
                )
            )
        uow.commit()
    visits = _by_label(_cal(td, coord, as_of_plus=150))
    assert visits["TA1"].actual.isoformat() == day(R, 44) and visits["TA1"].status.value == "done"
    assert visits["TA2"].actual.isoformat() == day(R, 85)
    assert "TA3" not in visits  # no assessments after progression


def test_end_of_treatment_and_death(setup):
    td, coord, _ = setup
    _dose(td, coord, "01-001", 1, 1)
    with td.uow(coord.username) as uow:
        treatment.record_disposition(
            uow,
            coord,
            NCT,
            "01-001",
            RecordDisposition(kind="end_of_treatment", event_date=day(R, 30), reason="adverse event"),
        )
        uow.commit()
    visits = _by_label(_cal(td, coord, as_of_plus=35))
    assert "C2D1" not in visits and "C3D1" not in visits
    eot = visits["EOT"]
    assert (eot.window_start.isoformat(), eot.window_end.isoformat()) == (day(R, 30), day(R, 31))
    assert eot.status.value == "overdue"
    with td.uow(coord.username) as uow:
        treatment.record_disposition(
            uow,
            coord,
            NCT,
            "01-001",
            RecordDisposition(kind="death", event_date=day(R, 40), reason="pulmonary embolism"),
        )
        uow.commit()
    visits = _cal(td, coord, as_of_plus=120)
    assert all(v.window_start.isoformat() < day(R, 40) or v.actual for v in visits)
    by = _by_label(visits)
    assert by["EOT"].status.value == "missed" and by["TA1"].status.value == "missed"
    assert "TA2" not in by and not any(v.label.startswith("FU") for v in visits)


def test_site_calendar_lists_work_overdue_first_and_is_site_scoped(setup):
    td, coord, users = setup
    _dose(td, coord, "01-001", 1, 1)
    _dose(td, coord, "01-002", 1, 1)
    _dose(td, coord, "01-002", 2, 22)
    randomized_subject(td, "02-001", site=OTHER, arm="tqb2102", randomized_on=R)
    with td.uow(coord.username) as uow:
        visits = treatment.site_calendar(uow, coord, NCT, "hunan-cancer-hospital", day(R, 30))
    rows = [(v.subject_id, v.label, v.status.value) for v in visits]
    # 01-001 C2D1 overdue (window ended R+25); 01-002 C3D1 upcoming (R+43 ± 3), TA1 upcoming (R+35..49);
    # nothing done is listed, and no other site's subject
    assert rows[0] == ("01-001", "C2D1", "overdue")
    assert {r[2] for r in rows[1:]} == {"upcoming"}
    assert ("01-002", "C3D1", "upcoming") in rows and ("01-001", "TA1", "upcoming") in rows
    assert all(r[0] != "02-001" for r in rows)
    with pytest.raises(PermissionDenied) as exc, td.uow(coord.username) as uow:
        treatment.site_calendar(uow, coord, NCT, OTHER, day(R, 30))
    assert exc.value.status_code == 403
    with td.uow(users[Role.MONITOR].username) as uow:
        assert len(treatment.site_calendar(uow, users[Role.MONITOR], NCT, "hunan-cancer-hospital", day(R, 30))) == len(
            rows
        )


def test_as_of_before_randomization_is_bad_input(setup):
    td, coord, _ = setup
    with pytest.raises(InvalidInput) as exc:
        _cal(td, coord, as_of_plus=-1)
    assert exc.value.problems[0].path == "as_of"


def test_ics_parsed_back_with_icalendar(setup):
    td, coord, _ = setup
    _dose(td, coord, "01-001", 1, 1)
    _dose(td, coord, "01-001", 2, 27)
    visits = _cal(td, coord, as_of_plus=30)
    cal = Calendar.from_ical(subject_calendar_ics("01-001", visits, generated_at=td.clock()))
    events = {str(e["summary"]).split()[1]: e for e in cal.walk("VEVENT")}
    assert len(events) == len(visits)
    assert events["C2D1"].decoded("dtstart").isoformat() == day(R, 27)  # done: on its actual date
    assert events["TA1"].decoded("dtstart").isoformat() == day(R, 42)
    with td.uow(coord.username) as uow:
        site_visits = treatment.site_calendar(uow, coord, NCT, "hunan-cancer-hospital", day(R, 30))
    site_cal = Calendar.from_ical(site_calendar_ics("hunan-cancer-hospital", site_visits, generated_at=td.clock()))
    assert len(site_cal.walk("VEVENT")) == len(site_visits) > 0
