"""ClinicalTrials.gov interchange: API v2 study JSON (and legacy ``<clinical_study>`` XML) <-> :class:`Protocol`.

- :mod:`.schema`: NLM's study schema (shipped with the package) and validation against it;
- :mod:`.criteria`: eligibility criteria markdown <-> structured criteria;
- :mod:`.study_json`: study JSON import and export (with the residual that makes round trips exact);
- :mod:`.legacy_xml`: legacy XML records -> study JSON;
- :mod:`.files`: reading any of these from a file.

``from trialdesk.adapters.ctgov import X`` keeps working for every public name.
"""

from __future__ import annotations

from trialdesk.adapters.ctgov.criteria import parse_criteria_text, render_criteria_text
from trialdesk.adapters.ctgov.files import read_studies
from trialdesk.adapters.ctgov.legacy_xml import legacy_xml_to_study
from trialdesk.adapters.ctgov.schema import (
    find_oas_spec,
    load_component_schemas,
    schema_problems,
    shipped_spec,
    study_validator,
)
from trialdesk.adapters.ctgov.study_json import (
    protocol_to_study,
    registry_to_modeled_study,
    study_to_protocol,
    study_to_registry,
)

__all__ = [
    "find_oas_spec",
    "legacy_xml_to_study",
    "load_component_schemas",
    "parse_criteria_text",
    "protocol_to_study",
    "read_studies",
    "registry_to_modeled_study",
    "render_criteria_text",
    "schema_problems",
    "shipped_spec",
    "study_to_protocol",
    "study_to_registry",
    "study_validator",
]
