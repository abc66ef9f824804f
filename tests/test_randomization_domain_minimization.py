"""Pocock–Simon minimization against published worked examples and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.minimization import assignment_probabilities, choose_arm, imbalance_scores, minimization_assign
from trialdesk.domain.randomization import Arm, RandomizationSpec, StratificationFactor


class Replay:
    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def _spec(arms, factors, *, imbalance="range", p_best=0.8, site_as_factor=False, site_weight=1.0):
    total = sum(r for _, r in arms)
    return RandomizationSpec(
        scheme="minimization",
        arms=tuple(Arm(id=a, label=a, ratio=r) for a, r in arms),
        block_sizes=(total,),
        factors=tuple(factors),
        site_as_factor=site_as_factor,
        minimization={"imbalance": imbalance, "p_best": p_best, "site_weight": site_weight},
    )


def _factor(name, *levels, weight=1.0):
    return StratificationFactor(name=name, levels=levels, derive=name, weight=weight)


# ---------------------------------------------------------------------------------------------------------------
# Published worked examples
# ---------------------------------------------------------------------------------------------------------------

LIM_IN = _spec(
    [("control", 1), ("treatment", 1)],
    [_factor("sex", "male", "female"), _factor("age_band", "lt20", "20to64", "ge65")],
    site_as_factor=True,
)
# Lim C-Y, In J. Randomization in clinical studies. Korean J Anesthesiol 2019;72:221-232, Table 4:
# counts after 14 patients (control / treatment).
LIM_IN_COUNTS = {
    "site": {"site1": {"control": 4, "treatment": 2}, "site2": {"control": 3, "treatment": 5}},
    "sex": {"male": {"control": 4, "treatment": 4}, "female": {"control": 3, "treatment": 3}},
    "age_band": {
        "lt20": {"control": 2, "treatment": 2},
        "20to64": {"control": 2, "treatment": 2},
        "ge65": {"control": 3, "treatment": 3},
    },
}
# The 15th patient: female, 74 years (>= 65), site 2.
LIM_IN_PATIENT = {"sex": "female", "age_band": "ge65", "site": "site2"}


def test_lim_in_2019_table_4():
    # If control:   site2 4 vs 5 -> 1; female 4 vs 3 -> 1; >=65 4 vs 3 -> 1; total 1 + 1 + 1 = 3
    # If treatment: site2 3 vs 6 -> 3; female 3 vs 4 -> 1; >=65 3 vs 4 -> 1; total 3 + 1 + 1 = 5
    # The paper allocates the patient to control (3 < 5). With the biased coin p = 0.8: P(control) = 0.8.
    decision = minimization_assign(LIM_IN, LIM_IN_COUNTS, LIM_IN_PATIENT, Replay(0.79))
    assert decision.scores == {"control": 3.0, "treatment": 5.0}
    assert decision.probabilities == pytest.approx({"control": 0.8, "treatment": 0.2})
    assert decision.arm == "control"
    assert decision.u == 0.79
    # the remaining 20% of draws give the other arm: control when u < 0.8, treatment from 0.8 on
    assert minimization_assign(LIM_IN, LIM_IN_COUNTS, LIM_IN_PATIENT, Replay(0.8)).arm == "treatment"
    # with p = 1 (deterministic minimization, as in the paper) it is always control
    deterministic = LIM_IN.model_copy(update={"minimization": LIM_IN.minimization.model_copy(update={"p_best": 1})})
    assert minimization_assign(deterministic, LIM_IN_COUNTS, LIM_IN_PATIENT, Replay(0.9999)).arm == "control"


def test_scott_2002_example_three_level_factors():
    # Worked example adapted from Scott NW et al., Control Clin Trials 2002;23:662-674 (as tabulated in
    # PMC3503622, Table 3). Seventh patient: high baseline rate, moderate covariate rate.
    spec = _spec(
        [("intervention", 1), ("control", 1)],
        [_factor("baseline", "high", "moderate", "low"), _factor("covariate", "high", "moderate", "low")],
    )
    counts = {
        "baseline": {
            "high": {"intervention": 2, "control": 2},
            "moderate": {"intervention": 2, "control": 3},
            "low": {"intervention": 1, "control": 1},
        },
        "covariate": {
            "high": {"intervention": 2, "control": 3},
            "moderate": {"intervention": 3, "control": 1},
            "low": {"intervention": 1, "control": 1},
        },
    }
    # intervention: |(2+1) - 2| + |(3+1) - 1| = 1 + 3 = 4;  control: |2 - (2+1)| + |3 - (1+1)| = 1 + 1 = 2
    decision = minimization_assign(spec, counts, {"baseline": "high", "covariate": "moderate"}, Replay(0.5))
    assert decision.scores == {"intervention": 4.0, "control": 2.0}
    assert decision.arm == "control"


# ---------------------------------------------------------------------------------------------------------------
# Hand-computed cases: variance, weights, ratios, ties
# ---------------------------------------------------------------------------------------------------------------


def test_variance_imbalance_three_arms():
    # One factor; at the subject's level A=2, B=1, C=0. Candidate counts and population variance (mean 4/3):
    #   A -> (3,1,0): ((5/3)^2 + (1/3)^2 + (4/3)^2) / 3 = 42/27 = 14/9
    #   B -> (2,2,0): ((2/3)^2 + (2/3)^2 + (4/3)^2) / 3 = 24/27 = 8/9
    #   C -> (2,1,1): ((2/3)^2 + (1/3)^2 + (1/3)^2) / 3 =  6/27 = 2/9
    spec = _spec([("a", 1), ("b", 1), ("c", 1)], [_factor("f", "x", "y")], imbalance="variance")
    counts = {"f": {"x": {"a": 2, "b": 1}}}  # c missing -> 0
    decision = minimization_assign(spec, counts, {"f": "x"}, Replay(0.85))
    assert decision.scores == pytest.approx({"a": 14 / 9, "b": 8 / 9, "c": 2 / 9})
    # unique best C: 0.8; the two others (1 - 0.8) / 2 = 0.1 each, cumulative in arm order: a 0.1, b 0.2, c 1.0
    assert decision.probabilities == pytest.approx({"a": 0.1, "b": 0.1, "c": 0.8})
    assert decision.arm == "c"
    assert minimization_assign(spec, counts, {"f": "x"}, Replay(0.05)).arm == "a"
    assert minimization_assign(spec, counts, {"f": "x"}, Replay(0.15)).arm == "b"
    # the range measure gives 3, 2, 1
    ranged = _spec([("a", 1), ("b", 1), ("c", 1)], [_factor("f", "x", "y")])
    assert minimization_assign(ranged, counts, {"f": "x"}, Replay(0.5)).scores == {"a": 3, "b": 2, "c": 1}


@pytest.mark.parametrize(
    "w1, w2, scores, probs",
    [
        # f1 level: A=3, B=1; f2 level: A=0, B=1.
        # G_A = w1*|4-1| + w2*|1-1| = 3 w1;  G_B = w1*|3-2| + w2*|0-2| = w1 + 2 w2
        (1.0, 1.0, {"a": 3.0, "b": 3.0}, {"a": 0.5, "b": 0.5}),  # tie -> fair coin
        (2.0, 1.0, {"a": 6.0, "b": 4.0}, {"a": 0.2, "b": 0.8}),
        (1.0, 3.0, {"a": 3.0, "b": 7.0}, {"a": 0.8, "b": 0.2}),
    ],
)
def test_factor_weights(w1, w2, scores, probs):
    spec = _spec([("a", 1), ("b", 1)], [_factor("f1", "x", "y", weight=w1), _factor("f2", "x", "y", weight=w2)])
    counts = {"f1": {"x": {"a": 3, "b": 1}}, "f2": {"x": {"a": 0, "b": 1}}}
    decision = minimization_assign(spec, counts, {"f1": "x", "f2": "x"}, Replay(0.5))
    assert decision.scores == pytest.approx(scores)
    assert decision.probabilities == pytest.approx(probs)


def test_unequal_ratio_balances_ratio_scaled_counts():
    # 2:1, at the subject's level A=2, B=0. If A: (3, 0)/(2, 1) = (1.5, 0) -> 1.5; if B: (2, 1)/(2, 1) -> 0.
    spec = _spec([("a", 2), ("b", 1)], [_factor("f", "x", "y")])
    decision = minimization_assign(spec, {"f": {"x": {"a": 2}}}, {"f": "x"}, Replay(0.5))
    assert decision.scores == pytest.approx({"a": 1.5, "b": 0.0})
    assert decision.arm == "b"


def test_site_weight():
    # site weight 0.5 halves the site term of the Lim & In example: control 0.5 + 1 + 1 = 2.5, treatment 1.5 + 2 = 3.5
    spec = LIM_IN.model_copy(update={"minimization": LIM_IN.minimization.model_copy(update={"site_weight": 0.5})})
    decision = minimization_assign(spec, LIM_IN_COUNTS, LIM_IN_PATIENT, Replay(0.1))
    assert decision.scores == pytest.approx({"control": 2.5, "treatment": 3.5})


def test_first_subject_is_a_fair_draw():
    spec = _spec([("a", 1), ("b", 1)], [_factor("f", "x", "y")])
    decision = minimization_assign(spec, {}, {"f": "y"}, Replay(0.49))
    assert decision.probabilities == {"a": 0.5, "b": 0.5}
    assert decision.arm == "a"
    assert minimization_assign(spec, {}, {"f": "y"}, Replay(0.5)).arm == "b"


def test_partial_tie_among_three_arms():
    # G = (1, 1, 3): arms a and b tie for the minimum -> 1/2 each, c gets 0
    probs = assignment_probabilities(np.array([1.0, 1.0, 3.0]), 0.8)
    assert probs.tolist() == [0.5, 0.5, 0.0]
    assert choose_arm(probs, 0.99).item() == 1


def test_array_functions_accept_batches():
    counts = np.array([[[3, 1], [0, 1]], [[0, 0], [0, 0]]])  # two subjects, two factors, two arms
    scores = imbalance_scores(counts, np.array([1, 1]), np.array([2.0, 1.0]))
    # subject 1: as in test_factor_weights with w = (2, 1); subject 2: empty trial, each candidate 2*1 + 1*1 = 3
    assert scores.tolist() == [[6.0, 4.0], [3.0, 3.0]]
    probs = assignment_probabilities(scores, 0.8)
    np.testing.assert_allclose(probs, [[0.2, 0.8], [0.5, 0.5]])
    assert choose_arm(probs, np.array([0.1, 0.6])).tolist() == [0, 1]


def test_bad_input_names_the_field():
    with pytest.raises(InvalidInput, match="missing"):
        minimization_assign(LIM_IN, {}, {"sex": "female", "age_band": "ge65"}, Replay(0.1))
    with pytest.raises(InvalidInput, match="subject_levels.sex"):
        minimization_assign(LIM_IN, {}, {"sex": "other", "age_band": "ge65", "site": "s"}, Replay(0.1))
    with pytest.raises(InvalidInput, match="unexpected"):
        minimization_assign(LIM_IN, {}, {**LIM_IN_PATIENT, "bmi": "high"}, Replay(0.1))
    with pytest.raises(InvalidInput, match="counts.sex.female.control"):
        minimization_assign(LIM_IN, {"sex": {"female": {"control": -1}}}, LIM_IN_PATIENT, Replay(0.1))
    with pytest.raises(InvalidInput, match="unknown arms"):
        minimization_assign(LIM_IN, {"sex": {"female": {"placebo": 1}}}, LIM_IN_PATIENT, Replay(0.1))
    with pytest.raises(InvalidInput, match="imbalance"):
        imbalance_scores(np.zeros((1, 2)), np.ones(2), np.ones(1), "mad")


def test_counts_from_assignments_feeds_minimization():
    from trialdesk.domain.minimization import counts_from_assignments

    # rebuild the Lim & In 2019 Table 4 counts from 14 individual patients and get the same decision
    patients = []
    for site, sex, age, arm in [
        ("site1", "male", "lt20", "control"),
        ("site1", "male", "20to64", "control"),
        ("site1", "female", "ge65", "control"),
        ("site1", "male", "ge65", "control"),
        ("site2", "male", "lt20", "control"),
        ("site2", "female", "20to64", "control"),
        ("site2", "female", "ge65", "control"),
        ("site1", "male", "lt20", "treatment"),
        ("site1", "female", "ge65", "treatment"),
        ("site2", "male", "lt20", "treatment"),
        ("site2", "male", "20to64", "treatment"),
        ("site2", "male", "ge65", "treatment"),
        ("site2", "female", "20to64", "treatment"),
        ("site2", "female", "ge65", "treatment"),
    ]:
        patients.append(({"site": site, "sex": sex, "age_band": age}, arm))
    counts = counts_from_assignments(LIM_IN, patients)
    assert counts["site"]["site2"] == {"control": 3, "treatment": 5}
    assert counts["sex"]["female"] == {"control": 3, "treatment": 3}
    assert counts["age_band"]["ge65"] == {"control": 3, "treatment": 3}
    decision = minimization_assign(LIM_IN, counts, LIM_IN_PATIENT, Replay(0.5))
    assert decision.scores == {"control": 3.0, "treatment": 5.0}
    with pytest.raises(InvalidInput, match=r"assignments\[0\].arm"):
        counts_from_assignments(LIM_IN, [({"site": "s", "sex": "male", "age_band": "lt20"}, "placebo")])
    with pytest.raises(InvalidInput, match="missing"):
        counts_from_assignments(LIM_IN, [({"sex": "male", "age_band": "lt20"}, "control")])
