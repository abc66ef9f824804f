"""When results may be posted, and what the registry says about the trial: pure rules, no I/O, no clock.

* :func:`analysis_due_problem`: the protocol's primary analysis is event-driven (``operations.design.target_events``,
  the PFS events that trigger the final analysis); results of a run may be posted once the run's data cut holds
  that many events, or once an early stop has been recorded (a :class:`DecisionKind.EARLY_STOP` decision, with
  its reason, by the sponsor or the statistician).
* :func:`registry_status`: the one computation of the registry's overall recruitment status from operations,
  in CT.gov's vocabulary (``Status`` of the PRS data element definitions): *Recruiting* while sites recruit and
  the target is not reached; *Active, not recruiting* once the target is reached or recruitment is closed (an
  early stop, a recorded closure) or no site recruits any more; *Completed* only when the trial is: the last
  subject has ended the study (end of study or death) after recruitment closed, or a completion is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from trialdesk.domain.protocol import OverallStatus

__all__ = ["DecisionKind", "OPERATIONAL_STATUSES", "TrialOperations", "analysis_due_problem", "registry_status"]


class DecisionKind(StrEnum):
    """A recorded trial-level decision (``trial_decisions``)."""

    #: The primary analysis is brought forward (e.g. a DMC recommendation at an interim): recruitment closes and the
    #: analysis is due whatever the event count.
    EARLY_STOP = "early_stop"
    #: Recruitment closed before the target was reached (no analysis implied).
    RECRUITMENT_CLOSED = "recruitment_closed"
    #: The trial is completed (the sponsor's declaration, e.g. the last subject's last visit recorded elsewhere).
    COMPLETED = "completed"


#: Statuses that operations drive; any other status of the record (withdrawn, terminated, suspended, completed,
#: unknown, an expanded-access status) is the registry's own word and is kept as it is.
OPERATIONAL_STATUSES: frozenset[OverallStatus] = frozenset(
    {
        OverallStatus.NOT_YET_RECRUITING,
        OverallStatus.RECRUITING,
        OverallStatus.ENROLLING_BY_INVITATION,
        OverallStatus.ACTIVE_NOT_RECRUITING,
    }
)


def analysis_due_problem(events: int, target_events: int | None, decisions: Iterable[str]) -> str | None:
    """Why results at a cut holding ``events`` PFS events may not be posted yet, or ``None`` when the primary
    analysis is due (``target_events`` reached, or an early stop recorded)."""
    if DecisionKind.EARLY_STOP in set(decisions):
        return None
    if target_events is None:
        return (
            "the protocol states no target events for the primary analysis (operations.design.target_events) "
            "and no early stop is recorded"
        )
    if events >= target_events:
        return None
    return (
        f"the primary analysis is not due: {events} of {target_events} PFS events at the data cut, "
        "and no early stop is recorded"
    )


@dataclass(frozen=True)
class TrialOperations:
    """What the registry status is computed from."""

    record_status: OverallStatus
    #: whether trialdesk runs this trial (it randomizes subjects): otherwise the record's status stands
    operated: bool
    site_statuses: tuple[str, ...] = ()
    randomized: int = 0
    sample_size: int | None = None
    #: randomized subjects who have not ended the study (no end-of-study disposition, alive)
    in_study: int = 0
    decisions: frozenset[str] = field(default_factory=frozenset)


def registry_status(ops: TrialOperations) -> OverallStatus:
    """The trial's overall recruitment status now (see the module docstring)."""
    if not ops.operated or ops.record_status not in OPERATIONAL_STATUSES:
        return ops.record_status
    target_reached = ops.sample_size is not None and ops.randomized >= ops.sample_size
    closed = (
        target_reached or DecisionKind.EARLY_STOP in ops.decisions or DecisionKind.RECRUITMENT_CLOSED in ops.decisions
    )
    if DecisionKind.COMPLETED in ops.decisions or (closed and ops.randomized > 0 and ops.in_study == 0):
        return OverallStatus.COMPLETED
    if closed:
        return OverallStatus.ACTIVE_NOT_RECRUITING
    if OverallStatus.RECRUITING.value in ops.site_statuses:
        return OverallStatus.RECRUITING
    if ops.randomized == 0:
        return OverallStatus.NOT_YET_RECRUITING
    return OverallStatus.ACTIVE_NOT_RECRUITING
