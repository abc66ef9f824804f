"""The demo runner's state and plumbing: seeded generators, the event queue, calling a service as a user."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import TrialdeskError
from trialdesk.services.demo.scenario import EVENT_ORDER, DemoApp, DemoReport, SimClock, T, use_clock


class DemoBase:
    """What every part of the demo runner shares: the app, the protocol's sections, the simulated clock, the report,
    the event queue and the per-subject facts the simulation keeps."""

    def __init__(
        self,
        td: DemoApp,
        *,
        nct_id: str,
        subjects: int,
        seed: int,
        until: dt.date | None,
        to_completion: bool,
        scenario: dict[str, Any],
        progress: Callable[[int, int], None] | None,
        accrual_months: float | None,
    ) -> None:
        from trialdesk.services.registry import get_protocol

        self.td = td
        self.nct = nct_id
        self.seed = seed
        self.scenario = scenario
        self.progress = progress
        self.to_completion = to_completion
        with td.uow() as uow:
            self.protocol = get_protocol(uow, self.nct, live_sites=False)
        ops = self.protocol.operations
        start_date = self.protocol.registry.status.start_date
        if ops.treatment is None or ops.schedule is None or ops.eligibility is None or start_date is None:
            raise ValueError(f"the demo needs {nct_id}'s start date and its eligibility, treatment and schedule")
        self.treatment, self.schedule, self.eligibility = ops.treatment, ops.schedule, ops.eligibility
        self.start = start_date.as_date()
        self.until = until or (dt.date(2099, 1, 1) if to_completion else self.start + dt.timedelta(days=540))
        self.subjects = subjects
        design = self.protocol.operations.design
        self.target_events = max(4, round((design.target_events if design else 334) * subjects / 642))
        self.accrual_months = accrual_months or max(3.0, 24.0 * subjects / 642)
        self.clock = SimClock(self.start)
        use_clock(td, self.clock)
        self.report = DemoReport(
            seed=seed, subjects_target=subjects, start=self.start.isoformat(), until=self.until.isoformat()
        )
        self.principals: dict[str, Principal] = {}
        self.queue: list[tuple[dt.date, int, int, str, tuple[Any, ...]]] = []
        self.counter = 0
        self.pfs_events = 0
        self.cut: dt.date | None = None
        self.ae_grades: dict[str, list[int]] = {}
        self.subject_arm: dict[str, str] = {}
        self.subject_site: dict[str, str] = {}
        self.subject_weight: dict[str, float] = {}
        self.scheduled_answers: set[int] = set()
        self.sites: list[str] = []  # filled by setup()
        self.codes: dict[str, str] = {}  # site key -> the site's code (HUN, ...)

    # -- plumbing ---------------------------------------------------------------------------------------------
    def rng(self, *key: object) -> np.random.Generator:
        digest = hashlib.sha256(("|".join(map(str, (self.seed, *key)))).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def at(self, day: dt.date, kind: str, *payload: Any) -> None:
        import heapq

        self.counter += 1
        heapq.heappush(self.queue, (day, EVENT_ORDER[kind], self.counter, kind, payload))

    def call(self, username: str, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(uow, principal, *args, **kwargs)`` as ``username``, committed; a refusal is counted, not raised."""
        principal = self.principals[username]
        try:
            with self.td.uow(principal.username) as uow:
                result = fn(uow, principal, *args, **kwargs)
                uow.commit()
        except TrialdeskError as exc:
            self.report.refused.append(f"{self.clock().date()} {label} as {username}: {exc.message}")
            return None
        self.report.actions[label] += 1
        return result
