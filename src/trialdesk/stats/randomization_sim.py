"""Simulate a randomization scheme over many replicate trials, vectorized over replicates.

Each replicate enrols ``n_subjects`` subjects whose factor levels are drawn from the factors' ``prevalence`` and
whose sites are drawn from ``site_weights`` (uniform by default). Subjects are then allocated by the spec's scheme:

- ``simple``: independent draws, ``P(arm) = ratio / total``;
- ``blocks``: permuted blocks within strata (factors, and the site when ``site_as_factor``), block sizes drawn
  uniformly from ``block_sizes``. The simulation uses numpy draws, not the HMAC list: the *distribution* is the
  same as :func:`trialdesk.domain.randomization.generate_stratum_blocks`, the sequence is not;
- ``minimization``: Pocock–Simon, one subject at a time across all replicates at once, with the same scoring
  functions as the live allocation (:mod:`trialdesk.domain.minimization`).

Reported per scheme:

- *imbalance* of a set of subjects is ``max_j n_j / r_j - min_j n_j / r_j`` (``|n_A - n_B|`` for 1:1), at the
  end of enrolment: overall, within each stratum (max and sum over strata), within each site, and within each
  level of each factor (max over levels);
- *predictability* (Blackwell & Hodges, Biometrika 1957;44:160-166): an investigator who knows every earlier
  assignment in a unit (the whole trial, the subject's stratum, or the subject's site) guesses the arm with the
  fewest ratio-scaled assignments so far in that unit (the convergence strategy); a guess among ``m`` tied arms
  scores ``1/m``. The share of correct guesses is 1/A with no information to exploit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.minimization import assignment_probabilities, choose_arm, imbalance_scores
from trialdesk.domain.randomization import RandomizationSpec

__all__ = [
    "SimulatedCohort",
    "SchemeSimulation",
    "draw_cohort",
    "allocate",
    "imbalance",
    "convergence_predictability",
    "simulate_scheme",
]

_UNITS = ("overall", "stratum", "site")


@dataclass(frozen=True)
class SimulatedCohort:
    """Covariates of ``R`` replicate trials of ``n`` subjects each (subjects in enrolment order).

    Attributes
    ----------
    levels : numpy.ndarray
        ``(R, n, F)`` int: level index of each spec factor.
    sites : numpy.ndarray
        ``(R, n)`` int: site index in ``0 .. n_sites - 1``.
    n_sites : int
    """

    levels: np.ndarray
    sites: np.ndarray
    n_sites: int

    @property
    def reps(self) -> int:
        reps: int = self.sites.shape[0]
        return reps

    @property
    def n_subjects(self) -> int:
        n: int = self.sites.shape[1]
        return n


def draw_cohort(
    spec: RandomizationSpec,
    n_subjects: int,
    reps: int,
    rng: np.random.Generator,
    *,
    n_sites: int = 25,
    site_weights: np.ndarray | None = None,
) -> SimulatedCohort:
    """Draw factor levels from each factor's prevalence and sites from ``site_weights`` (uniform when ``None``)."""
    for name, value in (("n_subjects", n_subjects), ("reps", reps), ("n_sites", n_sites)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidInput(f"must be a positive integer, got {value!r}", field=name)
    if site_weights is not None:
        site_weights = np.asarray(site_weights, dtype=float)
        if site_weights.shape != (n_sites,) or (site_weights < 0).any() or site_weights.sum() <= 0:
            raise InvalidInput(f"must be {n_sites} non-negative weights with a positive sum", field="site_weights")
        site_weights = site_weights / site_weights.sum()
    levels = np.empty((reps, n_subjects, len(spec.factors)), dtype=np.int64)
    for i, factor in enumerate(spec.factors):
        levels[:, :, i] = rng.choice(len(factor.levels), size=(reps, n_subjects), p=factor.level_probabilities())
    sites = rng.choice(n_sites, size=(reps, n_subjects), p=site_weights)
    return SimulatedCohort(levels=levels, sites=sites, n_sites=n_sites)


def _strata_index(spec: RandomizationSpec, cohort: SimulatedCohort, *, with_site: bool) -> tuple[np.ndarray, int]:
    """Mixed-radix stratum index ``(R, n)`` and the number of strata."""
    index = np.zeros(cohort.sites.shape, dtype=np.int64)
    n_strata = 1
    for i, factor in enumerate(spec.factors):
        index = index * len(factor.levels) + cohort.levels[:, :, i]
        n_strata *= len(factor.levels)
    if with_site:
        index = index * cohort.n_sites + cohort.sites
        n_strata *= cohort.n_sites
    return index, n_strata


def _rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """For ``(R, n)`` group labels: 0-based order of each subject among earlier subjects of its group and replicate."""
    reps, n = groups.shape
    flat = (np.arange(reps)[:, None] * (groups.max() + 1) + groups).ravel()
    order = np.argsort(flat, kind="stable")
    sorted_groups = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, flat.size]))
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = np.arange(flat.size) - run_start
    return rank.reshape(reps, n)


def _allocate_blocks(spec: RandomizationSpec, cohort: SimulatedCohort, rng: np.random.Generator) -> np.ndarray:
    strata, n_strata = _strata_index(spec, cohort, with_site=spec.site_as_factor)
    rank = _rank_within_groups(strata)
    reps = cohort.reps
    length = int(rank.max()) + 1  # positions needed in the longest stratum sequence
    sizes_set = np.asarray(spec.block_sizes, dtype=np.int64)
    n_blocks = -(-length // int(sizes_set.min()))
    rows = reps * n_strata
    sizes = rng.choice(sizes_set, size=(rows, n_blocks))  # every row covers >= length positions
    flat_sizes = sizes.ravel()
    block_id = np.repeat(np.arange(flat_sizes.size), flat_sizes)
    block_start = np.repeat(np.cumsum(flat_sizes) - flat_sizes, flat_sizes)
    block_size = np.repeat(flat_sizes, flat_sizes)
    # random order inside every block: sort by (block id, uniform key)
    order = np.lexsort((rng.random(block_id.size), block_id))
    rank_in_block = np.arange(block_id.size) - block_start  # block_id is non-decreasing, so sorted == original
    ratios = np.asarray(spec.ratios, dtype=np.int64)
    cum = np.cumsum(ratios)[:-1]
    # arm j fills ranks [size*C_{j-1}/T, size*C_j/T) of a block
    pattern = (rank_in_block[:, None] * spec.ratio_total >= block_size[:, None] * cum).sum(axis=1)
    arm_flat = np.empty(block_id.size, dtype=np.int64)
    arm_flat[order] = pattern
    row_start = np.r_[0, np.cumsum(sizes.sum(axis=1))[:-1]]
    row = np.arange(reps)[:, None] * n_strata + strata
    arms: npt.NDArray[np.intp] = arm_flat[row_start[row] + rank]
    return arms


def _allocate_minimization(spec: RandomizationSpec, cohort: SimulatedCohort, rng: np.random.Generator) -> np.ndarray:
    reps, n = cohort.reps, cohort.n_subjects
    uniforms = rng.random((reps, n))
    columns = [cohort.levels[:, :, i] for i in range(len(spec.factors))]
    sizes = [len(f.levels) for f in spec.factors]
    weights = [f.weight for f in spec.factors]
    if spec.site_as_factor:
        columns.append(cohort.sites)
        sizes.append(cohort.n_sites)
        weights.append(spec.minimization.site_weight)
    n_arms = len(spec.arms)
    n_factors = len(columns)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    # one counts table (R, total levels, A); the subject's row for factor i is offsets[i] + level
    counts = np.zeros((reps, int(sum(sizes)), n_arms), dtype=np.int64)
    rows_of = np.stack(columns, axis=-1) + offsets  # (R, n, F)
    ratios = np.asarray(spec.ratios, dtype=float)
    w = np.asarray(weights, dtype=float)
    r_index = np.arange(reps)
    arms = np.empty((reps, n), dtype=np.int64)
    for t in range(n):
        rows = rows_of[:, t, :]  # (R, F)
        current = counts[r_index[:, None], rows]  # (R, F, A)
        if n_factors:
            scores = imbalance_scores(current, ratios, w, spec.minimization.imbalance)
        else:
            scores = np.zeros((reps, n_arms))
        probs = assignment_probabilities(scores, spec.minimization.p_best)
        chosen = choose_arm(probs, uniforms[:, t])
        arms[:, t] = chosen
        counts[r_index[:, None], rows, chosen[:, None]] += 1
    return arms


def allocate(
    spec: RandomizationSpec, cohort: SimulatedCohort, rng: np.random.Generator, scheme: str | None = None
) -> np.ndarray:
    """Arm index ``(R, n)`` of every subject under ``scheme`` (default: the spec's)."""
    scheme = scheme or spec.scheme
    if scheme == "simple":
        cum = np.cumsum(spec.ratios)[:-1] / spec.ratio_total
        arms: npt.NDArray[np.intp] = (rng.random(cohort.sites.shape)[..., None] >= cum).sum(axis=-1)
        return arms
    if scheme == "blocks":
        if not spec.block_sizes or any(b % spec.ratio_total for b in spec.block_sizes):
            raise InvalidInput(
                f"block sizes {list(spec.block_sizes)} must be multiples of {spec.ratio_total}", field="block_sizes"
            )
        return _allocate_blocks(spec, cohort, rng)
    if scheme == "minimization":
        return _allocate_minimization(spec, cohort, rng)
    raise InvalidInput(f"must be 'blocks', 'minimization' or 'simple', got {scheme!r}", field="scheme")


def _counts(arms: np.ndarray, groups: np.ndarray, n_groups: int, n_arms: int) -> np.ndarray:
    """``(R, G, A)`` counts of arm by group within each replicate."""
    reps = arms.shape[0]
    flat = (np.arange(reps)[:, None] * n_groups + groups) * n_arms + arms
    return np.bincount(flat.ravel(), minlength=reps * n_groups * n_arms).reshape(reps, n_groups, n_arms)


def imbalance(counts: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """``max_j n_j / r_j - min_j n_j / r_j`` over the last axis."""
    scaled = np.asarray(counts) / np.asarray(ratios, dtype=float)
    spread: npt.NDArray[np.float64] = scaled.max(axis=-1) - scaled.min(axis=-1)
    return spread


def convergence_predictability(arms: np.ndarray, units: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """Share of correct convergence-strategy guesses in each replicate (``(R, n)`` -> ``(R,)``).

    Before subject ``t`` the guesser sees the counts ``c_j`` of earlier subjects of the same unit (and replicate)
    in each arm, guesses ``argmin_j c_j / r_j`` and scores ``1/m`` when the true arm is among ``m`` tied minima.
    """
    reps, n = arms.shape
    ratios = np.asarray(ratios, dtype=float)
    n_arms = ratios.size
    flat_units = (np.arange(reps)[:, None] * (units.max() + 1) + units).ravel()
    order = np.argsort(flat_units, kind="stable")  # stable: time order within each unit is kept
    onehot = np.zeros((flat_units.size, n_arms), dtype=np.int64)
    onehot[np.arange(flat_units.size), arms.ravel()[order]] = 1
    inclusive = np.cumsum(onehot, axis=0)
    sorted_units = flat_units[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_units)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, flat_units.size]))
    before_run = np.where(run_start[:, None] > 0, inclusive[run_start - 1], 0)
    prior = inclusive - onehot - before_run  # counts in the unit strictly before each subject
    scaled = prior / ratios
    is_min = scaled <= scaled.min(axis=1, keepdims=True) + 1e-12
    credit_sorted = is_min[np.arange(flat_units.size), arms.ravel()[order]] / is_min.sum(axis=1)
    credit = np.empty(flat_units.size)
    credit[order] = credit_sorted
    credit_mean: npt.NDArray[np.float64] = credit.reshape(reps, n).mean(axis=1)
    return credit_mean


def _summary(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "p95": float(np.quantile(values, 0.95)),
        "max": float(values.max()),
    }


@dataclass(frozen=True)
class SchemeSimulation:
    """Summary over replicates of one scheme's simulated balance and predictability (see module docstring)."""

    scheme: str
    spec_version: str
    subjects: int
    reps: int
    sites: int
    arms: list[str]
    imbalance_total: dict[str, float]
    imbalance_within_strata_max: dict[str, float]
    imbalance_within_strata_sum: dict[str, float]
    imbalance_within_sites_max: dict[str, float]
    imbalance_within_sites_sum: dict[str, float]
    imbalance_factor_levels_max: dict[str, dict[str, float]]
    predictability: dict[str, dict[str, float]]
    strata: int
    seed: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def simulate_scheme(
    spec: RandomizationSpec,
    n_subjects: int,
    reps: int,
    rng: np.random.Generator,
    *,
    scheme: str | None = None,
    n_sites: int = 25,
    site_weights: np.ndarray | None = None,
    seed: int | None = None,
) -> SchemeSimulation:
    """Simulate ``reps`` trials of ``n_subjects`` under ``scheme`` (default: the spec's) and summarize.

    Parameters
    ----------
    spec
        The randomization spec (arms, ratios, factors with prevalences, block sizes, minimization settings).
    n_subjects, reps
        Subjects per trial and number of replicate trials.
    rng
        Seeded generator; the only source of randomness.
    scheme
        ``"blocks"``, ``"minimization"`` or ``"simple"``; the spec's scheme when ``None``.
    n_sites, site_weights
        Number of sites and their recruitment shares (uniform when ``None``).
    seed
        Recorded in the result only.
    """
    scheme = scheme or spec.scheme
    cohort = draw_cohort(spec, n_subjects, reps, rng, n_sites=n_sites, site_weights=site_weights)
    arms = allocate(spec, cohort, rng, scheme)
    ratios = np.asarray(spec.ratios, dtype=float)
    n_arms = len(spec.arms)
    strata, n_strata = _strata_index(spec, cohort, with_site=False)
    zeros = np.zeros_like(cohort.sites)

    total = imbalance(_counts(arms, zeros, 1, n_arms)[:, 0, :], ratios)
    by_stratum = imbalance(_counts(arms, strata, n_strata, n_arms), ratios)
    by_site = imbalance(_counts(arms, cohort.sites, cohort.n_sites, n_arms), ratios)
    factor_levels = {}
    for i, factor in enumerate(spec.factors):
        per_level = imbalance(_counts(arms, cohort.levels[:, :, i], len(factor.levels), n_arms), ratios)
        factor_levels[factor.name] = _summary(per_level.max(axis=1))
    predictability = {
        "overall": _summary(convergence_predictability(arms, zeros, ratios)),
        "stratum": _summary(convergence_predictability(arms, strata, ratios)),
        "site": _summary(convergence_predictability(arms, cohort.sites, ratios)),
    }
    notes = []
    if scheme == "blocks" and spec.site_as_factor:
        notes.append("blocks are stratified by site as well as by the factors")
    return SchemeSimulation(
        scheme=scheme,
        spec_version=spec.version,
        subjects=n_subjects,
        reps=reps,
        sites=cohort.n_sites,
        arms=list(spec.arm_ids),
        imbalance_total=_summary(total),
        imbalance_within_strata_max=_summary(by_stratum.max(axis=1)),
        imbalance_within_strata_sum=_summary(by_stratum.sum(axis=1)),
        imbalance_within_sites_max=_summary(by_site.max(axis=1)),
        imbalance_within_sites_sum=_summary(by_site.sum(axis=1)),
        imbalance_factor_levels_max=factor_levels,
        predictability=predictability,
        strata=n_strata,
        seed=seed,
        notes=notes,
    )
