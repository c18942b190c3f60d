"""A large import as durable background work: `imports.run`.

The job reads the upload kept in `import_file`, runs it as the person who uploaded it (with
their role's permissions now), in one transaction, through `service.run`. While it runs, its
progress is written to the import's row once a second from another connection, so any
process can show it — except on SQLite, whose one write lock the import holds: there the
pages read it from this process (`imports.progress`), where the in-process runner runs it.
A run that dies is tried again from the start; nothing of a broken run was kept.
"""

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from qtrack.accounts.models import User
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.errors import QtrackError
from qtrack.imports import progress, service
from qtrack.imports.models import CHECKING, FAILED, QUEUED, RUNNING, DataImport
from qtrack.jobs.registry import JobContext, job

log = structlog.get_logger("qtrack.imports")
PROGRESS_EVERY_S = 1.0
ATTEMPTS = 3


async def _principal(ctx: JobContext, user_id: int) -> Principal:
    async with ctx.session("read") as session:
        user = await session.scalar(
            select(User).options(joinedload(User.role)).where(User.id == user_id)
        )
    assert user is not None
    return Principal(user=user, permissions=frozenset(user.role.permissions), via="job")


async def _persist_progress(ctx: JobContext, import_id: int) -> None:
    """Copy the live progress to the import's row every second (PostgreSQL only)."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        live = progress.get(import_id)
        if live is None:
            continue
        async with ctx.session() as session:
            await session.execute(
                update(DataImport)
                .where(DataImport.id == import_id, DataImport.status.in_(RUNNING))
                .values(status=live.status, rows_checked=live.checked, rows_written=live.written)
            )


async def _broke_off(ctx: JobContext, import_id: int, error: BaseException) -> None:
    """After a failed try: queued again for the next, or failed after the last."""
    last = ctx.attempt >= ATTEMPTS
    async with ctx.session() as session:
        imp = await session.get(DataImport, import_id)
        if imp is None or imp.status not in RUNNING:
            return
        if last:
            imp.status, imp.finished_at = FAILED, utcnow()
            imp.error_code = "import_broke_off"
            imp.error_message = (
                f"The import broke off ({type(error).__name__}); nothing was written"
            )
        else:
            imp.status = QUEUED


@job(service.JOB, max_attempts=ATTEMPTS, timeout=3600)
async def run_import(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Run one queued import: check every row, then write them all (or refuse)."""
    import_id, dry_run = int(payload["import_id"]), bool(payload.get("dry_run"))
    try:
        await _run(ctx, import_id, dry_run)
    except Exception as exc:
        await _broke_off(ctx, import_id, exc)
        raise


async def _run(ctx: JobContext, import_id: int, dry_run: bool) -> None:
    async with ctx.session() as session:
        imp = await session.get(DataImport, import_id)
        if imp is None or imp.status not in RUNNING:
            return  # gone, or already finished by an earlier try
        imp.status, imp.started_at = CHECKING, utcnow()
        content = await service.stored_file(session, imp)
        user_id = imp.created_by_id
    actor = await _principal(ctx, user_id)
    postgres = ctx.state.db.engine.dialect.name == "postgresql"
    with tempfile.TemporaryDirectory(prefix="qtrack-import-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(content)
        del content
        writer = asyncio.create_task(_persist_progress(ctx, import_id)) if postgres else None
        try:
            async with ctx.session() as session:
                imp = await session.get(DataImport, import_id)
                assert imp is not None
                try:
                    table = service.read_table(
                        ctx.settings, path, filename=imp.filename, delimiter=imp.delimiter
                    )
                except QtrackError as exc:  # the file was checked at upload; it cannot be now
                    imp.status, imp.finished_at = FAILED, utcnow()
                    imp.error_code, imp.error_message = exc.code, exc.message[:500]
                    return
                await service.run(session, ctx.settings, imp, table, actor=actor, dry_run=dry_run)
                log.info("import_finished", id=import_id, status=imp.status, rows=imp.rows_total)
        finally:
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
