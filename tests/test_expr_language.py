"""The rule expression language: parsing, three-valued logic, date arithmetic, static checks, safety."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialdesk.domain.expr import (
    UNKNOWN,
    ExprNameError,
    ExprSyntaxError,
    ExprTypeError,
    Logical,
    Scope,
    TypeEnv,
    add_months,
    check,
    evaluate,
    months_between,
    parse,
    years_between,
)

D = dt.date


def ev(text, **record):
    return evaluate(parse(text), Scope(record))


def test_precedence():
    node = parse("a or b and not c == 1")
    assert isinstance(node, Logical) and node.op == "or"
    assert isinstance(node.right, Logical) and node.right.op == "and"
    assert ev("1 + 2 * 3 - 4 / 2") == 5
    assert ev("-(2 - 5) * 2") == 6
    assert ev("if x > 1 then 'big' else 'small'", x=3) == "big"


# Kleene truth tables written out by hand: T, F, U
T, F, U = True, False, UNKNOWN
AND = {(T, T): T, (T, F): F, (T, U): U, (F, T): F, (F, F): F, (F, U): F, (U, T): U, (U, F): F, (U, U): U}
OR = {(T, T): T, (T, F): T, (T, U): T, (F, T): T, (F, F): F, (F, U): U, (U, T): T, (U, F): U, (U, U): U}


@pytest.mark.parametrize("a,b", list(AND))
def test_kleene_and_or(a, b):
    rec = {"a": None if a is U else a, "b": None if b is U else b}
    assert ev("a and b", **rec) is AND[(a, b)]
    assert ev("a or b", **rec) is OR[(a, b)]
    assert ev("not a", **rec) is (U if a is U else (not a))


def test_unknown_propagates_through_arithmetic_and_comparison():
    assert ev("x + 1 > 2", x=None) is UNKNOWN
    assert ev("x in [1, 2]", x=None) is UNKNOWN
    assert ev("known(x)", x=None) is False
    assert ev("coalesce(x, 7)", x=None) == 7
    assert ev("1 / x", x=0) is UNKNOWN


def test_comprehensions():
    rec = {
        "ts": [
            {"setting": "metastatic", "drug_class": "endocrine", "dose": 100},
            {"setting": "adjuvant", "drug_class": "chemotherapy", "dose": None},
            {"setting": "metastatic", "drug_class": "endocrine", "dose": 50},
        ]
    }
    assert ev("count(t in ts where t.setting == 'metastatic' and t.drug_class == 'endocrine')", **rec) == 2
    assert ev("any(t in ts where t.drug_class == 'chemotherapy')", **rec) is True
    assert ev("all(t in ts where t.setting == 'metastatic')", **rec) is False
    assert ev("sum(t.dose for t in ts where t.setting == 'metastatic')", **rec) == 150
    assert ev("max(t.dose for t in ts)", **rec) is UNKNOWN  # one dose missing
    assert ev("count(t in ts where t.dose > 60)", **rec) is UNKNOWN  # 100 > 60, None > 60 unknown
    assert ev("any(t in ts where t.dose > 60)", **rec) is True  # one true element decides
    assert ev("count(t in ts)", ts=[]) == 0
    assert ev("count(t in ts)", ts=None) is UNKNOWN


def test_years_between_is_age_in_completed_years():
    assert years_between(D(2008, 1, 10), D(2026, 1, 10)) == 18  # 18th birthday
    assert years_between(D(2008, 1, 11), D(2026, 1, 10)) == 17  # one day short
    assert years_between(D(2004, 2, 29), D(2022, 2, 28)) == 17  # leap-day birthday reached on 1 March
    assert years_between(D(2004, 2, 29), D(2022, 3, 1)) == 18


def test_months_between_calendar_months():
    assert months_between(D(2024, 3, 15), D(2025, 3, 15)) == 12.0
    # 15 Mar 2025 -> 15 Apr 2025 is 31 days, one of which has elapsed
    assert months_between(D(2024, 3, 15), D(2025, 3, 16)) == pytest.approx(12 + 1 / 31)
    assert months_between(D(2024, 1, 31), D(2024, 2, 29)) == 1.0  # clamped month end
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    assert months_between(D(2025, 3, 15), D(2024, 3, 15)) == -12.0


def test_syntax_errors_and_no_eval():
    for bad in ["__import__('os').system('x')", "a ==", "count(t ts)", "f(1)", "1 +* 2", "a; b", "'open"]:
        with pytest.raises((ExprSyntaxError, ExprNameError)):
            parse(bad)
    with pytest.raises(ExprNameError, match="unknown function 'open'"):
        parse("open('x')")


def test_static_check_names_types_and_enums():
    tenv = TypeEnv(
        fields={"age": "number", "sex": ("enum", frozenset({"female", "male"})), "d": "date", "ts": ("list", "ts")},
        lists={"ts": {"drug_class": ("enum", frozenset({"endocrine", "chemotherapy"}))}},
    )
    assert check(parse("age >= 18 and sex == 'female'"), tenv) == "bool"
    with pytest.raises(ExprNameError, match="agee"):
        check(parse("agee >= 18"), tenv)
    with pytest.raises(ExprTypeError, match="'femal' is not a possible value"):
        check(parse("sex == 'femal'"), tenv)
    with pytest.raises(ExprTypeError, match="cannot compare date with number"):
        check(parse("d > 3"), tenv)
    with pytest.raises(ExprTypeError, match="is not a possible value"):
        check(parse("count(t in ts where t.drug_class == 'hormonal') > 0"), tenv)
    with pytest.raises(ExprNameError, match="no field 'klass'"):
        check(parse("any(t in ts where t.klass == 'x')"), tenv)


dates = st.dates(min_value=D(1930, 1, 1), max_value=D(2060, 12, 31))


@settings(max_examples=300, deadline=None)
@given(a=dates, b=dates)
def test_vectorized_date_functions_match_scalar(a, b):
    from trialdesk.domain.cohort import _months_between, _years_between

    epoch = D(1970, 1, 1)
    da = np.array([(a - epoch).days], float)
    db = np.array([(b - epoch).days], float)
    assert _years_between(da, db)[0] == years_between(a, b)
    assert _months_between(da, db)[0] == pytest.approx(months_between(a, b), abs=1e-12)
