"""Login anti-automation (issue 14, item 3): attempt limits per address and per username (429 + Retry-After), the
argon2 work off the event loop, one answer and the same work for every kind of refused login, and the request body
limit (413) before authentication."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import re
import statistics
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access_helpers import PASSWORD, make_users
from trialdesk.adapters.db.tables import audit_events
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, SecurityPolicy
from trialdesk.domain.errors import AuthenticationFailed
from trialdesk.entrypoints.web import ops_routes
from trialdesk.entrypoints.web.app import create_app
from trialdesk.entrypoints.web.login_limits import LoginLimiter
from trialdesk.services import accounts
from trialdesk.settings import Settings

WRONG = "not the password at all"


def _n_audit(td):
    with td.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(audit_events)).scalar_one()


def _failed_logins(td, username):
    with td.uow() as uow:
        return uow.users.get(username).failed_logins


def _login(client, username, password):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"username": username, "password": password, "csrf_token": token, "next": ""}
    return client.post("/login", data=data, follow_redirects=False)


@pytest.fixture
def limited(db_url):
    settings = Settings(argon2_profile="fast", login_attempts_per_username=3, login_attempts_per_address=5)
    app = bootstrap(db_url, settings=settings)
    make_users(app)
    yield app
    app.dispose()


# attempt limits ------------------------------------------------------------------------------------------------
def test_attempts_per_username_then_per_address_answer_429_with_retry_after(limited):
    client = TestClient(create_app(td_app=limited))
    for _ in range(3):
        assert _login(client, "coordinator1", WRONG).status_code == 401
    assert _failed_logins(limited, "coordinator1") == 3
    before = _n_audit(limited)
    refused = _login(client, "coordinator1", PASSWORD)  # the right password too: the limit comes first
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many login attempts" in refused.text and "td_session" not in refused.headers.get("set-cookie", "")
    assert _n_audit(limited) == before and _failed_logins(limited, "coordinator1") == 3  # no password work done
    # the address has 2 attempts left (5 per minute): another username gets them, then the address is limited
    assert _login(client, "monitor1", WRONG).status_code == 401
    assert _login(client, "admin1", PASSWORD).status_code == 303  # a success is not counted
    assert _login(client, "monitor1", WRONG).status_code == 401
    by_address = _login(client, "admin1", PASSWORD)
    assert by_address.status_code == 429 and "retry-after" in by_address.headers
    # the health check is not a login: never limited
    assert all(client.get("/health").status_code == 200 for _ in range(20))


def test_limiter_window_and_forgiveness():
    now = [1000.0]
    limiter = LoginLimiter(per_address=100, per_username=2, clock=lambda: now[0])
    assert limiter.attempt("10.0.0.1", "Alice") is None
    now[0] += 10
    assert limiter.attempt("10.0.0.2", " alice ") is None  # the username is counted whatever the case or address
    now[0] += 5
    assert limiter.attempt("10.0.0.3", "ALICE") == 45  # the oldest attempt leaves the window at t=1060
    now[0] = 1060.5
    assert limiter.attempt("10.0.0.3", "alice") is None
    limiter.succeeded("10.0.0.3", "alice")  # forgiven: a success never limits its owner
    assert limiter.attempt("10.0.0.3", "alice") is None
    assert limiter.attempt("10.0.0.4", "bob") is None  # other names are not affected


# the argon2 work off the event loop -----------------------------------------------------------------------------
def test_parallel_bad_logins_do_not_stall_health(sqlite_url):
    """Eight bad logins whose password verification takes a full second each (argon2 takes tens of milliseconds; a
    second keeps the test the same on a loaded machine): /health answers while they are still pending. On a blocked
    event loop it could answer only after every login had finished."""
    import dataclasses

    assert not inspect.iscoroutinefunction(ops_routes.login_submit)  # a plain def: FastAPI's thread pool
    app = bootstrap(sqlite_url)
    make_users(app)
    real = app.ports.passwords

    class SlowPasswords:
        def hash(self, password: str, *, fast: bool = False) -> str:
            return real.hash(password, fast=fast)

        def verify(self, password_hash: str | None, password: str) -> bool:
            time.sleep(1.0)  # holds its thread, as argon2 does
            return real.verify(password_hash, password)

    web = create_app(td_app=app)
    app.ports = dataclasses.replace(app.ports, passwords=SlowPasswords())

    async def run() -> int:
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            data = {"username": "coordinator1", "password": WRONG, "csrf_token": token}
            logins = [asyncio.create_task(client.post("/login", data=data)) for _ in range(8)]
            await asyncio.sleep(0.05)
            health = await client.get("/health")
            pending = sum(not task.done() for task in logins)  # logins still verifying when /health answered
            answers = await asyncio.gather(*logins)
            assert health.status_code == 200 and {r.status_code for r in answers} == {401}
            return pending

    try:
        assert asyncio.run(run()) >= 1
    finally:
        app.dispose()


# one answer, the same work ---------------------------------------------------------------------------------------
def test_every_refused_login_kind_takes_the_same_time(db_url):
    """Unknown, disabled, locked, demo and real accounts: the same message, and the median time of each kind within
    20 % of the others, with the real argon2 profile (the demo account's hash is the cheap one, as in the demo).

    Time is this process's CPU time (argon2's lanes included), which is the work done: wall time on a shared CI
    machine mostly measures the neighbours. A kind that skipped its argon2 verification costs ~1/20 of the others."""
    app = bootstrap(db_url, settings=Settings(argon2_profile="default"))
    lenient = SecurityPolicy(lockout_threshold=10_000)
    with app.uow("setup") as uow:
        for name in ("real1", "disabled1", "locked1"):
            accounts.add_user(uow, SYSTEM, name, [("coordinator", None)], password=PASSWORD)
        accounts.add_user(uow, SYSTEM, "demo1", [("coordinator", None)], password="demo1-demo-password", demo=True)
        accounts.disable_user(uow, SYSTEM, "disabled1", "left the study")
        uow.users.get("locked1").locked_until = (app.clock() + dt.timedelta(days=1)).isoformat()
        uow.commit()
    with app.uow() as uow:
        assert not uow.users.get("demo1").password_hash.startswith("$argon2id$v=19$m=65536")  # the cheap profile
    kinds = {"unknown": "nobody1", "disabled": "disabled1", "locked": "locked1", "demo": "demo1", "real": "real1"}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(6):
        for kind, username in kinds.items():
            started = time.process_time()
            with pytest.raises(AuthenticationFailed) as refused, app.uow() as uow:
                accounts.login(uow, username, WRONG, policy=lenient)
            if round_:  # the first round warms caches (the dummy hash, prepared statements)
                times[kind].append(time.process_time() - started)
            assert refused.value.message == "wrong username or password"
    app.dispose()
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    assert max(medians.values()) <= 1.2 * min(medians.values()), medians


def test_locked_account_with_right_password_is_refused_alike_and_audited(db_url):
    app = bootstrap(db_url)
    make_users(app)
    with app.uow() as uow:
        uow.users.get("monitor1").locked_until = (app.clock() + dt.timedelta(minutes=5)).isoformat()
        uow.commit()
    with pytest.raises(AuthenticationFailed, match="^wrong username or password$"), app.uow() as uow:
        accounts.login(uow, "monitor1", PASSWORD)
    with app.uow() as uow:
        events = uow.audit.query(entity_type="user", entity_id="monitor1")
        assert events[0].action == "auth.login_refused" and events[0].reason.startswith("locked until")
    app.dispose()


# the request body limit ------------------------------------------------------------------------------------------
FIVE_MB = 5 * 1024 * 1024
CHUNK = 64 * 1024


def _call(web, path, *, headers):
    """Drive the ASGI app directly: returns (status, body, bytes the app pulled from the client)."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled >= FIVE_MB:
            return {"type": "http.disconnect"}
        pulled += CHUNK
        return {"type": "http.request", "body": b"a" * CHUNK, "more_body": pulled < FIVE_MB}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("10.1.2.3", 5555),
        "server": ("testserver", 80),
        "root_path": "",
    }
    asyncio.run(web(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", b"application/x-www-form-urlencoded"), ("/api/v1/trials/NCT07003074/queries", b"application/json")],
)
def test_anonymous_5mb_post_is_refused_before_it_is_read(td, path, content_type):
    web = create_app(td_app=td)
    limit = td.settings.max_body_bytes
    before = _n_audit(td)
    declared = [(b"content-type", content_type), (b"content-length", str(FIVE_MB).encode())]
    status, body, pulled = _call(web, path, headers=declared)
    assert status == 413 and pulled == 0  # refused on Content-Length: not one byte read
    assert str(limit) in body.decode() and b'"field": "body"' in body
    status, body, pulled = _call(web, path, headers=[(b"content-type", content_type)])  # streamed
    assert status == 413 and str(limit) in body.decode()
    assert pulled <= limit + CHUNK < FIVE_MB  # stopped reading as soon as the limit was passed
    assert _n_audit(td) == before


def test_body_just_under_the_limit_still_reaches_the_route(td):
    client = TestClient(create_app(td_app=td))
    filler = "x" * (td.settings.max_body_bytes - 200)
    r = client.post(
        "/login", data={"username": "nobody", "password": filler, "csrf_token": "x"}, follow_redirects=False
    )
    assert r.status_code == 303  # the route ran: its own answer (an expired login form), not a 413
