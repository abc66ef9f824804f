"""Accounts to Part 11 / OWASP ASVS level 2 (issue 14, item 3), on SQLite and PostgreSQL: e-signature failures
feed the login lockout, a one-time password allows nothing but changing it, a password change ends the other
sessions, sessions have an absolute lifetime, and every response carries the security headers."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, PASSWORD, make_users, token_for
from capture_helpers import Clock, add_subject
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import accounts
from trialdesk.services import signatures as sig
from trialdesk.services.commands import SignCasebook

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app(td):
    td.clock = Clock()
    make_users(td)
    return td


def _login(client, username, password):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": ""},
        follow_redirects=False,
    )


def _sign(td, principal, password):
    with td.uow(principal.username) as uow:
        out = sig.sign_casebook(uow, principal, NCT, "HUN-0001", SignCasebook(password=password))
        uow.commit()
    return out


def _user(td, username):
    with td.uow() as uow:
        return uow.users.get(username)


# e-signature failures ------------------------------------------------------------------------------------------
def test_signature_failures_count_toward_the_login_lockout(app):
    inv = accounts_principal(app, "investigator1")
    add_subject(app, "HUN-0001")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed, match="does not match"):
            _sign(app, inv, "not my password!")
    user = _user(app, "investigator1")
    assert user.failed_logins == 4 and user.locked_until is None  # one below the threshold: not locked
    with pytest.raises(AuthenticationFailed, match="does not match"):
        _sign(app, inv, "not my password!")
    assert _user(app, "investigator1").locked_until is not None  # the fifth locks, as a login failure would
    with pytest.raises(AuthenticationFailed, match="^wrong username or password$"), app.uow() as uow:
        accounts.login(uow, "investigator1", PASSWORD)  # locked: refused, and the lock is not disclosed
    with pytest.raises(AuthenticationFailed, match="locked"):
        _sign(app, inv, PASSWORD)  # the right password does not sign on a locked account
    with app.uow() as uow:
        reasons = [e.reason for e in reversed(uow.audit.query(action_prefix="casebook.sign_failed"))]
    assert len(reasons) == 6 and "failure 4" in reasons[3] and "locked until" in reasons[4]
    assert reasons[5].startswith("account locked until")
    app.clock.now += dt.timedelta(minutes=15, seconds=1)
    assert _sign(app, inv, PASSWORD)["signer"] == "investigator1"


def test_a_good_signature_resets_the_counter(app):
    inv = accounts_principal(app, "investigator1")
    add_subject(app, "HUN-0001")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            _sign(app, inv, "not my password!")
    _sign(app, inv, PASSWORD)
    assert _user(app, "investigator1").failed_logins == 0


def accounts_principal(td, username):
    with td.uow() as uow:
        return accounts.principal_for(uow, uow.users.get(username))


# one-time passwords --------------------------------------------------------------------------------------------
def _reset(td, username):
    with td.uow("setup") as uow:
        one_time = accounts.reset_password(uow, SYSTEM, username)
        uow.commit()
    return one_time


def test_one_time_password_allows_only_changing_it(app):
    token = token_for(app, "coordinator1")
    client = TestClient(create_app(td_app=app))
    api = f"/api/v1/trials/{NCT}"
    assert client.get(api, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    one_time = _reset(app, "coordinator1")
    # API: a bearer token (old or new) is refused while the password is one-time
    r = client.get(api, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "one-time password" in r.json()["message"]
    fresh = token_for(app, "coordinator1")
    assert client.get(api, headers={"Authorization": f"Bearer {fresh}"}).status_code == 403
    # pages: every page leads to the password form; the cookie-authenticated API refuses
    r = _login(client, "coordinator1", one_time)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    r = client.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/password")
    r = client.get(api)
    assert r.status_code == 403 and "one-time password" in r.json()["message"]
    # CLI --as and the service: the login itself works (to reach the form), nothing else
    with app.uow() as uow:
        result = accounts.login(uow, "coordinator1", one_time)
    with pytest.raises(PermissionDenied, match="one-time password"):
        accounts.refuse_one_time(result.must_change_password)
    # changing it opens everything again
    form = client.get("/account/password")
    csrf = _csrf_of_session(client)
    r = client.post(
        "/account/password",
        data={"current": one_time, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert form.status_code == 200 and r.status_code == 303 and r.headers["location"] == "/ops"
    assert client.get("/ops", follow_redirects=False).status_code == 200
    assert client.get(api, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    accounts.refuse_one_time(False)


def _csrf_of_session(client):
    from trialdesk.entrypoints.web.auth import SESSION_COOKIE

    td = client.app.state.td
    with td.uow() as uow:
        return accounts.authenticate_session(uow, client.cookies.get(SESSION_COOKIE), touch=False).csrf_token


def test_cli_as_refuses_a_one_time_password(app, monkeypatch):
    from trialdesk.entrypoints.cli.people import resolve_principal

    one_time = _reset(app, "coordinator1")
    monkeypatch.setenv("TRIALDESK_PASSWORD", one_time)
    with pytest.raises(PermissionDenied, match="one-time password"):
        resolve_principal(app, "coordinator1")
    monkeypatch.setenv("TRIALDESK_PASSWORD", PASSWORD)
    assert resolve_principal(app, "admin1").username == "admin1"


# a password change ends the other sessions ---------------------------------------------------------------------
def test_password_change_ends_other_sessions_but_keeps_this_one(app):
    web = create_app(td_app=app)
    mine, other = TestClient(web), TestClient(web)
    assert _login(mine, "monitor1", PASSWORD).status_code == 303
    assert _login(other, "monitor1", PASSWORD).status_code == 303
    assert other.get("/ops", follow_redirects=False).status_code == 200
    r = mine.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": _csrf_of_session(mine)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert mine.get("/ops", follow_redirects=False).status_code == 200
    r = other.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_admin_reset_ends_every_session(app):
    client = TestClient(create_app(td_app=app))
    assert _login(client, "monitor1", PASSWORD).status_code == 303
    assert client.get("/ops", follow_redirects=False).status_code == 200
    _reset(app, "monitor1")
    r = client.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


# absolute session lifetime -------------------------------------------------------------------------------------
def test_absolute_session_lifetime(app, monkeypatch):
    monkeypatch.setenv("TRIALDESK_SESSION_ABSOLUTE_HOURS", "1")
    client = TestClient(create_app(td_app=app))
    assert _login(client, "admin1", PASSWORD).status_code == 303
    for minutes in (29, 29, 1):  # active all along: 59 minutes after login, still in
        app.clock.now += dt.timedelta(minutes=minutes)
        assert client.get("/ops", follow_redirects=False).status_code == 200
    app.clock.now += dt.timedelta(minutes=1, seconds=1)  # just past the hour, active or not
    r = client.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with app.uow() as uow:
        [expired] = uow.audit.query(action_prefix="auth.session_expired")
    assert expired.reason == "absolute lifetime"


def test_default_lifetime_is_twelve_hours():
    from trialdesk.settings import Settings

    assert Settings().session_absolute_hours == 12
    assert dt.timedelta(hours=12) == accounts.SESSION_LIFETIME


# security headers ----------------------------------------------------------------------------------------------
def _assert_headers(response, https=False):
    h = response.headers
    csp = h["content-security-policy"]
    assert (
        "frame-ancestors 'none'" in csp
        and "default-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    assert ("strict-transport-security" in h) == https


def test_security_headers_on_pages_api_and_errors(app):
    token = token_for(app, "admin1")
    client = TestClient(create_app(td_app=app))
    _assert_headers(client.get("/login"))
    _assert_headers(client.get(f"/api/v1/trials/{NCT}", headers={"Authorization": f"Bearer {token}"}))
    r = client.get("/api/v1/trials/NCT00000000", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    _assert_headers(r)
    r = client.get("/api/v1/trials")
    assert r.status_code == 401
    _assert_headers(r)
    _assert_headers(client.get("/no/such/page"))
    secure = TestClient(create_app(td_app=app), base_url="https://testserver")
    _assert_headers(secure.get("/login"), https=True)
    assert "max-age=" in secure.get("/login").headers["strict-transport-security"]


def test_security_headers_on_answers_of_the_outer_guards(app):
    """The body limit (413) and the input guard (422) answer before any route: they carry the headers too."""
    client = TestClient(create_app(td_app=app))
    too_big = client.post("/login", content=b"x" * (app.settings.max_body_bytes + 1))
    assert too_big.status_code == 413
    _assert_headers(too_big)
    nul = client.get(f"/trials/{NCT}%00")
    assert nul.status_code == 422
    _assert_headers(nul)


# password policy -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("aaaaaaaaaaaa", "repeats too few characters"),
        ("abababababab", "repeats too few characters"),
        ("abcabcabcabc", "repeats too few characters"),
        ("abcdabcdabcd", None),  # four different characters: allowed
        ("password1234", "commonly used"),
        ("Password1234!", "commonly used"),
        ("qwerty123456", "commonly used"),
        ("starwars-2026", "commonly used"),
        ("starwars-galaxy", None),
        ("x-coordinator1-x", "must not contain the username"),
        ("x-COORDINATOR1-x", "must not contain the username"),
        ("x-coordinator-1-x", None),
        ("elevenchars", "at least 12 characters"),
        (PASSWORD, None),
    ],
)
def test_password_policy(password, refused):
    if refused is None:
        accounts.check_password_policy(password, "coordinator1")
    else:
        with pytest.raises(InvalidInput, match=refused):
            accounts.check_password_policy(password, "coordinator1")


def test_common_list_is_shipped():
    common = accounts.common_passwords()
    assert len(common) > 1900 and "password" in common and "trustno1" in common


def _change(td, old, new, username="monitor1"):
    with td.uow(username) as uow:
        accounts.change_password(uow, username, old, new)
        uow.commit()


def test_no_reuse_of_the_last_five_passwords(app):
    passwords = [PASSWORD] + [f"rotation number {n} ok" for n in range(1, 6)]
    for old, new in itertools.pairwise(passwords[:5]):
        _change(app, old, new)
    # the current one and the four before it (the last five) are refused, each of them
    for reused in passwords[:5]:  # the current one has its own message: "must differ from the old one"
        with pytest.raises(InvalidInput, match="must differ from"):
            _change(app, passwords[4], reused)
    _change(app, passwords[4], passwords[5])  # a sixth, new one: fine
    _change(app, passwords[5], PASSWORD)  # the first is now six passwords back: allowed again
    with app.uow() as uow:
        user = uow.users.get("monitor1")
        assert len(uow.users.previous_passwords(user.id, 10)) == 6


def test_policy_applies_to_changes_and_new_users(app):
    with pytest.raises(InvalidInput, match="commonly used"):
        _change(app, PASSWORD, "password123456")
    with pytest.raises(InvalidInput, match="username"), app.uow() as uow:
        accounts.add_user(uow, SYSTEM, "newbie", [("monitor", None)], password="newbie-is-my-password")
    with app.uow() as uow:  # demo accounts keep their known "<username>-demo-password"
        accounts.add_user(uow, SYSTEM, "demo1", [("monitor", None)], password="demo1-demo-password", demo=True)
        uow.commit()


def test_admin_reset_retires_the_old_password(app):
    one_time = _reset(app, "monitor1")
    with pytest.raises(InvalidInput, match="last 5 passwords"):
        _change(app, one_time, PASSWORD)
    _change(app, one_time, NEW_PASSWORD)


def test_csp_allows_exactly_the_inline_script_the_subject_page_renders(sqlite_url):
    """The Chromium tests run the script under the CSP; this checks the hash without a browser."""
    import base64
    import hashlib

    from test_treatment_helpers import Clock as DayClock
    from test_treatment_helpers import day, randomized_subject
    from trialdesk.bootstrap import bootstrap
    from trialdesk.entrypoints.web.security import CSP

    randomized_on = "2025-03-03"
    td = bootstrap(sqlite_url)
    td.clock = DayClock(day(randomized_on, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=randomized_on)
    client = TestClient(create_app(td_app=td))
    assert _login(client, "coordinator1", PASSWORD).status_code == 303
    page = client.get("/ops/subjects/01-001")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert scripts and "Content-Security-Policy" not in page.text
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in CSP
    assert page.headers["content-security-policy"] == CSP
    td.dispose()
