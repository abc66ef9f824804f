"""Panels of a site's operations page. Each feature module contributes a panel; all are site-scoped."""

from __future__ import annotations

from typing import Callable

PanelFn = Callable[..., dict | None]
PANELS: list[tuple[str, PanelFn]] = []


def register(name: str, fn: PanelFn) -> None:
    PANELS.append((name, fn))


ORDER = ["upcoming_visits", "serious_adverse_events", "open_queries", "screening", "subjects"]


def collect(uow, principal, nct_id: str, site_key: str) -> dict:
    out = {}
    rank = {name: i for i, name in enumerate(ORDER)}
    for name, fn in sorted(PANELS, key=lambda p: rank.get(p[0], len(ORDER))):
        panel = fn(uow, principal, nct_id, site_key)
        if panel is not None:
            out[name] = panel
    return out
