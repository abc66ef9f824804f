"""Human reasons for a criterion's status, quoting the values the rule read.

A coordinator reads ``age 76 at consent 2026-01-10 > 75``, not ``False``: the explainer walks the rule's AST,
re-evaluates the parts that decided the outcome (the failing side of an ``and``, the unknown operands of a
``missing``) and prints them with the protocol's display labels.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from trialdesk.domain.expr import (
    UNKNOWN,
    Binary,
    Comprehension,
    ExprError,
    IfExpr,
    Logical,
    Name,
    Node,
    Scope,
    Unary,
    names_in,
    parse,
)
from trialdesk.domain.expr import Literal as LiteralNode
from trialdesk.domain.expr import evaluate as eval_expr

__all__ = ["Explainer", "format_value"]


_NEGATE = {"==": "!=", "!=": "==", "in": "not in", "notin": "in"}
_SHOW = {"notin": "not in"}


def format_value(v: Any) -> str:
    """A value as a reason quotes it: ``missing``, ``yes``/``no``, at most two decimals, ISO dates."""
    if v is UNKNOWN or v is None:
        return "missing"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        return f"{round(v, 2):.2f}".rstrip("0").rstrip(".")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


class Explainer:
    """Human reasons quoting the values a rule read (e.g. 'age 76 at consent 2026-01-10 > 75')."""

    def __init__(self, scope: Scope, labels: Mapping[str, str]):
        self.scope = scope
        self.labels = labels

    def value(self, node: Node) -> Any:
        return eval_expr(node, self.scope)

    def reason(self, node: Node, val: Any) -> str:
        parts = self.explain(node, val)
        seen: list[str] = []
        for p in parts:
            if p not in seen:
                seen.append(p)
        return "; ".join(seen)

    def label(self, node: Node, val: Any) -> str:
        key = node.dotted if isinstance(node, Name) else node.text
        tmpl = self.labels.get(key)
        if tmpl is None:
            return f"{key} {format_value(val)}"
        if "{value}" not in tmpl:
            tmpl = tmpl + " {value}"
        return re.sub(r"\{([^}]+)\}", lambda m: self._placeholder(m.group(1), val), tmpl)

    def _placeholder(self, expr: str, val: Any) -> str:
        if expr == "value":
            return format_value(val)
        try:
            return format_value(eval_expr(parse(expr), self.scope))
        except ExprError:
            return "{" + expr + "}"

    def missing_names(self, node: Node) -> list[str]:
        out: list[str] = []
        for name in sorted(names_in(node)):
            path = tuple(name.split("."))
            if path[0] in self.scope.derived and len(path) == 1:
                if self.value(Name(path)) is UNKNOWN:
                    inner = self.missing_names(self.scope.derived[path[0]])
                    out.extend(inner or [name])
                continue
            try:
                if self.scope.resolve(path, {}) is UNKNOWN:
                    out.append(name)
            except ExprError:  # pragma: no cover - checked statically
                out.append(name)
        return out

    def explain(self, node: Node, val: Any) -> list[str]:
        if isinstance(node, Logical):
            lv, rv = self.value(node.left), self.value(node.right)
            picks: list[tuple[Node, Any]]
            if node.op == "and":
                if val is False:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is False]
                elif val is UNKNOWN:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is UNKNOWN]
                else:
                    picks = [(node.left, lv), (node.right, rv)]
            else:
                if val is True:
                    picks = [next((n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is True)]
                elif val is UNKNOWN:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is UNKNOWN]
                else:
                    picks = [(node.left, lv), (node.right, rv)]
            out: list[str] = []
            for n, v in picks:
                out.extend(self.explain(n, v))
            return out
        if isinstance(node, Unary) and node.op == "not":
            return self.explain(node.operand, UNKNOWN if val is UNKNOWN else not val)
        if val is UNKNOWN:
            miss = self.missing_names(node)
            return [f"{m} missing" for m in miss] or [f"{node.text}: missing"]
        if isinstance(node, Binary) and node.op in ("==", "!=", "<", "<=", ">", ">=", "in", "notin"):
            return [self.compare(node, val)]
        if isinstance(node, Name):
            return [self.label(node, val) if node.dotted in self.labels else f"{node.dotted}: {format_value(val)}"]
        if isinstance(node, (Comprehension, IfExpr)) or True:
            return [self.label(node, val)]

    def compare(self, node: Binary, val: Any) -> str:
        lv, rv = self.value(node.left), self.value(node.right)
        if val:
            sym = _SHOW.get(node.op, node.op)
        elif node.op in _NEGATE:
            sym = _NEGATE[node.op]
        else:
            sym = "<" if lv < rv else ">" if lv > rv else "="
        left = self.label(node.left, lv) if not isinstance(node.left, LiteralNode) else format_value(lv)
        right = format_value(rv)
        if isinstance(node.right, Name) and node.right.path[0] != "thresholds":
            right = self.label(node.right, rv)
        elif not isinstance(node.right, (LiteralNode, Name)) and not node.right.text.startswith("["):
            right = f"{right} ({node.right.text})"
        return f"{left} {sym} {right}"
