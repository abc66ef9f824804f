"""Treatment use cases: the subject and site calendars, planned doses, doses administered, and disposition.

Everything is computed from what is stored:

- the allocation (arm, ``randomized_on``), written by randomization;
- the doses administered (table ``doses``): the day 1 of each cycle is the earliest dose date of that cycle;
- the tumour assessments (table ``tumor_assessments``): their dates fill the fixed assessment grid, and the first
  post-baseline assessment with overall response ``PD`` is the progression date;
- the disposition events (table ``dispositions``): end of treatment (its date stops treatment visits; the EOT
  visit's own date may be given as ``details.eot_visit_date``), end of study and death (visits after them are
  dropped, those left undone before them are missed) and new anticancer therapy.

The rules live in the domain: :mod:`trialdesk.domain.treatment_course` (the course of one subject: day 1 of each
cycle, timeline, planning a cycle, dose and disposition checks), :mod:`trialdesk.domain.dosing` (doses, weight
rule, reloading, reductions, override check), :mod:`trialdesk.domain.schedule` (windows, grid, statuses) and
:mod:`trialdesk.domain.subject_lifecycle` (statuses). The modules of this package load the inputs, check access,
call the domain, store, audit and open edit-check queries, one use case family each:

- :mod:`.calendars`: the subject and site calendars;
- :mod:`.doses`: planned doses, recording and editing a dose;
- :mod:`.disposition`: disposition events.
"""

from __future__ import annotations

from trialdesk.domain.treatment_course import DISPOSITION_KINDS
from trialdesk.services.treatment.calendars import site_calendar, subject_calendar, visit_dict
from trialdesk.services.treatment.disposition import (
    END_OF_STUDY_REASONS,
    END_OF_TREATMENT_REASONS,
    disposition_dict,
    list_dispositions,
    record_disposition,
)
from trialdesk.services.treatment.doses import (
    DOSE_EDITABLE_FIELDS,
    WINDOW_CHECK_ID,
    dose_dict,
    list_doses,
    planned_doses,
    record_dose,
    update_dose,
)

__all__ = [
    "DISPOSITION_KINDS",
    "DOSE_EDITABLE_FIELDS",
    "END_OF_STUDY_REASONS",
    "END_OF_TREATMENT_REASONS",
    "WINDOW_CHECK_ID",
    "disposition_dict",
    "dose_dict",
    "list_dispositions",
    "list_doses",
    "planned_doses",
    "record_disposition",
    "record_dose",
    "site_calendar",
    "subject_calendar",
    "update_dose",
    "visit_dict",
]
