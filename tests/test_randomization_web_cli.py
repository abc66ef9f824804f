"""Randomize through the page (explicit confirmation) and the API (idempotent), statistician page; CLI
generate / go-live / randomize / verify / export / qualify on SQLite."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from access_helpers import PASSWORD, make_users, token_for
from randomization_db_helpers import ALL_STRATA, NCT, SEED, add_subjects, setup_list, upcoming_arms
from trialdesk.adapters.randomization_secret import SeedStore
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.randomization import stratum_key
from trialdesk.entrypoints.web.app import create_app


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert (
        client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
            follow_redirects=False,
        ).status_code
        == 303
    )


def test_page_confirmation_api_idempotency_and_statistician_page(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALDESK_RANDOMIZATION_DIR", str(tmp_path / "secrets"))
    SeedStore(tmp_path / "secrets").save(NCT, SEED)
    td = bootstrap(sqlite_url)
    make_users(td)
    setup_list(td)
    upcoming = upcoming_arms(td)[stratum_key(ALL_STRATA[0])]
    a, b = add_subjects(td, [ALL_STRATA[0], ALL_STRATA[0]])
    web = create_app(td_app=td)
    page = TestClient(web)
    _login(page, "coordinator1")
    form = page.get(f"/ops/subjects/{a}/randomize")
    assert form.status_code == 200 and "I confirm" in form.text and "hr_status" in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    key = re.search(r'name="client_key" value="([^"]+)"', form.text).group(1)
    # without the confirmation box nothing happens
    r = page.post(f"/ops/subjects/{a}/randomize", data={"csrf_token": csrf, "client_key": key})
    assert r.status_code == 422 and "confirmation" in r.text
    r = page.post(
        f"/ops/subjects/{a}/randomize",
        data={"csrf_token": csrf, "client_key": key, "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/ops/subjects/{a}/randomization"
    result = page.get(r.headers["location"])
    assert "R-0001" in result.text
    labels = {"tqb2102": "TQB2102 for Injection", "thp": "Docetaxel combined + Trastuzumab +Pertuzumab"}
    assert labels[upcoming[0]] in result.text
    # double submit of the same form: same allocation, no second number
    r = page.post(
        f"/ops/subjects/{a}/randomize",
        data={"csrf_token": csrf, "client_key": key, "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "R-0001" in page.get(f"/ops/subjects/{a}").text
    # API, idempotent with a client key
    api = TestClient(web, headers={"Authorization": f"Bearer {token_for(td, 'coordinator1')}"})
    url = f"/api/v1/trials/{NCT}/subjects/{b}/randomization"
    assert api.post(url, json={"client_key": "k-1"}).status_code == 422  # confirm is required
    first = api.post(url, json={"confirm": True, "client_key": "k-1"}).json()
    again = api.post(url, json={"confirm": True, "client_key": "k-1"}).json()
    assert first["randomization_number"] == again["randomization_number"] == "R-0002"
    assert first["arm"] == again["arm"] == upcoming[1]
    assert api.get(url).json()["randomization_number"] == "R-0002"
    assert api.post(url + "/in-error", json={"reason": "wrong subject"}).json()["in_error"] is True
    # statistician page: commitment, balance, export (audited), verify
    stat = TestClient(web)
    _login(stat, "statistician1")
    p = stat.get("/ops/randomization")
    assert p.status_code == 200 and 'id="commitment"' in p.text and 'id="balance"' in p.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', p.text).group(1)
    assert "verify: ok" in stat.post("/ops/randomization/verify", data={"csrf_token": csrf}).text
    export = stat.post("/ops/randomization/export.csv", data={"csrf_token": csrf})
    assert export.status_code == 200 and export.text.startswith("stratum,seq,block")
    assert page.get("/ops/randomization").status_code == 403
    td.dispose()


def test_cli_generate_go_live_randomize_verify_export_qualify(tmp_path, monkeypatch):
    from trialdesk.entrypoints.cli.main import app

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path))
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    runner = CliRunner()
    r = runner.invoke(app, ["randomization", "generate", "--db", db, "--slots-per-stratum", "6", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    seed_file = tmp_path / "randomization" / f"{NCT}-{info['seed_check'][:16]}.seed"
    assert info["seed_file"] == str(seed_file) and oct(seed_file.stat().st_mode & 0o777) == "0o600"
    r = runner.invoke(app, ["randomization", "go-live", "--db", db, "--json"])
    assert r.exit_code == 0 and len(json.loads(r.output)["commitment"]) == 64
    td = bootstrap(db)
    [number] = add_subjects(td, [ALL_STRATA[2]])
    td.dispose()
    r = runner.invoke(app, ["randomization", "randomize", number, "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["randomization_number"] == "R-0001"
    r = runner.invoke(app, ["randomization", "verify", "--db", db, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "ok"
    out = tmp_path / "list.csv"
    r = runner.invoke(app, ["randomization", "export", "--db", db, "--out", str(out)])
    assert r.exit_code == 0 and out.read_text().count("R-0001") == 1
    r = runner.invoke(app, ["randomization", "qualify", "--db", db, "--subjects", "40", "--concurrency", "4", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert {k: report[k] for k in ("allocated", "duplicates", "gaps", "balanced_blocks", "verify")} == {
        "allocated": 40,
        "duplicates": 0,
        "gaps": 0,
        "balanced_blocks": True,
        "verify": "ok",
    }
    r = runner.invoke(app, ["randomization", "simulate", "--subjects", "40", "--reps", "5", "--json"])
    assert r.exit_code == 0 and "predictability" in r.output
