"""Casebook e-signature: investigator only, password re-entered (wrong one refused and audited), manifest hash,
invalidation by a later change (an AE edit with a reason), re-signing (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json

import pytest

from access_helpers import NCT, PASSWORD, make_users
from capture_helpers import THP_RELATIONSHIP, Clock, add_subject, load_ctcae
from trialdesk.domain.access import Role
from trialdesk.domain.errors import AuthenticationFailed, Conflict, PermissionDenied
from trialdesk.services import adverse_events as ae
from trialdesk.services import signatures as sig
from trialdesk.services.commands import EditRecord, RecordAdverseEvent, SignCasebook


def _sign(td, principal, password=PASSWORD, meaning=sig.DEFAULT_MEANING):
    with td.uow(principal.username) as uow:
        out = sig.sign_casebook(uow, principal, NCT, "HUN-0001", SignCasebook(password=password, meaning=meaning))
        uow.commit()
    return out


def _status(td, principal):
    with td.uow() as uow:
        return sig.casebook_status(uow, principal, NCT, "HUN-0001")


def test_sign_invalidate_resign(td, shared_dir):
    td.clock = Clock()
    users = make_users(td)
    load_ctcae(td, shared_dir)
    add_subject(td, "HUN-0001")
    inv, coord = users[Role.INVESTIGATOR], users[Role.COORDINATOR]
    with td.uow() as uow:
        event = ae.record_adverse_event(
            uow,
            coord,
            NCT,
            "HUN-0001",
            RecordAdverseEvent.model_validate(
                {"term": "Nausea", "grade": 1, "onset_date": "2026-01-20", "relationship": THP_RELATIONSHIP}
            ),
        )
        uow.commit()
    assert _status(td, inv)["status"] == "unsigned"

    with pytest.raises(AuthenticationFailed):
        _sign(td, inv, password="not my password")
    with td.uow() as uow:
        [failed] = uow.audit.query(action_prefix="casebook.sign_failed")
    assert (failed.actor, failed.entity_id) == ("investigator1", "HUN-0001")
    for role in (Role.COORDINATOR, Role.MONITOR):
        with pytest.raises(PermissionDenied) as info:
            _sign(td, users[role])
        assert info.value.status_code == 403
    assert _status(td, inv)["status"] == "unsigned"

    signed = _sign(td, inv)
    manifest = signed["manifest"]
    assert manifest["signer"] == "investigator1" and manifest["meaning"] == "I approve the data in this casebook"
    assert manifest["signed_at"] == "2026-03-02T02:00:00+00:00" and manifest["data_version"] == 1
    recomputed = hashlib.sha256(
        json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert signed["manifest_hash"] == recomputed
    status = _status(td, coord)
    assert status["status"] == "signed" and status["content_hash"] == manifest["content_hash"]
    with pytest.raises(Conflict, match="already signed"):
        _sign(td, inv)

    td.clock.advance(hours=1)
    with td.uow() as uow:
        ae.update_adverse_event(
            uow, coord, NCT, "HUN-0001", event["id"], EditRecord(changes={"grade": 2}, reason="grade per source")
        )
        uow.commit()
    status = _status(td, inv)
    assert status["status"] == "needs_resigning" and status["data_version"] == 2
    assert status["content_hash"] != manifest["content_hash"]
    [old] = status["signatures"]
    assert old["invalidated_at"].startswith("2026-03-02T03:00") and "grade per source" in old["invalidated_reason"]
    with td.uow() as uow:
        [inval] = uow.audit.query(action_prefix="casebook.signature_invalidated")
    assert (inval.actor, inval.reason) == ("coordinator1", "grade per source")

    again = _sign(td, inv)
    assert again["data_version"] == 2
    status = _status(td, inv)
    assert status["status"] == "signed" and [s["valid"] for s in status["signatures"]] == [True, False]
