"""The trial as data: NCT07003074's registry facts, checked against the published record."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trialdesk.adapters.protocol_files import load_default_protocol, packaged_protocol_path, parse_protocol_text
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def protocol():
    return load_default_protocol()


def test_basic_facts(protocol):
    r = protocol.registry
    assert r.nct_id == "NCT07003074"
    assert r.identification.org_study_id == "TQB2102-III-06"
    assert r.status.last_update_post_date == "2025-06-25"
    assert r.status.overall_status.value == "RECRUITING"
    assert r.design.phases == ["PHASE3"]
    assert r.design.enrollment.count == 642
    assert r.design.study_type == "INTERVENTIONAL"
    assert r.status.start_date.date == "2025-06-23" and r.status.completion_date.date == "2030-07-31"
    assert (r.design.allocation, r.design.intervention_model, r.design.primary_purpose, r.design.masking) == (
        "RANDOMIZED",
        "PARALLEL",
        "TREATMENT",
        "NONE",
    )
    assert r.conditions == ["Breast Cancer"]
    assert r.sponsor.class_ == "INDUSTRY" and r.responsible_party.type == "SPONSOR"
    assert (r.eligibility.minimum_age, r.eligibility.maximum_age, r.eligibility.sex) == ("18 Years", "75 Years", "ALL")
    assert r.eligibility.healthy_volunteers is False


def test_arms_and_interventions_verbatim(protocol, shared_dir):
    seed = (shared_dir / "seed" / "000_c8558dee60771390.txt").read_text(encoding="utf-8")
    r = protocol.registry
    assert [(a.label, a.type) for a in r.arm_groups] == [
        ("TQB2102 for Injection", "EXPERIMENTAL"),
        ("Docetaxel combined + Trastuzumab +Pertuzumab", "ACTIVE_COMPARATOR"),
    ]
    for text in [r.brief_summary, *[a.description for a in r.arm_groups], *[i.description for i in r.interventions]]:
        assert text in seed, text[:60]
    assert [i.type for i in r.interventions] == ["DRUG", "DRUG"]


def test_every_criterion_verbatim_with_stable_ids(protocol, shared_dir):
    seed = (shared_dir / "seed" / "000_c8558dee60771390.txt").read_text(encoding="utf-8")
    crits = list(protocol.registry.eligibility.all_criteria())
    assert len(protocol.registry.eligibility.inclusion) == 8
    assert len(protocol.registry.eligibility.exclusion) == 6
    assert [len(c.children) for c in protocol.registry.eligibility.exclusion] == [0, 0, 21, 4, 4, 0]
    assert len(crits) == 8 + 6 + 29
    for c in crits:
        assert c.text in seed, c.id
    assert protocol.registry.eligibility.exclusion[2].children[16].id == "EXC-03.17"


def test_locations_keep_duplicates_and_contacts(protocol, shared_dir):
    locs = protocol.registry.locations
    assert len(locs) == 25
    facilities = [loc.facility for loc in locs]
    assert facilities.count("Gansu Provincial Cancer Hospital") == 2
    assert facilities.count("Affiliated Zhongshan Hospital Of Dalian University") == 2
    assert {loc.country for loc in locs} == {"China"}
    assert protocol.registry.countries == ["China"]
    hunan = protocol.site("hunan-cancer-hospital")
    assert hunan.status.value == "RECRUITING" and hunan.city == "Changsha" and hunan.state == "Hunan"
    assert hunan.contacts[0].name == "Quchang OuYang, Doctor" and hunan.contacts[0].phone == "13973135318"
    assert sum(loc.status.value == "NOT_YET_RECRUITING" for loc in locs) == 24
    assert [c.name for c in protocol.registry.central_contacts] == ["Zhimin Shao, Doctor", "Yongmei Yin, Doctor"]


def test_validate_reports_path_line_and_reason(tmp_path):
    text = packaged_protocol_path().read_text(encoding="utf-8")
    broken = text.replace("count: 642", "count: lots").replace("maximum_age: 75 Years", "maximum_age: old")
    with pytest.raises(InvalidInput) as info:
        parse_protocol_text(broken)
    problems = {p.path: p for p in info.value.problems}
    assert "registry.design.enrollment.count" in problems
    line = problems["registry.design.enrollment.count"].line
    assert broken.splitlines()[line - 1].strip().startswith("enrollment")
    assert "registry.eligibility.maximum_age" in problems
    path = tmp_path / "bad.yaml"
    path.write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    assert "registry.design.enrollment.count" in result.output and "line" in result.output


def test_unknown_field_rejected():
    text = (
        packaged_protocol_path()
        .read_text(encoding="utf-8")
        .replace("  conditions:\n", "  colour: red\n  conditions:\n", 1)
    )
    with pytest.raises(InvalidInput, match="registry.colour"):
        parse_protocol_text(text)


def test_protocol_show_json(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["protocol", "show", "NCT07003074", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    reg = data["registry"]
    assert reg["design"]["enrollment"]["count"] == 642 and reg["design"]["phases"] == ["PHASE3"]
    assert len(reg["locations"]) == 25 and len(reg["arm_groups"]) == 2
    assert (reg["eligibility"]["minimum_age"], reg["eligibility"]["maximum_age"]) == ("18 Years", "75 Years")
