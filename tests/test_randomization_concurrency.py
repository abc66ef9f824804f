"""500 allocations from 16 threads, each its own unit of work, on SQLite and PostgreSQL.

The list is generated short (12 slots per stratum) so that strata run out and are extended while threads race.
Checked from the raw tables against the list regenerated from the seed: every subject allocated once, no slot
used twice, no slot skipped (per stratum, sequences 0..k-1 exactly), numbers R-0001..R-0500, every completed
block balanced, every allocation's arm the regenerated slot's arm, and ``verify`` ok.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from randomization_db_helpers import ALL_STRATA, NCT, SEED, add_subjects, setup_list, store_for
from trialdesk.adapters.db.tables import AllocationRow, RandomizationSlotRow, RandomizationStratumRow
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.randomization import generate_stratum_blocks
from trialdesk.services import randomization as rz
from trialdesk.services.audit import verify_audit
from trialdesk.services.commands import Randomize
from trialdesk.services.registry import get_protocol

N_SUBJECTS = 500
N_THREADS = 16


def test_concurrent_allocations(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td, slots_per_stratum=12)
    rng = random.Random(7)
    numbers = add_subjects(td, [rng.choice(ALL_STRATA) for _ in range(N_SUBJECTS)])
    work: queue.Queue[str] = queue.Queue()
    for n in numbers:
        work.put(n)
    errors: list[BaseException] = []
    retries = Counter()

    def worker() -> None:
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                return
            for attempt in range(20):
                try:
                    with td.uow("coordinator") as uow:
                        rz.randomize_subject(uow, SYSTEM, NCT, number, Randomize(confirm=True), seeds=store)
                        uow.commit()
                    break
                except (OperationalError, DBAPIError) as exc:  # lock timeouts: retry, counted
                    retries[type(exc).__name__] += 1
                    time.sleep(0.01 * (attempt + 1))
                except BaseException as exc:
                    errors.append(exc)
                    break

    threads = [threading.Thread(target=worker) for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]

    with td.uow() as uow:
        spec = get_protocol(uow, NCT).operations.randomization
        allocations = list(uow.session.execute(select(AllocationRow)).scalars())
        slots = {s.id: s for s in uow.session.execute(select(RandomizationSlotRow)).scalars()}
        cursors = {c.stratum: c for c in uow.session.execute(select(RandomizationStratumRow)).scalars()}
        assert verify_audit(uow)[1] is None

    assert len(allocations) == N_SUBJECTS
    assert len({a.subject_id for a in allocations}) == N_SUBJECTS
    assert Counter(a.slot_id for a in allocations).most_common(1)[0][1] == 1  # no slot twice
    assert sorted(a.randomization_number for a in allocations) == [f"R-{i:04d}" for i in range(1, N_SUBJECTS + 1)]
    used: dict[str, list[int]] = defaultdict(list)
    for a in allocations:
        used[a.stratum].append(slots[a.slot_id].seq)
    extended = 0
    for stratum, seqs in used.items():
        assert sorted(seqs) == list(range(len(seqs))), f"gap in {stratum}"  # no skipped slot
        assert cursors[stratum].next_seq == len(seqs)
        extended += cursors[stratum].n_blocks > 3
        # the arms handed out are the list regenerated from the seed, in order
        regenerated = generate_stratum_blocks(spec, SEED, stratum, 0, cursors[stratum].n_blocks)
        by_seq = {slots[a.slot_id].seq: a.arm for a in allocations if a.stratum == stratum}
        assert [by_seq[i] for i in range(len(seqs))] == [s.arm for s in regenerated[: len(seqs)]]
        # every completed block holds each arm exactly half the time (1:1)
        blocks: dict[int, list[str]] = defaultdict(list)
        sizes = {}
        for a in allocations:
            if a.stratum == stratum:
                s = slots[a.slot_id]
                blocks[s.block_index].append(a.arm)
                sizes[s.block_index] = s.block_size
        for b, arms in blocks.items():
            if len(arms) == sizes[b]:
                assert arms.count("tqb2102") == arms.count("thp") == sizes[b] // 2
    assert extended > 0  # strata really ran out and were extended under concurrency

    with td.uow() as uow:
        report = rz.verify_list(uow, SYSTEM, NCT, SEED)
    assert report["status"] == "ok", report["problems"][:5]
    assert report["allocations"] == N_SUBJECTS and report["extended_blocks"] > 0
