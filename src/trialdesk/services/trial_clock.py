"""The trial clock: the one "now" of a database, for the web, every CLI command and the audit trail.

A database normally runs on the real clock. A simulated one (the demo) runs ahead of it: the simulation ends on a
day after the real date, and the trial must go on from that day, the same for every process that opens the
database. The simulation records, as an audited event (``clock.simulated``, entity ``trial_clock/database``), how
far its clock is ahead of the real one when it stops; :func:`trial_clock` reads the latest such event and gives
``real now + offset``. Every process therefore agrees on the date, and the clock runs at real speed from where the
simulation stopped. No table of its own: the audit trail is the record (who set it, when and why), and a database
restored from a backup keeps it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import AbstractContextManager

from trialdesk.services.unit_of_work import Clock, UnitOfWork, utc_now

ACTION = "clock.simulated"
ENTITY_TYPE = "trial_clock"
ENTITY_ID = "database"


class OffsetClock:
    """The real clock moved ``offset`` ahead (never behind: a negative offset counts as none)."""

    def __init__(self, offset: dt.timedelta, real: Clock = utc_now) -> None:
        self.offset = max(offset, dt.timedelta(0))
        self.real = real

    def __call__(self) -> dt.datetime:
        return self.real() + self.offset

    def __repr__(self) -> str:
        return f"OffsetClock({self.offset!r})"


def mark_simulated(uow: UnitOfWork, simulated_now: dt.datetime, real_now: dt.datetime, *, reason: str) -> None:
    """Queue the event that puts this database on a simulated clock: ``simulated_now`` is the simulation's "now"
    at the real moment ``real_now``. The caller commits."""
    offset = simulated_now - real_now
    uow.record(
        ACTION,
        ENTITY_TYPE,
        ENTITY_ID,
        after={
            "simulated_at": simulated_now.isoformat(),
            "real_at": real_now.isoformat(),
            "offset_seconds": round(offset.total_seconds()),
        },
        reason=reason,
    )


def stored_offset(uow: UnitOfWork) -> dt.timedelta | None:
    """How far this database's clock runs ahead of the real one (latest ``clock.simulated`` event), or None."""
    rows = uow.audit.query(entity_type=ENTITY_TYPE, entity_id=ENTITY_ID, action_prefix=ACTION, limit=1)
    if not rows or not rows[0].after_json:
        return None
    after = json.loads(rows[0].after_json)
    return dt.timedelta(seconds=float(after["offset_seconds"]))


def trial_clock(open_uow: Callable[[], AbstractContextManager[UnitOfWork]], real: Clock = utc_now) -> Clock:
    """The database's clock: ``real`` moved by the stored offset when the database runs on a simulated clock,
    else ``real`` itself."""
    with open_uow() as uow:
        offset = stored_offset(uow)
    return real if offset is None or offset <= dt.timedelta(0) else OffsetClock(offset, real)
