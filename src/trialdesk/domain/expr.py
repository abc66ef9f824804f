"""A small, safe expression language for eligibility rules.

The protocol file writes each machine rule as an expression; this module tokenizes and parses it into an
abstract syntax tree (AST) with a hand-written recursive-descent parser (no ``eval``, no Python ``ast``) and
evaluates the tree for one record with three-valued (Kleene) logic. :mod:`trialdesk.domain.cohort` evaluates the
*same* tree over numpy columns.

Grammar (lowest precedence first)::

    expr     := 'if' expr 'then' expr 'else' expr | or
    or       := and ('or' and)*
    and      := not ('and' not)*
    not      := 'not' not | cmp
    cmp      := sum (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') sum)?
    sum      := product (('+'|'-') product)*
    product  := unary (('*'|'/') unary)*
    unary    := '-' unary | primary
    primary  := NUMBER | STRING | DATE | 'true' | 'false' | 'null' | name | call | '(' expr ')' | '[' list ']'
    name     := IDENT ('.' IDENT)*
    call     := IDENT '(' args ')'
              | AGG '(' IDENT 'in' name ('where' expr)? ')'                 AGG in count, any, all
              | RED '(' expr 'for' IDENT 'in' name ('where' expr)? ')'      RED in sum, min, max

Literals: numbers (``1.5``, ``1e9``), strings in single or double quotes, dates ``d'2026-01-10'``, ``true``,
``false``, ``null`` (the unknown value).

Missing values
--------------
A missing value is :data:`UNKNOWN`. It propagates through arithmetic, comparisons and functions; ``and``/``or``/
``not`` follow Kleene logic (``false and unknown`` is false, ``true and unknown`` is unknown, ``true or unknown``
is true). ``known(x)`` is the one function that inspects missingness; ``coalesce(a, b)`` returns the first known.

Functions
---------
``years_between(a, b)``: completed years from date ``a`` to date ``b`` (age rule: a birthday on 29 February
is reached on 1 March in common years). ``months_between(a, b)``: completed calendar months from ``a`` to ``b``
plus the elapsed fraction of the next month (exactly 12 calendar months gives 12.0; one day more gives > 12).
``add_months(d, n)``: calendar month arithmetic, clamped to the month's last day. ``days_between(a, b)``: ``b - a``
in days. ``min``/``max``/``abs``, ``known``, ``coalesce``, ``lookup('table', key)`` (a protocol table; an
absent key is unknown) and ``convert(value, 'analyte', 'from unit', 'to unit')`` (see
:mod:`trialdesk.domain.units`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNKNOWN",
    "Unknown",
    "ExprError",
    "ExprSyntaxError",
    "ExprNameError",
    "ExprTypeError",
    "Node",
    "Literal",
    "Name",
    "ListLit",
    "Unary",
    "Binary",
    "Logical",
    "IfExpr",
    "Call",
    "Comprehension",
    "parse",
    "names_in",
    "Scope",
    "evaluate",
    "years_between",
    "months_between",
    "add_months",
    "days_between",
    "FUNCTIONS",
    "AGGREGATES",
    "REDUCERS",
]


# --------------------------------------------------------------------------------------------- unknown value
class Unknown:
    """The missing value of three-valued logic (a singleton: :data:`UNKNOWN`)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; test `is UNKNOWN`")


UNKNOWN = Unknown()


# --------------------------------------------------------------------------------------------- errors
class ExprError(ValueError):
    """Base class of expression errors."""


class ExprSyntaxError(ExprError):
    """The text is not a well-formed expression."""


class ExprNameError(ExprError):
    """An identifier, attribute or function does not exist."""


class ExprTypeError(ExprError):
    """Operands of incompatible types (found by the static check or at evaluation)."""


# --------------------------------------------------------------------------------------------- tokenizer
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<date>d'(?P<dval>\d{4}-\d{2}-\d{2})')
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?P<s1>[^'\\]*)'|"(?P<s2>[^"\\]*)")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
    """,
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "where", "for", "if", "then", "else", "true", "false", "null"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, date, ident, kw, op, end
    value: Any
    pos: int
    end: int = 0


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises :class:`ExprSyntaxError` at the first bad character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ExprSyntaxError(f"unexpected character {text[pos]!r} at position {pos} in {text!r}")
        kind = m.lastgroup
        if m.group("ws"):
            pass
        elif m.group("date"):
            try:
                tokens.append(Token("date", _dt.date.fromisoformat(m.group("dval")), pos))
            except ValueError:
                raise ExprSyntaxError(f"invalid date {m.group('dval')!r} at position {pos}") from None
        elif m.group("number") is not None:
            s = m.group("number")
            val: float | int = float(s) if any(c in s for c in ".eE") else int(s)
            tokens.append(Token("number", val, pos))
        elif m.group("string") is not None:
            s = m.group("s1") if m.group("s1") is not None else m.group("s2")
            tokens.append(Token("string", s, pos))
        elif m.group("ident"):
            word = m.group("ident")
            tokens.append(Token("kw" if word in KEYWORDS else "ident", word, pos))
        else:
            assert kind == "op"
            tokens.append(Token("op", m.group("op"), pos))
        if tokens and tokens[-1].pos == pos:
            object.__setattr__(tokens[-1], "end", m.end())
        pos = m.end()
    tokens.append(Token("end", None, len(text), len(text)))
    return tokens


# --------------------------------------------------------------------------------------------- AST
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


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    # helpers
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, kind: str, value: Any = None, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == kind and (value is None or t.value == value)

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str, value: Any = None) -> Token:
        if not self.at(kind, value):
            t = self.peek()
            want = repr(value) if value is not None else kind
            got = "end of expression" if t.kind == "end" else repr(t.value)
            raise ExprSyntaxError(f"expected {want} but found {got} at position {t.pos} in {self.text!r}")
        return self.take()

    def span(self, start: int) -> str:
        return self.text[start : self.toks[self.i - 1].end].strip()

    # grammar
    def parse(self) -> Node:
        node = self.expr()
        if not self.at("end"):
            t = self.peek()
            raise ExprSyntaxError(f"unexpected {t.value!r} at position {t.pos} in {self.text!r}")
        return node

    def expr(self) -> Node:
        start = self.peek().pos
        if self.at("kw", "if"):
            self.take()
            cond = self.expr()
            self.expect("kw", "then")
            then = self.expr()
            self.expect("kw", "else")
            else_ = self.expr()
            return IfExpr(cond, then, else_, text=self.span(start))
        return self.or_()

    def or_(self) -> Node:
        start = self.peek().pos
        left = self.and_()
        while self.at("kw", "or"):
            self.take()
            right = self.and_()
            left = Logical("or", left, right, text=self.span(start))
        return left

    def and_(self) -> Node:
        start = self.peek().pos
        left = self.not_()
        while self.at("kw", "and"):
            self.take()
            right = self.not_()
            left = Logical("and", left, right, text=self.span(start))
        return left

    def not_(self) -> Node:
        start = self.peek().pos
        if self.at("kw", "not"):
            self.take()
            operand = self.not_()
            return Unary("not", operand, text=self.span(start))
        return self.cmp()

    def cmp(self) -> Node:
        start = self.peek().pos
        left = self.sum_()
        if self.at("op") and self.peek().value in COMPARISONS:
            op = self.take().value
            right = self.sum_()
            return Binary(op, left, right, text=self.span(start))
        if self.at("kw", "in"):
            self.take()
            right = self.sum_()
            return Binary("in", left, right, text=self.span(start))
        if self.at("kw", "not") and self.at("kw", "in", 1):
            self.take()
            self.take()
            right = self.sum_()
            return Binary("notin", left, right, text=self.span(start))
        return left

    def _left_assoc(self, operators: tuple[str, ...], operand) -> Node:
        """``operand (op operand)*`` for left-associative binary operators of one precedence level."""
        start = self.peek().pos
        left = operand()
        while self.at("op") and self.peek().value in operators:
            op = self.take().value
            right = operand()
            left = Binary(op, left, right, text=self.span(start))
        return left

    def sum_(self) -> Node:
        return self._left_assoc(("+", "-"), self.product)

    def product(self) -> Node:
        return self._left_assoc(("*", "/"), self.unary)

    def unary(self) -> Node:
        start = self.peek().pos
        if self.at("op", "-"):
            self.take()
            operand = self.unary()
            if isinstance(operand, Literal) and isinstance(operand.value, (int, float)) and not isinstance(
                operand.value, bool
            ):
                return Literal(-operand.value, text=self.span(start))
            return Unary("-", operand, text=self.span(start))
        return self.primary()

    def name(self) -> Name:
        start = self.peek().pos
        parts = [self.expect("ident").value]
        while self.at("op", "."):
            self.take()
            parts.append(self.expect("ident").value)
        return Name(tuple(parts), text=self.span(start))

    def primary(self) -> Node:
        t = self.peek()
        start = t.pos
        if t.kind in ("number", "string", "date"):
            self.take()
            return Literal(t.value, text=self.span(start))
        if t.kind == "kw" and t.value in ("true", "false", "null"):
            self.take()
            val = {"true": True, "false": False, "null": UNKNOWN}[t.value]
            return Literal(val, text=t.value)
        if self.at("op", "("):
            self.take()
            node = self.expr()
            self.expect("op", ")")
            return node
        if self.at("op", "["):
            self.take()
            items: list[Node] = []
            if not self.at("op", "]"):
                items.append(self.expr())
                while self.at("op", ","):
                    self.take()
                    items.append(self.expr())
            self.expect("op", "]")
            return ListLit(tuple(items), text=self.span(start))
        if t.kind == "ident" and self.at("op", "(", 1):
            return self.call()
        if t.kind == "ident":
            return self.name()
        got = "end of expression" if t.kind == "end" else repr(t.value)
        raise ExprSyntaxError(f"unexpected {got} at position {t.pos} in {self.text!r}")

    def call(self) -> Node:
        start = self.peek().pos
        func = self.take().value
        self.expect("op", "(")
        if func in AGGREGATES:
            var = self.expect("ident").value
            self.expect("kw", "in")
            source = self.name()
            cond = None
            if self.at("kw", "where"):
                self.take()
                cond = self.expr()
            self.expect("op", ")")
            return Comprehension(func, var, source, cond, None, text=self.span(start))
        args: list[Node] = []
        if not self.at("op", ")"):
            args.append(self.expr())
            if func in REDUCERS and self.at("kw", "for"):
                self.take()
                var = self.expect("ident").value
                self.expect("kw", "in")
                source = self.name()
                cond = None
                if self.at("kw", "where"):
                    self.take()
                    cond = self.expr()
                self.expect("op", ")")
                return Comprehension(func, var, source, cond, args[0], text=self.span(start))
            while self.at("op", ","):
                self.take()
                args.append(self.expr())
        self.expect("op", ")")
        if func in REDUCERS and func == "sum":
            raise ExprSyntaxError(f"sum() needs the form sum(expr for x in list) in {self.text!r}")
        if func not in FUNCTIONS:
            allowed = sorted(set(FUNCTIONS) | AGGREGATES | REDUCERS)
            raise ExprNameError(f"unknown function {func!r} in {self.text!r} (allowed: {', '.join(allowed)})")
        lo, hi = FUNCTIONS[func]
        if not lo <= len(args) <= hi:
            raise ExprSyntaxError(f"{func}() takes {lo}..{hi} arguments, got {len(args)} in {self.text!r}")
        if func in ("lookup",) and not (isinstance(args[0], Literal) and isinstance(args[0].value, str)):
            raise ExprSyntaxError(f"lookup() needs a table name as a string literal in {self.text!r}")
        if func == "convert" and not all(isinstance(a, Literal) and isinstance(a.value, str) for a in args[1:]):
            raise ExprSyntaxError(f"convert() needs analyte and units as string literals in {self.text!r}")
        return Call(func, tuple(args), text=self.span(start))


def parse(text: str) -> Node:
    """Parse ``text`` into an AST; raises :class:`ExprSyntaxError` or :class:`ExprNameError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExprSyntaxError("empty expression")
    return _Parser(text).parse()


def walk(node: Node):
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


# --------------------------------------------------------------------------------------------- date functions
def years_between(a: _dt.date, b: _dt.date) -> int:
    """Completed years from ``a`` to ``b`` (age at ``b`` for a birth date ``a``)."""
    return b.year - a.year - ((b.month, b.day) < (a.month, a.day))


def _month_end(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (_dt.date(year, month + 1, 1) - _dt.timedelta(days=1)).day


def add_months(d: _dt.date, n: int) -> _dt.date:
    """``d`` plus ``n`` calendar months, the day clamped to the target month's last day."""
    idx = d.year * 12 + (d.month - 1) + int(n)
    y, m = divmod(idx, 12)
    return _dt.date(y, m + 1, min(d.day, _month_end(y, m + 1)))


def months_between(a: _dt.date, b: _dt.date) -> float:
    """Completed calendar months from ``a`` to ``b`` plus the elapsed fraction of the following month."""
    sign = 1.0
    if b < a:
        a, b, sign = b, a, -1.0
    m = (b.year - a.year) * 12 + (b.month - a.month)
    if add_months(a, m) > b:
        m -= 1
    lo = add_months(a, m)
    hi = add_months(a, m + 1)
    return sign * (m + (b - lo).days / (hi - lo).days)


def days_between(a: _dt.date, b: _dt.date) -> int:
    """``b - a`` in days."""
    return (b - a).days


# --------------------------------------------------------------------------------------------- scalar evaluation
@dataclass(frozen=True)
class Item:
    """An element of a record list bound to a comprehension variable."""

    list_name: str
    data: Mapping[str, Any]


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

    __slots__ = ("record", "derived", "item_derived", "constants", "tables", "_cache", "_active")

    def __init__(
        self,
        record: Mapping[str, Any],
        derived: Mapping[str, Node] | None = None,
        item_derived: Mapping[str, Mapping[str, Node]] | None = None,
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
        if head in env:
            val = env[head]
        elif head in self.derived:
            val = self.derived_value(head)
        elif head in self.constants:
            val = self.constants[head]
        elif head in self.record:
            val = self.record[head]
        else:
            raise ExprNameError(f"unknown name {'.'.join(path)!r}")
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


def evaluate(node: Node, scope: Scope) -> Any:
    """Evaluate ``node`` for one record; returns a value or :data:`UNKNOWN`."""
    return _eval(node, scope, {})


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_same(op: str, a: Any, b: Any, node: Node) -> None:
    if _is_num(a) and _is_num(b):
        return
    if type(a) is type(b):
        return
    raise ExprTypeError(f"cannot apply {op!r} to {type(a).__name__} and {type(b).__name__} in {node.text!r}")


def _eval(node: Node, scope: Scope, env: Mapping[str, Any]) -> Any:  # noqa: C901 - a dispatcher
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return scope.resolve(node.path, env)
    if isinstance(node, Logical):
        a = _eval(node.left, scope, env)
        if node.op == "and":
            if a is False:
                return False
            b = _eval(node.right, scope, env)
            if b is False:
                return False
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            return True
        if a is True:
            return True
        b = _eval(node.right, scope, env)
        if b is True:
            return True
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        return False
    if isinstance(node, Unary):
        v = _eval(node.operand, scope, env)
        if v is UNKNOWN:
            return UNKNOWN
        if node.op == "not":
            return not v
        return -v
    if isinstance(node, Binary):
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
    if isinstance(node, IfExpr):
        c = _eval(node.cond, scope, env)
        if c is UNKNOWN:
            return UNKNOWN
        return _eval(node.then if c else node.else_, scope, env)
    if isinstance(node, ListLit):
        return [_eval(i, scope, env) for i in node.items]
    if isinstance(node, Call):
        return _call(node, [_eval(a, scope, env) for a in node.args], scope)
    if isinstance(node, Comprehension):
        return _comprehend(node, scope, env)
    raise ExprSyntaxError(f"cannot evaluate {node!r}")  # pragma: no cover


def _call(node: Call, args: list[Any], scope: Scope) -> Any:
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


def _comprehend(node: Comprehension, scope: Scope, env: Mapping[str, Any]) -> Any:
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


# --------------------------------------------------------------------------------------------- static check
# Types: 'number', 'string', 'date', 'bool', 'any', ('enum', frozenset), ('list', name), ('item', name),
#        ('object', mapping name -> type)
TypeTag = Any
_SCALAR_KINDS = {"number", "string", "date", "bool", "any"}


def _kind(t: TypeTag) -> str:
    if isinstance(t, tuple):
        return "string" if t[0] == "enum" else t[0]
    return t


@dataclass
class TypeEnv:
    """What names exist and their types, for the static check.

    ``fields`` is the record's type tree (see :func:`trialdesk.domain.screening.record_types`), ``lists`` the
    element type trees of list fields (``list name -> {field -> type}``).
    """

    fields: Mapping[str, TypeTag]
    lists: Mapping[str, Mapping[str, TypeTag]]
    derived: Mapping[str, Node] = field(default_factory=dict)
    item_derived: Mapping[str, Mapping[str, Node]] = field(default_factory=dict)
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


def check(node: Node, tenv: TypeEnv, bound: Mapping[str, TypeTag] | None = None) -> TypeTag:
    """Statically check ``node``: names exist, operand types agree, string literals belong to enums.

    Returns the inferred type; raises :class:`ExprNameError` or :class:`ExprTypeError`.
    """
    bound = bound or {}
    return _check(node, tenv, bound)


def _resolve_type(node: Name, tenv: TypeEnv, bound: Mapping[str, TypeTag]) -> TypeTag:
    head, rest = node.path[0], node.path[1:]
    if head in bound:
        t = bound[head]
    elif head in tenv.derived:
        t = tenv.derived_type(head)
    elif head in tenv.constants:
        t = tenv.constants[head]
    elif head in tenv.fields:
        t = tenv.fields[head]
    else:
        raise ExprNameError(f"unknown name {node.dotted!r}")
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
    if _is_num(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _dt.date):
        return "date"
    return "any"  # pragma: no cover


def _compatible(a: TypeTag, b: TypeTag, node: Node) -> None:
    ka, kb = _kind(a), _kind(b)
    if "any" in (ka, kb):
        return
    if ka != kb:
        raise ExprTypeError(f"cannot compare {ka} with {kb} in {node.text!r}")


def _enum_literal(t: TypeTag, lit: Node, node: Node) -> None:
    if isinstance(t, tuple) and t[0] == "enum" and isinstance(lit, Literal) and isinstance(lit.value, str):
        if lit.value not in t[1]:
            raise ExprTypeError(
                f"{lit.value!r} is not a possible value in {node.text!r} (one of: {', '.join(sorted(t[1]))})"
            )


def _check(node: Node, tenv: TypeEnv, bound: Mapping[str, TypeTag]) -> TypeTag:  # noqa: C901
    if isinstance(node, Literal):
        return _literal_type(node.value)
    if isinstance(node, Name):
        t = _resolve_type(node, tenv, bound)
        if isinstance(t, tuple) and t[0] in ("object",):
            raise ExprTypeError(f"{node.dotted!r} is a group of fields, not a value")
        return t
    if isinstance(node, Logical):
        for side in (node.left, node.right):
            k = _kind(_check(side, tenv, bound))
            if k not in ("bool", "any"):
                raise ExprTypeError(f"'{node.op}' needs true/false operands, got {k} in {node.text!r}")
        return "bool"
    if isinstance(node, Unary):
        k = _kind(_check(node.operand, tenv, bound))
        want = "bool" if node.op == "not" else "number"
        if k not in (want, "any"):
            raise ExprTypeError(f"'{node.op}' needs a {want} operand, got {k} in {node.text!r}")
        return want
    if isinstance(node, Binary):
        lt = _check(node.left, tenv, bound)
        if node.op in ("in", "notin"):
            if not isinstance(node.right, ListLit):
                raise ExprTypeError(f"'in' needs a [list] on its right in {node.text!r}")
            for it in node.right.items:
                _compatible(lt, _check(it, tenv, bound), node)
                _enum_literal(lt, it, node)
            return "bool"
        rt = _check(node.right, tenv, bound)
        if node.op in COMPARISONS:
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
    if isinstance(node, IfExpr):
        k = _kind(_check(node.cond, tenv, bound))
        if k not in ("bool", "any"):
            raise ExprTypeError(f"'if' needs a true/false condition in {node.text!r}")
        a = _check(node.then, tenv, bound)
        b = _check(node.else_, tenv, bound)
        _compatible(a, b, node)
        return a if _kind(a) != "any" else b
    if isinstance(node, ListLit):
        for it in node.items:
            _check(it, tenv, bound)
        return "any"
    if isinstance(node, Call):
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
    if isinstance(node, Comprehension):
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


Resolver = Callable[[tuple[str, ...]], Any]
