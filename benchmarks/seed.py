"""Bulk seeding for the tracking benchmark: N items, each with its `created` event, by COPY.

Each row is what `items.create.register_items` writes for the same input (`check_snapshot`
compares the event's content with the service's own `created_after`), and each event's hash is
computed with `events.chain` exactly as `events.service.append` computes it, so
`qtrack audit verify` passes on a seeded database.

Item ids are assigned here (the tables are empty), so every chunk can be built and copied
independently, in several processes at once. Types repeat in blocks of 20 ids (17 material,
2 bag, 1 supply), which makes every item's code a closed formula of its id.

For the load, the secondary indexes, unique constraints and foreign keys of `item` and
`event` are dropped and made again afterwards, from their own definitions (what pg_restore
does): building an index once is far cheaper than maintaining it row by row, above all the
trigram GIN indexes.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from sqlalchemy import select
from sqlalchemy.engine import make_url

from qtrack import models  # noqa: F401  (every mapper, so that Item() can be built)
from qtrack.accounts.models import User
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.events.chain import canonical_fields, event_hash, jsonable
from qtrack.item_types.models import ItemType
from qtrack.items.create import created_after
from qtrack.items.schemas import ItemCreate
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location

BLOCK = ("material",) * 17 + ("bag",) * 2 + ("supply",)
PER_BLOCK = Counter(BLOCK)
# For each position in a block: how many items of the same type come before it in the block.
RANK = tuple(BLOCK[:p].count(key) for p, key in enumerate(BLOCK))
PREFIX = {"material": "MAT", "bag": "BAG", "supply": "SUP"}
INITIAL = {"material": "received", "bag": "open", "supply": "in_stock"}
UNIT = {"material": "kg", "bag": "pcs", "supply": "pcs"}

MATERIALS = (
    "Lactose monohydrate",
    "Microcrystalline cellulose",
    "Magnesium stearate",
    "Croscarmellose sodium",
    "Povidone K30",
    "Talc",
    "Colloidal silicon dioxide",
    "Hypromellose",
    "Maize starch",
    "Sodium starch glycolate",
    "Calcium hydrogen phosphate",
    "Mannitol",
    "Sucrose",
    "Titanium dioxide",
    "Ethanol 96%",
    "Purified water",
    "Paracetamol",
    "Ibuprofen",
    "Metformin hydrochloride",
    "Amoxicillin trihydrate",
    "Citric acid",
    "Sodium chloride",
    "Glycerol",
    "Stearic acid",
    "Polysorbate 80",
    "Sorbitol",
    "Gelatin",
    "Iron oxide red",
    "Carnauba wax",
    "Shellac",
)
GRADES = ("Ph. Eur.", "USP", "NF", "BP", "JP")
SUPPLIES = (
    "Nitrile gloves M",
    "Nitrile gloves L",
    "Syringe 5 ml",
    "Syringe 10 ml",
    "Alcohol swab",
    "Gauze 10x10",
    "FFP2 mask",
    "Sample bottle 250 ml",
    "Label roll 50x30",
    "Cable ties",
)
BAGS = ("Dispatch bag", "Sample bag", "Return bag")
ITEMS_PER_BATCH = 50

ITEM_COLUMNS = (
    "id",
    "code",
    "type_id",
    "name",
    "status",
    "location_id",
    "quantity",
    "unit",
    "batch",
    "gtin",
    "expiry_on",
    "expiry_raw",
    "weight_kg",
    "attributes",
    "version",
    "archived",
    "event_count",
    "last_event_hash",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "id",
    "item_id",
    "seq",
    "type",
    "actor_id",
    "recorded_at",
    "location_id",
    "before",
    "after",
    "hash",
)


def type_count(total: int, key: str) -> int:
    """How many of `total` seeded items are of a type."""
    full, rest = divmod(total, len(BLOCK))
    return full * PER_BLOCK[key] + BLOCK[:rest].count(key)


def code_of(index: int) -> tuple[str, str]:
    """Type key and code of the item with 0-based index `index` (id = index + 1)."""
    block, position = divmod(index, len(BLOCK))
    key = BLOCK[position]
    seq = block * PER_BLOCK[key] + RANK[position] + 1
    return key, f"{PREFIX[key]}-{seq:06d}"


def batch_of(index: int) -> str:
    """The batch (lot) number an item carries: 50 consecutive ids share one."""
    return f"LOT-{index // ITEMS_PER_BATCH:06d}"


def _gtin(n: int) -> str:
    body = f"0400000{n:06d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


GTINS = tuple(_gtin(n) for n in range(len(MATERIALS)))
FIRST_EXPIRY = date(2027, 1, 1)


@dataclass(frozen=True)
class Spec:
    """What one seeded item is, before ids of the database are attached."""

    key: str
    code: str
    name: str
    quantity: Decimal | None
    batch: str | None
    gtin: str | None
    expiry_on: date | None
    weight_kg: Decimal | None
    location: int | None  # an index into the list of leaf locations


def spec_of(index: int, leaves: int) -> Spec:
    """The seeded item with this index: deterministic, varied enough to search in."""
    key, code = code_of(index)
    batch_no = index // ITEMS_PER_BATCH
    location = None if index % 25 == 7 else (index // 10) % leaves
    expiry = FIRST_EXPIRY + timedelta(days=batch_no % 730)
    if key == "material":
        material = batch_no % len(MATERIALS)
        return Spec(
            key,
            code,
            f"{MATERIALS[material]} {GRADES[batch_no % len(GRADES)]}",
            Decimal((index * 37) % 1000 + 1) / 4,
            batch_of(index),
            GTINS[material],
            expiry,
            None,
            location,
        )
    if key == "supply":
        return Spec(
            key,
            code,
            SUPPLIES[batch_no % len(SUPPLIES)],
            Decimal(100 * (index % 5 + 1)),
            batch_of(index),
            None,
            expiry,
            None,
            location,
        )
    return Spec(
        key,
        code,
        BAGS[index % len(BAGS)],
        None,
        None,
        None,
        None,
        Decimal(index % 40 + 5) / 10,
        location,
    )


@lru_cache(maxsize=4096)
def _json_value(value: Decimal | date) -> Any:
    return jsonable(value)


def after_of(spec: Spec, location_code: str | None) -> dict[str, Any]:
    """The `after` of the `created` event: `jsonable(_snapshot(item))` of the service, built
    straight in its JSON form (the few distinct numbers and dates converted once)."""
    after: dict[str, Any] = {
        "code": spec.code,
        "status": INITIAL[spec.key],
        "name": spec.name,
        "unit": UNIT[spec.key],
    }
    if location_code is not None:
        after["location"] = location_code
    if spec.quantity is not None:
        after["quantity"] = _json_value(spec.quantity)
    if spec.batch is not None:
        after["batch"] = spec.batch
    if spec.gtin is not None:
        after["gtin"] = spec.gtin
    if spec.expiry_on is not None:
        after["expiry_on"] = _json_value(spec.expiry_on)
    if spec.weight_kg is not None:
        after["weight_kg"] = _json_value(spec.weight_kg)
    return after


@lru_cache(maxsize=4096)
def _yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def check_snapshot(leaf_codes: Sequence[str], items: int = 2000) -> None:
    """Fail loudly if the seeded events would say something else than the service's own
    snapshot (the first 2,000 items cover every quantity and weight the seed uses)."""
    for index in range(items):
        spec = spec_of(index, len(leaf_codes))
        code = leaf_codes[spec.location] if spec.location is not None else None
        registration = ItemCreate(
            type=spec.key,
            name=spec.name,
            location=code,
            quantity=spec.quantity,
            batch=spec.batch,
            gtin=spec.gtin,
            expiry_on=spec.expiry_on,
            weight_kg=spec.weight_kg,
        )
        theirs = created_after(spec.code, INITIAL[spec.key], UNIT[spec.key], registration)
        ours, theirs = after_of(spec, code), jsonable(theirs)
        if ours != theirs:
            raise RuntimeError(f"seed snapshot drifted from the service: {ours} != {theirs}")


@dataclass(frozen=True)
class Context:
    """What every loading process needs to know."""

    dsn: str
    total: int
    chunk: int
    type_ids: dict[str, int]
    leaf_ids: tuple[int, ...]
    leaf_codes: tuple[str, ...]
    actor_id: int
    seeded_at: datetime


def build_chunk(
    ctx: Context, start: int, stop: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Item and event rows for ids start+1 .. stop."""
    items: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    leaves = len(ctx.leaf_ids)
    for index in range(start, stop):
        spec = spec_of(index, leaves)
        item_id = index + 1
        at = ctx.seeded_at + timedelta(microseconds=index)
        location_id = ctx.leaf_ids[spec.location] if spec.location is not None else None
        location_code = ctx.leaf_codes[spec.location] if spec.location is not None else None
        after = after_of(spec, location_code)
        digest = event_hash(
            canonical_fields(
                item_id=item_id,
                seq=1,
                kind="created",
                actor_id=ctx.actor_id,
                token_id=None,
                client_event_id=None,
                occurred_at=None,
                recorded_at=at,
                location_id=location_id,
                before={},
                after=after,
                reason=None,
                signed_by_id=None,
                signature_meaning=None,
                signed_at=None,
                latitude=None,
                longitude=None,
                prev_hash=None,
            )
        )
        items.append(
            (
                item_id,
                spec.code,
                ctx.type_ids[spec.key],
                spec.name,
                INITIAL[spec.key],
                location_id,
                spec.quantity,
                UNIT[spec.key],
                spec.batch,
                spec.gtin,
                spec.expiry_on,
                _yymmdd(spec.expiry_on) if spec.expiry_on else None,
                spec.weight_kg,
                "{}",
                1,
                False,
                1,
                digest,
                at,
                at,
            )
        )
        events.append(
            (
                item_id,  # one event per item: the event id can be the item id
                item_id,
                1,
                "created",
                ctx.actor_id,
                at,
                location_id,
                "{}",
                orjson.dumps(after).decode(),
                digest,
            )
        )
    return items, events


@dataclass
class LoaderStats:
    """Where one loading process spent its time."""

    items: int = 0
    build_s: float = 0.0
    copy_s: float = 0.0


def _load(ctx: Context, worker: int, workers: int) -> LoaderStats:
    """Build and COPY every `workers`-th chunk, starting at chunk `worker`."""

    async def run() -> LoaderStats:
        stats = LoaderStats()
        conn = await asyncpg.connect(ctx.dsn)
        try:
            await conn.execute("SET synchronous_commit = off")
            for start in range(worker * ctx.chunk, ctx.total, workers * ctx.chunk):
                stop = min(start + ctx.chunk, ctx.total)
                t0 = time.perf_counter()
                items, events = build_chunk(ctx, start, stop)
                t1 = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_records_to_table("item", records=items, columns=ITEM_COLUMNS)
                    await conn.copy_records_to_table("event", records=events, columns=EVENT_COLUMNS)
                stats.items += stop - start
                stats.build_s += t1 - t0
                stats.copy_s += time.perf_counter() - t1
        finally:
            await conn.close()
        return stats

    return asyncio.run(run())


@dataclass
class SeedResult:
    """What seeding did and how long each phase took."""

    items: int
    counts: dict[str, int]
    locations: int
    phases: dict[str, float] = field(default_factory=dict)
    loaders: list[LoaderStats] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def asyncpg_dsn(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a plain libpq URL for asyncpg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def create_locations(database_url: str) -> tuple[list[int], list[str], int]:
    """A site with three buildings, four zones each and 25 racks per zone (316 locations),
    made through the locations service; returns the racks' ids and codes, and the total."""
    db = Database(Settings(database_url=database_url), pooled=False)
    try:
        async with db.session_scope() as session:
            await locations_service.create_location(
                session, code="S1", name="Main plant", kind="site"
            )
            made = 1
            for b in range(1, 4):
                building = await locations_service.create_location(
                    session, code=f"S1-B{b}", name=f"Building {b}", kind="building", parent="S1"
                )
                made += 1
                for z in range(1, 5):
                    zone = await locations_service.create_location(
                        session,
                        code=f"{building.code}-Z{z}",
                        name=f"Zone {z}",
                        kind="zone",
                        parent=building.code,
                    )
                    made += 1
                    for r in range(1, 26):
                        await locations_service.create_location(
                            session,
                            code=f"{zone.code}-R{r:02d}",
                            name=f"Rack {r}",
                            kind="rack",
                            parent=zone.code,
                        )
                        made += 1
            rows = (
                await session.execute(
                    select(Location.id, Location.code)
                    .where(Location.kind == "rack")
                    .order_by(Location.id)
                )
            ).all()
        return [r.id for r in rows], [r.code for r in rows], made
    finally:
        await db.dispose()


async def _ids(database_url: str, admin: str) -> tuple[dict[str, int], int]:
    db = Database(Settings(database_url=database_url), pooled=False)
    try:
        async with db.session_scope("read") as session:
            types = {
                row.key: row.id for row in await session.execute(select(ItemType.key, ItemType.id))
            }
            actor = await session.scalar(select(User.id).where(User.username == admin))
        if actor is None:
            raise RuntimeError(f"no user '{admin}': run `qtrack db upgrade` first")
        return types, actor
    finally:
        await db.dispose()


async def _deferrable(conn: Any) -> tuple[list[str], list[str], list[str]]:
    """Drop the unique constraints, foreign keys and secondary indexes of item and event;
    return the statements that make them again (uniques, indexes, foreign keys)."""
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, contype, pg_get_constraintdef(oid) AS def"
        " FROM pg_constraint WHERE contype IN ('u', 'f')"
        " AND conrelid IN ('item'::regclass, 'event'::regclass)"
    )
    indexes = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def"
        " FROM pg_index i WHERE indrelid IN ('item'::regclass, 'event'::regclass)"
        " AND NOT indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    )
    for row in constraints:
        if row["contype"] == "f":
            await conn.execute(f'ALTER TABLE "{row["tbl"]}" DROP CONSTRAINT "{row["conname"]}"')
    for row in constraints:
        if row["contype"] == "u":
            await conn.execute(f'ALTER TABLE "{row["tbl"]}" DROP CONSTRAINT "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["name"]}"')

    def add(row: Any) -> str:
        return f'ALTER TABLE "{row["tbl"]}" ADD CONSTRAINT "{row["conname"]}" {row["def"]}'

    uniques = [add(r) for r in constraints if r["contype"] == "u"]
    foreign = [add(r) for r in constraints if r["contype"] == "f"]
    # A partitioned table's index reads `ON ONLY event`: made that way it would be built on
    # the parent alone and stay invalid, every partition without it. Built on the table, it
    # is made on each partition and attached.
    remade = [r["def"].replace(" ON ONLY ", " ON ", 1) for r in indexes]
    return uniques, remade, foreign


async def _run_parallel(dsn: str, statements: Sequence[str], workers: int) -> None:
    """Run independent DDL statements on `workers` connections at once."""
    queue = list(reversed(statements))

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            while queue:
                await conn.execute(queue.pop())
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(min(workers, len(statements)))))


async def _finish(dsn: str, counts: dict[str, int], type_ids: dict[str, int]) -> None:
    """Codes continue after the seeded ones; counters and id sequences match the rows."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for key, n in counts.items():
                await conn.execute(
                    "UPDATE item_type SET last_seq = $1 WHERE id = $2", n, type_ids[key]
                )
            await conn.execute(
                "INSERT INTO status_count (type_id, status, count)"
                " SELECT type_id, status, count(*) FROM item WHERE NOT archived"
                " GROUP BY type_id, status"
                " ON CONFLICT (type_id, status, shard) DO UPDATE SET count = excluded.count"
            )
            await conn.execute(
                "INSERT INTO location_count (location_id, count)"
                " SELECT location_id, count(*) FROM item"
                " WHERE NOT archived AND location_id IS NOT NULL GROUP BY location_id"
                " ON CONFLICT (location_id, shard) DO UPDATE SET count = excluded.count"
            )
            # On-hand per type and location and per type (location 0), as the write path
            # keeps it: quantities of quantity-tracked types, else a count (seeded items are
            # all live and in their initial states, which count).
            amount = (
                "CASE WHEN t.tracks_quantity THEN coalesce(sum(i.quantity), 0) ELSE count(*) END"
            )
            # (A constant in GROUP BY would be read as a column position: group by the
            # location only where it is a column.)
            for place, where, by in (
                ("i.location_id", "AND i.location_id IS NOT NULL", ", i.location_id"),
                ("0", "", ""),
            ):
                await conn.execute(
                    "INSERT INTO stock_on_hand (type_id, location_id, on_hand)"  # noqa: S608
                    f" SELECT i.type_id, {place}, {amount}"
                    " FROM item i JOIN item_type t ON t.id = i.type_id"
                    f" WHERE NOT i.archived {where}"
                    f" GROUP BY i.type_id{by}, t.tracks_quantity"
                    " ON CONFLICT (type_id, location_id) DO UPDATE SET on_hand = excluded.on_hand"
                )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('item', 'id'), (SELECT max(id) FROM item))"
            )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('event', 'id'), (SELECT max(id) FROM event))"
            )
    finally:
        await conn.close()


async def _vacuum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # A database that has been running a while is vacuumed; a fresh COPY is not (no
        # visibility map, no hint bits), and its first readers would pay for that.
        await conn.execute("VACUUM (ANALYZE) item, event")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed(
    database_url: str,
    *,
    items: int,
    processes: int,
    chunk: int = 20_000,
    admin: str = "admin",
) -> SeedResult:
    """Seed `items` items (with their `created` events) into a freshly upgraded database."""
    dsn = asyncpg_dsn(database_url)
    phases: dict[str, float] = {}

    t = time.perf_counter()
    leaf_ids, leaf_codes, made = asyncio.run(create_locations(database_url))
    type_ids, actor_id = asyncio.run(_ids(database_url, admin))
    check_snapshot(leaf_codes)
    phases["locations"] = time.perf_counter() - t

    async def defer() -> tuple[list[str], list[str], list[str]]:
        conn = await asyncpg.connect(dsn)
        try:
            return await _deferrable(conn)
        finally:
            await conn.close()

    uniques, indexes, foreign = asyncio.run(defer())

    ctx = Context(
        dsn=dsn,
        total=items,
        chunk=chunk - chunk % len(BLOCK) or len(BLOCK),
        type_ids=type_ids,
        leaf_ids=tuple(leaf_ids),
        leaf_codes=tuple(leaf_codes),
        actor_id=actor_id,
        seeded_at=datetime.now(UTC),
    )
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_load, ctx, w, processes) for w in range(processes)]
        loaders = [f.result() for f in futures]
    phases["build + COPY"] = time.perf_counter() - t

    t = time.perf_counter()
    asyncio.run(_run_parallel(dsn, uniques, processes))
    asyncio.run(_run_parallel(dsn, indexes, processes))
    asyncio.run(_run_parallel(dsn, foreign, processes))
    phases["indexes + constraints"] = time.perf_counter() - t

    counts = {key: type_count(items, key) for key in PREFIX}
    t = time.perf_counter()
    asyncio.run(_finish(dsn, counts, type_ids))
    phases["counts + sequences"] = time.perf_counter() - t

    t = time.perf_counter()
    asyncio.run(_vacuum(dsn))
    phases["VACUUM ANALYZE"] = time.perf_counter() - t
    return SeedResult(items, counts, made, phases, loaders)
