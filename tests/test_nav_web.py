"""The role-fitted navigation, the site home, the trial-wide query list and the dataset downloads (SQLite and
PostgreSQL), on the known state of :mod:`nav_helpers`.

Independent facts: the permission matrix (docs/permissions.md) says which pages each role may use; the issue
names each role's work (statistician: analysis, design, randomization list/balance, datasets; monitor: queries,
audit, sites; site staff: site home, screening, subjects, queries; sponsor: dashboard, design, results; admin:
users, sites, audit); the visit and query dates come from the protocol's schedule and the dates the setup chose.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from access_helpers import OTHER, OWN, PASSWORD
from nav_helpers import client_for, known_state, nav_links
from trialdesk.domain.access import SYSTEM, Action, Grant, Principal, Role
from trialdesk.entrypoints.web.app import create_app, route_table

A = Action

#: What the issue asks each role's navigation to offer (beyond the home page and the dashboard all roles may see).
EXPECTED_NAV = {
    Role.COORDINATOR: {"home", "screening", "subjects", "queries", "deviations", "dashboard"},
    Role.INVESTIGATOR: {"home", "screening", "subjects", "queries", "deviations", "dashboard"},
    # issue 15: the monitor's deviation log and key risk indicators; the sponsor's KRIs
    Role.MONITOR: {"home", "queries", "deviations", "sites", "dashboard", "monitoring", "audit"},
    Role.STATISTICIAN: {"home", "dashboard", "analysis", "randomization", "datasets", "design"},
    Role.SPONSOR: {"home", "dashboard", "monitoring", "design", "results"},
    Role.ADMIN: {"home", "sites", "dashboard", "users", "audit"},
}

#: Every page (GET, not the JSON API) and the permission it needs. Pages of the trial or of a site must be reachable
#: from the navigation (a link on a nav page, or on a page a nav link leads to); pages of one record (a subject's
#: forms, a screening, an analysis run's report) are reached from that record's page.
REACHABLE: dict[str, Action | tuple[Action, ...] | None] = {
    "/ops": None,
    "/account/password": None,
    "/ops/dashboard": A.DASHBOARD_VIEW,
    "/ops/sites/{site_key}": A.SITE_VIEW,
    "/ops/subjects/{subject_number}": A.SUBJECT_VIEW,
    "/ops/queries": A.SUBJECT_VIEW,
    "/ops/queries.csv": A.SUBJECT_VIEW,
    "/ops/sites/{site_key}/screen": A.SCREEN,
    "/ops/sites/{site_key}/calendar.ics": A.SUBJECT_VIEW,
    "/ops/audit": A.AUDIT_VIEW,
    "/ops/audit.csv": A.AUDIT_VIEW,
    "/ops/analysis": (A.ANALYSIS_RUN, *[a for a in Action if a.value == "results.approve"]),
    "/ops/randomization": A.RANDOMIZATION_LIST,
    "/ops/datasets": A.ANALYSIS_RUN,
    "/ops/datasets.zip": A.ANALYSIS_RUN,
    "/ops/datasets/{name}.csv": A.ANALYSIS_RUN,
    "/ops/design": A.DESIGN_SIMULATE,
    "/ops/users": A.USER_MANAGE,
    "/ops/monitoring": A.MONITORING_VIEW,
    "/ops/deviations": A.DEVIATION_RECORD,
    "/ops/deviations.csv": A.DEVIATION_RECORD,
}
RECORD_PAGES = {
    "/ops/analysis/runs/{run_id}/report",
    "/ops/subjects/{subject_number}/randomize",
    "/ops/subjects/{subject_number}/randomization",
    "/ops/subjects/{subject_number}/doses/new",
    "/ops/subjects/{subject_number}/calendar.ics",
    "/ops/sites/{site_key}/screenings/{screening_number}",
    "/ops/subjects/{subject_number}/sdv",
}
PUBLIC_OR_ACCOUNT = {"/", "/trials/{nct_id}", "/login", "/health", "/docs", "/openapi.json"}


@pytest.fixture
def state(td, shared_dir):
    ids = known_state(td, shared_dir)
    return td, ids


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/?#]+", re.escape(path)) + "$")


def _hrefs(html: str) -> set[str]:
    return {h.replace("&amp;", "&") for h in re.findall(r'href="(/[^"]*)"', html)}


def _path(href: str) -> str:
    return re.split(r"[?#]", href, maxsplit=1)[0]


def test_every_page_is_classified():
    """A new page must say how it is reached (and so be added to the navigation or a record's page)."""
    web = create_app(td_app=_StandIn())
    pages = {
        path for path, methods, _ in route_table(web) if "GET" in methods and not path.startswith(("/api/", "/static"))
    }
    unclassified = pages - set(REACHABLE) - RECORD_PAGES - PUBLIC_OR_ACCOUNT
    assert not unclassified, f"pages missing from the navigation test: {sorted(unclassified)}"


class _StandIn:
    """Enough of an App for create_app to build its routes (no database)."""

    settings = None


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_nav_per_role_links_work_and_reach_every_permitted_page(state, role):
    td, _ = state
    client = client_for(td, f"{role.value}1")
    home = client.get("/ops")
    assert home.status_code == 200
    links = nav_links(home.text)
    assert set(links) == EXPECTED_NAV[role]
    principal = Principal(f"{role.value}1", (Grant(role, frozenset({OWN}) if role in _SCOPED else None),))
    reached = set()
    seen_pages = set()
    for href in [*links.values(), "/account/password"]:
        if href.startswith("/trials/"):  # the public registry page with the posted results
            assert client.get(_path(href)).status_code == 200
            continue
        page = client.get(href)
        assert page.status_code == 200, (href, page.text[:300])
        assert nav_links(page.text) == links  # the same navigation on every page
        reached.add(_path(href))
        for inner in _hrefs(page.text):
            reached.add(_path(inner))
            # one level further: the site page (subjects, screening) and the pages a nav page lists
            if _path(inner) not in seen_pages and re.match(r"^/ops/sites/[^/]+$", _path(inner)):
                seen_pages.add(_path(inner))
                deeper = client.get(inner)
                assert deeper.status_code == 200
                reached |= {_path(h) for h in _hrefs(deeper.text)}
    for path, action in REACHABLE.items():
        may = _may(principal, action)
        found = any(_pattern(path).match(r) for r in reached)
        if may:
            assert found, f"{role.value} may use {path} but no link leads there from the navigation"
    # and no nav link leads to a page the role may not use
    for key, href in links.items():
        path = _path(href)
        needs = [a for p, a in REACHABLE.items() if _pattern(p).match(path)]
        assert all(_may(principal, a) for a in needs), (key, href)


def _may(principal: Principal, action: Action | tuple[Action, ...] | None) -> bool:
    actions = action if isinstance(action, tuple) else (action,)
    return any(a is None or principal.can(a, OWN) for a in actions)


_SCOPED = {Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR}


def _counts(html: str, site: str = OWN) -> dict[str, int]:
    section = re.search(rf'<section class="card site-work" id="work-{site}">(.*?)</section>', html, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)', section)}


def test_site_home_counts_on_the_known_state(state):
    td, _ = state
    for username in ("coordinator1", "investigator1"):
        page = client_for(td, username).get("/ops")
        assert page.status_code == 200
        # today (2026-03-02) HUN-0001's C1D1 window (randomized 2026-03-01 + 0..3 days) is open; HUN-0002's C1D1
        # (window to 2026-01-08) and first tumour assessment (2026-02-16 ±7) are overdue; 2 randomized subjects
        # unsigned (HUN-0003 only screened); one SAE entered at 02:00 today, its report due within 24 hours
        assert _counts(page.text) == {"today": 1, "overdue": 2, "queries": 1, "unsigned": 2, "sae": 1}
        html = page.text
        today = re.search(rf'id="today-{OWN}">.*?</table>', html, re.S).group(0)
        assert "HUN-0001" in today and "C1D1" in today and "HUN-0002" not in today
        overdue = re.search(rf'id="overdue-{OWN}">.*?</table>', html, re.S).group(0)
        assert re.findall(r"<td data-label=\"Visit\">(\w+)</td>", overdue) == ["C1D1", "TA1"]
        sae = re.search(r'id="sae-clocks-[^"]+">.*?</table>', html, re.S).group(0)
        # due 24 h after 02:00 UTC on 2 March: 10:00 on 3 March in the sites' zone (Asia/Shanghai, UTC+8)
        assert "HUN-0002" in sae and "3 Mar 2026, 10:00 CST" in sae and "24 h left" in sae
        assert "(1 answered, awaiting the monitor)" in html
        assert ("· <a href" in re.search(r'id="unsigned-.*?</table>', html, re.S).group(0)) == (
            username == "investigator1"  # only the investigator signs casebooks
        )
        assert f'id="work-{OTHER}"' not in html
    # roles that enter no data get no site work
    for username in ("monitor1", "statistician1", "admin1"):
        assert 'class="card site-work"' not in client_for(td, username).get("/ops").text


def _listed(response) -> list[tuple[int, int]]:
    assert response.status_code == 200, response.text[:400]
    return [
        (int(i), int(d))
        for i, d in re.findall(r'<tr data-query="(\d+)">.*?class="days-open">(\d+)</td>', response.text, re.S)
    ]


def test_query_list_filters_ageing_and_site_scoping(state):
    td, ids = state
    coordinator = client_for(td, "coordinator1")
    # oldest first; days open to today (2026-03-02): raised 2026-02-10 -> 20, raised 2026-03-01 -> 1
    assert _listed(coordinator.get("/ops/queries")) == [(ids["answered"], 20), (ids["open"], 1)]
    assert _listed(coordinator.get("/ops/queries", params={"status": "open"})) == [(ids["open"], 1)]
    assert _listed(coordinator.get("/ops/queries", params={"status": "answered"})) == [(ids["answered"], 20)]
    assert _listed(coordinator.get("/ops/queries", params={"status": "closed"})) == []
    assert _listed(coordinator.get("/ops/queries", params={"age": "2"})) == [(ids["answered"], 20)]
    assert _listed(coordinator.get("/ops/queries", params={"subject": "HUN-0002"})) == [(ids["open"], 1)]
    assert _listed(coordinator.get("/ops/queries", params={"site": OWN, "status": "pending"})) == [
        (ids["answered"], 20),
        (ids["open"], 1),
    ]
    # the other site's queries and subjects stay out of reach
    assert coordinator.get("/ops/queries", params={"site": OTHER}).status_code == 404
    assert coordinator.get("/ops/queries", params={"subject": "ANH-0001"}).status_code == 404
    bad = coordinator.get("/ops/queries", params={"status": "pending-ish"})
    assert bad.status_code == 422 and "status" in bad.text
    bad = coordinator.get("/ops/queries", params={"age": "-3"})
    assert bad.status_code == 422 and "age" in bad.text
    exported = list(csv.DictReader(io.StringIO(coordinator.get("/ops/queries.csv").text)))
    assert [(int(r["id"]), r["site"], r["days_open"]) for r in exported] == [
        (ids["answered"], OWN, "20"),
        (ids["open"], OWN, "1"),
    ]
    # a trial-wide monitor sees every site's queries; the CSV defuses a formula in the message
    from trialdesk.services import accounts

    with td.uow("setup") as uow:
        accounts.add_user(uow, SYSTEM, "cra-all", [("monitor", None)], password=PASSWORD)
        uow.commit()
    everywhere = client_for(td, "cra-all")
    assert [i for i, _ in _listed(everywhere.get("/ops/queries"))] == [ids["answered"], ids["other"], ids["open"]]
    assert [i for i, _ in _listed(everywhere.get("/ops/queries", params={"site": OTHER}))] == [ids["other"]]
    rows = list(csv.DictReader(io.StringIO(everywhere.get("/ops/queries.csv", params={"site": OTHER}).text)))
    assert rows[0]["message"] == "'=Please confirm"
    # a long list comes a page at a time (the count and the CSV cover every row); the pager keeps the filters
    from trialdesk.entrypoints.web import routes_queries_list

    routes_queries_list.PAGE_SIZE, size = 2, routes_queries_list.PAGE_SIZE
    try:
        first = everywhere.get("/ops/queries", params={"status": "pending"})
        assert [i for i, _ in _listed(first)] == [ids["answered"], ids["other"]] and "3 queries" in first.text
        assert "1–2 of 3" in first.text and 'rel="prev"' not in first.text
        following = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
        assert "status=pending" in following and "page=2" in following
        second = everywhere.get(following)
        assert [i for i, _ in _listed(second)] == [ids["open"]] and "3–3 of 3" in second.text
        assert 'rel="next"' not in second.text
    finally:
        routes_queries_list.PAGE_SIZE = size
    bad = everywhere.get("/ops/queries", params={"page": "0"})
    assert bad.status_code == 422 and "page" in bad.text
    # roles that see no subject see no query
    for username in ("statistician1", "sponsor1"):
        assert client_for(td, username).get("/ops/queries").status_code == 403


def test_dataset_downloads_for_the_statistician_only(state):
    td, _ = state
    statistician = client_for(td, "statistician1")
    page = statistician.get("/ops/datasets")
    assert page.status_code == 200
    names = re.findall(r'<td data-label="Dataset"><code>(\w+)</code>', page.text)
    # the datasets `trialdesk datasets export` writes (its --help: ADSL, ADTTE, ADRS, ADAE, ADEX, screening)
    assert names == ["adsl", "adtte", "adrs", "adae", "adex", "screening"]
    archive = statistician.get("/ops/datasets.zip")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert sorted(z.namelist()) == sorted(f"{n}.csv" for n in names)
        adsl = list(csv.DictReader(io.StringIO(z.read("adsl.csv").decode())))
    randomized = {r["subject_number"]: r["randomized_on"][:10] for r in adsl if r["itt"] == "True"}
    assert randomized == {"HUN-0001": "2026-03-01", "HUN-0002": "2026-01-05", "ANH-0001": "2026-01-05"}
    one = statistician.get("/ops/datasets/adsl.csv", params={"cut_date": "2026-02-01"})
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/csv")
    at_cut = {r["subject_number"] for r in csv.DictReader(io.StringIO(one.text)) if r["itt"] == "True"}
    assert at_cut == {"HUN-0002", "ANH-0001"}  # HUN-0001 was randomized after the cut
    assert statistician.get("/ops/datasets/nothing.csv").status_code == 404
    bad = statistician.get("/ops/datasets", params={"cut_date": "2026-02-30"})
    assert bad.status_code == 422 and 'id="err-cut_date"' in bad.text
    assert statistician.get("/ops/datasets.zip", params={"format": "xlsx"}).status_code == 422
    for username in ("coordinator1", "sponsor1", "monitor1"):
        other = client_for(td, username)
        assert other.get("/ops/datasets").status_code == 403
        assert other.get("/ops/datasets.zip").status_code == 403


def test_users_page_for_the_administrator_only(state):
    td, _ = state
    page = client_for(td, "admin1").get("/ops/users")
    assert page.status_code == 200
    listed = dict(
        re.findall(
            r'<td data-label="User">([^<]+)</td>.*?<td data-label="Roles \(sites\)">([^<]+)</td>', page.text, re.S
        )
    )
    # access_helpers.make_users: one user per role, site staff and monitors at Hunan, the others at all sites
    # each role in words, each site by its facility name in the registry record (not its key)
    assert listed["coordinator1"] == "Clinical research coordinator (Hunan Cancer Hospital)"
    assert listed["statistician1"] == "Statistician (all sites)"
    assert set(listed) >= {f"{r.value}1" for r in Role}
    for username in ("coordinator1", "monitor1", "statistician1", "sponsor1"):
        assert client_for(td, username).get("/ops/users").status_code == 403
