"""BSA formulas against hand computation (logarithms written out) and the published formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialdesk.domain.bsa import BsaFormula, body_surface_area


def test_mosteller_60kg_160cm_is_1_633():
    # Mosteller: sqrt(160 * 60 / 3600) = sqrt(9600 / 3600) = sqrt(2.666...) = 1.63299
    assert body_surface_area(60, 160) == pytest.approx(1.632993, abs=1e-6)
    assert body_surface_area(60, 160, "mosteller") == pytest.approx(1.632993, abs=1e-6)


def test_mosteller_perfect_square():
    # 3600 cm*kg / 3600 = 1 -> 1 m² exactly (e.g. 180 cm, 20 kg is outside clinical use but exact)
    assert body_surface_area(20, 180) == 1.0
    # 90 kg, 160 cm: 14400/3600 = 4 -> 2 m²
    assert body_surface_area(90, 160) == 2.0


# ln 60 = 4.094345, ln 160 = 5.075174
# DuBois:   ln BSA = ln 0.007184 (-4.935899) + 0.425*4.094345 (1.740096) + 0.725*5.075174 (3.679501) = 0.483699
#           -> 1.62206
# Haycock:  ln 0.024265 (-3.718720) + 0.5378*4.094345 (2.201939) + 0.3964*5.075174 (2.011799) = 0.495017 -> 1.64053
# Gehan–George: ln 0.0235 (-3.750755) + 0.51456*4.094345 (2.106786) + 0.42246*5.075174 (2.144058) = 0.500089
#           -> 1.64887
@pytest.mark.parametrize(
    ("formula", "expected"),
    [(BsaFormula.DUBOIS, 1.62206), (BsaFormula.HAYCOCK, 1.64053), (BsaFormula.GEHAN_GEORGE, 1.64887)],
)
def test_power_law_formulas_60kg_160cm(formula, expected):
    assert body_surface_area(60, 160, formula) == pytest.approx(expected, abs=2e-5)


def test_formulas_agree_within_two_percent_for_an_average_adult():
    # For 70 kg / 175 cm the four published formulas give 1.84–1.86 m² (they were fitted on adults).
    values = [body_surface_area(70, 175, f) for f in BsaFormula]
    assert max(values) / min(values) < 1.02
    assert all(1.84 < v < 1.86 for v in values)


def test_vectorized_matches_scalar():
    w = np.array([50.0, 60.0, 90.0])
    h = np.array([150.0, 160.0, 160.0])
    out = body_surface_area(w, h)
    assert isinstance(out, np.ndarray)
    # sqrt(150*50/3600) = sqrt(2.08333) = 1.443376
    np.testing.assert_allclose(out, [1.443376, 1.632993, 2.0], atol=1e-6)


@pytest.mark.parametrize(
    ("w", "h", "field"), [(0, 160, "weight_kg"), (60, -1, "height_cm"), (math.nan, 160, "weight_kg")]
)
def test_bad_measurements_name_the_field(w, h, field):
    with pytest.raises(ValueError, match=field):
        body_surface_area(w, h)


def test_unknown_formula():
    with pytest.raises(ValueError, match="unknown BSA formula"):
        body_surface_area(60, 160, "boyd")
