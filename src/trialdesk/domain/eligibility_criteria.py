"""Criteria as the registry states them, and how the protocol says each is decided.

The registry record lists inclusion and exclusion criteria as text; the protocol's eligibility section gives each
id a :class:`CriterionRule`. The two are read from different places (the registry JSON, the registry's own text
format, the protocol file) and must agree id for id, which :func:`trialdesk.domain.eligibility.evaluate` checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CRITERION_ID",
    "Criterion",
    "CriterionRule",
    "ProtocolError",
    "coerce_criteria",
    "criteria_from_registry_text",
]

CRITERION_ID = re.compile(r"^(INC|EXC)-\d{2}(\.\d{2})?$")


class ProtocolError(ValueError):
    """The eligibility section of the protocol is inconsistent with itself or with the registry criteria."""


class CriterionRule(BaseModel):
    """How one criterion is decided: exactly one of ``rule``, ``attestation``, ``heading``."""

    model_config = ConfigDict(extra="forbid")

    rule: str | None = Field(None, description="Expression true when the requirement is satisfied.")
    attestation: str | None = Field(None, description="What the investigator attests.")
    heading: bool = Field(False, description="Status derived from the numbered children.")
    note: str | None = Field(None, description="How the rule reads the criterion.")

    @model_validator(mode="after")
    def _one(self) -> CriterionRule:
        n = (self.rule is not None) + (self.attestation is not None) + bool(self.heading)
        if n != 1:
            raise ValueError("give exactly one of rule, attestation, heading")
        return self

    @property
    def basis(self) -> str:
        return "rule" if self.rule is not None else "attestation" if self.attestation is not None else "heading"


class Criterion(BaseModel):
    """A registry criterion: stable id and verbatim text."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    text: str

    @property
    def kind(self) -> str:
        return "inclusion" if self.id.startswith("INC") else "exclusion"


def coerce_criteria(criteria: Any) -> list[Criterion]:
    """Registry criteria, flattened in order (children after their heading).

    Accepts the registry ``eligibility`` object (``inclusion`` + ``exclusion`` lists), a list of objects/dicts
    with ``id``, ``text`` and optional ``children``, or a mapping id -> text.
    """
    if criteria is None:
        return []
    if not isinstance(criteria, (Mapping, list, tuple)) and hasattr(criteria, "inclusion"):
        criteria = list(criteria.inclusion) + list(criteria.exclusion)
    if isinstance(criteria, Mapping) and "inclusion" in criteria:
        criteria = list(criteria.get("inclusion", [])) + list(criteria.get("exclusion", []))
    if isinstance(criteria, Mapping):
        return [Criterion(id=k, text=v if isinstance(v, str) else _get(v, "text")) for k, v in criteria.items()]
    out: list[Criterion] = []

    def add(c: Any) -> None:
        out.append(Criterion(id=_get(c, "id"), text=_get(c, "text")))
        kids = c.get("children") if isinstance(c, Mapping) else getattr(c, "children", None)
        for k in kids or []:
            add(k)

    for c in criteria:
        add(c)
    return out


def _get(obj: Any, attr: str) -> Any:
    return obj[attr] if isinstance(obj, Mapping) else getattr(obj, attr)


def criteria_from_registry_text(text: str) -> list[Criterion]:
    """Criterion ids and verbatim texts from the registry record's eligibility section (ClinicalTrials.gov text).

    Top-level bullets ``* ...`` are numbered ``INC-01``... / ``EXC-01``...; numbered lines under a bullet become
    its children ``EXC-03.01``...
    """
    m_inc = text.find("Inclusion Criteria")
    m_exc = text.find("Exclusion Criteria")
    if m_inc < 0 or m_exc < 0:
        raise ProtocolError("registry text has no 'Inclusion Criteria' / 'Exclusion Criteria' sections")
    end = len(text)
    for marker in ("Minimum Eligible Age", "Sex:", "Ages Eligible"):
        k = text.find(marker, m_exc)
        if k >= 0:
            end = min(end, k)
    out: list[Criterion] = []
    for prefix, block in (("INC", text[m_inc:m_exc]), ("EXC", text[m_exc:end])):
        top = 0
        sub = 0
        for line in block.splitlines()[1:]:
            s = line.strip()
            if s.startswith("* "):
                top += 1
                sub = 0
                out.append(Criterion(id=f"{prefix}-{top:02d}", text=s[2:].strip()))
            elif re.match(r"^\d+\.\s", s) and top:
                sub += 1
                out.append(Criterion(id=f"{prefix}-{top:02d}.{sub:02d}", text=re.sub(r"^\d+\.\s*", "", s)))
    return out
