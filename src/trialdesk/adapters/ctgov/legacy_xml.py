"""Legacy ClinicalTrials.gov ``<clinical_study>`` XML records, converted to the API v2 study shape."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

from trialdesk.adapters.ctgov.study_json import _prune
from trialdesk.domain.errors import InvalidInput, Problem


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    found = el.find(tag)
    return found.text.strip() if found is not None and found.text else None


def _enum(text: str | None) -> str | None:
    """A legacy label as a v2 enum value: ``"Not yet recruiting"`` -> ``NOT_YET_RECRUITING``."""
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_") if text else None


def _age(text: str | None) -> str | None:
    """``"18 Years"`` as is; ``N/A`` (no limit) as absent."""
    return text if text and text != "N/A" else None


def _legacy_date(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    for fmt, out in (("%B %d, %Y", "%Y-%m-%d"), ("%B %Y", "%Y-%m")):
        try:
            return {"date": dt.datetime.strptime(text.strip(), fmt).strftime(out)}
        except ValueError:
            continue
    return None


def _legacy_date_struct(el: ET.Element | None) -> dict[str, Any] | None:
    """``<last_update_posted type="Actual">March 9, 2020</...>`` -> ``{"date": "2020-03-09", "type": "ACTUAL"}``."""
    if el is None:
        return None
    struct = _legacy_date(el.text)
    kind = {"Actual": "ACTUAL", "Estimate": "ESTIMATED", "Anticipated": "ESTIMATED"}.get(el.get("type") or "")
    if struct is not None and kind is not None:
        struct["type"] = kind
    return struct


_BULLET = re.compile(r"-\s+(?=\S)")  # the legacy list item: "-  text" (a dash glued to the text is prose)


def _textblock(el: ET.Element | None) -> str | None:
    """A legacy ``<textblock>`` as API v2 renders the same text.

    The legacy record wraps lines at about 80 characters and indents them; a blank line separates paragraphs and
    a list item starts with ``-  ``. API v2 (compared on NCT02513394's record) joins each paragraph's lines with a
    space, separates paragraphs with a blank line, writes a list item as ``* text`` and its items one per line.
    An item indented deeper than the one before it is nested under it (two spaces a level).
    """
    found = el.find("textblock") if el is not None else None
    if found is None or not found.text or not found.text.strip():
        return None
    out: list[str] = []
    indents: list[int] = []  # the open list levels' indentation; empty after a paragraph
    previous_item = False
    for block in re.split(r"\n[ \t]*\n", found.text.strip("\n")):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        text = " ".join(line.strip() for line in lines)
        indent = len(lines[0]) - len(lines[0].lstrip())
        if _BULLET.match(text):
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            if out:
                out.append("\n" if previous_item else "\n\n")
            out.append("  " * (len(indents) - 1) + "* " + _BULLET.sub("", text, count=1))
            previous_item = True
        else:
            indents, previous_item = [], False
            if out:
                out.append("\n\n")
            out.append(text)
    return "".join(out)


def legacy_xml_to_study(raw: bytes, *, source: str = "<xml>") -> dict[str, Any]:
    """Convert a legacy ClinicalTrials.gov ``<clinical_study>`` XML record to the API v2 study shape."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InvalidInput([Problem(source, f"not valid XML: {exc}")]) from exc
    if root.tag != "clinical_study":
        raise InvalidInput([Problem(source, f"root element is <{root.tag}>, expected <clinical_study>")])
    idinfo = root.find("id_info")
    nct = _text(idinfo, "nct_id")
    if idinfo is None or not nct:
        raise InvalidInput([Problem(f"{source}:clinical_study/id_info/nct_id", "is missing")])
    phase_map = {
        "Phase 1": ["PHASE1"],
        "Phase 2": ["PHASE2"],
        "Phase 3": ["PHASE3"],
        "Phase 4": ["PHASE4"],
        "Phase 1/Phase 2": ["PHASE1", "PHASE2"],
        "Phase 2/Phase 3": ["PHASE2", "PHASE3"],
        "Early Phase 1": ["EARLY_PHASE1"],
        "N/A": ["NA"],
    }
    di = root.find("study_design_info")
    elig = root.find("eligibility")
    criteria = elig.find("criteria") if elig is not None else None
    crit_text = _textblock(criteria)
    sponsors = root.find("sponsors")
    lead = sponsors.find("lead_sponsor") if sponsors is not None else None
    enrollment = root.find("enrollment")
    enrollment_count = (enrollment.text or "").strip() if enrollment is not None else ""
    study = {
        "protocolSection": {
            "identificationModule": {
                "nctId": nct,
                "orgStudyIdInfo": {"id": _text(idinfo, "org_study_id")},
                "secondaryIdInfos": [{"id": s.text.strip()} for s in idinfo.findall("secondary_id") if s.text],
                "briefTitle": _text(root, "brief_title"),
                "officialTitle": _text(root, "official_title"),
                "acronym": _text(root, "acronym"),
            },
            "statusModule": {
                "overallStatus": _enum(_text(root, "overall_status")),
                "startDateStruct": _legacy_date(_text(root, "start_date")),
                "primaryCompletionDateStruct": _legacy_date(_text(root, "primary_completion_date")),
                "completionDateStruct": _legacy_date(_text(root, "completion_date")),
                "lastUpdateSubmitDate": (_legacy_date(_text(root, "last_update_submitted")) or {}).get("date"),
                "lastUpdatePostDateStruct": _legacy_date_struct(root.find("last_update_posted")),
            },
            "sponsorCollaboratorsModule": {
                "leadSponsor": {"name": _text(lead, "agency")} if lead is not None else None,
                "collaborators": [
                    {"name": _text(c, "agency")}
                    for c in (sponsors.findall("collaborator") if sponsors is not None else [])
                ],
            },
            "descriptionModule": {
                "briefSummary": _textblock(root.find("brief_summary")),
                "detailedDescription": _textblock(root.find("detailed_description")),
            },
            "conditionsModule": {
                "conditions": [c.text.strip() for c in root.findall("condition") if c.text],
                "keywords": [k.text.strip() for k in root.findall("keyword") if k.text],
            },
            "designModule": {
                "studyType": _enum(_text(root, "study_type")),
                "phases": phase_map.get(_text(root, "phase") or "", []),
                "designInfo": {
                    "allocation": {"Randomized": "RANDOMIZED", "Non-Randomized": "NON_RANDOMIZED"}.get(
                        _text(di, "allocation") or ""
                    ),
                    "interventionModel": _enum((_text(di, "intervention_model") or "").replace(" Assignment", "")),
                    "primaryPurpose": _enum(_text(di, "primary_purpose")),
                    "maskingInfo": {
                        "masking": _enum((_text(di, "masking") or "").split(" (")[0]) if _text(di, "masking") else None
                    },
                },
                "enrollmentInfo": (
                    {"count": int(enrollment_count), "type": _enum(enrollment.get("type"))}
                    if enrollment is not None and enrollment_count.isdigit()
                    else None
                ),
            },
            "armsInterventionsModule": {
                "armGroups": [
                    {
                        "label": _text(a, "arm_group_label"),
                        "type": _enum(_text(a, "arm_group_type")),
                        "description": _text(a, "description"),
                    }
                    for a in root.findall("arm_group")
                ],
                "interventions": [
                    {
                        "type": _enum(_text(x, "intervention_type")),
                        "name": _text(x, "intervention_name"),
                        "description": _text(x, "description"),
                        "armGroupLabels": [g.text for g in x.findall("arm_group_label") if g.text],
                    }
                    for x in root.findall("intervention")
                ],
            },
            "eligibilityModule": {
                "eligibilityCriteria": crit_text,
                "sex": _enum(_text(elig, "gender")),
                "minimumAge": _age(_text(elig, "minimum_age")),
                "maximumAge": _age(_text(elig, "maximum_age")),
                "healthyVolunteers": {"No": False, "Accepts Healthy Volunteers": True}.get(
                    _text(elig, "healthy_volunteers") or ""
                ),
            },
            "contactsLocationsModule": {
                "locations": [
                    {
                        "facility": _text(loc.find("facility"), "name"),
                        "city": _text(loc.find("facility/address"), "city"),
                        "state": _text(loc.find("facility/address"), "state"),
                        "zip": _text(loc.find("facility/address"), "zip"),
                        "country": _text(loc.find("facility/address"), "country"),
                        "status": _enum(_text(loc, "status")),
                    }
                    for loc in root.findall("location")
                ]
            },
        }
    }
    pruned: dict[str, Any] = _prune(study)
    return pruned
