"""Scheme simulation against closed-form references (binomial, Blackwell–Hodges) and the live minimization."""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from trialdesk.domain.minimization import minimization_assign
from trialdesk.domain.randomization import Arm, RandomizationSpec, StratificationFactor
from trialdesk.entrypoints.cli.randomization_sim import randomization_sim_app
from trialdesk.stats.randomization_sim import (
    SimulatedCohort,
    allocate,
    convergence_predictability,
    draw_cohort,
    simulate_scheme,
)

HR = StratificationFactor(
    name="hr_status", levels=("positive", "negative"), derive="hr_status", prevalence={"positive": 0.5, "negative": 0.5}
)
VISC = StratificationFactor(
    name="visceral_metastases", levels=("yes", "no"), derive="visceral_metastases", prevalence={"yes": 0.75, "no": 0.25}
)


def _spec(block_sizes=(2, 4, 6), factors=(), ratios=(1, 1), **kw) -> RandomizationSpec:
    arms = tuple(Arm(id=f"arm_{i}", label=f"Arm {i}", ratio=r) for i, r in enumerate(ratios))
    return RandomizationSpec(arms=arms, block_sizes=block_sizes, factors=factors, **kw)


def _blackwell_hodges(m: int) -> float:
    """Expected correct convergence guesses in a 1:1 block of 2m (Blackwell & Hodges 1957):
    m + 2**(2m-1) / C(2m, m) - 1/2."""
    return m + 2 ** (2 * m - 1) / comb(2 * m, m) - 0.5


def test_blackwell_hodges_formula_matches_hand_enumeration():
    # Block of 4 (AABB in 6 orders): position 1 a tie (1/2); position 2 correct iff it differs from the first (2/3);
    # position 3: after AB/BA (prob 2/3) a tie (1/2), after AA/BB (1/3) certain -> 2/3; position 4 certain (1).
    assert _blackwell_hodges(2) == pytest.approx(0.5 + 2 / 3 + 2 / 3 + 1)
    assert _blackwell_hodges(1) == 1.5


def test_blocks_of_two_are_three_quarters_predictable_exactly():
    # each pair: the first guess is a tie (1/2), the second certain (1): 3/4 for every replicate, no noise
    result = simulate_scheme(_spec(block_sizes=(2,)), 200, 50, np.random.default_rng(1))
    assert result.predictability["stratum"]["mean"] == pytest.approx(0.75, abs=1e-12)
    assert result.predictability["stratum"]["max"] == pytest.approx(0.75, abs=1e-12)
    assert result.imbalance_total["max"] == 0.0


@pytest.mark.parametrize("sizes", [(4,), (6,), (2, 4, 6)])
def test_permuted_block_predictability_matches_blackwell_hodges(sizes):
    # block sizes drawn uniformly: the share of subjects in blocks of size b is b / sum(sizes), so the expected share
    # of correct guesses is sum_b E_b / sum_b b
    expected = sum(_blackwell_hodges(b // 2) for b in sizes) / sum(sizes)
    result = simulate_scheme(_spec(block_sizes=sizes), 600, 400, np.random.default_rng(2))
    got = result.predictability["stratum"]["mean"]
    se = result.predictability["stratum"]["sd"] / np.sqrt(400)
    assert abs(got - expected) < 4 * se + 0.002  # 0.002: the last, partial block of each replicate


def test_simple_randomization_imbalance_is_binomial():
    # |n_A - n_B| = |2K - n| with K ~ Binomial(n, 1/2); E|2K - n| computed from the pmf
    n, reps = 642, 4000
    k = np.arange(n + 1)
    expected = float(np.sum(np.abs(2 * k - n) * stats.binom.pmf(k, n, 0.5)))
    assert expected == pytest.approx(np.sqrt(2 * n / np.pi), rel=0.01)  # normal approximation, sanity
    result = simulate_scheme(_spec(factors=(HR,)), n, reps, np.random.default_rng(3), scheme="simple")
    se = result.imbalance_total["sd"] / np.sqrt(reps)
    assert abs(result.imbalance_total["mean"] - expected) < 4 * se
    for unit in ("overall", "stratum", "site"):  # nothing to learn from history under simple randomization
        p = result.predictability[unit]
        assert abs(p["mean"] - 0.5) < 4 * p["sd"] / np.sqrt(reps) + 1e-9


def test_stratified_blocks_bound_the_imbalance():
    # a stratum is balanced after each complete block; the open block of size <= 6 is off by at most 6/2 = 3,
    # so every stratum is within 3 and the total within 4 strata x 3 = 12
    spec = _spec(factors=(HR, VISC))
    result = simulate_scheme(spec, 642, 300, np.random.default_rng(4), scheme="blocks")
    assert result.strata == 4
    assert result.imbalance_within_strata_max["max"] <= 3
    assert result.imbalance_total["max"] <= 12
    assert result.imbalance_within_strata_sum["max"] <= 12


def test_blocks_with_unequal_ratio_and_site_strata():
    spec = _spec(block_sizes=(3, 6), factors=(HR,), ratios=(2, 1), site_as_factor=True)
    rng = np.random.default_rng(5)
    cohort = draw_cohort(spec, 300, 100, rng, n_sites=10)
    arms = allocate(spec, cohort, rng)
    # within each (replicate, HR level, site) stratum, n_0/2 - n_1/1 lies in [-3, 3] (an open block of 6 at worst)
    for r in range(0, 100, 7):
        for level in (0, 1):
            for site in range(10):
                mask = (cohort.levels[r, :, 0] == level) & (cohort.sites[r] == site)
                n0, n1 = (arms[r, mask] == 0).sum(), (arms[r, mask] == 1).sum()
                assert abs(n0 / 2 - n1) <= 3
    assert (arms == 0).mean() == pytest.approx(2 / 3, abs=0.01)


def test_minimization_simulation_equals_live_minimization():
    """The vectorized simulation makes the same choices as minimization_assign fed the same uniforms."""
    spec = _spec(
        factors=(HR, VISC),
        scheme="minimization",
        site_as_factor=True,
        minimization={"p_best": 0.8, "imbalance": "range", "site_weight": 0.5},
    )
    reps, n = 3, 60
    cohort = draw_cohort(spec, n, reps, np.random.default_rng(6), n_sites=4)
    arms = allocate(spec, cohort, np.random.default_rng(7))
    uniforms = np.random.default_rng(7).random((reps, n))  # what allocate drew
    for r in range(reps):
        counts: dict = {}
        for t in range(n):
            levels = {
                "hr_status": HR.levels[cohort.levels[r, t, 0]],
                "visceral_metastases": VISC.levels[cohort.levels[r, t, 1]],
                "site": f"s{cohort.sites[r, t]}",
            }

            class One:
                def random(self, u=uniforms[r, t]):
                    return u

            decision = minimization_assign(spec, counts, levels, One())
            assert spec.arm_index(decision.arm) == arms[r, t], (r, t)
            for name, level in levels.items():
                by_arm = counts.setdefault(name, {}).setdefault(level, {})
                by_arm[decision.arm] = by_arm.get(decision.arm, 0) + 1


def test_deterministic_minimization_keeps_every_level_within_one():
    # p = 1, one factor: the arm that balances the subject's level is always taken, so |n_A - n_B| <= 1 per level
    spec = _spec(factors=(HR,), scheme="minimization", minimization={"p_best": 1.0})
    result = simulate_scheme(spec, 201, 50, np.random.default_rng(8))
    assert result.imbalance_factor_levels_max["hr_status"]["max"] <= 1
    assert result.imbalance_total["max"] <= 2


def test_convergence_predictability_by_hand():
    # one replicate, one unit: arms A A B B A -> counts before each: (0,0) tie 1/2; (1,0) guess B, wrong 0;
    # (2,0) guess B, right 1; (2,1) guess B, right 1; (2,2) tie 1/2 -> (0.5 + 0 + 1 + 1 + 0.5) / 5 = 0.6
    arms = np.array([[0, 0, 1, 1, 0]])
    assert convergence_predictability(arms, np.zeros_like(arms), np.array([1, 1])).tolist() == [0.6]
    # two units interleaved: unit 0 gets A, B ; unit 1 gets B, B -> (1/2 + 1 + 1/2 + 0) / 4 = 0.5
    arms = np.array([[0, 1, 1, 1]])
    units = np.array([[0, 1, 0, 1]])
    assert convergence_predictability(arms, units, np.array([1, 1])).tolist() == [0.5]


def test_same_seed_same_summary_and_bad_scheme():
    spec = _spec(factors=(HR,))
    a = simulate_scheme(spec, 100, 20, np.random.default_rng(9)).to_dict()
    b = simulate_scheme(spec, 100, 20, np.random.default_rng(9)).to_dict()
    assert a == b
    cohort = SimulatedCohort(levels=np.zeros((1, 2, 1), dtype=int), sites=np.zeros((1, 2), dtype=int), n_sites=1)
    from trialdesk.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="scheme"):
        allocate(spec, cohort, np.random.default_rng(0), "urn")
    with pytest.raises(InvalidInput, match="reps"):
        draw_cohort(spec, 10, 0, np.random.default_rng(0))


def test_cli_simulate_json_and_errors():
    runner = CliRunner()
    result = runner.invoke(randomization_sim_app, ["simulate", "--subjects", "120", "--reps", "30", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["scheme"] == "blocks" and data["subjects"] == 120 and data["reps"] == 30
    assert data["sites"] == 25 and data["strata"] == 8 and data["arms"] == ["tqb2102", "thp"]
    assert set(data["predictability"]) == {"overall", "stratum", "site"}
    assert set(data["imbalance_factor_levels_max"]) == {"hr_status", "disease_setting", "visceral_metastases"}
    all_three = runner.invoke(randomization_sim_app, ["simulate", "--reps", "5", "--scheme", "all", "--json"])
    assert [d["scheme"] for d in json.loads(all_three.output)] == ["blocks", "minimization", "simple"]
    table = runner.invoke(randomization_sim_app, ["simulate", "--reps", "5", "--scheme", "minimization"])
    assert table.exit_code == 0 and "correct guesses" in table.output
    bad = runner.invoke(randomization_sim_app, ["simulate", "--scheme", "urn"])
    assert bad.exit_code == 2 and "--scheme" in bad.output
    bad_reps = runner.invoke(randomization_sim_app, ["simulate", "--reps", "1"])
    assert bad_reps.exit_code == 2 and "--reps" in bad_reps.output
