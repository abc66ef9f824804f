"""Figures render to PNG/SVG; the at-risk table shows the fitted numbers."""

from __future__ import annotations

import io

import numpy as np
import pytest

from trialdesk.adapters.figures import at_risk_shown, forest_plot, km_plot
from trialdesk.domain.errors import InvalidInput
from trialdesk.stats.survival import KaplanMeierFitter, fit_km_by_group

TIME = np.array([2, 3, 5, 8, 9, 12, 15, 1, 4, 4, 6, 7, 10, 11])
EVENT = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0])
ARM = np.array(["TQB2102"] * 7 + ["Control"] * 7)


@pytest.fixture(scope="module")
def fits():
    return fit_km_by_group(TIME, EVENT, ARM)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_km_plot_renders(fits, fmt):
    fig = km_plot(fits, title="Overall survival", xlabel="Months")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data[:2000]


def test_at_risk_table_shows_the_fitted_numbers(fits):
    fig = km_plot(fits, risk_times=[0, 5, 10])
    shown = at_risk_shown(fig)
    # hand count of follow-up >= t: TQB2102 times 2,3,5,8,9,12,15 -> 7, 5, 2; Control 1,4,4,6,7,10,11 -> 7, 4, 2
    assert shown == {"TQB2102": {0.0: 7, 5.0: 5, 10.0: 2}, "Control": {0.0: 7, 5.0: 4, 10.0: 2}}
    for arm, fit in fits.items():
        assert [shown[arm][t] for t in (0.0, 5.0, 10.0)] == fit.n_at_risk_at([0, 5, 10]).tolist()


def test_default_risk_times_are_the_axis_ticks(fits):
    fig = km_plot(fits)
    shown = at_risk_shown(fig)
    ticks = sorted(shown["Control"])
    assert ticks[0] == 0 and len(ticks) >= 3
    assert [shown["Control"][t] for t in ticks] == [int((TIME[ARM == "Control"] >= t).sum()) for t in ticks]


def test_km_plot_rejects_unfitted():
    with pytest.raises(InvalidInput, match="not fitted"):
        km_plot({"A": KaplanMeierFitter()})


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_forest_plot_renders(fmt):
    rows = [
        {"label": "All subjects", "hr": 0.62, "lo": 0.48, "hi": 0.80, "n": 642},
        {"label": "Visceral metastasis: yes", "hr": 0.58, "lo": 0.41, "hi": 0.82, "n": 380},
        {"label": "Visceral metastasis: no", "hr": 0.70, "lo": 0.47, "hi": 1.05, "n": 262},
    ]
    fig = forest_plot(rows, title="PFS by stratum")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    assert len(buf.getvalue()) > 1000
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0.62 (0.48–0.80)" in texts and "642" in texts


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"label": "x", "hr": 0.5, "lo": 0.6, "hi": 0.9, "n": 1}, "rows[0]"),
        ({"label": "x", "hr": -1, "lo": 0.6, "hi": 0.9, "n": 1}, "rows[0].hr"),
        ({"label": "x", "hr": 0.7, "lo": 0.6, "n": 1}, "rows[0]"),
    ],
)
def test_forest_plot_bad_rows(row, field):
    with pytest.raises(InvalidInput) as exc:
        forest_plot([row])
    assert exc.value.problems[0].path == field
