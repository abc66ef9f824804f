"""Validation against NLM's study schema (the component schemas of the CT.gov API v2 OpenAPI spec).

The schemas ship inside the package (``trialdesk/data/ctg-oas-v2.schemas.json``, see its README), so validation
can never silently switch off because a folder beside the checkout is missing. ``$TRIALDESK_CTGOV_OAS``
(``Settings.ctgov_oas``) names a newer ``ctg-oas-v2.yaml`` to validate against instead. Validators are built once
per (spec, strictness, schema): converting the spec and compiling the validator costs more than validating.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trialdesk.domain.errors import Problem
from trialdesk.settings import Settings, get_settings

SHIPPED_SPEC_NAME = "ctg-oas-v2.schemas.json"


def shipped_spec() -> Path:
    """The schemas shipped with the package."""
    return Path(str(resources.files("trialdesk") / "data" / SHIPPED_SPEC_NAME))


def find_oas_spec(settings: Settings | None = None) -> Path:
    """The spec to validate against: ``ctgov_oas`` ($TRIALDESK_CTGOV_OAS) when it names a file, else the shipped
    schemas. Never None: there is always a schema."""
    configured = (settings or get_settings()).ctgov_oas
    if configured and Path(configured).is_file():
        return Path(configured)
    return shipped_spec()


@lru_cache(maxsize=4)
def _load_spec(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    return spec


def load_component_schemas(path: str | Path | None = None) -> dict[str, Any]:
    """``components.schemas`` of a spec (default: the one :func:`find_oas_spec` picks)."""
    schemas: dict[str, Any] = _load_spec(str(path or find_oas_spec()))["components"]["schemas"]
    return schemas


def _relax(schema: Any) -> Any:
    """Copy of a schema that tolerates unknown keys (for import of real files)."""
    if isinstance(schema, dict):
        out = {k: _relax(v) for k, v in schema.items() if k != "additionalProperties"}
        return out
    if isinstance(schema, list):
        return [_relax(v) for v in schema]
    return schema


def _oas_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` -> JSON Schema type lists."""
    if isinstance(node, dict):
        out = {k: _oas_to_jsonschema(v) for k, v in node.items()}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_oas_to_jsonschema(v) for v in node]
    return node


@lru_cache(maxsize=16)
def _validator(path: str, strict: bool, schema: str) -> Any:
    import jsonschema

    spec = _oas_to_jsonschema(_load_spec(path))
    if not strict:
        spec = _relax(spec)
    root = {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    return jsonschema.Draft7Validator(root)


def study_validator(
    spec_path: str | Path | None = None, *, strict: bool = True, schema: str = "Study", settings: Settings | None = None
) -> Any:
    """A jsonschema validator for a component schema of the CT.gov OpenAPI spec (``strict=False`` tolerates
    unknown keys)."""
    path = Path(spec_path) if spec_path else find_oas_spec(settings)
    return _validator(str(path), strict, schema)


def schema_problems(
    doc: Any,
    *,
    strict: bool = True,
    spec_path: str | Path | None = None,
    schema: str = "Study",
    prefix: str = "$",
    settings: Settings | None = None,
) -> list[Problem]:
    """Every way ``doc`` fails ``schema``, each with its JSON path under ``prefix`` ([] when valid)."""
    validator = study_validator(spec_path, strict=strict, schema=schema, settings=settings)
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        problems.append(Problem(path, err.message[:300]))
    return problems
