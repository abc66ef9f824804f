"""Database, units of work and the audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.entrypoints.cli.main import app as cli
from trialdesk.services import registry
from trialdesk.services.audit import verify_audit

runner = CliRunner()


def test_default_trial_loaded_with_sites(td):
    with td.uow() as uow:
        protocol = registry.get_protocol(uow, "NCT07003074")
        row = uow.trials.get("NCT07003074")
        sites = uow.sites.for_trial(row.id)
    assert protocol.registry.design.enrollment.count == 642
    assert len(sites) == 25
    assert [s.site_key for s in sites if s.status == "RECRUITING"] == ["hunan-cancer-hospital"]


def test_write_and_audit_event_commit_together(td):
    with td.uow("alice") as uow:
        uow.record("test.thing", "thing", 1, after={"x": 1}, reason="because")
        # leaving without commit rolls back both
    with td.uow() as uow:
        assert uow.audit.count() == 2  # only the first start's: the default trial and the CTCAE dictionary
    with td.uow("alice") as uow:
        uow.record("test.thing", "thing", 1, after={"x": 1}, reason="because")
        uow.commit()
    with td.uow() as uow:
        [event] = uow.audit.query(entity_type="thing")
        assert (event.actor, event.action, event.reason, event.after_json) == (
            "alice",
            "test.thing",
            "because",
            '{"x":1}',
        )
        assert event.occurred_at.endswith("+00:00")
        count, broken = verify_audit(uow)
    assert count == 3 and broken is None


def _add_events(td, n):
    for i in range(n):
        with td.uow("bob") as uow:
            uow.record("test.step", "thing", i, before={"v": i}, after={"v": i + 1}, reason=f"step {i}")
            uow.commit()


@pytest.mark.parametrize("tamper", ["update", "delete_middle", "delete_last"])
def test_audit_verify_catches_raw_sql_tampering(td, db_url, tamper, monkeypatch):
    _add_events(td, 4)
    monkeypatch.setenv("TRIALDESK_DATABASE_URL", db_url)
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0 and "OK: 6 events" in ok.output  # the first start's two, then four
    with td.engine.begin() as conn:
        if tamper == "update":
            conn.execute(text("UPDATE audit_events SET after_json = :v WHERE seq = 3"), {"v": '{"v":99}'})
        elif tamper == "delete_middle":
            conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
        else:
            conn.execute(text("DELETE FROM audit_events WHERE seq = 6"))
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    expected = {"update": "event 3", "delete_middle": "event 4", "delete_last": "event 6"}[tamper]
    assert f"BROKEN at {expected}" in result.output


def test_reload_unchanged_protocol_writes_nothing(td):
    with td.uow() as uow:
        assert registry.save_protocol(uow, load_default_protocol()) == "unchanged"
        uow.commit()
        assert uow.audit.count() == 2  # the first start's: the default trial and the CTCAE dictionary


def test_migrations_are_idempotent(db_url):
    from trialdesk.adapters.db.migrate import current_revision
    from trialdesk.bootstrap import bootstrap

    a = bootstrap(db_url)
    b = bootstrap(db_url)
    assert current_revision(b.engine) is not None
    a.dispose()
    b.dispose()
