"""Reading CT.gov files: a study JSON, a list of studies, an API page (``{"studies": [...]}``) or legacy XML."""

from __future__ import annotations

import json
from pathlib import Path

from trialdesk.adapters.ctgov.legacy_xml import legacy_xml_to_study
from trialdesk.adapters.ctgov.study_json import study_to_protocol
from trialdesk.domain.errors import InvalidInput, Problem
from trialdesk.domain.protocol import Protocol


def read_studies(path: str | Path) -> list[Protocol]:
    """Read a study JSON, a JSON list of studies (or ``{"studies": [...]}``), or a legacy XML record."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="path")
    raw = path.read_bytes()
    if raw.lstrip()[:1] == b"<":
        return [study_to_protocol(legacy_xml_to_study(raw, source=str(path)), path=f"{path.name}:$")]
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem(f"{path.name}", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", exc.lineno)]
        ) from exc
    if isinstance(doc, dict) and "studies" in doc and "protocolSection" not in doc:
        doc = doc["studies"]
    if isinstance(doc, list):
        protocols = []
        problems: list[Problem] = []
        for index, study in enumerate(doc):
            try:
                protocols.append(study_to_protocol(study, path=f"{path.name}:$[{index}]"))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidInput(problems)
        return protocols
    return [study_to_protocol(doc, path=f"{path.name}:$")]
