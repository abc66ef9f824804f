"""What a design simulation reports: Monte Carlo estimates with their standard errors, per look and overall; and
the defaults it runs with (light: the CLI's options read them without loading numpy's simulation code)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# The one home of the simulation's defaults: `trialdesk simulate`, the API and /ops/design all take them from here.
DEFAULT_SEED = 20250623
DEFAULT_TRIALS = 10_000
DEFAULT_CHUNK_SIZE = 256
# Independent streams of one seed. A scenario simulated on its own (:func:`trialdesk.stats.simulate.simulate`, as the
# web does) draws from the alternative stream, so it equals `operating_characteristics(...).alternative` (the CLI's
# power) for the same seed, trials and chunk size.
ALTERNATIVE_STREAM = 1
NULL_STREAM = 2


class Estimate(BaseModel):
    """A Monte Carlo estimate with its standard error."""

    model_config = ConfigDict(frozen=True)

    value: float
    mc_se: float


class LookSimulation(BaseModel):
    """Simulated operating characteristics of one look."""

    model_config = ConfigDict(frozen=True)

    look: int
    information_fraction: float
    planned_events: int
    efficacy_z: float
    futility_z: float | None
    reached_probability: float
    reject_probability: Estimate
    futility_probability: Estimate
    mean_time_months: float | None
    mean_enrolled: float | None


class SimulationResult(BaseModel):
    """Operating characteristics of a design under one hazard ratio, by simulation."""

    model_config = ConfigDict(frozen=True)

    hazard_ratio: float | None
    n_trials: int
    seed: int | None
    chunk_size: int
    rejection_probability: Estimate
    looks: list[LookSimulation]
    expected_events: Estimate
    expected_duration_months: Estimate
    expected_sample_size: Estimate
    hazard_ratio_estimate_quantiles: dict[str, float]
    hazard_ratio_estimate_mean: float
    analysis_time_quantiles: dict[str, float]
    analysis_time_histogram: dict[str, list[float]]
    target_not_reached_probability: float


class OperatingCharacteristics(BaseModel):
    """Power (at the design's hazard ratio) and type I error (same design at HR 1), by simulation."""

    model_config = ConfigDict(frozen=True)

    alternative: SimulationResult
    null: SimulationResult

    @property
    def power(self) -> Estimate:
        return self.alternative.rejection_probability

    @property
    def type_i_error(self) -> Estimate:
        return self.null.rejection_probability
