"""Vectorized eligibility over a whole cohort table (numpy only).

The cohort table is the *flat form* of :class:`~trialdesk.domain.screening.ScreeningRecord` (see
:func:`~trialdesk.domain.screening.flat_schema`): one row per patient, dotted column names, list fields as a count
column ``<list>.n`` plus numbered slots ``<list>.<k>.<field>``. The evaluator walks the *same* AST as the scalar
evaluator of :mod:`trialdesk.domain.expr`, on columns:

* every value is a pair ``(val, known)`` of arrays; ``known`` False is the unknown value, and Kleene logic is
  computed on the pairs;
* dates are float day numbers (days since 1970-01-01, NaN missing), strings fixed-width unicode arrays;
* a comprehension ``count(t in lesions where ...)`` binds ``t`` to each slot in turn (a short loop over slots,
  vectorized over patients) and combines the per-slot results with the same three-valued rules as the scalar path;
* lab values are converted to canonical units row by row from their unit columns (an unknown or incompatible unit
  raises :class:`~trialdesk.domain.units.UnitError` naming the column).

A column absent from the table is missing for every patient (the criteria that need it come out ``missing``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialdesk.domain.eligibility import EligibilitySpec
from trialdesk.domain.expr import (
    UNKNOWN,
    Binary,
    Call,
    Comprehension,
    ExprError,
    ExprNameError,
    IfExpr,
    ListLit,
    Literal,
    Logical,
    Name,
    Node,
    Unary,
)
from trialdesk.domain.screening import LIST_FIELDS, flat_schema
from trialdesk.domain.units import ANALYTES, UnitError, conversion_factor, convert_array

__all__ = [
    "STATUS_CODES",
    "VERDICTS",
    "CohortError",
    "prepare_columns",
    "evaluate_cohort",
    "CohortResult",
    "waterfall",
    "evaluate_node",
]

#: status code -> label (int8 codes of :attr:`CohortResult.status`)
STATUS_CODES = ("met", "not_met", "missing", "attested")
VERDICTS = ("eligible", "ineligible", "incomplete")
MET, NOT_MET, MISSING, ATTESTED = range(4)
_EPOCH = np.datetime64("1970-01-01", "D")


class CohortError(ValueError):
    """A cohort table cannot be screened (bad column, too many list items for the slots...)."""


@dataclass
class V:
    """A column value: ``val`` (array or scalar), ``known`` (bool array or Python bool), ``kind``."""

    val: Any
    known: Any
    kind: str  # number | date | string | bool | any


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
    return miss | np.asarray(a == "", dtype=bool)


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
    out = (d - _EPOCH).astype("timedelta64[D]").astype(float)
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
    slots: dict[str, int] = {name: 0 for name in LIST_FIELDS}
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
    for lname, k in slots.items():
        nkey = f"{lname}.n"
        if nkey in data:
            cnt = data[nkey]
            over = cnt.known & (cnt.val > k)
            if over.any():
                i = int(np.argmax(over))
                raise CohortError(f"row {i}: {lname}.n = {int(cnt.val[i])} but the table has only {k} slots")
    absent = set(schema) - set(raw)
    return Columns(n, data, slots, absent)


def _num(a: np.ndarray) -> V:
    return V(a, ~np.isnan(a), "number")


# --------------------------------------------------------------------------------------------- evaluation
class _Ctx:
    def __init__(self, cols: Columns, spec: EligibilitySpec):
        self.cols = cols
        self.comp = spec.compiled
        self.cache: dict[Any, V] = {}
        self.active: set[str] = set()
        self.schema = flat_schema(cols.slots)

    def column(self, key: str, kind_hint: str = "any") -> V:
        if key in self.cols.data:
            return self.cols.data[key]
        kind = self.schema.get(key, kind_hint)
        empty = {"number": np.nan, "date": np.nan, "bool": False, "string": ""}.get(kind, np.nan)
        return V(np.full(self.cols.n, empty, dtype=None if kind != "string" else "U1"), np.zeros(self.cols.n, bool), kind)


def evaluate_node(node: Node, cols: Columns, spec: EligibilitySpec) -> V:
    """Evaluate one AST over prepared columns (for tests and derived columns)."""
    return _ev(node, _Ctx(cols, spec), {})


def _const(value: Any) -> V:
    if value is UNKNOWN:
        return V(np.nan, False, "any")
    if isinstance(value, bool):
        return V(value, True, "bool")
    if isinstance(value, (int, float)):
        return V(float(value), True, "number")
    if isinstance(value, str):
        return V(value, True, "string")
    import datetime as _dt

    if isinstance(value, _dt.date):
        return V(float((np.datetime64(value, "D") - _EPOCH).astype(int)), True, "date")
    raise CohortError(f"unsupported literal {value!r}")  # pragma: no cover


def _resolve(node: Name, ctx: _Ctx, env: Mapping[str, Any]) -> V:
    path = node.path
    head = path[0]
    if head in env:
        lname, k = env[head]
        if len(path) != 2:
            raise ExprNameError(f"cannot read {node.dotted!r}")
        fname = path[1]
        defs = ctx.comp.item_derived.get(lname, {})
        if fname in defs:
            key = ("item", lname, k, fname)
            if key not in ctx.cache:
                ctx.cache[key] = _ev(defs[fname], ctx, {"item": (lname, k)})
            return ctx.cache[key]
        return ctx.column(f"{lname}.{k}.{fname}")
    if head in ctx.comp.derived:
        if len(path) != 1:
            raise ExprNameError(f"cannot read {node.dotted!r}")
        key = ("derived", head)
        if key not in ctx.cache:
            if head in ctx.active:
                raise ExprNameError(f"derived quantity {head!r} refers to itself")
            ctx.active.add(head)
            try:
                ctx.cache[key] = _ev(ctx.comp.derived[head], ctx, {})
            finally:
                ctx.active.discard(head)
        return ctx.cache[key]
    if head in ctx.comp.constants:
        val = ctx.comp.constants[head]
        for p in path[1:]:
            val = val[p]
        return _const(val)
    return ctx.column(node.dotted)


def _b(v: V) -> Any:
    val = v.val
    if isinstance(val, np.ndarray):
        return val if val.dtype == bool else np.nan_to_num(val).astype(bool)
    return bool(val) if val == val else False


def _and(a: V, b: V) -> V:
    av, bv = _b(a), _b(b)
    t = a.known & av & b.known & bv
    f = (a.known & ~np.asarray(av, bool)) | (b.known & ~np.asarray(bv, bool))
    return V(t, t | f, "bool")


def _or(a: V, b: V) -> V:
    av, bv = _b(a), _b(b)
    t = (a.known & av) | (b.known & bv)
    f = a.known & ~np.asarray(av, bool) & b.known & ~np.asarray(bv, bool)
    return V(t, t | f, "bool")


_PLACEHOLDER = {"bool": False, "string": "", "number": np.nan, "date": np.nan, "any": np.nan}


def _fill(v: V, kind: str) -> Any:
    """``v.val`` usable as a ``kind`` value (an unknown literal becomes a placeholder)."""
    return _PLACEHOLDER[kind] if v.kind == "any" else v.val


_CMP = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _ev(node: Node, ctx: _Ctx, env: Mapping[str, Any]) -> V:  # noqa: C901 - a dispatcher
    if isinstance(node, Literal):
        return _const(node.value)
    if isinstance(node, Name):
        return _resolve(node, ctx, env)
    if isinstance(node, Logical):
        a = _ev(node.left, ctx, env)
        b = _ev(node.right, ctx, env)
        return _and(a, b) if node.op == "and" else _or(a, b)
    if isinstance(node, Unary):
        a = _ev(node.operand, ctx, env)
        if node.op == "not":
            return V(~np.asarray(_b(a), bool), a.known, "bool")
        return V(-a.val, a.known, a.kind)
    if isinstance(node, Binary):
        a = _ev(node.left, ctx, env)
        if node.op in ("in", "notin"):
            items = node.right.items if isinstance(node.right, ListLit) else ()
            hit: Any = False
            known: Any = a.known
            for it in items:
                b = _ev(it, ctx, env)
                hit = hit | np.equal(a.val, b.val)
                known = known & b.known
            val = hit if node.op == "in" else ~np.asarray(hit, bool)
            return V(np.asarray(val, bool), known, "bool")
        b = _ev(node.right, ctx, env)
        known = a.known & b.known
        if node.op in _CMP:
            with np.errstate(invalid="ignore"):
                val = _CMP[node.op](a.val, b.val)
            return V(val, known, "bool")
        with np.errstate(invalid="ignore", divide="ignore"):
            if node.op == "+":
                val = a.val + b.val
            elif node.op == "-":
                val = a.val - b.val
            elif node.op == "*":
                val = a.val * b.val
            else:
                val = a.val / b.val
                known = known & (b.val != 0)
        return V(val, known, "number")
    if isinstance(node, IfExpr):
        c = _ev(node.cond, ctx, env)
        t = _ev(node.then, ctx, env)
        e = _ev(node.else_, ctx, env)
        cv = _b(c)
        kind = t.kind if t.kind != "any" else e.kind
        val = np.where(cv, _fill(t, kind), _fill(e, kind))
        known = c.known & np.where(cv, t.known, e.known)
        return V(val, known, kind)
    if isinstance(node, Call):
        return _call(node, ctx, env)
    if isinstance(node, Comprehension):
        return _comprehend(node, ctx, env)
    raise CohortError(f"cannot evaluate {node!r}")  # pragma: no cover


# ----- dates
def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month 1-12, day 1-31) of float day numbers (NaN -> 1970-01-01; mask separately)."""
    d = _EPOCH + np.nan_to_num(days).astype("int64").astype("timedelta64[D]")
    m = d.astype("datetime64[M]")
    y = d.astype("datetime64[Y]")
    year = y.astype(int) + 1970
    month = (m - y.astype("datetime64[M]")).astype(int) + 1
    day = (d - m.astype("datetime64[D]")).astype(int) + 1
    return year, month, day


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    mi = (year - 1970) * 12 + (month - 1)
    first = np.asarray(mi, dtype="int64").astype("datetime64[M]").astype("datetime64[D]")
    return (first - _EPOCH).astype(int) + (day - 1)


def _month_len(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    mi = np.asarray((year - 1970) * 12 + (month - 1), dtype="int64")
    a = mi.astype("datetime64[M]").astype("datetime64[D]")
    b = (mi + 1).astype("datetime64[M]").astype("datetime64[D]")
    return (b - a).astype(int)


def _add_months_days(days: np.ndarray, n: np.ndarray) -> np.ndarray:
    y, m, d = _civil(days)
    idx = (y * 12 + (m - 1)) + np.nan_to_num(n).astype(int)
    ty, tm = idx // 12, idx % 12 + 1
    td = np.minimum(d, _month_len(ty, tm))
    return _days_from_civil(ty, tm, td).astype(float)


def _years_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ya, ma, da = _civil(a)
    yb, mb, db = _civil(b)
    return (yb - ya - ((mb * 32 + db) < (ma * 32 + da))).astype(float)


def _months_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(a)
    b = np.nan_to_num(b)
    sign = np.where(b < a, -1.0, 1.0)
    lo_d, hi_d = np.minimum(a, b), np.maximum(a, b)
    ya, ma, _ = _civil(lo_d)
    yb, mb, _ = _civil(hi_d)
    m = (yb - ya) * 12 + (mb - ma)
    m = m - (_add_months_days(lo_d, m) > hi_d)
    lo = _add_months_days(lo_d, m)
    hi = _add_months_days(lo_d, m + 1)
    return sign * (m + (hi_d - lo) / (hi - lo))


def _call(node: Call, ctx: _Ctx, env: Mapping[str, Any]) -> V:
    f = node.func
    if f == "lookup":
        table = ctx.comp.tables[node.args[0].value]  # type: ignore[attr-defined]
        key = _ev(node.args[1], ctx, env)
        keys = np.asarray(key.val)
        out = np.full(keys.shape, np.nan)
        for k, v in table.items():  # small tables: one comparison per entry
            out[np.asarray(keys == k, dtype=bool)] = v
        return V(out, key.known & ~np.isnan(out), "number")
    args = [_ev(a, ctx, env) for a in node.args]
    if f == "known":
        return V(np.asarray(args[0].known, bool) | np.zeros(ctx.cols.n, bool), True, "bool")
    if f == "coalesce":
        out = args[-1]
        for a in reversed(args[:-1]):
            kind = a.kind if a.kind != "any" else out.kind
            val = np.where(a.known, _fill(a, kind), _fill(out, kind))
            out = V(val, a.known | out.known, kind)
        return out
    known = args[0].known
    for a in args[1:]:
        known = known & a.known
    if f == "years_between":
        return V(_years_between(args[0].val, args[1].val), known, "number")
    if f == "months_between":
        return V(_months_between(args[0].val, args[1].val), known, "number")
    if f == "days_between":
        return V(args[1].val - args[0].val, known, "number")
    if f == "add_months":
        return V(_add_months_days(np.asarray(args[0].val, float), np.asarray(args[1].val, float)), known, "date")
    if f in ("min", "max"):
        red = np.minimum if f == "min" else np.maximum
        val = args[0].val
        for a in args[1:]:
            val = red(val, a.val)
        return V(val, known, args[0].kind)
    if f == "abs":
        return V(np.abs(args[0].val), known, "number")
    if f == "convert":
        factor = conversion_factor(node.args[1].value, node.args[2].value, node.args[3].value)  # type: ignore[attr-defined]
        return V(args[0].val * factor, known, "number")
    raise ExprNameError(f"unknown function {f!r}")  # pragma: no cover


def _comprehend(node: Comprehension, ctx: _Ctx, env: Mapping[str, Any]) -> V:
    lname = node.source.path[-1]
    if lname not in LIST_FIELDS:
        raise ExprError(f"{node.source.dotted!r} is not a list")
    n = ctx.column(f"{lname}.n", "number")
    n_val = np.nan_to_num(np.asarray(n.val, float), nan=0.0)
    size = ctx.cols.n
    t_any = np.zeros(size, bool)  # some present element has cond true
    f_any = np.zeros(size, bool)  # some present element has cond false
    u_any = np.zeros(size, bool)  # some present element has cond unknown (or body unknown)
    count = np.zeros(size)
    total = np.zeros(size)
    best = np.full(size, np.inf if node.func == "min" else -np.inf)
    hit = np.zeros(size, bool)
    kind = "number"
    for k in range(ctx.cols.slots.get(lname, 0)):
        present = n_val > k
        inner = dict(env)
        inner[node.var] = (lname, k)
        if node.cond is None:
            ck, cv = np.ones(size, bool), np.ones(size, bool)
        else:
            c = _ev(node.cond, ctx, inner)
            ck = np.broadcast_to(c.known, (size,))
            cv = np.broadcast_to(np.asarray(_b(c), bool), (size,))
        t = present & ck & cv
        t_any |= t
        f_any |= present & ck & ~cv
        u_any |= present & ~ck
        if node.func == "count":
            count += t
        elif node.body is not None:
            b = _ev(node.body, ctx, inner)
            kind = b.kind
            bk = np.broadcast_to(b.known, (size,))
            bv = np.broadcast_to(np.asarray(b.val, float), (size,))
            u_any |= t & ~bk
            use = t & bk
            if node.func == "sum":
                total += np.where(use, bv, 0.0)
            elif node.func == "min":
                best = np.where(use, np.minimum(best, bv), best)
            else:
                best = np.where(use, np.maximum(best, bv), best)
            hit |= use
    all_present_true = ~(f_any | u_any)
    if node.func == "count":
        return V(count, n.known & ~u_any, "number")
    if node.func == "any":
        return V(t_any, n.known & (t_any | (~u_any)), "bool")
    if node.func == "all":
        return V(all_present_true, n.known & (f_any | all_present_true), "bool")
    if node.func == "sum":
        return V(total, n.known & ~u_any, "number")
    return V(np.where(hit, best, np.nan), n.known & ~u_any & hit, kind)


# --------------------------------------------------------------------------------------------- results
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

    def verdict_labels(self) -> np.ndarray:
        return np.asarray(VERDICTS, dtype=object)[self.verdict]

    def status_labels(self, cid: str) -> np.ndarray:
        return np.asarray(STATUS_CODES, dtype=object)[self.status[:, self.ids.index(cid)]]


def _chunk_status(cols: Columns, spec: EligibilitySpec, ids: Sequence[str]) -> np.ndarray:
    ctx = _Ctx(cols, spec)
    out = np.empty((cols.n, len(ids)), np.int8)
    for j, cid in enumerate(ids):
        c = spec.criteria[cid]
        if c.rule is not None:
            v = _ev(spec.compiled.rules[cid], ctx, {})
            known = np.broadcast_to(v.known, (cols.n,))
            val = np.broadcast_to(np.asarray(_b(v), bool), (cols.n,))
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
