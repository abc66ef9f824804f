"""The forms' remaining gaps (issue 15, part 3): each refusal beside its field, what was typed kept.

- Prior therapies carry a line of therapy (1 or more), a best response (RECIST 1.1: CR, PR, SD, PD, NE, or unknown)
  and a reason stopped (completed, progression, toxicity, patient decision, other; none while ongoing): the
  record's model (domain) and the screening form's rows (web, SQLite and PostgreSQL).
- The design page answers a bad value (``?hr=abc``) with the page (422), the value in its input, the message beside.
- The analysis page's unticked confirmation box (approve, post) says so beside the box, not as "confirm" above.
- A wrong signing password comes back on the casebook's signature tab (422) with the meaning kept, "wrong
  password" beside the password; the attempt is audited and counted like a failed login (21 CFR 11.300(d): five
  lock the account), and the signer stays logged in.
- The password form says each refusal beside its field and never sends a password back.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from access_helpers import NCT, OWN, PASSWORD, make_users, token_for
from capture_helpers import Clock, add_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.screening import PriorTherapy, flat_schema
from trialdesk.entrypoints.web.app import create_app

SUBJECT = "/ops/subjects/HUN-0001"


@pytest.fixture
def web(db_url):
    td = bootstrap(db_url)
    td.clock = Clock()
    make_users(td)
    add_subject(td, "HUN-0001")
    client = TestClient(create_app(td_app=td))
    tokens = {
        role: {"Authorization": f"Bearer {token_for(td, role + '1')}"}
        for role in ("coordinator", "investigator", "statistician", "sponsor")
    }
    yield td, client, tokens
    td.dispose()


def _tag(page: str, name: str) -> str:
    """The input or select named ``name``, or whose id is ``f-<name>`` (a run's confirmation box)."""
    attribute = rf'(?:name="{re.escape(name)}"|id="f-{re.escape(name)}")'
    found = re.search(rf"<(input|select)\b[^>]*\b{attribute}[^>]*>", page)
    assert found, f"no input {name!r}"
    return found.group(0)


def _value(page: str, name: str) -> str:
    tag = _tag(page, name)
    if tag.startswith("<select"):
        select = page[page.index(tag) :]
        select = select[: select.index("</select>")]
        chosen = re.search(r'<option value="([^"]*)" selected>', select)
        return html.unescape(chosen.group(1)) if chosen else ""
    found = re.search(r'\bvalue="([^"]*)"', tag)
    return html.unescape(found.group(1)) if found else ""


def _error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]*)</p>', page)
    assert found, f"no message beside {name!r}"
    return html.unescape(found.group(1))


def _refused(r, name: str, typed: str | None, message: str) -> None:
    """422, ``message`` beside input ``name`` (which points at it), ``typed`` kept in the input."""
    assert r.status_code == 422, r.text[:500]
    assert message in _error(r.text, name), _error(r.text, name)
    tag = _tag(r.text, name)
    assert f'aria-describedby="err-{name}"' in tag and 'aria-invalid="true"' in tag, tag
    if typed is not None:
        assert _value(r.text, name) == typed


# --- 1. prior therapies: line, best response, reason stopped ----------------------------------------------------


def _prior(**extra) -> dict:
    return {"drug_class": "chemotherapy", "agent": "capecitabine", "setting": "metastatic", **extra}


def test_prior_therapy_line_best_response_and_reason_stopped_are_checked():
    therapy = PriorTherapy.model_validate(
        _prior(line_of_therapy=2, best_response="PR", reason_stopped="progression", end_date="2025-06-01")
    )
    assert (therapy.line_of_therapy, therapy.best_response, therapy.reason_stopped) == (2, "PR", "progression")
    assert PriorTherapy.model_validate(_prior()).line_of_therapy is None  # all three optional, as before
    for code in ("CR", "PR", "SD", "PD", "NE", "unknown"):  # RECIST 1.1 overall responses, or not known
        assert PriorTherapy.model_validate(_prior(best_response=code)).best_response == code
    for code in ("completed", "progression", "toxicity", "patient_decision", "other"):
        assert PriorTherapy.model_validate(_prior(reason_stopped=code)).reason_stopped == code
    refused = (
        {"line_of_therapy": 0},  # the first line is 1
        {"line_of_therapy": 1.5},
        {"best_response": "nCR"},  # not a RECIST 1.1 response
        {"best_response": "iCR"},
        {"reason_stopped": "bored"},
        {"ongoing": True, "reason_stopped": "toxicity"},  # an ongoing therapy has not stopped
    )
    for extra in refused:
        with pytest.raises(ValidationError):
            PriorTherapy.model_validate(_prior(**extra))
    schema = flat_schema({"prior_therapies": 1})  # cohort tables: one column each, in every slot
    assert schema["prior_therapies.0.line_of_therapy"] == "number"
    assert schema["prior_therapies.0.best_response"] == schema["prior_therapies.0.reason_stopped"] == "string"


def _therapy(k: int, **fields: str) -> dict[str, str]:
    return {f"prior_therapies.{k}.{name}": value for name, value in fields.items()}


def test_screening_rows_take_line_best_response_and_reason_stopped(web):
    td, client, h = web
    base = {"patient_ref": "P-88", "screened_on": "2026-01-03"}
    row = {"drug_class": "chemotherapy", "agent": "capecitabine", "setting": "metastatic"}
    form = {
        **base,
        **_therapy(0, **row, line_of_therapy="0", best_response="iCR", reason_stopped="bored"),
        **_therapy(1, **row, line_of_therapy="second", ongoing="yes", reason_stopped="toxicity"),
    }
    page = client.get(f"/ops/sites/{OWN}/screen", headers=h["coordinator"])
    assert "Partial response (PR)" in page.text and "Disease progression" in page.text  # codes by their labels
    assert "Patient decision" in page.text and "Line" in page.text and "Reason stopped" in page.text
    r = client.post(f"/ops/sites/{OWN}/screen", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "prior_therapies.0.line_of_therapy", "0", "The first line is 1.")
    _refused(r, "prior_therapies.0.best_response", None, "Choose one of the listed values.")
    _refused(r, "prior_therapies.0.reason_stopped", None, "Choose one of the listed values.")
    _refused(r, "prior_therapies.1.line_of_therapy", "second", "Enter a whole number")
    _refused(r, "prior_therapies.1.reason_stopped", "toxicity", "Leave the reason empty for an ongoing therapy.")
    assert "Prior therapy 2: Reason stopped" in r.text  # the summary names the row and the column
    fixed = {
        **base,
        **_therapy(0, **row, line_of_therapy="1", best_response="PR", reason_stopped="progression"),
        **_therapy(1, **row, line_of_therapy="2", best_response="unknown", ongoing="yes"),
    }
    r = client.post(f"/ops/sites/{OWN}/screen", data=fixed, headers=h["coordinator"], follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    log = client.get(f"/api/v1/trials/{NCT}/screenings", headers=h["coordinator"]).json()[-1]
    stored = client.get(
        f"/api/v1/trials/{NCT}/screenings/{OWN}/{log['screening_number']}", headers=h["coordinator"]
    ).json()["record"]["prior_therapies"]
    assert [(t["line_of_therapy"], t["best_response"], t["reason_stopped"]) for t in stored] == [
        (1, "PR", "progression"),
        (2, "unknown", None),
    ]


# --- 2. design page ---------------------------------------------------------------------------------------------


def test_design_page_keeps_a_bad_value_and_says_why_beside_it(web):
    td, client, h = web
    r = client.get("/ops/design?hr=abc&trials=500&seed=7", headers=h["statistician"])
    _refused(r, "hr", "abc", "Enter a number")
    assert _value(r.text, "trials") == "500" and _value(r.text, "seed") == "7"
    assert 'id="design-form-error"' in r.text and "Check the values marked below." in r.text
    assert "application/json" not in r.headers["content-type"] and "Closed form" not in r.text  # nothing simulated
    r = client.get("/ops/design?hr=9&seed=-1", headers=h["statistician"])
    _refused(r, "hr", "9", "Must be less than or equal to 5")  # the API's bounds: 0.05 < HR <= 5
    _refused(r, "seed", "-1", "Must be greater than or equal to 0")


# --- 3. analysis page: the confirmation boxes -------------------------------------------------------------------


@pytest.fixture
def analysed(td):
    from analysis_helpers import fill_database
    from trialdesk.domain.schedule import ScheduleSpec
    from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

    cut = dt.date(2028, 9, 30)
    fill_database(
        td,
        simulate_captured_data(
            np.random.default_rng(5), ScheduleSpec(), SimulationSettings(n_subjects=40, n_screened_extra=4)
        ),
    )
    td.clock = lambda: dt.datetime(2028, 10, 1, 12, tzinfo=dt.UTC)
    make_users(td)
    client = TestClient(create_app(td_app=td))
    h = {role: {"Authorization": f"Bearer {token_for(td, role + '1')}"} for role in ("statistician", "sponsor")}
    r = client.post(f"/api/v1/trials/{NCT}/analysis/runs", headers=h["statistician"], json={"cut_date": str(cut)})
    assert r.status_code == 201, r.text
    return client, h, r.json()["run_id"]


def test_an_unticked_confirmation_is_said_beside_its_box(analysed):
    client, h, run = analysed
    r = client.post(
        f"/ops/analysis/runs/{run}/approve",
        headers=h["sponsor"],
        data={"note": "DMC minutes 4"},
        follow_redirects=False,
    )
    _refused(r, f"approve-{run}-confirm", None, "Tick this box to confirm.")
    assert 'name="confirm"' in _tag(r.text, f"approve-{run}-confirm")  # the box itself
    assert _value(r.text, "note") == "DMC minutes 4"  # what was typed stays
    assert 'id="problems"' not in r.text and "<strong>confirm</strong>" not in r.text  # no bare field name above
    assert "Check the values marked below." in r.text
    r = client.post(f"/ops/analysis/runs/{run}/approve", headers=h["sponsor"], data={"confirm": "true"})
    assert r.status_code == 200  # followed to the page
    decision = {"kind": "early_stop", "decided_on": "2028-09-30", "reason": "DMC: efficacy bound crossed"}
    assert client.post("/ops/analysis/decisions", headers=h["sponsor"], data=decision).status_code == 200
    r = client.post(f"/ops/analysis/runs/{run}/post", headers=h["statistician"], data={}, follow_redirects=False)
    _refused(r, f"post-{run}-confirm", None, "Tick this box to confirm.")
    assert "<strong>confirm</strong>" not in r.text
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=h["statistician"], json={"run_id": run})
    assert r.status_code == 422  # the API still names the field
    assert r.json()["problems"][0]["field"] == "confirm"


# --- 4. e-signature ---------------------------------------------------------------------------------------------


def _login(client: TestClient, username: str) -> str:
    """Log in through the form (a session cookie); the session's CSRF token."""
    from trialdesk.entrypoints.web.auth import SESSION_COOKIE
    from trialdesk.services import accounts

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"username": username, "password": PASSWORD, "csrf_token": token, "next": ""}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    with client.app.state.td.uow() as uow:
        return accounts.authenticate_session(uow, client.cookies.get(SESSION_COOKIE), touch=False).csrf_token


def test_a_wrong_signing_password_comes_back_on_the_signature_tab(web):
    td, client, h = web
    csrf = _login(client, "investigator1")
    meaning = "I reviewed cycles 1-3 and approve them"
    data = {"meaning": meaning, "password": "not my password", "csrf_token": csrf}
    r = client.post(f"{SUBJECT}/signature", data=data, follow_redirects=False)
    _refused(r, "password", "", "Wrong password; the casebook was not signed.")
    assert _value(r.text, "meaning") == meaning and "not my password" not in r.text
    assert 'data-tab="signature" aria-current="page"' in r.text and 'id="sign-form"' in r.text
    assert client.get("/ops", follow_redirects=False).status_code == 200  # still logged in
    with td.uow() as uow:
        failed = uow.audit.query(action_prefix="casebook.sign_failed")
        user = uow.users.get("investigator1")
        assert len(failed) == 1 and "password did not match" in failed[0].reason
        assert user.failed_logins == 1  # counted like a failed login
    # five wrong passwords in a row lock the account (the login's threshold); the signer is told, not logged out
    for _ in range(4):
        r = client.post(f"{SUBJECT}/signature", data=data, follow_redirects=False)
    assert r.status_code == 422
    r = client.post(f"{SUBJECT}/signature", data={**data, "password": PASSWORD}, follow_redirects=False)
    _refused(r, "password", "", "Locked after repeated wrong passwords")
    assert _value(r.text, "meaning") == meaning
    assert client.get("/ops", follow_redirects=False).status_code == 200
    with td.uow() as uow:
        assert len(uow.audit.query(action_prefix="casebook.sign_failed")) == 6
        assert uow.users.get("investigator1").locked_until
    assert (
        client.get(f"/api/v1/trials/{NCT}/subjects/HUN-0001/signature", headers=h["investigator"]).json()["status"]
        == "unsigned"
    )


# --- 5. password form -------------------------------------------------------------------------------------------


def test_password_form_says_each_refusal_beside_its_field(web):
    td, client, h = web
    csrf = _login(client, "coordinator1")

    def change(current: str, new: str, confirm: str):
        data = {"current": current, "new": new, "confirm": confirm, "csrf_token": csrf}
        return client.post("/account/password", data=data, follow_redirects=False)

    r = change("wrong password here", "a fresh long passphrase", "a fresh long passphrase")
    _refused(r, "current", "", "The current password is wrong.")
    assert "err-new" not in r.text and "err-confirm" not in r.text
    r = change(PASSWORD, "short", "shorter")  # both faults of the new password said at once
    _refused(r, "new", "", "At least 12 characters.")
    _refused(r, "confirm", "", "The two new passwords differ.")
    r = change(PASSWORD, "password1234!", "password1234!")
    _refused(r, "new", "", "A commonly used password; choose another.")
    r = change(PASSWORD, PASSWORD, PASSWORD)  # reused: the current one
    _refused(r, "new", "", "Must differ from the current password.")
    for page in (r.text,):
        assert PASSWORD not in page and "password1234!" not in page  # no password is ever sent back
        for name in ("current", "new", "confirm"):
            assert "value=" not in _tag(page, name)
    assert 'id="password-error"' in r.text and "Check the values marked below." in r.text
    assert change(PASSWORD, "a fresh long passphrase", "a fresh long passphrase").status_code == 303


def test_the_new_messages_in_chinese(web):
    """A Chinese reader gets the messages and the new codes in Chinese (the standard clinical terms)."""
    td, client, h = web
    csrf = _login(client, "coordinator1")
    assert client.get("/ops?lang=zh-Hans").status_code == 200  # the choice is kept in a cookie
    data = {"current": PASSWORD, "new": "a fresh long passphrase", "confirm": "another long passphrase"}
    r = client.post("/account/password", data={**data, "csrf_token": csrf}, follow_redirects=False)
    _refused(r, "confirm", "", "两次输入的新密码不一致。")
    page = client.get(f"/ops/sites/{OWN}/screen")
    assert "疾病进展" in page.text and "最佳疗效" in page.text and "停止治疗原因" in page.text
    form = {"patient_ref": "P-89", "screened_on": "2026-01-03", "csrf_token": csrf}
    form |= _therapy(0, drug_class="endocrine", agent="letrozole", setting="adjuvant", line_of_therapy="0")
    r = client.post(f"/ops/sites/{OWN}/screen", data=form, follow_redirects=False)
    _refused(r, "prior_therapies.0.line_of_therapy", "0", "一线治疗为 1")


# --- 6. subject page forms: the use case's messages name fields by their labels --------------------------------


def _top(page: str, form: str) -> str:
    found = re.search(rf'<p class="flash bad" id="{re.escape(form)}-error" role="alert">([^<]*)</p>', page)
    assert found, f"no message above {form!r}"
    return html.unescape(found.group(1))


def test_subject_page_forms_name_fields_by_their_labels(web):
    td, client, h = web
    data = {"kind": "end_of_study", "event_date": "2026-02-20", "reason": "withdrew", "eot_visit_date": "2026-02-21"}
    r = client.post(f"{SUBJECT}/dispositions", data=data, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "eot_visit_date", "2026-02-21", "only an “End of treatment” event has an EOT visit")
    top = _top(r.text, "disposition-form")
    assert top == "EOT visit date (end of treatment only): only an “End of treatment” event has an EOT visit", top
    assert "details.eot_visit_date" not in r.text and "end_of_treatment event" not in r.text  # no record paths
    data = {"kind": "death", "event_date": "2026-02-20", "reason": ""}
    r = client.post(f"{SUBJECT}/dispositions", data=data, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "reason", "", "the cause of death is required")
    assert _top(r.text, "disposition-form") == "Reason / cause of death / therapy: the cause of death is required"
    data = {"kind": "end_of_treatment", "event_date": "2025-12-20", "reason": "toxicity"}
    r = client.post(f"{SUBJECT}/dispositions", data=data, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "event_date", "2025-12-20", "before randomization")
    top = _top(r.text, "disposition-form")
    assert top.startswith("Date (of the event, death, or therapy start): 2025-12-20 is before randomization"), top


def test_subject_page_form_labels_in_chinese(web):
    td, client, h = web
    csrf = _login(client, "coordinator1")
    assert client.get("/ops?lang=zh-Hans").status_code == 200
    data = {"kind": "death", "event_date": "2026-02-20", "reason": "", "csrf_token": csrf}
    r = client.post(f"{SUBJECT}/dispositions", data=data, follow_redirects=False)
    assert r.status_code == 422
    assert _top(r.text, "disposition-form").startswith("原因 / 死因 / 治疗：")  # the label, the language's colon
