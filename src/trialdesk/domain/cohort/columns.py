"""Typing the raw columns of a flat cohort table (what :func:`prepare_columns` does before any rule runs).

Columns arrive as whatever a CSV, Parquet or Excel reader produced: object arrays mixing ``None``, NaN and empty
strings, dates as text or ``datetime64``, booleans as ``yes``/``1``/``True``. Each is converted once, by the kind
the flat schema gives it, to a :class:`~trialdesk.domain.expr.vectorized.V` pair, and lab values to canonical
units from their unit columns; a column that cannot be converted raises :class:`CohortError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trialdesk.domain.expr.vectorized import EPOCH, V
from trialdesk.domain.screening import LIST_FIELDS, flat_schema
from trialdesk.domain.units import ANALYTES, UnitError, convert_array

__all__ = ["CohortError", "Columns", "prepare_columns"]


class CohortError(ValueError):
    """A cohort table cannot be screened (bad column, too many list items for the slots...)."""


# --------------------------------------------------------------------------------------------- preparation
def _absent(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v == ""
    try:
        return bool(v != v)
    except TypeError:  # pandas NA
        return True


def _missing_mask(a: np.ndarray) -> np.ndarray:
    """Vectorized missingness of an object array: None, NaN/NaT, empty string."""
    with np.errstate(invalid="ignore"):
        miss = np.asarray(a == None, dtype=bool) | np.asarray(a != a, dtype=bool)  # noqa: E711
    mask: npt.NDArray[np.bool_] = miss | np.asarray(a == "", dtype=bool)
    return mask


def _to_days(col: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(col)
    if a.dtype.kind == "M":
        d = a.astype("datetime64[D]")
    elif a.dtype.kind == "f" and np.all(np.isnan(a)):
        return a.astype(float)
    else:
        obj = a.astype(object)
        obj = np.where(_missing_mask(obj), "NaT", obj)
        try:
            d = obj.astype("datetime64[D]")
        except (ValueError, TypeError):
            try:  # timestamps with a time part
                d = np.array([str(v)[:10] for v in obj], dtype="datetime64[D]")
            except ValueError as exc:
                raise CohortError(f"column {name}: not a date ({exc})") from None
    out = (d - EPOCH).astype("timedelta64[D]").astype(float)
    out[np.isnat(d)] = np.nan
    return out


def _to_float(col: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(col)
    if a.dtype.kind in "fiub":
        return a.astype(float)
    obj = a.astype(object)
    obj = np.where(_missing_mask(obj), np.nan, obj)
    try:
        return obj.astype(float)
    except (TypeError, ValueError) as exc:
        raise CohortError(f"column {name}: not a number ({exc})") from None


_TRUE = ["True", "true", "yes", "1", "1.0"]
_FALSE = ["False", "false", "no", "0", "0.0"]


def _to_bool(col: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(col)
    if a.dtype.kind == "b":
        return a.copy(), np.ones(a.shape, bool)
    if a.dtype.kind in "fiu":
        f = a.astype(float)
        known = ~np.isnan(f)
        bad = known & ~np.isin(f, (0.0, 1.0))
        if bad.any():
            raise CohortError(f"column {name}: not true/false (value {f[np.argmax(bad)]!r})")
        return f == 1.0, known
    obj = a.astype(object)
    miss = _missing_mask(obj)
    t = np.asarray(obj == True, dtype=bool)  # noqa: E712 - elementwise on an object array
    f = np.asarray(obj == False, dtype=bool)  # noqa: E712
    if not (t | f | miss).all():  # text such as 'true' / 'no' (CSV)
        s = obj.astype(str)
        t |= np.isin(s, _TRUE)
        f |= np.isin(s, _FALSE)
    bad = ~(t | f | miss)
    if bad.any():
        i = int(np.argmax(bad))
        raise CohortError(f"column {name}: not true/false (value {a[i]!r} in row {i})")
    return t, t | f


def _to_str(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(col)
    if a.dtype.kind == "U":
        return a, a != ""
    if a.dtype.kind == "f":  # all missing
        return np.full(a.shape, "", dtype="U1"), np.zeros(a.shape, bool)
    obj = a.astype(object)
    known = ~_missing_mask(obj)
    return np.where(known, obj, ""), known


@dataclass
class Columns:
    """Typed columns of a cohort table, ready for evaluation."""

    n: int
    data: dict[str, V]
    slots: dict[str, int]
    absent: set[str] = field(default_factory=set)

    def take(self, sl: slice) -> Columns:
        def cut(x: Any) -> Any:
            return x[sl] if isinstance(x, np.ndarray) and x.ndim == 1 else x

        data = {k: V(cut(v.val), cut(v.known), v.kind) for k, v in self.data.items()}
        return Columns(len(range(*sl.indices(self.n))), data, self.slots, self.absent)


def prepare_columns(raw: Mapping[str, Any], n: int | None = None) -> Columns:
    """Type the raw columns (numpy arrays or sequences) of a flat cohort table.

    Lab values and ULNs are converted to canonical units from their ``labs.<analyte>.unit`` columns.
    Unknown columns (not in the flat schema and not ``attestations.<ID>``) raise :class:`CohortError`.
    """
    if n is None:
        lengths = {len(v) for v in raw.values()}
        if len(lengths) > 1:
            raise CohortError(f"columns have different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
    # slots present in the table
    slots: dict[str, int] = dict.fromkeys(LIST_FIELDS, 0)
    for key in raw:
        parts = key.split(".")
        if parts[0] in LIST_FIELDS and len(parts) == 3 and parts[1].isdigit():
            slots[parts[0]] = max(slots[parts[0]], int(parts[1]) + 1)
    schema = flat_schema(slots)
    unknown = [k for k in raw if k not in schema and not k.startswith("attestations.")]
    if unknown:
        raise CohortError(f"unknown column(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
    data: dict[str, V] = {}
    for key, col in raw.items():
        kind = "bool" if key.startswith("attestations.") else schema[key]
        a = np.asarray(col)
        if len(a) != n:
            raise CohortError(f"column {key}: {len(a)} rows, expected {n}")
        if key.startswith("labs.") and key.endswith(".unit"):
            continue
        if kind == "number":
            data[key] = _num(_to_float(a, key))
        elif kind == "date":
            d = _to_days(a, key)
            data[key] = V(d, ~np.isnan(d), "date")
        elif kind == "bool":
            v, k = _to_bool(a, key)
            data[key] = V(v, k, "bool")
        else:
            v, k = _to_str(a)
            data[key] = V(v, k, "string")
    for analyte in ANALYTES:
        unit_key = f"labs.{analyte}.unit"
        for part in ("value", "uln"):
            key = f"labs.{analyte}.{part}"
            if key not in data:
                continue
            if unit_key not in raw:
                if data[key].known.any():
                    raise UnitError(f"column {key} has values but there is no column {unit_key}")
                continue
            conv = convert_array(analyte, data[key].val, np.asarray(raw[unit_key], dtype=object), field=unit_key)
            data[key] = _num(conv)
    for lname, n_slots in slots.items():
        nkey = f"{lname}.n"
        if nkey in data:
            cnt = data[nkey]
            over = cnt.known & (cnt.val > n_slots)
            if over.any():
                i = int(np.argmax(over))
                raise CohortError(f"row {i}: {lname}.n = {int(cnt.val[i])} but the table has only {n_slots} slots")
    absent = set(schema) - set(raw)
    return Columns(n, data, slots, absent)


def _num(a: np.ndarray) -> V:
    return V(a, ~np.isnan(a), "number")
