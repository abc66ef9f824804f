"""Reading CT.gov files: a study JSON, a list of studies, an API page (``{"studies": [...]}``) or legacy XML."""

from __future__ import annotations

import json
from pathlib import Path

from trialdesk.adapters.ctgov.legacy_xml import legacy_xml_to_study
from trialdesk.adapters.ctgov.study_json import study_to_protocol
from trialdesk.domain.errors import InvalidInput, Problem
from trialdesk.domain.protocol import Protocol
from trialdesk.settings import Settings, get_settings


def study_size_problem(study: object, path: str, settings: Settings) -> Problem | None:
    """A study larger than ``registry_max_study_bytes`` (as compact JSON) or holding a list longer than
    ``registry_max_list_items`` (50,000 arm groups), or None. Walks the study without recursion."""
    size = len(json.dumps(study, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > settings.registry_max_study_bytes:
        return Problem(path, f"the study is {size} bytes; at most {settings.registry_max_study_bytes} are accepted")
    stack: list[tuple[object, str]] = [(study, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            stack.extend((item, f"{where}.{key}") for key, item in value.items())
        elif isinstance(value, list):
            if len(value) > settings.registry_max_list_items:
                limit = settings.registry_max_list_items
                return Problem(where, f"holds {len(value)} items; at most {limit} are accepted")
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
    return None


def _bounded(study: object, path: str, settings: Settings) -> Protocol:
    problem = study_size_problem(study, path, settings)
    if problem is not None:
        raise InvalidInput([problem])
    return study_to_protocol(study, path=path)  # type: ignore[arg-type]  # it checks the type itself


def read_studies(path: str | Path, *, settings: Settings | None = None) -> list[Protocol]:
    """Read a study JSON, a JSON list of studies (or ``{"studies": [...]}``), or a legacy XML record, within the
    ``registry_*`` bounds of the settings (a file, a study, a list that is too large is refused before mapping)."""
    settings = settings or get_settings()
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="path")
    size = path.stat().st_size
    if size > settings.registry_max_file_bytes:
        limit = settings.registry_max_file_bytes
        raise InvalidInput([Problem(path.name, f"the file is {size} bytes; at most {limit} are accepted")])
    raw = path.read_bytes()
    if raw.lstrip()[:1] == b"<":
        return [_bounded(legacy_xml_to_study(raw, source=str(path)), f"{path.name}:$", settings)]
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem(f"{path.name}", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", exc.lineno)]
        ) from exc
    except RecursionError:
        raise InvalidInput([Problem(path.name, "JSON nested too deeply to be a study")]) from None
    if isinstance(doc, dict) and "studies" in doc and "protocolSection" not in doc:
        doc = doc["studies"]
    if isinstance(doc, list):
        protocols = []
        problems: list[Problem] = []
        for index, study in enumerate(doc):
            try:
                protocols.append(_bounded(study, f"{path.name}:$[{index}]", settings))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidInput(problems)
        return protocols
    return [_bounded(doc, f"{path.name}:$", settings)]
