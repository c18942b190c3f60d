"""Bulk import of items from a table (CSV or .xlsx): reading and checking the rows.

`bulk_load.import_items` is the use case: it checks every row first, then registers them all
or none. A file is read once. The first pass parses and checks each row against the same rules
a single registration applies (the schema, the item type's fields and attribute schema, the
location), collects the problems with their line numbers and keeps the checked rows aside;
nothing is written while any row is wrong. The second pass writes the kept rows in the caller's
one transaction, so an import that fails half-way leaves nothing behind. It goes through the
bulk loader (`items.bulk_load`: rows built in worker processes, COPY on PostgreSQL), which
writes what `items.create.register_items` writes, from the same `create.created_rows` — each item's
gap-free code, its hash-chained `created` event, its first label and the maintained
counts (a test compares the two).
"""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.errors import QtrackError, ValidationFailed
from qtrack.core.tabular import Table
from qtrack.item_types import service as item_types
from qtrack.item_types.models import ItemType
from qtrack.items import rules
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
# Rows a bulk-load chunk holds (built in one worker, copied in one go).
CHUNK = 10_000
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


Header = tuple[str, ...]


def read_rows(table: Table, fields: Header) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each data row of a table whose columns hold `fields` (one a
    column, '' for a column left out). Cells are raw (`row_of` makes a row of them)."""
    for number, cells in table.rows():
        if len(cells) > len(fields):
            raise ImportRefused(
                f"Row {number} has more cells than the header",
                details=[{"loc": [str(number)], "msg": "too many cells"}],
            )
        yield number, cells


def row_of(header: Header, cells: list[str]) -> dict[str, str]:
    """A row as field -> stripped value ('' where the line ends early); columns left out of
    the mapping (named '') are dropped."""
    row = dict(zip(header, map(str.strip, cells), strict=False))
    if len(cells) < len(header):
        for name in header[len(cells) :]:
            row[name] = ""
    row.pop("", None)
    return row


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


def check_row(
    line: int,
    row: dict[str, str],
    types: Mapping[str, ItemType],
    locations: Mapping[str, int],
    archived: Collection[str] = frozenset(),
) -> tuple[ItemCreate | None, list[RowProblem]]:
    """A row checked against the schema, its type and the locations (those items may be put
    in, and the archived ones, named as `POST /api/v1/items` names them): the registration it
    asks for (None when it cannot be read at all) and what is wrong with it."""
    spec = _spec(line, row)
    if isinstance(spec, list):
        return None, spec
    item_type = types.get(spec.type)
    if item_type is None:
        return spec, [RowProblem(line, "type", f"no item type '{spec.type}'")]
    problems = []
    if spec.location and spec.location not in locations:
        said = (
            f"Location '{spec.location}' is archived; nothing can be put there"
            if spec.location in archived
            else f"no location '{spec.location}'"
        )
        problems.append(RowProblem(line, "location", said))
    try:
        # The model's own field mapping, read only: dict(spec) or model_dump would copy it.
        rules.check_fields(item_type, spec.__dict__, loc=[])
    except QtrackError as exc:
        for detail in exc.details or [{"loc": [], "msg": exc.message}]:
            column = str(detail["loc"][0]) if detail.get("loc") else None
            problems.append(RowProblem(line, column, str(detail["msg"])))
    return spec, problems


async def known_types_and_locations(
    session: AsyncSession,
) -> tuple[dict[str, ItemType], dict[str, int], frozenset[str]]:
    """Every item type (with its workflow) by key, the id by code of every location items may
    be put in, and the codes of the archived ones."""
    types = {t.key: t for t in await item_types.list_item_types(session)}
    rows = (await session.execute(select(Location.code, Location.id, Location.archived))).all()
    locations: dict[str, int] = {row.code: row.id for row in rows if not row.archived}
    return types, locations, frozenset(row.code for row in rows if row.archived)


def refusal(report: ImportReport) -> ImportRefused:
    """The error that refuses a file whose checking pass found problems."""
    return ImportRefused(
        f"{len(report.problems)}{'+' if report.more_problems else ''} problems in "
        f"{report.rows} rows; nothing was imported",
        details=[{"loc": [str(p.line), p.column or ""], "msg": p.message} for p in report.problems],
        report=report,
    )
