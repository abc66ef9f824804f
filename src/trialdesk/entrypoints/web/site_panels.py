"""Panels of a site's operations page. Each feature module contributes a panel; all are site-scoped."""

from __future__ import annotations

from typing import Callable

PanelFn = Callable[..., dict | None]
PANELS: list[tuple[str, PanelFn]] = []


def register(name: str, fn: PanelFn) -> None:
    PANELS.append((name, fn))


def collect(uow, principal, nct_id: str, site_key: str) -> dict:
    out = {}
    for name, fn in PANELS:
        panel = fn(uow, principal, nct_id, site_key)
        if panel is not None:
            out[name] = panel
    return out
