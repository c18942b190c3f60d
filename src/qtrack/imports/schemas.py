"""Import response bodies."""

import time
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from qtrack.imports import progress
from qtrack.imports.models import CHECKING, WRITING, DataImport

Status = Literal[
    "uploaded", "queued", "checking", "writing", "checked", "refused", "done", "failed"
]


class ProblemRead(BaseModel):
    row: int = Field(description="Row of the file (1 is the header; a CSV row's first line)")
    column: str | None = Field(description="The file's column, as its header names it")
    field: str | None = Field(description="The field that column was mapped to")
    msg: str


class CreatedRead(BaseModel):
    """What a finished import created: items as code ranges per type, or the keys made."""

    type: str | None = None
    first: str | None = None
    last: str | None = None
    count: int | None = None
    key: str | None = None


class ImportRead(BaseModel):
    id: int
    kind: Literal["items", "locations", "item_types"]
    status: Status
    dry_run: bool
    filename: str
    format: Literal["csv", "xlsx"]
    size_bytes: int
    header: list[str]
    mapping: dict[str, str | None] = Field(description="File column -> field (null: left out)")
    rows_total: int = Field(description="Data rows (an estimate until checked)")
    rows_checked: int
    rows_written: int
    time_left_s: float | None = Field(description="While running: an estimate, in seconds")
    problems: list[ProblemRead]
    more_problems: bool = Field(description="More problems than the first 100 listed")
    created: list[CreatedRead]
    seconds: float | None = Field(description="How long the run took")
    error: dict[str, str] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _time_left(imp: DataImport, checked: int, written: int, elapsed: float) -> float | None:
    """Seconds left at the pace so far: a row is checked, then (unless a dry run) written."""
    work = imp.rows_total * (1 if imp.dry_run else 2)
    done = checked + written
    if work <= 0 or done <= 0 or elapsed <= 0:
        return None
    return round(max(0.0, elapsed * (work - done) / done), 1)


def read(imp: DataImport) -> ImportRead:
    """An import as the API shows it, with its live progress when it runs in this process."""
    status, checked, written, left = imp.status, imp.rows_checked, imp.rows_written, None
    live = progress.get(imp.id)
    if live is not None:
        status, checked, written = live.status, live.checked, live.written
        left = _time_left(imp, checked, written, time.monotonic() - live.started)
    elif status in (CHECKING, WRITING) and imp.started_at is not None:
        elapsed = (datetime.now(imp.started_at.tzinfo) - imp.started_at).total_seconds()
        left = _time_left(imp, checked, written, elapsed)
    result: dict[str, Any] = imp.result or {}
    return ImportRead(
        id=imp.id,
        kind=imp.kind,
        status=status,
        dry_run=imp.dry_run,
        filename=imp.filename,
        format=imp.format,
        size_bytes=imp.size_bytes,
        header=imp.header,
        mapping=imp.mapping,
        rows_total=imp.rows_total,
        rows_checked=checked,
        rows_written=written,
        time_left_s=left,
        problems=[ProblemRead.model_validate(p) for p in imp.problems],
        more_problems=imp.more_problems,
        created=[CreatedRead.model_validate(c) for c in result.get("created", [])],
        seconds=result.get("seconds"),
        error=(
            {"code": imp.error_code, "message": imp.error_message or ""} if imp.error_code else None
        ),
        created_at=imp.created_at,
        started_at=imp.started_at,
        finished_at=imp.finished_at,
    )
