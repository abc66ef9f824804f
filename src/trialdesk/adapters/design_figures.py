"""Figures for the statistician's page: power against hazard ratio, distribution of the analysis time.

Both return a ``matplotlib.figure.Figure`` built without pyplot's global state (safe in a web worker); save it
with ``fig.savefig(buffer, format="png" | "svg")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from trialdesk.adapters.figures import Text, english
from trialdesk.domain.design import DesignSpec
from trialdesk.stats.design import group_sequential_power
from trialdesk.stats.simulation_results import SimulationResult


def power_curve_figure(
    design: DesignSpec,
    hazard_ratios: Sequence[float] | None = None,
    simulated: Mapping[float, SimulationResult] | None = None,
    text: Text = english,
) -> Figure:
    """Closed-form group-sequential power against HR, with simulated points (95% Monte Carlo intervals)."""
    hrs = np.asarray(hazard_ratios if hazard_ratios is not None else np.linspace(0.5, 1.0, 51), dtype=float)
    power = []
    for hr in hrs:
        if hr == 1.0:
            power.append(design.alpha)
            continue
        power.append(float(group_sequential_power(design, hazard_ratio=float(hr))[0].sum()))
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(hrs, power, label=text("closed form, %(n)s events", n=design.target_events))
    if simulated:
        xs = sorted(simulated)
        ys = [simulated[x].rejection_probability.value for x in xs]
        es = [1.96 * simulated[x].rejection_probability.mc_se for x in xs]
        ax.errorbar(xs, ys, yerr=es, fmt="o", capsize=3, label=text("simulation (95% MC interval)"))
    ax.axhline(design.power, color="grey", linestyle=":", linewidth=1)
    ax.axhline(design.alpha, color="grey", linestyle=":", linewidth=1)
    if design.planning_hazard_ratio is not None:
        ax.axvline(design.planning_hazard_ratio, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel(text("hazard ratio (experimental : control)"))
    ax.set_ylabel(text("probability of rejecting H0"))
    ax.set_ylim(0, 1)
    ax.set_title(text("Power against hazard ratio"))
    ax.legend(loc="upper right")
    return fig


def analysis_time_figure(
    result: SimulationResult, expected_months: Sequence[float] | None = None, text: Text = english
) -> Figure:
    """Histogram of the month of the deciding analysis, with the closed-form expected months of the looks."""
    hist = result.analysis_time_histogram
    edges = np.asarray(hist["edges"])
    counts = np.asarray(hist["counts"])
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.stairs(counts / max(counts.sum(), 1), edges, fill=True, alpha=0.6, label=text("simulated trials"))
    for i, month in enumerate(expected_months or []):
        ax.axvline(
            month, color="black", linestyle="--", linewidth=1, label=text("expected (closed form)") if i == 0 else None
        )
    ax.set_xlabel(text("months from first randomization to the deciding analysis"))
    ax.set_ylabel(text("fraction of trials"))
    hr = f"HR {result.hazard_ratio:.3g}, " if result.hazard_ratio is not None else ""
    ax.set_title(text("Analysis time (%(hr)s%(n)s trials)", hr=hr, n=result.n_trials))
    ax.legend(loc="upper left")
    return fig
