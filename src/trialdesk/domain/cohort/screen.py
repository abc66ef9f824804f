"""Verdicts for a whole cohort: every criterion for every row, in chunks, and the screening waterfall."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trialdesk.domain.cohort.columns import Columns, prepare_columns
from trialdesk.domain.eligibility import EligibilitySpec
from trialdesk.domain.expr.nodes import Node
from trialdesk.domain.expr.vectorized import ColumnScope, V, evaluate_columns, truth
from trialdesk.domain.screening import LIST_FIELDS, flat_schema

__all__ = [
    "ATTESTED",
    "MET",
    "MISSING",
    "NOT_MET",
    "STATUS_CODES",
    "VERDICTS",
    "CohortResult",
    "column_scope",
    "evaluate_cohort",
    "evaluate_node",
    "waterfall",
]

#: status code -> label (int8 codes of :attr:`CohortResult.status`)
STATUS_CODES = ("met", "not_met", "missing", "attested")
VERDICTS = ("eligible", "ineligible", "incomplete")
MET, NOT_MET, MISSING, ATTESTED = range(4)


def column_scope(cols: Columns, spec: EligibilitySpec) -> ColumnScope:
    """Name resolution over ``cols`` with the spec's derived quantities, constants and tables."""
    comp = spec.compiled
    return ColumnScope(
        cols.n,
        cols.data,
        flat_schema(cols.slots),
        cols.slots,
        LIST_FIELDS,
        comp.derived,
        comp.item_derived,
        comp.constants,
        comp.tables,
    )


def evaluate_node(node: Node, cols: Columns, spec: EligibilitySpec) -> V:
    """Evaluate one AST over prepared columns (for tests and derived columns)."""
    return evaluate_columns(node, column_scope(cols, spec))


@dataclass
class CohortResult:
    """Per-patient statuses of every leaf criterion, and verdicts.

    Attributes
    ----------
    ids : list of str
        Leaf criterion ids, in protocol (or registry) order; headings are derived by :meth:`heading`.
    status : ndarray of int8, shape (n, len(ids))
        Codes into :data:`STATUS_CODES`.
    verdict : ndarray of int8, shape (n,)
        Codes into :data:`VERDICTS`.
    absent_columns : set of str
        Schema columns the table did not have (missing for every patient).
    """

    ids: list[str]
    status: np.ndarray
    verdict: np.ndarray
    absent_columns: set[str]

    def heading(self, prefix: str) -> np.ndarray:
        cols = [i for i, c in enumerate(self.ids) if c.startswith(prefix + ".")]
        s = self.status[:, cols]
        out = np.full(len(s), MET, np.int8)
        out[(s == MISSING).any(axis=1)] = MISSING
        out[(s == NOT_MET).any(axis=1)] = NOT_MET
        return out

    def verdict_labels(self) -> npt.NDArray[np.object_]:
        labels: npt.NDArray[np.object_] = np.asarray(VERDICTS, dtype=object)[self.verdict]
        return labels

    def status_labels(self, cid: str) -> npt.NDArray[np.object_]:
        labels: npt.NDArray[np.object_] = np.asarray(STATUS_CODES, dtype=object)[self.status[:, self.ids.index(cid)]]
        return labels


def _chunk_status(cols: Columns, spec: EligibilitySpec, ids: Sequence[str]) -> np.ndarray:
    ctx = column_scope(cols, spec)
    out = np.empty((cols.n, len(ids)), np.int8)
    for j, cid in enumerate(ids):
        c = spec.criteria[cid]
        if c.rule is not None:
            v = evaluate_columns(spec.compiled.rules[cid], ctx)
            known = np.broadcast_to(v.known, (cols.n,))
            val = np.broadcast_to(np.asarray(truth(v), bool), (cols.n,))
            out[:, j] = np.where(known, np.where(val, MET, NOT_MET), MISSING)
        else:
            a = ctx.column(f"attestations.{cid}", "bool")
            out[:, j] = np.where(a.known, np.where(np.asarray(a.val, bool), ATTESTED, NOT_MET), MISSING)
    return out


def evaluate_cohort(
    spec: EligibilitySpec,
    table: Mapping[str, Any] | Columns,
    *,
    order: Sequence[str] | None = None,
    chunk_size: int = 200_000,
    progress: Callable[[int, int], None] | None = None,
) -> CohortResult:
    """Evaluate every criterion for every row of a flat cohort table.

    Parameters
    ----------
    spec
        The eligibility section.
    table
        Raw flat columns (name -> array) or :class:`Columns` from :func:`prepare_columns`.
    order
        Criterion ids in the order wanted (default: protocol order); headings are skipped.
    chunk_size
        Rows per vectorized chunk (bounds memory; ``progress`` is called after each).
    progress
        ``progress(rows_done, rows_total)``.
    """
    cols = table if isinstance(table, Columns) else prepare_columns(table)
    ids = [cid for cid in (order or list(spec.criteria)) if not spec.criteria[cid].heading]
    status = np.empty((cols.n, len(ids)), np.int8)
    for start in range(0, max(cols.n, 1), chunk_size):
        stop = min(start + chunk_size, cols.n)
        if stop <= start:
            break
        status[start:stop] = _chunk_status(cols.take(slice(start, stop)), spec, ids)
        if progress is not None:
            progress(stop, cols.n)
    verdict = np.full(cols.n, 0, np.int8)
    verdict[(status == MISSING).any(axis=1)] = 2
    verdict[(status == NOT_MET).any(axis=1)] = 1
    return CohortResult(ids, status, verdict, cols.absent)


def waterfall(result: CohortResult) -> list[dict[str, Any]]:
    """Screening waterfall, one row per leaf criterion in order.

    ``remaining`` counts patients not excluded (``not_met``) by this or any earlier criterion; ``excluded_here``
    those this criterion removes from the remaining; ``not_met`` those it excludes on its own (whatever the
    others say); ``only_reason`` those for whom it is the *only* failed criterion; ``missing`` those it cannot
    decide.
    """
    fails = result.status == NOT_MET
    n_fail = fails.sum(axis=1)
    alive = np.ones(len(result.status), bool)
    rows = []
    for j, cid in enumerate(result.ids):
        before = int(alive.sum())
        alive &= ~fails[:, j]
        rows.append(
            {
                "criterion": cid,
                "excluded_here": before - int(alive.sum()),
                "remaining": int(alive.sum()),
                "not_met": int(fails[:, j].sum()),
                "only_reason": int((fails[:, j] & (n_fail == 1)).sum()),
                "missing": int((result.status[:, j] == MISSING).sum()),
            }
        )
    return rows
