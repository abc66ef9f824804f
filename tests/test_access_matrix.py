"""Role x action x own-site/other-site, through the domain, the service layer and the HTTP API."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, OTHER, OWN, make_users, token_for
from trialdesk.domain.access import Action, Denial, Role
from trialdesk.domain.errors import TrialdeskError
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import accounts, sites
from trialdesk.services.commands import ChangeSiteStatus

# Written out from the roles' descriptions in the issue, independently of domain/access.py.
R, A = Role, Action
EXPECTED = {
    R.ADMIN: {
        A.USER_MANAGE,
        A.SITE_ACTIVATE,
        A.PROTOCOL_LOAD,
        A.CTCAE_LOAD,
        A.AUDIT_VIEW,
        A.SITE_VIEW,
        A.DASHBOARD_VIEW,
    },
    # issue 15: the sponsor reads the key risk indicators (aggregates; ICH E6(R3): the sponsor's oversight)
    R.SPONSOR: {A.SITE_VIEW, A.DASHBOARD_VIEW, A.DESIGN_SIMULATE, A.RESULTS_APPROVE, A.TRIAL_DECIDE, A.MONITORING_VIEW},
    R.INVESTIGATOR: {
        A.SITE_VIEW,
        A.DASHBOARD_VIEW,
        A.SUBJECT_VIEW,
        A.SCREEN,
        A.RANDOMIZE,
        A.DATA_ENTER,
        A.QUERY_ANSWER,
        A.CASEBOOK_SIGN,
        A.DEVIATION_RECORD,  # issue 15: site staff log the deviations they find
    },
    R.COORDINATOR: {
        A.SITE_VIEW,
        A.DASHBOARD_VIEW,
        A.SUBJECT_VIEW,
        A.SCREEN,
        A.RANDOMIZE,
        A.DATA_ENTER,
        A.QUERY_ANSWER,
        A.DEVIATION_RECORD,
    },
    # issue 15: the monitor verifies source data, logs and closes deviations, reads the KRIs
    R.MONITOR: {
        A.SITE_VIEW,
        A.DASHBOARD_VIEW,
        A.SUBJECT_VIEW,
        A.QUERY_RAISE,
        A.QUERY_CLOSE,
        A.AUDIT_VIEW,
        A.SDV_MARK,
        A.DEVIATION_RECORD,
        A.DEVIATION_CLOSE,
        A.MONITORING_VIEW,
    },
    R.STATISTICIAN: {
        A.SITE_VIEW,
        A.DASHBOARD_VIEW,
        A.RANDOMIZATION_LIST,
        A.RANDOMIZATION_MANAGE,
        A.ANALYSIS_RUN,
        A.RESULTS_POST,
        A.DESIGN_SIMULATE,
        A.TRIAL_DECIDE,
    },
}
SITE_SCOPED = {R.INVESTIGATOR, R.COORDINATOR, R.MONITOR}
TRIAL_WIDE_ACTIONS = {
    A.USER_MANAGE,
    A.PROTOCOL_LOAD,
    A.CTCAE_LOAD,
    A.DASHBOARD_VIEW,
    A.RANDOMIZATION_LIST,
    A.RANDOMIZATION_MANAGE,
    A.ANALYSIS_RUN,
    A.RESULTS_POST,
    A.DESIGN_SIMULATE,
    A.RESULTS_APPROVE,
    A.TRIAL_DECIDE,
}


def expected(role: Role, action: Action, where: str) -> bool:
    if action not in EXPECTED[role]:
        return False
    if action in TRIAL_WIDE_ACTIONS or role not in SITE_SCOPED:
        return True
    return where == "own"


def test_sponsor_and_monitor_limits_from_the_issue():
    assert A.SUBJECT_VIEW not in EXPECTED[R.SPONSOR]  # never subject-level identifiers
    assert not EXPECTED[R.MONITOR] & {A.DATA_ENTER, A.RANDOMIZE, A.SCREEN}
    # site staff never verify their own data
    assert A.SDV_MARK not in EXPECTED[R.INVESTIGATOR] | EXPECTED[R.COORDINATOR]


@pytest.fixture
def principals(td):
    return make_users(td)


def test_domain_matrix_exhaustive(principals):
    for role, action, where in itertools.product(Role, Action, ["own", "other"]):
        site = OWN if where == "own" else OTHER
        assert principals[role].can(action, site) == expected(role, action, where), (role, action, where)


def _snapshot(td):
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        return (
            {s.site_key: s.status for s in uow.sites.for_trial(trial.id)},
            len(uow.users.list()),
            [e.action for e in uow.audit.query(limit=10000) if e.action != "access.denied"],
        )


# Each service operation: (action, callable(uow, principal, site)); "site" is own or other.
def _op_site_view(uow, p, site):
    return sites.view_site(uow, p, NCT, site)


def _op_site_activate(uow, p, site):
    current = {s.site_key: s.status for s in uow.sites.for_trial(uow.trials.get(NCT).id)}[site]
    target = "SUSPENDED" if current == "RECRUITING" else "RECRUITING"
    return sites.change_site_status(uow, p, NCT, site, ChangeSiteStatus(status=target, reason="matrix test"))


def _op_user_manage(uow, p, site):
    return accounts.add_user(uow, p, f"new-{p.username}-{site}", [("coordinator", [site])])


SERVICE_OPS = {A.SITE_VIEW: _op_site_view, A.SITE_ACTIVATE: _op_site_activate, A.USER_MANAGE: _op_user_manage}


def test_service_layer_matrix(td, principals):
    for (action, op), role, where in itertools.product(SERVICE_OPS.items(), Role, ["own", "other"]):
        site = OWN if where == "own" else OTHER
        before = _snapshot(td)
        allowed = True
        try:
            with td.uow(principals[role].username) as uow:
                op(uow, principals[role], site)
                uow.commit()
        except Denial as denial:
            allowed = False
            assert denial.action == action
        assert allowed == expected(role, action, where), (role, action, where)
        if not allowed:
            assert _snapshot(td) == before, "a denied request changed something"
            with td.uow() as uow:
                last = uow.audit.query(limit=1)[0]
            assert (last.action, last.actor) == ("access.denied", principals[role].username)


@pytest.fixture
def api(td, principals):
    client = TestClient(create_app(td_app=td))
    tokens = {role: token_for(td, principals[role].username) for role in Role}
    return client, tokens


def test_http_matrix(td, api):
    client, tokens = api
    for role, where in itertools.product(Role, ["own", "other"]):
        site = OWN if where == "own" else OTHER
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        r = client.get(f"/api/v1/trials/{NCT}/sites/{site}", headers=headers)
        assert (r.status_code == 200) == expected(role, A.SITE_VIEW, where), (role, where, r.text)
        if r.status_code != 200:
            assert r.status_code in (403, 404)
        listed = {s["site"] for s in client.get(f"/api/v1/trials/{NCT}/sites", headers=headers).json()}
        assert (site in listed) == expected(role, A.SITE_VIEW, where)
        before = _snapshot(td)
        r = client.post(
            f"/api/v1/trials/{NCT}/sites/{site}/status",
            headers=headers,
            json={"status": "SUSPENDED" if site == OWN else "RECRUITING", "reason": "http matrix"},
        )
        if expected(role, A.SITE_ACTIVATE, where):
            assert r.status_code == 200, r.text
            client.post(
                f"/api/v1/trials/{NCT}/sites/{site}/status",
                headers=headers,
                json={"status": "RECRUITING", "reason": "undo"},
            ) if site == OWN else None
        else:
            assert r.status_code == 403, (role, where, r.text)
            assert _snapshot(td) == before


def test_http_requires_authentication(api):
    client, _ = api
    r = client.get(f"/api/v1/trials/{NCT}/sites")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.get(f"/api/v1/trials/{NCT}/sites", headers={"Authorization": "Bearer td_not-a-token"})
    assert r.status_code == 401


def test_revoked_and_disabled_tokens_stop_working(td, api, principals):
    client, tokens = api
    headers = {"Authorization": f"Bearer {tokens[R.COORDINATOR]}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with td.uow("admin1") as uow:
        [row] = list(accounts.list_tokens(uow, principals[R.ADMIN], "coordinator1"))
        accounts.revoke_token(uow, principals[R.ADMIN], row["id"])
        uow.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    with td.uow() as uow:
        stored = [t.token_hash for t in uow.users.tokens()]
    assert tokens[R.COORDINATOR] not in stored  # stored hashed


def test_invalid_site_transition_and_missing_reason(td, principals):
    admin = principals[R.ADMIN]
    with pytest.raises(TrialdeskError, match="reason"), td.uow() as uow:
        sites.change_site_status(uow, admin, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="  "))
    with pytest.raises(TrialdeskError, match="cannot go from NOT_YET_RECRUITING to SUSPENDED"), td.uow() as uow:
        sites.change_site_status(uow, admin, NCT, OTHER, ChangeSiteStatus(status="SUSPENDED", reason="why"))
    with td.uow() as uow:
        for status in ["RECRUITING", "SUSPENDED", "RECRUITING", "CLOSED"]:
            sites.change_site_status(uow, admin, NCT, OTHER, ChangeSiteStatus(status=status, reason=f"to {status}"))
        uow.commit()
    with pytest.raises(TrialdeskError, match="CLOSED"), td.uow() as uow:
        sites.change_site_status(uow, admin, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="reopen"))
    with td.uow() as uow:
        events = list(uow.audit.query(entity_type="site", entity_id=OTHER, limit=50))
    assert [e.reason for e in reversed(events)] == ["to RECRUITING", "to SUSPENDED", "to RECRUITING", "to CLOSED"]
