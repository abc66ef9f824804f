"""Pocock–Simon minimization (Pocock & Simon, Biometrics 1975;31:103-115).

For a new subject with level ``l_i`` of each factor ``i``, let ``x[i, j]`` be the number of subjects already
assigned to arm ``j`` who share level ``l_i``. For each candidate arm ``k``:

1. add the subject to arm ``k``: ``x'[i, j] = x[i, j] + [j == k]``;
2. scale by the allocation ratio: ``a[i, j] = x'[i, j] / r_j`` (so that ratio-proportional counts are balanced);
3. imbalance of factor ``i``: ``d_i = max_j a[i, j] - min_j a[i, j]`` (``range``) or the population variance
   of ``a[i, :]`` (``variance``);
4. total ``G_k = sum_i w_i d_i``.

The arm with the smallest ``G`` is chosen with probability ``p_best`` and each other arm with
``(1 - p_best) / (A - 1)``; when several arms tie for the smallest ``G``, one of the tied arms is chosen with equal
probability (and the others get 0). The choice is made from one uniform ``u`` in [0, 1): the first arm ``j``
(in the spec's arm order) with ``u < P_1 + ... + P_j``.

The array functions accept leading batch dimensions so that the live allocation (one subject) and the vectorized
simulation (one subject in each of ``R`` replicates) share one implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.randomization import SITE_FACTOR, RandomizationSpec, UniformSource

__all__ = [
    "MinimizationDecision",
    "imbalance_scores",
    "assignment_probabilities",
    "choose_arm",
    "minimization_assign",
    "factor_weights",
    "counts_from_assignments",
]

_TIE_ATOL = 1e-9

CountsByFactor = Mapping[str, Mapping[str, Mapping[str, int]]]
"""factor -> level -> arm -> number of subjects already assigned."""


def imbalance_scores(counts: np.ndarray, ratios: np.ndarray, weights: np.ndarray, method: str = "range") -> np.ndarray:
    """Total weighted imbalance ``G_k`` for each candidate arm.

    Parameters
    ----------
    counts
        ``(..., F, A)``: subjects already in each arm at the new subject's level of each factor.
    ratios
        ``(A,)`` allocation ratios.
    weights
        ``(F,)`` factor weights.
    method
        ``"range"`` or ``"variance"``.

    Returns
    -------
    numpy.ndarray
        ``(..., A)``: ``G_k`` if the new subject went to arm ``k``.
    """
    counts = np.asarray(counts, dtype=float)
    ratios = np.asarray(ratios, dtype=float)
    weights = np.asarray(weights, dtype=float)
    n_arms = counts.shape[-1]
    if ratios.shape != (n_arms,) or weights.shape != counts.shape[-2:-1]:
        raise InvalidInput(
            f"shapes do not match: counts {counts.shape}, ratios {ratios.shape}, weights {weights.shape}",
            field="counts",
        )
    # (..., K, F, A): candidate k adds one subject to arm k in every factor
    hypothetical = counts[..., None, :, :] + np.eye(n_arms)[:, None, :]
    adjusted = hypothetical / ratios
    if method == "range":
        per_factor = adjusted.max(axis=-1) - adjusted.min(axis=-1)
    elif method == "variance":
        per_factor = adjusted.var(axis=-1)
    else:
        raise InvalidInput(f"must be 'range' or 'variance', got {method!r}", field="minimization.imbalance")
    scores: npt.NDArray[np.float64] = per_factor @ weights
    return scores


def assignment_probabilities(scores: np.ndarray, p_best: float) -> np.ndarray:
    """Biased-coin probabilities from the scores ``G`` (``(..., A)`` -> ``(..., A)``).

    Unique minimum: ``p_best`` for it, ``(1 - p_best)/(A - 1)`` for each other arm. Ties at the minimum: equal
    probability among the tied arms.
    """
    scores = np.asarray(scores, dtype=float)
    n_arms = scores.shape[-1]
    is_min = scores <= scores.min(axis=-1, keepdims=True) + _TIE_ATOL
    n_min = is_min.sum(axis=-1, keepdims=True)
    other = (1.0 - p_best) / (n_arms - 1)
    unique = np.where(is_min, p_best, other)
    tied = is_min / n_min
    probabilities: npt.NDArray[np.float64] = np.where(n_min == 1, unique, tied)
    return probabilities


def choose_arm(probabilities: np.ndarray, u: np.ndarray | float) -> np.ndarray:
    """Index of the first arm ``j`` with ``u < P_1 + ... + P_j`` (``(..., A)``, ``(...)`` -> ``(...)``)."""
    probabilities = np.asarray(probabilities, dtype=float)
    cumulative = np.cumsum(probabilities, axis=-1)
    index = (np.asarray(u, dtype=float)[..., None] >= cumulative).sum(axis=-1)
    chosen: npt.NDArray[np.int64] = np.minimum(index, probabilities.shape[-1] - 1)
    return chosen


def factor_weights(spec: RandomizationSpec) -> tuple[list[str], np.ndarray]:
    """Factor names used by minimization (spec factors, then ``site`` if ``site_as_factor``) and their weights."""
    names = [f.name for f in spec.factors]
    weights = [f.weight for f in spec.factors]
    if spec.site_as_factor:
        names.append(SITE_FACTOR)
        weights.append(spec.minimization.site_weight)
    return names, np.asarray(weights, dtype=float)


@dataclass(frozen=True)
class MinimizationDecision:
    """The outcome of one minimization step, with everything an audit record needs.

    Attributes
    ----------
    arm : str
        The arm assigned.
    scores : dict[str, float]
        ``G_k`` for each candidate arm.
    probabilities : dict[str, float]
        Assignment probability of each arm.
    u : float
        The uniform draw that chose the arm.
    """

    arm: str
    scores: dict[str, float]
    probabilities: dict[str, float]
    u: float


def minimization_assign(
    spec: RandomizationSpec, counts: CountsByFactor, subject_levels: Mapping[str, str], rng: UniformSource
) -> MinimizationDecision:
    """Assign one subject by Pocock–Simon minimization.

    Parameters
    ----------
    spec
        Spec with the factors, weights, ``minimization`` settings and arms (``scheme`` is not checked, so that
        a blocks trial can still be simulated under minimization).
    counts
        ``factor -> level -> arm -> n`` for the subjects already randomized; missing entries count 0. With
        ``site_as_factor`` it holds ``"site" -> site_id -> arm -> n`` too.
    subject_levels
        The new subject's level of every factor (and ``"site"`` when ``site_as_factor``).
    rng
        Uniform source; exactly one ``rng.random()`` is drawn.

    Returns
    -------
    MinimizationDecision
    """
    names, weights = factor_weights(spec)
    missing = [n for n in names if n not in subject_levels]
    if missing:
        raise InvalidInput(f"levels missing for factors {missing}", field="subject_levels")
    extra = sorted(set(subject_levels) - set(names))
    if extra:
        raise InvalidInput(f"unexpected factors {extra}; factors are {names}", field="subject_levels")
    for f in spec.factors:
        if subject_levels[f.name] not in f.levels:
            raise InvalidInput(
                f"{subject_levels[f.name]!r} is not a level of {f.name} {list(f.levels)}",
                field=f"subject_levels.{f.name}",
            )
    arm_ids = spec.arm_ids
    table = np.zeros((len(names), len(arm_ids)))
    for i, name in enumerate(names):
        by_arm = counts.get(name, {}).get(subject_levels[name], {})
        unknown = set(by_arm) - set(arm_ids)
        if unknown:
            raise InvalidInput(f"unknown arms {sorted(unknown)}", field=f"counts.{name}.{subject_levels[name]}")
        for j, arm in enumerate(arm_ids):
            value = by_arm.get(arm, 0)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidInput(
                    f"must be a non-negative integer, got {value!r}",
                    field=f"counts.{name}.{subject_levels[name]}.{arm}",
                )
            table[i, j] = value
    scores = imbalance_scores(table, np.asarray(spec.ratios), weights, spec.minimization.imbalance)
    probabilities = assignment_probabilities(scores, spec.minimization.p_best)
    u = float(rng.random())
    if not 0.0 <= u < 1.0:
        raise InvalidInput(f"rng.random() returned {u}, outside [0, 1)", field="rng")
    index = int(choose_arm(probabilities, u))
    return MinimizationDecision(
        arm=arm_ids[index],
        scores={a: float(s) for a, s in zip(arm_ids, scores)},
        probabilities={a: float(p) for a, p in zip(arm_ids, probabilities)},
        u=u,
    )


def counts_from_assignments(
    spec: RandomizationSpec, assignments: Iterable[tuple[Mapping[str, str], str]]
) -> dict[str, dict[str, dict[str, int]]]:
    """Build the ``factor -> level -> arm -> n`` counts of :func:`minimization_assign` from past assignments.

    Parameters
    ----------
    spec
        The randomization spec.
    assignments
        ``(subject_levels, arm_id)`` for every subject randomized so far (``subject_levels`` as passed to
        :func:`minimization_assign`, with ``"site"`` when ``site_as_factor``).
    """
    names, _ = factor_weights(spec)
    arm_ids = set(spec.arm_ids)
    counts: dict[str, dict[str, dict[str, int]]] = {name: {} for name in names}
    for index, (levels, arm) in enumerate(assignments):
        if arm not in arm_ids:
            raise InvalidInput(f"unknown arm {arm!r}", field=f"assignments[{index}].arm")
        for name in names:
            if name not in levels:
                raise InvalidInput(f"level of {name!r} missing", field=f"assignments[{index}].levels")
            by_arm = counts[name].setdefault(levels[name], {})
            by_arm[arm] = by_arm.get(arm, 0) + 1
    return counts
