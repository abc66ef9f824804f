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

The package's modules: :mod:`.spec` (the protocol section), :mod:`.strata` (stratum keys, a subject's levels),
:mod:`.lists` (randomness from the seed, blocks, commitment, sealing, simple draws), :mod:`.balance` (the balance
report) and :mod:`.verification` (regenerating the list and checking it and the allocations).
"""

from __future__ import annotations

from trialdesk.domain.randomization.balance import BalanceRow, balance_table
from trialdesk.domain.randomization.lists import (
    HmacStream,
    Slot,
    commitment,
    derive_key,
    generate_stratum_blocks,
    open_arm,
    seal_arm,
    simple_assign,
    spec_digest,
)
from trialdesk.domain.randomization.spec import (
    MIN_SEED_BYTES,
    SITE_FACTOR,
    UNSTRATIFIED,
    Arm,
    MinimizationSettings,
    RandomizationSpec,
    StratificationFactor,
    UniformSource,
)
from trialdesk.domain.randomization.strata import (
    all_strata,
    allocation_stratum,
    factor_level,
    parse_stratum_key,
    stratum_key,
    subject_strata,
)
from trialdesk.domain.randomization.verification import (
    AllocationFact,
    ListVerification,
    StoredSlot,
    StratumState,
    check_go_live,
    draw_stream,
    regenerate,
    verify_allocation_list,
    verify_numbers,
)

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
    "factor_level",
    "subject_strata",
    "allocation_stratum",
    "AllocationFact",
    "ListVerification",
    "StoredSlot",
    "StratumState",
    "check_go_live",
    "draw_stream",
    "regenerate",
    "verify_allocation_list",
    "verify_numbers",
]
