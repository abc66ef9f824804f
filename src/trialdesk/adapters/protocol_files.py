"""Reading protocol files (YAML or JSON) with line numbers in every error."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialdesk.domain.errors import InvalidInput, Problem
from trialdesk.domain.protocol import Protocol


def default_trial_id() -> str:
    """The deployment's default trial: configuration (``Settings.default_trial``), never a constant in code."""
    from trialdesk.settings import get_settings

    return get_settings().default_trial


def packaged_protocol_path(nct_id: str | None = None) -> Path:
    """Path of a protocol file shipped with trialdesk (the default trial's when ``nct_id`` is None)."""
    nct_id = nct_id or default_trial_id()
    path = Path(str(resources.files("trialdesk") / "protocols" / f"{nct_id}.yaml"))
    if not path.is_file():
        raise InvalidInput(f"no packaged protocol for {nct_id}", field="nct_id")
    return path


#: A place in a YAML document: mapping keys and sequence indices, from the root down.
YamlPath = tuple[str | int, ...]


def _line_map(text: str) -> dict[YamlPath, int]:
    """Map each YAML path (tuple of keys/indices) to its 1-based line number."""
    lines: dict[YamlPath, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: YamlPath) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[path + (key.value,)] = key.start_mark.line + 1
                walk(value, path + (key.value,))
                lines[path + (key.value,)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return lines


def _nearest_line(lines: dict[YamlPath, int], loc: YamlPath) -> int | None:
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def parse_protocol_text(text: str, *, source: str = "<protocol>") -> Protocol:
    """Parse and validate a protocol; raise :class:`InvalidInput` listing every problem with path and line."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput([Problem(source, f"not valid YAML: {getattr(exc, 'problem', exc)}", line)]) from exc
    if not isinstance(data, dict):
        raise InvalidInput([Problem("", "a protocol file must hold a mapping with 'registry' and 'operations'")])
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        lines = _line_map(text)
        problems = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            path = ".".join(str(p) for p in loc)
            problems.append(Problem(path, err.get("msg", "invalid"), _nearest_line(lines, loc)))
        raise InvalidInput(problems) from exc


def load_protocol(path: str | Path) -> Protocol:
    """Load a protocol from a YAML or JSON file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="path")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        text = json.dumps(json.loads(text))  # JSON is YAML; lines are lost but paths remain
    return parse_protocol_text(text, source=str(path))


def load_default_protocol(nct_id: str | None = None) -> Protocol:
    return load_protocol(packaged_protocol_path(nct_id))
