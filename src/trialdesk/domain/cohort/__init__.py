"""Vectorized eligibility over a whole cohort table (numpy only).

The cohort table is the *flat form* of :class:`~trialdesk.domain.screening.ScreeningRecord` (see
:func:`~trialdesk.domain.screening.flat_schema`): one row per patient, dotted column names, list fields as a count
column ``<list>.n`` plus numbered slots ``<list>.<k>.<field>``. The evaluator walks the *same* AST as the scalar
evaluator of :mod:`trialdesk.domain.expr`, on columns (:mod:`trialdesk.domain.expr.vectorized`):

* every value is a pair ``(val, known)`` of arrays; ``known`` False is the unknown value, and Kleene logic is
  computed on the pairs;
* dates are float day numbers (days since 1970-01-01, NaN missing), strings fixed-width unicode arrays;
* a comprehension ``count(t in lesions where ...)`` binds ``t`` to each slot in turn (a short loop over slots,
  vectorized over patients) and combines the per-slot results with the same three-valued rules as the scalar path;
* lab values are converted to canonical units row by row from their unit columns (an unknown or incompatible unit
  raises :class:`~trialdesk.domain.units.UnitError` naming the column).

A column absent from the table is missing for every patient (the criteria that need it come out ``missing``).

The package: :mod:`~trialdesk.domain.cohort.columns` types the raw columns, :mod:`~trialdesk.domain.cohort.screen`
evaluates the criteria and builds the waterfall.
"""

from __future__ import annotations

from trialdesk.domain.cohort.columns import CohortError, Columns, prepare_columns
from trialdesk.domain.cohort.screen import (
    ATTESTED,
    MET,
    MISSING,
    NOT_MET,
    STATUS_CODES,
    VERDICTS,
    CohortResult,
    column_scope,
    evaluate_cohort,
    evaluate_node,
    waterfall,
)
from trialdesk.domain.expr.vectorized import V

# The vectorized date functions lived here under these private names before the split; kept so that old
# imports (the property test that holds them equal to the scalar ones) keep working.
from trialdesk.domain.expr.vectorized import months_between as _months_between  # noqa: F401
from trialdesk.domain.expr.vectorized import years_between as _years_between  # noqa: F401

__all__ = [
    "STATUS_CODES",
    "VERDICTS",
    "CohortError",
    "prepare_columns",
    "evaluate_cohort",
    "CohortResult",
    "waterfall",
    "evaluate_node",
    "ATTESTED",
    "MET",
    "MISSING",
    "NOT_MET",
    "Columns",
    "V",
    "column_scope",
]
