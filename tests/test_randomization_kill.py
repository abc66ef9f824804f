"""A worker SIGKILLed in the middle of an allocation leaves nothing half-written.

A subprocess runs ``randomize_subject`` with the service's test hook set to announce "LOCKED" and sleep: at
that point the cursor and number were advanced, the slot taken and the allocation flushed, under the row locks,
but not committed. The test kills it with SIGKILL and checks that no allocation exists, the cursor and number are
unchanged, the subject is still screening, the audit chain verifies, and the next allocation gets the same slot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from randomization_db_helpers import ALL_STRATA, NCT, SEED, add_subjects, setup_list, store_for, upcoming_arms
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.randomization import stratum_key
from trialdesk.services import randomization as rz
from trialdesk.services.audit import verify_audit
from trialdesk.services.commands import Randomize

WORKER = textwrap.dedent("""
    import sys, time
    from trialdesk.adapters.randomization_secret import SeedStore
    from trialdesk.bootstrap import bootstrap
    from trialdesk.domain.access import SYSTEM
    from trialdesk.services import randomization as rz
    from trialdesk.services.commands import Randomize

    url, secrets_dir, number = sys.argv[1:4]

    def hook():
        print("LOCKED", flush=True)
        time.sleep(120)

    rz._before_commit_hook = hook
    td = bootstrap(url, migrate=False, load_default=False)
    with td.uow("worker") as uow:
        rz.randomize_subject(uow, SYSTEM, "NCT07003074", number, Randomize(confirm=True), seeds=SeedStore(secrets_dir))
        uow.commit()
    print("COMMITTED", flush=True)
""")


def _state(td, number):
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        lst = uow.randomization.current_list(trial.id)
        return {
            "allocations": uow.randomization.count_allocations(trial.id),
            "next_number": lst.next_number,
            "cursors": {s.stratum: (s.next_seq, s.n_slots) for s in uow.randomization.strata(lst.id)},
            "status": uow.subjects.get(trial.id, number).status,
            "audit": uow.audit.head(),
        }


def test_killed_worker_leaves_nothing_half_written(td, tmp_path):
    store = store_for(tmp_path)
    setup_list(td, slots_per_stratum=2)
    s0 = ALL_STRATA[0]
    key = stratum_key(s0)
    first, second = add_subjects(td, [s0, s0])
    with td.uow("c") as uow:  # use the first slot so the killed one is in the middle of the stratum
        rz.randomize_subject(uow, SYSTEM, NCT, first, Randomize(confirm=True), seeds=store)
        uow.commit()
    expected_arm = upcoming_arms(td)[key][0]
    before = _state(td, second)
    url = td.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(tmp_path / "secrets"), second],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "LOCKED", proc.stderr.read()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.2)  # PostgreSQL notices the closed connection and rolls back
    after = _state(td, second)
    assert after == before
    assert after["allocations"] == 1 and after["status"] == "screening"
    with td.uow() as uow:
        assert verify_audit(uow)[1] is None
    # the next allocation (waits for the dead transaction's locks to go) gets the very slot the worker had
    with td.uow("c") as uow:
        got = rz.randomize_subject(uow, SYSTEM, NCT, second, Randomize(confirm=True), seeds=store)
        uow.commit()
    assert got["randomization_number"] == "R-0002" and got["arm"] == expected_arm
    with td.uow() as uow:
        assert rz.verify_list(uow, SYSTEM, NCT, SEED)["status"] == "ok"
