"""Concealment: as coordinator, monitor and sponsor, no page or API response reveals a future
assignment.

Differential test: two trials identical in everything (same users, subjects, fixed clock, same two allocations
already made) except the secret seed, chosen so that the arms already allocated are the same in both but the
*next* arm of every stratum differs. Every GET route the app serves (pages and API, path parameters filled in),
plus the refusals of a randomization attempt, must answer the same in both trials once per-request randomness
(CSRF tokens, idempotency keys, hashes) is blanked: any difference would be information about the upcoming
assignments. Each body is also searched for slot identifiers and sealed tokens, and no route lists slots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from fastapi.testclient import TestClient

from access_helpers import PASSWORD, make_users, token_for
from randomization_db_helpers import ALL_STRATA, NCT, OWN, add_subjects, setup_list
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.adapters.randomization_secret import SeedStore
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.randomization import generate_stratum_blocks, stratum_key
from trialdesk.entrypoints.web.app import create_app, route_table
from trialdesk.entrypoints.web.subject_page import TABS
from trialdesk.services import randomization as rz
from trialdesk.services.commands import Randomize

ROLES = (Role.COORDINATOR, Role.MONITOR, Role.SPONSOR)
S0, S1 = ALL_STRATA[0], ALL_STRATA[3]
SUBJECTS = ["HUN-0001", "HUN-0002", "HUN-0003", "HUN-0004", "HUN-0005"]
CRAWLED = ["HUN-0001", "HUN-0003", "HUN-0004", "HUN-0005"]  # allocated; next in S0; next in S1; ineligible


def _seeds() -> tuple[bytes, bytes]:
    """Two seeds with the same first two arms in S0 and different next arms in every stratum."""
    spec = load_default_protocol().operations.randomization
    strata = [stratum_key(s) for s in ALL_STRATA]

    def arms(seed):
        return {k: [s.arm for s in generate_stratum_blocks(spec, seed, k, 0, 2)] for k in strata}

    first = hashlib.sha256(b"seed-a").digest()
    a = arms(first)
    k0 = stratum_key(S0)
    for i in range(5000):
        seed = hashlib.sha256(b"seed-b%d" % i).digest()
        b = arms(seed)
        if b[k0][:2] == a[k0][:2] and b[k0][2] != a[k0][2] and all(b[k][0] != a[k][0] for k in strata if k != k0):
            return first, seed
    raise AssertionError("no seed pair found")


class Clock:
    def __call__(self):
        return dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def _trial(tmp_path, name: str, seed: bytes):
    app = bootstrap(f"sqlite:///{tmp_path / name}.sqlite", clock=Clock())
    make_users(app)
    store = SeedStore(tmp_path / f"{name}-secrets")
    store.save(NCT, seed)
    setup_list(app, seed)
    add_subjects(app, [S0, S0, S0, S1])
    add_subjects(app, [S0], verdict="ineligible", start=5)
    for number in SUBJECTS[:2]:
        with app.uow("coordinator1") as uow:
            rz.randomize_subject(uow, SYSTEM, NCT, number, Randomize(confirm=True), seeds=store)
            uow.commit()
    return app


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303


_VOLATILE = [
    (re.compile(r'name="(csrf_token|client_key)" value="[^"]*"'), r'name="\1" value=""'),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<hash>"),
    (re.compile(r"td_[A-Za-z0-9_\-]{20,}"), "<token>"),
    # matplotlib SVG figures (dashboard): creation date and random element ids
    (re.compile(r"<dc:date>[^<]*</dc:date>"), "<dc:date/>"),
    (re.compile(r"\b([mp])[0-9a-f]{10}\b"), r"\1<id>"),
]


def _normalize(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _urls(web) -> list[str]:
    fill = {"nct_id": NCT, "site_key": OWN}
    urls = []
    for path, methods, _ in route_table(web):
        if "GET" not in methods or path.startswith("/static"):
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        if any(p not in fill and p != "subject_number" for p in params):
            continue
        subjects = CRAWLED if "subject_number" in params else [None]
        for number in subjects:
            url = path
            for p in params:
                url = re.sub(r"{" + p + r"(?::\w+)?}", number if p == "subject_number" else fill[p], url)
            urls.append(url)
            if path == "/ops/subjects/{subject_number}":  # every tab of the casebook, each its own URL
                urls.extend(f"{url}?tab={slug}" for slug, _ in TABS)
    return sorted(set(urls))


def _crawl(app, role_user: str, token: str) -> dict[str, tuple[int, str]]:
    web = create_app(td_app=app)
    out = {}
    pages = TestClient(web, raise_server_exceptions=False)
    _login(pages, role_user)
    api = TestClient(web, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})
    for url in _urls(web):
        client = api if url.startswith("/api/") else pages
        r = client.get(url, follow_redirects=False)
        out[url] = (r.status_code, _normalize(r.text))
    # a refused randomization (ineligible subject) and a refused page submission (no confirmation)
    r = api.post(f"/api/v1/trials/{NCT}/subjects/HUN-0005/randomization", json={"confirm": True})
    out["POST api randomize ineligible"] = (r.status_code, _normalize(r.text))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', pages.get("/ops").text)
    r = pages.post(
        "/ops/subjects/HUN-0003/randomize",
        data={"csrf_token": csrf.group(1) if csrf else "", "confirm": ""},
        follow_redirects=False,
    )
    out["POST page randomize unconfirmed"] = (r.status_code, _normalize(r.text))
    for url in (f"/api/v1/trials/{NCT}/randomization", f"/api/v1/trials/{NCT}/randomization/balance"):
        assert api.get(url).status_code in (403, 404), url
    for url in (f"/api/v1/trials/{NCT}/randomization/export", f"/api/v1/trials/{NCT}/randomization/verify"):
        assert api.post(url).status_code in (403, 404), url
    return out


def test_no_response_reveals_future_assignments(tmp_path):
    seed_a, seed_b = _seeds()
    app_a, app_b = _trial(tmp_path, "a", seed_a), _trial(tmp_path, "b", seed_b)
    web = create_app(td_app=app_a)
    assert not [p for p, _, _ in route_table(web) if "slot" in p.lower()]  # no endpoint lists slots
    with app_a.uow() as uow:
        tokens = [
            s.sealed_arm for s in uow.randomization.slots(uow.randomization.current_list(uow.trials.get(NCT).id).id)
        ]
    slot_label = re.compile(r"=(?:yes|no)#\d+\.\d+")
    checked = 0
    try:
        for role in ROLES:
            user = f"{role.value}1"
            a = _crawl(app_a, user, token_for(app_a, user))
            b = _crawl(app_b, user, token_for(app_b, user))
            assert a.keys() == b.keys()
            for url in a:
                assert a[url] == b[url], f"{role.value}: {url} differs between two seeds"
                body = a[url][1]
                assert not slot_label.search(body), (role.value, url)
                assert seed_a.hex() not in body and not any(t.hex() in body for t in tokens[:50])
                checked += 1
            # the pages really were reachable: the subject page of an allocated subject shows its number
            if role in (Role.COORDINATOR, Role.MONITOR):
                assert "R-0001" in a["/ops/subjects/HUN-0001"][1]
                assert a["/ops/subjects/HUN-0001"][0] == 200
    finally:
        app_a.dispose()
        app_b.dispose()
    assert checked > 40
