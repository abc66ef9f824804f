"""Issue 15's figure bugs, measured: the CONSORT diagram's labels stay inside their boxes (measured by Chromium's
text layout, not by the code's own width estimate), and the forest plot's x tick labels do not overlap (measured
by matplotlib's renderer)."""

from __future__ import annotations

import itertools

import pytest

from trialdesk.adapters.consort_svg import consort_svg
from trialdesk.adapters.figures import forest_plot

ARMS = {
    "tqb2102": "TQB2102 for Injection (trastuzumab rezetecan), 6.4 mg/kg every 3 weeks",
    "thp": "Docetaxel combined with Trastuzumab and Pertuzumab (THP), the standard of care",
}


def _counts() -> dict:
    arm = {
        "allocated": 321,
        "received": 318,
        "not_received": 3,
        "discontinued_treatment": 120,
        "discontinued_reasons": {"progressive disease per RECIST 1.1 (investigator)": 80, "adverse event": 40},
        "on_treatment": 198,
        "left_study": 12,
        "left_study_reasons": {"withdrawal of consent by the participant": 7, "lost to follow-up": 5},
        "analysed_itt": 321,
        "analysed_safety": 318,
    }
    return {
        "assessed": 1280,
        "excluded": 638,
        "excluded_reasons": {"did not meet the inclusion or exclusion criteria of the protocol": 600, "other": 38},
        "failed_criteria": {f"criterion_{i}_left_ventricular_ejection_fraction": 10 + i for i in range(6)},
        "randomized": 642,
        "arms": [dict(arm, arm="tqb2102"), dict(arm, arm="thp")],
    }


@pytest.mark.browser
def test_consort_labels_stay_inside_their_boxes_in_chromium():
    from browser_helpers import browser_page, require_chromium

    require_chromium()
    svg = consort_svg(_counts(), ARMS)
    with browser_page() as page:
        page.set_content(f"<!doctype html><html><body style='margin:0'>{svg}</body></html>")
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('svg g')].map(g => {
                const r = g.querySelector('rect').getBBox();
                return {id: g.id, rect: [r.x, r.y, r.x + r.width, r.y + r.height],
                        texts: [...g.querySelectorAll('text')].map(t => {
                            const b = t.getBBox();
                            return [t.textContent, b.x, b.y, b.x + b.width, b.y + b.height];
                        })};
            })"""
        )
    assert len(boxes) == 9  # assessed, excluded, randomized, then allocation, follow-up and analysis per arm
    outside = [
        (box["id"], text[0], round(text[3] - box["rect"][2], 1))
        for box in boxes
        for text in box["texts"]
        if text[1] < box["rect"][0] or text[3] > box["rect"][2] or text[2] < box["rect"][1] or text[4] > box["rect"][3]
    ]
    assert not outside, outside
    # nothing was lost in the wrapping: each arm's full name is still there, across its lines
    allocated = " ".join(" ".join(t[0].split()) for b in boxes if b["id"] == "consort-alloc1" for t in b["texts"])
    assert ARMS["thp"] in allocated and "(n=321)" in allocated


def test_consort_keeps_short_labels_on_one_line():
    import xml.etree.ElementTree as ET

    svg = consort_svg(_counts(), {"tqb2102": "TQB2102", "thp": "THP"})
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "Allocated to THP (n=321)" in texts and "Randomized (n=642)" in texts


def _tick_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
    shown = [t for t in labels if lo <= t.get_position()[0] <= hi]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in shown]


@pytest.mark.parametrize(
    "rows",
    [
        # a wide range: 0.05 .. 20 (every "nice" tick within it)
        [{"label": "All", "hr": 0.6, "lo": 0.06, "hi": 15.0, "n": 642}],
        # the usual subgroup spread around 1: 0.2, 0.25 and 1, 1.5 are close on a log axis
        [
            {"label": "De novo", "hr": 0.55, "lo": 0.22, "hi": 1.4, "n": 300},
            {"label": "Recurrent", "hr": 0.7, "lo": 0.3, "hi": 1.6, "n": 342},
        ],
    ],
    ids=["wide", "subgroups"],
)
@pytest.mark.parametrize("width", [7.5, 4.0])
def test_forest_plot_tick_labels_do_not_overlap(rows, width):
    fig = forest_plot(rows, figsize=(width, 1.6 + 0.4 * len(rows)))
    ticks = _tick_boxes(fig)
    assert len(ticks) >= 3, [t for t, _ in ticks]  # still a readable scale
    assert "1" in [t for t, _ in ticks]  # the no-effect line is labelled
    ticks.sort(key=lambda t: t[1].x0)
    gap = 4.0  # px between neighbouring labels at the figure's dpi
    for (a, ba), (b, bb) in itertools.pairwise(ticks):
        assert bb.x0 - ba.x1 >= gap, f"{a!r} and {b!r} overlap: {ba.x1:.1f} > {bb.x0:.1f} (width {width} in)"
