"""``trialdesk backup`` / ``restore``: the database and the secrets kept outside it, in one sealed archive.

The archive is a gzip'd tar sealed with a passphrase (:mod:`trialdesk.adapters.sealed`: scrypt, AES-256-GCM). Its
members::

    manifest.json                      format, created_at, database kind, Alembic revision, row counts, member sha256
    database.sqlite | database.pgdump  the database (SQLite online backup API, or pg_dump --format=custom)
    secrets/randomization/...          every file under the randomization directory (the seed files)
    secrets/audit/...                  every file under the audit directory (the audit trail's keys)
    secrets/environment.json           $TRIALDESK_RANDOMIZATION_SECRET / $TRIALDESK_AUDIT_KEY, when set

Restore checks everything before it changes anything: the seal (wrong passphrase, any flipped byte, a cut), each
member's sha256, the format, the database kind, that the code knows the archive's schema revision, that the target
database is empty (unless ``force``) and that no secret file it would write differs from one already there. Then it
restores the database, writes the secret files back (0600, in 0700 directories; identical files are kept), turns the
archived environment secrets into the files they stand for (``$TRIALDESK_RANDOMIZATION_SECRET``: the seed file of
every list it belongs to; ``$TRIALDESK_AUDIT_KEY``: ``audit-hmac.key`` when the archive has none), and checks that
every table's row count matches the manifest. Plaintext only ever exists in a private temporary directory, removed after.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from trialdesk.adapters import audit_keys, sealed
from trialdesk.adapters.db import dump as db_dump
from trialdesk.adapters.db.migrate import known_revisions
from trialdesk.adapters.randomization_secret import SeedStore, parse_seed, seed_check, seed_directory
from trialdesk.domain.errors import Conflict, IntegrityError, InvalidInput
from trialdesk.settings import Settings, get_settings

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ENVIRONMENT = "secrets/environment.json"
#: Secret directories: member prefix -> how to find the directory from the settings.
SECRET_DIRS = ("randomization", "audit")
ENV_SECRETS = {"TRIALDESK_RANDOMIZATION_SECRET": "randomization_secret", "TRIALDESK_AUDIT_KEY": "audit_key"}

__all__ = ["BackupReport", "RestoreReport", "create_backup", "restore_backup", "secret_directory"]


def secret_directory(kind: str, settings: Settings) -> Path:
    """Where the ``randomization`` seed files or the ``audit`` key files live (settings, else the data dir)."""
    if kind == "randomization":
        return seed_directory(settings)
    return audit_keys.default_directory(settings)


@dataclass
class BackupReport:
    archive: str
    database: str
    revision: str | None
    tables: int
    rows: int
    secret_files: int
    environment_secrets: list[str]
    bytes: int


@dataclass
class RestoreReport:
    database: str
    revision: str | None
    created_at: str
    tables: int
    rows: int
    secrets_written: list[str] = field(default_factory=list)
    secrets_kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@contextmanager
def _private_tempdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _secret_files(settings: Settings) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for kind in SECRET_DIRS:
        directory = secret_directory(kind, settings)
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found.append((f"secrets/{kind}/{path.relative_to(directory).as_posix()}", path))
    return found


def create_backup(
    url: str, archive: Path, passphrase: str, *, settings: Settings | None = None, now: dt.datetime | None = None
) -> BackupReport:
    """Write the sealed archive of the database at ``url`` and its secrets to ``archive`` (refused if it exists)."""
    settings = settings or get_settings()
    if len(passphrase) < sealed.MIN_PASSPHRASE:
        raise InvalidInput(f"must be at least {sealed.MIN_PASSPHRASE} characters", field="passphrase")
    if archive.exists():
        raise Conflict(f"{archive} already exists: choose a new file name")
    if not archive.parent.is_dir():
        raise InvalidInput(f"directory {archive.parent} does not exist", field="archive")
    with _private_tempdir("trialdesk-backup-") as work:
        info = db_dump.dump(url, work)
        members: list[tuple[str, Path]] = [(info.filename, work / info.filename), *_secret_files(settings)]
        environment = {
            name: value for name, attr in ENV_SECRETS.items() if (value := getattr(settings, attr)) is not None
        }
        if environment:
            env_path = work / "environment.json"
            sealed.write_private(env_path, json.dumps(environment, sort_keys=True).encode("utf-8"))
            members.append((ENVIRONMENT, env_path))
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "created_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
            "database": info.kind,
            "alembic_revision": info.revision,
            "row_counts": info.counts,
            "members": {name: {"sha256": _sha256(path), "size": path.stat().st_size} for name, path in members},
        }
        payload = work / "payload.tar.gz"
        with tarfile.open(payload, "w:gz") as tar:
            data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
            entry = tarfile.TarInfo(MANIFEST)
            entry.size, entry.mode = len(data), 0o600
            tar.addfile(entry, io.BytesIO(data))
            for name, path in members:
                entry = tarfile.TarInfo(name)
                entry.size, entry.mode = path.stat().st_size, 0o600
                with path.open("rb") as handle:
                    tar.addfile(entry, handle)
        partial = archive.with_name(archive.name + ".partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, payload.open("rb") as source:
                sealed.seal(source, out, passphrase)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, archive)
        finally:
            partial.unlink(missing_ok=True)
    return BackupReport(
        archive=str(archive),
        database=info.kind,
        revision=info.revision,
        tables=len(info.counts),
        rows=sum(info.counts.values()),
        secret_files=sum(1 for name, _ in members if name.startswith("secrets/") and name != ENVIRONMENT),
        environment_secrets=sorted(environment),
        bytes=archive.stat().st_size,
    )


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise IntegrityError(f"the archive names an unsafe path: {name!r}")
    return path


def _open_payload(archive: Path, passphrase: str, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Unseal and unpack into ``work``; every member checked against the manifest's sha256."""
    if not archive.is_file():
        raise InvalidInput(f"no archive at {archive}", field="archive")
    payload = work / "payload.tar.gz"
    with archive.open("rb") as source, payload.open("wb") as out:
        sealed.unseal(source, out, passphrase)
    members: dict[str, Path] = {}
    try:
        with tarfile.open(payload, "r:gz") as tar:
            entries = tar.getmembers()
            names = [e.name for e in entries]
            if len(set(names)) != len(names) or MANIFEST not in names:
                raise IntegrityError("the archive's contents are malformed (no manifest, or a name twice)")
            for entry in entries:
                if not entry.isfile():
                    raise IntegrityError(f"the archive holds something other than a file: {entry.name!r}")
                relative = _safe_name(entry.name)
                target = work / "payload" / relative
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                handle = tar.extractfile(entry)
                if handle is None:  # pragma: no cover - isfile() above
                    raise IntegrityError(f"cannot read {entry.name!r} from the archive")
                with handle, target.open("wb") as out:
                    shutil.copyfileobj(handle, out)
                os.chmod(target, 0o600)
                members[entry.name] = target
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise IntegrityError(f"the archive's contents are malformed: {exc}") from None
    try:
        manifest = json.loads(members.pop(MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["members"]
        version = manifest["format_version"]
    except (ValueError, KeyError, TypeError):
        raise IntegrityError("the archive's manifest is unreadable") from None
    if version != FORMAT_VERSION:
        raise Conflict(f"archive format {version} is not supported by this version (format {FORMAT_VERSION})")
    if set(listed) != set(members):
        raise IntegrityError("the archive's members do not match its manifest")
    for name, path in members.items():
        if _sha256(path) != listed[name]["sha256"]:
            raise IntegrityError(f"the archive's member {name} does not match its sha256 in the manifest")
    return manifest, members


def _plan_secrets(members: dict[str, Path], settings: Settings) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Which secret files to write and which are already there (identical); a different existing file refuses."""
    writes: list[tuple[Path, Path]] = []
    kept: list[str] = []
    for name, source in sorted(members.items()):
        parts = PurePosixPath(name).parts
        if name == ENVIRONMENT or parts[0] != "secrets":
            continue
        if len(parts) < 3 or parts[1] not in SECRET_DIRS:
            raise IntegrityError(f"the archive holds an unexpected secret member {name!r}")
        target = secret_directory(parts[1], settings).joinpath(*parts[2:])
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise Conflict(f"{target} exists and is not a regular file; nothing was restored")
        if target.exists():
            if target.read_bytes() != source.read_bytes():
                raise Conflict(f"{target} exists with different contents; move it away first (nothing was restored)")
            kept.append(str(target))
            continue
        writes.append((source, target))
    return writes, kept


def _write_secret(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sealed.write_private(target, source.read_bytes())


def _environment(members: dict[str, Path]) -> dict[str, str]:
    path = members.get(ENVIRONMENT)
    if path is None:
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise IntegrityError("the archive's environment secrets are unreadable") from None
    if not isinstance(loaded, dict) or not set(loaded) <= set(ENV_SECRETS):
        raise IntegrityError("the archive's environment secrets name unexpected variables")
    return {str(k): str(v) for k, v in loaded.items()}


def _plan_audit_key(environment: dict[str, str], members: dict[str, Path], settings: Settings) -> Path | None:
    """``$TRIALDESK_AUDIT_KEY`` of the archive becomes the audit key file when the archive has none: the file to
    write, or None (nothing to write, or the same key already there); a different key file refuses."""
    value = environment.get("TRIALDESK_AUDIT_KEY")
    if value is None or f"secrets/audit/{audit_keys.HMAC_KEY_FILE}" in members:
        return None
    key = audit_keys.parse_key(value)
    target = audit_keys.default_directory(settings) / audit_keys.HMAC_KEY_FILE
    if target.exists():
        if audit_keys.parse_key(target.read_text(encoding="ascii"), field=str(target)) != key:
            raise Conflict(f"{target} holds a different audit key; move it away first (nothing was restored)")
        return None
    return target


def _restore_environment(environment: dict[str, str], url: str, settings: Settings, report: RestoreReport) -> None:
    """The archived ``$TRIALDESK_RANDOMIZATION_SECRET`` becomes the seed file of every list whose seed it is."""
    seed_text = environment.get("TRIALDESK_RANDOMIZATION_SECRET")
    if seed_text:
        seed = parse_seed(seed_text, field="TRIALDESK_RANDOMIZATION_SECRET")
        store = SeedStore(settings=settings)
        for nct_id, check in db_dump.list_seed_checks(url):
            if check == seed_check(seed):
                report.secrets_written.append(str(store.save(nct_id, seed)))
    for name, attr in ENV_SECRETS.items():
        current = getattr(settings, attr)
        if current and name in environment and current != environment[name]:
            report.notes.append(f"${name} is set to another value than the archive's: unset it to use the restored one")


def restore_backup(
    url: str, archive: Path, passphrase: str, *, force: bool = False, settings: Settings | None = None
) -> RestoreReport:
    """Restore ``archive`` into the database at ``url`` and the secret directories; refuses, changing nothing, a
    damaged or mismatched archive or a non-empty target (unless ``force``)."""
    settings = settings or get_settings()
    target_kind = db_dump.database_kind(url)
    with _private_tempdir("trialdesk-restore-") as work:
        manifest, members = _open_payload(archive, passphrase, work)
        kind, revision, counts = manifest["database"], manifest["alembic_revision"], manifest["row_counts"]
        if kind != target_kind:
            raise Conflict(f"the archive holds a {kind} database; the target is {target_kind}")
        database_member = db_dump.SQLITE_FILE if kind == "sqlite" else db_dump.PG_FILE
        if database_member not in members:
            raise IntegrityError(f"the archive has no {database_member}")
        unknown = [r for r in (revision or "").split(",") if r and r not in known_revisions()]
        if unknown:
            raise Conflict(
                f"the archive's schema revision {revision} is newer than this code knows: upgrade trialdesk first"
            )
        tables = db_dump.user_tables(url)
        if tables and not force:
            raise Conflict(
                f"the target database is not empty ({len(tables)} tables): restore into an empty one, or pass --force "
                "to replace its contents"
            )
        checked = db_dump.check_copy(members[database_member], kind)
        if checked is not None and checked != (revision, counts):
            raise IntegrityError("the archived database does not match its manifest (revision or row counts)")
        writes, kept = _plan_secrets(members, settings)
        environment = _environment(members)
        audit_key_file = _plan_audit_key(environment, members, settings)
        db_dump.restore(url, members[database_member], kind, force=force)
        report = RestoreReport(
            database=kind,
            revision=revision,
            created_at=manifest["created_at"],
            tables=len(counts),
            rows=sum(counts.values()),
            secrets_kept=kept,
        )
        for source, target in writes:
            _write_secret(source, target)
            report.secrets_written.append(str(target))
        if audit_key_file is not None:
            audit_key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            sealed.write_private(
                audit_key_file, (audit_keys.parse_key(environment["TRIALDESK_AUDIT_KEY"]).hex() + "\n").encode()
            )
            report.secrets_written.append(str(audit_key_file))
        _restore_environment(environment, url, settings, report)
    restored_revision, restored_counts = db_dump.row_counts(url)
    if (restored_revision, restored_counts) != (revision, counts):
        differing = sorted(
            t for t in set(counts) | set(restored_counts) if counts.get(t) != restored_counts.get(t)
        ) or ["alembic_version"]
        raise IntegrityError(f"after restoring, row counts differ from the manifest in: {', '.join(differing)}")
    return report
