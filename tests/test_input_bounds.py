"""Length bounds and record binding (issue 14, item 4), on SQLite and PostgreSQL: a value longer than its column's
declared ``String(n)`` is refused before the database (PostgreSQL used to answer 500, SQLite stored 10,000
characters), free text is bounded, and a query on one subject cannot point at another subject's record. Each is a
4xx naming the field, with nothing written."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access_helpers import NCT, PASSWORD, make_users, token_for
from test_treatment_helpers import Clock, day, randomized_subject
from trialdesk.adapters.db.tables import api_tokens, audit_events, queries, users
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import accounts
from trialdesk.services.commands import MAX_TEXT

R = "2025-03-03"
BASE = f"/api/v1/trials/{NCT}"


@pytest.fixture
def web(td):
    td.clock = Clock(day(R, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    randomized_subject(td, "01-002", arm="thp", randomized_on=R)
    client = TestClient(create_app(td_app=td))
    tokens = {role: {"Authorization": f"Bearer {token_for(td, f'{role.value}1')}"} for role in Role}
    return td, client, tokens


def _count(td, table):
    with td.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(table)).scalar_one()


def _fields(r, status=422):
    assert r.status_code == status, (r.status_code, r.text)
    return [p["field"] for p in r.json()["problems"]]


def _raise(client, h, subject, **body):
    payload = {"entity_type": "subject", "entity_id": subject, "field": "sex", "message": "please check", **body}
    return client.post(f"{BASE}/subjects/{subject}/queries", json=payload, headers=h[Role.MONITOR])


def test_a_value_longer_than_its_column_is_refused_on_both_databases(web):
    td, client, h = web
    n_queries, n_audit = _count(td, queries), _count(td, audit_events)
    # queries.field is String(80) in the schema: 81 characters are refused, naming the column
    assert _fields(_raise(client, h, "01-001", field="f" * 81)) == ["field"]
    assert (_count(td, queries), _count(td, audit_events)) == (n_queries, n_audit)
    assert _raise(client, h, "01-001", field="f" * 80).status_code == 201  # the declared length itself is fine
    stored = client.get(f"{BASE}/queries", headers=h[Role.MONITOR]).json()
    assert [len(q["field"]) for q in stored] == [80]  # stored whole, not truncated


def test_service_level_lengths_name_the_column(td):
    make_users(td)
    before = (_count(td, api_tokens), _count(td, audit_events))
    with pytest.raises(InvalidInput) as refused, td.uow("setup") as uow:
        accounts.create_token(uow, SYSTEM, "admin1", name="n" * 121)  # api_tokens.name is String(120)
        uow.commit()
    assert [p.path for p in refused.value.problems] == ["name"]
    assert "at most 120 characters" in refused.value.message
    assert (_count(td, api_tokens), _count(td, audit_events)) == before
    with pytest.raises(InvalidInput) as refused, td.uow("setup") as uow:
        accounts.add_user(uow, SYSTEM, "longname", [("monitor", None)], display_name="d" * 201, password=PASSWORD)
        uow.commit()
    assert [p.path for p in refused.value.problems] == ["display_name"]
    with td.uow() as uow:
        assert uow.users.get("longname") is None
    assert _count(td, users) == len(Role)


def test_free_text_is_bounded(web):
    td, client, h = web
    n_queries, n_audit = _count(td, queries), _count(td, audit_events)
    assert _fields(_raise(client, h, "01-001", message="m" * 1_000_000)) == ["message"]
    assert _fields(_raise(client, h, "01-001", message="m" * (MAX_TEXT + 1))) == ["message"]
    assert (_count(td, queries), _count(td, audit_events)) == (n_queries, n_audit)
    assert _raise(client, h, "01-001", message="m" * MAX_TEXT).status_code == 201


def test_a_query_points_at_its_own_subjects_records_only(web):
    td, client, h = web
    coord = h[Role.COORDINATOR]
    dose = {"drug": "docetaxel", "cycle": 1, "dose_date": R, "actual_mg": 122.5, "weight_kg": 60}
    recorded = client.post(f"{BASE}/subjects/01-002/doses", json=dose, headers=coord)
    assert recorded.status_code == 201, recorded.text
    other_dose = recorded.json()["id"]
    n_queries, n_audit = _count(td, queries), _count(td, audit_events)
    for entity_type, entity_id in [
        ("dose", str(other_dose)),  # 01-002's dose, raised on 01-001
        ("dose", "999999"),  # no such dose
        ("adverse_event", "1"),
        ("tumor_assessment", "1"),
        ("disposition", "1"),
        ("dose", "not a number"),
        ("dose", str(2**70)),
    ]:
        r = _raise(client, h, "01-001", entity_type=entity_type, entity_id=entity_id, field="actual_mg")
        assert _fields(r) == ["entity_id"], (entity_type, entity_id)
    assert (_count(td, queries), _count(td, audit_events)) == (n_queries, n_audit)
    own = _raise(client, h, "01-002", entity_type="dose", entity_id=str(other_dose), field="actual_mg")
    assert own.status_code == 201 and own.json()["entity_id"] == str(other_dose)


def test_the_query_form_shows_the_length_beside_the_field(web):
    td, client, h = web
    n_queries, n_audit = _count(td, queries), _count(td, audit_events)
    form = {"entity_type": "subject", "entity_id": "", "field": "f" * 81, "message": "please check"}
    r = client.post("/ops/subjects/01-001/queries", data=form, headers=h[Role.MONITOR], follow_redirects=False)
    assert r.status_code == 422, r.text[:300]
    beside = re.search(r'<p class="field-error" id="err-field">([^<]*)</p>', r.text)
    assert beside and "at most 80 characters" in beside.group(1)
    assert (_count(td, queries), _count(td, audit_events)) == (n_queries, n_audit)
