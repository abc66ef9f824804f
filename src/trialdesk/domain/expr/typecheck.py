"""Static check of a parsed rule against the record's type tree.

Run when the protocol is loaded, so that a misspelt field, a comparison of a date with a number or a string
literal that is not one of an enum's values fails at load time rather than silently making a criterion
``missing`` for every patient.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trialdesk.domain.expr import nodes as ast_
from trialdesk.domain.expr.evaluator import is_number, lookup_head
from trialdesk.domain.expr.values import UNKNOWN, ExprNameError, ExprTypeError

__all__ = ["TypeEnv", "TypeTag", "check"]


# Types: 'number', 'string', 'date', 'bool', 'any', ('enum', frozenset), ('list', name), ('item', name),
#        ('object', mapping name -> type)
TypeTag = Any
_SCALAR_KINDS = {"number", "string", "date", "bool", "any"}


def _kind(t: TypeTag) -> str:
    """The kind of a type: an enum is a string, a tuple type its tag, a scalar type itself."""
    kind: str = ("string" if t[0] == "enum" else t[0]) if isinstance(t, tuple) else t
    return kind


@dataclass
class TypeEnv:
    """What names exist and their types, for the static check.

    ``fields`` is the record's type tree (see :func:`trialdesk.domain.screening.record_types`), ``lists`` the
    element type trees of list fields (``list name -> {field -> type}``).
    """

    fields: Mapping[str, TypeTag]
    lists: Mapping[str, Mapping[str, TypeTag]]
    derived: Mapping[str, ast_.Node] = field(default_factory=dict)
    item_derived: Mapping[str, Mapping[str, ast_.Node]] = field(default_factory=dict)
    constants: Mapping[str, TypeTag] = field(default_factory=dict)
    tables: Mapping[str, TypeTag] = field(default_factory=dict)
    _derived_types: dict[str, TypeTag] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    def derived_type(self, name: str) -> TypeTag:
        if name not in self._derived_types:
            if name in self._active:
                raise ExprNameError(f"derived quantity {name!r} refers to itself")
            self._active.add(name)
            try:
                self._derived_types[name] = check(self.derived[name], self)
            finally:
                self._active.discard(name)
        return self._derived_types[name]


def check(node: ast_.Node, tenv: TypeEnv, bound: Mapping[str, TypeTag] | None = None) -> TypeTag:
    """Statically check ``node``: names exist, operand types agree, string literals belong to enums.

    Returns the inferred type; raises :class:`ExprNameError` or :class:`ExprTypeError`.
    """
    bound = bound or {}
    return _check(node, tenv, bound)


def _resolve_type(node: ast_.Name, tenv: TypeEnv, bound: Mapping[str, TypeTag]) -> TypeTag:
    head, rest = node.path[0], node.path[1:]
    t = lookup_head(head, node.dotted, bound, tenv.derived, tenv.derived_type, tenv.constants, tenv.fields)
    for part in rest:
        if isinstance(t, tuple) and t[0] == "item":
            lname = t[1]
            elem = tenv.lists[lname]
            if part in elem:
                t = elem[part]
            elif part in tenv.item_derived.get(lname, {}):
                t = _check(tenv.item_derived[lname][part], tenv, {"item": ("item", lname)})
            else:
                raise ExprNameError(f"unknown name {node.dotted!r}: {lname} items have no field {part!r}")
        elif isinstance(t, tuple) and t[0] == "object":
            if part not in t[1]:
                raise ExprNameError(f"unknown name {node.dotted!r}: no field {part!r}")
            t = t[1][part]
        elif t == "any":
            return "any"
        else:
            raise ExprNameError(f"unknown name {node.dotted!r}: {part!r} is not a field")
    return t


def _literal_type(v: Any) -> TypeTag:
    if v is UNKNOWN:
        return "any"
    if isinstance(v, bool):
        return "bool"
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _dt.date):
        return "date"
    return "any"  # pragma: no cover


def _compatible(a: TypeTag, b: TypeTag, node: ast_.Node) -> None:
    ka, kb = _kind(a), _kind(b)
    if "any" in (ka, kb):
        return
    if ka != kb:
        raise ExprTypeError(f"cannot compare {ka} with {kb} in {node.text!r}")


def _enum_literal(t: TypeTag, lit: ast_.Node, node: ast_.Node) -> None:
    if (
        isinstance(t, tuple)
        and t[0] == "enum"
        and isinstance(lit, ast_.Literal)
        and isinstance(lit.value, str)
        and lit.value not in t[1]
    ):
        raise ExprTypeError(
            f"{lit.value!r} is not a possible value in {node.text!r} (one of: {', '.join(sorted(t[1]))})"
        )


def _check(node: ast_.Node, tenv: TypeEnv, bound: Mapping[str, TypeTag]) -> TypeTag:
    if isinstance(node, ast_.Literal):
        return _literal_type(node.value)
    if isinstance(node, ast_.Name):
        t = _resolve_type(node, tenv, bound)
        if isinstance(t, tuple) and t[0] in ("object",):
            raise ExprTypeError(f"{node.dotted!r} is a group of fields, not a value")
        return t
    if isinstance(node, ast_.Logical):
        for side in (node.left, node.right):
            k = _kind(_check(side, tenv, bound))
            if k not in ("bool", "any"):
                raise ExprTypeError(f"'{node.op}' needs true/false operands, got {k} in {node.text!r}")
        return "bool"
    if isinstance(node, ast_.Unary):
        k = _kind(_check(node.operand, tenv, bound))
        want = "bool" if node.op == "not" else "number"
        if k not in (want, "any"):
            raise ExprTypeError(f"'{node.op}' needs a {want} operand, got {k} in {node.text!r}")
        return want
    if isinstance(node, ast_.Binary):
        lt = _check(node.left, tenv, bound)
        if node.op in ("in", "notin"):
            if not isinstance(node.right, ast_.ListLit):
                raise ExprTypeError(f"'in' needs a [list] on its right in {node.text!r}")
            for it in node.right.items:
                _compatible(lt, _check(it, tenv, bound), node)
                _enum_literal(lt, it, node)
            return "bool"
        rt = _check(node.right, tenv, bound)
        if node.op in ast_.COMPARISONS:
            _compatible(lt, rt, node)
            _enum_literal(lt, node.right, node)
            _enum_literal(rt, node.left, node)
            if node.op not in ("==", "!=") and _kind(lt) in ("string", "bool"):
                raise ExprTypeError(f"cannot order {_kind(lt)} values in {node.text!r}")
            return "bool"
        kl, kr = _kind(lt), _kind(rt)
        for k in (kl, kr):
            if k not in ("number", "any"):
                raise ExprTypeError(f"arithmetic '{node.op}' needs numbers, got {k} in {node.text!r}")
        return "number"
    if isinstance(node, ast_.IfExpr):
        k = _kind(_check(node.cond, tenv, bound))
        if k not in ("bool", "any"):
            raise ExprTypeError(f"'if' needs a true/false condition in {node.text!r}")
        a = _check(node.then, tenv, bound)
        b = _check(node.else_, tenv, bound)
        _compatible(a, b, node)
        return a if _kind(a) != "any" else b
    if isinstance(node, ast_.ListLit):
        for it in node.items:
            _check(it, tenv, bound)
        return "any"
    if isinstance(node, ast_.Call):
        kinds = [_kind(_check(a, tenv, bound)) for a in node.args]
        f = node.func

        def need(i: int, k: str) -> None:
            if kinds[i] not in (k, "any"):
                raise ExprTypeError(f"argument {i + 1} of {f}() must be a {k}, got {kinds[i]} in {node.text!r}")

        if f in ("years_between", "months_between", "days_between"):
            need(0, "date")
            need(1, "date")
            return "number"
        if f == "add_months":
            need(0, "date")
            need(1, "number")
            return "date"
        if f in ("min", "max", "coalesce"):
            ks = {k for k in kinds if k != "any"}
            if len(ks) > 1:
                raise ExprTypeError(f"{f}() arguments of mixed types {sorted(ks)} in {node.text!r}")
            return ks.pop() if ks else "any"
        if f == "abs":
            need(0, "number")
            return "number"
        if f == "known":
            return "bool"
        if f == "lookup":
            tname = node.args[0].value  # type: ignore[attr-defined]
            if tname not in tenv.tables:
                raise ExprNameError(f"unknown table {tname!r} in {node.text!r}")
            return tenv.tables[tname]
        if f == "convert":
            from trialdesk.domain.units import UnitError, conversion_factor

            need(0, "number")
            try:
                conversion_factor(node.args[1].value, node.args[2].value, node.args[3].value)  # type: ignore[attr-defined]
            except UnitError as exc:
                raise ExprTypeError(f"{exc} in {node.text!r}") from None
            return "number"
        raise ExprNameError(f"unknown function {f!r}")  # pragma: no cover
    if isinstance(node, ast_.Comprehension):
        st = _resolve_type(node.source, tenv, bound)
        if not (isinstance(st, tuple) and st[0] == "list"):
            raise ExprTypeError(f"{node.source.dotted!r} is not a list in {node.text!r}")
        inner = dict(bound)
        inner[node.var] = ("item", st[1])
        if node.cond is not None:
            k = _kind(_check(node.cond, tenv, inner))
            if k not in ("bool", "any"):
                raise ExprTypeError(f"'where' needs a true/false condition in {node.text!r}")
        if node.func in ("count", "sum"):
            if node.body is not None:
                k = _kind(_check(node.body, tenv, inner))
                if k not in ("number", "any"):
                    raise ExprTypeError(f"sum() needs numbers in {node.text!r}")
            return "number"
        if node.func in ("any", "all"):
            return "bool"
        assert node.body is not None
        return _check(node.body, tenv, inner)
    raise ExprTypeError(f"cannot check {node!r}")  # pragma: no cover
