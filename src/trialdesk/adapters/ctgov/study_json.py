"""API v2 study JSON <-> :class:`Protocol`.

Import maps the modules trialdesk models onto :class:`~trialdesk.domain.protocol.RegistryRecord`; everything else
(``derivedSection``, ``geoPoint``, keys newer than this code...) is kept in ``registry.extra`` as the *residual*
of the source document, so that export -> import -> export reproduces the document. Input is validated against
NLM's Study schema (:mod:`.schema`) before mapping, so a wrongly typed value is reported with its JSON path.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import ValidationError

from trialdesk.adapters.ctgov.criteria import parse_criteria_text, render_criteria_text
from trialdesk.adapters.ctgov.schema import schema_problems
from trialdesk.domain.errors import InvalidInput, Problem, problems_from_pydantic
from trialdesk.domain.protocol import Contact, PartialDate, Protocol, RegistryRecord

# ---------------------------------------------------------------------------------------------------------------
# JSON -> model
# ---------------------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


def _date(struct: dict[str, Any] | None) -> dict[str, Any] | None:
    if not struct or "date" not in struct:
        return None
    return {"date": struct["date"], "type": struct.get("type")}


def _contact(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": c.get("name"),
        "role": c.get("role"),
        "phone": c.get("phone"),
        "phone_ext": c.get("phoneExt"),
        "email": c.get("email"),
    }


def study_to_registry(study: dict[str, Any]) -> dict[str, Any]:
    """Map a CT.gov API v2 study dict to the ``registry`` dict of a protocol (without ``extra``)."""
    ps = study.get("protocolSection") or {}
    ident = ps.get("identificationModule") or {}
    status = ps.get("statusModule") or {}
    spons = ps.get("sponsorCollaboratorsModule") or {}
    desc = ps.get("descriptionModule") or {}
    cond = ps.get("conditionsModule") or {}
    design = ps.get("designModule") or {}
    info = design.get("designInfo") or {}
    arms = ps.get("armsInterventionsModule") or {}
    outcomes = ps.get("outcomesModule") or {}
    elig = ps.get("eligibilityModule") or {}
    cl = ps.get("contactsLocationsModule") or {}
    refs = ps.get("referencesModule") or {}
    inclusion, exclusion = parse_criteria_text(elig.get("eligibilityCriteria"))
    org = ident.get("orgStudyIdInfo") or {}
    seen: dict[str, int] = {}
    locations = []
    for loc in cl.get("locations") or []:
        base = _slug(loc.get("facility") or loc.get("city") or "site")[:60].strip("-")
        seen[base] = seen.get(base, 0) + 1
        site_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        locations.append(
            {
                "site_id": site_id,
                "facility": loc.get("facility"),
                "city": loc.get("city"),
                "state": loc.get("state"),
                "zip": loc.get("zip"),
                "country": loc.get("country"),
                "status": loc.get("status"),
                "contacts": [_contact(c) for c in loc.get("contacts") or []],
            }
        )
    enrollment = design.get("enrollmentInfo")
    masking = info.get("maskingInfo") or {}
    rp = spons.get("responsibleParty")
    registry = {
        "identification": {
            "nct_id": ident.get("nctId"),
            "org_study_id": org.get("id"),
            "org_study_id_type": org.get("type"),
            "organization": (ident.get("organization") or {}).get("fullName"),
            "organization_class": (ident.get("organization") or {}).get("class"),
            "brief_title": ident.get("briefTitle"),
            "official_title": ident.get("officialTitle"),
            "acronym": ident.get("acronym"),
            "secondary_ids": [
                {"id": s.get("id"), "type": s.get("type"), "domain": s.get("domain"), "link": s.get("link")}
                for s in ident.get("secondaryIdInfos") or []
            ],
        },
        "status": {
            "overall_status": status.get("overallStatus"),
            "last_update_post_date": (status.get("lastUpdatePostDateStruct") or {}).get("date"),
            "status_verified_date": status.get("statusVerifiedDate"),
            "start_date": _date(status.get("startDateStruct")),
            "primary_completion_date": _date(status.get("primaryCompletionDateStruct")),
            "completion_date": _date(status.get("completionDateStruct")),
            "study_first_submit_date": status.get("studyFirstSubmitDate"),
            "study_first_post_date": (status.get("studyFirstPostDateStruct") or {}).get("date"),
            "results_first_post_date": (status.get("resultsFirstPostDateStruct") or {}).get("date"),
            "why_stopped": status.get("whyStopped"),
        },
        "sponsor": (
            {"name": spons["leadSponsor"].get("name"), "class": spons["leadSponsor"].get("class")}
            if spons.get("leadSponsor")
            else None
        ),
        "collaborators": [{"name": c.get("name"), "class": c.get("class")} for c in spons.get("collaborators") or []],
        "responsible_party": (
            {
                "type": rp.get("type"),
                "investigator_full_name": rp.get("investigatorFullName"),
                "investigator_title": rp.get("investigatorTitle"),
                "investigator_affiliation": rp.get("investigatorAffiliation"),
            }
            if rp
            else None
        ),
        "brief_summary": desc.get("briefSummary"),
        "detailed_description": desc.get("detailedDescription"),
        "conditions": cond.get("conditions") or [],
        "keywords": cond.get("keywords") or [],
        "design": {
            "study_type": design.get("studyType"),
            "phases": design.get("phases") or [],
            "allocation": info.get("allocation"),
            "intervention_model": info.get("interventionModel"),
            "intervention_model_description": info.get("interventionModelDescription"),
            "primary_purpose": info.get("primaryPurpose"),
            "masking": masking.get("masking"),
            "who_masked": masking.get("whoMasked") or [],
            "enrollment": (
                {"count": enrollment.get("count"), "type": enrollment.get("type")}
                if enrollment and enrollment.get("count") is not None
                else None
            ),
        },
        "arm_groups": [
            {
                "label": a.get("label"),
                "type": a.get("type"),
                "description": a.get("description"),
                "intervention_names": a.get("interventionNames") or [],
            }
            for a in arms.get("armGroups") or []
        ],
        "interventions": [
            {
                "type": i.get("type"),
                "name": i.get("name"),
                "description": i.get("description"),
                "arm_group_labels": i.get("armGroupLabels") or [],
                "other_names": i.get("otherNames") or [],
            }
            for i in arms.get("interventions") or []
        ],
        "outcomes": {
            kind: [
                {"measure": o.get("measure"), "description": o.get("description"), "time_frame": o.get("timeFrame")}
                for o in outcomes.get(f"{kind}Outcomes") or []
            ]
            for kind in ("primary", "secondary", "other")
        },
        "eligibility": {
            "criteria_text": elig.get("eligibilityCriteria"),
            "inclusion": [c.model_dump() for c in inclusion],
            "exclusion": [c.model_dump() for c in exclusion],
            "minimum_age": elig.get("minimumAge"),
            "maximum_age": elig.get("maximumAge"),
            "sex": elig.get("sex"),
            "gender_based": elig.get("genderBased"),
            "healthy_volunteers": elig.get("healthyVolunteers"),
            "std_ages": elig.get("stdAges") or [],
        },
        "central_contacts": [_contact(c) for c in cl.get("centralContacts") or []],
        "locations": locations,
        "references": [
            {"citation": r.get("citation"), "pmid": r.get("pmid"), "type": r.get("type")}
            for r in refs.get("references") or []
        ],
    }
    return registry


# ---------------------------------------------------------------------------------------------------------------
# model -> JSON
# ---------------------------------------------------------------------------------------------------------------


def _prune(value: Any) -> Any:
    """Drop None values and empty containers, recursively (CT.gov omits absent fields)."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _date_struct(d: PartialDate | None) -> dict[str, Any] | None:
    return {"date": d.date, "type": d.type} if d else None


def registry_to_modeled_study(reg: RegistryRecord) -> dict[str, Any]:
    """The CT.gov JSON of the modeled fields only."""
    i, s, d, e = reg.identification, reg.status, reg.design, reg.eligibility

    def contact(c: Contact) -> dict[str, Any]:
        role = (
            c.role
            if c.role in {"STUDY_CHAIR", "STUDY_DIRECTOR", "PRINCIPAL_INVESTIGATOR", "SUB_INVESTIGATOR", "CONTACT"}
            else ("CONTACT" if c.role else None)
        )
        return {"name": c.name, "role": role, "phone": c.phone, "phoneExt": c.phone_ext, "email": c.email}

    criteria_text = e.criteria_text
    if criteria_text is None and (e.inclusion or e.exclusion):
        criteria_text = render_criteria_text(e.inclusion, e.exclusion)
    ps = {
        "identificationModule": {
            "nctId": i.nct_id,
            "orgStudyIdInfo": {"id": i.org_study_id, "type": i.org_study_id_type},
            "secondaryIdInfos": [
                {"id": x.id, "type": x.type, "domain": x.domain, "link": x.link} for x in i.secondary_ids
            ],
            "organization": {"fullName": i.organization, "class": i.organization_class},
            "briefTitle": i.brief_title,
            "officialTitle": i.official_title,
            "acronym": i.acronym,
        },
        "statusModule": {
            "statusVerifiedDate": s.status_verified_date,
            "overallStatus": s.overall_status.value,
            "whyStopped": s.why_stopped,
            "startDateStruct": _date_struct(s.start_date),
            "primaryCompletionDateStruct": _date_struct(s.primary_completion_date),
            "completionDateStruct": _date_struct(s.completion_date),
            "studyFirstSubmitDate": s.study_first_submit_date,
            "studyFirstPostDateStruct": {"date": s.study_first_post_date} if s.study_first_post_date else None,
            "resultsFirstPostDateStruct": {"date": s.results_first_post_date} if s.results_first_post_date else None,
            "lastUpdatePostDateStruct": {"date": s.last_update_post_date} if s.last_update_post_date else None,
        },
        "sponsorCollaboratorsModule": {
            "responsibleParty": (
                {
                    "type": reg.responsible_party.type,
                    "investigatorFullName": reg.responsible_party.investigator_full_name,
                    "investigatorTitle": reg.responsible_party.investigator_title,
                    "investigatorAffiliation": reg.responsible_party.investigator_affiliation,
                }
                if reg.responsible_party
                else None
            ),
            "leadSponsor": {"name": reg.sponsor.name, "class": reg.sponsor.class_} if reg.sponsor else None,
            "collaborators": [{"name": c.name, "class": c.class_} for c in reg.collaborators],
        },
        "descriptionModule": {"briefSummary": reg.brief_summary, "detailedDescription": reg.detailed_description},
        "conditionsModule": {"conditions": reg.conditions, "keywords": reg.keywords},
        "designModule": {
            "studyType": d.study_type,
            "phases": d.phases,
            "designInfo": {
                "allocation": d.allocation,
                "interventionModel": d.intervention_model,
                "interventionModelDescription": d.intervention_model_description,
                "primaryPurpose": d.primary_purpose,
                "maskingInfo": {"masking": d.masking, "whoMasked": d.who_masked},
            },
            "enrollmentInfo": {"count": d.enrollment.count, "type": d.enrollment.type} if d.enrollment else None,
        },
        "armsInterventionsModule": {
            "armGroups": [
                {
                    "label": a.label,
                    "type": a.type,
                    "description": a.description,
                    "interventionNames": a.intervention_names,
                }
                for a in reg.arm_groups
            ],
            "interventions": [
                {
                    "type": x.type,
                    "name": x.name,
                    "description": x.description,
                    "armGroupLabels": x.arm_group_labels,
                    "otherNames": x.other_names,
                }
                for x in reg.interventions
            ],
        },
        "outcomesModule": {
            f"{kind}Outcomes": [
                {"measure": o.measure, "description": o.description, "timeFrame": o.time_frame}
                for o in getattr(reg.outcomes, kind)
            ]
            for kind in ("primary", "secondary", "other")
        },
        "eligibilityModule": {
            "eligibilityCriteria": criteria_text,
            "healthyVolunteers": e.healthy_volunteers,
            "sex": e.sex,
            "genderBased": e.gender_based,
            "minimumAge": e.minimum_age,
            "maximumAge": e.maximum_age,
            "stdAges": e.std_ages,
        },
        "contactsLocationsModule": {
            "centralContacts": [contact(c) for c in reg.central_contacts],
            "locations": [
                {
                    "facility": loc.facility,
                    "status": loc.status.value
                    if loc.status and loc.status.value != "CLOSED"
                    else ("COMPLETED" if loc.status else None),
                    "city": loc.city,
                    "state": loc.state,
                    "zip": loc.zip,
                    "country": loc.country,
                    "contacts": [contact(c) for c in loc.contacts],
                }
                for loc in reg.locations
            ],
        },
        "referencesModule": {
            "references": [{"pmid": r.pmid, "type": r.type, "citation": r.citation} for r in reg.references]
        },
    }
    modeled: dict[str, Any] = _prune({"protocolSection": ps})
    return modeled


def _residual(original: Any, modeled: Any) -> Any:
    """What of ``original`` the modeled export does not produce (None when nothing is left)."""
    if isinstance(original, dict) and isinstance(modeled, dict):
        out = {}
        for key, value in original.items():
            if key in modeled:
                rest = _residual(value, modeled[key])
                if rest is not None:
                    out[key] = rest
            else:
                out[key] = value
        return out or None
    if isinstance(original, list) and isinstance(modeled, list) and len(original) == len(modeled):
        rests = [_residual(a, b) for a, b in zip(original, modeled)]
        return rests if any(r is not None for r in rests) else None
    return None  # scalars and reshaped lists: the modeled value wins


def _merge(modeled: Any, residual: Any) -> Any:
    if residual is None:
        return modeled
    if isinstance(modeled, dict) and isinstance(residual, dict):
        out = dict(modeled)
        for key, value in residual.items():
            out[key] = _merge(modeled[key], value) if key in modeled else copy.deepcopy(value)
        return out
    if isinstance(modeled, list) and isinstance(residual, list) and len(modeled) == len(residual):
        return [_merge(a, b) for a, b in zip(modeled, residual)]
    return modeled


_PS_ORDER = [
    "identificationModule",
    "statusModule",
    "sponsorCollaboratorsModule",
    "oversightModule",
    "descriptionModule",
    "conditionsModule",
    "designModule",
    "armsInterventionsModule",
    "outcomesModule",
    "eligibilityModule",
    "contactsLocationsModule",
    "referencesModule",
    "ipdSharingStatementModule",
]


def protocol_to_study(protocol: Protocol, *, results_section: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export a protocol as a CT.gov API v2 study dict (modeled fields + kept extras [+ posted results])."""
    modeled = registry_to_modeled_study(protocol.registry)
    study = _merge(modeled, protocol.registry.extra.get("residual"))
    ps = study.get("protocolSection", {})
    study["protocolSection"] = {
        k: ps[k] for k in sorted(ps, key=lambda k: (_PS_ORDER.index(k) if k in _PS_ORDER else 99, k))
    }
    if results_section is not None:
        study["resultsSection"] = results_section
        study["hasResults"] = True
    elif "hasResults" not in study:
        study["hasResults"] = "resultsSection" in study
    order = [
        "protocolSection",
        "resultsSection",
        "annotationSection",
        "documentSection",
        "derivedSection",
        "hasResults",
    ]
    return {k: study[k] for k in sorted(study, key=lambda k: order.index(k) if k in order else 99)}


def study_to_protocol(study: dict[str, Any], *, path: str = "$") -> Protocol:
    """Validate and map one CT.gov study dict to a :class:`Protocol` (operations empty)."""
    if not isinstance(study, dict):
        raise InvalidInput([Problem(path, f"a study must be a JSON object, not {type(study).__name__}")])
    if "protocolSection" not in study:
        raise InvalidInput([Problem(f"{path}.protocolSection", "is missing")])
    problems = schema_problems(study, strict=False, prefix=path)
    if problems:
        raise InvalidInput(problems)
    registry = study_to_registry(study)
    try:
        record = RegistryRecord.model_validate(registry)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix=f"{path}(registry)")) from exc
    residual = _residual(study, registry_to_modeled_study(record))
    if residual:
        record = record.model_copy(update={"extra": {"residual": residual}})
    return Protocol(registry=record)
