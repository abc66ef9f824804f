"""Unit conversions against textbook factors (hand computation in each test)."""

import numpy as np
import pytest

from trialdesk.domain.units import UnitError, canonical_unit, convert, convert_array


def test_hemoglobin_g_dl_to_g_l():
    # 1 g/dL = 1 g / 0.1 L = 10 g/L
    assert convert("hemoglobin", 12.1, "g/dL") == pytest.approx(121.0)
    assert convert("hemoglobin", 90, "g/L", "g/dL") == pytest.approx(9.0)


def test_bilirubin_mg_dl_to_umol_l():
    # bilirubin 584.66 g/mol: 1 mg/dL = 10 mg/L / 584.66 mg/mmol = 0.017104 mmol/L = 17.104 umol/L (textbook 17.1)
    assert convert("total_bilirubin", 1.0, "mg/dL") == pytest.approx(17.1, abs=0.01)
    assert convert("total_bilirubin", 34.2, "umol/L", "mg/dL") == pytest.approx(2.0, abs=0.002)


def test_creatinine_mg_dl_to_umol_l():
    # creatinine 113.12 g/mol: 1 mg/dL = 88.4 umol/L (textbook)
    assert convert("creatinine", 1.0, "mg/dL") == pytest.approx(88.4, abs=0.05)
    assert convert("creatinine", 88.4, "umol/L", "mg/dL") == pytest.approx(1.0, abs=0.001)


def test_cell_counts_per_microlitre():
    # 1500 cells/uL = 1500e6 cells/L = 1.5e9/L
    assert convert("anc", 1500, "/uL") == pytest.approx(1.5)
    assert convert("platelets", 100, "10^3/uL") == pytest.approx(100)
    assert convert("anc", 1.5, " x10^9/l ") == pytest.approx(1.5)  # spelling variants


def test_unknown_and_incompatible_units_are_errors():
    with pytest.raises(UnitError, match="unknown unit 'mmol/dL'"):
        convert("creatinine", 1.0, "mmol/dL")
    with pytest.raises(UnitError, match="does not measure anc"):
        convert("anc", 1.0, "mg/dL")
    with pytest.raises(UnitError, match="unknown analyte"):
        canonical_unit("troponin")


def test_convert_array_mixed_units_and_missing():
    values = np.array([1.0, 17.104, np.nan, 2.0])
    units = np.array(["mg/dL", "umol/L", None, "mg/dL"], dtype=object)
    out = convert_array("total_bilirubin", values, units)
    np.testing.assert_allclose(out, [17.104, 17.104, np.nan, 34.208], rtol=1e-3)
    with pytest.raises(UnitError, match="labs.x.unit"):
        convert_array(
            "total_bilirubin", values, np.array(["mg/dL", "furlong", None, "mg/dL"], dtype=object), field="labs.x.unit"
        )
    with pytest.raises(UnitError, match="without unit"):
        convert_array("anc", np.array([1.0]), np.array([None], dtype=object))
