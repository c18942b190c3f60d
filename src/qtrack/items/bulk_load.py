"""The importer behind `qtrack import`: registration's rows, built in bulk and copied.

Each row is built by `items.create.created_rows` and `signing.tokens.label_row`, as
`items.create.register_items` builds them, but in worker processes — checking, hashing and
Ed25519 signing happen there — and written in chunks: with COPY on PostgreSQL (through the
asyncpg connection under the session, so inside its transaction), with Core executemany on
SQLite. What is written is exactly what `register_items` writes
(tests/items/test_bulk_load.py compares the two):

* codes: each type's whole range is reserved up front with one UPDATE ... RETURNING on its
  counter row (types in id order, as `register_items` does), so they are gap-free and the
  row stays locked until the commit;
* item ids are drawn from the item sequence before the rows are built (the event hash and the
  label token contain them); event and label ids come from their column defaults;
* each `created` event's content and hash are `events.service.event_values`' (what `record`
  writes); each label is serial 1, `signing.tokens.label_row`;
* the counts are added once per counter row at the end, in `items.counts`' order.

Indexes and keys stay in place on a live table. Into an empty `item` table (PostgreSQL, from
FRESH_FROM_ROWS rows), its secondary indexes and the foreign keys of `event` and `item_label` on
it are dropped inside the import's transaction and made again after the rows, under the tables'
exclusive locks: a failed import restores them with everything else.
"""

import asyncio
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

import asyncpg
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core import tabular
from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict
from qtrack.core.orm import Base
from qtrack.item_types.models import ItemType
from qtrack.items import counts, create, importer, on_hand
from qtrack.items.importer import Header, ImportReport, RowProblem
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from qtrack.signing import keys, tokens
from qtrack.workflow import service as workflow_service

ITEM_COLUMNS = (
    "id", "code", "type_id", "name", "status", "location_id", "quantity", "unit", "batch",
    "serial", "gtin", "expiry_on", "expiry_raw", "weight_kg", "attributes", "version",
    "archived", "event_count", "last_event_hash", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "item_id", "seq", "type", "actor_id", "token_id", "client_event_id", "occurred_at",
    "recorded_at", "location_id", "before", "after", "hash",
)  # fmt: skip
LABEL_COLUMNS = ("item_id", "serial", "key_id", "token", "issued_at", "issued_by_id")
# Below this many rows, worker processes cost more than they save.
PARALLEL_FROM_ROWS = 20_000
# From this many rows, an import into an empty `item` table builds its indexes after the rows.
FRESH_FROM_ROWS = 100_000

# COPY text format: a backslash, tab, newline or carriage return in a value must be escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class FileChanged(Conflict):
    code = "import_file_changed"
    message = "The file changed while it was being imported; nothing was imported"


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
    private: Ed25519PrivateKey | None = None
    copy_text: bool = False  # PostgreSQL: rows as COPY text; SQLite: as dicts


@dataclass
class Built:
    """One chunk: its problems, or its rows and what they add to the counts."""

    problems: list[RowProblem] = field(default_factory=list)
    items: Any = None  # bytes of COPY text, or a list of dicts
    events: Any = None
    labels: Any = None
    statuses: dict[tuple[int, str], int] = field(default_factory=dict)
    places: dict[int, int] = field(default_factory=dict)
    # (type id, location id) -> what the chunk's items add to on-hand if their state counts
    stock: dict[tuple[int, int | None], Decimal] = field(default_factory=dict)


Rows = list[tuple[int, list[str]]]
Progress = Callable[[str, int], None]  # (phase: "checked" or "written", rows so far)
Row = dict[str, Any]
Assigned = list[tuple[int, int]]  # (item id, code number) of each row
_plan: Plan | None = None  # set in each worker process


def _install(plan: Plan) -> None:
    global _plan
    _plan = plan


def _build_in_worker(rows: Rows, assigned: Assigned | None, now: datetime | None) -> Built:
    assert _plan is not None
    return build(_plan, rows, assigned, now)


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


def _copy_text(items: list[Row], events: list[Row], labels: list[Row], now: str) -> Built:
    """The chunk's rows as COPY text, one specialised line format per table."""
    return Built(
        items="".join(
            f"{r['id']}\t{_text(r['code'])}\t{r['type_id']}\t{_text(r['name'])}\t"
            f"{_text(r['status'])}\t{_opt(r['location_id'])}\t{_opt(r['quantity'])}\t"
            f"{_opt_text(r['unit'])}\t{_opt_text(r['batch'])}\t{_opt_text(r['serial'])}\t"
            f"{_opt(r['gtin'])}\t{_opt(r['expiry_on'])}\t{_opt(r['expiry_raw'])}\t"
            f"{_opt(r['weight_kg'])}\t{_json(r['attributes'])}\t"
            f"1\tf\t1\t{r['last_event_hash']}\t{now}\t{now}\n"
            for r in items
        ).encode(),
        events="".join(
            f"{r['item_id']}\t1\tcreated\t{r['actor_id']}\t{_opt(r['token_id'])}\t"
            f"{_opt_text(r['client_event_id'])}\t{_opt_time(r['occurred_at'])}\t{now}\t"
            f"{_opt(r['location_id'])}\t{{}}\t{_json(r['after'])}\t{r['hash']}\n"
            for r in events
        ).encode(),
        labels="".join(
            f"{r['item_id']}\t1\t{r['key_id']}\t{r['token']}\t{now}\t{r['issued_by_id']}\n"
            for r in labels
        ).encode(),
    )


def build(plan: Plan, rows: Rows, assigned: Assigned | None, now: datetime | None) -> Built:
    """Check a chunk of rows; when they are all good and ids and codes are given, build its
    item, event and label rows too (`create.created_rows`, `tokens.label_row`: what a
    registration writes). Runs in a worker process."""
    out = Built()
    specs: list[ItemCreate] = []
    for line, cells in rows:
        spec, problems = importer.check_row(
            line, importer.row_of(plan.header, cells), plan.types, plan.locations
        )
        out.problems.extend(problems)
        if spec is not None:
            specs.append(spec)
    if out.problems or assigned is None:
        return out
    assert now is not None
    assert plan.private is not None
    items: list[Row] = []
    events: list[Row] = []
    labels: list[Row] = []
    for spec, (item_id, number) in zip(specs, assigned, strict=True):
        item_type = plan.types[spec.type]
        status = plan.initial[spec.type]
        location_id = plan.locations[spec.location] if spec.location else None
        item, _, event = create.created_rows(
            item_id=item_id, code=f"{item_type.code_prefix}-{number:06d}", item_type=item_type,
            status=status, location_id=location_id, spec=spec, actor_id=plan.actor_id,
            token_id=plan.token_id, now=now,
        )  # fmt: skip
        items.append(item)
        events.append(event)
        labels.append(
            tokens.label_row(
                plan.private, plan.key_id, item_id, 1, issued_by=plan.actor_id, issued_at=now
            )
        )
        counted = (item_type.id, status)
        out.statuses[counted] = out.statuses.get(counted, 0) + 1
        if location_id is not None:
            out.places[location_id] = out.places.get(location_id, 0) + 1
        held = on_hand.amount(item_type.tracks_quantity, item["quantity"])
        out.stock[(item_type.id, location_id)] = (
            out.stock.get((item_type.id, location_id), Decimal(0)) + held
        )
    if plan.copy_text:
        text = _copy_text(items, events, labels, now.isoformat())
        out.items, out.events, out.labels = text.items, text.events, text.labels
    else:
        out.items, out.events, out.labels = items, events, labels
    return out


def _chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[Rows]:
    while chunk := list(islice(rows, size)):
        yield chunk


class _Runner:
    """Runs `build` over chunks, a few ahead, in worker processes (forked: they inherit the
    plan, the ORM objects and the key without pickling) or, for small files, in here."""

    def __init__(self, plan: Plan, workers: int) -> None:
        self.plan, self.workers = plan, workers
        self.pool: Executor | None = None
        self.pending: deque[asyncio.Future[Built]] = deque()
        if workers > 0:
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(workers, context, _install, (plan,))

    def submit(
        self, rows: Rows, assigned: Assigned | None = None, now: datetime | None = None
    ) -> bool:
        """Start building a chunk; True when enough are under way to wait for the oldest."""
        loop = asyncio.get_running_loop()
        if self.pool is None:
            done: asyncio.Future[Built] = loop.create_future()
            done.set_result(build(self.plan, rows, assigned, now))
            self.pending.append(done)
        else:
            work = loop.run_in_executor(self.pool, _build_in_worker, rows, assigned, now)
            self.pending.append(work)
        return len(self.pending) > self.workers

    async def next(self) -> Built | None:
        """The oldest chunk's result, in file order (None when none is under way)."""
        return await self.pending.popleft() if self.pending else None

    def close(self) -> None:
        for future in self.pending:
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _workers(requested: int | None, table: tabular.Table) -> int:
    if requested is not None:
        return max(0, requested)
    if (
        table.rows_estimate < PARALLEL_FROM_ROWS
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 0
    return min(2, os.cpu_count() or 1)


async def _plan_for(session: AsyncSession, header: Header, actor: Principal) -> Plan:
    types, locations = await importer.known_types_and_locations(session)
    initial = {k: workflow_service.definition_of(t.workflow).initial for k, t in types.items()}
    return Plan(header, types, initial, locations, actor.user.id, actor.token_id)


async def _check(
    session: AsyncSession,
    table: tabular.Table,
    fields: Header,
    actor: Principal,
    workers: int | None,
    report: ImportReport,
    progress: Progress | None,
) -> tuple[Plan, dict[str, int]]:
    """The checking pass: every row, problems noted by line; how many rows of each type."""
    header, rows = fields, importer.read_rows(table, fields)
    plan = await _plan_for(session, header, actor)
    runner = _Runner(plan, _workers(workers, table))
    per_type: dict[str, int] = {}
    type_at = header.index("type")
    try:
        for chunk in _chunks(rows, importer.CHUNK):
            report.rows += len(chunk)
            for _, cells in chunk:
                key = cells[type_at].strip() if type_at < len(cells) else ""
                per_type[key] = per_type.get(key, 0) + 1
            if runner.submit(chunk):
                _note(report, await runner.next())
                if progress is not None:
                    progress("checked", report.rows)
        while (built := await runner.next()) is not None:
            _note(report, built)
        if progress is not None:
            progress("checked", report.rows)
    finally:
        runner.close()
    return plan, per_type


def _note(report: ImportReport, built: Built | None) -> None:
    assert built is not None
    for problem in built.problems:
        report.note(problem)


class _NotEmpty(Exception):
    """Rows came into `item` before its lock was taken."""


class _Postgres:
    """Item ids from the item sequence; rows by COPY on the session's own connection."""

    def __init__(self, driver: Any, sequence: str) -> None:
        self.driver, self.sequence = driver, sequence

    @classmethod
    async def open(cls, session: AsyncSession) -> "_Postgres":
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        assert driver.is_in_transaction()  # so COPY joins the session's transaction
        return cls(driver, await driver.fetchval("SELECT pg_get_serial_sequence('item', 'id')"))

    async def ids(self, count: int) -> list[int]:
        drawn = await self.driver.fetchval(
            "SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)",
            self.sequence,
            count,
        )
        return sorted(drawn)

    async def defer_indexes(self) -> list[str]:
        """When `item` is empty: drop its secondary indexes, and the foreign keys of `event`
        and `item_label` on it, and return the statements that make them again. Building an
        index once costs far less than maintaining it row by row, above all the trigram GIN
        indexes, and checking a foreign key once for all rows far less than row by row (each
        check also locks the item row it finds); on a table that holds rows it would not, so
        a live table is left alone. The exclusive locks of the three tables are taken without
        waiting (so never in a deadlock with a registration under way) and held until the
        import ends: nobody reads an empty table for long, an empty `item` has no events or
        labels to read, and nobody may see the tables without their indexes and keys. Only
        keys on `item` are dropped: dropping one on another table (user, location) would
        lock that table too."""
        if await self.driver.fetchval("SELECT EXISTS (SELECT 1 FROM item)"):
            return []
        try:
            async with self.driver.transaction():  # a savepoint: its locks go if it fails
                await self.driver.execute("LOCK TABLE item IN ACCESS EXCLUSIVE MODE NOWAIT")
                if await self.driver.fetchval("SELECT EXISTS (SELECT 1 FROM item)"):
                    raise _NotEmpty
                indexes = await self.driver.fetch(
                    "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid)"
                    " AS def FROM pg_index i WHERE indrelid = 'item'::regclass"
                    " AND NOT indisprimary AND NOT EXISTS"
                    " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
                )
                for row in indexes:
                    await self.driver.execute(f'DROP INDEX "{row["name"]}"')
        except (_NotEmpty, asyncpg.LockNotAvailableError):
            return []
        return [row["def"] for row in indexes] + await self._defer_keys()

    async def _defer_keys(self) -> list[str]:
        """Drop the foreign keys of `event` and `item_label` on `item`, when both tables can
        be locked at once (a reader of the change feed may hold `event`: then keep them)."""
        try:
            async with self.driver.transaction():
                await self.driver.execute(
                    "LOCK TABLE event, item_label IN ACCESS EXCLUSIVE MODE NOWAIT"
                )
                keys = await self.driver.fetch(
                    "SELECT conrelid::regclass::text AS tab, conname AS name,"
                    " pg_get_constraintdef(oid) AS def FROM pg_constraint"
                    " WHERE contype = 'f' AND confrelid = 'item'::regclass AND conparentid = 0"
                    " AND conrelid IN ('event'::regclass, 'item_label'::regclass)"
                    " ORDER BY conrelid::regclass::text, conname"
                )
                for row in keys:
                    await self.driver.execute(
                        f'ALTER TABLE {row["tab"]} DROP CONSTRAINT "{row["name"]}"'
                    )
        except asyncpg.LockNotAvailableError:
            return []
        return [
            f'ALTER TABLE {row["tab"]} ADD CONSTRAINT "{row["name"]}" {row["def"]}' for row in keys
        ]

    async def rebuild(self, statements: list[str]) -> None:
        """Make the deferred indexes and foreign keys again (each key checks every row)."""
        if statements:
            await self.driver.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for statement in statements:
            await self.driver.execute(statement)

    async def write(self, built: Built) -> None:
        for table, columns, data in (
            ("item", ITEM_COLUMNS, built.items),
            ("event", EVENT_COLUMNS, built.events),
            ("item_label", LABEL_COLUMNS, built.labels),
        ):
            await self.driver.copy_to_table(
                table, source=io.BytesIO(data), columns=columns, format="text"
            )


class _Sqlite:
    """Item ids after the largest (the session holds SQLite's write lock: BEGIN IMMEDIATE);
    rows by Core executemany."""

    def __init__(self, session: AsyncSession, next_id: int) -> None:
        self.session, self.next_id = session, next_id

    async def ids(self, count: int) -> list[int]:
        first, self.next_id = self.next_id, self.next_id + count
        return list(range(first, self.next_id))

    async def write(self, built: Built) -> None:
        for table, rows in (("item", built.items), ("event", built.events)):
            await self.session.execute(insert(_table(table)), rows)
        await self.session.execute(insert(_table("item_label")), built.labels)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


async def _reserve_codes(
    session: AsyncSession, types: dict[str, ItemType], per_type: dict[str, int]
) -> dict[str, int]:
    """The first code number of each type's whole range: one UPDATE ... RETURNING each, types
    in id order (as register_items takes them, so the two cannot deadlock)."""
    item_type = _table("item_type")
    first = {}
    for key in sorted(per_type, key=lambda k: types[k].id):
        last = await session.scalar(
            update(item_type)
            .where(item_type.c.id == types[key].id)
            .values(last_seq=item_type.c.last_seq + per_type[key])
            .returning(item_type.c.last_seq)
        )
        assert last is not None
        first[key] = last - per_type[key] + 1
    return first


async def import_items(
    session: AsyncSession,
    settings: Settings,
    *,
    table: tabular.Table,
    fields: Header,
    actor: Principal,
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    problems: list[RowProblem] | None = None,
) -> ImportReport:
    """Check every row of a table of items, then (unless a dry run) register them all in the
    session's transaction; raises ImportRefused, writing nothing, when any row is wrong.

    `fields`: the item field each column holds ('' for one left out); `problems`: what the
    caller already found wrong (formula cells, the header), listed before the rows' own;
    `progress(phase, rows)`: called as rows are "checked" and "written"; `workers`:
    processes that check, hash and sign (None: as many as pay on this machine)."""
    report = ImportReport()
    for problem in problems or ():
        report.note(problem)
    plan, per_type = await _check(session, table, fields, actor, workers, report, progress)
    if not report.ok:
        raise importer.refusal(report)
    if dry_run or report.rows == 0:
        return report

    numbers = await _reserve_codes(session, plan.types, per_type)
    for key, first in numbers.items():
        prefix, count = plan.types[key].code_prefix, per_type[key]
        report.created[key] = [f"{prefix}-{first:06d}", f"{prefix}-{first + count - 1:06d}", count]
    report.created = {key: report.created[key] for key in per_type}  # in order of appearance
    key_id, private = await keys.signer(session, settings)
    await session.flush()
    postgres = session.get_bind().dialect.name == "postgresql"
    writer: _Postgres | _Sqlite
    if postgres:
        writer = await _Postgres.open(session)
    else:
        last_id = await session.scalar(select(func.max(Item.id)))
        writer = _Sqlite(session, (last_id or 0) + 1)
    plan = replace(plan, key_id=key_id, private=private, copy_text=postgres)

    statuses: dict[tuple[int, str], int] = {}
    places: dict[int, int] = {}
    stock: dict[tuple[int, int | None], Decimal] = {}
    done = 0

    async def write(built: Built | None) -> None:
        nonlocal done
        assert built is not None
        if built.problems:  # the checking pass passed these rows: the file has changed
            raise FileChanged(details={"line": built.problems[0].line})
        await writer.write(built)
        for counted, n in built.statuses.items():
            statuses[counted] = statuses.get(counted, 0) + n
        for place, n in built.places.items():
            places[place] = places.get(place, 0) + n
        for key, held in built.stock.items():
            stock[key] = stock.get(key, Decimal(0)) + held
        done += sum(built.statuses.values())
        if progress is not None:
            progress("written", done)

    deferred = (
        await writer.defer_indexes()
        if isinstance(writer, _Postgres) and report.rows >= FRESH_FROM_ROWS
        else []
    )
    header, rows = fields, importer.read_rows(table, fields)
    type_at = header.index("type")
    left = dict(per_type)  # codes reserved and not yet given: a changed file must not overrun
    runner = _Runner(plan, _workers(workers, table))
    try:
        for chunk in _chunks(rows, importer.CHUNK):
            assigned = []
            for (line, cells), item_id in zip(chunk, await writer.ids(len(chunk)), strict=True):
                key = cells[type_at].strip() if type_at < len(cells) else ""
                if not left.get(key):
                    raise FileChanged(details={"line": line})
                left[key] -= 1
                assigned.append((item_id, numbers[key]))
                numbers[key] += 1
            if runner.submit(chunk, assigned, utcnow()):
                await write(await runner.next())
        while runner.pending:
            await write(await runner.next())
    finally:
        runner.close()
    if any(left.values()):
        raise FileChanged(details={"rows_missing": sum(left.values())})
    if isinstance(writer, _Postgres):
        await writer.rebuild(deferred)
    # Counted once per counter row, at the end: the rows stay locked only until the commit.
    for (type_id, status), n in sorted(statuses.items()):
        await counts.bump_status(session, type_id, status, n)
    for place, n in sorted(places.items()):
        await counts.bump_location(session, place, n)
    stocked_types = {
        t.id
        for key, t in plan.types.items()
        if on_hand.stocked(workflow_service.definition_of(t.workflow), plan.initial[key])
    }
    await on_hand.changed(session, {k: v for k, v in stock.items() if k[0] in stocked_types})
    return report
