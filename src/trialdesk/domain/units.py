"""Laboratory units and their conversion.

Every analyte the screening rules read has one *canonical* unit; values recorded in any other accepted unit are
converted to it before a rule sees them, so rule thresholds are written once (``hemoglobin >= 90`` means g/L).
An unknown unit, or a unit that does not measure the analyte (``mg/dL`` for a neutrophil count), is an error,
never a guess.

Conversion factors
------------------
* Haemoglobin, albumin: 1 g/dL = 10 g/L (definition of the prefixes).
* Total bilirubin: 1 mg/dL = 17.104 umol/L (molar mass of bilirubin 584.66 g/mol: 10 000 / 584.66).
* Creatinine: 1 mg/dL = 88.42 umol/L (molar mass of creatinine 113.12 g/mol: 10 000 / 113.12).
* Cell counts: 1 x10^9/L = 1 x10^3/uL = 1000 /uL (1 L = 10^6 uL).
* Enzyme activities: U/L and IU/L are the same unit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["ANALYTES", "UnitError", "canonical_unit", "conversion_factor", "convert", "convert_array", "normalize_unit"]


class UnitError(ValueError):
    """A unit is unknown or does not measure the analyte."""


BILIRUBIN_UMOL_PER_MG_DL = 10_000 / 584.66
CREATININE_UMOL_PER_MG_DL = 10_000 / 113.12

#: analyte -> (canonical unit, {accepted unit: factor to canonical})
ANALYTES: dict[str, tuple[str, dict[str, float]]] = {
    "anc": ("10^9/L", {"10^9/L": 1.0, "10^3/uL": 1.0, "/uL": 1e-3, "/mm3": 1e-3}),
    "platelets": ("10^9/L", {"10^9/L": 1.0, "10^3/uL": 1.0, "/uL": 1e-3, "/mm3": 1e-3}),
    "hemoglobin": ("g/L", {"g/L": 1.0, "g/dL": 10.0}),
    "albumin": ("g/L", {"g/L": 1.0, "g/dL": 10.0}),
    "total_bilirubin": ("umol/L", {"umol/L": 1.0, "mg/dL": BILIRUBIN_UMOL_PER_MG_DL}),
    "alt": ("U/L", {"U/L": 1.0, "IU/L": 1.0}),
    "ast": ("U/L", {"U/L": 1.0, "IU/L": 1.0}),
    "creatinine": ("umol/L", {"umol/L": 1.0, "mg/dL": CREATININE_UMOL_PER_MG_DL}),
}

_ALIASES = {
    "x10^9/l": "10^9/L",
    "10^9/l": "10^9/L",
    "10e9/l": "10^9/L",
    "x10e9/l": "10^9/L",
    "giga/l": "10^9/L",
    "x10^3/ul": "10^3/uL",
    "10^3/ul": "10^3/uL",
    "10^3/µl": "10^3/uL",
    "k/ul": "10^3/uL",
    "/ul": "/uL",
    "/µl": "/uL",
    "cells/ul": "/uL",
    "/mm3": "/mm3",
    "/mm^3": "/mm3",
    "g/l": "g/L",
    "g/dl": "g/dL",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "mg/dl": "mg/dL",
    "u/l": "U/L",
    "iu/l": "IU/L",
}


def normalize_unit(unit: str) -> str:
    """Spelling-normalise a unit (case, micro sign, spaces); unknown spellings raise :class:`UnitError`."""
    if not isinstance(unit, str):
        raise UnitError(f"unit must be a string, got {unit!r}")
    key = unit.strip().replace(" ", "").lower()
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}") from None


def canonical_unit(analyte: str) -> str:
    """Canonical unit of ``analyte``."""
    try:
        return ANALYTES[analyte][0]
    except KeyError:
        raise UnitError(f"unknown analyte {analyte!r}") from None


def conversion_factor(analyte: str, from_unit: str, to_unit: str | None = None) -> float:
    """Multiplicative factor converting ``analyte`` from ``from_unit`` to ``to_unit`` (default: canonical)."""
    if analyte not in ANALYTES:
        raise UnitError(f"unknown analyte {analyte!r}")
    accepted = ANALYTES[analyte][1]
    src = normalize_unit(from_unit)
    dst = normalize_unit(to_unit) if to_unit is not None else ANALYTES[analyte][0]
    for u in (src, dst):
        if u not in accepted:
            raise UnitError(f"unit {u!r} does not measure {analyte} (accepted: {', '.join(accepted)})")
    return accepted[src] / accepted[dst]


def convert(analyte: str, value: float, from_unit: str, to_unit: str | None = None) -> float:
    """Convert one value of ``analyte``."""
    return value * conversion_factor(analyte, from_unit, to_unit)


def convert_array(
    analyte: str, values: np.ndarray, units: np.ndarray, to_unit: str | None = None, field: str | None = None
) -> np.ndarray:
    """Convert a column of values recorded in a column of (possibly mixed) units to ``to_unit``.

    Rows whose value is NaN are left NaN whatever their unit; a row with a value and no unit, or an unknown or
    incompatible unit, raises :class:`UnitError` naming ``field``.
    """
    values = np.asarray(values, dtype=float)
    units = np.asarray(units)
    if units.dtype.kind != "U":
        obj = units.astype(object)
        # numpy's stubs reject None as an operand; elementwise comparison with None is what finds the blanks
        units = np.where(np.equal(obj, None), "", obj).astype(str)  # type: ignore[call-overload]
    out = np.full(values.shape, np.nan)
    todo = ~np.isnan(values)
    where = f" in {field}" if field else ""
    while todo.any():  # one pass per distinct unit spelling
        i = int(np.argmax(todo))
        u = str(units[i])
        if u in ("", "nan", "None"):
            raise UnitError(f"value without unit{where} (row {i})")
        try:
            factor = conversion_factor(analyte, u, to_unit)
        except UnitError as exc:
            raise UnitError(f"{exc}{where} (row {i})") from None
        rows = todo & (units == u)
        out[rows] = values[rows] * factor
        todo &= ~rows
    return out


def canonical_units() -> Mapping[str, str]:
    """analyte -> canonical unit."""
    return {k: v[0] for k, v in ANALYTES.items()}
