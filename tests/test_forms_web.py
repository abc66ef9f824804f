"""Every operations form that fails validation comes back (422) with what was typed and the message beside the field.

Over HTTP (the Chromium cases are in ``test_forms_browser.py``), on SQLite and PostgreSQL: for each form on the
subject page (adverse event, tumour assessment, raise/answer a query, signature, disposition, dose correction), the
dose plan and dose record forms, the site status form, the screening form (prior therapy rows included), the
randomize confirmation, the analysis run and trial decision forms and the password form, a bad value is answered
with status 422, the typed value in the returned input, the message in ``<p class="field-error" id="err-<field>">``
that the input names with ``aria-describedby``, and nothing stored. Messages are in words (no pydantic wording, no
record paths; in Chinese for a Chinese reader). Values carried forward: the screening weight and height to cycle 1,
the last dose's weight to later cycles, the screening's lesions to the RECIST baseline and each lesion's last value
to follow-ups. Forms are posted with a bearer token (no CSRF token needed).
"""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, OWN, make_users, token_for
from capture_helpers import THP_RELATIONSHIP, Clock, add_subject, load_ctcae
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

SUBJECT = "/ops/subjects/HUN-0001"
API = f"/api/v1/trials/{NCT}/subjects/HUN-0001"


@pytest.fixture
def web(db_url):
    td = bootstrap(db_url)
    td.clock = Clock()
    make_users(td)
    add_subject(td, "HUN-0001")
    client = TestClient(create_app(td_app=td))
    tokens = {
        role: {"Authorization": f"Bearer {token_for(td, role + '1')}"}
        for role in ("coordinator", "monitor", "investigator", "admin", "statistician")
    }
    yield td, client, tokens
    td.dispose()


def _tag(page: str, name: str) -> str:
    """The input, select or textarea named ``name`` (its opening tag; a textarea with its text)."""
    found = re.search(rf'<(input|select|textarea)\b[^>]*\bname="{re.escape(name)}"[^>]*>(?:[^<]*</textarea>)?', page)
    assert found, f"no input {name!r}"
    return found.group(0)


def _value(page: str, name: str) -> str:
    tag = _tag(page, name)
    if tag.startswith("<textarea"):
        return html.unescape(tag[tag.index(">") + 1 : tag.rindex("</textarea>")])
    if tag.startswith("<select"):
        select = page[page.index(tag) :]
        select = select[: select.index("</select>")]
        chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)', select)
        return html.unescape(
            chosen.group(1) if chosen and chosen.group(1) is not None else chosen.group(2) if chosen else ""
        )
    found = re.search(r'\bvalue="([^"]*)"', tag)
    return html.unescape(found.group(1)) if found else ""


def _error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]*)</p>', page)
    assert found, f"no message beside {name!r}"
    return html.unescape(found.group(1))


def _refused(r, name: str, typed: str | None, message: str) -> None:
    """422, ``typed`` kept in input ``name``, ``message`` beside it, and the input pointing at its message."""
    assert r.status_code == 422, r.text[:500]
    assert message in _error(r.text, name), _error(r.text, name)
    tag = _tag(r.text, name)
    assert f'aria-describedby="err-{name}"' in tag and 'aria-invalid="true"' in tag, tag
    if typed is not None:
        assert _value(r.text, name) == typed


def _count(td, repo: str) -> int:
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        return len(getattr(uow, repo).for_subject(subject.id))


def test_adverse_event_form(web, shared_dir):
    td, client, h = web
    load_ctcae(td, shared_dir)
    form = {
        "term": "Nausea",
        "grade": "2",
        "onset_date": "2026-02-10",
        "resolution_date": "2026-02-01",
        "outcome": "recovered",
        **{f"rel_{d}": r for d, r in THP_RELATIONSHIP.items()},
    }
    r = client.post(f"{SUBJECT}/adverse-events", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "resolution_date", "2026-02-01", "before the onset date 2026-02-10")
    for name in ("term", "onset_date", "grade", "outcome", "rel_docetaxel", "rel_pertuzumab"):
        assert _value(r.text, name) == form[name], name
    assert 'id="ae-form-error"' in r.text and _count(td, "adverse_events") == 0
    # the command model: a grade CTCAE does not have, a date that is no date
    r = client.post(
        f"{SUBJECT}/adverse-events",
        data={**form, "grade": "7", "onset_date": "10/02/2026"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "grade", None, "less than or equal to 5")
    _refused(r, "onset_date", "10/02/2026", "valid date")
    # a study drug's relationship left out: beside that drug's select
    r = client.post(
        f"{SUBJECT}/adverse-events",
        data={**form, "resolution_date": "", "rel_docetaxel": ""},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "rel_docetaxel", "", "relationship to docetaxel")
    assert _count(td, "adverse_events") == 0
    r = client.post(
        f"{SUBJECT}/adverse-events",
        data={**form, "resolution_date": "2026-02-20"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    assert r.status_code == 303 and _count(td, "adverse_events") == 1


def test_tumour_assessment_form(web):
    td, client, h = web
    form = {
        "assessment_date": "",
        "baseline": "on",
        "l0_id": "T1",
        "l0_kind": "target",
        "l0_organ": "liver",
        "l0_value": "24",
        "l1_id": "T2",
        "l1_kind": "target",
        "l1_organ": "lung",
        "l1_value": "-3",
    }
    r = client.post(f"{SUBJECT}/tumor-assessments", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "assessment_date", "", "Required")
    assert _value(r.text, "l0_organ") == "liver" and _value(r.text, "l1_value") == "-3"
    assert 'name="baseline" checked' in r.text
    # the second row's measurement is refused by the use case: beside that row's value
    r = client.post(
        f"{SUBJECT}/tumor-assessments",
        data={**form, "assessment_date": "2025-12-28"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "l1_value", "-3", "")
    assert _value(r.text, "assessment_date") == "2025-12-28" and _count(td, "tumor_assessments") == 0
    r = client.post(
        f"{SUBJECT}/tumor-assessments",
        data={"assessment_date": "2025-12-28", "lesions_json": "[{"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "lesions_json", "[{", "not valid JSON")
    r = client.post(
        f"{SUBJECT}/tumor-assessments",
        data={**form, "assessment_date": "2025-12-28", "l1_value": "13"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    assert r.status_code == 303 and _count(td, "tumor_assessments") == 1


def test_query_forms(web):
    td, client, h = web
    r = client.post(
        f"{SUBJECT}/queries",
        data={"entity_type": "subject", "field": "height_cm", "message": " "},
        headers=h["monitor"],
        follow_redirects=False,
    )
    _refused(r, "message", " ", "Required")
    assert _value(r.text, "field") == "height_cm" and 'id="query-raise-form"' in r.text
    raised = client.post(
        f"{API}/queries",
        json={"entity_id": "HUN-0001", "field": "height_cm", "message": "Please confirm"},
        headers=h["monitor"],
    )
    assert raised.status_code == 201
    query_id = raised.json()["id"]
    r = client.post(
        f"/ops/queries/{query_id}/answer", data={"text": ""}, headers=h["coordinator"], follow_redirects=False
    )
    _refused(r, "text", "", "Required")
    assert f'id="query-{query_id}-answer-error"' in r.text
    # closing an unanswered query needs a note: the use case's message, beside the note
    r = client.post(f"/ops/queries/{query_id}/close", data={"text": ""}, headers=h["monitor"], follow_redirects=False)
    _refused(r, "text", "", "needs a note")
    r = client.post(
        f"/ops/queries/{query_id}/answer",
        data={"text": "measured again: 160"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_signature_form_keeps_the_meaning_not_the_password(web):
    td, client, h = web
    r = client.post(
        f"{SUBJECT}/signature",
        data={"meaning": "I reviewed it", "password": ""},
        headers=h["investigator"],
        follow_redirects=False,
    )
    _refused(r, "password", "", "Required")
    assert _value(r.text, "meaning") == "I reviewed it"


def test_disposition_and_dose_correction_forms(web):
    td, client, h = web
    r = client.post(
        f"{SUBJECT}/dispositions",
        data={"kind": "death", "event_date": "2026-02-20", "reason": ""},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "reason", "", "cause of death is required")
    assert _value(r.text, "kind") == "death" and _value(r.text, "event_date") == "2026-02-20"
    r = client.post(
        f"{SUBJECT}/dispositions",
        data={"kind": "end_of_study", "event_date": "2026-02-20", "reason": "withdrew", "eot_visit_date": "2026-02-21"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "eot_visit_date", "2026-02-21", "only an “End of treatment” event")
    r = client.post(
        f"{SUBJECT}/dispositions",
        data={"kind": "end_of_study", "event_date": "yesterday", "reason": "withdrew"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "event_date", "yesterday", "valid date")
    assert _count(td, "dispositions") == 0

    dose = client.post(
        f"{API}/doses",
        json={
            "drug": "docetaxel",
            "cycle": 1,
            "dose_date": "2026-01-06",
            "actual_mg": 122.5,
            "weight_kg": 60,
            "height_cm": 160,
        },
        headers=h["coordinator"],
    )
    assert dose.status_code == 201, dose.text
    edit = {"dose_id": str(dose.json()["id"]), "field": "actual_mg", "value": "120", "reason": ""}
    r = client.post(f"{SUBJECT}/doses/edit", data=edit, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "reason", "", "Required")
    assert _value(r.text, "value") == "120" and _value(r.text, "field") == "actual_mg"
    r = client.post(
        f"{SUBJECT}/doses/edit",
        data={**edit, "value": "lots", "reason": "typo"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "value", "lots", "")
    r = client.post(
        f"{SUBJECT}/doses/edit", data={**edit, "reason": "typo"}, headers=h["coordinator"], follow_redirects=False
    )
    assert r.status_code == 303


def test_site_status_form(web):
    td, client, h = web
    r = client.post(
        f"/ops/sites/{OWN}/status",
        data={"status": "SUSPENDED", "reason": ""},
        headers=h["admin"],
        follow_redirects=False,
    )
    _refused(r, "reason", "", "Required")
    assert _value(r.text, "status") == "SUSPENDED"
    r = client.post(
        f"/ops/sites/{OWN}/status",
        data={"status": "OPEN", "reason": "why not"},
        headers=h["admin"],
        follow_redirects=False,
    )
    _refused(r, "status", "", "unknown status")
    assert _value(r.text, "reason") == "why not"


def test_screening_form_names_each_field(web):
    td, client, h = web
    r = client.post(
        f"/ops/sites/{OWN}/screen",
        data={"patient_ref": "", "screened_on": "2026-02-30", "labs.anc.value": "lots"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "labs.anc.value", "lots", "Enter a number")
    # the list above the form names the field by its label, linked to the input, never by its record path
    summary = r.text[r.text.index('id="screening-errors"') : r.text.index('id="screening-form"')]
    assert '<a href="#f-labs.anc.value">ANC</a>: Enter a number' in summary
    assert "record." not in re.sub(r"<[^>]*>", "", summary)  # the text people read has no record path
    r = client.post(
        f"/ops/sites/{OWN}/screen",
        data={"patient_ref": "", "screened_on": "2026-02-30", "labs.anc.value": "1200"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "patient_ref", "", "Required")
    _refused(r, "screened_on", "2026-02-30", "valid date")
    assert _value(r.text, "labs.anc.value") == "1200"
    # a consent after today (the clock: 2026-03-02) and a screening before the consent: the use case's messages
    # name the fields by their labels
    r = client.post(
        f"/ops/sites/{OWN}/screen",
        data={"patient_ref": "P-9", "screened_on": "2026-01-10", "consent_date": "2026-04-01"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "consent_date", "2026-04-01", "in the future")
    _refused(r, "screened_on", "2026-01-10", "before “Informed consent signed” 2026-04-01")
    assert "consent_date" not in _error(r.text, "screened_on")


def _therapy(k: int, **fields: str) -> dict[str, str]:
    return {f"prior_therapies.{k}.{name}": value for name, value in fields.items()}


def test_screening_prior_therapies_are_rows_checked_against_the_timeline(web):
    """Prior therapies are entered row by row (no JSON): a row's class, agents and setting are required, its start
    is before its end and neither is after the screening date; each message is beside that row's input."""
    td, client, h = web
    log = f"/api/v1/trials/{NCT}/screenings"
    n_before = len(client.get(log, headers=h["coordinator"]).json())
    base = {"patient_ref": "P-77", "screened_on": "2026-01-03"}
    form = {
        **base,
        **_therapy(
            0,
            drug_class="anthracycline",
            agent="Epirubicin",
            setting="adjuvant",
            start_date="2024-03-01",
            end_date="2024-02-01",
            cumulative_dose_mg_m2="360",
        ),
        **_therapy(
            1, drug_class="", agent="letrozole", setting="adjuvant", start_date="2024-06-01", end_date="2026-02-01"
        ),
        **_therapy(
            2,
            drug_class="endocrine",
            agent="tamoxifen",
            setting="metastatic",
            start_date="2025-13-01",
            cumulative_dose_mg_m2="lots",
        ),
    }
    r = client.post(f"/ops/sites/{OWN}/screen", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "prior_therapies.0.end_date", "2024-02-01", "Before the start 2024-03-01")
    _refused(r, "prior_therapies.1.drug_class", "", "Required for prior therapy 2")
    _refused(r, "prior_therapies.1.end_date", "2026-02-01", "After the screening date 2026-01-03")
    _refused(r, "prior_therapies.2.start_date", "2025-13-01", "valid date")
    _refused(r, "prior_therapies.2.cumulative_dose_mg_m2", "lots", "Enter a number")
    assert _value(r.text, "prior_therapies.0.agent") == "Epirubicin"
    assert _value(r.text, "prior_therapies.0.drug_class") == "anthracycline"
    assert _value(r.text, "prior_therapies.2.setting") == "metastatic"
    assert "Prior therapy 1: End" in r.text  # the summary names the row and the column
    assert len(client.get(log, headers=h["coordinator"]).json()) == n_before
    # "More rows" gives three more empty rows and stores nothing
    r = client.post(
        f"/ops/sites/{OWN}/screen", data={**form, "more_rows": "1"}, headers=h["coordinator"], follow_redirects=False
    )
    assert r.status_code == 200 and 'name="prior_therapies.5.agent"' in r.text
    assert 'name="prior_therapies.6.agent"' not in r.text and _value(r.text, "prior_therapies.0.agent") == "Epirubicin"
    # fixed: stored as the record's prior_therapies, the same shape the JSON gave
    fixed = {
        **base,
        "prior_rows": "6",
        **_therapy(
            0,
            drug_class="anthracycline",
            agent="Epirubicin",
            setting="adjuvant",
            start_date="2023-09-01",
            end_date="2024-02-01",
            cumulative_dose_mg_m2="360",
        ),
        **_therapy(
            4, drug_class="endocrine", agent="letrozole", setting="adjuvant", start_date="2024-03-01", ongoing="yes"
        ),
    }
    r = client.post(f"/ops/sites/{OWN}/screen", data=fixed, headers=h["coordinator"], follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    row = client.get(log, headers=h["coordinator"]).json()[-1]
    assert row["patient_ref"] == "P-77"
    stored = client.get(
        f"/api/v1/trials/{NCT}/screenings/{OWN}/{row['screening_number']}", headers=h["coordinator"]
    ).json()["record"]["prior_therapies"]
    assert stored == [
        {
            "drug_class": "anthracycline",
            "agent": "epirubicin",
            "setting": "adjuvant",
            "start_date": "2023-09-01",
            "end_date": "2024-02-01",
            "ongoing": False,
            "cumulative_dose_mg_m2": 360.0,
            "line_of_therapy": None,
            "best_response": None,
            "reason_stopped": None,
        },
        {
            "drug_class": "endocrine",
            "agent": "letrozole",
            "setting": "adjuvant",
            "start_date": "2024-03-01",
            "end_date": None,
            "ongoing": True,
            "cumulative_dose_mg_m2": None,
            "line_of_therapy": None,
            "best_response": None,
            "reason_stopped": None,
        },
    ]


def test_analysis_run_form(web):
    td, client, h = web
    r = client.post(
        "/ops/analysis/runs",
        data={"cut_date": "31/12/2028", "ties": "breslow"},
        headers=h["statistician"],
        follow_redirects=False,
    )
    _refused(r, "cut_date", "31/12/2028", "valid date")
    assert _value(r.text, "ties") == "breslow"


def test_randomize_confirmation_form(sqlite_url, tmp_path, monkeypatch):
    from randomization_db_helpers import ALL_STRATA, SEED, add_subjects, setup_list
    from trialdesk.adapters.randomization_secret import SeedStore

    monkeypatch.setenv("TRIALDESK_RANDOMIZATION_DIR", str(tmp_path / "secrets"))
    SeedStore(tmp_path / "secrets").save(NCT, SEED)
    td = bootstrap(sqlite_url)
    make_users(td)
    setup_list(td)
    [number] = add_subjects(td, [ALL_STRATA[0]])
    client = TestClient(create_app(td_app=td), headers={"Authorization": f"Bearer {token_for(td, 'coordinator1')}"})
    r = client.post(
        f"/ops/subjects/{number}/randomize",
        data={"randomized_on": "2026-13-01", "client_key": "k-1"},
        follow_redirects=False,
    )
    _refused(r, "confirm", None, "Tick the confirmation box")
    _refused(r, "randomized_on", "2026-13-01", "valid date")
    assert 'id="randomize-error"' in r.text and 'name="client_key" value="k-1"' in r.text
    with td.uow() as uow:
        assert uow.allocations.for_subject(uow.subjects.get(uow.trials.get(NCT).id, number).id) is None
    td.dispose()


def _screening_vitals(td, number: str, vitals: dict) -> None:
    """The subject's screening record with ``vitals`` (the helper's screening records only the consent)."""
    _screening_record(td, number, {"consent_date": "2025-12-20", "vitals": vitals})


def _screening_record(td, number: str, record: dict) -> None:
    import json

    from sqlalchemy import update

    from trialdesk.adapters.db.tables import ScreeningRow

    with td.uow("setup") as uow:
        uow.session.execute(
            update(ScreeningRow)
            .where(ScreeningRow.screening_number == f"S-{number}")
            .values(record_json=json.dumps(record))
        )
        uow.commit()


def test_weight_and_height_are_carried_forward_to_the_dose_forms(web):
    """Cycle 1 starts from the screening weight and height, saying so; later cycles from the last recorded dose's
    weight. Both stay editable (a re-weighed patient's weight is typed over)."""
    td, client, h = web
    _screening_vitals(td, "HUN-0001", {"weight_kg": 58.5, "height_cm": 162})
    page = client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text
    assert _value(page, "weight_kg") == "58.5" and _value(page, "height_cm") == "162"
    assert "58.5 kg from screening, 20 Dec 2025; change it if re-weighed" in page  # the screening was on 2025-12-20
    # the protocol's threshold (operations.treatment.weight_change_threshold: 0.10)
    assert "re-calculated when the weight changes by 10% or more from the weight last used" in page
    new = client.get(f"{SUBJECT}/doses/new?cycle=1", headers=h["coordinator"])
    assert new.status_code == 200
    assert _value(new.text, "weight_kg") == "58.5" and _value(new.text, "height_cm") == "162"
    assert "from screening, 20 Dec 2025" in new.text
    # the plan from the carried values: Mosteller BSA sqrt(162 x 58.5 / 3600) = 1.6225 m2
    plan = client.get(
        f"{SUBJECT}/doses/new",
        params={"cycle": "1", "weight_kg": "58.5", "height_cm": "162", "dose_date": "2026-01-06"},
        headers=h["coordinator"],
    )
    assert plan.status_code == 200 and 'id="bsa">1.62' in plan.text, plan.text[plan.text.find('id="bsa"') - 20 :][:200]
    dose = client.post(
        f"{API}/doses",
        json={
            "drug": "docetaxel",
            "cycle": 1,
            "dose_date": "2026-01-06",
            "actual_mg": 122.5,
            "weight_kg": 60,
            "height_cm": 162,
        },
        headers=h["coordinator"],
    )
    assert dose.status_code == 201, dose.text
    page = client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text
    assert _value(page, "weight_kg") == "60" and "60 kg from cycle 1, 6 Jan 2026" in page


def test_baseline_lesions_are_carried_from_screening_and_follow_ups_show_the_last_value(web):
    """Before any baseline, the tumour form is pre-filled from the screening's lesions: measurable ones (RECIST 1.1
    3.2: 10 mm or more, a node 15 mm short axis) as targets, the others non-target; follow-ups list the baseline
    lesions with their last value. A new lesion typed 'present' is refused with the values a new lesion takes."""
    td, client, h = web
    lesions = [
        {"organ": "liver", "longest_diameter_mm": 24, "method": "ct"},
        {"organ": "lymph_node", "longest_diameter_mm": 25, "short_axis_mm": 18, "method": "ct"},
        {"organ": "lung", "longest_diameter_mm": 8, "method": "ct"},  # under 10 mm: not measurable
    ]
    _screening_record(td, "HUN-0001", {"consent_date": "2025-12-20", "lesions": lesions})
    page = client.get(f"{SUBJECT}?tab=tumour", headers=h["coordinator"]).text
    assert 'id="tumor-screening-hint"' in page and "20 Dec 2025" in page
    expected = [
        ("T1", "target", "liver", "24"),
        ("T2", "target", "lymph_node", "18"),
        ("NT1", "non_target", "lung", "present"),
    ]
    for i, (lesion_id, kind, organ, value) in enumerate(expected):
        assert (_value(page, f"l{i}_id"), _value(page, f"l{i}_kind")) == (lesion_id, kind)
        assert (_value(page, f"l{i}_organ"), _value(page, f"l{i}_value")) == (organ, value)
    assert 'name="l1_nodal" aria-label="lesion 2 is a node" checked' in page
    assert 'name="baseline" checked' in page and _value(page, "l3_id") == ""
    form = {"assessment_date": "2025-12-28", "baseline": "on"}
    for i, (lesion_id, kind, organ, value) in enumerate(expected):
        form |= {f"l{i}_id": lesion_id, f"l{i}_kind": kind, f"l{i}_organ": organ, f"l{i}_value": value}
    form["l1_nodal"] = "on"
    r = client.post(f"{SUBJECT}/tumor-assessments", data=form, headers=h["coordinator"], follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    page = client.get(f"{SUBJECT}?tab=tumour", headers=h["coordinator"]).text
    assert 'id="tumor-screening-hint"' not in page and 'id="tumor-baseline-hint"' in page
    assert '<small class="last-value" id="last-T1">last: 24</small>' in page
    assert '<small class="last-value" id="last-NT1">last: Present</small>' in page
    follow = {
        "assessment_date": "2026-02-20",
        "l0_id": "T1",
        "l0_kind": "target",
        "l0_value": "20",
        "l1_id": "T2",
        "l1_kind": "target",
        "l1_nodal": "on",
        "l1_value": "12",
        "l2_id": "NT1",
        "l2_kind": "non_target",
        "l2_value": "present",
        "l3_id": "N1",
        "l3_kind": "new",
        "l3_organ": "bone",
        "l3_value": "present",
    }
    r = client.post(f"{SUBJECT}/tumor-assessments", data=follow, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "l3_value", "present", "Choose one of: unequivocal or equivocal")
    assert _value(r.text, "l0_value") == "20" and _value(r.text, "l3_organ") == "bone"


def test_dose_plan_and_dose_record_forms(web):
    """The dose page's step 1 (GET) and step 2 (POST): bad values come back 422 on the dose page with what was
    typed and the message beside the field, in words (no pydantic wording)."""
    td, client, h = web
    r = client.get(
        f"{SUBJECT}/doses/new",
        params={"cycle": "first", "weight_kg": "-3", "dose_date": "2026-01-06"},
        headers=h["coordinator"],
    )
    _refused(r, "cycle", "first", "Enter a whole number")
    _refused(r, "weight_kg", "-3", "Must be greater than 0")
    assert "Input should be" not in r.text and _value(r.text, "dose_date") == "2026-01-06"
    form = {
        "cycle": "1",
        "dose_date": "2026-01-06",
        "weight_kg": "60",
        "height_cm": "160",
        "drugs": "docetaxel,trastuzumab",
        "give__docetaxel": "yes",
        "actual_mg__docetaxel": "lots",
        "give__trastuzumab": "yes",
        "actual_mg__trastuzumab": "480",
    }
    r = client.post(f"{SUBJECT}/doses", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "actual_mg__docetaxel", "lots", "Enter a number")
    assert _value(r.text, "actual_mg__trastuzumab") == "480"
    assert 'id="dose-error">Check the values marked below.' in r.text and _count(td, "doses") == 0
    # the use case's timeline: a dose after today (the clock: 2026-03-02), before randomization (2026-01-05)
    form |= {"actual_mg__docetaxel": "122.5", "dose_date": "2026-04-01"}
    r = client.post(f"{SUBJECT}/doses", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "dose_date", None, "in the future")
    assert "dose_date:" not in r.text and _value(r.text, "actual_mg__docetaxel") == "122.5"
    form["dose_date"] = "2025-12-01"
    r = client.post(f"{SUBJECT}/doses", data=form, headers=h["coordinator"], follow_redirects=False)
    _refused(r, "dose_date", None, "before randomization")
    assert _count(td, "doses") == 0


def test_password_form_comes_back_on_its_page(web):
    td, client, h = web
    r = client.post(
        "/account/password",
        data={"current": "x", "new": "a-long-password-1", "confirm": "a-long-password-2"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'id="password-error"' in r.text and "differ" in r.text
    assert 'name="confirm" type="password"' in r.text and 'aria-describedby="err-confirm"' in r.text


def test_trial_decision_form(web):
    td, client, h = web
    r = client.post(
        "/ops/analysis/decisions",
        data={"kind": "early_stop", "decided_on": "2026-02-01", "reason": ""},
        headers=h["statistician"],
        follow_redirects=False,
    )
    _refused(r, "reason", "", "Required")
    assert _value(r.text, "kind") == "early_stop" and _value(r.text, "decided_on") == "2026-02-01"


def test_a_form_in_chinese_names_the_field_and_the_problem_in_chinese(web):
    """The messages are marked strings: in zh-Hans the screening form's number message is Chinese, beside the
    input, and the list above names the field by its Chinese label."""
    td, client, h = web
    client.cookies.set("td_lang", "zh-Hans")
    r = client.post(
        f"/ops/sites/{OWN}/screen",
        data={"patient_ref": "P-zh", "screened_on": "2026-01-10", "vitals.weight_kg": "六十"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    _refused(r, "vitals.weight_kg", "六十", "请输入数字（例如 12.5）。")
    assert '<a href="#f-vitals.weight_kg">体重（kg）</a>' in r.text
    client.cookies.clear()


def test_a_use_cases_pydantic_wording_is_shown_in_words():
    """A use case that passes pydantic's English on (its :class:`InvalidInput` keeps the text, not the type): the
    form shows the marked message it stands for, and the field by its input."""
    from trialdesk.domain.errors import InvalidInput, Problem
    from trialdesk.entrypoints.web.forms import service_errors

    exc = InvalidInput(
        [
            Problem("lesions.2.status", "Input should be 'unequivocal' or 'equivocal'"),
            Problem("lesions.0.measurement", "Input should be greater than 0"),
            Problem("assessment_date", "Field required"),
            Problem("reason", "String should have at most 2000 characters"),
            Problem("kind", "Value error, cause of death is required"),
        ]
    )
    assert service_errors(exc) == {
        "lesions.2.status": "Choose one of: unequivocal or equivocal.",
        "lesions.0.measurement": "Must be greater than 0.",
        "assessment_date": "Required.",
        "reason": "Too long: at most 2000 characters.",
        "kind": "cause of death is required",
    }
