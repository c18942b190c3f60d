"""The bulk loader's rows: each chunk checked once, then built from what the check kept.

The checking pass turns each row into an `ItemCreate` (`importer.check_row`: the schema, the
type's rules, the location) in a worker process and keeps the checked fields of a chunk without
problems in a spill file (a pickled list of plain tuples: about 50 bytes a row on disk, 3 µs to
write and read back, against about 25 µs to read and check the row again). The writing pass
builds the chunk's item, event and label rows from that file (`create.created_rows`,
`tokens.label_row`: what a registration writes), so what is written is what was checked, and
the file is read once.
"""

import asyncio
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

from qtrack.core import tabular
from qtrack.item_types.models import ItemType
from qtrack.items import create, importer, on_hand
from qtrack.items.importer import Header, RowProblem
from qtrack.signing import tokens

# Below this many rows, worker processes cost more than they save.
PARALLEL_FROM_ROWS = 20_000

# COPY text format: a backslash, tab, newline or carriage return in a value must be escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class Checked(NamedTuple):
    """A checked row: an `ItemCreate`'s fields, in its order (a test holds the two equal)."""

    client_event_id: str | None
    occurred_at: datetime | None
    latitude: float | None
    longitude: float | None
    name: str
    quantity: Decimal | None
    batch: str | None
    serial: str | None
    gtin: str | None
    expiry_on: date | None
    expiry_raw: str | None
    weight_kg: Decimal | None
    attributes: dict[str, Any]
    type: str
    location: str | None
    count: int  # type: ignore[assignment]  # ItemCreate's name (hides tuple.count)


# In the spill file a Decimal is kept as its text and a date as its ordinal: pickle writes and
# reads those objects through their reduce methods, which made the spill cost 5.8 µs a row
# (more than checking it); as text and int it costs 2.8. Both come back exactly.
_DECIMALS = (Checked._fields.index("quantity"), Checked._fields.index("weight_kg"))
_DATE = Checked._fields.index("expiry_on")


def _spilled(values: Iterable[Any]) -> tuple[Any, ...]:
    """A checked row's fields (an `ItemCreate`'s, in order) as the spill file keeps them."""
    row = list(values)
    for i in _DECIMALS:
        if row[i] is not None:
            row[i] = str(row[i])
    if row[_DATE] is not None:
        row[_DATE] = row[_DATE].toordinal()
    return tuple(row)


def _unspilled(row: tuple[Any, ...]) -> Checked:
    """A row from the spill file, as it was checked."""
    fields = list(row)
    for i in _DECIMALS:
        if fields[i] is not None:
            fields[i] = Decimal(fields[i])
    if fields[_DATE] is not None:
        fields[_DATE] = date.fromordinal(fields[_DATE])
    return Checked._make(fields)


@dataclass(frozen=True)
class Plan:
    """What every worker needs: the file's header, the types, locations, actor and key."""

    header: Header
    types: dict[str, ItemType]
    initial: dict[str, str]  # type key -> its workflow's initial state
    locations: dict[str, int]
    actor_id: int
    token_id: int | None
    key_id: int = 0
    copy_text: bool = False  # PostgreSQL: rows as COPY text; SQLite: as dicts
    archived: frozenset[str] = frozenset()  # codes of archived locations (refused by name)


@dataclass
class ChunkChecked:
    """One chunk after the checking pass: its problems, or how many rows of each type it has
    (in the order they first appear) and where its checked rows wait."""

    problems: list[RowProblem] = field(default_factory=list)
    per_type: dict[str, int] = field(default_factory=dict)
    spill: Path | None = None


@dataclass
class Built:
    """One chunk's rows and what they add to the counts."""

    items: Any = None  # bytes of COPY text, or a list of dicts
    events: Any = None
    labels: Any = None
    rows: int = 0
    statuses: dict[tuple[int, str], int] = field(default_factory=dict)
    places: dict[int, int] = field(default_factory=dict)
    # (type id, location id) -> what the chunk's items add to on-hand if their state counts
    stock: dict[tuple[int, int | None], Decimal] = field(default_factory=dict)


Rows = list[tuple[int, list[str]]]
Row = dict[str, Any]
T = TypeVar("T")
_plan: Plan | None = None  # set in each worker process


def check(plan: Plan, rows: Rows, spill: Path | None) -> ChunkChecked:
    """Check a chunk of rows; when they are all good, keep them in `spill` (unless None: a
    dry run). Runs in a worker process."""
    out = ChunkChecked()
    kept: list[tuple[Any, ...]] = []
    for line, cells in rows:
        spec, problems = importer.check_row(
            line, importer.row_of(plan.header, cells), plan.types, plan.locations, plan.archived
        )
        if problems:
            out.problems.extend(problems)
        elif spec is not None and not out.problems:
            # A model's __dict__ holds its fields in their order: no copy through model_dump.
            kept.append(_spilled(spec.__dict__.values()))
            out.per_type[spec.type] = out.per_type.get(spec.type, 0) + 1
    if out.problems:
        out.per_type = {}
    elif spill is not None:
        with spill.open("wb") as fh:
            pickle.dump(kept, fh, protocol=pickle.HIGHEST_PROTOCOL)
        out.spill = spill
    return out


def build(plan: Plan, spill: Path, ids: list[int], first: dict[str, int], now: datetime) -> Built:
    """The item, event and label rows of a checked chunk (`create.created_rows`,
    `tokens.label_row`: what a registration writes), given its item ids in row order and
    each type's first code number in it. Runs in a worker process."""
    with spill.open("rb") as fh:
        kept = pickle.load(fh)  # noqa: S301 (written by `check` just before)
    specs = [_unspilled(row) for row in kept]
    spill.unlink()
    out = Built(rows=len(specs))
    numbers = dict(first)
    items: list[Row] = []
    events: list[Row] = []
    labels: list[Row] = []
    # The types' columns read once, not through the ORM's attributes for every row.
    kinds = {
        key: (t, t.id, t.code_prefix, t.tracks_quantity, plan.initial[key])
        for key, t in plan.types.items()
        if key in first
    }
    for spec, item_id in zip(specs, ids, strict=True):
        item_type, type_id, prefix, tracks_quantity, status = kinds[spec.type]
        number = numbers[spec.type]
        numbers[spec.type] = number + 1
        location_id = plan.locations[spec.location] if spec.location else None
        item, _, event = create.created_rows(
            item_id=item_id, code=f"{prefix}-{number:06d}", item_type=item_type,
            status=status, location_id=location_id, spec=spec, actor_id=plan.actor_id,
            token_id=plan.token_id, now=now,
        )  # fmt: skip
        items.append(item)
        events.append(event)
        labels.append(
            tokens.label_row(plan.key_id, item_id, 1, issued_by=plan.actor_id, issued_at=now)
        )
        counted = (type_id, status)
        out.statuses[counted] = out.statuses.get(counted, 0) + 1
        if location_id is not None:
            out.places[location_id] = out.places.get(location_id, 0) + 1
        held = on_hand.amount(tracks_quantity, item["quantity"])
        out.stock[(type_id, location_id)] = out.stock.get((type_id, location_id), Decimal(0)) + held
    if plan.copy_text:
        _copy_text(out, items, events, labels, now.isoformat())
    else:
        out.items, out.events, out.labels = items, events, labels
    return out


def _text(value: str) -> str:
    # Few values hold a character COPY must escape; looking is cheaper than translating.
    return value if value.isprintable() and "\\" not in value else value.translate(_ESCAPES)


def _opt(value: Any) -> str:
    """A value that needs no escaping (number, date, digits), or NULL."""
    return "\\N" if value is None else str(value)


def _opt_text(value: str | None) -> str:
    return "\\N" if value is None else _text(value)


def _json(value: dict[str, Any]) -> str:
    return _text(orjson.dumps(value).decode()) if value else "{}"


def _opt_time(value: datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


def _copy_text(
    out: Built, items: list[Row], events: list[Row], labels: list[Row], now: str
) -> None:
    """The chunk's rows as COPY text, one specialised line format per table."""
    out.items = "".join(
        f"{r['id']}\t{_text(r['code'])}\t{r['type_id']}\t{_text(r['name'])}\t"
        f"{_text(r['status'])}\t{_opt(r['location_id'])}\t{_opt(r['quantity'])}\t"
        f"{_opt_text(r['unit'])}\t{_opt_text(r['batch'])}\t{_opt_text(r['serial'])}\t"
        f"{_opt(r['gtin'])}\t{_opt(r['expiry_on'])}\t{_opt(r['expiry_raw'])}\t"
        f"{_opt(r['weight_kg'])}\t{_json(r['attributes'])}\t"
        f"1\tf\t1\t{r['last_event_hash']}\t{now}\t{now}\n"
        for r in items
    ).encode()
    out.events = "".join(
        f"{r['item_id']}\t1\tcreated\t{r['actor_id']}\t{_opt(r['token_id'])}\t"
        f"{_opt_text(r['client_event_id'])}\t{_opt_time(r['occurred_at'])}\t{now}\t"
        f"{_opt(r['location_id'])}\t{{}}\t{_json(r['after'])}\t{r['hash']}\n"
        for r in events
    ).encode()
    out.labels = "".join(
        f"{r['item_id']}\t1\t{r['key_id']}\t{now}\t{r['issued_by_id']}\n" for r in labels
    ).encode()


def chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[Rows]:
    """The rows in lists of `size`."""
    while chunk := list(islice(rows, size)):
        yield chunk


def _install(plan: Plan) -> None:
    global _plan
    _plan = plan


def _in_worker(work: Callable[..., Any], *args: Any) -> Any:
    assert _plan is not None
    return work(_plan, *args)


class Runner(Generic[T]):
    """Runs `check` or `build` over chunks, a few ahead, in worker processes (forked: they
    inherit the plan, the ORM objects and the key without pickling) or, for small files, in
    here."""

    def __init__(self, plan: Plan, workers: int, work: Callable[..., T]) -> None:
        self.plan, self.workers, self.work = plan, workers, work
        self.pool: Executor | None = None
        self.pending: deque[asyncio.Future[T]] = deque()
        if workers > 0:
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(workers, context, _install, (plan,))

    def submit(self, *args: Any) -> bool:
        """Start on a chunk; True when enough are under way to wait for the oldest."""
        loop = asyncio.get_running_loop()
        if self.pool is None:
            done: asyncio.Future[T] = loop.create_future()
            done.set_result(self.work(self.plan, *args))
            self.pending.append(done)
        else:
            self.pending.append(loop.run_in_executor(self.pool, _in_worker, self.work, *args))
        return len(self.pending) > self.workers

    async def next(self) -> T | None:
        """The oldest chunk's result, in file order (None when none is under way)."""
        return await self.pending.popleft() if self.pending else None

    def close(self) -> None:
        """Stop the workers, dropping what they have not started."""
        for future in self.pending:
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def workers_for(requested: int | None, table: tabular.Table) -> int:
    """How many worker processes: as asked, or as many as pay for a table this size."""
    if requested is not None:
        return max(0, requested)
    if (
        table.rows_estimate < PARALLEL_FROM_ROWS
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 0
    return min(2, os.cpu_count() or 1)
