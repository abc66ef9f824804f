"""Design use cases: closed-form answers and simulation of the trial's design, from the stored protocol."""

from __future__ import annotations

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


def simulate_design(
    design: DesignSpec, *, trials: int, hazard_ratio: float | None, seed: int = DEFAULT_SEED
) -> SimulationResult:
    """Run the simulation (outside any transaction: it reads nothing from the database).

    Equal to ``trialdesk simulate``'s alternative (its power) for the same seed, trials and hazard ratio."""
    from trialdesk.stats.simulate import simulate

    if not 100 <= trials <= MAX_WEB_TRIALS:
        raise InvalidInput(f"must be between 100 and {MAX_WEB_TRIALS}", field="trials")
    _check_hazard_ratio(hazard_ratio)
    return simulate(design, trials, seed, hazard_ratio=hazard_ratio, chunk_size=DEFAULT_CHUNK_SIZE)
