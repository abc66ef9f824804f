"""Panels of a subject's page. Each feature module registers one; the page shows them in registration order."""

from __future__ import annotations

from typing import Callable

PanelFn = Callable[..., dict | None]
PANELS: list[tuple[str, PanelFn]] = []


def register(name: str, fn: PanelFn) -> None:
    if all(existing != name for existing, _ in PANELS):
        PANELS.append((name, fn))


#: The order site staff work in: allocation, calendar and doses first; then safety, efficacy, data quality.
ORDER = ["randomization", "calendar", "doses", "adverse_events", "tumour_assessments", "queries", "disposition",
         "signature", "screenings"]


def collect(uow, principal, nct_id: str, subject) -> dict:
    """``subject`` is the SubjectRow, already access-checked. A panel returns a dict with ``title`` and either
    ``rows``/``columns`` (a table), ``html`` (trusted, escaped by the panel) or ``items``; plus optional
    ``actions`` (links) and ``forms`` (template names to include)."""
    out = {}
    rank = {name: i for i, name in enumerate(ORDER)}
    for name, fn in sorted(PANELS, key=lambda p: rank.get(p[0], len(ORDER))):
        panel = fn(uow, principal, nct_id, subject)
        if panel is not None:
            out[name] = panel
    return out
