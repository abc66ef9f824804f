"""Tokenizer and hand-written recursive-descent parser (no ``eval``, no Python ``ast``).

The grammar is documented in :mod:`trialdesk.domain.expr`; each grammar rule is one method of :class:`_Parser`,
lowest precedence first, so the precedence table can be read off the method order.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trialdesk.domain.expr import nodes as ast_
from trialdesk.domain.expr.values import UNKNOWN, ExprNameError, ExprSyntaxError

__all__ = ["KEYWORDS", "MAX_NESTING", "MAX_RULE_CHARS", "MAX_TREE_DEPTH", "Token", "parse", "tokenize", "tree_depth"]


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

#: Bounds on a rule, so that no text can exhaust the recursion of the parser, the type checker or the evaluators
#: (90 nested parentheses used to), nor the memory (each node keeps its source slice): the longest rule of the
#: shipped protocol is about 600 characters and 6 levels deep.
MAX_RULE_CHARS = 4000
#: Brackets, parentheses, ``not``/``-`` prefixes and ``if`` nested inside one another.
MAX_NESTING = 32
#: Depth of the syntax tree, chains of ``and``/``or``/``+`` included (each operator adds a level).
MAX_TREE_DEPTH = 120


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


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    def nested(self, rule: Callable[[], ast_.Node]) -> ast_.Node:
        """Run ``rule`` one nesting level deeper; refuse beyond :data:`MAX_NESTING`."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise ExprSyntaxError(
                    f"nested deeper than {MAX_NESTING} levels at position {self.peek().pos}; simplify the rule"
                )
            return rule()
        finally:
            self.depth -= 1

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
    def parse(self) -> ast_.Node:
        node = self.expr()
        if not self.at("end"):
            t = self.peek()
            raise ExprSyntaxError(f"unexpected {t.value!r} at position {t.pos} in {self.text!r}")
        return node

    def expr(self) -> ast_.Node:
        return self.nested(self._expr)

    def _expr(self) -> ast_.Node:
        start = self.peek().pos
        if self.at("kw", "if"):
            self.take()
            cond = self.expr()
            self.expect("kw", "then")
            then = self.expr()
            self.expect("kw", "else")
            else_ = self.expr()
            return ast_.IfExpr(cond, then, else_, text=self.span(start))
        return self.or_()

    def _logical(self, keyword: str, operand: Callable[[], ast_.Node]) -> ast_.Node:
        """``operand (keyword operand)*`` for ``or`` and ``and``, both left-associative."""
        start = self.peek().pos
        left = operand()
        while self.at("kw", keyword):
            self.take()
            right = operand()
            left = ast_.Logical(keyword, left, right, text=self.span(start))
        return left

    def or_(self) -> ast_.Node:
        return self._logical("or", self.and_)

    def and_(self) -> ast_.Node:
        return self._logical("and", self.not_)

    def not_(self) -> ast_.Node:
        start = self.peek().pos
        if self.at("kw", "not"):
            self.take()
            operand = self.nested(self.not_)
            return ast_.Unary("not", operand, text=self.span(start))
        return self.cmp()

    def cmp(self) -> ast_.Node:
        start = self.peek().pos
        left = self.sum_()
        op: str
        if self.at("op") and self.peek().value in ast_.COMPARISONS:
            op = self.take().value
        elif self.at("kw", "in"):
            self.take()
            op = "in"
        elif self.at("kw", "not") and self.at("kw", "in", 1):
            self.take()
            self.take()
            op = "notin"
        else:
            return left
        right = self.sum_()
        return ast_.Binary(op, left, right, text=self.span(start))

    def _left_assoc(self, operators: tuple[str, ...], operand: Callable[[], ast_.Node]) -> ast_.Node:
        """``operand (op operand)*`` for left-associative binary operators of one precedence level."""
        start = self.peek().pos
        left = operand()
        while self.at("op") and self.peek().value in operators:
            op: str = self.take().value
            right = operand()
            left = ast_.Binary(op, left, right, text=self.span(start))
        return left

    def sum_(self) -> ast_.Node:
        return self._left_assoc(("+", "-"), self.product)

    def product(self) -> ast_.Node:
        return self._left_assoc(("*", "/"), self.unary)

    def unary(self) -> ast_.Node:
        start = self.peek().pos
        if self.at("op", "-"):
            self.take()
            operand = self.nested(self.unary)
            if (
                isinstance(operand, ast_.Literal)
                and isinstance(operand.value, (int, float))
                and not isinstance(operand.value, bool)
            ):
                return ast_.Literal(-operand.value, text=self.span(start))
            return ast_.Unary("-", operand, text=self.span(start))
        return self.primary()

    def name(self) -> ast_.Name:
        start = self.peek().pos
        parts = [self.expect("ident").value]
        while self.at("op", "."):
            self.take()
            parts.append(self.expect("ident").value)
        return ast_.Name(tuple(parts), text=self.span(start))

    def primary(self) -> ast_.Node:
        t = self.peek()
        start = t.pos
        if t.kind in ("number", "string", "date"):
            self.take()
            return ast_.Literal(t.value, text=self.span(start))
        if t.kind == "kw" and t.value in ("true", "false", "null"):
            self.take()
            val = {"true": True, "false": False, "null": UNKNOWN}[t.value]
            return ast_.Literal(val, text=t.value)
        if self.at("op", "("):
            self.take()
            node = self.expr()
            self.expect("op", ")")
            return node
        if self.at("op", "["):
            self.take()
            items: list[ast_.Node] = []
            if not self.at("op", "]"):
                items.append(self.expr())
                while self.at("op", ","):
                    self.take()
                    items.append(self.expr())
            self.expect("op", "]")
            return ast_.ListLit(tuple(items), text=self.span(start))
        if t.kind == "ident" and self.at("op", "(", 1):
            return self.call()
        if t.kind == "ident":
            return self.name()
        got = "end of expression" if t.kind == "end" else repr(t.value)
        raise ExprSyntaxError(f"unexpected {got} at position {t.pos} in {self.text!r}")

    def call(self) -> ast_.Node:
        start = self.peek().pos
        func = self.take().value
        self.expect("op", "(")
        if func in ast_.AGGREGATES:
            return self._comprehension(func, None, start)
        args: list[ast_.Node] = []
        if not self.at("op", ")"):
            args.append(self.expr())
            if func in ast_.REDUCERS and self.at("kw", "for"):
                self.take()
                return self._comprehension(func, args[0], start)
            while self.at("op", ","):
                self.take()
                args.append(self.expr())
        self.expect("op", ")")
        if func in ast_.REDUCERS and func == "sum":
            raise ExprSyntaxError(f"sum() needs the form sum(expr for x in list) in {self.text!r}")
        if func not in ast_.FUNCTIONS:
            allowed = sorted(set(ast_.FUNCTIONS) | ast_.AGGREGATES | ast_.REDUCERS)
            raise ExprNameError(f"unknown function {func!r} in {self.text!r} (allowed: {', '.join(allowed)})")
        lo, hi = ast_.FUNCTIONS[func]
        if not lo <= len(args) <= hi:
            raise ExprSyntaxError(f"{func}() takes {lo}..{hi} arguments, got {len(args)} in {self.text!r}")
        if func in ("lookup",) and not (isinstance(args[0], ast_.Literal) and isinstance(args[0].value, str)):
            raise ExprSyntaxError(f"lookup() needs a table name as a string literal in {self.text!r}")
        if func == "convert" and not all(isinstance(a, ast_.Literal) and isinstance(a.value, str) for a in args[1:]):
            raise ExprSyntaxError(f"convert() needs analyte and units as string literals in {self.text!r}")
        return ast_.Call(func, tuple(args), text=self.span(start))

    def _comprehension(self, func: str, body: ast_.Node | None, start: int) -> ast_.Node:
        """``IDENT 'in' name ('where' expr)? ')'``: the tail that aggregates and reducers share.

        Read after ``count(`` (``body`` None) or after ``sum(body for``, so both forms are one rule.
        """
        var = self.expect("ident").value
        self.expect("kw", "in")
        source = self.name()
        cond = None
        if self.at("kw", "where"):
            self.take()
            cond = self.expr()
        self.expect("op", ")")
        return ast_.Comprehension(func, var, source, cond, body, text=self.span(start))


def parse(text: str) -> ast_.Node:
    """Parse ``text`` into an AST; raises :class:`ExprSyntaxError` or :class:`ExprNameError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExprSyntaxError("empty expression")
    if len(text) > MAX_RULE_CHARS:
        raise ExprSyntaxError(f"expression of {len(text)} characters; at most {MAX_RULE_CHARS} are allowed")
    node = _Parser(text).parse()
    if tree_depth(node) > MAX_TREE_DEPTH:
        raise ExprSyntaxError(
            f"expression nested deeper than {MAX_TREE_DEPTH} levels (a chain of operators counts one level each); "
            "split it into derived values"
        )
    return node


def tree_depth(node: ast_.Node) -> int:
    """Depth of the tree under ``node``, without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast_.children(current))
    return deepest
