"""The subject's timeline: the one home of the order of clinical dates and of the trial's calendar bounds.

The order a subject's dates must follow::

    trial start <= consent <= screening <= randomization <= first dose <= later doses, tumour assessments,
    dispositions <= today (the unit of work's clock) and <= the trial's actual completion date

with these particulars:

- a baseline tumour assessment may precede randomization, by at most the protocol's
  ``operations.recist.baseline_window_days`` (RECIST 1.1, 3.2: never more than 4 weeks before the start of
  treatment), so it may precede the trial start by as much (standard-of-care imaging of the first subjects), never
  more;
- an adverse event's onset is not before the informed consent (when the subject has no consent date on record,
  not before the trial start);
- an analysis data cut-off lies inside the trial: not before the trial start nor the first randomization, not
  after today.

The trial's dates come from the registry record (:func:`trial_dates`): ``status.start_date`` is the start; the
end is ``status.completion_date`` only when its type is ``ACTUAL`` (an estimated completion may slip), otherwise
today is the upper bound. Every refusal is a :class:`~trialdesk.domain.errors.Problem` naming the field and the
date it conflicts with, e.g. ``screened_on: screened_on 2027-01-03 is before consent_date 2027-01-05``; the
checks return problems so that a use case reports every one at once (``InvalidInput(problems)``).

Rules that compare a date with the subject's own treatment course (a dose after a disposition, end of study not
before the last dose, a follow-up assessment after randomization) live with the course in
``domain/treatment_course.py`` and ``domain/edit_checks.py``; this module holds the bounds and the entry order.
Pure: the caller passes today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trialdesk.domain.errors import InvalidInput, Problem

if TYPE_CHECKING:
    from trialdesk.domain.protocol import Protocol

__all__ = [
    "TrialDates",
    "assessment_problems",
    "cut_problems",
    "in_trial",
    "not_before",
    "onset_problems",
    "raise_problems",
    "history_problems",
    "randomization_problems",
    "screening_problems",
    "trial_dates",
]


@dataclass(frozen=True)
class TrialDates:
    """The calendar a trial's clinical dates must lie in: ``start`` (None when the registry gives none), ``end``
    (the actual completion date, else None) and ``today``."""

    start: dt.date | None
    end: dt.date | None
    today: dt.date

    @property
    def latest(self) -> dt.date:
        """The last date a clinical event can have: today, or the actual completion date if earlier."""
        return min(self.today, self.end) if self.end is not None else self.today


def trial_dates(protocol: Protocol, today: dt.date) -> TrialDates:
    """The trial's calendar from its registry record (start date; completion date only when ACTUAL)."""
    status = protocol.registry.status
    start = status.start_date.as_date() if status.start_date is not None else None
    completion = status.completion_date
    end = None
    if completion is not None and (completion.type or "").upper() == "ACTUAL":
        end = completion.as_date()
    return TrialDates(start=start, end=end, today=today)


def _iso(day: dt.date) -> str:
    return day.isoformat()


def in_trial(
    field: str, day: dt.date, dates: TrialDates, *, check_start: bool = True, check_today: bool = True
) -> list[Problem]:
    """``day`` not after today (``check_today``) nor the actual completion date and, with ``check_start``, not
    before the trial start."""
    found: list[Problem] = []
    if check_today and day > dates.today:
        found.append(Problem(field, f"{field} {_iso(day)} is in the future (today is {_iso(dates.today)})"))
    elif dates.end is not None and day > dates.end:
        found.append(Problem(field, f"{field} {_iso(day)} is after the trial's completion date {_iso(dates.end)}"))
    if check_start and dates.start is not None and day < dates.start:
        found.append(Problem(field, f"{field} {_iso(day)} is before the trial start date {_iso(dates.start)}"))
    return found


def not_before(field: str, day: dt.date, other_field: str, other: dt.date | None) -> list[Problem]:
    """``day`` is not before ``other`` (when known): ``screened_on 2027-01-03 is before consent_date 2027-01-05``."""
    if other is None or day >= other:
        return []
    return [Problem(field, f"{field} {_iso(day)} is before {other_field} {_iso(other)}")]


def screening_problems(
    screened_on: dt.date, consent_date: dt.date | None, dates: TrialDates, *, record_prefix: str = "record"
) -> list[Problem]:
    """A screening: consent and screening inside the trial, consent not after the screening."""
    found = in_trial("screened_on", screened_on, dates)
    if consent_date is not None:
        consent_field = f"{record_prefix}.consent_date" if record_prefix else "consent_date"
        found += [Problem(consent_field, p.message) for p in in_trial("consent_date", consent_date, dates)]
        found += not_before("screened_on", screened_on, "consent_date", consent_date)
    return found


def history_problems(history: Mapping[str, dt.date], screened_on: dt.date) -> list[Problem]:
    """The dates of the patient's history in a screening record (diagnosis, recurrence, prior therapies,
    radiotherapy...: ``path -> date``) are not after the screening (the planned first dose is no history)."""
    return [
        Problem(path, f"{path.rsplit('.', 1)[-1]} {_iso(day)} is after screened_on {_iso(screened_on)}")
        for path, day in history.items()
        if day > screened_on
    ]


def randomization_problems(
    randomized_on: dt.date,
    screened_on: dt.date | None,
    consent_date: dt.date | None,
    dates: TrialDates,
    *,
    baseline_assessment: dt.date | None = None,
    window_days: int,
) -> list[Problem]:
    """A randomization: inside the trial, not before the (latest, eligible) screening nor the consent, and not
    more than ``window_days`` after a baseline tumour assessment already recorded (it would be out of window)."""
    found = in_trial("randomized_on", randomized_on, dates)
    found += not_before("randomized_on", randomized_on, "screened_on", screened_on)
    found += not_before("randomized_on", randomized_on, "consent_date", consent_date)
    if baseline_assessment is not None and randomized_on - baseline_assessment > dt.timedelta(days=window_days):
        found.append(
            Problem(
                "randomized_on",
                f"randomized_on {_iso(randomized_on)} is more than {window_days} days after the baseline "
                f"assessment_date {_iso(baseline_assessment)}; repeat the baseline assessment",
            )
        )
    return found


def assessment_problems(
    field: str, day: dt.date, *, baseline: bool, randomized_on: dt.date | None, dates: TrialDates, window_days: int
) -> list[Problem]:
    """A tumour assessment: inside the trial (a baseline: at most ``window_days`` before the trial start) and a
    baseline at most ``window_days`` before randomization. Today and
    the follow-up order against randomization are the edit checks ``TA-NOT-FUTURE`` and ``TA-AFTER-RANDOMIZATION``
    (``domain/edit_checks.py``)."""
    found = in_trial(field, day, dates, check_start=not baseline, check_today=False)
    if baseline and dates.start is not None and day < dates.start - dt.timedelta(days=window_days):
        found.append(
            Problem(
                field,
                f"{field} {_iso(day)} is more than {window_days} days before the trial start date {_iso(dates.start)}",
            )
        )
    if baseline and randomized_on is not None:
        earliest = randomized_on - dt.timedelta(days=window_days)
        if day < earliest:
            found.append(
                Problem(
                    field,
                    f"{field} {_iso(day)} is more than {window_days} days before randomized_on "
                    f"{_iso(randomized_on)} (baseline window starts {_iso(earliest)})",
                )
            )
    return found


def onset_problems(field: str, day: dt.date, consent_date: dt.date | None, dates: TrialDates) -> list[Problem]:
    """An adverse event's date inside the trial: not before the trial start when the subject has no consent on
    record, not after the actual completion. Consent and today are the edit checks ``AE-ONSET-AFTER-CONSENT`` and
    ``AE-ONSET-NOT-FUTURE`` (``domain/edit_checks.py``)."""
    return in_trial(field, day, dates, check_start=consent_date is None, check_today=False)


def cut_problems(cut: dt.date, first_randomization: dt.date | None, dates: TrialDates) -> list[Problem]:
    """An analysis data cut-off: inside the trial and not before the first randomization."""
    found = in_trial("cut_date", cut, dates)
    found += not_before("cut_date", cut, "the first randomization", first_randomization)
    return found


def raise_problems(found: list[Problem]) -> None:
    """Raise :class:`InvalidInput` with every problem, if any."""
    if found:
        raise InvalidInput(found)
