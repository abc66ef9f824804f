"""CT.gov's eligibility criteria markdown <-> structured :class:`Criterion` lists with stable ids."""

from __future__ import annotations

import re
from collections.abc import Iterable

from trialdesk.domain.protocol import Criterion

_BULLET = re.compile(r"^\s*[*\-•]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")


def parse_criteria_text(text: str | None) -> tuple[list[Criterion], list[Criterion]]:
    """Split CT.gov's markdown criteria into inclusion and exclusion criteria with stable ids.

    Bullets (``*``/``-``) are criteria; numbered lines under a bullet are its children (``EXC-03.01``).
    Free text outside a heading is attached to the previous criterion. Unparseable text yields no criteria.
    """
    inclusion: list[Criterion] = []
    exclusion: list[Criterion] = []
    current: list[Criterion] | None = None
    prefix = ""
    if not text:
        return inclusion, exclusion
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        low = line.lower().rstrip(":")
        if low.startswith("inclusion criteria"):
            current, prefix = inclusion, "INC"
            continue
        if low.startswith("exclusion criteria"):
            current, prefix = exclusion, "EXC"
            continue
        if current is None:
            continue
        bullet = _BULLET.match(raw)
        numbered = _NUMBERED.match(raw)
        if (bullet and not raw.startswith(("  ", "\t"))) or (bullet and not current):
            if len(current) >= 99:
                continue
            current.append(Criterion(id=f"{prefix}-{len(current) + 1:02d}", text=bullet.group(1).strip()))
        elif (item := numbered or bullet) and current:
            parent = current[-1]
            if len(parent.children) >= 99:
                continue
            body = item.group(2 if numbered else 1).strip()
            parent.children.append(Criterion(id=f"{parent.id}.{len(parent.children) + 1:02d}", text=body))
        elif numbered and len(current) < 99:
            current.append(Criterion(id=f"{prefix}-{len(current) + 1:02d}", text=numbered.group(2).strip()))
        elif len(current) < 99:
            current.append(Criterion(id=f"{prefix}-{len(current) + 1:02d}", text=line))
    return inclusion, exclusion


def render_criteria_text(inclusion: Iterable[Criterion], exclusion: Iterable[Criterion]) -> str:
    def block(criteria: Iterable[Criterion]) -> list[str]:
        lines = []
        for criterion in criteria:
            lines.append(f"* {criterion.text}")
            if criterion.children:
                lines.append("")
                lines.extend(f"{i}. {child.text}" for i, child in enumerate(criterion.children, 1))
        return lines

    return "\n".join(["Inclusion Criteria:", "", *block(inclusion), "", "Exclusion Criteria:", "", *block(exclusion)])
