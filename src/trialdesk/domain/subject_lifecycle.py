"""A subject's life in the trial: the statuses, the moves between them, and the rules that pick the next one.

The status is stored as text on the subject row (``subjects.status``); :class:`SubjectStatus` holds the same
strings, so rows written before this module existed read back unchanged. Like the site activation machine
(:mod:`trialdesk.domain.sites`), the allowed moves are one table, :data:`TRANSITIONS`.

Two families of moves exist, and they follow different rules on purpose:

- *Screening* (``screening``, ``eligible``, ``screen_failed``) may go back and forth: each (re)screening sets the
  status from its verdict (:data:`SCREENING_STATUS`), and a subject may be rescreened while in one of these.
- *After randomization* the status only moves forward (:data:`RANK`): a first dose makes the subject
  ``on_treatment``, disposition events make it ``off_treatment``, ``off_study`` or ``dead``
  (:data:`DISPOSITION_STATUS`). A late-entered event that would move the status back is recorded, but leaves the
  status where it is: :func:`advance` answers ``None`` then.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DISPOSITION_STATUS",
    "RANK",
    "RESCREENABLE",
    "SCREENING_STATUS",
    "TRANSITIONS",
    "SubjectStatus",
    "advance",
    "can_rescreen",
    "status_after_disposition",
    "status_after_screening",
]


class SubjectStatus(StrEnum):
    """The statuses of a subject, with the strings stored in ``subjects.status``."""

    SCREENING = "screening"
    ELIGIBLE = "eligible"
    SCREEN_FAILED = "screen_failed"
    RANDOMIZED = "randomized"
    ON_TREATMENT = "on_treatment"
    OFF_TREATMENT = "off_treatment"
    OFF_STUDY = "off_study"
    DEAD = "dead"


S = SubjectStatus

#: Subject status after a screening, by the screening verdict.
SCREENING_STATUS: dict[str, SubjectStatus] = {
    "eligible": S.ELIGIBLE,
    "ineligible": S.SCREEN_FAILED,
    "incomplete": S.SCREENING,
}

#: Statuses from which a patient may be (re)screened (the subject must not be allocated either).
RESCREENABLE: frozenset[SubjectStatus] = frozenset(SCREENING_STATUS.values())

#: Status after a disposition event, by its kind (``new_therapy`` changes no status).
DISPOSITION_STATUS: dict[str, SubjectStatus] = {
    "end_of_treatment": S.OFF_TREATMENT,
    "end_of_study": S.OFF_STUDY,
    "death": S.DEAD,
}

#: Order of the statuses after randomization, for "never go backwards"; the others rank 0.
RANK: dict[SubjectStatus, int] = {S.ON_TREATMENT: 1, S.OFF_TREATMENT: 2, S.OFF_STUDY: 3, S.DEAD: 4}

_SCREENING_FAMILY = frozenset({S.SCREENING, S.ELIGIBLE, S.SCREEN_FAILED})

#: The allowed moves. Screening statuses move among themselves and an eligible subject may be randomized; after
#: randomization every move goes up :data:`RANK`.
TRANSITIONS: dict[SubjectStatus, frozenset[SubjectStatus]] = {
    S.SCREENING: _SCREENING_FAMILY,
    S.ELIGIBLE: _SCREENING_FAMILY | {S.RANDOMIZED},
    S.SCREEN_FAILED: _SCREENING_FAMILY,
    S.RANDOMIZED: frozenset({S.ON_TREATMENT, S.OFF_TREATMENT, S.OFF_STUDY, S.DEAD}),
    S.ON_TREATMENT: frozenset({S.OFF_TREATMENT, S.OFF_STUDY, S.DEAD}),
    S.OFF_TREATMENT: frozenset({S.OFF_STUDY, S.DEAD}),
    S.OFF_STUDY: frozenset({S.DEAD}),
    S.DEAD: frozenset(),
}


def _rank(status: str | None) -> int:
    try:
        return RANK.get(SubjectStatus(status), 0) if status else 0
    except ValueError:  # an unknown stored value ranks with the pre-treatment statuses, as it always did
        return 0


def advance(current: str | None, new: SubjectStatus) -> SubjectStatus | None:
    """The status a post-randomization event moves the subject to, or ``None`` when it would not move forward
    (the event is still recorded; the status never goes back, e.g. a first dose entered after end of study)."""
    return new if RANK.get(new, 0) > _rank(current) else None


def status_after_screening(verdict: str) -> SubjectStatus:
    """The subject's status once a screening with ``verdict`` (eligible, ineligible, incomplete) is stored."""
    return SCREENING_STATUS[verdict]


def can_rescreen(current: str | None) -> bool:
    """Whether a subject with this status may be screened again (a randomized subject may not)."""
    return current in RESCREENABLE


def status_after_disposition(kind: str) -> SubjectStatus | None:
    """The status a disposition event of ``kind`` moves the subject towards (``None``: no status change)."""
    return DISPOSITION_STATUS.get(kind)
