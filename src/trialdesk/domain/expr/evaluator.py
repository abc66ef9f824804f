"""Scalar evaluation of one record with three-valued (Kleene) logic.

:data:`~trialdesk.domain.expr.values.UNKNOWN` propagates through arithmetic, comparisons and functions;
``and``/``or``/``not`` follow Kleene logic. Names resolve through a :class:`Scope`: comprehension variables,
derived quantities (evaluated lazily, cached, cycles reported), constants, then the record itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from trialdesk.domain.expr import nodes as ast_
from trialdesk.domain.expr.dates import add_months, days_between, months_between, years_between
from trialdesk.domain.expr.values import UNKNOWN, ExprNameError, ExprSyntaxError, ExprTypeError

__all__ = ["Item", "Resolver", "Scope", "evaluate", "is_number", "lookup_head"]

T = TypeVar("T")


@dataclass(frozen=True)
class Item:
    """An element of a record list bound to a comprehension variable."""

    list_name: str
    data: Mapping[str, Any]


def lookup_head(
    head: str,
    dotted: str,
    bound: Mapping[str, T],
    derived: Collection[str],
    derive: Callable[[str], T],
    constants: Mapping[str, T],
    record: Mapping[str, T],
) -> T:
    """The first part of a name, looked up in the language's one scope order.

    Comprehension variables shadow derived quantities, which shadow constants, which shadow the record's own
    fields. The scalar evaluator looks values up in this order and the type checker looks types up in it, so a
    rule means at load time what it means at run time.
    """
    if head in bound:
        return bound[head]
    if head in derived:
        return derive(head)
    if head in constants:
        return constants[head]
    if head in record:
        return record[head]
    raise ExprNameError(f"unknown name {dotted!r}")


class Scope:
    """Name resolution for one record.

    Parameters
    ----------
    record
        The record as nested dicts/lists with canonical units; ``None`` means missing.
    derived
        Named expressions (``name -> AST``), evaluated lazily and cached.
    item_derived
        Per-list element expressions (``list name -> {field -> AST}``) evaluated with the element bound to ``item``.
    constants
        Extra top-level namespaces (e.g. ``{"thresholds": {...}}``).
    tables
        Lookup tables for ``lookup('table', key)``.
    """

    __slots__ = ("_active", "_cache", "constants", "derived", "item_derived", "record", "tables")

    def __init__(
        self,
        record: Mapping[str, Any],
        derived: Mapping[str, ast_.Node] | None = None,
        item_derived: Mapping[str, Mapping[str, ast_.Node]] | None = None,
        constants: Mapping[str, Any] | None = None,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self.record = record
        self.derived = derived or {}
        self.item_derived = item_derived or {}
        self.constants = constants or {}
        self.tables = tables or {}
        self._cache: dict[str, Any] = {}
        self._active: set[str] = set()

    def derived_value(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        if name in self._active:
            raise ExprNameError(f"derived quantity {name!r} refers to itself")
        self._active.add(name)
        try:
            val = _eval(self.derived[name], self, {})
        finally:
            self._active.discard(name)
        self._cache[name] = val
        return val

    def resolve(self, path: tuple[str, ...], env: Mapping[str, Any]) -> Any:
        head, rest = path[0], path[1:]
        val = lookup_head(head, ".".join(path), env, self.derived, self.derived_value, self.constants, self.record)
        for i, part in enumerate(rest):
            if val is None or val is UNKNOWN:
                return UNKNOWN
            if isinstance(val, Item):
                if part in val.data:
                    val = val.data[part]
                    continue
                defs = self.item_derived.get(val.list_name, {})
                if part in defs:
                    val = _eval(defs[part], self, {"item": val})
                    continue
                raise ExprNameError(f"{val.list_name} items have no field {part!r}")
            if isinstance(val, Mapping):
                val = val.get(part)
                continue
            raise ExprNameError(f"cannot read {part!r} of {'.'.join(path[: i + 1])!r}")
        return UNKNOWN if val is None else val


def evaluate(node: ast_.Node, scope: Scope) -> Any:
    """Evaluate ``node`` for one record; returns a value or :data:`UNKNOWN`."""
    return _eval(node, scope, {})


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_same(op: str, a: Any, b: Any, node: ast_.Node) -> None:
    if is_number(a) and is_number(b):
        return
    if type(a) is type(b):
        return
    raise ExprTypeError(f"cannot apply {op!r} to {type(a).__name__} and {type(b).__name__} in {node.text!r}")


def _eval(node: ast_.Node, scope: Scope, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast_.Literal):
        return node.value
    if isinstance(node, ast_.Name):
        return scope.resolve(node.path, env)
    if isinstance(node, ast_.Logical):
        # Kleene: the value that decides the operator (false for ``and``, true for ``or``) wins over unknown.
        decisive = node.op != "and"
        a = _eval(node.left, scope, env)
        if a is decisive:
            return decisive
        b = _eval(node.right, scope, env)
        if b is decisive:
            return decisive
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        return not decisive
    if isinstance(node, ast_.Unary):
        v = _eval(node.operand, scope, env)
        if v is UNKNOWN:
            return UNKNOWN
        if node.op == "not":
            return not v
        return -v
    if isinstance(node, ast_.Binary):
        a = _eval(node.left, scope, env)
        b = _eval(node.right, scope, env)
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        op = node.op
        if op in ("in", "notin"):
            res = a in b
            return res if op == "in" else not res
        _check_same(op, a, b, node)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return UNKNOWN if b == 0 else a / b
        raise ExprSyntaxError(f"unknown operator {op!r}")  # pragma: no cover
    if isinstance(node, ast_.IfExpr):
        c = _eval(node.cond, scope, env)
        if c is UNKNOWN:
            return UNKNOWN
        return _eval(node.then if c else node.else_, scope, env)
    if isinstance(node, ast_.ListLit):
        return [_eval(i, scope, env) for i in node.items]
    if isinstance(node, ast_.Call):
        return _call(node, [_eval(a, scope, env) for a in node.args], scope)
    if isinstance(node, ast_.Comprehension):
        return _comprehend(node, scope, env)
    raise ExprSyntaxError(f"cannot evaluate {node!r}")  # pragma: no cover


def _call(node: ast_.Call, args: list[Any], scope: Scope) -> Any:
    f = node.func
    if f == "known":
        return args[0] is not UNKNOWN
    if f == "coalesce":
        for a in args:
            if a is not UNKNOWN:
                return a
        return UNKNOWN
    if f == "lookup":
        table = scope.tables.get(args[0])
        if table is None:
            raise ExprNameError(f"unknown table {args[0]!r} in {node.text!r}")
        if args[1] is UNKNOWN:
            return UNKNOWN
        val = table.get(args[1])
        return UNKNOWN if val is None else val
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    if f == "years_between":
        return years_between(args[0], args[1])
    if f == "months_between":
        return months_between(args[0], args[1])
    if f == "days_between":
        return days_between(args[0], args[1])
    if f == "add_months":
        return add_months(args[0], args[1])
    if f == "min":
        return min(args)
    if f == "max":
        return max(args)
    if f == "abs":
        return abs(args[0])
    if f == "convert":
        from trialdesk.domain.units import convert

        return convert(args[1], args[0], args[2], args[3])
    raise ExprNameError(f"unknown function {f!r}")  # pragma: no cover


def _comprehend(node: ast_.Comprehension, scope: Scope, env: Mapping[str, Any]) -> Any:
    items = scope.resolve(node.source.path, env)
    if items is UNKNOWN:
        return UNKNOWN
    list_name = node.source.path[-1]
    saw_unknown = False
    hits: list[Any] = []
    for data in items:
        inner = dict(env)
        inner[node.var] = Item(list_name, data)
        c = True if node.cond is None else _eval(node.cond, scope, inner)
        if c is UNKNOWN:
            saw_unknown = True
            continue
        if node.func == "any" and c:
            return True
        if node.func == "all" and not c:
            return False
        if c:
            if node.body is not None:
                v = _eval(node.body, scope, inner)
                if v is UNKNOWN:
                    saw_unknown = True
                    continue
                hits.append(v)
            else:
                hits.append(True)
    if saw_unknown:
        return UNKNOWN
    if node.func == "count":
        return len(hits)
    if node.func == "any":
        return False
    if node.func == "all":
        return True
    if node.func == "sum":
        return sum(hits) if hits else 0
    if not hits:
        return UNKNOWN
    return min(hits) if node.func == "min" else max(hits)


Resolver = Callable[[tuple[str, ...]], Any]
