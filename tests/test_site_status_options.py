"""Issue 15: the site page offers every status the site may move to, labelled, and nothing else.

Reference (hand-listed from the site lifecycle of docs/architecture.md and CT.gov's facility recruitment statuses):
RECRUITING -> SUSPENDED, ACTIVE_NOT_RECRUITING, CLOSED; NOT_YET_RECRUITING -> RECRUITING, CLOSED;
ACTIVE_NOT_RECRUITING -> CLOSED; CLOSED -> none. NCT07003074's record: Hunan Cancer Hospital RECRUITING,
Anhui Provincial Hospital NOT_YET_RECRUITING.
"""

from __future__ import annotations

import re

import pytest

from access_helpers import OTHER, OWN, make_users
from nav_helpers import client_for
from trialdesk.bootstrap import bootstrap


@pytest.fixture
def admin(db_url):
    td = bootstrap(db_url)
    make_users(td)
    yield client_for(td, "admin1")
    td.dispose()


def _options(page: str) -> list[tuple[str, str]]:
    form = re.search(r'<form[^>]*id="site-status-form".*?</form>', page, re.S)
    if form is None:
        return []
    return re.findall(r'<option value="([A-Z_]+)"[^>]*>([^<]*)</option>', form.group(0))


def _change(client, site: str, status: str) -> None:
    page = client.get(f"/ops/sites/{site}").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        f"/ops/sites/{site}/status",
        data={"status": status, "reason": "issue 15 test", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_every_allowed_next_status_is_offered_with_its_label(admin):
    assert _options(admin.get(f"/ops/sites/{OWN}").text) == [
        ("SUSPENDED", "Suspended"),
        ("ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
        ("CLOSED", "Closed"),
    ]
    assert _options(admin.get(f"/ops/sites/{OTHER}").text) == [("RECRUITING", "Recruiting"), ("CLOSED", "Closed")]
    chinese = admin.get(f"/ops/sites/{OWN}?lang=zh-Hans").text
    assert ("ACTIVE_NOT_RECRUITING", "进行中，不再招募") in _options(chinese)
    admin.get("/ops?lang=en")


def test_the_form_follows_the_site_through_its_lifecycle(admin):
    _change(admin, OWN, "ACTIVE_NOT_RECRUITING")
    page = admin.get(f"/ops/sites/{OWN}").text
    assert 'data-status="ACTIVE_NOT_RECRUITING">Active, not recruiting<' in page
    assert _options(page) == [("CLOSED", "Closed")]
    _change(admin, OWN, "CLOSED")
    page = admin.get(f"/ops/sites/{OWN}").text
    assert _options(page) == [] and 'id="site-status-form"' not in page
    assert "A closed site takes no other status." in page
