"""Validation and encoding of right-censored survival data (shared by KM, log-rank and Cox).

Pure numerics: no I/O. Every problem raises :class:`SurvivalDataError` naming the field and the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialdesk.domain.errors import InvalidInput

__all__ = ["SurvivalDataError", "as_time", "as_event", "as_labels", "combine_strata", "py_scalar"]


class SurvivalDataError(InvalidInput, ValueError):
    """Survival data that cannot be analysed (bad time, event, group or strata values)."""


def _as_1d(values: Any, field: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise SurvivalDataError(f"must be a 1-D sequence, got a scalar {arr.item()!r}", field=field)
    if arr.ndim != 1:
        raise SurvivalDataError(f"must be 1-D, got shape {arr.shape}", field=field)
    return arr


def as_time(values: Any, field: str = "time") -> np.ndarray:
    """Follow-up times as a float array: finite and non-negative, at least one value."""
    arr = _as_1d(values, field)
    if arr.size == 0:
        raise SurvivalDataError("is empty", field=field)
    try:
        out = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise SurvivalDataError(f"must be numeric ({exc})", field=field) from None
    bad = ~np.isfinite(out)
    if bad.any():
        raise SurvivalDataError(
            f"{int(bad.sum())} missing or non-finite value(s), first at position {int(np.argmax(bad))}; "
            "drop incomplete rows first",
            field=field,
        )
    if (out < 0).any():
        raise SurvivalDataError(f"negative time {out[out < 0][0]!r} at position {int(np.argmax(out < 0))}", field=field)
    return out


def as_event(values: Any, field: str = "event") -> np.ndarray:
    """Event indicator as a bool array (True = event, False = censored).

    Accepts booleans, 0/1 (0 = censored, 1 = event) or R's 1/2 coding (1 = censored, 2 = event). The coding is
    detected the way R's ``Surv()`` does it: if the largest value is 2 the codes are 1/2, otherwise 0/1. Any other
    value is an error (R would turn it into NA with a warning).
    """
    arr = _as_1d(values, field)
    if arr.dtype == bool:
        return arr.copy()
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        raise SurvivalDataError(
            f"must be 0/1, 1/2 (R coding) or boolean, got non-numeric value(s) such as {arr[0]!r}", field=field
        ) from None
    if np.isnan(num).any():
        raise SurvivalDataError(
            f"{int(np.isnan(num).sum())} missing value(s), first at position {int(np.argmax(np.isnan(num)))}",
            field=field,
        )
    if num.size and num.max() == 2:
        num = num - 1.0
        coding = "1/2 (1 = censored, 2 = event; detected because the largest value is 2)"
    else:
        coding = "0/1"
    bad = (num != 0) & (num != 1)
    if bad.any():
        raw = arr[bad][0]
        raise SurvivalDataError(f"unexpected value {raw!r} for {coding} coding", field=field)
    events: npt.NDArray[np.bool_] = num == 1
    return events


def as_labels(values: Any, n: int, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Factor codes for a grouping variable: ``(levels, codes)`` with levels sorted as R's ``factor()`` does."""
    arr = _as_1d(values, field)
    if arr.shape[0] != n:
        raise SurvivalDataError(f"has {arr.shape[0]} values but time has {n}", field=field)
    if arr.dtype.kind in "biufUS":  # fast path: no missing values possible except float NaN
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            miss = np.isnan(arr)
            raise SurvivalDataError(
                f"{int(miss.sum())} missing value(s), first at position {int(np.argmax(miss))}", field=field
            )
        levels, codes = np.unique(arr, return_inverse=True)
        return levels, codes.reshape(-1).astype(np.intp)
    ser = pd.Series(arr)
    if ser.isna().any():
        raise SurvivalDataError(
            f"{int(ser.isna().sum())} missing value(s), first at position {int(np.argmax(ser.isna().to_numpy()))}",
            field=field,
        )
    try:
        codes, levels = pd.factorize(ser, sort=True)
    except TypeError as exc:
        raise SurvivalDataError(f"values cannot be ordered ({exc})", field=field) from None
    return np.asarray(levels), codes.astype(np.intp)


def combine_strata(strata: Any, n: int, field: str = "strata") -> tuple[list[Any], np.ndarray]:
    """Stratum codes from one variable or several (a DataFrame, 2-D array or a list of 1-D arrays).

    Several variables are crossed the way R's ``strata(a, b)`` does it: one stratum per observed combination.
    Returns ``(labels, codes)``; a label is a value, or a tuple of values for several variables.
    """
    if isinstance(strata, pd.DataFrame):
        columns: Sequence[Any] = [strata[c].to_numpy() for c in strata.columns]
    elif isinstance(strata, pd.Series):
        columns = [strata.to_numpy()]
    else:
        arr = np.asarray(strata, dtype=object) if isinstance(strata, (list, tuple)) else np.asarray(strata)
        if isinstance(strata, (list, tuple)) and arr.ndim == 2 and len(strata) and np.ndim(strata[0]) == 1:
            columns = list(strata)
        elif arr.ndim == 2:
            columns = [arr[:, j] for j in range(arr.shape[1])]
        else:
            columns = [strata]
    level_sets, code_sets = [], []
    for j, col in enumerate(columns):
        name = field if len(columns) == 1 else f"{field}[{j}]"
        levels, codes = as_labels(col, n, name)
        level_sets.append(levels)
        code_sets.append(codes)
    if len(columns) == 1:
        return [py_scalar(v) for v in level_sets[0]], code_sets[0]
    key = np.zeros(n, dtype=np.int64)
    for levels, codes in zip(level_sets, code_sets):  # mixed-radix code: one integer per combination
        key = key * len(levels) + codes
    uniq, codes = np.unique(key, return_inverse=True)
    labels = []
    for u in uniq:
        parts = []
        for levels in reversed(level_sets):
            u, r = divmod(int(u), len(levels))
            parts.append(py_scalar(levels[r]))
        labels.append(tuple(reversed(parts)))
    return labels, codes.reshape(-1).astype(np.intp)


def py_scalar(v: Any) -> Any:
    """numpy scalar -> Python scalar (for dict keys, labels and JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def check_length(arr: np.ndarray, n: int, field: str) -> None:
    """Raise unless ``arr`` has ``n`` rows."""
    if arr.shape[0] != n:
        raise SurvivalDataError(f"has {arr.shape[0]} values but time has {n}", field=field)
