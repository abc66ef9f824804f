"""Design use cases: closed-form answers and simulation of the trial's design, from the stored protocol."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import TYPE_CHECKING, Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.design import DesignSpec
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.services.registry import get_protocol
from trialdesk.services.unit_of_work import UnitOfWork
from trialdesk.stats.simulation_results import DEFAULT_CHUNK_SIZE, DEFAULT_SEED

if TYPE_CHECKING:
    from trialdesk.stats.simulation_results import SimulationResult

MAX_WEB_TRIALS = 20_000
# The web's default is smaller than the CLI's DEFAULT_TRIALS (a page answers in about a second); the seed, the chunk
# size and the stream are the CLI's, so the same seed and trials give the CLI's power exactly.
WEB_DEFAULT_TRIALS = 2000


def design_of(uow: UnitOfWork, principal: Principal, nct_id: str) -> DesignSpec:
    require(principal, Action.DESIGN_SIMULATE)
    design = get_protocol(uow, nct_id, live_sites=False).operations.design
    if design is None:
        raise Conflict(f"{nct_id} has no operations.design section")
    return design


def _check_hazard_ratio(hazard_ratio: float | None) -> None:
    if hazard_ratio is not None and not 0.05 <= hazard_ratio <= 5:
        raise InvalidInput(f"must be between 0.05 and 5; got {hazard_ratio!r}", field="hr")


def closed_form(
    uow: UnitOfWork, principal: Principal, nct_id: str, hazard_ratio: float | None = None
) -> dict[str, Any]:
    from trialdesk.stats.design import closed_form_report

    design = design_of(uow, principal, nct_id)
    _check_hazard_ratio(hazard_ratio)
    report: dict[str, Any] = closed_form_report(design, hazard_ratio=hazard_ratio).model_dump(mode="json")
    return report


#: Simulations already run in this process, by their whole input: the design's content, trials, hazard ratio and
#: seed. A simulation is a pure function of that input, so a result never goes stale: a changed design is another key
#: (the explicit invalidation is the key itself). Least recently used first out, at most this many kept.
SIMULATION_CACHE_SIZE = 64
_simulations: OrderedDict[tuple[str, int, float | None, int], SimulationResult] = OrderedDict()
_simulations_lock = Lock()


def simulate_design(
    design: DesignSpec, *, trials: int, hazard_ratio: float | None, seed: int = DEFAULT_SEED
) -> SimulationResult:
    """Run the simulation (outside any transaction: it reads nothing from the database), once per input: a page
    asked again with the same inputs (the design page runs five simulations per load) answers from the cache.

    Equal to ``trialdesk simulate``'s alternative (its power) for the same seed, trials and hazard ratio."""
    from trialdesk.stats.simulate import simulate

    if not 100 <= trials <= MAX_WEB_TRIALS:
        raise InvalidInput(f"must be between 100 and {MAX_WEB_TRIALS}", field="trials")
    _check_hazard_ratio(hazard_ratio)
    key = (design.model_dump_json(), trials, hazard_ratio, seed)
    with _simulations_lock:
        if key in _simulations:
            _simulations.move_to_end(key)
            return _simulations[key]
    result = simulate(design, trials, seed, hazard_ratio=hazard_ratio, chunk_size=DEFAULT_CHUNK_SIZE)
    with _simulations_lock:  # two requests may have run the same one at once: either result is the same
        _simulations[key] = result
        _simulations.move_to_end(key)
        while len(_simulations) > SIMULATION_CACHE_SIZE:
            _simulations.popitem(last=False)
    return result
