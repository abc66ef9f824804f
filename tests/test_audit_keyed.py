"""The keyed, anchored audit trail (both databases): the rewrite attack, truncation, backwards time, wrong keys and
signed checkpoints, all through ``trialdesk audit verify`` / ``audit checkpoint`` as an operator would run them.

The attack that worked on the unkeyed chain: with write access to the database, change a dose and the matching
event's after_json, recompute prev_hash/hash of every later event and fix ``audit_head``. Here the attacker does
exactly that, with the public algorithm (plain SHA-256), with a key of their own, and with the real key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from access_helpers import NCT
from test_treatment_helpers import Clock, day, principals, randomized_subject
from trialdesk.adapters.audit_keys import HMAC_KEY_FILE, SIGNING_KEY_FILE
from trialdesk.adapters.db import tables as t
from trialdesk.domain.access import Role
from trialdesk.domain.audit import AuditEvent, canonical_json
from trialdesk.domain.errors import IntegrityError
from trialdesk.entrypoints.cli.main import app as cli
from trialdesk.services import treatment
from trialdesk.services.commands import RecordDose

R = "2025-03-03"
runner = CliRunner()


@pytest.fixture
def audit_dir(tmp_path, monkeypatch):
    directory = tmp_path / "audit-keys"
    monkeypatch.setenv("TRIALDESK_AUDIT_DIR", str(directory))
    monkeypatch.delenv("TRIALDESK_AUDIT_KEY", raising=False)
    return directory


@pytest.fixture
def trail(audit_dir, db_url):
    """A trial with two doses recorded (audit events after the trial load), keys in ``audit_dir``."""
    from trialdesk.bootstrap import bootstrap

    td = bootstrap(db_url)
    td.clock = Clock("2025-09-30")
    coord = principals()[Role.COORDINATOR]
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    ids = []
    for drug, mg in (("docetaxel", 122.5), ("trastuzumab", 480.0), ("pertuzumab", 840.0)):
        with td.uow(coord.username) as uow:
            ids.append(
                treatment.record_dose(
                    uow,
                    coord,
                    NCT,
                    "01-001",
                    RecordDose(drug=drug, cycle=1, dose_date=day(R, 1), actual_mg=mg, weight_kg=60),
                )["id"]
            )
            uow.commit()
    yield td, db_url, ids
    td.dispose()


def verify(db_url, *checkpoints):
    args = ["audit", "verify", "--db", db_url]
    for path in checkpoints:
        args += ["--checkpoint", str(path)]
    return runner.invoke(cli, args)


def checkpoint(db_url, path):
    result = runner.invoke(cli, ["audit", "checkpoint", "--db", db_url, "--out", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text())


def _rows(session):
    return session.execute(select(t.audit_events).order_by(t.audit_events.c.seq)).mappings().all()


def _event(row, **changes) -> AuditEvent:
    fields = dict(
        seq=row["seq"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        action=row["action"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        trial=row["trial"],
        site=row["site"],
        before=row["before_json"],
        after=row["after_json"],
        reason=row["reason"],
        prev_hash=row["prev_hash"],
    )
    fields.update(changes)
    return AuditEvent(**fields)


def rechain(session, from_seq: int, key: bytes | None, changes: dict[int, dict]) -> None:
    """What an attacker with database access does: apply ``changes`` to events, recompute prev_hash/hash of
    every event from ``from_seq`` on (SHA-256 without a key, else HMAC under ``key``), fix the head."""
    rows = _rows(session)
    prev = next((r["hash"] for r in rows if r["seq"] == from_seq - 1), "0" * 64)
    for row in rows:
        if row["seq"] < from_seq:
            continue
        event = _event(row, prev_hash=prev, **changes.get(row["seq"], {}))
        digest = event.compute_hash(key)
        session.execute(
            update(t.audit_events)
            .where(t.audit_events.c.seq == row["seq"])
            .values(
                prev_hash=prev,
                hash=digest,
                after_json=event.after,
                occurred_at=event.occurred_at,
                before_json=event.before,
            )
        )
        prev = digest
    last = max(r["seq"] for r in rows)
    session.execute(update(t.audit_head).values(seq=last, hash=prev))


def tamper_dose(td, dose_id: int, key: bytes | None, new_mg: float = 100.0) -> int:
    """Lower a recorded dose and its ``dose.recorded`` event, rechain; returns the altered event's seq."""
    with td.uow() as uow:
        session = uow.session
        session.execute(update(t.doses).where(t.doses.c.id == dose_id).values(actual_mg=new_mg))
        row = next(r for r in _rows(session) if r["action"] == "dose.recorded" and r["entity_id"] == str(dose_id))
        after = json.loads(row["after_json"])
        assert after["actual_mg"] == 122.5  # the event the attacker edits is the dose's
        after["actual_mg"] = new_mg
        rechain(session, row["seq"], key, {row["seq"]: {"after": canonical_json(after)}})
        session.commit()
        return row["seq"]


def real_key(audit_dir) -> bytes:
    return bytes.fromhex((audit_dir / HMAC_KEY_FILE).read_text().strip())


def test_keys_live_in_the_audit_directory_with_mode_0600(trail, audit_dir):
    td, db_url, _ = trail
    key_file = audit_dir / HMAC_KEY_FILE
    assert key_file.is_file() and (key_file.stat().st_mode & 0o777) == 0o600
    assert len(real_key(audit_dir)) == 32
    cp = checkpoint(db_url, audit_dir.parent / "cp.json")
    signing = audit_dir / SIGNING_KEY_FILE
    assert (signing.stat().st_mode & 0o777) == 0o600 and b"PRIVATE KEY" in signing.read_bytes()
    # the database holds only the key check: HMAC(key, label), never the key
    with td.uow() as uow:
        head = uow.session.execute(select(t.audit_head)).mappings().one()
        assert head["key_check"] == cp["key_check"]
        import hmac

        assert (
            head["key_check"]
            == hmac.new(real_key(audit_dir), b"trialdesk/audit-key-check/v1", hashlib.sha256).hexdigest()
        )
        assert real_key(audit_dir).hex() not in json.dumps([dict(r) for r in _rows(uow.session)])


@pytest.mark.parametrize("attacker", ["sha256", "own-key"])
def test_rewritten_chain_is_caught_without_the_key(trail, attacker):
    td, db_url, ids = trail
    before = verify(db_url)
    assert before.exit_code == 0 and "chain intact" in before.output
    seq = tamper_dose(td, ids[0], None if attacker == "sha256" else secrets.token_bytes(32))
    result = verify(db_url)
    assert result.exit_code == 1
    assert f"BROKEN at event {seq}:" in result.output and "altered or chain recomputed" in result.output


def test_rewrite_with_the_real_key_is_caught_by_an_earlier_checkpoint(trail, audit_dir, tmp_path):
    td, db_url, ids = trail
    cp_path = tmp_path / "checkpoint.json"
    cp = checkpoint(db_url, cp_path)
    with td.uow() as uow:
        assert cp["seq"] == uow.audit.head().seq and cp["hash"] == uow.audit.head().hash
    assert verify(db_url, cp_path).exit_code == 0
    tamper_dose(td, ids[0], real_key(audit_dir))
    # holding the HMAC key, the attacker makes a chain that is consistent in itself ...
    assert verify(db_url).exit_code == 0
    # ... but the signed head kept elsewhere no longer matches the event stored at its seq
    result = verify(db_url, cp_path)
    assert result.exit_code == 1
    assert f"BROKEN at event {cp['seq']}: checkpoint 1:" in result.output and "chain replaced" in result.output


@pytest.mark.parametrize("how", ["keyed-from-past-end", "key-check-removed"])
def test_an_unkeyed_rewrite_cannot_pose_as_a_legacy_chain(trail, how):
    td, db_url, ids = trail
    with td.uow() as uow:
        session = uow.session
        rechain(session, 1, None, {})  # every event recomputed with plain SHA-256, as a pre-keying chain was
        last = uow.session.execute(select(t.audit_head.c.seq)).scalar_one()
        if how == "keyed-from-past-end":
            session.execute(update(t.audit_head).values(keyed_from=last + 1))
        else:
            session.execute(update(t.audit_head).values(key_check=None, seal=None, keyed_from=last + 1))
        session.commit()
    result = verify(db_url)
    assert result.exit_code == 1, result.output
    assert "seal" in result.output or "not keyed" in result.output


def test_truncated_tail_with_fixed_head_is_caught_by_the_checkpoint(trail, tmp_path):
    td, db_url, _ = trail
    cp_path = tmp_path / "cp.json"
    cp = checkpoint(db_url, cp_path)
    with td.uow() as uow:
        session = uow.session
        rows = _rows(session)
        keep = rows[-3]
        session.execute(delete(t.audit_events).where(t.audit_events.c.seq > keep["seq"]))
        session.execute(update(t.audit_head).values(seq=keep["seq"], hash=keep["hash"], last_at=keep["occurred_at"]))
        session.commit()
    assert verify(db_url).exit_code == 0  # the stored trail alone cannot tell
    result = verify(db_url, cp_path)
    assert result.exit_code == 1
    assert f"head is at event {cp['seq'] - 2}, behind the checkpoint's {cp['seq']} (truncated)" in result.output


def test_deleted_tail_without_fixing_the_head_is_caught(trail):
    td, db_url, _ = trail
    with td.uow() as uow:
        last = uow.session.execute(select(t.audit_head.c.seq)).scalar_one()
        uow.session.execute(delete(t.audit_events).where(t.audit_events.c.seq == last))
        uow.session.commit()
    result = verify(db_url)
    assert result.exit_code == 1 and f"records event {last}" in result.output


def test_injected_earlier_timestamp_is_caught_even_with_the_key(trail, audit_dir):
    td, db_url, _ = trail
    with td.uow() as uow:
        rows = _rows(uow.session)
        target = rows[-2]
        earlier = "2001-01-01T00:00:00.000000+00:00"
        assert rows[-3]["occurred_at"] > earlier
        rechain(uow.session, target["seq"], real_key(audit_dir), {target["seq"]: {"occurred_at": earlier}})
        uow.session.commit()
    result = verify(db_url)
    assert result.exit_code == 1
    assert f"BROKEN at event {target['seq']}: timestamp runs backwards" in result.output


def test_appending_after_a_later_dated_event_never_writes_an_earlier_timestamp(trail):
    td, db_url, _ = trail
    td.clock = Clock("2030-06-01")
    with td.uow("x") as uow:
        uow.record("thing.created", "thing", "1")
        uow.commit()
    td.clock = Clock("2024-01-01")  # a clock behind the trail (the CLI on the real date after demo events)
    with td.uow("x") as uow:
        uow.record("thing.created", "thing", "2")
        uow.commit()
    with td.uow() as uow:
        events = list(uow.audit.events())
        head = uow.audit.head()
    assert events[-2].occurred_at.startswith("2030-06-01T12:00") and events[-1].occurred_at == events[-2].occurred_at
    stamps = [e.occurred_at for e in events]
    assert stamps == sorted(stamps) and head.last_at == stamps[-1]
    td.clock = Clock("2031-01-01")
    with td.uow("x") as uow:
        uow.record("thing.created", "thing", "3")
        uow.commit()
    with td.uow() as uow:
        assert uow.audit.event(uow.audit.head().seq).occurred_at.startswith("2031-01-01T12:00")
    assert verify(db_url).exit_code == 0


def test_wrong_or_missing_key_is_reported_as_such_and_refused_for_writes(trail, audit_dir, monkeypatch):
    td, db_url, _ = trail
    monkeypatch.setenv("TRIALDESK_AUDIT_KEY", secrets.token_hex(32))
    result = verify(db_url)
    assert result.exit_code == 3 and "WRONG KEY" in result.output and "wrong key" in result.output
    assert "BROKEN" not in result.output
    with td.uow("x") as uow, pytest.raises(IntegrityError, match="does not match the key"):
        uow.record("thing.created", "thing", "1")
        uow.commit()
    # the right key given as hex in the environment works like the file
    monkeypatch.setenv("TRIALDESK_AUDIT_KEY", real_key(audit_dir).hex())
    assert verify(db_url).exit_code == 0
    monkeypatch.delenv("TRIALDESK_AUDIT_KEY")
    monkeypatch.setenv("TRIALDESK_AUDIT_DIR", str(audit_dir.parent / "elsewhere"))
    missing = verify(db_url)
    assert missing.exit_code == 3 and "not available" in missing.output
    monkeypatch.setenv("TRIALDESK_AUDIT_KEY", "abc")
    bad = verify(db_url)
    assert bad.exit_code == 2 and "TRIALDESK_AUDIT_KEY" in bad.output


def test_tampered_or_foreign_checkpoints_are_refused(trail, tmp_path):
    td, db_url, _ = trail
    good = checkpoint(db_url, tmp_path / "cp.json")
    path = tmp_path / "bad.json"

    def run_with(data):
        path.write_text(json.dumps(data))
        return verify(db_url, path)

    # the seq moved back (to bless a truncation): the signature no longer covers it
    result = run_with({**good, "seq": good["seq"] - 1})
    assert result.exit_code == 1 and "signature does not verify" in result.output
    sig = bytearray(base64.b64decode(good["signature"]))
    sig[0] ^= 1
    result = run_with({**good, "signature": base64.b64encode(bytes(sig)).decode()})
    assert result.exit_code == 1 and "signature does not verify" in result.output
    # a checkpoint signed by someone else's key, consistent in itself
    from trialdesk.domain.audit import checkpoint_payload

    other = Ed25519PrivateKey.generate()
    forged = {
        **good,
        "public_key": base64.b64encode(other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
    }
    forged["signature"] = base64.b64encode(other.sign(checkpoint_payload(forged))).decode()
    result = run_with(forged)
    assert result.exit_code == 1 and "signed by a different key" in result.output
    result = run_with({"format": "nope"})
    assert result.exit_code == 2 and "format" in result.output
    assert verify(db_url, tmp_path / "cp.json").exit_code == 0


def test_checkpoint_to_stdout_and_log_filters(trail):
    td, db_url, ids = trail
    out = runner.invoke(cli, ["audit", "checkpoint", "--db", db_url])
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert data["format"] == "trialdesk-audit-checkpoint/v1" and set(data) >= {
        "seq", "hash", "occurred_at", "key_check", "public_key", "signature", "created_at"
    }  # fmt: skip
    log = runner.invoke(cli, ["audit", "log", "--db", db_url, "--action", "dose.", "--json", "--limit", "50"])
    assert log.exit_code == 0, log.output
    rows = json.loads(log.stdout)
    assert sorted(r["entity"] for r in rows if r["action"] == "dose.recorded") == sorted(f"dose:{i}" for i in ids)
    assert all(r["action"].startswith("dose.") for r in rows)
    bad = runner.invoke(cli, ["audit", "log", "--db", db_url, "--from", "2025-13-01"])
    assert bad.exit_code == 2 and "--from" in bad.output


def _legacy_database(db_url) -> list[AuditEvent]:
    """A database at migration 0006 holding three events chained the old way (plain SHA-256)."""
    from sqlalchemy import create_engine, insert

    from trialdesk.adapters.db.engine import resolve_url
    from trialdesk.adapters.db.migrate import upgrade

    engine = create_engine(resolve_url(db_url))
    upgrade(engine, "0006_dispositions_new_therapy")
    events, prev = [], "0" * 64
    for seq in (1, 2, 3):
        event = AuditEvent(
            seq=seq, occurred_at=f"2026-01-0{seq}T10:00:00.000000+00:00", actor="old", action="thing.created",
            entity_type="thing", entity_id=str(seq), trial=None, site=None, before=None, after='{"n":1}',
            reason=None, prev_hash=prev,
        )  # fmt: skip
        event = AuditEvent(**{**event.__dict__, "hash": event.compute_hash()})
        events.append(event)
        prev = event.hash
    with engine.begin() as conn:
        for e in events:
            conn.execute(
                insert(t.audit_events).values(
                    seq=e.seq, occurred_at=e.occurred_at, actor=e.actor, action=e.action, entity_type=e.entity_type,
                    entity_id=e.entity_id, after_json=e.after, prev_hash=e.prev_hash, hash=e.hash,
                )
            )  # fmt: skip
        conn.exec_driver_sql(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 3, '{prev}')")
    engine.dispose()
    return events


def test_a_legacy_unkeyed_chain_is_sealed_by_the_first_keyed_append(audit_dir, db_url):
    from trialdesk.bootstrap import bootstrap

    legacy = _legacy_database(db_url)
    td = bootstrap(db_url, load_default=False)  # migrates to 0007
    try:
        with td.uow() as uow:
            head = uow.audit.head()
        assert (head.seq, head.keyed_from, head.key_check, head.last_at) == (3, 4, None, legacy[-1].occurred_at)
        # not keyed yet: verify says so rather than passing a chain anyone could have recomputed
        not_yet = verify(db_url)
        assert not_yet.exit_code == 1 and "not keyed yet" in not_yet.output
        with td.uow("new") as uow:
            uow.record("thing.created", "thing", "4")
            uow.commit()
        assert verify(db_url).exit_code == 0
        with td.uow() as uow:
            stored = list(uow.audit.events())
        assert stored[:3] == legacy  # old events untouched
        assert stored[3].hash == stored[3].compute_hash(real_key(audit_dir)) != stored[3].compute_hash()
        # an attacker edits an old event and recomputes the unkeyed part (the public algorithm), relinking event 4
        with td.uow() as uow:
            rechain(uow.session, 2, None, {2: {"after": '{"n":2}'}})
            new3 = uow.session.execute(select(t.audit_events.c.hash).where(t.audit_events.c.seq == 3)).scalar_one()
            uow.session.execute(update(t.audit_events).where(t.audit_events.c.seq == 4).values(prev_hash=new3))
            uow.session.commit()
        result = verify(db_url)
        assert result.exit_code == 1 and "BROKEN at event 4: the seal" in result.output
    finally:
        td.dispose()
