"""axe-core (from npm, ``tests/a11y/package.json``; ``npm ci --prefix tests/a11y``) run inside a Playwright page.

The script is evaluated by Playwright through the DevTools protocol (``page.evaluate``), which the page's
Content-Security-Policy does not govern: no ``<script>`` element is added to the page, so the check needs no
exception in the policy (``page.add_script_tag`` would add an inline script, which the CSP rightly refuses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
#: the impacts that fail a page (axe's scale: minor, moderate, serious, critical)
FAILING = ("serious", "critical")


def require_axe() -> str:
    """axe-core's source; skips (fails under ``TRIALDESK_REQUIRE_ALL``) when ``npm ci`` has not installed it."""
    if not AXE.exists():
        message = f"axe-core is missing at {AXE} (run: npm ci --prefix tests/a11y)"
        if os.environ.get("TRIALDESK_REQUIRE_ALL"):
            pytest.fail(message + "; TRIALDESK_REQUIRE_ALL is set")
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any, source: str | None = None) -> list[dict[str, Any]]:
    """The page's serious and critical violations: ``[{id, impact, help, targets}]`` (axe's WCAG 2.x A/AA rules
    and its best practices)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source or require_axe())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ') + (n.failureSummary ? ' | ' + n.failureSummary : ''))}));
        }"""
    )
    return [v for v in result if v["impact"] in FAILING]


def describe(violations: list[dict[str, Any]]) -> str:
    """A readable list for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {t}" for t in v["targets"][:6])
    return "\n".join(lines)
