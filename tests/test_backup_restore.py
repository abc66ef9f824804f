"""Backup and restore: the restore drill on SQLite and PostgreSQL, and every refusal (damage, wrong passphrase,
mismatched archive, non-empty target, a different secret already in place)."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from trialdesk.adapters import ports as real_ports
from trialdesk.adapters import randomization_secret, sealed
from trialdesk.adapters.db.engine import resolve_url
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.cli.main import app as cli

PASSPHRASE = "correct horse battery staple"
NCT = "NCT07003074"


def _counts(url: str) -> dict[str, int]:
    """Every table's row count, read independently of the backup code."""
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {n: conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def _drop(url: str) -> None:
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        path = Path(resolved.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(resolved)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _forget_cached_secrets(monkeypatch) -> None:
    """Seeds and audit keys must come from the files, not from what this process remembers."""
    monkeypatch.setattr(randomization_secret, "_default", None)
    monkeypatch.setattr(real_ports, "_default", None)


def _invoke(*args: str) -> tuple[int, str]:
    """Exit code and output with its whitespace collapsed (Rich wraps long lines at the terminal's width)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A data dir of its own (seed files, audit keys), a passphrase file, and no seed cached from earlier tests."""
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TRIALDESK_RANDOMIZATION_SECRET", raising=False)
    monkeypatch.delenv("TRIALDESK_AUDIT_KEY", raising=False)
    monkeypatch.delenv("TRIALDESK_BACKUP_PASSPHRASE", raising=False)
    _forget_cached_secrets(monkeypatch)
    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE + "\n")
    return tmp_path


def _small_database(url: str, tmp_path: Path) -> None:
    """The default trial and a generated list (its seed file in the data dir)."""
    bootstrap(url).dispose()
    code, out = _invoke("randomization", "generate", "--db", url, "--slots-per-stratum", "4", "--json")
    assert code == 0, out


def _backup(url: str, tmp_path: Path, name: str = "trial.tdbackup") -> Path:
    archive = tmp_path / name
    code, out = _invoke("backup", str(archive), "--db", url, "--passphrase-file", str(tmp_path / "passphrase"))
    assert code == 0, out
    return archive


def _restore(url: str, archive: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    return _invoke("restore", str(archive), "--db", url, "--passphrase-file", str(tmp_path / "passphrase"), *extra)


def test_restore_drill(db_url, env, monkeypatch):
    from trialdesk.services.demo import run_demo

    data = env / "data"
    td = bootstrap(db_url)
    report = run_demo(td, subjects=6, seed=3)
    td.dispose()
    assert report.randomized == 6
    checkpoint = env / "checkpoint.json"
    code, out = _invoke("audit", "checkpoint", "--db", db_url, "--out", str(checkpoint))
    assert code == 0, out
    assert {p.name for p in (data / "audit").iterdir()} >= {"audit-hmac.key", "checkpoint-ed25519.pem"}
    (data / "audit" / "extra-key.txt").write_text("kept with the audit keys\n")  # any file of the dir is archived
    before = _counts(db_url)
    seeds = {p.name: p.read_bytes() for p in (data / "randomization").iterdir()}
    audit_files = {p.relative_to(data / "audit"): p.read_bytes() for p in (data / "audit").rglob("*") if p.is_file()}
    assert len(seeds) == 1 and before["allocations"] == 6

    archive = _backup(db_url, env)
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert b"randomization" not in archive.read_bytes()  # sealed: nothing readable inside

    _drop(db_url)
    shutil.move(data, env / "data.moved")
    _forget_cached_secrets(monkeypatch)  # the seed and keys must come from the restored files
    code, out = _restore(db_url, archive, env, "--json")
    assert code == 0, out
    restored = json.loads(out)
    assert restored["rows"] == sum(before.values())

    assert _counts(db_url) == before
    for name, content in seeds.items():
        path = data / "randomization" / name
        assert path.read_bytes() == content and oct(path.stat().st_mode & 0o777) == "0o600"
    for relative, content in audit_files.items():
        assert (data / "audit" / relative).read_bytes() == content
    code, out = _invoke("randomization", "verify", "--db", db_url, "--json")
    assert code == 0, out
    assert json.loads(out)["status"] == "ok" and json.loads(out)["allocations"] == 6
    code, out = _invoke("audit", "verify", "--db", db_url, "--checkpoint", str(checkpoint))
    assert code == 0 and out.startswith("OK") and "matches 1 checkpoint" in out, out


def test_wrong_passphrase_and_damage_change_nothing(env):
    url = f"sqlite:///{env / 'source.sqlite'}"
    _small_database(url, env)
    archive = _backup(url, env)
    target = f"sqlite:///{env / 'target.sqlite'}"
    shutil.move(env / "data", env / "data.moved")

    wrong = env / "wrong"
    wrong.write_text("not the passphrase at all\n")
    result = _invoke("restore", str(archive), "--db", target, "--passphrase-file", str(wrong))
    assert result[0] == 2 and "passphrase: wrong passphrase" in result[1]

    blob = archive.read_bytes()
    damaged = {
        "header byte": blob[:20] + bytes([blob[20] ^ 1]) + blob[21:],
        "middle byte": blob[: len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 0x40]) + blob[len(blob) // 2 + 1 :],
        "last byte": blob[:-1] + bytes([blob[-1] ^ 1]),
        "truncated": blob[:-100],
        "empty": b"",
    }
    for what, content in damaged.items():
        bad = env / f"damaged-{what.replace(' ', '-')}"
        bad.write_bytes(content)
        code, out = _restore(target, bad, env)
        assert code == 1 and "damaged" in out, (what, out)
    assert not (env / "target.sqlite").exists()
    assert not (env / "data").exists()  # no secret written either
    code, out = _restore(target, archive, env)
    assert code == 0, out


def test_refuses_non_empty_target_unless_forced_and_a_different_secret(db_url, env):
    _small_database(db_url, env)
    at_backup = _counts(db_url)
    archive = _backup(db_url, env)
    code, out = _invoke("randomization", "go-live", "--db", db_url)  # the database moves on after the backup
    assert code == 0, out
    moved_on = _counts(db_url)
    assert moved_on != at_backup
    code, out = _restore(db_url, archive, env)
    assert code == 1 and "not empty" in out and "--force" in out
    assert _counts(db_url) == moved_on

    # A different seed file under the same name: refused, the database untouched.
    [seed_file] = (env / "data" / "randomization").iterdir()
    original = seed_file.read_bytes()
    seed_file.write_text("ab" * 32 + "\n")
    code, out = _restore(db_url, archive, env, "--force")
    assert code == 1 and "different contents" in out
    assert _counts(db_url) == moved_on

    seed_file.write_bytes(original)
    code, out = _restore(db_url, archive, env, "--force")
    assert code == 0, out
    assert _counts(db_url) == at_backup
    code, out = _invoke("audit", "verify", "--db", db_url)
    assert code == 0, out


def test_backup_of_a_database_being_written_is_consistent(db_url, env):
    """Writers keep committing audited changes while the backup runs: the archive is one instant (the chain intact,
    the counts those of the copy), whatever was written after it."""
    import threading

    from trialdesk.adapters.backup import create_backup

    td = bootstrap(db_url)
    stop, written = threading.Event(), [0]

    def writer() -> None:
        while not stop.is_set():
            with td.uow("writer") as uow:
                uow.record("test.ping", "test", written[0], reason="written during the backup")
                uow.commit()
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            time.sleep(0.01)
        report = create_backup(resolve_url(db_url), env / "live.tdbackup", PASSPHRASE)
        during = written[0]
        while written[0] < during + 20:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
        td.dispose()
    after = _counts(db_url)
    code, out = _restore(db_url, env / "live.tdbackup", env, "--force", "--json")
    assert code == 0, out
    restored = _counts(db_url)
    assert sum(restored.values()) == report.rows
    assert 20 <= restored["audit_events"] < after["audit_events"]
    code, out = _invoke("audit", "verify", "--db", db_url)
    assert code == 0 and out.startswith("OK"), out


def test_refuses_an_archive_of_a_newer_schema(env):
    url = f"sqlite:///{env / 'source.sqlite'}"
    _small_database(url, env)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    archive = _backup(url, env)
    code, out = _restore(f"sqlite:///{env / 'target.sqlite'}", archive, env)
    assert code == 1 and "newer than this code" in out
    assert not (env / "target.sqlite").exists()


def test_refuses_another_database_kind(env, pg_url):
    url = f"sqlite:///{env / 'source.sqlite'}"
    _small_database(url, env)
    archive = _backup(url, env)
    code, out = _restore(pg_url, archive, env)
    assert code == 1 and "holds a sqlite database; the target is postgresql" in out
    assert _counts(pg_url) == {}


def test_environment_seed_becomes_the_lists_seed_file(env, monkeypatch):
    url = f"sqlite:///{env / 'source.sqlite'}"
    _small_database(url, env)
    [seed_file] = (env / "data" / "randomization").iterdir()
    monkeypatch.setenv("TRIALDESK_RANDOMIZATION_SECRET", seed_file.read_text().strip())
    name, content = seed_file.name, seed_file.read_bytes()
    seed_file.unlink()  # the seed lives only in the environment
    archive = _backup(url, env)
    monkeypatch.delenv("TRIALDESK_RANDOMIZATION_SECRET")
    shutil.move(env / "data", env / "data.moved")
    _forget_cached_secrets(monkeypatch)
    target = f"sqlite:///{env / 'target.sqlite'}"
    code, out = _restore(target, archive, env)
    assert code == 0, out
    assert (env / "data" / "randomization" / name).read_bytes() == content
    assert oct((env / "data" / "randomization" / name).stat().st_mode & 0o777) == "0o600"
    code, out = _invoke("randomization", "verify", "--db", target, "--json")
    assert code == 0 and json.loads(out)["status"] == "ok", out


def test_passphrase_rules(env, monkeypatch):
    url = f"sqlite:///{env / 'source.sqlite'}"
    bootstrap(url).dispose()
    short = env / "short"
    short.write_text("tooshort\n")
    code, out = _invoke("backup", str(env / "a.tdb"), "--db", url, "--passphrase-file", str(short))
    assert code == 2 and "passphrase: must be at least 12 characters" in out
    assert not (env / "a.tdb").exists()
    code, out = _invoke("backup", str(env / "a.tdb"), "--db", url, "--passphrase", PASSPHRASE)
    assert code != 0 and not (env / "a.tdb").exists()  # no passphrase on the command line
    monkeypatch.setenv("TRIALDESK_BACKUP_PASSPHRASE", PASSPHRASE)
    code, out = _invoke("backup", str(env / "a.tdb"), "--db", url)
    assert code == 0, out
    code, out = _invoke("backup", str(env / "a.tdb"), "--db", url)
    assert code == 1 and "already exists" in out


def test_pg_password_goes_to_the_child_environment_only(env, pg_url, monkeypatch):
    url = pg_url.replace("://postgres@", "://postgres:s3cret-pw@")  # trust auth: the password is not checked
    if "s3cret-pw" not in url:
        pytest.skip("the test PostgreSQL URL has a password of its own")
    bootstrap(url).dispose()
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(args, **kwargs):
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real_run(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    archive = _backup(url, env)
    [(args, child_env)] = calls
    assert "s3cret-pw" not in " ".join(args) and child_env["PGPASSWORD"] == "s3cret-pw"
    assert Path(args[0]).name == "pg_dump" and "--format=custom" in args
    monkeypatch.setenv("PATH", str(env / "empty-path"))
    code, out = _invoke("backup", str(env / "again.tdb"), "--db", url, "--passphrase-file", str(env / "passphrase"))
    assert code == 1 and "pg_dump is not on PATH" in out
    assert archive.exists() and not (env / "again.tdb").exists()


# ---------------------------------------------------------------------------------------------------------------
# The seal itself
# ---------------------------------------------------------------------------------------------------------------


def _seal(data: bytes, chunk: int) -> bytes:
    out = io.BytesIO()
    sealed.seal(io.BytesIO(data), out, PASSPHRASE, chunk=chunk)
    return out.getvalue()


def _unseal(blob: bytes, passphrase: str = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    sealed.unseal(io.BytesIO(blob), out, passphrase)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000])
def test_seal_round_trip_over_chunks(size):
    data = os.urandom(size)
    blob = _seal(data, chunk=100)
    assert _unseal(blob) == data
    assert len(data) < 16 or data[:16] not in blob


def test_seal_detects_cuts_at_chunk_boundaries_and_reordering():
    from trialdesk.domain.errors import IntegrityError, InvalidInput

    blob = _seal(os.urandom(300), chunk=100)
    (header_length,) = struct.unpack(">I", blob[8:12])
    start = 12 + header_length
    chunks = [blob[start + i * 116 : start + (i + 1) * 116] for i in range(3)]
    assert len(blob) == start + 3 * 116  # three full chunks, the third marked last
    for bad in (
        blob[: start + 2 * 116],  # a cut exactly at a chunk boundary
        blob[: start + 116],
        blob[:start] + chunks[1] + chunks[0] + chunks[2],
        blob[:start] + chunks[0] + chunks[2],
    ):
        with pytest.raises(IntegrityError):
            _unseal(bad)
    with pytest.raises(InvalidInput):
        _unseal(blob, "a different passphrase")


def test_environment_audit_key_becomes_the_key_file(env, monkeypatch):
    url = f"sqlite:///{env / 'source.sqlite'}"
    key = "5a" * 32
    monkeypatch.setenv("TRIALDESK_AUDIT_KEY", key)
    _small_database(url, env)
    assert not (env / "data" / "audit" / "audit-hmac.key").exists()  # the chain's key lives only in the environment
    archive = _backup(url, env)
    monkeypatch.delenv("TRIALDESK_AUDIT_KEY")
    shutil.move(env / "data", env / "data.moved")
    _forget_cached_secrets(monkeypatch)
    target = f"sqlite:///{env / 'target.sqlite'}"
    code, out = _restore(target, archive, env)
    assert code == 0, out
    key_file = env / "data" / "audit" / "audit-hmac.key"
    assert key_file.read_text().strip() == key and oct(key_file.stat().st_mode & 0o777) == "0o600"
    code, out = _invoke("audit", "verify", "--db", target)
    assert code == 0 and out.startswith("OK"), out
    key_file.write_text("a5" * 32 + "\n")  # the control: another key does not verify
    _forget_cached_secrets(monkeypatch)
    code, out = _invoke("audit", "verify", "--db", target)
    assert code == 3, out
