"""Query life cycle (open -> answered -> closed -> re-opened -> answered -> closed), roles and sites enforced,
history kept, every step audited; site-scoped lists (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from access_helpers import NCT, OTHER, OWN
from capture_helpers import Clock, add_subject, principals
from trialdesk.domain.access import SYSTEM, Grant, Principal, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from trialdesk.services import queries as q
from trialdesk.services.commands import QueryStep, RaiseQuery


@pytest.fixture
def cap(td):
    td.clock = Clock()
    add_subject(td, "HUN-0001")
    add_subject(td, "ANH-0001", site=OTHER)
    return td, principals()


def _do(td, fn, principal, *args, **kw):
    """Call a use case with its command: raise_query's fields as keywords (after the subject), a step's text
    (answer, note, reason) as the argument after the query id."""
    if fn is q.raise_query:
        command: RaiseQuery | QueryStep = RaiseQuery(**kw)
    else:
        command = QueryStep(text=args[1] if len(args) > 1 else None)
    with td.uow(principal.username) as uow:
        out = fn(uow, principal, NCT, args[0], command)
        uow.commit()
    return out


def test_life_cycle_roles_and_history(cap):
    td, users = cap
    monitor, coord, inv = users[Role.MONITOR], users[Role.COORDINATOR], users[Role.INVESTIGATOR]
    raised = _do(
        td,
        q.raise_query,
        monitor,
        "HUN-0001",
        entity_type="subject",
        entity_id="HUN-0001",
        field="birth_date",
        message="Birth date differs from the source document",
    )
    qid = raised["id"]
    assert (raised["status"], raised["origin"], raised["raised_by"]) == ("open", "manual", "monitor1")
    # site staff cannot raise or close; monitors cannot answer (403 at their own site)
    for fn, who, args in [
        (q.raise_query, coord, ("HUN-0001",)),
        (q.close_query, coord, (qid, "x")),
        (q.reopen_query, inv, (qid, "x")),
        (q.answer_query, monitor, (qid, "x")),
    ]:
        kwargs = (
            {"entity_type": "subject", "entity_id": "1", "field": "f", "message": "m"} if fn is q.raise_query else {}
        )
        with pytest.raises(PermissionDenied) as info:
            _do(td, fn, who, *args, **kwargs)
        assert info.value.status_code == 403
    with pytest.raises(Conflict, match="already open"):
        _do(td, q.reopen_query, monitor, qid, "again")
    with pytest.raises(InvalidInput, match="answer"):
        _do(td, q.answer_query, coord, qid, "  ")
    assert _do(td, q.answer_query, coord, qid, "Corrected to 1961-04-02")["status"] == "answered"
    with pytest.raises(Conflict, match="only an open query"):
        _do(td, q.answer_query, inv, qid, "again")
    assert _do(td, q.close_query, monitor, qid)["status"] == "closed"
    with pytest.raises(Conflict, match="already closed"):
        _do(td, q.close_query, monitor, qid)
    with pytest.raises(InvalidInput, match="reason"):
        _do(td, q.reopen_query, monitor, qid, "")
    assert _do(td, q.reopen_query, monitor, qid, "Source shows 1961-04-12")["status"] == "open"
    _do(td, q.answer_query, inv, qid, "Corrected again")
    final = _do(td, q.close_query, monitor, qid, "OK now")
    assert [(h["action"], h["status"], h["by"]) for h in final["history"]] == [
        ("opened", "open", "monitor1"),
        ("answered", "answered", "coordinator1"),
        ("closed", "closed", "monitor1"),
        ("reopened", "open", "monitor1"),
        ("answered", "answered", "investigator1"),
        ("closed", "closed", "monitor1"),
    ]
    assert final["history"][3]["text"] == "Source shows 1961-04-12"
    with td.uow() as uow:
        actions = [e.action for e in reversed(uow.audit.query(entity_type="query", entity_id=str(qid)))]
    assert actions == [
        "query.opened",
        "query.answered",
        "query.closed",
        "query.reopened",
        "query.answered",
        "query.closed",
    ]


def test_closing_an_unanswered_query_needs_a_note(cap):
    td, users = cap
    raised = _do(
        td,
        q.raise_query,
        users[Role.MONITOR],
        "HUN-0001",
        entity_type="subject",
        entity_id="1",
        field="sex",
        message="check",
    )
    with pytest.raises(InvalidInput, match="note"):
        _do(td, q.close_query, users[Role.MONITOR], raised["id"])
    assert _do(td, q.close_query, users[Role.MONITOR], raised["id"], "raised in error")["status"] == "closed"


def test_other_site_is_not_found_and_lists_are_site_scoped(cap):
    td, users = cap
    monitor = users[Role.MONITOR]
    other_monitor = Principal("mon-anhui", (Grant(Role.MONITOR, frozenset({OTHER})),))
    mine = _do(
        td, q.raise_query, monitor, "HUN-0001", entity_type="subject", entity_id="1", field="sex", message="check"
    )
    theirs = _do(
        td, q.raise_query, other_monitor, "ANH-0001", entity_type="subject", entity_id="1", field="sex", message="check"
    )
    with pytest.raises((NotFound, PermissionDenied)) as info:
        _do(td, q.raise_query, monitor, "ANH-0001", entity_type="subject", entity_id="1", field="f", message="m")
    assert info.value.status_code == 404
    with pytest.raises((NotFound, PermissionDenied)) as info:
        _do(td, q.close_query, other_monitor, mine["id"], "x")
    assert info.value.status_code == 404
    with pytest.raises((NotFound, PermissionDenied)) as info:
        _do(td, q.answer_query, users[Role.COORDINATOR], theirs["id"], "x")
    assert info.value.status_code == 404
    with td.uow() as uow:
        assert [x["id"] for x in q.list_queries(uow, monitor, NCT)] == [mine["id"]]
        assert [x["id"] for x in q.list_queries(uow, other_monitor, NCT)] == [theirs["id"]]
        assert {x["id"] for x in q.list_queries(uow, SYSTEM, NCT)} == {mine["id"], theirs["id"]}
        assert [x["id"] for x in q.list_queries(uow, SYSTEM, NCT, site=OWN, status="open")] == [mine["id"]]
        assert q.list_queries(uow, SYSTEM, NCT, status="closed") == []
        assert q.list_queries(uow, users[Role.SPONSOR], NCT) == []
        with pytest.raises(InvalidInput, match="status"):
            q.list_queries(uow, monitor, NCT, status="pending")
        with pytest.raises(PermissionDenied):
            q.list_queries(uow, monitor, NCT, site=OTHER)


def test_edit_check_query_is_not_duplicated(cap):
    td, _ = cap
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        a = q.open_query(uow, subject, "adverse_event", 7, "outcome", "check", check_id="AE-FATAL-OUTCOME")
        b = q.open_query(uow, subject, "adverse_event", 7, "outcome", "check", check_id="AE-FATAL-OUTCOME")
        c = q.open_query(uow, subject, "adverse_event", 8, "outcome", "check", check_id="AE-FATAL-OUTCOME")
        uow.commit()
    assert a.id == b.id != c.id
