"""Monte Carlo simulation of the whole trial: accrual, randomization, PFS, dropout, event-driven looks.

Each simulated trial randomizes ``design.sample_size`` subjects (exactly ``design.arm_sizes`` per Arm), draws
each subject's randomization month from the accrual distribution, a Stratum from the stratification factors'
prevalences, a PFS time (control distribution, times the stratum's prognostic multiplier and, on the
experimental Arm, the hazard ratio) and an exponential dropout time. Look ``k`` happens at the calendar month
of the ``look_events[k]``-th observed PFS event; the stratified log-rank statistic ``Z = -(O - E) / sqrt(V)``
(positive favours the experimental Arm) is compared with the Lan-DeMets efficacy bound, and, at an interim,
with the non-binding futility bound. The estimated hazard ratio is the one-step (Peto) estimate
``exp((O - E) / V)``.

Vectorization. Trials are simulated in chunks of ``chunk_size`` rows (``chunk_size x sample_size`` arrays small
enough for cache). At a look every row is sorted once: stratum, observed time, arm and censoring flag are
packed into one ``uint64`` key (stratum in the top bits, the time quantized to 2**-40 month) so that a plain
``np.sort`` orders every subject by stratum then time; numbers at risk come from the segment ends of each stratum
and cumulative sums, and ``O - E`` and ``V`` are row sums. No Python loop runs over trials or subjects.

Ties: PFS, dropout and accrual times are continuous, so ties occur with probability zero and the no-ties
log-rank formulas are exact; :func:`stratified_logrank` assumes distinct event times within a stratum.

Reproducibility. Chunk ``i`` draws from ``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(stream,))
.spawn(n)[i]))``, the stream being the alternative's or the null's; the result depends on ``seed``, ``n_trials``
and ``chunk_size`` only (defaults: ``DEFAULT_*`` in :mod:`trialdesk.stats.simulation_results`), not on how chunks are spread over processes nor on which
surface (CLI, API, page) asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np

from trialdesk.domain.design import DesignSpec, ExponentialSurvival, UniformAccrual
from trialdesk.stats.design import accrual_quantile, design_bounds, experimental_survival, inverse_cumulative_hazard
from trialdesk.stats.simulation_results import (
    ALTERNATIVE_STREAM,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_SEED,
    DEFAULT_TRIALS,
    NULL_STREAM,
    Estimate,
    LookSimulation,
    OperatingCharacteristics,
    SimulationResult,
)

_STRATUM_SHIFT = np.uint64(57)  # 7 bits for the stratum code (at most 2**6 strata + the "not enrolled" code)
_TIME_SHIFT = np.uint64(2)
_TIME_SCALE = float(2**40)  # observed time quantum: 2**-40 month; keys hold times up to 2**15 months
_ONE = np.uint64(1)


# ====================================================================================== log-rank kernel
def stratified_logrank(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    stratum: np.ndarray | None = None,
    included: np.ndarray | None = None,
    n_strata: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified log-rank ``O - E`` (experimental Arm) and its variance ``V`` for each row.

    Parameters
    ----------
    time : (B, n) observed times, >= 0 (distinct event times within a stratum are assumed: see module notes).
    event : (B, n) bool, True for an observed event, False for a censored time.
    experimental : (B, n) or (n,) bool, True on the experimental Arm.
    stratum : (B, n) or (n,) int codes in ``[0, n_strata)``; None for an unstratified test.
    included : (B, n) bool, False for subjects not in the analysis (not yet randomized).
    n_strata : number of stratum codes (default ``stratum.max() + 1``).

    Returns
    -------
    (oe, var) : arrays of shape (B,). ``Z = -oe / sqrt(var)``; ``chi2 = oe**2 / var`` equals R's
    ``survdiff(Surv(time, event) ~ arm + strata(stratum))$chisq``.
    """
    time = np.atleast_2d(np.asarray(time, dtype=float))
    b, n = time.shape
    event = np.broadcast_to(np.asarray(event, dtype=bool), (b, n))
    experimental = np.broadcast_to(np.asarray(experimental, dtype=bool), (b, n))
    if stratum is None:
        stratum = np.zeros((b, n), dtype=np.int64)
    stratum = np.broadcast_to(np.asarray(stratum, dtype=np.int64), (b, n))
    if n_strata is None:
        n_strata = int(stratum.max()) + 1 if stratum.size else 1
    if np.any(time < 0) or not np.all(np.isfinite(time)):
        raise ValueError("time must be finite and >= 0")
    if stratum.size and (stratum.min() < 0 or stratum.max() >= n_strata):
        raise ValueError(f"stratum codes must lie in [0, {n_strata})")
    if included is None:
        included = np.ones((b, n), dtype=bool)
    base = (stratum.astype(np.uint64) << _STRATUM_SHIFT) | (experimental.astype(np.uint64) << _ONE)
    return _logrank_kernel(time, event, base, np.asarray(included, dtype=bool), n_strata)


class _Workspace:
    """Preallocated (rows, n) buffers reused by every look and block of a chunk.

    Allocating and freeing ~100 KiB temporaries per numpy call costs page faults in glibc's allocator (measured 2x
    slower); the kernel therefore writes into these buffers with ``out=``.
    """

    def __init__(self, rows: int, n: int) -> None:
        self.rows, self.n = rows, n
        self.key = np.empty((rows, n), dtype=np.uint64)
        self.tmp = np.empty((rows, n), dtype=np.uint64)
        self.f1 = np.empty((rows, n))
        self.f2 = np.empty((rows, n))
        self.f3 = np.empty((rows, n))
        self.f4 = np.empty((rows, n))
        self.f5 = np.empty((rows, n))
        self.b1 = np.empty((rows, n), dtype=bool)
        self.b2 = np.empty((rows, n), dtype=bool)
        self.cum = np.zeros((rows, n + 1))
        self.position = np.arange(n, dtype=np.float64)
        # per-subject arrays of the current block, and a second set to compact still-running trials into
        self.subjects = [
            (
                np.empty((rows, n)),
                np.empty((rows, n)),
                np.empty((rows, n), dtype=bool),
                np.empty((rows, n), dtype=np.uint64),
            )
            for _ in range(2)
        ]

    def fits(self, rows: int, n: int) -> bool:
        return rows <= self.rows and n == self.n


def _logrank_kernel(
    y: np.ndarray,
    event: np.ndarray,
    base: np.ndarray,
    included: np.ndarray,
    n_strata: int,
    ws: _Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Core of :func:`stratified_logrank` on prepared arrays (``base`` holds stratum and arm bits).

    After the sort, row ``b`` holds stratum segments one after another, each in increasing time. Within a segment
    the number at risk at position ``j`` is ``segment_end - j`` and the number at risk on the experimental Arm is
    ``experimental_before(segment_end) - experimental_before(j)``; segment ends are per (row, stratum) numbers
    gathered for every position with ``np.take``. ``y``, ``event`` and ``included`` may be ``ws`` buffers.
    """
    b, n = y.shape
    if ws is None or not ws.fits(b, n):
        ws = _Workspace(b, n)
    key, tmp = ws.key[:b], ws.tmp[:b]
    np.multiply(y, _TIME_SCALE, out=ws.f1[:b])
    np.copyto(key, ws.f1[:b], casting="unsafe")
    np.left_shift(key, _TIME_SHIFT, out=key)
    np.bitwise_or(key, base, out=key)
    np.logical_not(event, out=ws.b2[:b])
    np.copyto(tmp, ws.b2[:b], casting="unsafe")
    np.bitwise_or(key, tmp, out=key)
    excluded_key = (np.uint64(n_strata) << _STRATUM_SHIFT) | _ONE
    np.logical_not(included, out=ws.b2[:b])
    np.copyto(key, excluded_key, where=ws.b2[:b])
    key.sort(axis=1)
    # decode arm and event flags
    arm, evf = ws.f2[:b], ws.f3[:b]
    np.right_shift(key, _ONE, out=tmp)
    np.bitwise_and(tmp, _ONE, out=tmp)
    np.copyto(arm, tmp, casting="unsafe")
    np.bitwise_and(key, _ONE, out=tmp)
    np.copyto(evf, tmp, casting="unsafe")
    np.subtract(1.0, evf, out=evf)
    cum = ws.cum[:b]
    np.cumsum(arm, axis=1, out=cum[:, 1:])
    # segment ends per (row, stratum code): codes are the key's top bits
    np.right_shift(key, _STRATUM_SHIFT, out=tmp)
    codes = tmp.view(np.int64)
    np.add(codes, (np.arange(b, dtype=np.int64) * (n_strata + 1))[:, None], out=codes)
    counts = np.bincount(codes.ravel(), minlength=b * (n_strata + 1)).reshape(b, n_strata + 1)
    seg_end = np.cumsum(counts, axis=1)
    arm_end = np.take_along_axis(cum, seg_end, axis=1)
    at_risk, at_risk_exp = ws.f4[:b], ws.f5[:b]
    np.take(seg_end.ravel().astype(np.float64), codes, out=at_risk)
    np.subtract(at_risk, ws.position, out=at_risk)
    np.take(arm_end.ravel(), codes, out=at_risk_exp)
    np.subtract(at_risk_exp, cum[:, :n], out=at_risk_exp)
    p = np.divide(at_risk_exp, at_risk, out=at_risk_exp)
    e1 = np.einsum("ij,ij->i", evf, p)
    oe = np.einsum("ij,ij->i", evf, arm) - e1
    var = e1 - np.einsum("ij,ij,ij->i", evf, p, p)
    return oe, var


# ============================================================================================ chunks
@dataclass(frozen=True)
class ChunkTask:
    """One chunk of trials: everything a worker needs (picklable)."""

    design: DesignSpec
    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    n_trials: int
    seed: np.random.SeedSequence


ChunkOutput = dict[str, np.ndarray]
ChunkRunner = Callable[[Sequence[ChunkTask], Callable[[int], None] | None], list[ChunkOutput]]


def _stratum_tables(design: DesignSpec) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative probabilities and hazard multipliers of the ``2**F`` stratum codes (bit f = factor f)."""
    n_codes = 2 ** len(design.strata)
    probs = np.ones(n_codes)
    mult = np.ones(n_codes)
    for code in range(n_codes):
        for f, factor in enumerate(design.strata):
            if code >> f & 1:
                probs[code] *= factor.prevalence
                mult[code] *= factor.hazard_ratio
            else:
                probs[code] *= 1.0 - factor.prevalence
    return np.cumsum(probs), mult


def block_rows(sample_size: int) -> int:
    """Trials simulated together inside a chunk (64 for the usual sample sizes, fewer for very large trials).

    Buffers live in a per-chunk :class:`_Workspace`; 64 rows x 642 subjects measured fastest (fewer numpy calls
    than small blocks, still cache-friendly).
    """
    return max(4, min(64, 262_144 // sample_size))


def run_chunk(task: ChunkTask) -> ChunkOutput:
    """Simulate ``task.n_trials`` trials; per-trial outcomes as arrays (see :func:`summarize`).

    The chunk's generator is consumed block by block (:func:`block_rows` trials at a time), so the result depends
    on the chunk's seed, its size and the sample size only. One :class:`_Workspace` serves every block.
    """
    rng = np.random.Generator(np.random.PCG64(task.seed))
    n = task.design.sample_size
    step = min(block_rows(n), task.n_trials)
    ws = _Workspace(step, n)
    parts = [_run_block(task, rng, min(step, task.n_trials - start), ws) for start in range(0, task.n_trials, step)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def planned_entry_months(design: DesignSpec) -> np.ndarray:
    """Entry months by column (experimental columns first) when subject ``i`` enters at accrual quantile ``i/n``.

    In order of entry, the experimental Arm takes the ``i``-th place when ``floor(i n_exp / n)`` steps up, which
    spreads the Arms evenly in the allocation ratio.
    """
    n = design.sample_size
    n_exp, _ = design.arm_sizes
    order = np.arange(1, n + 1)
    months = accrual_quantile(design.accrual, n, order / n)
    is_exp = np.diff(np.floor(np.arange(0, n + 1) * n_exp / n)) > 0
    return np.concatenate((months[is_exp], months[~is_exp]))


def _draw_subjects(design: DesignSpec, rng: np.random.Generator, b: int, ws: _Workspace) -> None:
    """Fill ``ws.subjects[0]`` with entry month, observed time, event flag and packed (stratum, arm) key bits."""
    n = design.sample_size
    n_exp, _ = design.arm_sizes
    buffers = ws.subjects[0]
    entry, x, event, base = buffers[0][:b], buffers[1][:b], buffers[2][:b], buffers[3][:b]
    # accrual
    if design.entry_times == "planned":
        entry[...] = planned_entry_months(design)
    elif isinstance(design.accrual, UniformAccrual):
        rng.random(out=entry)
        np.multiply(entry, design.accrual.duration, out=entry)
    else:
        rng.random(out=entry)
        entry[...] = accrual_quantile(design.accrual, n, entry)
    # arm: the first n_exp columns (exchangeable with a random permutation: every draw is i.i.d. across columns)
    arm_bits = np.zeros(n, dtype=np.uint64)
    arm_bits[:n_exp] = 2
    # stratum
    if design.strata:
        cum_p, mult_table = _stratum_tables(design)
        u = ws.f1[:b]
        rng.random(out=u)
        stratum = np.minimum(np.searchsorted(cum_p, u, side="right"), cum_p.size - 1)
        np.copyto(base, stratum, casting="unsafe")
        np.left_shift(base, _STRATUM_SHIFT, out=base)
        np.bitwise_or(base, arm_bits, out=base)
        multiplier = np.take(mult_table, stratum, out=ws.f2[:b])
    else:
        base[...] = arm_bits
        multiplier = None
    # PFS: H^{-1}(E / (multiplier * HR)) with E ~ Exp(1)
    rng.standard_exponential(out=x)
    if multiplier is not None:
        np.divide(x, multiplier, out=x)
    exp_spec, exp_mult = experimental_survival(design)
    if isinstance(design.control, ExponentialSurvival) and exp_spec is design.control:
        scale = np.full(n, design.control.median / math.log(2))
        scale[:n_exp] /= exp_mult
        np.multiply(x, scale, out=x)
    else:
        x[:, :n_exp] = inverse_cumulative_hazard(exp_spec, x[:, :n_exp] / exp_mult)
        x[:, n_exp:] = inverse_cumulative_hazard(design.control, x[:, n_exp:])
    # dropout
    delta = design.dropout.hazard
    if delta > 0:
        drop = ws.f3[:b]
        rng.standard_exponential(out=drop)
        np.multiply(drop, 1.0 / delta, out=drop)
        np.less_equal(x, drop, out=event)
        np.minimum(x, drop, out=x)
    else:
        event.fill(True)


def _run_block(task: ChunkTask, rng: np.random.Generator, b: int, ws: _Workspace) -> ChunkOutput:
    design = task.design
    n = design.sample_size
    looks = np.asarray(design.look_events)
    n_looks = looks.size
    efficacy = np.asarray(task.efficacy)
    futility = np.asarray(task.futility)
    n_strata = 2 ** len(design.strata)

    _draw_subjects(design, rng, b, ws)
    buffers = ws.subjects[0]
    entry, x, event = buffers[0][:b], buffers[1][:b], buffers[2][:b]

    # --- data cuts: calendar month of the look_events[k]-th event (all follow-up if never reached)
    calendar = ws.f1[:b]
    np.add(entry, x, out=calendar)
    np.logical_not(event, out=ws.b1[:b])
    np.copyto(calendar, np.inf, where=ws.b1[:b])
    kth = np.minimum(looks, n) - 1
    calendar.partition(kth, axis=1)
    cuts = calendar[:, kth].copy()
    reached = np.isfinite(cuts)
    if not reached.all():
        last = (entry + x).max(axis=1)
        cuts = np.where(reached, cuts, last[:, None] + 1.0)

    z = np.full((b, n_looks), np.nan)
    hr = np.full((b, n_looks), np.nan)
    events = np.zeros((b, n_looks))
    enrolled = np.zeros((b, n_looks))
    stop = np.full(b, n_looks - 1, dtype=np.int8)
    reject = np.zeros(b, dtype=bool)
    futile = np.zeros(b, dtype=bool)
    active = np.arange(b)
    current = 0
    for k in range(n_looks):
        m = active.size
        e_, x_, evt, bs = (a[:m] for a in ws.subjects[current])
        # buffers: the kernel consumes y (f1), ev (b2) and included (b1) before reusing them
        follow, y = ws.f4[:m], ws.f1[:m]
        included, ev = ws.b1[:m], ws.b2[:m]
        np.subtract(cuts[active, k][:, None], e_, out=follow)
        np.greater(follow, 0.0, out=included)
        np.less_equal(x_, follow, out=ev)
        np.logical_and(ev, evt, out=ev)
        events[active, k] = np.count_nonzero(ev, axis=1)
        enrolled[active, k] = np.count_nonzero(included, axis=1)
        np.minimum(x_, follow, out=y)
        np.maximum(y, 0.0, out=y)
        oe, var = _logrank_kernel(y, ev, bs, included, n_strata, ws)
        with np.errstate(divide="ignore", invalid="ignore"):
            zk = np.where(var > 0, -oe / np.sqrt(var), 0.0)
            hk = np.where(var > 0, np.exp(oe / var), np.nan)
        z[active, k] = zk
        hr[active, k] = hk
        win = zk >= efficacy[k]
        lose = (zk < futility[k]) & ~win if k < n_looks - 1 else np.zeros_like(win)
        reject[active[win]] = True
        futile[active[lose]] = True
        stopped = win | lose
        stop[active[stopped]] = k
        if not stopped.any():
            continue
        keep = np.flatnonzero(~stopped)
        active = active[keep]
        if active.size == 0:
            break
        # compact the still-running trials into the other buffer set
        for src, dst in zip(ws.subjects[current], ws.subjects[1 - current]):
            np.take(src[:m], keep, axis=0, out=dst[: keep.size])
        current = 1 - current
    idx = np.arange(b)
    return {
        "stop": stop,
        "reject": reject,
        "futile": futile,
        "z": z,
        "hr": hr[idx, stop],
        "events": events[idx, stop],
        "time": cuts[idx, stop],
        "enrolled": enrolled[idx, stop],
        "look_time": np.where(np.isnan(z), np.nan, cuts),
        "look_enrolled": np.where(np.isnan(z), np.nan, enrolled),
        "reached": np.asarray(reached.all(axis=1)),
    }


def plan_chunks(
    design: DesignSpec, n_trials: int, seed: int | np.random.SeedSequence, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[ChunkTask]:
    """Split ``n_trials`` into chunks with independent seeded streams (``SeedSequence.spawn``)."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = [chunk_size] * (n_trials // chunk_size)
    if n_trials % chunk_size:
        sizes.append(n_trials % chunk_size)
    eff, fut = design_bounds(design)
    return [
        ChunkTask(design, tuple(map(float, eff)), tuple(map(float, fut)), size, child)
        for size, child in zip(sizes, root.spawn(len(sizes)))
    ]


def serial_runner(tasks: Sequence[ChunkTask], progress: Callable[[int], None] | None = None) -> list[ChunkOutput]:
    """Run chunks one after another in this process."""
    out = []
    for task in tasks:
        out.append(run_chunk(task))
        if progress is not None:
            progress(task.n_trials)
    return out


def _prop(x: np.ndarray) -> Estimate:
    p = float(np.mean(x))
    return Estimate(value=p, mc_se=math.sqrt(p * (1 - p) / x.size))


def _mean(x: np.ndarray) -> Estimate:
    return Estimate(value=float(np.mean(x)), mc_se=float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0)


_QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)


def summarize(
    design: DesignSpec,
    outputs: Sequence[ChunkOutput],
    *,
    seed: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    bins: int = 40,
) -> SimulationResult:
    """Combine chunk outputs (in chunk order) into a :class:`SimulationResult`."""
    cat = {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}
    m = cat["stop"].size
    eff, fut = design_bounds(design)
    looks = []
    for k, t in enumerate(design.information_fractions):
        reached = ~np.isnan(cat["z"][:, k])
        times = cat["look_time"][reached, k]
        accrued = cat["look_enrolled"][reached, k]
        looks.append(
            LookSimulation(
                look=k + 1,
                information_fraction=t,
                planned_events=design.look_events[k],
                efficacy_z=float(eff[k]),
                futility_z=None if not np.isfinite(fut[k]) else float(fut[k]),
                reached_probability=float(reached.mean()),
                reject_probability=_prop((cat["stop"] == k) & cat["reject"]),
                futility_probability=_prop((cat["stop"] == k) & cat["futile"]),
                mean_time_months=float(times.mean()) if times.size else None,
                mean_enrolled=float(accrued.mean()) if accrued.size else None,
            )
        )
    hr = cat["hr"][np.isfinite(cat["hr"])]
    time = cat["time"]
    counts, edges = np.histogram(time, bins=bins)
    return SimulationResult(
        hazard_ratio=design.planning_hazard_ratio,
        n_trials=m,
        seed=seed,
        chunk_size=chunk_size,
        rejection_probability=_prop(cat["reject"]),
        looks=looks,
        expected_events=_mean(cat["events"]),
        expected_duration_months=_mean(time),
        expected_sample_size=_mean(cat["enrolled"]),
        hazard_ratio_estimate_quantiles={f"{q:g}": float(v) for q, v in zip(_QUANTILES, np.quantile(hr, _QUANTILES))}
        if hr.size
        else {},
        hazard_ratio_estimate_mean=float(hr.mean()) if hr.size else float("nan"),
        analysis_time_quantiles={f"{q:g}": float(v) for q, v in zip(_QUANTILES, np.quantile(time, _QUANTILES))},
        analysis_time_histogram={"edges": edges.tolist(), "counts": counts.astype(float).tolist()},
        target_not_reached_probability=float(1.0 - cat["reached"].mean()),
    )


def simulate(
    design: DesignSpec,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    *,
    hazard_ratio: float | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    runner: ChunkRunner | None = None,
    _stream: int = ALTERNATIVE_STREAM,
) -> SimulationResult:
    """Simulate ``n_trials`` trials of ``design`` (optionally at another ``hazard_ratio``).

    Parameters
    ----------
    design : the design; ``hazard_ratio`` replaces its experimental Arm by proportional hazards.
    n_trials, seed, chunk_size : the result is a function of these three (and the design) only.
    progress : called with the number of trials finished after each chunk.
    runner : how chunks run (default: serially here); see :mod:`trialdesk.adapters.dask_runner`.
    """
    if hazard_ratio is not None:
        design = design.with_hazard_ratio(hazard_ratio)
    root = np.random.SeedSequence(seed, spawn_key=(_stream,))
    tasks = plan_chunks(design, n_trials, root, chunk_size)
    outputs = (runner or serial_runner)(tasks, progress)
    return summarize(design, outputs, seed=seed, chunk_size=chunk_size)


class RunOptions(TypedDict, total=False):
    """How :func:`simulate` runs its chunks; :func:`operating_characteristics` passes them on unchanged."""

    chunk_size: int
    progress: Callable[[int], None] | None
    runner: ChunkRunner | None


def operating_characteristics(
    design: DesignSpec,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    *,
    hazard_ratio: float | None = None,
    **run: Unpack[RunOptions],
) -> OperatingCharacteristics:
    """Simulate the design under its hazard ratio and under HR 1 (independent streams of the same seed).

    ``run`` takes :func:`simulate`'s ``chunk_size``, ``progress`` and ``runner`` (same defaults).
    """
    alt = simulate(design, n_trials, seed, hazard_ratio=hazard_ratio, _stream=ALTERNATIVE_STREAM, **run)
    null = simulate(design, n_trials, seed, hazard_ratio=1.0, _stream=NULL_STREAM, **run)
    return OperatingCharacteristics(alternative=alt, null=null)
