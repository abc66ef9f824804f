"""Randomization domain: spec, strata, HMAC block list, commitment, sealing, simple randomization.

Minimization has its own file (test_randomization_domain_minimization.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.errors import IntegrityError, InvalidInput
from trialdesk.domain.randomization import (
    Arm,
    HmacStream,
    RandomizationSpec,
    Slot,
    StratificationFactor,
    all_strata,
    commitment,
    derive_key,
    generate_stratum_blocks,
    open_arm,
    parse_stratum_key,
    seal_arm,
    simple_assign,
    stratum_key,
)

SEED = bytes(range(32))
HR = StratificationFactor(name="hr_status", levels=("positive", "negative"), derive="hr_status")
SETTING = StratificationFactor(name="disease_setting", levels=("de_novo", "recurrent"), derive="disease_setting")


class Replay:
    """A uniform source that returns the given values in order."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def _spec(ratios=(1, 1), block_sizes=(2, 4, 6), **kw) -> RandomizationSpec:
    arms = tuple(Arm(id=f"arm_{i}", label=f"Arm {i}", ratio=r) for i, r in enumerate(ratios))
    return RandomizationSpec(arms=arms, block_sizes=block_sizes, **kw)


# ---------------------------------------------------------------------------------------------------------------
# The NCT07003074 section
# ---------------------------------------------------------------------------------------------------------------


def test_packaged_section_matches_registry_and_issue():
    protocol = load_default_protocol()
    spec = protocol.operations.randomization
    assert spec is not None
    assert spec.scheme == "blocks"
    # arm ids are the registry arm groups' operational ids, 1:1 as the record states
    assert spec.arm_ids == tuple(a.id for a in protocol.registry.arm_groups) == ("tqb2102", "thp")
    assert [a.label for a in spec.arms] == [a.label for a in protocol.registry.arm_groups]
    assert spec.ratios == (1, 1)
    assert spec.block_sizes == (2, 4, 6)
    assert [(f.name, f.levels, f.derive) for f in spec.factors] == [
        ("hr_status", ("positive", "negative"), "hr_status"),
        ("disease_setting", ("de_novo", "recurrent"), "disease_setting"),
        ("visceral_metastases", ("yes", "no"), "visceral_metastases"),
    ]
    assert spec.enrollment_cap == protocol.registry.design.enrollment.count == 642
    assert spec.minimization.p_best == 0.8
    assert spec.randomization_number(1) == "R-0001"
    assert spec.randomization_number(642) == "R-0642"
    # the record names no stratification factors, block sizes or scheme: each is an explicit assumption
    for key in ("scheme", "block_sizes", "factors", "site_as_factor", "minimization", "number_format"):
        assert key in spec.assumptions, key
    assert len(all_strata(spec)) == 2 * 2 * 2


def test_randomization_number_beyond_cap_is_refused():
    spec = _spec(enrollment_cap=10)
    assert spec.randomization_number(10) == "R-0010"
    with pytest.raises(InvalidInput, match="enrollment_cap"):
        spec.randomization_number(11)
    with pytest.raises(InvalidInput, match="positive integer"):
        spec.randomization_number(0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ratios": (2, 1), "block_sizes": (3, 4)}, r"block_sizes: \[4\] not a multiple of the ratio total 3"),
        ({"block_sizes": (2, 2)}, "sizes must be unique"),
        ({"number_format": "R-{m}"}, "number_format"),
        ({"number_format": "R-{n:s}"}, "number_format"),
        ({"assumptions": {"no_such_field": {"source": "x"}}}, "name no field"),
        (
            {"scheme": "minimization", "ratios": (1, 1, 1), "block_sizes": (3,), "minimization": {"p_best": 0.3}},
            "p_best",
        ),
    ],
)
def test_bad_spec_is_rejected_naming_the_field(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        _spec(**kwargs)


def test_duplicate_arm_ids_and_bad_factors_are_rejected():
    with pytest.raises(ValidationError, match="ids must be unique"):
        RandomizationSpec(arms=(Arm(id="a", label="A"), Arm(id="a", label="B")))
    with pytest.raises(ValidationError, match="reserved"):
        StratificationFactor(name="site", levels=("a", "b"), derive="site")
    with pytest.raises(ValidationError, match="sum to 1"):
        StratificationFactor(name="x", levels=("a", "b"), derive="x", prevalence={"a": 0.5, "b": 0.6})
    with pytest.raises(ValidationError, match="must equal levels"):
        StratificationFactor(name="x", levels=("a", "b"), derive="x", prevalence={"a": 1.0})
    with pytest.raises(ValidationError, match="unique"):
        StratificationFactor(name="x", levels=("a", "a"), derive="x")


# ---------------------------------------------------------------------------------------------------------------
# Strata
# ---------------------------------------------------------------------------------------------------------------


def test_stratum_key_is_canonical_and_round_trips():
    spec = _spec(factors=(HR, SETTING))
    a = stratum_key({"hr_status": "positive", "disease_setting": "recurrent"}, spec)
    b = stratum_key({"disease_setting": "recurrent", "hr_status": "positive"}, spec)
    assert a == b == "disease_setting=recurrent|hr_status=positive"
    assert parse_stratum_key(a) == {"disease_setting": "recurrent", "hr_status": "positive"}
    assert stratum_key({}) == "*"
    assert sorted(all_strata(spec)) == sorted(
        [
            "disease_setting=de_novo|hr_status=positive",
            "disease_setting=de_novo|hr_status=negative",
            "disease_setting=recurrent|hr_status=positive",
            "disease_setting=recurrent|hr_status=negative",
        ]
    )


def test_stratum_key_checks_levels_against_spec():
    spec = _spec(factors=(HR, SETTING))
    with pytest.raises(InvalidInput, match="levels.hr_status"):
        stratum_key({"hr_status": "unknown", "disease_setting": "de_novo"}, spec)
    with pytest.raises(InvalidInput, match="missing"):
        stratum_key({"hr_status": "positive"}, spec)
    with pytest.raises(InvalidInput):
        stratum_key({"hr_status": "pos|itive"})
    with pytest.raises(InvalidInput, match="not canonical"):
        parse_stratum_key("hr_status=positive|disease_setting=de_novo")
    site_spec = _spec(factors=(HR,), site_as_factor=True)
    assert stratum_key({"hr_status": "positive", "site": "site-07"}, site_spec) == "hr_status=positive|site=site-07"
    with pytest.raises(InvalidInput, match="site ids"):
        all_strata(site_spec)
    assert len(all_strata(site_spec, ["s1", "s2", "s3"])) == 6


# ---------------------------------------------------------------------------------------------------------------
# The block list: properties
# ---------------------------------------------------------------------------------------------------------------

ratios_st = st.lists(st.integers(1, 3), min_size=2, max_size=3).map(tuple)
seeds = st.binary(min_size=16, max_size=48)
strata_st = st.sampled_from(["*", "hr_status=positive", "disease_setting=de_novo|hr_status=negative"])


@st.composite
def spec_st(draw):
    ratios = draw(ratios_st)
    total = sum(ratios)
    multiples = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
    return _spec(ratios=ratios, block_sizes=tuple(total * m for m in multiples))


@settings(max_examples=60, deadline=None)
@given(spec=spec_st(), seed=seeds, stratum=strata_st, start=st.integers(0, 1000), n=st.integers(1, 12))
def test_every_block_holds_the_arms_in_ratio_proportion(spec, seed, stratum, start, n):
    slots = generate_stratum_blocks(spec, seed, stratum, start, n)
    blocks: dict[int, list[Slot]] = {}
    for slot in slots:
        blocks.setdefault(slot.block_index, []).append(slot)
    assert sorted(blocks) == list(range(start, start + n))
    for block in blocks.values():
        size = block[0].block_size
        assert size in spec.block_sizes
        assert len(block) == size
        assert [s.position for s in block] == list(range(size))
        counts = Counter(s.arm for s in block)
        for arm in spec.arms:
            # a block of size b holds b * r_j / sum(r) subjects of arm j
            assert counts[arm.id] * spec.ratio_total == size * arm.ratio
        assert all(s.stratum == stratum for s in block)


@settings(max_examples=40, deadline=None)
@given(spec=spec_st(), seed=seeds, stratum=strata_st, cut=st.integers(0, 10), rest=st.integers(0, 10))
def test_same_seed_same_list_and_extension_independent_of_batching(spec, seed, stratum, cut, rest):
    whole = generate_stratum_blocks(spec, seed, stratum, 0, cut + rest)
    assert whole == generate_stratum_blocks(spec, bytes(seed), stratum, 0, cut + rest)
    batched = generate_stratum_blocks(spec, seed, stratum, 0, cut) + generate_stratum_blocks(
        spec, seed, stratum, cut, rest
    )
    assert batched == whole
    one_by_one = [s for b in range(cut + rest) for s in generate_stratum_blocks(spec, seed, stratum, b, 1)]
    assert one_by_one == whole


@settings(max_examples=40, deadline=None)
@given(seed_a=seeds, seed_b=seeds)
def test_different_seeds_give_different_lists(seed_a, seed_b):
    # 40 blocks: two independent lists coincide with probability (1/3 * 1/2)^... < 2**-40 even for size-2 blocks
    spec = _spec(block_sizes=(2, 4, 6))
    if seed_a == seed_b:
        return
    a = [s.arm for s in generate_stratum_blocks(spec, seed_a, "*", 0, 40)]
    b = [s.arm for s in generate_stratum_blocks(spec, seed_b, "*", 0, 40)]
    assert a != b


def test_strata_and_versions_get_independent_lists():
    spec = _spec()
    pos = generate_stratum_blocks(spec, SEED, "hr_status=positive", 0, 40)
    neg = generate_stratum_blocks(spec, SEED, "hr_status=negative", 0, 40)
    assert [s.arm for s in pos] != [s.arm for s in neg]
    v2 = _spec(version="2")
    assert [s.arm for s in generate_stratum_blocks(v2, SEED, "hr_status=positive", 0, 40)] != [s.arm for s in pos]


def test_block_sizes_and_orders_are_uniform():
    """3000 blocks of one stratum: block sizes uniform over {2, 4, 6}; the 6 orders of a size-4 block uniform."""
    spec = _spec(block_sizes=(2, 4, 6))
    slots = generate_stratum_blocks(spec, SEED, "*", 0, 3000)
    sizes = Counter(s.block_size for s in slots if s.position == 0)
    assert stats.chisquare([sizes[2], sizes[4], sizes[6]]).pvalue > 1e-3
    spec4 = _spec(block_sizes=(4,))
    slots4 = generate_stratum_blocks(spec4, SEED, "*", 0, 3000)
    orders = Counter(tuple(s.arm for s in slots4[i : i + 4]) for i in range(0, len(slots4), 4))
    assert len(orders) == 6  # C(4, 2) arrangements of AABB
    assert stats.chisquare(list(orders.values())).pvalue > 1e-3


def test_block_zero_follows_the_documented_hmac_construction():
    """Known-answer test written from the docstring, so that an outside verifier can regenerate the list."""
    spec = _spec(block_sizes=(2, 4, 6))
    label = b"trialdesk/blocks/v1|1|hr_status=positive|0\x00"
    stream = b"".join(hmac.new(SEED, label + c.to_bytes(8, "big"), hashlib.sha256).digest() for c in range(4))
    draws = iter(stream)

    def randbelow(n):  # rejection sampling on the low bits of one byte (n <= 256 here)
        bits = (n - 1).bit_length()
        while True:
            v = next(draws) & ((1 << bits) - 1)
            if v < n:
                return v

    size = (2, 4, 6)[randbelow(3)]
    arms = ["arm_0"] * (size // 2) + ["arm_1"] * (size // 2)
    for i in range(size - 1, 0, -1):
        j = randbelow(i + 1)
        arms[i], arms[j] = arms[j], arms[i]
    got = generate_stratum_blocks(spec, SEED, "hr_status=positive", 0, 1)
    assert [s.arm for s in got] == arms
    assert got[0].block_size == size


def test_hmac_stream_randbelow_and_random_ranges():
    stream = HmacStream(SEED, "test")
    draws = [stream.randbelow(5) for _ in range(2000)]
    assert set(draws) == {0, 1, 2, 3, 4}
    assert stats.chisquare(list(Counter(draws).values())).pvalue > 1e-3
    floats = [stream.random() for _ in range(2000)]
    assert min(floats) >= 0 and max(floats) < 1
    assert stats.kstest(floats, "uniform").pvalue > 1e-3


def test_bad_generation_input_names_the_field():
    spec = _spec()
    with pytest.raises(InvalidInput, match="seed"):
        generate_stratum_blocks(spec, b"short", "*", 0, 1)
    with pytest.raises(InvalidInput, match="start_block"):
        generate_stratum_blocks(spec, SEED, "*", -1, 1)
    with pytest.raises(InvalidInput, match="stratum_key"):
        generate_stratum_blocks(spec, SEED, "b=1|a=2", 0, 1)
    with pytest.raises(InvalidInput, match="scheme"):
        generate_stratum_blocks(_spec(scheme="simple"), SEED, "*", 0, 1)


# ---------------------------------------------------------------------------------------------------------------
# Commitment
# ---------------------------------------------------------------------------------------------------------------


def test_commitment_is_sha256_of_the_documented_document():
    spec = _spec(block_sizes=(2,))
    slots = [Slot("*", 0, 1, 2, "arm_0"), Slot("*", 0, 0, 2, "arm_1")]
    doc = {"spec": json.loads(spec.canonical_json()), "slots": [["*", 0, 0, 2, "arm_1"], ["*", 0, 1, 2, "arm_0"]]}
    expected = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert commitment(spec, slots) == expected


def test_commitment_detects_any_change_and_ignores_row_order():
    spec = _spec()
    slots = generate_stratum_blocks(spec, SEED, "*", 0, 20)
    reference = commitment(spec, slots)
    assert commitment(spec, list(reversed(slots))) == reference
    flipped = list(slots)
    s = flipped[7]
    flipped[7] = Slot(s.stratum, s.block_index, s.position, s.block_size, "arm_1" if s.arm == "arm_0" else "arm_0")
    assert commitment(spec, flipped) != reference
    assert commitment(spec, slots[:-1]) != reference
    assert commitment(_spec(version="2"), slots) != reference
    with pytest.raises(InvalidInput, match="appears twice"):
        commitment(spec, slots + slots[:1])
    with pytest.raises(InvalidInput, match="not arms"):
        commitment(spec, [Slot("*", 0, 0, 2, "placebo")])


# ---------------------------------------------------------------------------------------------------------------
# Concealment
# ---------------------------------------------------------------------------------------------------------------


def test_sealed_arms_open_and_do_not_reveal_the_arm():
    spec = RandomizationSpec()  # tqb2102 (7 characters) vs thp (3): lengths must not leak
    key = derive_key(SEED, "seal")
    slots = generate_stratum_blocks(spec, SEED, "*", 0, 10)
    tokens = [seal_arm(key, s.slot_id, s.arm) for s in slots]
    assert {len(t) for t in tokens} == {60}
    assert len(set(tokens)) == len(tokens)
    assert all(b"tqb2102" not in t and b"thp" not in t for t in tokens)
    assert [open_arm(key, s.slot_id, t) for s, t in zip(slots, tokens)] == [s.arm for s in slots]


def test_tampered_moved_or_foreign_tokens_fail_authentication():
    key = derive_key(SEED, "seal")
    token = seal_arm(key, "*#0.0", "thp")
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_arm(key, "*#0.1", token)  # moved to another row
    altered = bytearray(token)
    altered[20] ^= 1
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_arm(key, "*#0.0", bytes(altered))
    with pytest.raises(IntegrityError):
        open_arm(derive_key(bytes(32), "seal"), "*#0.0", token)
    with pytest.raises(IntegrityError, match="wrong length"):
        open_arm(key, "*#0.0", token[:-1])
    with pytest.raises(InvalidInput, match="key"):
        seal_arm(b"short", "*#0.0", "thp")
    assert derive_key(SEED, "seal") != derive_key(SEED, "other")


# ---------------------------------------------------------------------------------------------------------------
# Simple randomization
# ---------------------------------------------------------------------------------------------------------------


def test_simple_assign_maps_u_to_arms_by_cumulative_ratio():
    one_to_one = _spec()
    assert simple_assign(one_to_one, Replay(0.4999)) == "arm_0"
    assert simple_assign(one_to_one, Replay(0.5)) == "arm_1"
    two_to_one = _spec(ratios=(2, 1), block_sizes=(3,))
    # P(arm_0) = 2/3: u * 3 < 2  <=>  u < 0.6667
    assert simple_assign(two_to_one, Replay(0.666)) == "arm_0"
    assert simple_assign(two_to_one, Replay(0.667)) == "arm_1"
    with pytest.raises(InvalidInput, match="rng"):
        simple_assign(one_to_one, Replay(1.0))


# ---------------------------------------------------------------------------------------------------------------
# Balance report
# ---------------------------------------------------------------------------------------------------------------


def test_balance_table_by_hand():
    from trialdesk.domain.randomization import balance_table

    spec = _spec()
    rows = balance_table(
        spec,
        [
            ("hr_status=positive", "s1", "arm_0"),
            ("hr_status=positive", "s1", "arm_0"),
            ("hr_status=positive", "s2", "arm_1"),
            ("hr_status=negative", "s1", "arm_1"),
        ],
    )
    table = {(r.stratum, r.site): (r.counts["arm_0"], r.counts["arm_1"], r.imbalance) for r in rows}
    assert table == {
        ("hr_status=negative", "s1"): (0, 1, 1),
        ("hr_status=positive", "s1"): (2, 0, 2),
        ("hr_status=positive", "s2"): (0, 1, 1),
        ("hr_status=negative", "*"): (0, 1, 1),
        ("hr_status=positive", "*"): (2, 1, 1),
        ("*", "s1"): (2, 1, 1),
        ("*", "s2"): (0, 1, 1),
        ("*", "*"): (2, 2, 0),
    }
    assert rows[-1].total == 4
    # 2:1 ratio: 4 and 2 are balanced
    two_to_one = _spec(ratios=(2, 1), block_sizes=(3,))
    rows = balance_table(two_to_one, [("*", "s", "arm_0")] * 4 + [("*", "s", "arm_1")] * 2)
    assert rows[-1].imbalance == 0
    with pytest.raises(InvalidInput, match=r"assignments\[0\].arm"):
        balance_table(spec, [("*", "s", "placebo")])
