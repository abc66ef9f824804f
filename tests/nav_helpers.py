"""A small known trial state for the navigation, site home and query list tests (SQLite and PostgreSQL).

At NOW (2026-03-02 02:00 UTC, capture_helpers), with the protocol's schedule (protocols/NCT07003074.yaml,
operations.schedule: C1D1 within 3 days of randomization, tumour assessments every 42 days ±7 days):

- HUN-0001, randomized 2026-03-01, no dose: C1D1's window 2026-03-01..2026-03-04 is open today (due today).
- HUN-0002, randomized 2026-01-05, no dose: C1D1 (window closed 2026-01-08) and TA1 (planned 2026-02-16, window
  closed 2026-02-23) are overdue. A serious AE entered at NOW: its report is due within 24 h (ICH E2A).
- HUN-0003: screened, not randomized (no casebook to sign).
- ANH-0001 at Anhui (the other site), randomized 2026-01-05.
- Manual queries: HUN-0001 (raised 2026-02-10, answered by the coordinator), HUN-0002 (raised 2026-03-01, open),
  ANH-0001 (raised 2026-02-20, open). Hunan: 1 open, 1 answered; Anhui: 1 open.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from access_helpers import NCT, OTHER, PASSWORD, make_users
from capture_helpers import NOW, THP_RELATIONSHIP, Clock, add_subject, load_ctcae
from trialdesk.domain.access import SYSTEM
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import adverse_events, queries
from trialdesk.services.commands import QueryStep, RaiseQuery, RecordAdverseEvent


def _raise(td, subject: str, message: str, when: dt.datetime) -> int:
    td.clock = Clock(when)
    with td.uow("setup") as uow:
        out = queries.raise_query(
            uow,
            SYSTEM,
            NCT,
            subject,
            RaiseQuery(entity_type="subject", entity_id=subject, field="sex", message=message),
        )
        uow.commit()
    return int(out["id"])


def known_state(td, shared_dir) -> dict[str, int]:
    users = make_users(td)
    load_ctcae(td, shared_dir)
    add_subject(td, "HUN-0001", randomized=dt.date(2026, 3, 1))
    add_subject(td, "HUN-0002", randomized=dt.date(2026, 1, 5))
    add_subject(td, "HUN-0003", arm=None)
    add_subject(td, "ANH-0001", site=OTHER, randomized=dt.date(2026, 1, 5))
    ids = {
        "answered": _raise(td, "HUN-0001", "Please confirm the sex", dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC)),
        "other": _raise(td, "ANH-0001", "=Please confirm", dt.datetime(2026, 2, 20, 9, tzinfo=dt.UTC)),
    }
    td.clock = Clock(dt.datetime(2026, 2, 12, 9, tzinfo=dt.UTC))
    from trialdesk.domain.access import Role

    with td.uow("coordinator1") as uow:
        queries.answer_query(uow, users[Role.COORDINATOR], NCT, ids["answered"], QueryStep(text="confirmed female"))
        uow.commit()
    ids["open"] = _raise(td, "HUN-0002", "Please check the date", dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC))
    td.clock = Clock(NOW)
    with td.uow("coordinator1") as uow:
        ae = RecordAdverseEvent.model_validate(
            {
                "term": "Febrile neutropenia",
                "grade": 3,
                "onset_date": "2026-03-01",
                "relationship": THP_RELATIONSHIP,
                "serious": True,
                "seriousness": ["hospitalisation"],
            }
        )
        adverse_events.record_adverse_event(uow, users[Role.COORDINATOR], NCT, "HUN-0002", ae)
        uow.commit()
    return ids


def client_for(td, username: str) -> TestClient:
    """A browser-like client signed in as ``username`` (the first password change done)."""
    client = TestClient(create_app(td_app=td))
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    if r.headers["location"].startswith("/account/password"):
        page = client.get("/account/password")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/account/password",
            data={"current": PASSWORD, "new": PASSWORD + "!", "confirm": PASSWORD + "!", "csrf_token": csrf},
        )
    return client


def nav_links(html: str) -> dict[str, str]:
    """The main navigation's links: {key: href}."""
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    return {key: href.replace("&amp;", "&") for href, key in re.findall(r'<a href="([^"]+)" data-nav="([^"]+)"', nav)}
