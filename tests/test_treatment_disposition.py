"""Disposition: end of treatment, end of study, death, new anticancer therapy (both databases)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from access_helpers import NCT
from test_treatment_helpers import Clock, day, principals, randomized_subject
from trialdesk.domain.access import Role
from trialdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from trialdesk.services import treatment
from trialdesk.services.commands import RecordDisposition, RecordDose

R = "2025-02-03"


@pytest.fixture
def setup(td):
    td.clock = Clock(day(R, 120))
    users = principals()
    randomized_subject(td, "01-001", arm="tqb2102", randomized_on=R)
    coord = users[Role.COORDINATOR]
    with td.uow(coord.username) as uow:
        treatment.record_dose(
            uow,
            coord,
            NCT,
            "01-001",
            RecordDose(drug="tqb2102", cycle=1, dose_date=day(R, 1), actual_mg=360, weight_kg=60),
        )
        treatment.record_dose(
            uow,
            coord,
            NCT,
            "01-001",
            RecordDose(drug="tqb2102", cycle=2, dose_date=day(R, 22), actual_mg=360, weight_kg=60),
        )
        uow.commit()
    return td, coord, users


def _dispose(td, who, kind, plus, reason=None, details=None, number="01-001"):
    with td.uow(who.username) as uow:
        out = treatment.record_disposition(
            uow, who, NCT, number, RecordDisposition(kind=kind, event_date=day(R, plus), reason=reason, details=details)
        )
        uow.commit()
    return out


def _status(td, number="01-001"):
    with td.uow() as uow:
        return uow.subjects.get(uow.trials.get(NCT).id, number).status


def _count(td):
    with td.uow() as uow:
        return len(uow.dispositions.for_subject(uow.subjects.get(uow.trials.get(NCT).id, "01-001").id))


def test_statuses_move_forward(setup):
    td, coord, _ = setup
    assert _status(td) == "on_treatment"
    _dispose(td, coord, "new_therapy", 50, "capecitabine + lapatinib")
    assert _status(td) == "on_treatment"  # new therapy changes no status
    out = _dispose(td, coord, "end_of_treatment", 45, "progressive disease", {"eot_visit_date": day(R, 60)})
    assert out["subject_status"] == "off_treatment" and out["details"] == {"eot_visit_date": day(R, 60)}
    _dispose(td, coord, "death", 90, "disease progression")
    assert _status(td) == "dead"
    _dispose(td, coord, "end_of_study", 90, "death")
    assert _status(td) == "dead"  # never back
    with td.uow(coord.username) as uow:
        kinds = [d["kind"] for d in treatment.list_dispositions(uow, coord, NCT, "01-001")]
    assert sorted(kinds) == ["death", "end_of_study", "end_of_treatment", "new_therapy"]
    with td.uow() as uow:
        events = [e for e in uow.audit.events() if e.action == "subject.status_changed"]
    assert [(json.loads(e.before)["status"], json.loads(e.after)["status"]) for e in events] == [
        ("randomized", "on_treatment"),
        ("on_treatment", "off_treatment"),
        ("off_treatment", "dead"),
    ]
    # the EOT visit took place on its recorded date
    with td.uow(coord.username) as uow:
        eot = next(v for v in treatment.subject_calendar(uow, coord, NCT, "01-001", day(R, 100)) if v.label == "EOT")
    assert eot.actual.isoformat() == day(R, 60) and eot.status.value == "done"


@pytest.mark.parametrize(
    "kind, plus, reason, field, words",
    [
        ("end_of_treatment", -1, "adverse event", "event_date", "before randomization"),
        ("end_of_treatment", 121, "adverse event", "event_date", "in the future"),
        ("end_of_treatment", 10, "adverse event", "event_date", "before the last dose"),
        ("death", 60, None, "reason", "cause of death"),
        ("new_therapy", 60, " ", "reason", "new anticancer therapy"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(setup, kind, plus, reason, field, words):
    td, coord, _ = setup
    with pytest.raises(InvalidInput) as exc:
        _dispose(td, coord, kind, plus, reason)
    assert exc.value.problems[0].path == field and words in exc.value.message
    assert _count(td) == 0 and _status(td) == "on_treatment"


def test_unknown_kind_refused_by_the_command_and_stores_nothing(setup):
    """A kind that is none of the four never reaches the use case: the command names the field."""
    td, coord, _ = setup
    with pytest.raises(ValidationError) as exc:
        _dispose(td, coord, "progression", 60, "x")
    assert [e["loc"] for e in exc.value.errors()] == [("kind",)]
    assert "'end_of_treatment', 'end_of_study', 'death' or 'new_therapy'" in str(exc.value)
    assert _count(td) == 0 and _status(td) == "on_treatment"


def test_once_only_and_order(setup):
    td, coord, _ = setup
    _dispose(td, coord, "end_of_study", 60, "withdrawal by subject")
    with pytest.raises(Conflict):
        _dispose(td, coord, "end_of_study", 61, "withdrawal by subject")
    with pytest.raises(InvalidInput) as exc:
        _dispose(td, coord, "end_of_treatment", 61, "withdrawal by subject")
    assert "after the end of study" in exc.value.message
    # no dose after the end of study
    with pytest.raises(InvalidInput) as exc, td.uow(coord.username) as uow:
        treatment.record_dose(
            uow,
            coord,
            NCT,
            "01-001",
            RecordDose(drug="tqb2102", cycle=3, dose_date=day(R, 63), actual_mg=360, weight_kg=60),
        )
    assert exc.value.problems[0].path == "dose_date"


def test_monitor_cannot_record_disposition(setup):
    td, _, users = setup
    with pytest.raises(PermissionDenied) as exc:
        _dispose(td, users[Role.MONITOR], "death", 60, "x")
    assert exc.value.status_code == 404 and _count(td) == 0
