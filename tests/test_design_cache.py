"""The design simulations are run once per input: the design page asked again answers from the cache, and a changed
design, trial count, hazard ratio or seed is simulated anew (the key is the whole input, so nothing goes stale)."""

from __future__ import annotations

import pytest

from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.services import design as design_service
from trialdesk.stats import simulate as simulate_module


@pytest.fixture
def counted(monkeypatch):
    """The real simulation, counted; the cache emptied before and after."""
    calls: list[tuple[int, float | None, int]] = []
    real = simulate_module.simulate

    def counting(design, trials, seed, **kwargs):
        calls.append((trials, kwargs.get("hazard_ratio"), seed))
        return real(design, trials, seed, **kwargs)

    monkeypatch.setattr(simulate_module, "simulate", counting)
    design_service._simulations.clear()
    yield calls
    design_service._simulations.clear()


def test_the_same_input_is_simulated_once(counted):
    design = load_default_protocol().operations.design
    first = design_service.simulate_design(design, trials=200, hazard_ratio=0.7, seed=3)
    again = design_service.simulate_design(design, trials=200, hazard_ratio=0.7, seed=3)
    assert again is first and counted == [(200, 0.7, 3)]
    # any other input is another simulation, with its own answer
    design_service.simulate_design(design, trials=200, hazard_ratio=0.7, seed=4)
    design_service.simulate_design(design, trials=300, hazard_ratio=0.7, seed=3)
    design_service.simulate_design(design, trials=200, hazard_ratio=1.0, seed=3)
    changed = design.model_copy(update={"target_events": design.target_events + 10})
    other = design_service.simulate_design(changed, trials=200, hazard_ratio=0.7, seed=3)
    assert len(counted) == 5 and other is not first
    # the cached answer is the simulation's own: equal to a fresh run of the same input
    design_service._simulations.clear()
    rerun = design_service.simulate_design(design, trials=200, hazard_ratio=0.7, seed=3)
    assert rerun is not first and rerun.model_dump() == first.model_dump() and len(counted) == 6


def test_the_cache_keeps_the_most_recently_used(counted, monkeypatch):
    monkeypatch.setattr(design_service, "SIMULATION_CACHE_SIZE", 2)
    design = load_default_protocol().operations.design
    for seed in (1, 2):
        design_service.simulate_design(design, trials=100, hazard_ratio=None, seed=seed)
    design_service.simulate_design(design, trials=100, hazard_ratio=None, seed=1)  # used again: kept
    design_service.simulate_design(design, trials=100, hazard_ratio=None, seed=3)  # seed 2 goes out
    assert len(design_service._simulations) == 2
    design_service.simulate_design(design, trials=100, hazard_ratio=None, seed=1)
    assert [c[2] for c in counted] == [1, 2, 3]
    design_service.simulate_design(design, trials=100, hazard_ratio=None, seed=2)
    assert [c[2] for c in counted] == [1, 2, 3, 2]
