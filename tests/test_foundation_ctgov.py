"""ClinicalTrials.gov interchange: real records import, export validates against NLM's spec, round trips."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trialdesk.adapters.ctgov import protocol_to_study, read_studies, schema_problems, study_to_protocol
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.main import app

runner = CliRunner()


@pytest.fixture
def oas(shared_dir, monkeypatch):
    path = shared_dir / "data" / "ctgov" / "ctg-oas-v2.yaml"
    monkeypatch.setenv("TRIALDESK_CTGOV_OAS", str(path))
    return path


def real_files(shared_dir):
    return sorted((shared_dir / "data" / "ctgov").glob("NCT*"))


def test_all_seven_real_files_import_and_round_trip(shared_dir, oas):
    files = real_files(shared_dir)
    assert len(files) == 7
    for path in files:
        [protocol] = read_studies(path)
        exported = protocol_to_study(protocol)
        assert schema_problems(exported, spec_path=oas) == [], path.name
        again = protocol_to_study(study_to_protocol(exported))
        assert again == exported, path.name
        if path.suffix == ".json":
            # unknown keys (derivedSection, geoPoint, results...) are kept: the export is the original document
            assert exported == json.loads(path.read_text(encoding="utf-8")), path.name


def test_legacy_xml_maps_core_fields(shared_dir, oas):
    [xml] = read_studies(shared_dir / "data" / "ctgov" / "NCT02513394.xml")
    [js] = read_studies(shared_dir / "data" / "ctgov" / "NCT02513394.json")
    assert xml.nct_id == js.nct_id == "NCT02513394"
    assert xml.registry.identification.acronym == "PALLAS"
    assert xml.registry.design.phases == js.registry.design.phases
    assert xml.registry.design.allocation == "RANDOMIZED"
    assert xml.registry.eligibility.inclusion and xml.registry.eligibility.exclusion
    assert len(xml.registry.locations) > 100


def test_default_trial_export_validates_and_is_stable(oas):
    protocol = load_default_protocol()
    exported = protocol_to_study(protocol)
    assert schema_problems(exported, spec_path=oas, strict=True) == []
    ps = exported["protocolSection"]
    assert ps["identificationModule"]["nctId"] == "NCT07003074"
    assert ps["designModule"]["enrollmentInfo"]["count"] == 642
    assert len(ps["contactsLocationsModule"]["locations"]) == 25
    assert ps["eligibilityModule"]["eligibilityCriteria"].startswith("Inclusion Criteria:")
    reimported = study_to_protocol(exported)
    assert protocol_to_study(reimported) == exported
    # criteria parsed back from the text get the same ids and texts
    assert [c.model_dump() for c in reimported.registry.eligibility.all_criteria()] == [
        c.model_dump() for c in protocol.registry.eligibility.all_criteria()
    ]


def test_truncated_file_names_position(tmp_path, shared_dir, oas):
    text = (shared_dir / "data" / "ctgov" / "NCT03275402.json").read_text(encoding="utf-8")
    bad = tmp_path / "trunc.json"
    bad.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid JSON.*line"):
        read_studies(bad)


def test_wrongly_typed_field_names_json_path(tmp_path, shared_dir, oas):
    doc = json.loads((shared_dir / "data" / "ctgov" / "NCT03275402.json").read_text(encoding="utf-8"))
    doc["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "fifty-two"
    doc["protocolSection"]["unexpectedModule"] = {"kept": True}
    bad = tmp_path / "typed.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        read_studies(bad)
    assert [p.path for p in info.value.problems] == ["typed.json:$.protocolSection.designModule.enrollmentInfo.count"]


def test_list_of_studies_and_unknown_keys_kept(tmp_path, shared_dir, oas):
    a = json.loads((shared_dir / "data" / "ctgov" / "NCT03275402.json").read_text(encoding="utf-8"))
    b = json.loads((shared_dir / "data" / "ctgov" / "NCT01987596.json").read_text(encoding="utf-8"))
    a["protocolSection"]["identificationModule"]["futureKey"] = {"x": [1, 2]}
    path = tmp_path / "list.json"
    path.write_text(json.dumps([a, b]), encoding="utf-8")
    protocols = read_studies(path)
    assert [p.nct_id for p in protocols] == ["NCT03275402", "NCT01987596"]
    assert protocol_to_study(protocols[0])["protocolSection"]["identificationModule"]["futureKey"] == {"x": [1, 2]}


def test_cli_import_rejects_whole_batch_and_writes_nothing(tmp_path, shared_dir, oas, monkeypatch):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path))
    good = shared_dir / "data" / "ctgov" / "NCT03275402.json"
    bad = tmp_path / "bad.json"
    doc = json.loads((shared_dir / "data" / "ctgov" / "NCT01987596.json").read_text(encoding="utf-8"))
    doc["protocolSection"]["statusModule"]["overallStatus"] = 42
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["registry", "import", str(good), str(bad)])
    assert result.exit_code == 2
    assert "overallStatus" in result.output
    listing = runner.invoke(app, ["registry", "list", "--json"])
    assert [t["nct_id"] for t in json.loads(listing.output)] == ["NCT07003074"]


def test_cli_export_then_import_round_trip(tmp_path, shared_dir, oas, monkeypatch):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "a"))
    out = tmp_path / "export.json"
    assert runner.invoke(app, ["registry", "export", "NCT07003074", "-o", str(out)]).exit_code == 0
    first = json.loads(out.read_text(encoding="utf-8"))
    assert schema_problems(first, spec_path=oas) == []
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "b"))
    assert runner.invoke(app, ["registry", "import", str(out)]).exit_code == 0
    second = json.loads(runner.invoke(app, ["registry", "export", "NCT07003074"]).output)
    assert second == first
