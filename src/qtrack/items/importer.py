"""Bulk import of items from CSV: check every row first, then register them all or none.

A file is read twice. The first pass parses and checks each row against the same rules a
single registration applies (the schema, the item type's fields and attribute schema, the
location) and collects the problems with their line numbers; nothing is written while any
row is wrong. The second pass registers the rows through `items.service.register_items` in
chunks, in the caller's one transaction, so each item gets its code, its `created` event
(hash-chained) and its first signed label exactly as through the API, and an import that
fails half-way leaves nothing behind.
"""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.errors import QtrackError, ValidationFailed
from qtrack.items import service as items_service
from qtrack.items import types as item_types
from qtrack.items.models import ItemType
from qtrack.items.schemas import ItemCreate
from qtrack.locations.models import Location

# Columns a file may have; `type` is required. `attributes` holds a JSON object.
COLUMNS = (
    "type",
    "name",
    "location",
    "batch",
    "serial",
    "gtin",
    "expiry_on",
    "quantity",
    "weight_kg",
    "attributes",
)
CHUNK = 1000
MAX_ERRORS = 100


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one row (line 1 is the header)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    """What an import found and did."""

    rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    more_problems: bool = False
    # type key -> (first code, last code, how many), in the order the types first appeared
    created: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def note(self, problem: RowProblem) -> None:
        """Keep a problem; past MAX_ERRORS only remember that there were more."""
        if len(self.problems) < MAX_ERRORS:
            self.problems.append(problem)
        else:
            self.more_problems = True


class ImportRefused(ValidationFailed):
    code, message = "import_invalid", "The file has rows that cannot be imported"

    def __init__(self, message: str, *, details: Any, report: ImportReport | None = None):
        super().__init__(message, details=details)
        self.report = report or ImportReport()


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; the header must name known columns only."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        header = [name.strip() for name in reader.fieldnames or []]
        unknown = sorted(set(header) - set(COLUMNS))
        if "type" not in header or unknown:
            detail = f"unknown columns {', '.join(unknown)}" if unknown else "no 'type' column"
            raise ImportRefused(
                f"The header is not valid: {detail}. Columns: {', '.join(COLUMNS)}",
                details=[{"loc": ["header"], "msg": detail, "type": "bad_header"}],
            )
        reader.fieldnames = header
        for row in reader:
            if None in row:  # more cells than the header has names
                raise ImportRefused(
                    f"Line {reader.line_num} has more cells than the header",
                    details=[{"loc": [str(reader.line_num)], "msg": "too many cells"}],
                )
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def _spec(line: int, row: dict[str, str]) -> ItemCreate | list[RowProblem]:
    """The registration a row asks for, or what is wrong with it."""
    values: dict[str, Any] = {k: v for k, v in row.items() if v}
    if "attributes" in values:
        try:
            values["attributes"] = orjson.loads(values["attributes"])
        except orjson.JSONDecodeError:
            return [RowProblem(line, "attributes", "not valid JSON")]
    try:
        return ItemCreate.model_validate(values)
    except ValidationError as exc:
        return [
            RowProblem(
                line,
                str(err["loc"][0]) if err["loc"] else None,
                err["msg"].removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]


async def _check(session: AsyncSession, path: Path, report: ImportReport) -> None:
    """First pass: every row parsed and checked against its type and location."""
    types = {t.key: t for t in await item_types.list_item_types(session)}
    locations = set((await session.scalars(select(Location.code))).all())
    for line, row in _rows(path):
        report.rows += 1
        spec = _spec(line, row)
        if isinstance(spec, list):
            for problem in spec:
                report.note(problem)
            continue
        item_type: ItemType | None = types.get(spec.type)
        if item_type is None:
            report.note(RowProblem(line, "type", f"no item type '{spec.type}'"))
            continue
        if spec.location and spec.location not in locations:
            report.note(RowProblem(line, "location", f"no location '{spec.location}'"))
        try:
            items_service.check_fields(item_type, spec.model_dump(), loc=[])
        except QtrackError as exc:
            for detail in exc.details or [{"loc": [], "msg": exc.message}]:
                column = str(detail["loc"][0]) if detail.get("loc") else None
                report.note(RowProblem(line, column, str(detail["msg"])))


async def import_items(
    session: AsyncSession,
    settings: Settings,
    *,
    path: Path,
    actor: Principal,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check a CSV file of items, then (unless a dry run) register every row of it.

    Raises ImportRefused, listing the problems by line, when any row is wrong; the caller's
    transaction then writes nothing."""
    report = ImportReport()
    await _check(session, path, report)
    if not report.ok:
        raise ImportRefused(
            f"{len(report.problems)}{'+' if report.more_problems else ''} problems in "
            f"{report.rows} rows; nothing was imported",
            details=[
                {"loc": [str(p.line), p.column or ""], "msg": p.message} for p in report.problems
            ],
            report=report,
        )
    if dry_run or report.rows == 0:
        return report
    chunk: list[ItemCreate] = []
    done = 0
    for line, row in _rows(path):
        spec = _spec(line, row)
        assert isinstance(spec, ItemCreate)  # checked in the first pass
        chunk.append(spec)
        if len(chunk) == CHUNK:
            done += await _register(session, settings, actor, chunk, report)
            if progress is not None:
                progress(done)
            chunk = []
    if chunk:
        done += await _register(session, settings, actor, chunk, report)
        if progress is not None:
            progress(done)
    return report


async def _register(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    specs: list[ItemCreate],
    report: ImportReport,
) -> int:
    created = await items_service.register_items(
        session, specs=specs, actor=actor, settings=settings
    )
    for item, spec in zip(created, specs, strict=True):
        entry = report.created.setdefault(spec.type, [item.code, item.code, 0])
        entry[1] = item.code
        entry[2] += 1
    # The items are written; let them go, so memory stays flat over a million rows.
    session.expunge_all()
    session.add(actor.user)
    return len(created)
