"""NLM's study schema ships inside the package: validation (results posting included) never switches off.

Before, ``ctg-oas-v2.yaml`` was read from ``../shared`` at run time and every check passed vacuously where that
folder was absent. These tests run without ``../shared`` (except the one comparing the shipped copy with it).
"""

from __future__ import annotations

import json

import pytest
import yaml

from trialdesk.adapters.ctgov import find_oas_spec, load_component_schemas, schema_problems, shipped_spec
from trialdesk.adapters.ctgov_results import check_results_section, results_problems
from trialdesk.adapters.ports import real_ports
from trialdesk.domain.errors import IntegrityError, InvalidInput
from trialdesk.settings import Settings

BAD_STUDY = {"protocolSection": {"identificationModule": {"nctId": 12345, "briefTitle": ["not", "a", "string"]}}}
BAD_RESULTS = {
    "participantFlowModule": {"groups": "none"},
    "adverseEventsModule": {"eventGroups": [{"id": "EG000", "seriousNumAffected": "many"}]},
}


def test_the_shipped_schemas_are_in_the_package_and_chosen_without_configuration(tmp_path):
    path = shipped_spec()
    assert path.is_file() and path.parent.name == "data" and path.parent.parent.name == "trialdesk"
    assert find_oas_spec(Settings(ctgov_oas=None)) == path
    # a configured spec that does not exist falls back to the shipped one (never to no validation)
    assert find_oas_spec(Settings(ctgov_oas=tmp_path / "absent.yaml")) == path
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["openapi"] == "3.0.3" and doc["info"]["version"] == "2.0.0-draft"
    assert len(doc["x-source"]["sha256"]) == 64
    assert {"Study", "ResultsSection", "ProtocolSection"} <= set(doc["components"]["schemas"])


def test_validation_works_with_shared_absent(monkeypatch):
    monkeypatch.delenv("TRIALDESK_CTGOV_OAS", raising=False)
    assert "shared" not in find_oas_spec().parts  # nothing is looked up beside the checkout any more
    paths = {p.path for p in schema_problems(BAD_STUDY)}
    module = "$.protocolSection.identificationModule"
    assert {f"{module}.nctId", f"{module}.briefTitle"} <= paths
    assert schema_problems({"protocolSection": {"identificationModule": {"nctId": "NCT01234567"}}}) == []
    assert results_problems(BAD_RESULTS)
    with pytest.raises(IntegrityError, match="does not validate"):
        check_results_section(BAD_RESULTS)
    # the results port used by the analysis services (run and post) checks against it too
    with pytest.raises(IntegrityError):
        real_ports(Settings(ctgov_oas=None)).results.check_results_section(BAD_RESULTS)
    with pytest.raises(IntegrityError):
        real_ports().results.check_results_section(BAD_RESULTS)


def test_import_refuses_a_wrongly_typed_study_with_shared_absent(tmp_path):
    from trialdesk.adapters.ctgov import read_studies

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(BAD_STUDY), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_studies(path)
    assert any(p.path == "bad.json:$.protocolSection.identificationModule.nctId" for p in caught.value.problems)


def test_the_shipped_copy_equals_the_schemas_of_the_spec_in_shared(shared_dir):
    spec = yaml.safe_load((shared_dir / "data" / "ctgov" / "ctg-oas-v2.yaml").read_text(encoding="utf-8"))
    assert load_component_schemas(shipped_spec()) == spec["components"]["schemas"]
    shipped = json.loads(shipped_spec().read_text(encoding="utf-8"))
    assert (shipped["openapi"], shipped["info"]["version"]) == (spec["openapi"], spec["info"]["version"])


def test_a_configured_spec_is_used(shared_dir, monkeypatch):
    path = shared_dir / "data" / "ctgov" / "ctg-oas-v2.yaml"
    monkeypatch.setenv("TRIALDESK_CTGOV_OAS", str(path))
    assert find_oas_spec() == path
    assert find_oas_spec(Settings(ctgov_oas=path)) == path
