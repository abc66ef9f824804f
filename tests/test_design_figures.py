"""Design figures render and show what they claim."""

from __future__ import annotations

import io

import pytest

from trialdesk.adapters.design_figures import analysis_time_figure, power_curve_figure
from trialdesk.domain.design import DesignSpec, ExponentialSurvival, UniformAccrual
from trialdesk.stats.simulate import simulate

DESIGN = DesignSpec(
    sample_size=300,
    accrual=UniformAccrual(duration=12),
    control=ExponentialSurvival(median=10),
    hazard_ratio=0.7,
    target_events=200,
)


def test_power_curve_passes_through_alpha_and_the_schoenfeld_power():
    sim = {0.7: simulate(DESIGN, 200, seed=1)}
    fig = power_curve_figure(DESIGN, [0.6, 0.7, 1.0], simulated=sim)
    line = fig.axes[0].lines[0]
    x, y = line.get_xdata(), line.get_ydata()
    # Schoenfeld by hand at HR 0.7, 200 events: Phi(sqrt(50) * 0.356675 - 1.959964) = Phi(0.562098) = 0.71297
    assert y[1] == pytest.approx(0.71297, abs=1e-4)
    assert y[2] == pytest.approx(0.025)
    assert list(x) == [0.6, 0.7, 1.0]
    fig.savefig(io.BytesIO(), format="png")


def test_analysis_time_histogram_sums_to_one():
    result = simulate(DESIGN, 200, seed=2)
    fig = analysis_time_figure(result, expected_months=[20.0])
    patch = fig.axes[0].patches[0]
    assert patch is not None
    assert sum(result.analysis_time_histogram["counts"]) == 200
    fig.savefig(io.BytesIO(), format="svg")
