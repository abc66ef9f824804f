"""Lan-DeMets boundaries against rpact::getDesignGroupSequential (rpact 3.3.4; R code in comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trialdesk.stats.group_sequential import alpha_spent, boundary_probabilities, drift_for_power, efficacy_bounds


def test_obrien_fleming_one_interim():
    # getDesignGroupSequential(kMax = 2, informationRates = c(0.6, 1), typeOfDesign = "asOF", alpha = 0.025)
    #   $criticalValues 2.668630143 1.980965026
    assert efficacy_bounds([0.6, 1], 0.025) == pytest.approx([2.668630143, 1.980965026], abs=1e-7)


def test_obrien_fleming_three_looks():
    # getDesignGroupSequential(kMax = 3, informationRates = c(0.4, 0.7, 1), typeOfDesign = "asOF", alpha = 0.025)
    assert efficacy_bounds([0.4, 0.7, 1], 0.025) == pytest.approx([3.356869356, 2.444542281, 2.000539072], abs=1e-7)


def test_pocock_three_looks():
    # getDesignGroupSequential(kMax = 3, informationRates = c(0.33, 0.67, 1), typeOfDesign = "asP", alpha = 0.025)
    bounds = efficacy_bounds([0.33, 0.67, 1], 0.025, "pocock")
    assert bounds == pytest.approx([2.282510789, 2.291232176, 2.297092102], abs=1e-7)


def test_futility_binding_and_non_binding():
    # futilityBounds = 0: bindingFutility = FALSE keeps 2.668630143 1.980965026; TRUE gives 2.668630143 1.979577772
    assert efficacy_bounds([0.6, 1], 0.025, futility=[0.0]) == pytest.approx([2.668630143, 1.980965026], abs=1e-7)
    binding = efficacy_bounds([0.6, 1], 0.025, futility=[0.0], binding=True)
    assert binding == pytest.approx([2.668630143, 1.979577772], abs=1e-7)


def test_first_bound_is_the_normal_quantile_of_the_spent_alpha():
    # By hand: OBF spending at t = 0.5 spends 2 - 2 Phi(2.241403 / sqrt(0.5)) = 2 Phi(-3.169822) = 0.0015258
    spent = float(alpha_spent(0.5, 0.025, "obrien_fleming"))
    assert spent == pytest.approx(2 * stats.norm.sf(stats.norm.isf(0.0125) / math.sqrt(0.5)), rel=1e-12)
    assert efficacy_bounds([0.5, 1], 0.025)[0] == pytest.approx(stats.norm.isf(spent), abs=1e-9)
    # Pocock spending: alpha * log(1 + (e - 1) t)
    assert float(alpha_spent(0.5, 0.025, "pocock")) == pytest.approx(0.025 * math.log(1 + (math.e - 1) * 0.5))


def test_single_look_is_the_fixed_design():
    assert efficacy_bounds([1.0], 0.025)[0] == pytest.approx(1.959963985, abs=1e-9)


def test_crossing_probabilities_under_null_spend_alpha():
    t = [0.25, 0.5, 0.75, 1.0]
    bounds = efficacy_bounds(t, 0.025)
    upper, _ = boundary_probabilities(t, bounds)
    cumulative = np.cumsum(upper)
    assert cumulative == pytest.approx(alpha_spent(np.array(t), 0.025, "obrien_fleming"), abs=1e-8)


def test_drift_for_power_fixed_design_by_hand():
    # one look: theta = z_{0.975} + z_{0.9} = 1.959964 + 1.281552 = 3.241516
    assert drift_for_power([1.0], [1.959963985], 0.9) == pytest.approx(3.241516, abs=1e-6)


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="information_fractions"):
        efficacy_bounds([0.7, 0.5, 1.0], 0.025)
    with pytest.raises(ValueError, match="spending"):
        alpha_spent(0.5, 0.025, "haybittle")  # type: ignore[arg-type]
