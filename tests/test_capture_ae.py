"""Adverse events through the service on SQLite and PostgreSQL: CTCAE loading from NCI's workbook, coding,
grade validity, dates, seriousness, causality per drug, the SAE clock, edits with a reason, access.

References: NCI CTCAE v5.0 (27 Nov 2017) as published: 837 terms; 'Nausea' is MedDRA 10028813 with grades 1-3
only; 'Febrile neutropenia' 10016288 starts at grade 3; 'Death NOS' 10011914 is grade 5 only; 'Eosinophilia'
10014950 defines grades 1 and 3. The workbook is read independently here with openpyxl for the spot checks.
ICH E2A: an SAE is reported within 24 hours.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from access_helpers import NCT, OTHER, OWN
from capture_helpers import THP_RELATIONSHIP, WORKBOOK, Clock, add_subject, ctcae_terms, load_ctcae, principals
from trialdesk.domain.access import SYSTEM, Grant, Principal, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied, problems_from_pydantic
from trialdesk.services import adverse_events as ae
from trialdesk.services import ctcae
from trialdesk.services.commands import EditRecord, MarkSaeReported, RecordAdverseEvent


@pytest.fixture
def cap(td, shared_dir):
    td.clock = Clock()
    users = principals()
    load_ctcae(td, shared_dir)
    add_subject(td, "HUN-0001")
    return td, users


def _count(td, subject="HUN-0001"):
    with td.uow() as uow:
        return len(ae.list_adverse_events(uow, SYSTEM, NCT, subject))


def _values(**kw):
    return {"term": "Nausea", "grade": 2, "onset_date": "2026-01-20", "relationship": THP_RELATIONSHIP, **kw}


def _record(td, principal, **kw):
    values = _values(**kw)
    subject = values.pop("subject", "HUN-0001")
    with td.uow(principal.username) as uow:
        out = ae.record_adverse_event(uow, principal, NCT, subject, RecordAdverseEvent.model_validate(values))
        uow.commit()
    return out


def _edit(td, principal, ae_id, changes, reason):
    with td.uow() as uow:
        out = ae.update_adverse_event(
            uow, principal, NCT, "HUN-0001", ae_id, EditRecord(changes=changes, reason=reason)
        )
        uow.commit()
    return out


def _reported(td, principal, ae_id, **kw):
    with td.uow() as uow:
        out = ae.mark_sae_reported(uow, principal, NCT, "HUN-0001", ae_id, MarkSaeReported.model_validate(kw))
        uow.commit()
    return out


# --- CTCAE load ------------------------------------------------------------------------------------------------


def test_ctcae_load_all_terms_idempotent_and_audited(td, shared_dir):
    import openpyxl

    # bootstrap stored the dictionary shipped with the package, derived from this very workbook: nothing changes
    first = load_ctcae(td, shared_dir)
    assert first["count"] == 837 and (first["inserted"], first["updated"], first["removed"]) == (0, 0, 0)
    assert first["previous"]["source"].startswith("shipped ctcae-v5.0.json")
    second = load_ctcae(td, shared_dir)
    assert second == {**first, "previous": {**first["previous"], "source": "workbook CTCAE_v5.0_2017-11-27.xlsx"}}
    # spot checks against the workbook read independently (NCI marks undefined grades with '-')
    wb = openpyxl.load_workbook(shared_dir / WORKBOOK, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    header = [str(h or "").replace("\xa0", " ").strip() for h in rows[0]]
    col = {name: header.index(name) for name in ("MedDRA Code", "CTCAE Term", "Grade 1", "Grade 5")}
    by_term = {str(r[col["CTCAE Term"]]).strip(): r for r in rows[1:] if r[col["CTCAE Term"]]}
    with td.uow() as uow:
        dictionary = ctcae.dictionary(uow)
        for name, code, grades in [
            ("Nausea", 10028813, (1, 2, 3)),
            ("Febrile neutropenia", 10016288, (3, 4, 5)),
            ("Death NOS", 10011914, (5,)),
            ("Eosinophilia", 10014950, (1, 3)),
            ("Anemia", 10002272, (1, 2, 3, 4, 5)),
        ]:
            term = dictionary.get(name)
            assert term.meddra_code == code == int(by_term[name][col["MedDRA Code"]])
            assert term.defined_grades == grades
            assert (1 in grades) == (str(by_term[name][col["Grade 1"]]).strip() not in ("-", "None"))
            assert (5 in grades) == (str(by_term[name][col["Grade 5"]]).strip() not in ("-", "None"))
        assert dictionary.get("10028813").term == "Nausea"
        events = uow.audit.query(entity_type="ctcae")
    # newest first: the two loads of the workbook, then the first start's load of the shipped dictionary
    assert [(e.action, json.loads(e.after_json)["count"]) for e in events] == [("ctcae.loaded", 837)] * 3
    assert {json.loads(e.after_json)["sha256"] for e in events} == {first["sha256"]}


def test_ctcae_load_admin_only(td, shared_dir):
    users = principals()
    terms = list(ctcae_terms(str(shared_dir / WORKBOOK)))
    for role in (Role.INVESTIGATOR, Role.MONITOR, Role.SPONSOR):
        with pytest.raises(PermissionDenied), td.uow() as uow:
            ctcae.load_terms(uow, users[role], terms)
    with td.uow() as uow:
        result = ctcae.load_terms(uow, users[Role.ADMIN], terms)
        uow.commit()
    assert result["count"] == 837


def test_ae_without_a_stored_dictionary_is_a_clear_conflict(td):
    td.clock = Clock()
    users = principals()
    add_subject(td)
    with td.uow() as uow:  # a database whose terms were removed behind trialdesk's back
        uow.ctcae.remove("5.0", [r.meddra_code for r in uow.ctcae.all("5.0")])
        uow.commit()
    with pytest.raises(Conflict, match="ctcae load"):
        _record(td, users[Role.COORDINATOR])


# --- recording ---------------------------------------------------------------------------------------------------


def test_record_ae_codes_term_and_audits(cap):
    td, users = cap
    out = _record(
        td,
        users[Role.COORDINATOR],
        term="10028813",
        grade=3,
        resolution_date="2026-01-25",
        action_taken="dose_reduced",
        outcome="recovered",
    )
    assert (out["term"], out["meddra_code"], out["soc"]) == ("Nausea", 10028813, "Gastrointestinal disorders")
    assert out["relationship"] == THP_RELATIONSHIP and out["queries"] == [] and out["sae"] is None
    with td.uow() as uow:
        events = uow.audit.query(entity_type="adverse_event", entity_id=str(out["id"]))
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
    assert [e.action for e in events] == ["adverse_event.recorded"]
    assert events[0].actor == "coordinator1" and subject.data_version == 1


#: refused by the command model (RecordAdverseEvent) before the use case runs
MALFORMED = [
    ({"grade": 6}, "grade", "less than or equal to 5"),
    ({"onset_date": "2026-02-30"}, "onset_date", "date"),
    ({"seriousness": ["hospitalization"], "serious": True}, "seriousness.0", "Input should be"),
    ({"relationship": {**THP_RELATIONSHIP, "docetaxel": "maybe"}}, "relationship.docetaxel", "Input should be"),
]
#: refused by the use case (the dictionary, the subject's arm, consent, today, the edit checks)
BAD = [
    ({"term": "Nausia"}, "term", "did you mean 'Nausea'"),
    ({"term": "99999999"}, "term", "not a CTCAE v5.0 term"),
    ({"grade": 4}, "grade", "grade 4 is not defined for CTCAE term 'Nausea' (defined: 1, 2, 3)"),
    ({"term": "Death NOS", "grade": 3}, "grade", "(defined: 5)"),
    (
        {"onset_date": "2026-01-20", "resolution_date": "2026-01-19"},
        "resolution_date",
        "2026-01-19 is before the onset date 2026-01-20",
    ),
    ({"onset_date": "2025-12-19"}, "onset_date", "before the subject's informed consent (2025-12-20)"),
    ({"onset_date": "2026-03-03"}, "onset_date", "in the future (today is 2026-03-02)"),
    ({"serious": True}, "seriousness", "at least one ICH seriousness criterion"),
    ({"seriousness": ["hospitalisation"]}, "seriousness", "not marked serious"),
    ({"relationship": {"docetaxel": "possible", "trastuzumab": "possible"}}, "relationship.pertuzumab", "required"),
    (
        {"relationship": {**THP_RELATIONSHIP, "tqb2102": "possible"}},
        "relationship.tqb2102",
        "not a study drug of the subject's arm",
    ),
]


def test_bad_ae_is_refused_naming_the_field_and_nothing_is_stored(cap):
    td, users = cap
    for kw, field, words in MALFORMED:
        with pytest.raises(ValidationError) as refused:
            _record(td, users[Role.COORDINATOR], **kw)
        problems = problems_from_pydantic(refused.value)
        assert field in [p.path for p in problems], (kw, problems)
        assert words in str(refused.value), (kw, str(refused.value))
    for kw, field, words in BAD:
        with pytest.raises(InvalidInput) as info:
            _record(td, users[Role.COORDINATOR], **kw)
        assert field in [p.path for p in info.value.problems], (kw, info.value.message)
        assert words in info.value.message, (kw, info.value.message)
    assert _count(td) == 0
    with td.uow() as uow:
        assert uow.audit.query(entity_type="adverse_event") == []


def test_unrandomized_subject_has_no_study_drug(cap):
    td, users = cap
    add_subject(td, "HUN-0002", arm=None)
    with pytest.raises(InvalidInput, match="relationship.docetaxel: not a study drug"):
        _record(td, users[Role.COORDINATOR], subject="HUN-0002")
    out = _record(td, users[Role.COORDINATOR], subject="HUN-0002", relationship={})
    assert out["relationship"] == {}


def test_query_checks_save_and_open_queries(cap):
    td, users = cap
    out = _record(
        td,
        users[Role.INVESTIGATOR],
        term="Pneumonitis",
        grade=5,
        onset_date="2026-02-01",
        outcome="recovered",
        serious=True,
        seriousness=["death"],
    )
    assert len(out["queries"]) == 2  # grade 5 not fatal; recovered without a resolution date
    from trialdesk.services.queries import list_queries

    with td.uow() as uow:
        found = list_queries(uow, users[Role.MONITOR], NCT, subject_number="HUN-0001")
    assert {(q["check_id"], q["field"], q["entity_id"], q["status"]) for q in found} == {
        ("AE-FATAL-OUTCOME", "outcome", str(out["id"]), "open"),
        ("AE-RESOLVED-NO-DATE", "resolution_date", str(out["id"]), "open"),
    }


# --- SAE clock ---------------------------------------------------------------------------------------------------


def test_sae_clock_due_overdue_reported(cap):
    td, users = cap
    out = _record(
        td,
        users[Role.COORDINATOR],
        term="Febrile neutropenia",
        grade=3,
        onset_date="2026-03-01",
        serious=True,
        seriousness=["hospitalisation"],
    )
    # entered at NOW (2026-03-02 02:00 UTC): due 24 h later
    assert out["sae"]["due_by"] == "2026-03-03T02:00:00+00:00"
    assert out["sae"]["status"] == "due" and out["sae"]["hours_left"] == 24.0
    td.clock.advance(hours=24)
    with td.uow() as uow:
        [row] = ae.serious_events(uow, users[Role.MONITOR], NCT, OWN)
    assert row["sae"]["status"] == "due"  # exactly at the due time: not yet late
    td.clock.advance(seconds=1)
    with td.uow() as uow:
        [row] = ae.serious_events(uow, users[Role.MONITOR], NCT, OWN)
    assert row["sae"]["status"] == "overdue"
    done = _reported(td, users[Role.COORDINATOR], out["id"])
    assert done["sae"]["status"] == "reported_late" and done["sae"]["reported_at"] == "2026-03-03T02:00:01+00:00"
    with pytest.raises(Conflict, match="already marked"):
        _reported(td, users[Role.COORDINATOR], out["id"])


def test_sae_clock_starts_when_an_edit_makes_the_event_serious(cap):
    td, users = cap
    out = _record(td, users[Role.COORDINATOR])
    with pytest.raises(Conflict, match="not serious"):
        _reported(td, users[Role.COORDINATOR], out["id"])
    td.clock.advance(hours=5)
    edited = _edit(
        td,
        users[Role.COORDINATOR],
        out["id"],
        {"serious": True, "seriousness": ["hospitalisation"], "grade": 3},
        reason="admitted overnight",
    )
    assert edited["sae"]["started_at"] == "2026-03-02T07:00:00+00:00"
    assert edited["sae"]["due_by"] == "2026-03-03T07:00:00+00:00"
    done = _reported(td, users[Role.COORDINATOR], out["id"], reported_at="2026-03-02T09:00:00+08:00")
    assert done["sae"]["status"] == "reported" and done["sae"]["reported_at"] == "2026-03-02T01:00:00+00:00"


# --- edits -------------------------------------------------------------------------------------------------------


def test_edit_needs_reason_and_audits_old_and_new(cap):
    td, users = cap
    out = _record(td, users[Role.COORDINATOR])
    with pytest.raises(InvalidInput, match="reason"):
        _edit(td, users[Role.COORDINATOR], out["id"], {"grade": 3}, " ")
    with pytest.raises(InvalidInput, match="grade 4 is not defined"):
        _edit(td, users[Role.COORDINATOR], out["id"], {"grade": 4}, "typo")
    with pytest.raises(InvalidInput, match="entered_by"):
        _edit(td, users[Role.COORDINATOR], out["id"], {"entered_by": "x"}, "typo")
    edited = _edit(
        td,
        users[Role.INVESTIGATOR],
        out["id"],
        {"grade": 3, "resolution_date": "2026-01-30", "outcome": "recovered"},
        "source document says grade 3",
    )
    assert edited["grade"] == 3 and edited["changed"]["grade"] == {"old": 2, "new": 3}
    with td.uow() as uow:
        [event] = uow.audit.query(entity_type="adverse_event", action_prefix="adverse_event.updated")
    # the subject is named in both states (found by the audit trail's subject filter; not a change)
    assert json.loads(event.before_json) == {
        "subject_number": "HUN-0001",
        "grade": 2,
        "resolution_date": None,
        "outcome": None,
    }
    assert json.loads(event.after_json) == {
        "subject_number": "HUN-0001",
        "grade": 3,
        "resolution_date": "2026-01-30",
        "outcome": "recovered",
    }
    assert (event.actor, event.reason) == ("investigator1", "source document says grade 3")


# --- access ------------------------------------------------------------------------------------------------------


def test_access_other_site_404_monitor_403(cap):
    td, users = cap
    other_coordinator = Principal("coord-anhui", (Grant(Role.COORDINATOR, frozenset({OTHER})),))
    with pytest.raises((NotFound, PermissionDenied)) as info:
        _record(td, other_coordinator)
    assert info.value.status_code == 404 and info.value.to_dict()["error"] == "NotFound"
    with pytest.raises(PermissionDenied) as info:
        _record(td, users[Role.MONITOR])
    assert info.value.status_code == 403
    for role in (Role.SPONSOR, Role.STATISTICIAN, Role.ADMIN):
        with pytest.raises((NotFound, PermissionDenied)) as info:
            _record(td, users[role])
        assert info.value.status_code == 404
    assert _count(td) == 0
    with td.uow() as uow:
        denials = uow.audit.query(action_prefix="access.denied")
    assert len(denials) >= 5
