"""The statistical design of a time-to-event trial (protocol section ``operations.design``).

A :class:`DesignSpec` says how many subjects are randomized and in what ratio, how they accrue, how the
primary endpoint (progression-free survival) is distributed in each :class:`Arm`, how subjects drop out, how
randomization is stratified, when the event-driven analyses happen and which alpha-spending function guards
them. It holds numbers and rules only; the numerics live in :mod:`trialdesk.stats.design` (closed form),
:mod:`trialdesk.stats.group_sequential` (boundaries) and :mod:`trialdesk.stats.simulate` (Monte Carlo).

Conventions
-----------
- Time is in **months** from the first randomization (calendar time) or from a subject's randomization
  (study time).
- ``hazard_ratio`` is experimental : control. Values below 1 favour the experimental arm.
- ``alpha`` is **one-sided**; the test rejects for large ``Z = -(O - E) / sqrt(V)`` of the stratified log-rank
  statistic, i.e. for fewer events than expected on the experimental arm.
- ``allocation_ratio`` is experimental : control (``1`` for 1:1, ``2`` for 2:1).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from trialdesk.domain.assumptions import AssumptionMap


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------------- accrual
class UniformAccrual(_Strict):
    """Subjects accrue at a constant rate until the sample size is reached after ``duration`` months."""

    kind: Literal["uniform"] = "uniform"
    duration: PositiveFloat = Field(description="Months from first to last randomization.")


def _check_steps(
    starts: list[float],
    values: list[float],
    name: str,
    *,
    per: str,
    last_rule: str,
    match_note: str = "",
    first_note: str = "",
) -> None:
    """Check a step function of time: ``values[i]`` from month ``starts[i]``.

    Piecewise accrual rates and piecewise hazards are both such functions, so they share one set of checks: as
    many values as starts, the first start at month 0, starts strictly increasing, no negative value and a last
    value above 0 (``last_rule`` says why it must be). The notes complete the messages each model has always given.
    """
    if len(starts) != len(values):
        raise ValueError(f"starts has {len(starts)} entries but {name} has {len(values)}{match_note}")
    if starts[0] != 0:
        raise ValueError(f"starts[0] must be 0{first_note}, got {starts[0]}")
    for i in range(1, len(starts)):
        if not starts[i] > starts[i - 1]:
            raise ValueError(f"starts must increase strictly; starts[{i}]={starts[i]} <= {starts[i - 1]}")
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must be >= 0 {per}")
    if not values[-1] > 0:
        raise ValueError(last_rule)


class PiecewiseAccrual(_Strict):
    """Piecewise-constant accrual rates (subjects per month); the last rate runs until the sample size is met.

    ``starts[i]`` is the month at which ``rates[i]`` begins; ``starts[0]`` must be 0 (rpact's ``accrualTime`` /
    ``accrualIntensity`` with absolute intensities).
    """

    kind: Literal["piecewise"] = "piecewise"
    starts: list[float] = Field(min_length=1)
    rates: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PiecewiseAccrual:
        _check_steps(
            self.starts,
            self.rates,
            "rates",
            per="subjects per month",
            match_note="; they must match",
            first_note=" (month of the first randomization)",
            last_rule="the last accrual rate must be > 0, otherwise accrual never ends",
        )
        return self


class RampUpAccrual(_Strict):
    """Sites activate one after another, evenly over ``activation_months``; each then accrues ``rate_per_site``.

    The total accrual intensity rises linearly from 0 to ``sites * rate_per_site`` over the activation period and
    stays there until the sample size is reached.
    """

    kind: Literal["ramp_up"] = "ramp_up"
    sites: int = Field(ge=1)
    activation_months: PositiveFloat
    rate_per_site: PositiveFloat = Field(description="Subjects per site per month once the site is open.")


Accrual = Annotated[UniformAccrual | PiecewiseAccrual | RampUpAccrual, Field(discriminator="kind")]


# ------------------------------------------------------------------------------------------ survival (PFS)
class ExponentialSurvival(_Strict):
    """Constant hazard ``log(2) / median``."""

    kind: Literal["exponential"] = "exponential"
    median: PositiveFloat = Field(description="Median PFS in months.")


class PiecewiseExponentialSurvival(_Strict):
    """Hazard ``hazards[i]`` (per month) from month ``starts[i]``; ``starts[0]`` must be 0."""

    kind: Literal["piecewise_exponential"] = "piecewise_exponential"
    starts: list[float] = Field(min_length=1)
    hazards: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PiecewiseExponentialSurvival:
        _check_steps(
            self.starts,
            self.hazards,
            "hazards",
            per="per month",
            last_rule="the last hazard must be > 0 so that every subject eventually progresses",
        )
        return self


class WeibullSurvival(_Strict):
    """Cumulative hazard ``log(2) * (t / median) ** shape`` (shape 1 is exponential)."""

    kind: Literal["weibull"] = "weibull"
    median: PositiveFloat
    shape: PositiveFloat


Survival = Annotated[ExponentialSurvival | PiecewiseExponentialSurvival | WeibullSurvival, Field(discriminator="kind")]


# ------------------------------------------------------------------------------------ dropout and strata
class Dropout(_Strict):
    """Exponential loss to follow-up: a fraction ``rate`` of subjects drop out by month ``time`` (both arms)."""

    rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    time: PositiveFloat = 12.0

    @property
    def hazard(self) -> float:
        """Dropout hazard per month, ``-log(1 - rate) / time``."""
        return -math.log1p(-self.rate) / self.time


class StratificationFactor(_Strict):
    """A binary randomization factor: ``prevalence`` of level 1, with a prognostic hazard multiplier.

    ``hazard_ratio`` multiplies the PFS hazard of subjects at level 1 (both arms). With 1 (the default) the factor
    is not prognostic and the arm-level medians are population medians.
    """

    name: str = Field(min_length=1)
    prevalence: float = Field(gt=0.0, lt=1.0)
    hazard_ratio: PositiveFloat = 1.0


# ------------------------------------------------------------------------------------------------ design
class DesignSpec(_Strict):
    """Statistical design of the trial (see module docstring for conventions)."""

    sample_size: int = Field(ge=2, description="Subjects randomized in total.")
    allocation_ratio: PositiveFloat = Field(default=1.0, description="Experimental : control.")
    accrual: Accrual
    entry_times: Literal["random", "planned"] = Field(
        default="random",
        description=(
            "Simulation only. 'random': randomization months are i.i.d. from the accrual distribution; 'planned': "
            "the i-th subject enters exactly when planned accrual reaches i subjects, Arms interleaved in the "
            "allocation ratio (as rpact's getSimulationSurvival does)."
        ),
    )
    control: Survival = Field(description="PFS distribution on the control Arm.")
    hazard_ratio: PositiveFloat | None = Field(
        default=None, description="Experimental : control hazard ratio (proportional hazards)."
    )
    experimental: Survival | None = Field(
        default=None, description="PFS distribution on the experimental Arm, when not given by a hazard ratio."
    )
    dropout: Dropout = Field(default_factory=Dropout)
    strata: list[StratificationFactor] = Field(default_factory=list, max_length=6)
    alpha: float = Field(default=0.025, gt=0.0, lt=0.5, description="One-sided significance level.")
    power: float = Field(default=0.9, gt=0.0, lt=1.0, description="Target power used to size the trial.")
    target_events: int = Field(ge=1, description="PFS events that trigger the final analysis.")
    interim_information_fractions: list[float] = Field(
        default_factory=list, description="Events at each interim look as a fraction of target_events."
    )
    spending: Literal["obrien_fleming", "pocock"] = Field(
        default="obrien_fleming", description="Lan-DeMets alpha-spending function."
    )
    futility_z: list[float] | None = Field(
        default=None, description="Non-binding futility bound on the Z scale at each interim look (stop if Z < bound)."
    )
    assumptions: AssumptionMap = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> DesignSpec:
        if (self.hazard_ratio is None) == (self.experimental is None):
            raise ValueError("give exactly one of hazard_ratio (proportional hazards) or experimental (a distribution)")
        if self.target_events > self.sample_size:
            raise ValueError(f"target_events ({self.target_events}) exceeds sample_size ({self.sample_size})")
        fractions = self.interim_information_fractions
        for i, t in enumerate(fractions):
            if not 0.0 < t < 1.0:
                raise ValueError(f"interim_information_fractions[{i}]={t} must lie strictly between 0 and 1")
            if i and not t > fractions[i - 1]:
                raise ValueError("interim_information_fractions must increase strictly")
        if self.futility_z is not None and len(self.futility_z) != len(fractions):
            raise ValueError(
                f"futility_z has {len(self.futility_z)} bounds but there are {len(fractions)} interim looks"
            )
        n_exp, n_ctl = self.arm_sizes
        if n_exp < 1 or n_ctl < 1:
            raise ValueError(f"allocation_ratio {self.allocation_ratio} leaves an arm without subjects")
        events = self.look_events
        if len(set(events)) != len(events) or events[0] < 1:
            raise ValueError(f"interim looks at {events} events are not distinct positive counts")
        return self

    # ------------------------------------------------------------------------------------ derived rules
    @property
    def arm_sizes(self) -> tuple[int, int]:
        """(experimental, control) subjects: the experimental share rounded to the nearest subject."""
        n_exp = int(round(self.sample_size * self.allocation_ratio / (1.0 + self.allocation_ratio)))
        return n_exp, self.sample_size - n_exp

    @property
    def information_fractions(self) -> list[float]:
        """Planned information fractions of all looks, the final analysis (1.0) included."""
        return [*self.interim_information_fractions, 1.0]

    @property
    def look_events(self) -> list[int]:
        """Events that trigger each look: ``round(fraction * target_events)``, the final look last."""
        return [int(round(t * self.target_events)) for t in self.interim_information_fractions] + [self.target_events]

    @property
    def planning_hazard_ratio(self) -> float | None:
        """The hazard ratio the closed-form calculations use, or None when hazards are not proportional."""
        if self.hazard_ratio is not None:
            return self.hazard_ratio
        c, e = self.control, self.experimental
        if isinstance(c, ExponentialSurvival) and isinstance(e, ExponentialSurvival):
            return c.median / e.median
        if isinstance(c, WeibullSurvival) and isinstance(e, WeibullSurvival) and c.shape == e.shape:
            ratio: float = (c.median / e.median) ** c.shape
            return ratio
        return None

    def with_hazard_ratio(self, hazard_ratio: float) -> DesignSpec:
        """The same design with a proportional-hazards experimental arm at ``hazard_ratio``."""
        data = self.model_dump()
        data.update(hazard_ratio=hazard_ratio, experimental=None)
        return DesignSpec.model_validate(data)

    def with_target_events(self, target_events: int) -> DesignSpec:
        """The same design with another event count for the final analysis."""
        data = self.model_dump()
        data.update(target_events=target_events)
        return DesignSpec.model_validate(data)
