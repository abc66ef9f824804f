"""The CTCAE v5.0 dictionary shipped with the package (``trialdesk/data/ctcae-v5.0.json``).

Facts checked against NCI's workbook ``CTCAE_v5.0_2017-11-27.xlsx`` (read independently here with openpyxl):
837 terms; 'Neutrophil count decreased' is MedDRA 10029366 (Investigations) with grades 1-4 only (grade 3
"<1000 - 500/mm3"); 'Nausea' 10028813 grades 1-3; 'Death NOS' 10011914 grade 5 only. A fresh install (no
``$TRIALDESK_CTCAE_XLSX``, no workbook anywhere) codes adverse events with it; ``ctcae load`` of a workbook swaps
it, versioned by the workbook's SHA-256 and audited, and is refused when it would orphan a recorded AE.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest

from access_helpers import NCT
from capture_helpers import THP_RELATIONSHIP, WORKBOOK, Clock, add_subject, principals
from trialdesk.adapters.ctcae_json import derive_ctcae_json, read_ctcae_json, shipped_ctcae
from trialdesk.adapters.ctcae_xlsx import CtcaeWorkbookError
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.errors import Conflict
from trialdesk.services import adverse_events as ae
from trialdesk.services import ctcae
from trialdesk.services.commands import RecordAdverseEvent

SHIPPED = resources.files("trialdesk").joinpath("data", "ctcae-v5.0.json")


def _nci_rows(path) -> list[dict]:
    """NCI's workbook, row by row, keyed by its own column headers (non-breaking spaces stripped)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    header = [str(h or "").replace("\xa0", " ").strip() for h in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:] if any(v not in (None, "") for v in r)]


def _nci_text(value) -> str | None:
    text = " ".join(str(value or "").replace("\xa0", " ").split())
    return None if text in ("", "-") else text


@pytest.fixture
def no_workbook(monkeypatch):
    """A fresh install: no $TRIALDESK_CTCAE_XLSX, and reading any workbook fails (as with no ../shared)."""
    monkeypatch.delenv("TRIALDESK_CTCAE_XLSX", raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a fresh install must not need NCI's workbook")

    monkeypatch.setattr("trialdesk.adapters.ctcae_xlsx.read_ctcae_workbook", refuse)
    monkeypatch.setattr("trialdesk.adapters.ctcae_json.read_ctcae_workbook", refuse)


def _record(td, principal, subject="HUN-0001", **values):
    body = {"onset_date": "2026-01-20", "relationship": THP_RELATIONSHIP, **values}
    with td.uow(principal.username) as uow:
        out = ae.record_adverse_event(uow, principal, NCT, subject, RecordAdverseEvent.model_validate(body))
        uow.commit()
    return out


def _ctcae_events(td) -> list:
    with td.uow() as uow:
        return uow.audit.query(entity_type="ctcae")


# --- the shipped file ----------------------------------------------------------------------------------------------


def test_shipped_json_agrees_with_nci_workbook_term_for_term(shared_dir):
    path = shared_dir / WORKBOOK
    nci = _nci_rows(path)
    document = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert len(nci) == 837 == document["count"] == len(document["terms"])
    assert document["version"] == "5.0" and document["source"]["published"] == "2017-11-27"
    assert document["source"]["file"] == "CTCAE_v5.0_2017-11-27.xlsx"
    assert document["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert document["source"]["url"].startswith("https://ctep.cancer.gov/")
    assert "public domain" in document["source"]["licence"].casefold()
    # every term, in NCI's order: code, SOC, name, the five grades, definition and navigational note
    for row, term in zip(nci, document["terms"], strict=True):
        assert term["meddra_code"] == int(row["MedDRA Code"])
        assert term["term"] == _nci_text(row["CTCAE Term"])
        assert term["soc"] == _nci_text(row["MedDRA SOC"])
        assert term["grades"] == {str(g): _nci_text(row[f"Grade {g}"]) for g in range(1, 6)}
        assert term["definition"] == _nci_text(row["Definition"])
        assert term["navigational_note"] == _nci_text(row["Navigational Note"])
    by_name = {t["term"]: t for t in document["terms"]}
    neutrophils = by_name["Neutrophil count decreased"]
    assert neutrophils["meddra_code"] == 10029366 and neutrophils["soc"] == "Investigations"
    assert neutrophils["grades"]["3"] == "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L" and neutrophils["grades"]["5"] is None
    assert [g for g, text in by_name["Death NOS"]["grades"].items() if text] == ["5"]


def test_derive_reproduces_the_shipped_file_byte_for_byte(shared_dir, tmp_path):
    out = tmp_path / "ctcae.json"
    header = derive_ctcae_json(shared_dir / WORKBOOK, out)
    assert header["count"] == 837
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_shipped_reader_refuses_a_damaged_file():
    document = json.loads(SHIPPED.read_text(encoding="utf-8"))
    with pytest.raises(CtcaeWorkbookError, match="not a trialdesk CTCAE dictionary"):
        read_ctcae_json(json.dumps({"terms": []}))
    document["terms"][0]["grades"] = {"1": None, "2": None, "3": None, "4": None, "5": None}
    with pytest.raises(CtcaeWorkbookError, match=r"terms\[0\]"):
        read_ctcae_json(json.dumps(document))
    document["terms"] = document["terms"][1:2]
    with pytest.raises(CtcaeWorkbookError, match="1 terms, the header says 837"):
        read_ctcae_json(json.dumps(document))


# --- a fresh install -----------------------------------------------------------------------------------------------


def test_fresh_install_codes_neutrophil_count_decreased_without_a_workbook(db_url, no_workbook, caplog):
    from trialdesk.bootstrap import bootstrap

    with caplog.at_level("INFO", logger="trialdesk.ctcae"):
        td = bootstrap(db_url)
    try:
        assert "CTCAE v5.0 loaded: 837 terms" in caplog.text
        td.clock = Clock()
        add_subject(td, "HUN-0001")
        users = principals()
        out = _record(td, users[Role.COORDINATOR], term="Neutrophil count decreased", grade=3)
        assert (out["term"], out["meddra_code"], out["grade"]) == ("Neutrophil count decreased", 10029366, 3)
        # the name in any case and spacing, or its MedDRA code
        again = _record(td, users[Role.COORDINATOR], term="  neutrophil   COUNT decreased ", grade=4)
        assert again["term"] == "Neutrophil count decreased"
        with td.uow() as uow:
            assert ctcae.term_info(uow, "10029366")["defined_grades"] == [1, 2, 3, 4]
            assert len(ctcae.term_names(uow)) == 837
        [event] = _ctcae_events(td)
        after = json.loads(event.after_json)
        assert (event.action, event.actor, after["count"], after["inserted"]) == ("ctcae.loaded", "system", 837, 837)
        assert after["sha256"] == shipped_ctcae().sha256 and after["source"].startswith("shipped ctcae-v5.0.json")
        # a second start changes nothing and records nothing
        bootstrap(db_url).dispose()
        assert len(_ctcae_events(td)) == 1
    finally:
        td.dispose()


def test_fresh_install_api_finds_the_term(td, no_workbook):
    from fastapi.testclient import TestClient

    from access_helpers import make_users, token_for
    from trialdesk.entrypoints.web.app import create_app

    make_users(td)
    client = TestClient(create_app(td_app=td))
    headers = {"Authorization": f"Bearer {token_for(td, 'coordinator1')}"}
    r = client.get("/api/v1/ctcae/terms/Neutrophil count decreased", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["meddra_code"] == 10029366 and r.json()["defined_grades"] == [1, 2, 3, 4]
    r = client.get("/api/v1/ctcae/terms/neutrophil%20count%20decreased", headers=headers)
    assert r.status_code == 200 and r.json()["term"] == "Neutrophil count decreased"
    r = client.get("/api/v1/ctcae/terms/Neutrophil count lowered", headers=headers)
    assert r.status_code == 422 and "Neutrophil count decreased" in r.text  # suggested


# --- swapping a workbook in ----------------------------------------------------------------------------------------


def test_swap_is_versioned_audited_and_refused_when_it_would_orphan_aes(td):
    td.clock = Clock()
    add_subject(td, "HUN-0001")
    users = principals()
    shipped = shipped_ctcae()
    # a later workbook: one grade text reworded, one term dropped that no AE uses
    nausea = next(t for t in shipped.terms if t.term == "Nausea")
    reworded = nausea.model_copy(update={"grades": {**nausea.grades, 1: "Loss of appetite (reworded)"}})
    newer = [reworded if t is nausea else t for t in shipped.terms if t.term != "Eosinophilia"]
    with td.uow() as uow:
        out = ctcae.load_terms(uow, users[Role.ADMIN], newer, source="workbook CTCAE_v5.0_next.xlsx", sha256="f" * 64)
        uow.commit()
    assert (out["count"], out["updated"], out["removed"], out["inserted"]) == (836, 1, 1, 0)
    event = _ctcae_events(td)[0]
    before, after = json.loads(event.before_json), json.loads(event.after_json)
    assert event.action == "ctcae.swapped" and event.actor == users[Role.ADMIN].username
    assert before["sha256"] == shipped.sha256 and after["sha256"] == "f" * 64
    assert after["source"] == "workbook CTCAE_v5.0_next.xlsx"
    with td.uow() as uow:
        assert ctcae.loaded_from(uow)["sha256"] == "f" * 64
        assert ctcae.term_info(uow, "Nausea")["grades"][1] == "Loss of appetite (reworded)"
        assert "Eosinophilia" not in ctcae.dictionary(uow)

    # an AE coded Neutrophil count decreased grade 4: a dictionary without it, or without its grade 4, is refused
    _record(td, users[Role.COORDINATOR], term="Neutrophil count decreased", grade=4)
    neutro = next(t for t in shipped.terms if t.term == "Neutrophil count decreased")
    without = [t for t in shipped.terms if t is not neutro]
    no_grade_4 = [
        neutro.model_copy(update={"grades": {**neutro.grades, 4: None}}) if t is neutro else t for t in shipped.terms
    ]
    renamed = [neutro.model_copy(update={"term": "Neutrophils decreased"}) if t is neutro else t for t in shipped.terms]
    for terms, why in [
        (without, "is not in the new dictionary"),
        (no_grade_4, "grade 4 is not defined in the new dictionary"),
        (renamed, "is named 'Neutrophils decreased' in the new dictionary"),
    ]:
        with td.uow() as uow, pytest.raises(Conflict, match=f"orphan 1 recorded adverse event.*{why}"):
            ctcae.load_terms(uow, SYSTEM, terms, source="workbook bad.xlsx", sha256="0" * 64)
    with td.uow() as uow:  # nothing changed, nothing audited
        assert uow.ctcae.count("5.0") == 836 and ctcae.loaded_from(uow)["sha256"] == "f" * 64
    assert len(_ctcae_events(td)) == 2


def test_configured_workbook_is_swapped_in_at_start_and_reported(db_url, shared_dir, tmp_path, monkeypatch, caplog):
    """$TRIALDESK_CTCAE_XLSX set after the first start: the next start swaps it in (audited, with its SHA-256);
    the same workbook again changes nothing."""
    import openpyxl

    from trialdesk.bootstrap import bootstrap

    monkeypatch.delenv("TRIALDESK_CTCAE_XLSX", raising=False)
    td = bootstrap(db_url)
    try:
        # NCI's workbook with one definition edited: another file, another SHA-256
        edited = tmp_path / "CTCAE_v5.0_edited.xlsx"
        wb = openpyxl.load_workbook(shared_dir / WORKBOOK)
        sheet = wb.worksheets[0]
        header = [str(c.value or "").replace("\xa0", " ").strip() for c in sheet[1]]
        row = next(r for r in sheet.iter_rows(min_row=2) if r[header.index("CTCAE Term")].value == "Nausea")
        row[header.index("Definition")].value = "Edited definition."
        wb.save(edited)
        monkeypatch.setenv("TRIALDESK_CTCAE_XLSX", str(edited))
        caplog.clear()
        bootstrap(db_url).dispose()
        [warning] = [r for r in caplog.records if r.name == "trialdesk.ctcae"]
        assert warning.levelname == "WARNING" and "CTCAE v5.0 swapped: 837 terms" in warning.getMessage()
        events = _ctcae_events(td)
        assert [e.action for e in events] == ["ctcae.swapped", "ctcae.loaded"]
        after = json.loads(events[0].after_json)
        assert after["sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest() and after["updated"] == 1
        with td.uow() as uow:
            assert ctcae.dictionary(uow).get("Nausea").definition == "Edited definition."
        caplog.clear()
        bootstrap(db_url).dispose()  # the same workbook: kept, silent
        assert not [r for r in caplog.records if r.name == "trialdesk.ctcae"] and len(_ctcae_events(td)) == 2

        # an AE coded Nausea grade 1, then a workbook without Nausea: refused at start, said so, nothing changed
        td.clock = Clock()
        add_subject(td, "HUN-0001")
        _record(td, principals()[Role.COORDINATOR], term="Nausea", grade=1)
        without = tmp_path / "CTCAE_v5.0_without_nausea.xlsx"
        wb = openpyxl.load_workbook(edited)
        wb.worksheets[0].delete_rows(row[0].row)
        wb.save(without)
        monkeypatch.setenv("TRIALDESK_CTCAE_XLSX", str(without))
        caplog.clear()
        bootstrap(db_url).dispose()
        [warning] = [r for r in caplog.records if r.name == "trialdesk.ctcae"]
        assert warning.levelname == "WARNING"
        assert "not loaded: refused" in warning.getMessage() and "'Nausea' (MedDRA 10028813)" in warning.getMessage()
        with td.uow() as uow:
            assert uow.ctcae.count("5.0") == 837 and "Nausea" in ctcae.dictionary(uow)
        assert len(_ctcae_events(td)) == 2
    finally:
        td.dispose()


# --- the demo and the CLI ------------------------------------------------------------------------------------------


def test_demo_on_a_fresh_install_records_ctcae_coded_aes(db_url, tmp_path, monkeypatch, no_workbook):
    from sqlalchemy import text

    from trialdesk.bootstrap import bootstrap, ensure_default_trial
    from trialdesk.services.demo import run_demo

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(db_url, load_default=False)  # as `trialdesk demo` starts
    try:
        ensure_default_trial(td, dated_at_start=True)
        report = run_demo(td, subjects=12, seed=11, to_completion=True)
        assert report.ctcae_loaded and report.actions["adverse_event.recorded"] > 0, report.to_dict()
        with td.engine.connect() as conn:
            rows = conn.execute(text("SELECT term, meddra_code, grade FROM adverse_events")).all()
        shipped = {t.meddra_code: t for t in shipped_ctcae().terms}
        assert len(rows) == report.actions["adverse_event.recorded"]
        for term, code, grade in rows:  # every AE coded to a CTCAE v5.0 term, at a grade that term defines
            assert shipped[code].term == term and grade in shipped[code].defined_grades
        [event] = _ctcae_events(td)
        assert event.actor == "admin.demo" and json.loads(event.after_json)["sha256"] == shipped_ctcae().sha256
    finally:
        td.dispose()


def test_cli_status_and_derive(td, db_url, shared_dir, tmp_path):
    from typer.testing import CliRunner

    from trialdesk.entrypoints.cli.main import app

    runner = CliRunner()
    status = runner.invoke(app, ["ctcae", "status", "--json", "--db", db_url])
    assert status.exit_code == 0, status.output
    out = json.loads(status.stdout)
    assert (
        out["count"] == 837
        and out["loaded_from"]["sha256"] == hashlib.sha256((shared_dir / WORKBOOK).read_bytes()).hexdigest()
    )
    derived = runner.invoke(app, ["ctcae", "derive", str(shared_dir / WORKBOOK), str(tmp_path / "c.json")])
    assert derived.exit_code == 0, derived.output
    assert "837 terms" in derived.stdout and (tmp_path / "c.json").read_bytes() == SHIPPED.read_bytes()
    bad = runner.invoke(app, ["ctcae", "derive", str(tmp_path / "c.json"), str(tmp_path / "d.json")])
    assert bad.exit_code == 2 and "not an Excel .xlsx workbook" in " ".join(bad.output.split())
    ensure = runner.invoke(app, ["ctcae", "ensure", "--db", db_url])
    assert ensure.exit_code == 0 and "already loaded" in ensure.stdout


def test_a_term_longer_than_its_column_is_refused_naming_it(td):
    from trialdesk.domain.errors import InvalidInput

    shipped = shipped_ctcae()
    long_name = "Neutrophil count decreased " + "x" * 200  # ctcae_terms.term is String(200)
    renamed = {"term": long_name, "meddra_code": 99999999}  # a new code: the term is inserted
    terms = [t.model_copy(update=renamed) if t.term == "Anemia" else t for t in shipped.terms]
    with td.uow() as uow, pytest.raises(InvalidInput, match=r"terms\[0\]\.term: at most 200 characters"):
        ctcae.load_terms(uow, SYSTEM, terms, source="workbook long.xlsx", sha256="1" * 64)
    with td.uow() as uow:
        assert uow.ctcae.count("5.0") == 837 and "Anemia" in ctcae.dictionary(uow)
