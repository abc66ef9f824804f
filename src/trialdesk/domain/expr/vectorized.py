"""The expression language evaluated over numpy columns: the same AST as the scalar evaluator, for many records.

* every value is a :class:`V`, a pair ``(val, known)`` of arrays (or broadcastable scalars); ``known`` False is
  the unknown value, and Kleene logic is computed on the pairs;
* dates are float day numbers (days since 1970-01-01, NaN missing), strings fixed-width unicode arrays;
* a comprehension ``count(t in lesions where ...)`` binds ``t`` to each slot in turn (a short loop over slots,
  vectorized over patients) and combines the per-slot results with the same three-valued rules as the scalar path.

Names resolve through a :class:`ColumnScope`, the columnar twin of :class:`~trialdesk.domain.expr.evaluator.Scope`:
comprehension variables, derived quantities (lazy, cached, cycles reported), constants, then columns; a column the
table lacks is unknown for every row. What a column *is* (the flat form of a screening record, its list slots) is
the caller's business (:mod:`trialdesk.domain.cohort`), so this module depends on numpy and the AST only.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trialdesk.domain.expr import nodes as ast_
from trialdesk.domain.expr.values import UNKNOWN, ExprError, ExprNameError, ExprTypeError
from trialdesk.domain.units import conversion_factor

__all__ = [
    "EPOCH",
    "ColumnScope",
    "V",
    "add_months_days",
    "evaluate_columns",
    "months_between",
    "truth",
    "years_between",
]

#: day 0 of the float day numbers that stand for dates
EPOCH = np.datetime64("1970-01-01", "D")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class V:
    """A column value: ``val`` (array or scalar), ``known`` (bool array or Python bool), ``kind``."""

    val: Any
    known: Any
    kind: str  # number | date | string | bool | any


@dataclass(eq=False)
class ColumnScope:
    """Name resolution over typed columns (the vectorized twin of the scalar ``Scope``).

    Parameters
    ----------
    n
        Number of rows.
    data
        Typed columns by dotted name; list elements are ``<list>.<k>.<field>``.
    kinds
        The kind of every column the table could have (for an absent column's placeholder).
    slots
        Number of element slots per list field.
    lists
        Names of the list fields (what a comprehension may range over).
    derived, item_derived, constants, tables
        As for the scalar scope: named expressions, per-list element expressions, namespaces, lookup tables.
    """

    n: int
    data: Mapping[str, V]
    kinds: Mapping[str, str]
    slots: Mapping[str, int]
    lists: Collection[str]
    derived: Mapping[str, ast_.Node]
    item_derived: Mapping[str, Mapping[str, ast_.Node]]
    constants: Mapping[str, Any]
    tables: Mapping[str, Mapping[str, Any]]
    cache: dict[tuple[str | int, ...], V] = field(default_factory=dict, init=False)
    active: set[str] = field(default_factory=set, init=False)

    def column(self, key: str, kind_hint: str = "any") -> V:
        """The column ``key``; absent, it is unknown for every row (typed by the schema, else ``kind_hint``)."""
        if key in self.data:
            return self.data[key]
        kind = self.kinds.get(key, kind_hint)
        empty = {"number": np.nan, "date": np.nan, "bool": False, "string": ""}.get(kind, np.nan)
        return V(np.full(self.n, empty, dtype=None if kind != "string" else "U1"), np.zeros(self.n, bool), kind)


def evaluate_columns(node: ast_.Node, scope: ColumnScope) -> V:
    """Evaluate ``node`` for every row of ``scope``."""
    return _ev(node, scope, {})


def _const(value: Any) -> V:
    if value is UNKNOWN:
        return V(np.nan, False, "any")
    if isinstance(value, bool):
        return V(value, True, "bool")
    if isinstance(value, (int, float)):
        return V(float(value), True, "number")
    if isinstance(value, str):
        return V(value, True, "string")
    if isinstance(value, _dt.date):
        return V(float((np.datetime64(value, "D") - EPOCH).astype(int)), True, "date")
    raise ExprTypeError(f"unsupported literal {value!r}")  # pragma: no cover


def _resolve(node: ast_.Name, ctx: ColumnScope, env: Mapping[str, Any]) -> V:
    path = node.path
    head = path[0]
    if head in env:
        lname, k = env[head]
        if len(path) != 2:
            raise ExprNameError(f"cannot read {node.dotted!r}")
        fname = path[1]
        defs = ctx.item_derived.get(lname, {})
        if fname in defs:
            key: tuple[str | int, ...] = ("item", lname, k, fname)
            if key not in ctx.cache:
                ctx.cache[key] = _ev(defs[fname], ctx, {"item": (lname, k)})
            return ctx.cache[key]
        return ctx.column(f"{lname}.{k}.{fname}")
    if head in ctx.derived:
        if len(path) != 1:
            raise ExprNameError(f"cannot read {node.dotted!r}")
        key = ("derived", head)
        if key not in ctx.cache:
            if head in ctx.active:
                raise ExprNameError(f"derived quantity {head!r} refers to itself")
            ctx.active.add(head)
            try:
                ctx.cache[key] = _ev(ctx.derived[head], ctx, {})
            finally:
                ctx.active.discard(head)
        return ctx.cache[key]
    if head in ctx.constants:
        val = ctx.constants[head]
        for p in path[1:]:
            val = val[p]
        return _const(val)
    return ctx.column(node.dotted)


def truth(v: V) -> Any:
    """``v.val`` as booleans (where ``v.known``; what it says elsewhere is meaningless)."""
    val = v.val
    if isinstance(val, np.ndarray):
        return val if val.dtype == bool else np.nan_to_num(val).astype(bool)
    return bool(val) if val == val else False


def _and(a: V, b: V) -> V:
    av, bv = truth(a), truth(b)
    t = a.known & av & b.known & bv
    f = (a.known & ~np.asarray(av, bool)) | (b.known & ~np.asarray(bv, bool))
    return V(t, t | f, "bool")


def _or(a: V, b: V) -> V:
    av, bv = truth(a), truth(b)
    t = (a.known & av) | (b.known & bv)
    f = a.known & ~np.asarray(av, bool) & b.known & ~np.asarray(bv, bool)
    return V(t, t | f, "bool")


_PLACEHOLDER = {"bool": False, "string": "", "number": np.nan, "date": np.nan, "any": np.nan}


def _fill(v: V, kind: str) -> Any:
    """``v.val`` usable as a ``kind`` value (an unknown literal becomes a placeholder)."""
    return _PLACEHOLDER[kind] if v.kind == "any" else v.val


_CMP = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _ev(node: ast_.Node, ctx: ColumnScope, env: Mapping[str, Any]) -> V:
    if isinstance(node, ast_.Literal):
        return _const(node.value)
    if isinstance(node, ast_.Name):
        return _resolve(node, ctx, env)
    if isinstance(node, ast_.Logical):
        a = _ev(node.left, ctx, env)
        b = _ev(node.right, ctx, env)
        return _and(a, b) if node.op == "and" else _or(a, b)
    if isinstance(node, ast_.Unary):
        a = _ev(node.operand, ctx, env)
        if node.op == "not":
            return V(~np.asarray(truth(a), bool), a.known, "bool")
        return V(-a.val, a.known, a.kind)
    if isinstance(node, ast_.Binary):
        a = _ev(node.left, ctx, env)
        if node.op in ("in", "notin"):
            items = node.right.items if isinstance(node.right, ast_.ListLit) else ()
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
    if isinstance(node, ast_.IfExpr):
        c = _ev(node.cond, ctx, env)
        t = _ev(node.then, ctx, env)
        e = _ev(node.else_, ctx, env)
        cv = truth(c)
        kind = t.kind if t.kind != "any" else e.kind
        val = np.where(cv, _fill(t, kind), _fill(e, kind))
        known = c.known & np.where(cv, t.known, e.known)
        return V(val, known, kind)
    if isinstance(node, ast_.Call):
        return _call(node, ctx, env)
    if isinstance(node, ast_.Comprehension):
        return _comprehend(node, ctx, env)
    raise ExprError(f"cannot evaluate {node!r}")  # pragma: no cover


# ----- dates (the vectorized twins of :mod:`trialdesk.domain.expr.dates`, on float day numbers)
def _civil(days: FloatArray) -> tuple[IntArray, IntArray, IntArray]:
    """(year, month 1-12, day 1-31) of float day numbers (NaN -> 1970-01-01; mask separately)."""
    d = EPOCH + np.nan_to_num(days).astype("int64").astype("timedelta64[D]")
    m = d.astype("datetime64[M]")
    y = d.astype("datetime64[Y]")
    year: IntArray = y.astype(np.int64) + 1970
    month: IntArray = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day: IntArray = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _days_from_civil(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    mi = (year - 1970) * 12 + (month - 1)
    first = np.asarray(mi, dtype="int64").astype("datetime64[M]").astype("datetime64[D]")
    days: IntArray = (first - EPOCH).astype(np.int64) + (day - 1)
    return days


def _month_len(year: IntArray, month: IntArray) -> IntArray:
    mi = np.asarray((year - 1970) * 12 + (month - 1), dtype="int64")
    a = mi.astype("datetime64[M]").astype("datetime64[D]")
    b = (mi + 1).astype("datetime64[M]").astype("datetime64[D]")
    length: IntArray = (b - a).astype(np.int64)
    return length


def add_months_days(days: FloatArray, n: FloatArray | IntArray) -> FloatArray:
    """``days`` plus ``n`` calendar months, the day clamped to the target month's last day."""
    y, m, d = _civil(days)
    idx = (y * 12 + (m - 1)) + np.nan_to_num(n).astype(np.int64)
    ty, tm = idx // 12, idx % 12 + 1
    td = np.minimum(d, _month_len(ty, tm))
    return _days_from_civil(ty, tm, td).astype(np.float64)


def years_between(a: FloatArray, b: FloatArray) -> FloatArray:
    """Completed years from ``a`` to ``b`` (the age rule of the scalar function)."""
    ya, ma, da = _civil(a)
    yb, mb, db = _civil(b)
    years: FloatArray = (yb - ya - ((mb * 32 + db) < (ma * 32 + da))).astype(np.float64)
    return years


def months_between(a: FloatArray, b: FloatArray) -> FloatArray:
    """Completed calendar months from ``a`` to ``b`` plus the elapsed fraction of the following month."""
    a = np.nan_to_num(a)
    b = np.nan_to_num(b)
    sign = np.where(b < a, -1.0, 1.0)
    lo_d, hi_d = np.minimum(a, b), np.maximum(a, b)
    ya, ma, _ = _civil(lo_d)
    yb, mb, _ = _civil(hi_d)
    m = (yb - ya) * 12 + (mb - ma)
    m = m - (add_months_days(lo_d, m) > hi_d)
    lo = add_months_days(lo_d, m)
    hi = add_months_days(lo_d, m + 1)
    months: FloatArray = sign * (m + (hi_d - lo) / (hi - lo))
    return months


def _call(node: ast_.Call, ctx: ColumnScope, env: Mapping[str, Any]) -> V:
    f = node.func
    if f == "lookup":
        table = ctx.tables[node.args[0].value]  # type: ignore[attr-defined]
        key = _ev(node.args[1], ctx, env)
        keys = np.asarray(key.val)
        found = np.full(keys.shape, np.nan)
        for k, v in table.items():  # small tables: one comparison per entry
            found[np.asarray(keys == k, dtype=bool)] = v
        return V(found, key.known & ~np.isnan(found), "number")
    args = [_ev(a, ctx, env) for a in node.args]
    if f == "known":
        return V(np.asarray(args[0].known, bool) | np.zeros(ctx.n, bool), True, "bool")
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
        return V(years_between(args[0].val, args[1].val), known, "number")
    if f == "months_between":
        return V(months_between(args[0].val, args[1].val), known, "number")
    if f == "days_between":
        return V(args[1].val - args[0].val, known, "number")
    if f == "add_months":
        return V(add_months_days(np.asarray(args[0].val, float), np.asarray(args[1].val, float)), known, "date")
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


def _comprehend(node: ast_.Comprehension, ctx: ColumnScope, env: Mapping[str, Any]) -> V:
    lname = node.source.path[-1]
    if lname not in ctx.lists:
        raise ExprError(f"{node.source.dotted!r} is not a list")
    n = ctx.column(f"{lname}.n", "number")
    n_val = np.nan_to_num(np.asarray(n.val, float), nan=0.0)
    size = ctx.n
    t_any = np.zeros(size, bool)  # some present element has cond true
    f_any = np.zeros(size, bool)  # some present element has cond false
    u_any = np.zeros(size, bool)  # some present element has cond unknown (or body unknown)
    count = np.zeros(size)
    total = np.zeros(size)
    best = np.full(size, np.inf if node.func == "min" else -np.inf)
    hit = np.zeros(size, bool)
    kind = "number"
    for k in range(ctx.slots.get(lname, 0)):
        present = n_val > k
        inner = dict(env)
        inner[node.var] = (lname, k)
        if node.cond is None:
            ck, cv = np.ones(size, bool), np.ones(size, bool)
        else:
            c = _ev(node.cond, ctx, inner)
            ck = np.broadcast_to(c.known, (size,))
            cv = np.broadcast_to(np.asarray(truth(c), bool), (size,))
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
