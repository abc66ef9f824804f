"""The demo's scenario and plumbing: its clock, its report, the scenario file, the demo users."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import yaml

from trialdesk.services.unit_of_work import Clock, UnitOfWork

if TYPE_CHECKING:
    from trialdesk.settings import Settings

T = TypeVar("T")

DEMO_PASSWORD_SUFFIX = "-demo-password"  # demo mode only: known passwords, printed and shown on the home page


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


class SimClock:
    """The demo's clock: services read it through ``uow.now()``."""

    def __init__(self, day: dt.date) -> None:
        self.set(day)

    def set(self, day: dt.date, hour: int = 10) -> None:
        self.current = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.current


@dataclass
class DemoReport:
    seed: int
    subjects_target: int
    start: str
    until: str
    screened: int = 0
    randomized: int = 0
    pfs_events: int = 0
    cut_date: str | None = None
    analysis_run: int | None = None
    results_posted: bool = False
    actions: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)
    ctcae_loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "subjects_target": self.subjects_target,
            "start": self.start,
            "until": self.until,
            "screened": self.screened,
            "randomized": self.randomized,
            "pfs_events": self.pfs_events,
            "cut_date": self.cut_date,
            "analysis_run": self.analysis_run,
            "results_posted": self.results_posted,
            "actions": dict(self.actions),
            "refused": self.refused[:50],
            "refused_count": len(self.refused),
            "ctcae_loaded": self.ctcae_loaded,
            "users": self.users,
        }


def load_scenario(path: str | Path | None = None, *, nct_id: str | None = None) -> dict[str, Any]:
    """The demo scenario: the file ``path``, else the one shipped beside the trial's protocol
    (``protocols/<nct_id>.demo.yaml``)."""
    if path is None:
        if nct_id is None:
            raise ValueError("load_scenario needs the scenario file or the trial it simulates")
        path = Path(str(resources.files("trialdesk") / "protocols" / f"{nct_id}.demo.yaml"))
    scenario: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return scenario


def demo_users(sites: list[str], codes: dict[str, str]) -> list[tuple[str, str, list[str] | None, str]]:
    """(username, role, sites, display name) of the demo's users."""
    users: list[tuple[str, str, list[str] | None, str]] = [
        ("admin.demo", "admin", None, "Trial administrator"),
        ("stat.demo", "statistician", None, "Unblinded statistician"),
        ("sponsor.demo", "sponsor", None, "Sponsor study manager"),
        ("monitor.demo", "monitor", None, "Clinical research associate"),
    ]
    for site in sites:
        users.append((f"coord.{codes[site]}", "coordinator", [site], f"Study coordinator, site {codes[site]}"))
        users.append((f"inv.{codes[site]}", "investigator", [site], f"Investigator, site {codes[site]}"))
    return users


# ---------------------------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------------------------

# Within a day: activation, screening, randomization, doses, AEs, assessments, disposition, monitoring.
EVENT_ORDER = {
    "activate": 0,
    "screen": 1,
    "randomize": 2,
    "dose": 3,
    "ae": 4,
    "assess": 5,
    "dispose": 6,
    "query": 7,
    "answer": 8,
    "sign": 9,
}


class DemoApp(Protocol):
    """What the demo drives: units of work on one database and the configuration (the default trial). The app's
    ``clock`` attribute, which its units of work read, is replaced by the simulated clock (:func:`use_clock`)."""

    @property
    def settings(self) -> Settings: ...

    def uow(self, actor: str = "system") -> UnitOfWork: ...


def use_clock(td: DemoApp, clock: Clock) -> None:
    """Run ``td`` on ``clock`` from now on: the units of work it opens read it, during the simulation and after it
    (calendars and the dashboard are then as of the simulated trial's last day, until the caller restores the real
    clock). Not part of :class:`DemoApp`'s type: an app's clock is a plain attribute that type checkers see as a
    method, never as settable."""
    app: Any = td
    app.clock = clock
