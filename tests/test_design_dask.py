"""A 2-worker local Dask cluster gives exactly the single-process result for the same seed."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

from trialdesk.adapters.dask_runner import dask_runner
from trialdesk.domain.design import DesignSpec, ExponentialSurvival, StratificationFactor, UniformAccrual
from trialdesk.stats.simulate import simulate


def test_two_worker_cluster_equals_single_process():
    design = DesignSpec(
        sample_size=300,
        accrual=UniformAccrual(duration=18),
        control=ExponentialSurvival(median=12),
        hazard_ratio=0.7,
        target_events=180,
        interim_information_fractions=[0.5],
        futility_z=[0.0],
        strata=[StratificationFactor(name="visceral", prevalence=0.7, hazard_ratio=1.4)],
    )
    single = simulate(design, 1500, seed=99, chunk_size=100)
    seen: list[int] = []
    with dask_runner(workers=2, chunks_per_task=3) as runner:
        distributed = simulate(design, 1500, seed=99, chunk_size=100, runner=runner, progress=seen.append)
    assert distributed == single
    assert sum(seen) == 1500
