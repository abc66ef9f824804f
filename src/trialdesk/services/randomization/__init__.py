"""The IWRS: generate the allocation list, go live, allocate, flag errors, verify, export, report balance.

Concealment rules applied here:

- Only the statistician (``Action.RANDOMIZATION_LIST`` / ``RANDOMIZATION_MANAGE``) sees the list, its slots, the
  balance by stratum and the export. Site staff see an allocation only once it is made.
- Every check that can refuse an allocation runs *before* the next slot is read, so errors cannot depend on the
  upcoming arm. Results never carry a slot's sequence, block or position.
- Audit events never carry sealed arms, block sizes or slot counts of unallocated slots.
- The seed is not in the database (it loads through the seed port, ``uow.ports.seeds``); slots hold AES-GCM
  sealed arms, so the tables alone do not reveal upcoming arms.

Concurrency: an allocation reads and validates first, then takes the list row lock (randomization number, cap)
and the stratum cursor lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are ``BEGIN
IMMEDIATE``), re-checks what another transaction could have changed (subject already randomized, client key
used), takes the next slot, writes the allocation and its audit event, and the caller commits: one transaction.

The use cases, one module each: :mod:`.lists` (generating the list, going live, the list's summary),
:mod:`.allocation` (the checks before allocation, allocating, flagging an allocation made in error) and
:mod:`.verification` (verification, export, balance). The rules are in :mod:`trialdesk.domain.randomization`
(blocks, sealing, strata, verification) and :mod:`trialdesk.domain.minimization`.
"""

from __future__ import annotations

from collections.abc import Callable

from trialdesk.domain.randomization import subject_strata
from trialdesk.services.randomization.allocation import (
    flag_randomized_in_error,
    get_allocation,
    preview_randomization,
    randomize_subject,
)
from trialdesk.services.randomization.lists import default_slots_per_stratum, generate_list, go_live, list_info
from trialdesk.services.randomization.verification import balance, export_list, verify_list

__all__ = [
    "balance",
    "default_slots_per_stratum",
    "export_list",
    "flag_randomized_in_error",
    "generate_list",
    "get_allocation",
    "go_live",
    "list_info",
    "preview_randomization",
    "randomize_subject",
    "subject_strata",
    "verify_list",
]

#: Test hook: called inside :func:`randomize_subject` after the slot was taken and the cursor, number and
#: allocation were flushed (row locks held), before the caller commits. ``None`` in production. Set it here, on
#: the package: :mod:`.allocation` reads it from the package at each allocation.
_before_commit_hook: Callable[[], None] | None = None
