"""Concealment of the randomization scheme: the block sizes and minimization settings are shown only to the
statistician and the admin (with the allocation history they predict the next arm); coordinators and other
site-scoped roles see their own sites' counts, never the trial-wide randomization count."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, make_users, token_for
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app

HIDDEN = (Role.COORDINATOR, Role.MONITOR, Role.SPONSOR, Role.INVESTIGATOR)
SHOWN = (Role.STATISTICIAN, Role.ADMIN)


@pytest.fixture
def client_and_tokens(td):
    make_users(td)
    tokens = {role: token_for(td, f"{role.value}1") for role in Role}
    return TestClient(create_app(td_app=td)), tokens


def _trial(client, token):
    r = client.get(f"/api/v1/trials/{NCT}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()["operations"]["randomization"]


@pytest.mark.parametrize("role", HIDDEN)
def test_scheme_parameters_absent_for_other_roles(client_and_tokens, role):
    client, tokens = client_and_tokens
    rz = _trial(client, tokens[role])
    assert "block_sizes" not in rz and "minimization" not in rz
    assert "block_sizes" not in rz.get("assumptions", {}) and "minimization" not in rz.get("assumptions", {})
    assert rz["arms"]  # the arms themselves are public


@pytest.mark.parametrize("role", SHOWN)
def test_scheme_parameters_present_for_statistician_and_admin(client_and_tokens, role):
    client, tokens = client_and_tokens
    rz = _trial(client, tokens[role])
    assert rz["block_sizes"] == [2, 4, 6]
    assert "p_best" in rz["minimization"]


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR])
def test_site_roles_see_no_trial_wide_randomization_count(client_and_tokens, role):
    client, tokens = client_and_tokens
    r = client.get(f"/api/v1/trials/{NCT}/dashboard", headers={"Authorization": f"Bearer {tokens[role]}"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert "randomized_all_sites" not in data
    assert "recent_randomized" not in (data.get("forecast") or {})


@pytest.mark.parametrize("role", [Role.STATISTICIAN, Role.SPONSOR])
def test_trial_wide_roles_keep_the_count(client_and_tokens, role):
    client, tokens = client_and_tokens
    r = client.get(f"/api/v1/trials/{NCT}/dashboard", headers={"Authorization": f"Bearer {tokens[role]}"})
    assert r.status_code == 200, r.text
    assert "randomized_all_sites" in r.json()
