"""Binomial confidence intervals against R and against Newcombe (1998)."""

from __future__ import annotations

import math

import pytest
from numpy.testing import assert_allclose

from trialdesk.domain.errors import InvalidInput
from trialdesk.stats.binomial import clopper_pearson, diff_proportion_ci


@pytest.mark.parametrize(
    ("x", "n", "conf", "r_ci"),
    [
        # R: binom.test(x, n, conf.level = conf)$conf.int, options(digits = 15)
        (7, 20, 0.95, (0.153909204784541, 0.592188534532828)),
        (0, 10, 0.95, (0.0, 0.308497107818761)),
        (10, 10, 0.90, (0.741134449106948, 1.0)),
        (45, 321, 0.95, (0.104125493559339, 0.183049926371442)),
        (1, 642, 0.99, (7.80766706447036e-06, 1.15156249790349e-02)),
    ],
)
def test_clopper_pearson_matches_r_binom_test(x, n, conf, r_ci):
    ci = clopper_pearson(x, n, conf)
    assert_allclose([ci.lower, ci.upper], r_ci, rtol=1e-9, atol=1e-15)
    assert ci.estimate == x / n and ci.method == "clopper-pearson"


# Wilson score limits from R: prop.test(x, n, correct = FALSE)$conf.int
WILSON = {
    (56, 70): (0.691833555037469, 0.876952607516370),
    (48, 80): (0.490454650051604, 0.700381724041291),
    (9, 10): (0.595849973204762, 0.982123786904927),
    (3, 10): (0.107791267406301, 0.603221852538855),
    (0, 10): (0.0, 0.277532799862889),
    (0, 20): (0.0, 0.161125158052819),
}


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "published"),
    [
        # Newcombe RG, Stat Med 1998;17:873-890, Table II, method 10: (a) 0.0524 to 0.3339, (b) 0.1705 to 0.8090
        (56, 70, 48, 80, (0.0524, 0.3339)),
        (9, 10, 3, 10, (0.1705, 0.8090)),
        (0, 10, 0, 20, None),
    ],
)
def test_newcombe_hybrid_score(x1, n1, x2, n2, published):
    ci = diff_proportion_ci(x1, n1, x2, n2)
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = WILSON[(x1, n1)], WILSON[(x2, n2)]
    # Newcombe's method 10, written out
    lower = (p1 - p2) - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = (p1 - p2) + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    assert_allclose([ci.lower, ci.upper], [lower, upper], rtol=1e-9, atol=1e-12)
    assert_allclose(ci.estimate, p1 - p2)
    if published is not None:
        assert (round(ci.lower, 4), round(ci.upper, 4)) == published


@pytest.mark.parametrize(
    ("args", "field"), [((11, 10), "x"), ((-1, 10), "x"), ((1, 0), "n"), ((1.5, 10), "x"), ((1, 10, 1.5), "conf")]
)
def test_bad_counts_name_the_field(args, field):
    with pytest.raises(InvalidInput) as exc:
        clopper_pearson(*args)
    assert exc.value.problems[0].path == field


def test_bad_second_group_names_the_field():
    with pytest.raises(InvalidInput) as exc:
        diff_proportion_ci(1, 10, 5, 4)
    assert exc.value.problems[0].path == "x2"
