"""The protocol's randomization section: arms, stratification factors, minimization settings and the spec.

Part of :mod:`trialdesk.domain.randomization` (see there for the schemes and the reproducible list).
"""

from __future__ import annotations

import json
import re
import string
from typing import Literal
from typing import Protocol as TypingProtocol

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.errors import InvalidInput

SITE_FACTOR = "site"
"""Name of the site pseudo-factor in stratum keys and minimization counts."""

UNSTRATIFIED = "*"
"""Stratum key of a spec without stratification factors."""

MIN_SEED_BYTES = 16
"""Shortest accepted secret seed (128 bits)."""

_IDENT = r"^[a-z][a-z0-9_]{0,31}$"
_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_ARM_PLAINTEXT_BYTES = 32  # arm ids are padded to this length before sealing, so ciphertext length hides the arm
_BLOCK_LABEL = "trialdesk/blocks/v1"


class UniformSource(TypingProtocol):
    """Anything with ``random() -> float`` uniform on [0, 1): a numpy ``Generator`` or :class:`HmacStream`."""

    def random(self) -> float:  # pragma: no cover - protocol
        ...


# --------------------------------------------------------------------------------------------------------------
# Protocol section
# --------------------------------------------------------------------------------------------------------------


class Arm(BaseModel):
    """A treatment arm as randomization sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_IDENT, description="Operational arm id, e.g. 'tqb2102'; matches registry arm_groups[].id.")
    label: str = Field(min_length=1, description="Registry arm group label.")
    ratio: PositiveInt = Field(default=1, description="Allocation weight; 1 and 1 give 1:1.")


class StratificationFactor(BaseModel):
    """A stratification (or minimization) factor derived from the screening record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_IDENT)
    levels: tuple[str, ...] = Field(min_length=2)
    derive: str = Field(
        pattern=_IDENT,
        description="Name of the derived quantity of the screening record (computed by the eligibility engine).",
    )
    weight: float = Field(default=1.0, gt=0, description="Minimization weight w_i of this factor.")
    prevalence: dict[str, float] | None = Field(
        default=None, description="Expected share of each level; used only by scheme simulation. Uniform when absent."
    )

    @field_validator("levels")
    @classmethod
    def _levels_ok(cls, levels: tuple[str, ...]) -> tuple[str, ...]:
        for level in levels:
            if not _LEVEL.match(level):
                raise ValueError(f"level {level!r} must match {_LEVEL.pattern}")
        if len(set(levels)) != len(levels):
            raise ValueError(f"levels must be unique, got {list(levels)}")
        return levels

    @model_validator(mode="after")
    def _prevalence_ok(self) -> StratificationFactor:
        if self.name == SITE_FACTOR:
            raise ValueError(f"factor name {SITE_FACTOR!r} is reserved; use site_as_factor")
        if self.prevalence is not None:
            if set(self.prevalence) != set(self.levels):
                raise ValueError(f"prevalence keys {sorted(self.prevalence)} must equal levels {sorted(self.levels)}")
            if any(p < 0 for p in self.prevalence.values()) or abs(sum(self.prevalence.values()) - 1) > 1e-9:
                raise ValueError("prevalence values must be >= 0 and sum to 1")
        return self

    def level_probabilities(self) -> list[float]:
        """Prevalence of each level in ``levels`` order (uniform when not configured)."""
        if self.prevalence is None:
            return [1.0 / len(self.levels)] * len(self.levels)
        return [self.prevalence[level] for level in self.levels]


class MinimizationSettings(BaseModel):
    """Pocock–Simon settings: imbalance measure, biased-coin probability, site weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    imbalance: Literal["range", "variance"] = "range"
    p_best: float = Field(default=0.8, gt=0, le=1, description="Probability of the arm that minimizes imbalance.")
    site_weight: float = Field(default=1.0, gt=0, description="Weight of the site factor when site_as_factor.")


class RandomizationSpec(BaseModel):
    """The ``operations.randomization`` section of a protocol."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(
        default="1",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$",
        description="Spec version; part of every block's HMAC message.",
    )
    scheme: Literal["blocks", "minimization", "simple"] = "blocks"
    arms: tuple[Arm, ...] = Field(
        default=(
            Arm(id="tqb2102", label="TQB2102 for Injection", ratio=1),
            Arm(id="thp", label="Docetaxel combined + Trastuzumab +Pertuzumab", ratio=1),
        ),
        min_length=2,
    )
    block_sizes: tuple[PositiveInt, ...] = (2, 4, 6)
    factors: tuple[StratificationFactor, ...] = ()
    site_as_factor: bool = False
    minimization: MinimizationSettings = Field(default_factory=MinimizationSettings)
    enrollment_cap: PositiveInt = 642
    number_format: str = Field(default="R-{n:04d}", description="Randomization number; '{n}' is 1, 2, 3...")
    assumptions: AssumptionMap = Field(default_factory=dict)

    @field_validator("number_format")
    @classmethod
    def _format_ok(cls, value: str) -> str:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        if fields != ["n"]:
            raise ValueError(f"number_format must contain exactly one '{{n...}}' field, got {value!r}")
        try:
            value.format(n=1)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"number_format {value!r} does not format an integer: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RandomizationSpec:
        ids = [a.id for a in self.arms]
        if len(set(ids)) != len(ids):
            raise ValueError(f"arms: ids must be unique, got {ids}")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError(f"factors: names must be unique, got {names}")
        if self.scheme == "blocks":
            if not self.block_sizes:
                raise ValueError("block_sizes: at least one block size is needed for scheme 'blocks'")
            total = self.ratio_total
            bad = [b for b in self.block_sizes if b % total]
            if bad:
                raise ValueError(
                    f"block_sizes: {bad} not a multiple of the ratio total {total} "
                    f"({':'.join(str(a.ratio) for a in self.arms)})"
                )
        if len(set(self.block_sizes)) != len(self.block_sizes):
            raise ValueError(f"block_sizes: sizes must be unique, got {list(self.block_sizes)}")
        if self.scheme == "minimization" and self.minimization.p_best < 1.0 / len(self.arms):
            raise ValueError(
                f"minimization.p_best: {self.minimization.p_best} is below 1/{len(self.arms)}; "
                "the preferred arm would be disfavoured"
            )
        unknown = set(self.assumptions) - set(type(self).model_fields) - _assumption_paths(self)
        if unknown:
            raise ValueError(f"assumptions: keys {sorted(unknown)} name no field of this section")
        return self

    # -- derived -------------------------------------------------------------------------------------------------

    @property
    def arm_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.arms)

    @property
    def ratios(self) -> tuple[int, ...]:
        return tuple(a.ratio for a in self.arms)

    @property
    def ratio_total(self) -> int:
        return sum(self.ratios)

    def arm_index(self, arm_id: str) -> int:
        """Position of ``arm_id`` in :attr:`arms`; :class:`InvalidInput` when unknown."""
        try:
            return self.arm_ids.index(arm_id)
        except ValueError:
            raise InvalidInput(f"unknown arm {arm_id!r}; arms are {list(self.arm_ids)}", field="arm") from None

    def factor(self, name: str) -> StratificationFactor:
        for f in self.factors:
            if f.name == name:
                return f
        raise InvalidInput(f"unknown factor {name!r}; factors are {[f.name for f in self.factors]}", field="factor")

    def randomization_number(self, n: int) -> str:
        """The ``n``-th randomization number (1-based), e.g. ``R-0001``; ``n`` may not exceed the cap."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInput(f"must be a positive integer, got {n!r}", field="n")
        if n > self.enrollment_cap:
            raise InvalidInput(f"{n} exceeds enrollment_cap {self.enrollment_cap}", field="n")
        return self.number_format.format(n=n)

    def canonical_json(self) -> str:
        """Canonical JSON of the spec (sorted keys, no spaces): what :func:`spec_digest` hashes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _assumption_paths(spec: RandomizationSpec) -> set[str]:
    """Dotted paths an assumption may document: nested fields, per-factor and per-arm entries."""
    paths = {f"minimization.{k}" for k in MinimizationSettings.model_fields}
    for f in spec.factors:
        paths.add(f"factors.{f.name}")
        paths.update(f"factors.{f.name}.{k}" for k in StratificationFactor.model_fields)
    for a in spec.arms:
        paths.add(f"arms.{a.id}")
        paths.update(f"arms.{a.id}.{k}" for k in Arm.model_fields)
    return paths
