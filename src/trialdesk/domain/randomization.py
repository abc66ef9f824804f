"""Randomization: the protocol's scheme and the verifiable, concealed allocation list.

Three schemes are supported, chosen by :attr:`RandomizationSpec.scheme`:

``blocks``
    Stratified permuted blocks. Each stratum (one level of every stratification factor, plus the site when
    ``site_as_factor``) has its own sequence of blocks. Every block's size is drawn from ``block_sizes`` and the
    block holds the arms in exact proportion to their ``ratio``. Blocks are derived from a secret seed, see
    :func:`generate_stratum_blocks`.
``minimization``
    Pocock–Simon minimization with a biased coin, see :mod:`trialdesk.domain.minimization`.
``simple``
    Independent draws with probabilities proportional to the arms' ratios, see :func:`simple_assign`.

The allocation list is reproducible from ``(spec, seed)`` alone: block ``b`` of stratum ``s`` is a pure function of
``HMAC-SHA256(seed, "trialdesk/blocks/v1|<spec.version>|<s>|<b>")``. Extending a stratum that ran out therefore
yields the same blocks whatever was generated before, and ``verify`` can regenerate the list and compare its
SHA-256 :func:`commitment`. Arms are stored sealed (:func:`seal_arm`) so that the table alone does not reveal the
upcoming assignments.

This module is pure: no I/O, no clock, no global random state. Randomness comes in as a seed (``bytes``) or as a
uniform source with a ``random()`` method (a :class:`numpy.random.Generator` or :class:`HmacStream`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol as TypingProtocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.errors import IntegrityError, InvalidInput

__all__ = [
    "Arm",
    "StratificationFactor",
    "MinimizationSettings",
    "RandomizationSpec",
    "Slot",
    "HmacStream",
    "UniformSource",
    "SITE_FACTOR",
    "UNSTRATIFIED",
    "MIN_SEED_BYTES",
    "stratum_key",
    "parse_stratum_key",
    "all_strata",
    "generate_stratum_blocks",
    "commitment",
    "spec_digest",
    "derive_key",
    "seal_arm",
    "open_arm",
    "simple_assign",
    "BalanceRow",
    "balance_table",
]

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
        default=None,
        description="Expected share of each level; used only by scheme simulation. Uniform when absent.",
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
                raise ValueError(
                    f"prevalence keys {sorted(self.prevalence)} must equal levels {sorted(self.levels)}"
                )
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

    version: str = Field(default="1", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$",
                         description="Spec version; part of every block's HMAC message.")
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


# --------------------------------------------------------------------------------------------------------------
# Strata
# --------------------------------------------------------------------------------------------------------------


def stratum_key(levels: Mapping[str, str], spec: RandomizationSpec | None = None) -> str:
    """Canonical key of a stratum: ``"factor=level|factor=level"`` sorted by factor name.

    Parameters
    ----------
    levels
        Factor name -> level. Include ``"site"`` when the spec has ``site_as_factor`` (blocks scheme).
    spec
        When given, the factors must be exactly the spec's factors (plus ``site`` if ``site_as_factor``)
        and each level one of the factor's levels.

    Returns
    -------
    str
        ``"*"`` (:data:`UNSTRATIFIED`) when there are no factors.
    """
    for name, level in levels.items():
        if not isinstance(name, str) or not re.match(_IDENT, name):
            raise InvalidInput(f"factor name {name!r} must match {_IDENT}", field="levels")
        if not isinstance(level, str) or not _LEVEL.match(level):
            raise InvalidInput(f"level {level!r} of factor {name!r} must match {_LEVEL.pattern}", field=f"levels.{name}")
    if spec is not None:
        expected = {f.name for f in spec.factors} | ({SITE_FACTOR} if spec.site_as_factor else set())
        if set(levels) != expected:
            missing, extra = sorted(expected - set(levels)), sorted(set(levels) - expected)
            raise InvalidInput(f"factors must be {sorted(expected)}; missing {missing}, unexpected {extra}",
                               field="levels")
        for f in spec.factors:
            if levels[f.name] not in f.levels:
                raise InvalidInput(f"{levels[f.name]!r} is not a level of {f.name} {list(f.levels)}",
                                   field=f"levels.{f.name}")
    if not levels:
        return UNSTRATIFIED
    return "|".join(f"{name}={levels[name]}" for name in sorted(levels))


def parse_stratum_key(key: str) -> dict[str, str]:
    """Inverse of :func:`stratum_key`."""
    if key == UNSTRATIFIED:
        return {}
    out: dict[str, str] = {}
    for part in key.split("|"):
        name, sep, level = part.partition("=")
        if not sep or name in out:
            raise InvalidInput(f"malformed stratum key {key!r}", field="stratum_key")
        out[name] = level
    if stratum_key(out) != key:
        raise InvalidInput(f"stratum key {key!r} is not canonical (expected {stratum_key(out)!r})",
                           field="stratum_key")
    return out


def all_strata(spec: RandomizationSpec, sites: Sequence[str] = ()) -> list[str]:
    """Every stratum key of the spec (cartesian product of levels; times ``sites`` when ``site_as_factor``)."""
    axes: list[tuple[str, Sequence[str]]] = [(f.name, f.levels) for f in spec.factors]
    if spec.site_as_factor:
        if not sites:
            raise InvalidInput("site_as_factor is set: the list of site ids is needed", field="sites")
        axes.append((SITE_FACTOR, list(sites)))
    names = [name for name, _ in axes]
    return [stratum_key(dict(zip(names, combo))) for combo in itertools.product(*(lv for _, lv in axes))]


# --------------------------------------------------------------------------------------------------------------
# Deterministic randomness from the seed
# --------------------------------------------------------------------------------------------------------------


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, (bytes, bytearray)):
        raise InvalidInput(f"must be bytes, got {type(seed).__name__}", field="seed")
    if len(seed) < MIN_SEED_BYTES:
        raise InvalidInput(f"must be at least {MIN_SEED_BYTES} bytes, got {len(seed)}", field="seed")


class HmacStream:
    """Deterministic stream of random bytes: ``HMAC-SHA256(key, label || 0x00 || counter_be64)`` for counter 0, 1, ...

    The construction is fully specified so that an independent verifier can reproduce every draw.

    Parameters
    ----------
    key
        Secret key (the randomization seed).
    label
        Domain-separation label, e.g. ``"trialdesk/blocks/v1|1|hr_status=positive|3"``.
    """

    def __init__(self, key: bytes, label: str) -> None:
        self._key = bytes(key)
        self._label = label.encode("utf-8") + b"\x00"
        self._counter = 0
        self._buffer = b""

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        while len(self._buffer) < n:
            msg = self._label + self._counter.to_bytes(8, "big")
            self._buffer += hmac.new(self._key, msg, hashlib.sha256).digest()
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def randbelow(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` by rejection sampling (no modulo bias)."""
        if n < 1:
            raise InvalidInput(f"must be >= 1, got {n}", field="n")
        if n == 1:
            return 0
        bits = (n - 1).bit_length()
        nbytes = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            value = int.from_bytes(self.bytes(nbytes), "big") & mask
            if value < n:
                return value

    def random(self) -> float:
        """Uniform float in [0, 1) with 53 random bits."""
        return (int.from_bytes(self.bytes(7), "big") >> 3) / float(1 << 53)


def derive_key(seed: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (e.g. ``"seal"``) derived from the seed: ``HMAC-SHA256(seed, label)``."""
    _check_seed(seed)
    return hmac.new(bytes(seed), f"trialdesk/key/v1|{purpose}".encode(), hashlib.sha256).digest()


# --------------------------------------------------------------------------------------------------------------
# The allocation list
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of the allocation list.

    Attributes
    ----------
    stratum : str
        Stratum key (:func:`stratum_key`).
    block_index : int
        0-based index of the block within its stratum.
    position : int
        0-based position within the block.
    block_size : int
        Size of the block this slot belongs to.
    arm : str
        Arm id. Store it sealed (:func:`seal_arm`), never in clear.
    """

    stratum: str
    block_index: int
    position: int
    block_size: int
    arm: str

    @property
    def slot_id(self) -> str:
        """Stable identifier ``"<stratum>#<block>.<position>"``; also the AAD when sealing."""
        return f"{self.stratum}#{self.block_index}.{self.position}"


def _block_arms(spec: RandomizationSpec, size: int) -> list[str]:
    per_unit = size // spec.ratio_total
    return [a.id for a in spec.arms for _ in range(a.ratio * per_unit)]


def generate_stratum_blocks(
    spec: RandomizationSpec, seed: bytes, stratum_key: str, start_block: int, n_blocks: int
) -> list[Slot]:
    """Blocks ``start_block .. start_block + n_blocks - 1`` of one stratum.

    Block ``b`` depends only on ``(seed, spec.version, stratum_key, b)``: its size is
    ``block_sizes[randbelow(len(block_sizes))]`` and its order a Fisher–Yates shuffle of the arms in ratio
    proportion (``j = randbelow(i + 1)`` for ``i = size-1 .. 1``), all drawn from
    ``HmacStream(seed, "trialdesk/blocks/v1|<version>|<stratum_key>|<b>")``.

    Parameters
    ----------
    spec
        A spec with ``scheme == "blocks"``.
    seed
        Secret seed, at least :data:`MIN_SEED_BYTES` bytes.
    stratum_key
        Canonical stratum key (:func:`stratum_key`); checked to be canonical.
    start_block, n_blocks
        Range of block indices to generate (``start_block >= 0``, ``n_blocks >= 0``).

    Returns
    -------
    list[Slot]
        In list order (block, then position).
    """
    _check_seed(seed)
    if spec.scheme != "blocks":
        raise InvalidInput(f"scheme is {spec.scheme!r}; an allocation list needs scheme 'blocks'", field="scheme")
    parse_stratum_key(stratum_key)  # canonical check
    for name, value in (("start_block", start_block), ("n_blocks", n_blocks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"must be a non-negative integer, got {value!r}", field=name)
    slots: list[Slot] = []
    for b in range(start_block, start_block + n_blocks):
        stream = HmacStream(seed, f"{_BLOCK_LABEL}|{spec.version}|{stratum_key}|{b}")
        size = spec.block_sizes[stream.randbelow(len(spec.block_sizes))]
        arms = _block_arms(spec, size)
        for i in range(size - 1, 0, -1):
            j = stream.randbelow(i + 1)
            arms[i], arms[j] = arms[j], arms[i]
        slots.extend(Slot(stratum_key, b, pos, size, arm) for pos, arm in enumerate(arms))
    return slots


def spec_digest(spec: RandomizationSpec) -> str:
    """SHA-256 (hex) of :meth:`RandomizationSpec.canonical_json`."""
    return hashlib.sha256(spec.canonical_json().encode("utf-8")).hexdigest()


def commitment(spec: RandomizationSpec, slots: Sequence[Slot]) -> str:
    """SHA-256 commitment (hex) of the spec and the allocation list.

    The hashed document is the UTF-8 of ``json.dumps({"spec": <spec as JSON>, "slots": [[stratum, block_index,
    position, block_size, arm], ...]}, sort_keys=True, separators=(",", ":"))`` with the slots sorted by
    ``(stratum, block_index, position)``, so the commitment does not depend on the order rows are read in.
    Duplicate slots are an error.
    """
    rows = sorted((s.stratum, s.block_index, s.position, s.block_size, s.arm) for s in slots)
    for a, b in itertools.pairwise(rows):
        if a[:3] == b[:3]:
            raise InvalidInput(f"slot {a[0]}#{a[1]}.{a[2]} appears twice", field="slots")
    unknown = {r[4] for r in rows} - set(spec.arm_ids)
    if unknown:
        raise InvalidInput(f"arms {sorted(unknown)} are not arms of the spec", field="slots")
    doc = {"spec": spec.model_dump(mode="json"), "slots": [list(r) for r in rows]}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Concealment
# --------------------------------------------------------------------------------------------------------------


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise InvalidInput("must be 32 bytes (AES-256), e.g. derive_key(seed, 'seal')", field="key")


def seal_arm(key: bytes, slot_id: str, arm: str) -> bytes:
    """Encrypt an arm id for storage: AES-256-GCM, AAD = ``slot_id``.

    The plaintext is the arm id zero-padded to 32 bytes, so all tokens have the same length (60 bytes:
    12-byte nonce, 32-byte ciphertext, 16-byte tag) whatever the arm. The nonce is
    ``HMAC-SHA256(key, "nonce|" + slot_id)[:12]``: unique per slot, and a slot is sealed with one arm only.
    The AAD binds the token to its slot, so tokens cannot be swapped between rows.
    """
    _check_key(key)
    raw = arm.encode("utf-8")
    if not re.match(_IDENT, arm) or len(raw) > _ARM_PLAINTEXT_BYTES:
        raise InvalidInput(f"arm id {arm!r} must match {_IDENT}", field="arm")
    nonce = hmac.new(bytes(key), b"nonce|" + slot_id.encode("utf-8"), hashlib.sha256).digest()[:12]
    return nonce + AESGCM(bytes(key)).encrypt(nonce, raw.ljust(_ARM_PLAINTEXT_BYTES, b"\x00"), slot_id.encode("utf-8"))


def open_arm(key: bytes, slot_id: str, token: bytes) -> str:
    """Decrypt a token made by :func:`seal_arm`; :class:`IntegrityError` if it was altered or moved."""
    _check_key(key)
    if not isinstance(token, (bytes, bytearray)) or len(token) != 12 + _ARM_PLAINTEXT_BYTES + 16:
        raise IntegrityError(f"sealed arm of slot {slot_id!r} has the wrong length")
    try:
        raw = AESGCM(bytes(key)).decrypt(bytes(token[:12]), bytes(token[12:]), slot_id.encode("utf-8"))
    except InvalidTag:
        raise IntegrityError(f"sealed arm of slot {slot_id!r} failed authentication (altered, moved or wrong key)") \
            from None
    return raw.rstrip(b"\x00").decode("utf-8")


# --------------------------------------------------------------------------------------------------------------
# Simple randomization
# --------------------------------------------------------------------------------------------------------------


def simple_assign(spec: RandomizationSpec, rng: UniformSource) -> str:
    """One draw with ``P(arm) = ratio / sum(ratios)``: arm ``j`` when ``C_{j-1} <= u * T < C_j``.

    ``u = rng.random()``, ``C_j`` the cumulative ratios and ``T`` their total.
    """
    u = float(rng.random())
    if not 0.0 <= u < 1.0:
        raise InvalidInput(f"rng.random() returned {u}, outside [0, 1)", field="rng")
    scaled = u * spec.ratio_total
    cumulative = 0
    for arm in spec.arms:
        cumulative += arm.ratio
        if scaled < cumulative:
            return arm.id
    return spec.arms[-1].id  # unreachable for u < 1


# --------------------------------------------------------------------------------------------------------------
# Balance report
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """Counts by arm in one cell of the arm x stratum x site report.

    ``stratum`` or ``site`` is ``"*"`` in margin rows (all strata, all sites). ``imbalance`` is
    ``max_j n_j / r_j - min_j n_j / r_j`` (``|n_A - n_B|`` for 1:1).
    """

    stratum: str
    site: str
    counts: dict[str, int]
    imbalance: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def balance_table(spec: RandomizationSpec, assignments: Iterable[tuple[str, str, str]]) -> list[BalanceRow]:
    """Arm counts by stratum x site, with stratum margins, site margins and the grand total.

    Parameters
    ----------
    spec
        The randomization spec (arms and ratios).
    assignments
        ``(stratum_key, site_id, arm_id)`` of every subject randomized.

    Returns
    -------
    list[BalanceRow]
        Cells sorted by (stratum, site), then rows ``(stratum, "*")``, then ``("*", site)``, then ``("*", "*")``.
    """
    arm_ids = spec.arm_ids
    cells: dict[tuple[str, str], dict[str, int]] = {}
    for index, (stratum, site, arm) in enumerate(assignments):
        if arm not in arm_ids:
            raise InvalidInput(f"unknown arm {arm!r}; arms are {list(arm_ids)}", field=f"assignments[{index}].arm")
        cell = cells.setdefault((stratum, site), dict.fromkeys(arm_ids, 0))
        cell[arm] += 1

    def row(stratum: str, site: str, keys: list[tuple[str, str]]) -> BalanceRow:
        counts = {a: sum(cells[k][a] for k in keys) for a in arm_ids}
        scaled = [counts[a.id] / a.ratio for a in spec.arms]
        return BalanceRow(stratum, site, counts, max(scaled) - min(scaled))

    keys = sorted(cells)
    rows = [row(s, t, [(s, t)]) for s, t in keys]
    rows += [row(s, "*", [k for k in keys if k[0] == s]) for s in sorted({k[0] for k in keys})]
    rows += [row("*", t, [k for k in keys if k[1] == t]) for t in sorted({k[1] for k in keys})]
    rows.append(row("*", "*", keys))
    return rows
