"""Issue 15: a legacy ClinicalTrials.gov XML import keeps the last-update date and unwraps hard-wrapped text.

The reference is ClinicalTrials.gov's own API v2 record of the same study (NCT02513394, both in shared/data/ctgov):
its eligibility criteria and brief summary, which did not change between the two downloads, must come out of the
legacy XML character for character. The last-update date is read off the XML by hand (March 9, 2020, "Actual").
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from trialdesk.adapters.ctgov import read_studies
from trialdesk.adapters.ctgov.legacy_xml import _textblock, legacy_xml_to_study


@pytest.fixture
def pallas(shared_dir):
    folder = shared_dir / "data" / "ctgov"
    xml = legacy_xml_to_study((folder / "NCT02513394.xml").read_bytes())["protocolSection"]
    v2 = json.loads((folder / "NCT02513394.json").read_text(encoding="utf-8"))["protocolSection"]
    return xml, v2


def test_paragraphs_and_lists_as_api_v2_renders_them(pallas):
    xml, v2 = pallas
    assert xml["eligibilityModule"]["eligibilityCriteria"] == v2["eligibilityModule"]["eligibilityCriteria"]
    assert xml["descriptionModule"]["briefSummary"] == v2["descriptionModule"]["briefSummary"]
    assert "\n  " not in xml["descriptionModule"]["briefSummary"]


def test_last_update_posted_is_kept(pallas, shared_dir):
    xml, _ = pallas
    # <last_update_submitted>March 6, 2020</...>, <last_update_posted type="Actual">March 9, 2020</...>
    assert xml["statusModule"]["lastUpdatePostDateStruct"] == {"date": "2020-03-09", "type": "ACTUAL"}
    assert xml["statusModule"]["lastUpdateSubmitDate"] == "2020-03-06"
    [protocol] = read_studies(shared_dir / "data" / "ctgov" / "NCT02513394.xml")
    assert protocol.registry.status.last_update_post_date == "2020-03-09"


def test_nested_items_prose_dashes_and_single_paragraphs():
    block = ET.fromstring(
        """<criteria><textblock>
        Inclusion Criteria:

          -  Adequate organ
             function:

               -  ANC at least
                  1500/uL

               -  Platelets at least 100,000/uL

          -  Age 18 or older

        -Prose that starts with a dash. -
      </textblock></criteria>"""
    )
    assert _textblock(block) == (
        "Inclusion Criteria:\n\n"
        "* Adequate organ function:\n"
        "  * ANC at least 1500/uL\n"
        "  * Platelets at least 100,000/uL\n"
        "* Age 18 or older\n\n"
        "-Prose that starts with a dash. -"
    )
    assert _textblock(ET.fromstring("<x><textblock>\n   one\n   line\n</textblock></x>")) == "one line"
    assert _textblock(ET.fromstring("<x><textblock>  </textblock></x>")) is None
    assert _textblock(None) is None
