"""Backup and restore: `qtrack backup FILE` while the server runs, `qtrack restore FILE` into
an empty database, migrated forward and every chain verified.

The file is a small tar (`envelope.py`): a manifest (format, qtrack version, schema
revision, database kind, counts, the payload's SHA-256), then the payload, written aside and
renamed when complete, so a failed backup never leaves half a file under the name asked for.
"""

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from qtrack import __version__, migrations
from qtrack.audit import verify as audit_verify
from qtrack.backup import engines, envelope
from qtrack.backup.engines import Contents, DatabaseNotEmpty
from qtrack.backup.envelope import BackupInvalid, Manifest
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.errors import Conflict, QtrackError
from qtrack.history import verify as chain_verify


class BackupTooNew(Conflict):
    code, message = "backup_too_new", "The backup was made by a newer qtrack"


class WrongDatabaseKind(BackupInvalid):
    code = "backup_of_other_database"


class BackupTargetUnusable(QtrackError):
    status_code, code = 400, "backup_target_unusable"
    message = "The backup cannot be written there"


def _check_target(target: Path) -> None:
    """Refuse, before any copying, a target whose folder is missing or not writable."""
    folder = target.parent
    if not folder.is_dir():
        raise BackupTargetUnusable(
            f"The folder {folder} does not exist: create it first (the backup is written "
            "beside its final name and renamed into place)",
            details={"folder": str(folder)},
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupTargetUnusable(
            f"The folder {folder} is not writable by this user",
            details={"folder": str(folder)},
        )


def _kind(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, what it holds, how big, how long it took."""

    path: Path
    manifest: Manifest
    size: int
    seconds: float


async def backup(settings: Settings, target: Path, *, pg_bin: Path | None = None) -> BackupResult:
    """Write a consistent backup of the configured database to `target` (the server may be
    running and writing meanwhile)."""
    started = time.perf_counter()
    _check_target(target)
    kind = _kind(settings)
    # Beside the target: the payload may be as big as the database, and the rename is atomic.
    with tempfile.TemporaryDirectory(prefix=".qtrack-backup-", dir=target.parent) as tmp:
        payload = Path(tmp) / envelope.PAYLOADS[kind]
        if kind == "sqlite":
            copied = await engines.sqlite_backup(settings, payload)
        else:
            copied = await engines.postgres_backup(settings, payload, pg_bin)
        manifest = await asyncio.to_thread(_seal, kind, copied, payload, target)
    size = await asyncio.to_thread(lambda: target.stat().st_size)
    return BackupResult(target, manifest, size, time.perf_counter() - started)


def _seal(kind: str, copied: engines.Copied, payload: Path, target: Path) -> Manifest:
    """Describe the payload in a manifest and write both as the backup file."""
    found = copied.contents
    manifest = Manifest(
        format=envelope.FORMAT,
        format_version=envelope.FORMAT_VERSION,
        qtrack_version=__version__,
        schema_revision=found.revision,
        database=kind,
        payload=payload.name,
        payload_bytes=payload.stat().st_size,
        payload_sha256=envelope.sha256_of(payload),
        created_at=utcnow().isoformat().replace("+00:00", "Z"),
        items=found.items,
        events=found.events,
        tool=copied.tool,
    )
    partial = payload.with_name("backup.partial")
    envelope.write(partial, manifest, payload)
    os.replace(partial, target)
    return manifest


@dataclass(frozen=True)
class RestoreResult:
    """A restore done: what the backup held, what the database holds now, how it checked."""

    manifest: Manifest
    migrated_from: str | None
    migrated_to: str | None
    contents: Contents
    chains: chain_verify.ChainReport
    checkpoints: audit_verify.CheckpointReport

    @property
    def intact(self) -> bool:
        """Every chain and every checkpoint checked out, and nothing is missing."""
        return (
            self.chains.intact
            and self.checkpoints.intact
            and self.contents.events >= self.manifest.events
            and self.contents.items >= self.manifest.items
        )


def check_revision(manifest: Manifest) -> None:
    """Refuse a backup whose schema this qtrack does not know (made by a newer one)."""
    if manifest.schema_revision is None:
        raise BackupInvalid("The backup records no schema revision")
    if manifest.schema_revision not in migrations.revisions():
        raise BackupTooNew(
            f"The backup is at schema revision {manifest.schema_revision}, unknown to qtrack "
            f"{__version__}: restore it with qtrack {manifest.qtrack_version} or newer"
        )


async def restore(
    settings: Settings,
    source: Path,
    *,
    force: bool = False,
    pg_bin: Path | None = None,
    show: int = 5,
) -> RestoreResult:
    """Restore a backup into the configured database: refused if it already holds items or
    events (unless `force`, which replaces everything in it); then migrate forward to this
    qtrack's schema and verify every chain and checkpoint."""
    manifest = await asyncio.to_thread(envelope.read_manifest, source)
    kind = _kind(settings)
    if manifest.database != kind:
        raise WrongDatabaseKind(
            f"The backup is of a {manifest.database} database; the configured one is {kind}"
        )
    check_revision(manifest)
    before = await engines.read_contents(settings)
    if not before.empty and not force:
        raise DatabaseNotEmpty(
            f"The database holds {before.items} items and {before.events} events: restore "
            f"into an empty database, or give --force to replace everything in it"
        )
    with tempfile.TemporaryDirectory(prefix=".qtrack-restore-") as tmp:
        manifest, payload = await asyncio.to_thread(envelope.extract, source, Path(tmp))
        if kind == "sqlite":
            await engines.sqlite_restore(settings, payload)
        else:
            await engines.postgres_restore(settings, payload, pg_bin, wipe=before.tables > 0)
    head = migrations.head_revision()
    migrated_from = None
    if manifest.schema_revision != head:
        migrated_from = manifest.schema_revision
        # Alembic runs its own event loop: in a thread of its own.
        await asyncio.to_thread(migrations.upgrade, settings.database_url)
    after = await engines.read_contents(settings)
    db = Database(settings, pooled=False)
    try:
        async with db.session_scope("read") as session:
            chains = await chain_verify.verify_chains(session, stop_after=show)
            checkpoints = await audit_verify.verify_checkpoints(session)
    finally:
        await db.dispose()
    return RestoreResult(
        manifest, migrated_from, head if migrated_from else None, after, chains, checkpoints
    )
