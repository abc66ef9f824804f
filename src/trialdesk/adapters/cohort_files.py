"""Cohort tables on disk: CSV or Parquet in, per-patient verdicts out.

A cohort file has one row per patient and the flat column layout of
:func:`trialdesk.domain.screening.flat_schema` (``birth_date``, ``labs.anc.value``, ``labs.anc.unit``,
``prior_therapies.n``, ``prior_therapies.0.drug_class`` ...). Dates are ISO ``YYYY-MM-DD`` in CSV.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialdesk.domain.cohort import STATUS_CODES, CohortResult
from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.screening import flat_schema

__all__ = ["read_cohort", "write_cohort", "write_verdicts", "read_record"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise InvalidInput(f"unsupported file type {path.suffix!r} (use .csv or .parquet)", field=str(path)) from None


def read_cohort(path: str | Path) -> dict[str, np.ndarray]:
    """Read a cohort table as raw columns (name -> numpy array)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="cohort")
    if _format(path) == "parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    out: dict[str, np.ndarray] = {}
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(col.dtype, pd.DatetimeTZDtype):
            out[c] = col.to_numpy(dtype=object, na_value=None)
        else:
            out[c] = col.to_numpy()
    return out


def write_cohort(columns: Mapping[str, Any], path: str | Path) -> Path:
    """Write raw columns (e.g. from :func:`trialdesk.stats.synthetic_cohort.synthetic_cohort`) to CSV/Parquet."""
    path = Path(path)
    fmt = _format(path)
    df = pd.DataFrame({k: _column(k, v) for k, v in columns.items()})
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _column(name: str, values: Any) -> Any:
    a = np.asarray(values)
    kind = flat_schema().get(name)
    if kind == "bool" or name.startswith("attestations."):
        if a.dtype.kind == "b":
            return a
        if a.dtype.kind == "f":
            return pd.array(np.where(np.isnan(a), None, a == 1.0), dtype="boolean")
        return pd.array([None if v is None else bool(v) for v in a], dtype="boolean")
    if a.dtype.kind == "U":  # '' is missing
        # numpy's stubs refuse None as a choice, though an object array holds it
        return np.where(a == "", None, a.astype(object))  # type: ignore[call-overload]
    return a


def write_verdicts(result: CohortResult, ids: Any, path: str | Path) -> Path:
    """Per-patient verdicts: screening id, verdict, and one status column per criterion."""
    path = Path(path)
    data: dict[str, Any] = {"screening_id": np.asarray(ids, dtype=object), "verdict": result.verdict_labels()}
    labels = np.asarray(STATUS_CODES, dtype=object)
    for j, cid in enumerate(result.ids):
        data[cid] = labels[result.status[:, j]]
    df = pd.DataFrame(data)
    if _format(path) == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """A screening record from a JSON file."""
    path = Path(path)
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}", field="file") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}", field=str(path)) from None
    return record
