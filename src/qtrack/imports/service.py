"""Imports as use cases: upload a table, then run it (check only, or check and write).

One body for every caller — `POST /api/v1/imports`, the import pages, `qtrack import` and the
background job: `upload` checks the file itself (size, format, encoding, delimiter, a
decompression bomb) and records it; `run` maps its columns, checks every row and lists every
problem by row and column, and writes nothing unless nothing is wrong. The writing happens
inside a SAVEPOINT of the caller's transaction, so a run that breaks off leaves the import's
row (and its problems) and nothing else. Items go through the bulk loader
(`items.bulk_load.import_items`: the rows `register_items` would write, COPY on PostgreSQL);
locations and item types through their own use case, row by row.
"""

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.digits import ascii_digits
from qtrack.core.tabular import Table, open_table
from qtrack.imports import definitions, fields, progress
from qtrack.imports.errors import ImportNotFound, ImportNotRunnable, ImportTooLarge
from qtrack.imports.fields import SPECS, Problem
from qtrack.imports.models import (
    CHECKED,
    CHECKING,
    DONE,
    QUEUED,
    REFUSED,
    RUNNING,
    UPLOADED,
    WRITING,
    DataImport,
    ImportFile,
    ImportMapping,
)
from qtrack.items import bulk_load, importer
from qtrack.jobs import service as jobs_service

JOB = "imports.run"
LABELS_PER_PDF = 1000  # labels.service.MAX_LABELS: one PDF of labels at most
Progress = Callable[[str, int], None]


def ensure_allowed(actor: Principal, kind: str) -> None:
    """Refuse a caller who may not create what an import of this kind creates."""
    permission = SPECS[kind].permission
    if not actor.can(permission):
        raise PermissionDenied(details={"missing": [permission]})


def check_size(settings: Settings, size: int) -> None:
    """Refuse a file over the size limit (QTRACK_IMPORT_MAX_BYTES)."""
    if size > settings.import_max_bytes:
        raise ImportTooLarge(
            f"The file has {size:,} bytes; imports take at most {settings.import_max_bytes:,}",
            details={"size": size, "max_bytes": settings.import_max_bytes},
        )


def save_upload(source: IO[bytes], folder: str | Path) -> Path:
    """Copy an uploaded file into a folder a megabyte at a time (never held whole)."""
    path = Path(folder) / "upload"
    with path.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return path


def read_table(settings: Settings, path: Path, *, filename: str, delimiter: str = ",") -> Table:
    """Open an uploaded file as a table, refusing what `core.tabular` refuses."""
    check_size(settings, path.stat().st_size)
    return open_table(
        path,
        filename=filename,
        delimiter=delimiter,
        max_unpacked=settings.import_max_unpacked_bytes,
    )


async def remembered_mapping(
    session: AsyncSession, kind: str, signature: str
) -> dict[str, Any] | None:
    """The mapping last used for files of this kind and layout."""
    row = await session.get(ImportMapping, (kind, signature))
    return dict(row.mapping) if row is not None else None


async def _remember(session: AsyncSession, imp: DataImport) -> None:
    dialect_insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    values = {
        "kind": imp.kind,
        "signature": imp.signature,
        "mapping": imp.mapping,
        "updated_at": utcnow(),
    }
    stmt = dialect_insert(ImportMapping).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["kind", "signature"],
            set_={"mapping": stmt.excluded.mapping, "updated_at": stmt.excluded.updated_at},
        )
    )


async def upload(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    kind: str,
    table: Table,
    filename: str,
    mapping: dict[str, Any] | None = None,
    keep_file: bool = True,
) -> DataImport:
    """Record an upload (and its bytes, unless the caller runs it from its own file)."""
    ensure_allowed(actor, kind)
    remembered = await remembered_mapping(session, kind, table.signature)
    resolved, _, _ = fields.resolve(kind, table.header, mapping, remembered)
    imp = DataImport(
        kind=kind,
        status=UPLOADED,
        filename=filename[:255],
        format=table.format,
        delimiter=table.delimiter,
        size_bytes=table.size,
        header=list(table.header),
        signature=table.signature,
        mapping=resolved,
        rows_total=table.rows_estimate,
        created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    session.add(imp)
    await session.flush()
    if keep_file:
        session.add(ImportFile(import_id=imp.id, content=table.path.read_bytes()))
        await session.flush()
    return imp


async def get_import(
    session: AsyncSession, import_id: int, *, actor: Principal, lock: bool = False
) -> DataImport:
    """One import, if the caller may see it (their own, or one of a kind they may import).

    `lock` holds its row until the transaction ends, for a caller about to run it: a twin
    request (a double click, a retried POST) waits, then finds it running or done and is
    refused, instead of writing every row a second time."""
    stmt = select(DataImport).where(DataImport.id == import_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    imp = await session.scalar(stmt)
    if imp is None or (
        imp.created_by_id != actor.user_id and not actor.can(SPECS[imp.kind].permission)
    ):
        raise ImportNotFound(details={"id": import_id})
    return imp


async def list_imports(
    session: AsyncSession, *, actor: Principal, limit: int = 50
) -> list[DataImport]:
    """The latest imports the caller may see, newest first."""
    kinds = [kind for kind, spec in SPECS.items() if actor.can(spec.permission)]
    stmt = (
        select(DataImport)
        .where((DataImport.created_by_id == actor.user_id) | DataImport.kind.in_(kinds))
        .order_by(DataImport.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def stored_file(session: AsyncSession, imp: DataImport) -> bytes:
    """The bytes of an upload kept for a later run."""
    content = await session.scalar(select(ImportFile.content).where(ImportFile.import_id == imp.id))
    if content is None:
        raise ImportNotRunnable(
            "This import's file is no longer kept; upload it again", details={"id": imp.id}
        )
    return content


async def run_stored(
    session: AsyncSession,
    settings: Settings,
    imp: DataImport,
    *,
    actor: Principal,
    dry_run: bool,
) -> DataImport:
    """Run a kept upload now, in the caller's transaction (a small file: see `enqueue`)."""
    content = await stored_file(session, imp)
    with tempfile.TemporaryDirectory(prefix="qtrack-import-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(content)
        table = read_table(settings, path, filename=imp.filename, delimiter=imp.delimiter)
        return await run(session, settings, imp, table, actor=actor, dry_run=dry_run, workers=0)


def created_codes(imp: DataImport) -> tuple[list[str], list[str]]:
    """The item codes and the location codes a finished import created, in order (items
    as the gap-free ranges their types reserved)."""
    items: list[str] = []
    locations: list[str] = []
    for created in (imp.result or {}).get("created", []):
        if created.get("first"):
            prefix, _, first = str(created["first"]).rpartition("-")
            start = int(first)
            items.extend(f"{prefix}-{n:06d}" for n in range(start, start + int(created["count"])))
        elif imp.kind == "locations" and created.get("key"):
            locations.append(str(created["key"]))
    return items, locations


def label_parts(imp: DataImport) -> int:
    """How many PDFs of at most LABELS_PER_PDF labels the created things need."""
    if imp.kind == "item_types" or imp.status != DONE:
        return 0
    return -(-imp.rows_written // LABELS_PER_PDF)


def prepare(imp: DataImport, *, dry_run: bool, mapping: dict[str, Any] | None) -> None:
    """Ready a finished or uploaded import for another run (a new mapping, or for real)."""
    if imp.status in RUNNING or imp.status == DONE:
        raise ImportNotRunnable(
            f"This import is {imp.status}", details={"id": imp.id, "status": imp.status}
        )
    if mapping is not None:
        imp.mapping = {**imp.mapping, **mapping}
    imp.dry_run = dry_run
    imp.problems, imp.more_problems, imp.result = [], False, {}
    imp.rows_checked = imp.rows_written = 0
    imp.error_code = imp.error_message = None
    imp.started_at = imp.finished_at = None


async def enqueue(session: AsyncSession, imp: DataImport, *, dry_run: bool) -> None:
    """Hand the run to a background job (in this transaction: it runs once this commits)."""
    imp.status, imp.dry_run = QUEUED, dry_run
    imp.job_id = await jobs_service.enqueue(session, JOB, {"import_id": imp.id, "dry_run": dry_run})
    await session.flush()


def _problem_rows(
    imp: DataImport, found: list[tuple[int, str | None, str]], more: bool = False
) -> None:
    column_of = {field: column for column, field in imp.mapping.items() if field}
    header = imp.header
    problems = []
    for row, where, message in found:
        if where in column_of:  # a field: name its column too
            problems.append(Problem(row, column_of[where], where, message))
        else:  # a column of the file, or nothing
            column = where if where in header else None
            problems.append(Problem(row, column, None, message))
    imp.problems = [p.as_dict() for p in problems[: importer.MAX_ERRORS]]
    imp.more_problems = more or len(problems) > importer.MAX_ERRORS


def _finish(imp: DataImport, status: str) -> None:
    imp.status = status
    imp.finished_at = utcnow()
    live = progress.get(imp.id)
    if live is not None:
        live.status = status


async def run(
    session: AsyncSession,
    settings: Settings,
    imp: DataImport,
    table: Table,
    *,
    actor: Principal,
    dry_run: bool,
    on_progress: Progress | None = None,
    workers: int | None = None,
) -> DataImport:
    """Map, check every row, and (unless a dry run or anything is wrong) write them all.

    The outcome is the import's status: `checked` (dry run, nothing wrong), `refused`
    (problems by row and column, nothing written) or `done` (every row written, results
    listed). The caller's transaction holds the writes and the import's row alike."""
    ensure_allowed(actor, imp.kind)
    imp.dry_run = dry_run
    if imp.status != CHECKING:  # (a job marks it so first, committed, for all to see)
        imp.status, imp.started_at = CHECKING, utcnow()
    live = progress.start(imp.id, CHECKING)
    try:
        return await _run(session, settings, imp, table, actor, dry_run, live, on_progress, workers)
    finally:
        progress.stop(imp.id)


async def _run(
    session: AsyncSession,
    settings: Settings,
    imp: DataImport,
    table: Table,
    actor: Principal,
    dry_run: bool,
    live: progress.Live,
    on_progress: Progress | None,
    workers: int | None,
) -> DataImport:
    remembered = await remembered_mapping(session, imp.kind, imp.signature)
    mapping, fields_, header_problems = fields.resolve(
        imp.kind, table.header, imp.mapping or None, remembered
    )
    imp.mapping = mapping
    if header_problems:
        imp.problems = [p.as_dict() for p in header_problems]
        _finish(imp, REFUSED)
        await session.flush()
        return imp
    found: list[tuple[int, str | None, str]] = [
        (row, fields_[column] or None, "holds a formula: formulas are never evaluated; "
         "save the sheet with values only")
        for row, column in table.formula_cells
        if column < len(fields_) and fields_[column]
    ]  # fmt: skip

    # The row of the import is left alone inside the savepoint (rolling one back expires what
    # it touched): progress goes to `live`, the outcome comes back as a value.
    def report(phase: str, rows: int) -> None:
        if phase == "checked":
            live.checked = rows
        else:
            live.status = WRITING
            live.written = rows
        if on_progress is not None:
            on_progress(phase, rows)

    started = time.monotonic()
    await session.flush()
    savepoint = await session.begin_nested()
    try:
        if imp.kind == "items":
            outcome = await _run_items(session, settings, table, fields_, actor, dry_run, found,
                                       report, workers)  # fmt: skip
        else:
            outcome = await _run_definitions(session, imp.kind, table, fields_, dry_run, found,
                                             report)  # fmt: skip
    except importer.ImportRefused as exc:  # refused by the bulk loader (its own problems)
        await savepoint.rollback()
        outcome = _refused_by_loader(exc, live.checked)
    except BaseException:
        await savepoint.rollback()
        raise
    else:
        if outcome.status == DONE:
            await savepoint.commit()
        else:
            await savepoint.rollback()
    imp.rows_total = outcome.rows if outcome.rows is not None else live.checked
    imp.rows_checked = live.checked
    imp.rows_written = outcome.written
    imp.result = {**outcome.result, "seconds": round(time.monotonic() - started, 3)}
    _problem_rows(imp, outcome.problems, outcome.more)
    if outcome.status in (DONE, CHECKED):
        await _remember(session, imp)
    if outcome.status == DONE:  # the file is not needed any more
        await session.execute(delete(ImportFile).where(ImportFile.import_id == imp.id))
    _finish(imp, outcome.status)
    await session.flush()
    return imp


@dataclass
class Outcome:
    """What a run came to, applied to the import's row once its savepoint has ended."""

    status: str
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)
    more: bool = False
    rows: int | None = None  # data rows in the file, when known
    written: int = 0
    result: dict[str, Any] = field(default_factory=dict)


def _refused_by_loader(exc: importer.ImportRefused, checked: int) -> Outcome:
    report = exc.report
    if report.problems:
        found = [(p.line, p.column, p.message) for p in report.problems]
        return Outcome(REFUSED, found, report.more_problems, rows=report.rows or None)
    # a refusal of the whole file (a row wider than the header): its details say where
    detail = exc.details[0] if isinstance(exc.details, list) and exc.details else {}
    loc = detail.get("loc") if isinstance(detail, dict) else None
    row = int(loc[0]) if loc and ascii_digits(str(loc[0])) else 1
    return Outcome(REFUSED, [(row, None, exc.message)], rows=None)


async def _run_items(
    session: AsyncSession,
    settings: Settings,
    table: Table,
    fields_: tuple[str, ...],
    actor: Principal,
    dry_run: bool,
    found: list[tuple[int, str | None, str]],
    report: Progress,
    workers: int | None,
) -> Outcome:
    problems = [importer.RowProblem(row, where, message) for row, where, message in found]
    done = await bulk_load.import_items(
        session,
        settings,
        table=table,
        fields=fields_,
        actor=actor,
        dry_run=dry_run,
        progress=report,
        workers=workers,
        problems=problems,
    )
    if dry_run:
        return Outcome(CHECKED, rows=done.rows)
    created = [
        {"type": key, "first": first, "last": last, "count": count}
        for key, (first, last, count) in done.created.items()
    ]
    return Outcome(DONE, rows=done.rows, written=done.rows, result={"created": created})


async def _run_definitions(
    session: AsyncSession,
    kind: str,
    table: Table,
    fields_: tuple[str, ...],
    dry_run: bool,
    found: list[tuple[int, str | None, str]],
    report: Progress,
) -> Outcome:
    check = definitions.check_locations if kind == "locations" else definitions.check_item_types
    checked = await check(session, table, fields_)
    report("checked", checked.count)
    problems = sorted(found + checked.problems, key=lambda p: p[0])
    if problems:
        return Outcome(REFUSED, problems, rows=checked.count)
    if dry_run:
        return Outcome(CHECKED, rows=checked.count)
    created, refusal = await definitions.write(session, kind, checked, report)
    if refusal is not None:
        return Outcome(REFUSED, [refusal], rows=checked.count)
    return Outcome(
        DONE, rows=checked.count, written=len(created),
        result={"created": [{"key": key} for key in created]},
    )  # fmt: skip
