"""A small, safe expression language for eligibility rules.

The protocol file writes each machine rule as an expression; this package tokenizes and parses it into an
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

The package, one module per stage: :mod:`~trialdesk.domain.expr.parser` (tokenizer and parser),
:mod:`~trialdesk.domain.expr.nodes` (the AST), :mod:`~trialdesk.domain.expr.evaluator` (scalar, three-valued),
:mod:`~trialdesk.domain.expr.typecheck` (static check), :mod:`~trialdesk.domain.expr.dates` (calendar
functions) and :mod:`~trialdesk.domain.expr.vectorized` (the same AST over numpy columns, imported on demand
so that the scalar path does not load numpy).
"""

from __future__ import annotations

from trialdesk.domain.expr.dates import add_months, days_between, months_between, years_between
from trialdesk.domain.expr.evaluator import Item, Resolver, Scope, evaluate
from trialdesk.domain.expr.nodes import (
    AGGREGATES,
    COMPARISONS,
    FUNCTIONS,
    REDUCERS,
    Binary,
    Call,
    Comprehension,
    IfExpr,
    ListLit,
    Literal,
    Logical,
    Name,
    Node,
    Unary,
    names_in,
    walk,
)
from trialdesk.domain.expr.parser import KEYWORDS, Token, parse, tokenize
from trialdesk.domain.expr.typecheck import TypeEnv, TypeTag, check
from trialdesk.domain.expr.values import UNKNOWN, ExprError, ExprNameError, ExprSyntaxError, ExprTypeError, Unknown

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
    "COMPARISONS",
    "KEYWORDS",
    "Item",
    "Resolver",
    "Token",
    "TypeEnv",
    "TypeTag",
    "check",
    "tokenize",
    "walk",
]
