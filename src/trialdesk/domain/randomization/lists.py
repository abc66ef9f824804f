"""The allocation list from the seed: deterministic randomness, blocks, the commitment, sealed arms, simple draws.

Part of :mod:`trialdesk.domain.randomization`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trialdesk.domain.errors import IntegrityError, InvalidInput
from trialdesk.domain.randomization.spec import (
    _ARM_PLAINTEXT_BYTES,
    _BLOCK_LABEL,
    _IDENT,
    MIN_SEED_BYTES,
    RandomizationSpec,
    UniformSource,
)
from trialdesk.domain.randomization.strata import parse_stratum_key

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
        raise IntegrityError(
            f"sealed arm of slot {slot_id!r} failed authentication (altered, moved or wrong key)"
        ) from None
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
