"""The abstract syntax tree of the expression language, the function table, and tree walks.

The parser builds these nodes; the scalar evaluator, the vectorized evaluator and the type checker each
dispatch on them, so the node classes are the contract between the parser and everything downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AGGREGATES",
    "COMPARISONS",
    "FUNCTIONS",
    "REDUCERS",
    "Binary",
    "Call",
    "Comprehension",
    "IfExpr",
    "ListLit",
    "Literal",
    "Logical",
    "Name",
    "Node",
    "Unary",
    "children",
    "names_in",
    "walk",
]


@dataclass(frozen=True)
class Node:
    """Base AST node; ``text`` is the source slice (for explanations)."""

    text: str = field(default="", compare=False, kw_only=True)


@dataclass(frozen=True)
class Literal(Node):
    value: Any  # int | float | str | date | bool | UNKNOWN


@dataclass(frozen=True)
class Name(Node):
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str  # 'not' | '-'
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / == != < <= > >= in notin
    left: Node
    right: Node


@dataclass(frozen=True)
class Logical(Node):
    op: str  # and | or
    left: Node
    right: Node


@dataclass(frozen=True)
class IfExpr(Node):
    cond: Node
    then: Node
    else_: Node


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Comprehension(Node):
    func: str  # count any all sum min max
    var: str
    source: Name
    cond: Node | None
    body: Node | None


COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
AGGREGATES = {"count", "any", "all"}
REDUCERS = {"sum", "min", "max"}
#: function name -> (min args, max args)
FUNCTIONS: dict[str, tuple[int, int]] = {
    "years_between": (2, 2),
    "months_between": (2, 2),
    "days_between": (2, 2),
    "add_months": (2, 2),
    "min": (2, 8),
    "max": (2, 8),
    "abs": (1, 1),
    "known": (1, 1),
    "coalesce": (2, 8),
    "lookup": (2, 2),
    "convert": (4, 4),
}


def walk(node: Node) -> Iterator[Node]:
    """Yield ``node`` and all its descendants."""
    yield node
    if isinstance(node, ListLit):
        for it in node.items:
            yield from walk(it)
    elif isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, (Binary, Logical)):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, IfExpr):
        yield from walk(node.cond)
        yield from walk(node.then)
        yield from walk(node.else_)
    elif isinstance(node, Call):
        for a in node.args:
            yield from walk(a)
    elif isinstance(node, Comprehension):
        yield from walk(node.source)
        if node.cond is not None:
            yield from walk(node.cond)
        if node.body is not None:
            yield from walk(node.body)


def names_in(node: Node) -> set[str]:
    """Dotted names referenced by ``node`` (bound comprehension variables excluded)."""
    out: set[str] = set()

    def rec(n: Node, bound: frozenset[str]) -> None:
        if isinstance(n, Name):
            if n.path[0] not in bound:
                out.add(n.dotted)
            return
        if isinstance(n, Comprehension):
            rec(n.source, bound)
            inner = bound | {n.var}
            if n.cond is not None:
                rec(n.cond, inner)
            if n.body is not None:
                rec(n.body, inner)
            return
        for child in _children(n):
            rec(child, bound)

    rec(node, frozenset())
    return out


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, ListLit):
        return n.items
    if isinstance(n, Unary):
        return (n.operand,)
    if isinstance(n, (Binary, Logical)):
        return (n.left, n.right)
    if isinstance(n, IfExpr):
        return (n.cond, n.then, n.else_)
    if isinstance(n, Call):
        return n.args
    return ()


def children(n: Node) -> tuple[Node, ...]:
    """The direct children of ``n``, a comprehension's source, condition and body included."""
    if isinstance(n, Comprehension):
        return tuple(c for c in (n.source, n.cond, n.body) if c is not None)
    return _children(n)
