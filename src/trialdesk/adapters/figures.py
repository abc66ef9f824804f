"""Publication figures with matplotlib (Agg, no pyplot state): Kaplan–Meier curves with an at-risk table, forest plot.

Figures are returned as :class:`matplotlib.figure.Figure`; save them with ``fig.savefig("km.png")`` (or .svg/.pdf).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from trialdesk.domain.errors import InvalidInput
from trialdesk.stats.survival import KaplanMeierFitter

__all__ = ["km_plot", "forest_plot", "at_risk_shown", "enrollment_figure", "english", "cjk_font", "figure_fonts"]

#: How a figure's words are written: ``text(msgid, **values)``. The web layer passes its gettext for the page's
#: language; the default writes the English msgid (``%(name)s`` placeholders filled).
Text = Callable[..., str]


def english(message: str, **values: Any) -> str:
    return message % values if values else message


#: fonts with the CJK glyphs of Chinese labels, in order of preference (whichever the system has)
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)


@cache
def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or None (then figures keep English words)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@contextmanager
def figure_fonts(cjk: bool) -> Iterator[None]:
    """Build and save figures inside this block: with ``cjk``, DejaVu Sans falls back to the CJK font for the glyphs
    it lacks (the SVG draws glyphs as paths, so the browser needs no such font). The fallback is set once for the
    process, not per block (matplotlib's rcParams are global, and web requests draw in several threads); DejaVu Sans
    stays first, so figures without Chinese words look as before."""
    from matplotlib import rcParams

    font = cjk_font() if cjk else None
    if font is not None and font not in rcParams["font.family"]:
        rcParams["font.family"] = ["DejaVu Sans", font]
    yield


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def km_plot(
    fits_by_arm: Mapping[Any, KaplanMeierFitter],
    *,
    risk_times: Sequence[float] | None = None,
    ci: bool = True,
    censor_marks: bool = True,
    title: str | None = None,
    xlabel: str = "Time",
    ylabel: str = "Survival probability",
    figsize: tuple[float, float] = (7.0, 5.5),
) -> Figure:
    """Kaplan–Meier curves, one per Arm, with a number-at-risk table under the axes.

    Parameters
    ----------
    fits_by_arm : mapping
        Arm label -> fitted :class:`KaplanMeierFitter` (e.g. from ``fit_km_by_group``).
    risk_times : sequence of float, optional
        Times of the at-risk columns; default the x-axis major ticks.
    ci : bool, default True
        Shade the pointwise confidence band of each curve.
    censor_marks : bool, default True
        Mark censoring times with "|".
    title, xlabel, ylabel : str
        Labels.
    figsize : tuple of float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The at-risk numbers are text artists with ``gid`` ``"at-risk:<arm>:<time>"`` (see :func:`at_risk_shown`).
    """
    if not fits_by_arm:
        raise InvalidInput("needs at least one fitted curve", field="fits_by_arm")
    for label, fit in fits_by_arm.items():
        if not hasattr(fit, "timeline_"):
            raise InvalidInput(f"curve {label!r} is not fitted", field="fits_by_arm")
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    n_arms = len(fits_by_arm)
    gs = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.45 + 0.3 * n_arms], hspace=0.35)
    ax = fig.add_subplot(gs[0])
    ax_risk = fig.add_subplot(gs[1], sharex=ax)
    t_max = max(float(f.timeline_[-1]) for f in fits_by_arm.values())
    for k, (label, fit) in enumerate(fits_by_arm.items()):
        color = _COLORS[k % len(_COLORS)]
        x = np.concatenate(([0.0], fit.timeline_))
        ax.step(x, np.concatenate(([1.0], fit.survival_)), where="post", color=color, label=str(label), lw=1.6)
        if ci:
            lo = np.concatenate(([1.0], fit.ci_lower_))
            hi = np.concatenate(([1.0], fit.ci_upper_))
            ax.fill_between(x, lo, hi, step="post", color=color, alpha=0.15, lw=0)
        if censor_marks:
            cens = fit.n_censor_ > 0
            ax.plot(fit.timeline_[cens], fit.survival_[cens], "|", color=color, ms=7, mew=1.2)
    ax.set_xlim(0.0, t_max * 1.02)
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", frameon=False)
    if title:
        ax.set_title(title)
    ticks = [float(t) for t in (risk_times if risk_times is not None else ax.get_xticks()) if 0 <= t <= t_max * 1.02]
    ax.set_xticks(ticks)
    ax.set_xlim(0.0, t_max * 1.02)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(xlabel)
    # at-risk table
    ax_risk.set_ylim(-0.5, n_arms - 0.5)
    ax_risk.set_yticks(range(n_arms))
    ax_risk.set_yticklabels([str(lab) for lab in reversed(list(fits_by_arm))])
    ax_risk.tick_params(axis="x", bottom=False, labelbottom=False)
    ax_risk.tick_params(axis="y", left=False, pad=18)
    for side in ("top", "right", "bottom", "left"):
        ax_risk.spines[side].set_visible(False)
    ax_risk.set_title("Number at risk", fontsize=9, loc="left")
    for k, (label, fit) in enumerate(fits_by_arm.items()):
        y = n_arms - 1 - k
        for t, n in zip(ticks, fit.n_at_risk_at(ticks)):
            ax_risk.text(t, y, str(int(n)), ha="center", va="center", fontsize=9, gid=f"at-risk:{label}:{t:g}")
    return fig


def at_risk_shown(fig: Figure) -> dict[str, dict[float, int]]:
    """The at-risk numbers drawn by :func:`km_plot`: ``{arm: {time: n}}`` (read back from the text artists)."""
    out: dict[str, dict[float, int]] = {}
    for ax in fig.axes:
        for text in ax.texts:
            gid = text.get_gid() or ""
            if gid.startswith("at-risk:"):
                arm, t = gid[len("at-risk:") :].rsplit(":", 1)
                out.setdefault(arm, {})[float(t)] = int(text.get_text())
    return out


def _row_value(row: Any, key: str, i: int) -> Any:
    if isinstance(row, Mapping):
        if key not in row:
            raise InvalidInput(f"is missing {key!r}", field=f"rows[{i}]")
        return row[key]
    if not hasattr(row, key):
        raise InvalidInput(f"is missing {key!r}", field=f"rows[{i}]")
    return getattr(row, key)


#: the forest plot's tick values, most wanted first (the no-effect line is added ahead of them)
_FOREST_TICKS = (1, 0.5, 2, 0.1, 10, 0.2, 5, 0.25, 4, 0.05, 20, 3, 1.5, 0.75)


def _spaced_ticks(lo: float, hi: float, axis_px: float, dpi: float, reference: float) -> list[float]:
    """The "nice" values within ``[lo, hi]`` on a log axis ``axis_px`` wide, most wanted first, each kept only when
    its label clears its kept neighbours' by 6 px (close values such as 0.2 and 0.25 collide on a narrow axis)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(size=rcParams["xtick.labelsize"])
    measure = TextToPath()

    def label_px(v: float) -> float:
        width, _, _ = measure.get_text_width_height_descent(f"{v:g}", font, ismath=False)
        return float(width) * dpi / 72.0

    def at(v: float) -> float:
        return float(np.log(v / lo) / np.log(hi / lo) * axis_px)

    kept: list[float] = []
    for v in (reference, *_FOREST_TICKS):
        clear = all(abs(at(v) - at(k)) >= (label_px(v) + label_px(k)) / 2 + 6.0 for k in kept)
        if lo <= v <= hi and v not in kept and clear:
            kept.append(v)
    return sorted(kept)


def forest_plot(
    rows: Sequence[Mapping[str, Any] | Any],
    *,
    title: str | None = None,
    xlabel: str = "Hazard ratio (95% CI)",
    reference: float = 1.0,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Forest plot of hazard ratios (e.g. by subgroup or Stratum), log-scale x axis.

    Parameters
    ----------
    rows : sequence
        Mappings or objects with ``label``, ``hr``, ``lo``, ``hi`` and ``n``; drawn top to bottom.
    title, xlabel : str
        Labels.
    reference : float, default 1.0
        Where the vertical no-effect line is drawn.
    figsize : tuple of float, optional
        Default grows with the number of rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise InvalidInput("needs at least one row", field="rows")
    parsed = []
    for i, row in enumerate(rows):
        label = str(_row_value(row, "label", i))
        vals = {}
        for key in ("hr", "lo", "hi"):
            v = _row_value(row, key, i)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise InvalidInput(f"must be a number; got {v!r}", field=f"rows[{i}].{key}") from None
            if not np.isfinite(v) or v <= 0:
                raise InvalidInput(f"must be a finite positive number; got {v!r}", field=f"rows[{i}].{key}")
            vals[key] = v
        if not vals["lo"] <= vals["hr"] <= vals["hi"]:
            raise InvalidInput(
                f"needs lo <= hr <= hi; got {vals['lo']}, {vals['hr']}, {vals['hi']}", field=f"rows[{i}]"
            )
        parsed.append((label, vals["hr"], vals["lo"], vals["hi"], _row_value(row, "n", i)))
    k = len(parsed)
    width, height = figsize or (7.5, 1.6 + 0.4 * k)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    bottom, top = 0.75 / height, 0.45 / height
    ax = fig.add_axes((0.28, bottom, 0.45, 1.0 - bottom - top))
    ys = np.arange(k)[::-1]
    for y, (_label, hr, lo, hi, n) in zip(ys, parsed):
        ax.plot([lo, hi], [y, y], color="black", lw=1.2)
        ax.plot([hr], [y], "s", color="black", ms=6)
        ax.text(1.02, y, f"{hr:.2f} ({lo:.2f}–{hi:.2f})", transform=ax.get_yaxis_transform(), va="center", fontsize=9)
        ax.text(1.45, y, str(n), transform=ax.get_yaxis_transform(), va="center", ha="right", fontsize=9)
    ax.axvline(reference, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels([p[0] for p in parsed])
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel(xlabel)
    ax.text(1.02, 1.0, "HR (95% CI)", transform=ax.transAxes, va="bottom", fontsize=9, weight="bold")
    ax.text(1.45, 1.0, "n", transform=ax.transAxes, va="bottom", ha="right", fontsize=9, weight="bold")
    lo_all = min(p[2] for p in parsed + [("", reference, reference, reference, 0)])
    hi_all = max(p[3] for p in parsed + [("", reference, reference, reference, 0)])
    ax.set_xlim(lo_all / 1.25, hi_all * 1.25)
    axis_px = width * 0.45 * fig.dpi
    ax.xaxis.set_major_locator(FixedLocator(_spaced_ticks(lo_all / 1.25, hi_all * 1.25, axis_px, fig.dpi, reference)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    if title:
        ax.set_title(title)
    return fig


def _date(number: float) -> dt.date:
    """Matplotlib's day number as a date."""
    moment: dt.datetime = num2date(number)  # type: ignore[no-untyped-call]  # num2date is unannotated
    return moment.date()


def _day(iso: str) -> float:
    """An ISO date as matplotlib's day number."""
    return float(date2num(dt.date.fromisoformat(iso)))  # type: ignore[no-untyped-call]  # date2num is unannotated


def enrollment_figure(
    data: dict[str, Any], text: Text = english, day: Callable[[dt.date], str] | None = None
) -> Figure:
    """The cumulative enrollment curve against the target, with the forecast interval.

    The forecast line starts at the shown scope's count on the dashboard's date; the x axis spans the data, the
    dashboard's date and the forecast, never beyond the forecast's horizon (an interval end past it is drawn to the
    horizon). ``text`` writes the words, ``day`` the dates on the x axis (matplotlib's own format without it)."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    months = [row["month"] for row in data["timeline"]]
    # Dates on the x axis as matplotlib's day numbers (date2num), shown as dates by xaxis_date().
    xs = [_day(m + "-01") for m in months]
    ys = [row["cumulative_randomized"] for row in data["timeline"]]
    today = _day(data["as_of"])
    if xs:  # the count holds until the dashboard's date
        xs, ys = [*xs, max(today, xs[-1])], [*ys, ys[-1]]
    ax.step(xs, ys, where="post", label=text("randomized"))
    ax.axhline(data["target"], color="grey", linestyle="--", linewidth=1, label=text("target %(n)s", n=data["target"]))
    fc = data.get("forecast") or {}
    horizon = _day(fc["horizon"]) if fc.get("horizon") else None
    right = today
    if fc.get("status") == "forecast" and fc.get("completion_median"):
        mid = _day(fc["completion_median"])
        start = (data.get("totals") or {}).get("randomized", ys[-1] if ys else 0)
        ax.plot([today, mid], [start, data["target"]], linestyle=":", label=text("forecast (median)"))
        low = _day(fc["completion_low"])
        high = _day(fc["completion_high"]) if fc.get("completion_high") else (horizon or mid)
        ax.axvspan(low, high, alpha=0.15, label=text("%(level)s interval", level=f"{int(fc['level'] * 100)}%"))
        right = max(right, mid, high)
    if horizon is not None:
        right = min(right, max(horizon, today))
    left = min([*xs, today])
    ax.set_xlim(left - 15, right + 15)
    ax.xaxis_date()
    if day is not None:  # the dates as the page writes them (``1 Jan 2026`` / ``2026年1月1日``)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: day(_date(x))))
    ax.set_ylabel(text("subjects"))
    ax.set_title(text("Enrollment"))
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig
