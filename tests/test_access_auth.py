"""Accounts, login lockout, sessions (cookie flags, CSRF, idle expiry) and the public-route allowlist."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from typer.testing import CliRunner

from access_helpers import NCT, OTHER, OWN, PASSWORD, make_users
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from trialdesk.entrypoints.cli.main import app as cli
from trialdesk.entrypoints.web.app import PUBLIC_PATHS, create_app, route_table
from trialdesk.services import accounts


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def td_clock(sqlite_url, clock):
    app = bootstrap(sqlite_url, clock=clock)
    make_users(app)
    yield app
    app.dispose()


def login_form(client, username, password, next_url=""):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
        follow_redirects=False,
    )


def test_password_policy_and_argon2(td_clock):
    with pytest.raises(InvalidInput, match="password: must be at least 12 characters"), td_clock.uow() as uow:
        accounts.add_user(uow, SYSTEM, "shorty", [("coordinator", [OWN])], password="short-pass")
    with td_clock.uow() as uow:
        row = uow.users.get("coordinator1")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash


def test_first_admin_only_on_empty_database(sqlite_url):
    app = bootstrap(sqlite_url)
    with app.uow() as uow:
        name, password = accounts.create_first_admin(uow)
        uow.commit()
    assert name == "admin" and len(password) >= 12
    with pytest.raises(Conflict), app.uow() as uow:
        accounts.create_first_admin(uow)
    with app.uow() as uow:
        result = accounts.login(uow, "admin", password)
    assert result.must_change_password
    app.dispose()


def test_lockout_after_fifth_failure_for_15_minutes(td_clock, clock):
    for _ in range(5):
        with pytest.raises(AuthenticationFailed) as info, td_clock.uow() as uow:
            accounts.login(uow, "coordinator1", "wrong password!!")
        assert info.value.message == "wrong username or password"  # the lock is not disclosed
    clock.now += dt.timedelta(minutes=14, seconds=59)
    with pytest.raises(AuthenticationFailed, match="^wrong username or password$"), td_clock.uow() as uow:
        accounts.login(uow, "coordinator1", PASSWORD)  # the right password, refused while locked
    clock.now += dt.timedelta(seconds=2)
    with td_clock.uow() as uow:
        assert accounts.login(uow, "coordinator1", PASSWORD).principal.username == "coordinator1"
    with td_clock.uow() as uow:
        actions = [e.action for e in reversed(uow.audit.query(entity_type="user", entity_id="coordinator1"))]
    assert actions.count("auth.login_failed") == 5 and "auth.login_refused" in actions
    assert actions[-1] == "auth.login"


def test_session_cookie_flags_csrf_and_idle_expiry(td_clock, clock):
    client = TestClient(create_app(td_app=td_clock), base_url="https://testserver")
    response = login_form(client, "admin1", PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "td_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    # state change without the CSRF token is refused and changes nothing
    r = client.post(f"/ops/sites/{OTHER}/status", data={"status": "RECRUITING", "reason": "go"}, follow_redirects=False)
    assert r.status_code == 403
    page = client.get(f"/ops/sites/{OTHER}")
    assert 'data-status="NOT_YET_RECRUITING">Not yet recruiting' in page.text  # the code kept, the label shown
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        f"/ops/sites/{OTHER}/status",
        data={"status": "RECRUITING", "reason": "SIV done", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert 'data-status="RECRUITING">Recruiting' in client.get(f"/ops/sites/{OTHER}").text
    clock.now += dt.timedelta(minutes=29)
    assert client.get("/ops", follow_redirects=False).status_code == 200  # activity renews the session
    clock.now += dt.timedelta(minutes=31)
    r = client.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_plain_http_cookie_not_secure(td_clock):
    client = TestClient(create_app(td_app=td_clock))
    cookie = login_form(client, "admin1", PASSWORD).headers["set-cookie"]
    assert "Secure" not in cookie


def test_bad_login_and_lockout_through_web(td_clock):
    client = TestClient(create_app(td_app=td_clock))
    for _ in range(5):
        r = login_form(client, "coordinator1", "not the password")
        assert r.status_code == 401
        assert "wrong username or password" in r.text and "locked until" not in r.text  # lock not disclosed
    refused = login_form(client, "coordinator1", PASSWORD)  # locked: the right password is refused alike
    assert refused.status_code == 401 and "wrong username or password" in refused.text
    assert "td_session" not in refused.headers.get("set-cookie", "")


def _dummy(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: {"{nct_id}": NCT}.get(m.group(0), "x"), path)


def test_every_route_except_public_requires_authentication(td_clock):
    web = create_app(td_app=td_clock)
    client = TestClient(web)
    checked = 0
    table = route_table(web)
    for path, methods, route in table:
        if isinstance(route, Mount):
            assert path in PUBLIC_PATHS
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            response = client.request(method, _dummy(path), follow_redirects=False)
            checked += 1
            if path in PUBLIC_PATHS:
                assert response.status_code != 401, (method, path)
                assert response.status_code != 303 or path == "/login", (method, path)
            elif path.startswith("/api/") or path == "/openapi.json":
                assert response.status_code == 401, (method, path, response.status_code)
            else:
                assert response.status_code in (303, 401, 403), (method, path, response.status_code)
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/login")
    assert checked >= 15
    assert any(isinstance(r, APIRoute) and p.startswith("/api/") for p, _, r in table)


def test_cli_users_and_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(cli, ["users", "create-admin"])
    assert r.exit_code == 0 and "One-time password" in r.output
    r = runner.invoke(cli, ["users", "add", "--username", "coord.hunan", "--role", "coordinator", "--site", OWN])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["users", "add", "--username", "bad", "--role", "coordinator", "--site", "nowhere"])
    assert r.exit_code == 2 and "site" in r.output
    r = runner.invoke(cli, ["users", "add", "--username", "bad", "--role", "wizard"])
    assert r.exit_code == 2 and "unknown role" in r.output
    token = runner.invoke(cli, ["tokens", "create", "--user", "coord.hunan"]).output.strip()
    assert token.startswith("td_")
    r = runner.invoke(cli, ["users", "disable", "coord.hunan", "--reason", "left the site"])
    assert r.exit_code == 0
    listing = runner.invoke(cli, ["users", "list", "--json"]).output
    assert '"active": false' in listing
    r = runner.invoke(cli, ["users", "reset-password", "coord.hunan"])
    assert "one-time password" in r.output
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
