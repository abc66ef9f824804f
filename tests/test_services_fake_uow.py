"""Service use cases on the in-memory unit of work (``tests/fakes.py``): rules and audit events, no database.

The database tests (both backends) prove persistence; these prove what a use case decides, quickly. The last
tests check that the fake (and the SQL unit of work) really are :class:`UnitOfWork`\\ s, structurally (mypy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeDatabase, FakeUnitOfWork
from trialdesk.domain.access import Denial, Grant, Principal, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.services import queries, sites
from trialdesk.services.commands import ChangeSiteStatus, QueryStep, RaiseQuery
from trialdesk.services.unit_of_work import UnitOfWork

NCT = "NCT00000001"
ROOT = Path(__file__).resolve().parents[1]

ADMIN = Principal("ada", (Grant(Role.ADMIN),))
MONITOR = Principal("mo", (Grant(Role.MONITOR, frozenset({"HUN"})),))
COORDINATOR = Principal("cora", (Grant(Role.COORDINATOR, frozenset({"HUN"})),))
OTHER_SITE = Principal("otto", (Grant(Role.COORDINATOR, frozenset({"PEK"})),))


@pytest.fixture
def db() -> FakeDatabase:
    db = FakeDatabase()
    trial = db.trials.insert(
        nct_id=NCT,
        brief_title="A trial",
        overall_status="RECRUITING",
        source="protocol",
        protocol_json="{}",
        created_at="2026-01-01T00:00:00+00:00",
        updated_at="2026-01-01T00:00:00+00:00",
    )
    assert trial.id is not None
    for position, key in enumerate(("HUN", "PEK")):
        db.sites.insert(trial_id=trial.id, site_key=key, position=position, status=None)
    db.subjects.insert(
        trial_id=trial.id,
        site_key="HUN",
        subject_number="HUN-0001",
        patient_ref="p1",
        created_at="2026-01-02T00:00:00+00:00",
    )
    return db


# -- site activation ----------------------------------------------------------------------------------------------
def test_site_activation_walks_the_allowed_transitions_and_audits_each(db):
    for status in ("RECRUITING", "SUSPENDED", "RECRUITING", "CLOSED"):
        with FakeUnitOfWork(db, actor="ada") as uow:
            assert (
                sites.change_site_status(uow, ADMIN, NCT, "HUN", ChangeSiteStatus(status=status, reason="as planned"))[
                    "status"
                ]
                == status
            )
            uow.commit()
    assert db.sites.where(lambda s: s.site_key == "HUN")[0].status == "CLOSED"
    changes = [(e.before["status"], e.after["status"]) for e in db.events if e.action == "site.status_changed"]
    assert changes == [
        (None, "RECRUITING"),
        ("RECRUITING", "SUSPENDED"),
        ("SUSPENDED", "RECRUITING"),
        ("RECRUITING", "CLOSED"),
    ]
    assert all(e.actor == "ada" and e.site == "HUN" and e.trial == NCT and e.reason == "as planned" for e in db.events)


def test_site_activation_refuses_what_the_rules_forbid_and_changes_nothing(db):
    with FakeUnitOfWork(db) as uow, pytest.raises(Conflict, match="cannot go from NOT_YET_RECRUITING to SUSPENDED"):
        sites.change_site_status(uow, ADMIN, NCT, "HUN", ChangeSiteStatus(status="SUSPENDED", reason="why not"))
    with FakeUnitOfWork(db) as uow, pytest.raises(InvalidInput, match="reason is required"):
        sites.change_site_status(uow, ADMIN, NCT, "HUN", ChangeSiteStatus(status="RECRUITING", reason="  "))
    with pytest.raises(Denial), FakeUnitOfWork(db) as uow:
        sites.change_site_status(uow, COORDINATOR, NCT, "HUN", ChangeSiteStatus(status="RECRUITING", reason="eager"))
    with FakeUnitOfWork(db) as uow, pytest.raises(NotFound):
        sites.change_site_status(uow, ADMIN, NCT, "XXX", ChangeSiteStatus(status="RECRUITING", reason="no such site"))
    assert db.sites.where(lambda s: s.site_key == "HUN")[0].status is None
    assert db.events == []
    assert [d.principal.username for d in db.denials] == ["cora"]


def test_leaving_without_commit_rolls_back_records_and_events(db):
    with FakeUnitOfWork(db) as uow:
        sites.change_site_status(uow, ADMIN, NCT, "HUN", ChangeSiteStatus(status="RECRUITING", reason="go"))
        assert len(uow.recorded()) == 1
    assert db.sites.where(lambda s: s.site_key == "HUN")[0].status is None
    assert db.events == []


def test_sites_a_coordinator_sees_are_their_own(db):
    with FakeUnitOfWork(db) as uow:
        assert [s["site"] for s in sites.list_sites(uow, OTHER_SITE, NCT)] == ["PEK"]
        assert [s["site"] for s in sites.list_sites(uow, ADMIN, NCT)] == ["HUN", "PEK"]


# -- data queries -------------------------------------------------------------------------------------------------
def test_query_life_cycle_open_answer_close_reopen(db):
    with FakeUnitOfWork(db, actor="mo") as uow:
        raised = queries.raise_query(
            uow,
            MONITOR,
            NCT,
            "HUN-0001",
            RaiseQuery(entity_type="subject", entity_id="1", field="birth_date", message=" Please check the year "),
        )
        uow.commit()
    assert (raised["status"], raised["message"], raised["origin"]) == ("open", "Please check the year", "manual")
    qid = raised["id"]

    with FakeUnitOfWork(db, actor="cora") as uow:
        with pytest.raises(Conflict, match="already open"):
            queries.reopen_query(uow, MONITOR, NCT, qid, QueryStep(text="too early"))
        answered = queries.answer_query(uow, COORDINATOR, NCT, qid, QueryStep(text="1961 is right"))
        assert answered["status"] == "answered"
        uow.commit()
    with FakeUnitOfWork(db) as uow:
        with pytest.raises(Conflict, match="only an open query can be answered"):
            queries.answer_query(uow, COORDINATOR, NCT, qid, QueryStep(text="again"))
        assert queries.close_query(uow, MONITOR, NCT, qid, QueryStep())["status"] == "closed"
        uow.commit()
    with FakeUnitOfWork(db) as uow:
        with pytest.raises(Conflict, match="already closed"):
            queries.close_query(uow, MONITOR, NCT, qid, QueryStep(text="twice"))
        with pytest.raises(InvalidInput):
            queries.reopen_query(uow, MONITOR, NCT, qid, QueryStep(text=" "))
        final = queries.reopen_query(uow, MONITOR, NCT, qid, QueryStep(text="source document disagrees"))
        uow.commit()

    assert [(h["action"], h["status"], h["by"]) for h in final["history"]] == [
        ("opened", "open", "mo"),
        ("answered", "answered", "cora"),
        ("closed", "closed", "mo"),
        ("reopened", "open", "mo"),
    ]
    assert [e.action for e in db.events] == ["query.opened", "query.answered", "query.closed", "query.reopened"]


def test_closing_an_unanswered_query_needs_a_note(db):
    with FakeUnitOfWork(db) as uow:
        qid = queries.raise_query(
            uow,
            MONITOR,
            NCT,
            "HUN-0001",
            RaiseQuery(entity_type="subject", entity_id="1", field="sex", message="missing"),
        )["id"]
        with pytest.raises(InvalidInput, match="needs a note"):
            queries.close_query(uow, MONITOR, NCT, qid, QueryStep())
        assert queries.close_query(uow, MONITOR, NCT, qid, QueryStep(text="withdrawn"))["status"] == "closed"


def test_an_edit_check_does_not_pile_up_duplicate_queries(db):
    subject = db.subjects.all()[0]
    with FakeUnitOfWork(db) as uow:
        first = queries.open_query(uow, subject, "subject", 1, "height_cm", "implausible", check_id="H1")
        again = queries.open_query(uow, subject, "subject", 1, "height_cm", "implausible", check_id="H1")
        other = queries.open_query(uow, subject, "subject", 1, "height_cm", "implausible", check_id="H2")
        uow.commit()
    assert again is first and other is not first
    assert [e.action for e in db.events] == ["query.opened", "query.opened"]


def test_queries_at_other_sites_look_absent(db):
    with FakeUnitOfWork(db) as uow:
        qid = queries.raise_query(
            uow,
            MONITOR,
            NCT,
            "HUN-0001",
            RaiseQuery(entity_type="subject", entity_id="1", field="sex", message="missing"),
        )["id"]
        uow.commit()
    with pytest.raises(Denial) as refused, FakeUnitOfWork(db) as uow:
        queries.answer_query(uow, OTHER_SITE, NCT, qid, QueryStep(text="not mine"))
    # answered exactly like a query that does not exist (and kept for the audit trail)
    assert refused.value.hide and refused.value.not_found == f"no query {qid} in {NCT}"
    assert db.denials == [refused.value]
    with FakeUnitOfWork(db) as uow:
        assert queries.list_queries(uow, OTHER_SITE, NCT) == []
        assert [q["id"] for q in queries.list_queries(uow, COORDINATOR, NCT, status="open")] == [qid]


# -- the allocation rule, as the fake implements it -----------------------------------------------------------------
def test_fake_allocations_follow_the_in_error_rule(db):
    subject = db.subjects.all()[0]
    assert subject.id is not None
    db.allocations.insert(
        trial_id=1,
        subject_id=subject.id,
        site_key="HUN",
        stratum="",
        randomization_number="R-1",
        arm="A",
        randomized_on="2026-01-05",
        allocated_at="x",
        allocated_by="cora",
        in_error=True,
    )
    uow = FakeUnitOfWork(db)
    assert uow.allocations.for_subject(subject.id) is None
    assert uow.allocations.for_subject(subject.id, include_in_error=True) is not None
    assert uow.allocations.count(1) == 0 and uow.allocations.count(1, include_in_error=True) == 1


# -- structural conformance ---------------------------------------------------------------------------------------
def test_fake_and_sql_units_of_work_are_units_of_work_for_mypy():
    """``_conforms`` in tests/fakes.py and adapters/db/uow.py return their unit of work as a ``UnitOfWork``:
    mypy fails if a repository or method is missing or typed differently from the protocols."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "tests/fakes.py",
            "tests/fake_repositories.py",
            "src/trialdesk/adapters/db/uow.py",
        ],
        cwd=ROOT,
        env={"MYPYPATH": "src:tests", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_fake_has_every_member_the_protocol_declares():
    declared = set(UnitOfWork.__annotations__) | {
        name for name, value in vars(UnitOfWork).items() if callable(value) or isinstance(value, property)
    }
    declared -= {
        "__init__",
        "__subclasshook__",
        "__init_subclass__",
        "__class_getitem__",
        "_is_protocol",
        "__protocol_attrs__",
        "_is_runtime_protocol",
        "__non_callable_proto_members__",
    }
    uow = FakeUnitOfWork()
    assert sorted(name for name in declared if not hasattr(uow, name)) == []
