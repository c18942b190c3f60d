"""The importer behind `qtrack import`: registration's rows, built in bulk and copied.

Each row is built by `items.create.created_rows` and `signing.tokens.label_row`, as
`items.create.register_items` builds them, but in worker processes — checking and hashing
happen there — and written in chunks: with COPY on PostgreSQL (through the
asyncpg connection under the session, so inside its transaction), with Core executemany on
SQLite. What is written is exactly what `register_items` writes
(tests/items/test_bulk_load.py compares the two). The file is read once: the checking pass
keeps each chunk's checked rows in a spill file (`items.bulk_rows`), and the writing pass builds
from those, so what is written is what was checked.

* codes: each type's whole range is reserved up front with one UPDATE ... RETURNING on its
  counter row (types in id order, as `register_items` does), so they are gap-free and the
  row stays locked until the commit;
* item ids are drawn from the item sequence before the rows are built (the event hash and the
  label token contain them); event and label ids come from their column defaults;
* each `created` event's content and hash are `events.service.event_values`' (what `record`
  writes); each label is serial 1, `signing.tokens.label_row` (its token is signed when it is
  printed or shown, `signing.tokens.label_token`, for an import as for a registration);
* the counts are added once per counter row at the end, in `items.counts`' order.

Indexes and keys stay in place on a live table. Into an empty `item` table (PostgreSQL, from
FRESH_FROM_ROWS rows), its secondary indexes, the foreign keys of `item`, `event` and
`item_label` on `item`, `item_type`, `location` and `signing_key`, and those two (then empty)
tables' secondary indexes and unique keys are dropped inside the import's transaction and made
again after the rows, under the tables' exclusive locks: a failed import restores them with
everything else. The foreign keys come back NOT VALID and `items.validate_keys` checks the rows
after the commit. The keys to `user` and `api_token` stay (every request reads those tables).
"""

import tempfile
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core import tabular
from qtrack.core.clock import utcnow
from qtrack.core.orm import Base
from qtrack.item_types.models import ItemType
from qtrack.items import bulk_rows, counts, importer, on_hand
from qtrack.items.bulk_rows import Built, ChunkChecked, Plan, Runner
from qtrack.items.importer import Header, ImportReport, RowProblem
from qtrack.items.models import Item
from qtrack.jobs import service as jobs_service
from qtrack.signing import keys
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
LABEL_COLUMNS = ("item_id", "serial", "key_id", "issued_at", "issued_by_id")
# From this many rows, an import into an empty `item` table builds its indexes after the rows.
FRESH_FROM_ROWS = 100_000
# The job that checks the rows against the keys such an import made again NOT VALID.
VALIDATE_KEYS = "items.validate_keys"
# A constraint as the catalog names it (quoted where it must be), while it is NOT VALID.
_UNVALIDATED = text(
    "SELECT conrelid::regclass::text AS tab, quote_ident(conname) AS name FROM pg_constraint"
    " WHERE conrelid = CAST(:tab AS regclass) AND conname = :name AND NOT convalidated"
)
# Every foreign key of the tables such an import loads that is still NOT VALID.
_ALL_UNVALIDATED = text(
    "SELECT conrelid::regclass::text AS tab, conname AS name FROM pg_constraint"
    " WHERE conrelid IN ('item'::regclass, 'item_label'::regclass) AND contype = 'f'"
    " AND NOT convalidated ORDER BY 1, 2"
)
Progress = Callable[[str, int], None]  # (phase: "checked" or "written", rows so far)


async def _plan_for(session: AsyncSession, header: Header, actor: Principal) -> Plan:
    types, locations, archived = await importer.known_types_and_locations(session)
    initial = {k: workflow_service.definition_of(t.workflow).initial for k, t in types.items()}
    return Plan(header, types, initial, locations, actor.user_id, actor.token_id, archived=archived)


async def _check(
    session: AsyncSession,
    table: tabular.Table,
    fields: Header,
    actor: Principal,
    workers: int,
    report: ImportReport,
    progress: Progress | None,
    spill: Path | None,
) -> tuple[Plan, list[ChunkChecked]]:
    """The checking pass: every row, problems noted by line; each chunk's rows per type and
    (unless `spill` is None) the file its checked rows were kept in."""
    plan = await _plan_for(session, fields, actor)
    runner = Runner(plan, workers, bulk_rows.check)
    checked: list[ChunkChecked] = []

    def note(chunk: ChunkChecked | None) -> None:
        assert chunk is not None
        checked.append(chunk)
        for problem in chunk.problems:
            report.note(problem)

    try:
        for n, chunk in enumerate(
            bulk_rows.chunks(importer.read_rows(table, fields), importer.CHUNK)
        ):
            report.rows += len(chunk)
            if runner.submit(chunk, None if spill is None else spill / f"{n}.pickle"):
                note(await runner.next())
                if progress is not None:
                    progress("checked", report.rows)
        while runner.pending:
            note(await runner.next())
        if progress is not None:
            progress("checked", report.rows)
    finally:
        runner.close()
    return plan, checked


class _NotEmpty(Exception):
    """Rows came into `item` before its lock was taken."""


class _Postgres:
    """Item ids from the item sequence; rows by COPY on the session's own connection."""

    def __init__(self, driver: Any, sequence: str) -> None:
        self.driver, self.sequence = driver, sequence
        # Whether foreign keys come back NOT VALID (`items.validate_keys` after the commit).
        self.validate_later = False

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
        a live table is left alone. The exclusive locks are taken without waiting (so never
        in a deadlock with a registration under way) and held until the import ends: nobody
        reads an empty table for long, an empty `item` has no events or labels to read, and
        nobody may see the tables without their indexes and keys. A page that reads item
        types, locations or signing keys waits for the import's end (a minute for a million
        rows); the tracking pages wait on `item` anyway."""
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
        """Drop the foreign keys of `event` and `item_label` on `item`, those of all three
        tables on `item_type`, `location` and `signing_key`, and `event`'s and `item_label`'s
        secondary indexes and unique keys, when all those tables can be locked at once (a
        reader of the change feed may hold `event`, a page `location`: then keep them).
        `event` and `item_label` are empty when `item` is (their rows reference an item), so
        each index is built once from the sorted rows, and each key checks every row in one
        join after the commit (`items.validate_keys`) instead of one query a row (six a row
        before). Dropping a key locks the table it references too: the keys to `user` and
        `api_token`, which every request reads, stay."""
        try:
            async with self.driver.transaction():
                await self.driver.execute(
                    "LOCK TABLE event, item_label, item_type, location, signing_key"
                    " IN ACCESS EXCLUSIVE MODE NOWAIT"
                )
                keys = await self.driver.fetch(
                    "SELECT conrelid::regclass::text AS tab, conname AS name,"
                    " pg_get_constraintdef(oid) AS def, contype = 'f' AND"
                    " (SELECT relkind FROM pg_class WHERE oid = conrelid) = 'r' AS later"
                    " FROM pg_constraint WHERE conparentid = 0 AND ("
                    "(conrelid IN ('event'::regclass, 'item_label'::regclass) AND (contype = 'u'"
                    " OR (contype = 'f' AND confrelid IN ('item'::regclass,"
                    " 'item_type'::regclass, 'location'::regclass, 'signing_key'::regclass))))"
                    " OR (conrelid = 'item'::regclass AND contype = 'f'"
                    " AND confrelid IN ('item_type'::regclass, 'location'::regclass)))"
                    " ORDER BY contype DESC, conrelid::regclass::text, conname"
                )
                indexes = await self.driver.fetch(
                    "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid)"
                    " AS def FROM pg_index i"
                    " WHERE indrelid IN ('event'::regclass, 'item_label'::regclass)"
                    " AND NOT indisprimary AND NOT EXISTS"
                    " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
                    " ORDER BY 1"
                )
                for row in keys:
                    await self.driver.execute(
                        f'ALTER TABLE {row["tab"]} DROP CONSTRAINT "{row["name"]}"'
                    )
                for row in indexes:
                    await self.driver.execute(f'DROP INDEX "{row["name"]}"')
        except asyncpg.LockNotAvailableError:
            return []
        # A foreign key comes back NOT VALID: the rows this import writes are not read again
        # before it commits (they were made from ids it looked up under these locks), and
        # `items.validate_keys` checks them afterwards without blocking anyone. Not on the
        # partitioned `event`, which PostgreSQL 15 does not allow: its keys check the rows now.
        self.validate_later = any(row["later"] for row in keys)
        # `event` is partitioned: its index is defined ON ONLY the parent; made again on the
        # parent, it is built on every partition too.
        return [row["def"].replace(" ON ONLY ", " ON ", 1) for row in indexes] + [
            # In the query's order: the unique keys before the foreign keys.
            f'ALTER TABLE {row["tab"]} ADD CONSTRAINT "{row["name"]}" {row["def"]}'
            + (" NOT VALID" if row["later"] else "")
            for row in keys
        ]

    async def rebuild(self, statements: list[str]) -> None:
        """Make the deferred indexes and foreign keys again (the keys NOT VALID)."""
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
            # The buffer itself (a memoryview: asyncpg takes bytes for a path), not a file,
            # which asyncpg reads in 512 KB pieces through a thread pool.
            await self.driver.copy_to_table(
                table, source=memoryview(data), columns=columns, format="text"
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


async def unvalidated_keys(session: AsyncSession) -> list[tuple[str, str]]:
    """(table, constraint) of each foreign key of `item` and `item_label` still NOT VALID
    (none on SQLite, which has no such state)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    return [(row.tab, row.name) for row in await session.execute(_ALL_UNVALIDATED)]


async def validate_key(session: AsyncSession, table: str, name: str) -> None:
    """Check every row against a foreign key an import made again NOT VALID (nothing if it is
    valid already). `VALIDATE CONSTRAINT` blocks neither reads nor writes: SHARE UPDATE
    EXCLUSIVE on the table, ROW SHARE on the one it references."""
    found = (await session.execute(_UNVALIDATED, {"tab": table, "name": name})).first()
    if found is not None:
        await session.execute(text(f"ALTER TABLE {found.tab} VALIDATE CONSTRAINT {found.name}"))


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
    processes that check and hash (None: as many as pay on this machine)."""
    report = ImportReport()
    for problem in problems or ():
        report.note(problem)
    processes = bulk_rows.workers_for(workers, table)
    # The checked rows wait here between the passes (removed as each chunk is written).
    with tempfile.TemporaryDirectory(prefix="qtrack-import-") as spill:
        plan, checked = await _check(
            session, table, fields, actor, processes, report, progress,
            None if dry_run else Path(spill),
        )  # fmt: skip
        if not report.ok:
            raise importer.refusal(report)
        if dry_run or report.rows == 0:
            return report
        await _write(session, settings, plan, checked, processes, report, progress)
    return report


async def _write(
    session: AsyncSession,
    settings: Settings,
    plan: Plan,
    checked: list[ChunkChecked],
    workers: int,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """The writing pass: codes reserved, each checked chunk built and written in order, the
    counts added."""
    per_type: dict[str, int] = {}
    for chunk in checked:
        for key, n in chunk.per_type.items():
            per_type[key] = per_type.get(key, 0) + n
    numbers = await _reserve_codes(session, plan.types, per_type)
    for key, first in numbers.items():
        prefix, count = plan.types[key].code_prefix, per_type[key]
        report.created[key] = [f"{prefix}-{first:06d}", f"{prefix}-{first + count - 1:06d}", count]
    report.created = {key: report.created[key] for key in per_type}  # in order of appearance
    key_id = await keys.active_key_id(session, settings)
    await session.flush()
    postgres = session.get_bind().dialect.name == "postgresql"
    writer: _Postgres | _Sqlite
    if postgres:
        writer = await _Postgres.open(session)
    else:
        last_id = await session.scalar(select(func.max(Item.id)))
        writer = _Sqlite(session, (last_id or 0) + 1)
    plan = replace(plan, key_id=key_id, copy_text=postgres)

    statuses: dict[tuple[int, str], int] = {}
    places: dict[int, int] = {}
    stock: dict[tuple[int, int | None], Decimal] = {}
    done = 0

    async def write(built: Built | None) -> None:
        nonlocal done
        assert built is not None
        await writer.write(built)
        for counted, n in built.statuses.items():
            statuses[counted] = statuses.get(counted, 0) + n
        for place, n in built.places.items():
            places[place] = places.get(place, 0) + n
        for key, held in built.stock.items():
            stock[key] = stock.get(key, Decimal(0)) + held
        done += built.rows
        if progress is not None:
            progress("written", done)

    deferred = (
        await writer.defer_indexes()
        if isinstance(writer, _Postgres) and report.rows >= FRESH_FROM_ROWS
        else []
    )
    runner = Runner(plan, workers, bulk_rows.build)
    try:
        for chunk in checked:
            assert chunk.spill is not None
            ids = await writer.ids(sum(chunk.per_type.values()))
            starts = {key: numbers[key] for key in chunk.per_type}
            for key, n in chunk.per_type.items():
                numbers[key] += n
            if runner.submit(chunk.spill, ids, starts, utcnow()):
                await write(await runner.next())
        while runner.pending:
            await write(await runner.next())
    finally:
        runner.close()
    if isinstance(writer, _Postgres):
        await writer.rebuild(deferred)
        if writer.validate_later:
            await jobs_service.enqueue(session, VALIDATE_KEYS, dedupe_key=VALIDATE_KEYS)
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
