"""``randomization qualify`` runs on a scratch database of its own and leaves nothing behind: not in the database
the user names (no trial, list or audit event), not in the temporary directory, not on the PostgreSQL server, not in
the data directory, and not when the run is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from trialdesk.adapters.db.engine import resolve_url
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.cli.main import app as cli

PG_ADMIN_URL = os.environ.get("TRIALDESK_TEST_POSTGRES_URL")


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {n: conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def _scratch_databases() -> list[str]:
    engine = create_engine(resolve_url(PG_ADMIN_URL))
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(text(r"SELECT datname FROM pg_database WHERE datname LIKE 'trialdesk\_qualify\_%'"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()


def test_qualify_leaves_the_users_database_untouched(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_tmp))
    bootstrap(db_url).dispose()
    before = _counts(db_url)
    assert before["trials"] == 1 and before["audit_events"] > 0 and before["randomization_lists"] == 0
    data_before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))

    result = CliRunner().invoke(
        cli, ["randomization", "qualify", "--db", db_url, "--subjects", "24", "--concurrency", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["allocated"], report["verify"], report["ok"]) == (24, "ok", True)
    assert report["database"].startswith("scratch")

    assert _counts(db_url) == before
    assert list(scratch_tmp.iterdir()) == []
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*")) == data_before
    if db_url.startswith("postgresql"):
        assert _scratch_databases() == []


def _start(tmp_path: Path, subjects: int) -> tuple[subprocess.Popen[bytes], Path]:
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir(exist_ok=True)
    user_db = tmp_path / "user.sqlite"
    env = {**os.environ, "TMPDIR": str(scratch_tmp), "TRIALDESK_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "trialdesk.entrypoints.cli.main", "randomization", "qualify"]
    command += ["--db", f"sqlite:///{user_db}", "--subjects", str(subjects), "--concurrency", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(scratch_tmp.glob("trialdesk-qualify-*/qualify.sqlite")):
        assert process.poll() is None and time.monotonic() < deadline, "qualify never created its scratch database"
        time.sleep(0.05)
    time.sleep(1.0)  # well into the run
    assert process.poll() is None
    return process, scratch_tmp


def test_a_terminated_qualify_cleans_up(tmp_path):
    process, scratch_tmp = _start(tmp_path, subjects=5000)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and b"interrupted" in stderr, stderr[-2000:]
    assert list(scratch_tmp.iterdir()) == []
    assert not (tmp_path / "user.sqlite").exists()  # the named database was never even created


def test_what_a_killed_qualify_leaves_is_swept_by_the_next(tmp_path, monkeypatch):
    from trialdesk.adapters.db.scratch import sweep_stale

    process, scratch_tmp = _start(tmp_path, subjects=5000)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    [left] = list(scratch_tmp.iterdir())
    assert left.name.startswith(f"trialdesk-qualify-{process.pid}-")
    mine = scratch_tmp / f"trialdesk-qualify-{os.getpid()}-live"  # a running process's scratch is kept
    mine.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_tmp))
    assert sweep_stale() == [str(left)]
    assert list(scratch_tmp.iterdir()) == [mine]
