"""Verifying a list: regenerate it from the seed and compare it, its commitment and every allocation.

Part of :mod:`trialdesk.domain.randomization`. The service reads the stored list (its strata cursors, its sealed
slots and the allocations made) into the plain records below; these functions decide. Nothing here reads a
database: a verifier holding an export and the seed could run the same checks.

Draw-based schemes (minimization, simple) have no slots: the draw of the ``n``-th allocation is a pure function of
the seed (:func:`draw_stream`), so the allocations are replayed in randomization-number order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialdesk.domain import minimization as _minimization  # module import: minimization imports this package
from trialdesk.domain.errors import IntegrityError
from trialdesk.domain.randomization import lists
from trialdesk.domain.randomization.spec import RandomizationSpec

MINIMIZATION_LABEL = "trialdesk/minimization/v1"
SIMPLE_LABEL = "trialdesk/simple/v1"


def draw_stream(seed: bytes, spec: RandomizationSpec, n: int) -> lists.HmacStream:
    """The uniform source of the ``n``-th allocation of a minimization or simple list (from 1)."""
    label = MINIMIZATION_LABEL if spec.scheme == "minimization" else SIMPLE_LABEL
    return lists.HmacStream(seed, f"{label}|{spec.version}|{n}")


@dataclass(frozen=True)
class StratumState:
    """A stratum's cursor as stored: blocks and slots generated, blocks present at go-live, next slot to use."""

    stratum: str
    n_blocks: int
    n_slots: int
    initial_blocks: int
    next_seq: int


@dataclass(frozen=True)
class StoredSlot:
    """A stored slot of a blocks list: where it sits and its sealed arm (``id`` is the stored row's id)."""

    id: int
    stratum: str
    seq: int
    block_index: int
    position: int
    block_size: int
    sealed_arm: bytes


@dataclass(frozen=True)
class AllocationFact:
    """An allocation as stored: its slot (blocks), or its draw index ``n`` and factor levels (draw schemes)."""

    randomization_number: str
    arm: str
    stratum: str
    slot_id: int | None = None
    n: int = 0
    levels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ListVerification:
    """What :func:`verify_allocation_list` found: the problems and the counts of the report."""

    problems: list[str] = field(default_factory=list)
    strata: int = 0
    slots: int = 0
    extended_blocks: int = 0
    completed_blocks: int = 0


def regenerate(spec: RandomizationSpec, seed: bytes, stratum: str, n_blocks: int) -> list[lists.Slot]:
    """The first ``n_blocks`` blocks of a stratum, regenerated from the seed."""
    return lists.generate_stratum_blocks(spec, seed, stratum, 0, n_blocks) if n_blocks else []


def _by_stratum(slots: Sequence[StoredSlot]) -> dict[str, list[StoredSlot]]:
    out: dict[str, list[StoredSlot]] = defaultdict(list)
    for row in slots:
        out[row.stratum].append(row)
    return out


def check_go_live(
    spec: RandomizationSpec, seed: bytes, strata: Sequence[StratumState], slots: Sequence[StoredSlot]
) -> list[lists.Slot]:
    """Before go-live: every stored slot equals the slot regenerated from the seed (IntegrityError otherwise).
    Returns the regenerated slots, whose :func:`commitment` is recorded."""
    key = lists.derive_key(seed, "seal")
    by_stratum = _by_stratum(slots)
    out: list[lists.Slot] = []
    for st in strata:
        expected = regenerate(spec, seed, st.stratum, st.n_blocks)
        stored = by_stratum.get(st.stratum, [])
        if len(stored) != len(expected):
            raise IntegrityError(f"stratum {st.stratum}: {len(stored)} slots stored, {len(expected)} expected")
        for row, slot in zip(stored, expected, strict=False):
            if (row.block_index, row.position, row.block_size) != (
                slot.block_index,
                slot.position,
                slot.block_size,
            ) or lists.open_arm(key, slot.slot_id, row.sealed_arm) != slot.arm:
                raise IntegrityError(f"slot {slot.slot_id} does not match the list regenerated from the seed")
        out.extend(expected)
    return out


def verify_numbers(spec: RandomizationSpec, next_number: int, numbers: Sequence[str]) -> list[str]:
    """Randomization numbers are contiguous ``1 .. next_number-1``, one allocation each."""
    counts = Counter(numbers)
    expected = {spec.randomization_number(i) for i in range(1, next_number)} if next_number > 1 else set()
    if set(counts) != expected or any(c > 1 for c in counts.values()):
        missing = sorted(expected - set(counts))[:5]
        extra = sorted(set(counts) - expected)[:5]
        dup = sorted(k for k, c in counts.items() if c > 1)[:5]
        return [f"randomization numbers are not contiguous: missing {missing}, unexpected {extra}, duplicated {dup}"]
    return []


def verify_allocation_list(
    spec: RandomizationSpec,
    seed: bytes,
    *,
    list_id: int,
    next_number: int,
    committed: str | None,
    strata: Sequence[StratumState],
    slots: Sequence[StoredSlot],
    allocations: Sequence[AllocationFact],
) -> ListVerification:
    """Regenerate the list from ``seed`` and check it, the go-live commitment (``committed``, ``None`` before
    go-live) and every allocation.

    Checks: randomization numbers contiguous from the first; every stratum's stored slots equal the blocks
    regenerated from the seed (sealed arm, block, position, size, sequence); the commitment over the blocks
    present at go-live; extension blocks as deterministic regenerations; every allocation's arm equals its slot's
    arm, its stratum the slot's stratum; no slot used twice; slots used in sequence order without gaps (exactly
    ``0 .. next_seq-1`` per stratum). For minimization and simple schemes the draws are replayed from the seed in
    randomization-number order.
    """
    out = ListVerification(problems=verify_numbers(spec, next_number, [a.randomization_number for a in allocations]))
    if spec.scheme == "blocks":
        _verify_blocks(spec, seed, list_id, committed, strata, slots, allocations, out)
    else:
        out.problems += _verify_draws(spec, seed, allocations)
    return out


def _verify_blocks(
    spec: RandomizationSpec,
    seed: bytes,
    list_id: int,
    committed: str | None,
    strata: Sequence[StratumState],
    slots: Sequence[StoredSlot],
    allocations: Sequence[AllocationFact],
    out: ListVerification,
) -> None:
    problems = out.problems
    key = lists.derive_key(seed, "seal")
    stored_by_stratum = _by_stratum(slots)
    arm_of_slot: dict[int, tuple[str, str, int]] = {}  # slot row id -> (stratum, arm, seq)
    initial: list[lists.Slot] = []
    slots_of_stratum: dict[str, list[lists.Slot]] = {}
    for st in strata:
        expected = regenerate(spec, seed, st.stratum, st.n_blocks)
        slots_of_stratum[st.stratum] = expected
        stored = stored_by_stratum.pop(st.stratum, [])
        if len(stored) != len(expected) or st.n_slots != len(expected):
            problems.append(
                f"stratum {st.stratum}: {len(stored)} slots stored (cursor says {st.n_slots}), "
                f"{len(expected)} regenerated from {st.n_blocks} blocks"
            )
        for seq, (row, slot) in enumerate(zip(stored, expected, strict=False)):
            label = slot.slot_id
            if (row.seq, row.block_index, row.position, row.block_size) != (
                seq,
                slot.block_index,
                slot.position,
                slot.block_size,
            ):
                problems.append(
                    f"slot {label}: stored as seq {row.seq} block {row.block_index}.{row.position} "
                    f"size {row.block_size}, regenerated as seq {seq} size {slot.block_size}"
                )
                continue
            try:
                stored_arm = lists.open_arm(key, label, row.sealed_arm)
            except IntegrityError as exc:
                problems.append(exc.message)
                continue
            if stored_arm != slot.arm:
                problems.append(f"slot {label}: sealed arm differs from the arm regenerated from the seed")
            arm_of_slot[row.id] = (st.stratum, slot.arm, seq)
        if committed is not None:
            initial.extend(s for s in expected if s.block_index < st.initial_blocks)
            out.extended_blocks += max(st.n_blocks - st.initial_blocks, 0)
        out.strata += 1
        out.slots += len(expected)
    for stratum in stored_by_stratum:
        problems.append(f"slots stored for unknown stratum {stratum}")
    if committed is not None:
        recomputed = lists.commitment(spec, initial)
        if recomputed != committed:
            problems.append(
                f"commitment recorded at go-live {committed} differs from the regenerated list's {recomputed}"
            )
    used = _check_allocated_slots(list_id, allocations, arm_of_slot, problems)
    out.completed_blocks = _check_cursors(spec, strata, slots_of_stratum, used, problems)


def _check_allocated_slots(
    list_id: int,
    allocations: Sequence[AllocationFact],
    arm_of_slot: Mapping[int, tuple[str, str, int]],
    problems: list[str],
) -> dict[str, list[int]]:
    used: dict[str, list[int]] = defaultdict(list)
    slot_use = Counter(a.slot_id for a in allocations)
    for slot_id, count in slot_use.items():
        if slot_id is not None and count > 1:
            problems.append(f"slot row {slot_id} was allocated {count} times")
    for a in allocations:
        found = arm_of_slot.get(a.slot_id) if a.slot_id is not None else None
        if found is None:
            problems.append(
                f"{a.randomization_number}: allocated slot {a.slot_id} is not a verified slot of list #{list_id}"
            )
            continue
        stratum, arm, seq = found
        if a.stratum != stratum:
            problems.append(f"{a.randomization_number}: allocation stratum {a.stratum} but slot stratum {stratum}")
        if a.arm != arm:
            problems.append(f"{a.randomization_number}: allocated arm {a.arm} but the slot's arm is {arm}")
        used[stratum].append(seq)
    return used


def _check_cursors(
    spec: RandomizationSpec,
    strata: Sequence[StratumState],
    slots_of_stratum: Mapping[str, list[lists.Slot]],
    used: Mapping[str, list[int]],
    problems: list[str],
) -> int:
    completed = 0
    for st in strata:
        seqs = sorted(used.get(st.stratum, []))
        if seqs != list(range(st.next_seq)):
            gaps = sorted(set(range(st.next_seq)) - set(seqs))[:5]
            beyond = [s for s in seqs if s >= st.next_seq][:5]
            problems.append(
                f"stratum {st.stratum}: slots used out of order (cursor {st.next_seq}; unused "
                f"{gaps}; beyond the cursor {beyond})"
            )
        # every block whose slots are all used is balanced (follows from the regeneration; counted for reports)
        by_block: dict[int, list[lists.Slot]] = defaultdict(list)
        for slot in slots_of_stratum.get(st.stratum, [])[: st.next_seq]:
            by_block[slot.block_index].append(slot)
        for block in by_block.values():
            if len(block) == block[0].block_size:
                counts = Counter(s.arm for s in block)
                unit = block[0].block_size // spec.ratio_total
                if any(counts.get(a.id, 0) != a.ratio * unit for a in spec.arms):
                    problems.append(f"stratum {st.stratum}: block {block[0].block_index} is not balanced")
                completed += 1
    return completed


def _verify_draws(spec: RandomizationSpec, seed: bytes, allocations: Sequence[AllocationFact]) -> list[str]:
    problems: list[str] = []
    ordered = sorted(allocations, key=lambda a: a.n)
    past: list[tuple[Mapping[str, Any], str]] = []
    for index, a in enumerate(ordered, start=1):
        stream = draw_stream(seed, spec, index)
        if spec.scheme == "minimization":
            counts = _minimization.counts_from_assignments(spec, past)
            expected = _minimization.minimization_assign(spec, counts, a.levels, stream).arm
        else:
            expected = lists.simple_assign(spec, stream)
        if a.arm != expected:
            problems.append(f"{a.randomization_number}: allocated arm {a.arm} but the replayed draw gives {expected}")
        past.append((a.levels, a.arm))
    return problems
