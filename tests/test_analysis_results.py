"""CT.gov resultsSection: validates against ResultsSection of NLM's ctg-oas-v2.yaml, carries the numbers of the
analysis, and the registry template renders it (and real CT.gov records' results)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from trialdesk.adapters.consort_svg import consort_svg
from trialdesk.adapters.ctgov_results import build_results_section, results_problems
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.services.analysis import analyze_captured
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data


@pytest.fixture(scope="module")
def analysed():
    protocol = load_default_protocol()
    data = simulate_captured_data(np.random.default_rng(21), ScheduleSpec(), SimulationSettings(n_subjects=200))
    fa, _ = analyze_captured(protocol, data, SimulationSettings().cut_date)
    summary = fa.to_dict()
    return protocol, summary, build_results_section(summary, protocol)


def test_validates_against_the_nlm_spec(analysed, shared_dir):
    from trialdesk.adapters.ctgov import find_oas_spec

    _, _, section = analysed
    assert find_oas_spec() is not None  # otherwise the check below would pass vacuously
    assert results_problems(section) == []
    assert set(section) == {
        "participantFlowModule",
        "baselineCharacteristicsModule",
        "outcomeMeasuresModule",
        "adverseEventsModule",
    }


def test_validator_bites(analysed, shared_dir):
    _, _, section = analysed
    bad = copy.deepcopy(section)
    bad["outcomeMeasuresModule"]["outcomeMeasures"][0]["analyses"][0]["ciNumSides"] = "BOTH"
    bad["adverseEventsModule"]["eventGroups"][0]["seriousNumAffected"] = "many"
    paths = [p.path for p in results_problems(bad)]
    assert "$.resultsSection.outcomeMeasuresModule.outcomeMeasures[0].analyses[0].ciNumSides" in paths
    assert "$.resultsSection.adverseEventsModule.eventGroups[0].seriousNumAffected" in paths


def test_carries_the_analysis_numbers(analysed):
    protocol, s, section = analysed
    pfs = section["outcomeMeasuresModule"]["outcomeMeasures"][0]
    assert pfs["type"] == "PRIMARY" and pfs["paramType"] == "MEDIAN" and pfs["unitOfMeasure"] == "months"
    primary = protocol.registry.outcomes.primary  # the record lists none: the PFS title is used
    assert pfs["title"] == (primary[0].measure if primary else "Progression-free survival (PFS)")
    km = s["pfs"]["km"]
    meas = pfs["classes"][0]["categories"][0]["measurements"]
    assert [m["groupId"] for m in meas] == ["OG000", "OG001"]
    for m, row in zip(meas, km):
        assert m["value"] == ("NA" if row["median"] is None else f"{row['median']:.1f}")
    a = pfs["analyses"][0]
    cox, lr = s["pfs"]["cox"], s["pfs"]["logrank_stratified"]
    assert a["paramType"] == "Hazard Ratio (HR)" and a["paramValue"] == f"{cox['hr']:.3f}"
    assert (a["ciLowerLimit"], a["ciUpperLimit"]) == (f"{cox['lower']:.3f}", f"{cox['upper']:.3f}")
    assert a["statisticalMethod"] == "Log Rank" and a["ciPctValue"] == "95" and a["ciNumSides"] == "TWO_SIDED"
    p = lr["p_value"]
    assert a["pValue"] == ("<0.0001" if p < 0.0001 else f"{p:.4f}")
    orr = section["outcomeMeasuresModule"]["outcomeMeasures"][1]
    assert orr["analyses"][0]["paramType"] == "Risk Difference (RD)"
    # the difference names the arms by their registry titles (the record's arm groups), not by their codes
    assert orr["analyses"][0]["estimateComment"] == (
        "Difference in ORR (TQB2102 for Injection minus Docetaxel combined + Trastuzumab +Pertuzumab), "
        "percentage points."
    )
    flow = section["participantFlowModule"]["periods"][0]["milestones"]
    started = next(m for m in flow if m["type"] == "STARTED")
    assert sum(int(x["numSubjects"]) for x in started["achievements"]) == s["n_itt"] == 200
    groups = section["adverseEventsModule"]["eventGroups"]
    assert [g["seriousNumAffected"] for g in groups] == [s["safety"]["any_sae"][a["id"]]["n"] for a in s["arms"]]
    # other (non-serious) events are those over the 5% threshold in some group
    for e in section["adverseEventsModule"]["otherEvents"]:
        assert any(st["numAffected"] / st["numAtRisk"] >= 0.05 for st in e["stats"])


def test_registry_template_renders_ours_and_real_records(analysed, shared_dir):
    from trialdesk.entrypoints.web.app import templates

    tpl = templates.env.get_template("results_section.html")
    _, s, section = analysed
    html = tpl.render(results=section)
    assert "Participant Flow" in html and "Hazard Ratio (HR)" in html and "Adverse Events" in html
    for path in sorted((shared_dir / "data" / "ctgov").glob("*.json")):
        real = json.loads(path.read_text())["resultsSection"]
        html = tpl.render(results=real)
        first = real["outcomeMeasuresModule"]["outcomeMeasures"][0]["title"]
        assert "Outcome Measures" in html and first.split("<")[0][:20] in html.replace("&#39;", "'"), path.name


def test_consort_svg_is_well_formed_and_shows_counts(analysed):
    import xml.etree.ElementTree as ET

    _, s, _ = analysed
    svg = consort_svg(s["consort"], {"tqb2102": "TQB2102", "thp": "THP"})
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    c = s["consort"]
    assert f"Assessed for eligibility (n={c['assessed']})" in texts
    assert f"Randomized (n={c['randomized']})" in texts
    for arm in c["arms"]:
        name = {"tqb2102": "TQB2102", "thp": "THP"}[arm["arm"]]
        assert f"Allocated to {name} (n={arm['allocated']})" in texts
        assert f"Analysed for efficacy, ITT (n={arm['analysed_itt']})" in texts
