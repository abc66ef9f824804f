"""Calendar arithmetic of the rule language (scalar; the vectorized twins live in
:mod:`trialdesk.domain.expr.vectorized` and a property test holds them equal)."""

from __future__ import annotations

import datetime as _dt

__all__ = ["add_months", "days_between", "months_between", "years_between"]


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
