"""The low-stock list at two million items: on-hand is maintained, so the list reads only
the stock rows that are low or out, whatever the number of items.

Seeds the items (each with its `created` event, by COPY: benchmarks/seed.py, which also fills
`stock_on_hand` as the write path keeps it), adds a catalogue of item types in a category
tree (each held at many locations, some critical), sets their levels through
`stock.service.set_levels` (overall, and at a site for some) so that about a third are low or
out, then times:

- `stock.service.list_stock(low=True)` in process (wall and CPU per call), the whole list,
  and the list of one category;
- `GET /api/v1/stock?low=true` through a real server (one worker), sequential requests:
  p50 / p99 latency and the worker's CPU per request;
- a dispense (quantity change) with levels set on its type, through the service, against the
  same dispense on a type without levels: what keeping on-hand and the states costs a change.

    .venv/bin/python -m benchmarks.stock [--items N] [--types N] [--database-url URL]
"""

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from decimal import Decimal

import asyncpg
import httpx

from benchmarks.common import cpu_seconds, print_table, qtrack_server, worker_pids
from benchmarks.seed import asyncpg_dsn, seed
from benchmarks.tracking import ADMIN_PASSWORD, drop_database, qtrack_cli, recreate_database

# Registers the jobs the service enqueues (a level crossed raises an alert: `alerts.raised`).
from qtrack import handlers  # noqa: F401
from qtrack.accounts.permissions import ALL_PERMISSIONS
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import get_user
from qtrack.categories import service as categories_service
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.events.service import EventContext
from qtrack.item_types import service as item_types_service
from qtrack.items import changes, create
from qtrack.items.schemas import ItemCreate
from qtrack.stock import service as stock_service

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_stock"
TARGET_MS = 50.0
PLACES_PER_TYPE = 40  # locations each catalogue type is held at


async def catalogue(settings: Settings, dsn: str, types: int) -> None:
    """`types` item types in a category tree, each held at some leaf locations, with levels
    (a third of them below their reorder level, a tenth also with levels at a site)."""
    rng = random.Random(14)
    db = Database(settings, pooled=False)
    try:
        async with db.session_scope() as session:
            for top in range(5):
                await categories_service.create_category(
                    session, key=f"cat-{top}", name=f"Category {top}"
                )
                for sub in range(4):
                    await categories_service.create_category(
                        session, key=f"cat-{top}-{sub}", name=f"Sub {sub}", parent=f"cat-{top}"
                    )
            for n in range(types):
                await item_types_service.create_item_type(
                    session, key=f"supply_{n}", workflow="supply", name=f"Supply {n}",
                    code_prefix=f"S{n:05d}", unit="pcs", tracks_quantity=True,
                    category=f"cat-{n % 5}-{n % 4}", critical=n % 7 == 0,
                )  # fmt: skip
    finally:
        await db.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        leaves = [
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM location l WHERE NOT EXISTS"
                " (SELECT 1 FROM location c WHERE c.parent_id = l.id) ORDER BY id"
            )
        ]
        type_ids = [
            r[0] for r in await conn.fetch("SELECT id FROM item_type WHERE key LIKE 'supply_%'")
        ]
        rows = []
        for type_id in type_ids:
            held = Decimal(0)
            for place in rng.sample(leaves, min(PLACES_PER_TYPE, len(leaves))):
                amount = Decimal(rng.randrange(1, 50))
                rows.append((type_id, place, amount))
                held += amount
            rows.append((type_id, 0, held))
        await conn.copy_records_to_table(
            "stock_on_hand", records=rows, columns=["type_id", "location_id", "on_hand"]
        )
        sites = [r[0] for r in await conn.fetch("SELECT id FROM location WHERE parent_id IS NULL")]
        site_code = await conn.fetchval("SELECT code FROM location WHERE id = $1", sites[0])
        totals = {
            r[0]: r[1]
            for r in await conn.fetch(
                "SELECT type_id, on_hand FROM stock_on_hand WHERE location_id = 0"
            )
        }
    finally:
        await conn.close()
    db = Database(settings, pooled=False)
    try:
        async with db.session_scope() as session:
            keys = {t.id: t.key for t in await item_types_service.list_item_types(session)}
            for i, type_id in enumerate(sorted(type_ids)):
                total = totals[type_id]
                # A third below their reorder level (low or out), the rest above it.
                reorder = total + 10 if i % 3 == 0 else max(total - 10, Decimal(1))
                await stock_service.set_levels(
                    session, type_key=keys[type_id], location=None,
                    minimum_level=reorder / 2, reorder_level=reorder,
                )  # fmt: skip
                if i % 10 == 0:
                    await stock_service.set_levels(
                        session, type_key=keys[type_id], location=site_code,
                        minimum_level=None, reorder_level=Decimal(rng.randrange(1, 2000)),
                    )  # fmt: skip
    finally:
        await db.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        # As autovacuum would soon after: the catalogue's thousand types and their rows are
        # new, and planning the list with a stale estimate of item_type (the 3 shipped types)
        # reads every stock row instead of the few in a state.
        for table in ("stock_on_hand", "alert", "item_type", "location", "category"):
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


async def in_process(settings: Settings, runs: int) -> list[list[object]]:
    """Wall and CPU per call of the list, low only, whole, and one category."""
    db = Database(settings, pooled=False)
    rows: list[list[object]] = []
    try:
        for label, kwargs in (
            ("low or out", {"low": True}),
            ("every type", {}),
            ("one category, low", {"low": True, "category": "cat-1"}),
        ):
            walls, cpus, found = [], [], 0
            async with db.session_scope("read") as session:
                for _ in range(runs):
                    w, c = time.perf_counter(), time.process_time()
                    found = len(await stock_service.list_stock(session, **kwargs))
                    walls.append((time.perf_counter() - w) * 1000)
                    cpus.append((time.process_time() - c) * 1000)
            p50 = statistics.median(walls)
            rows.append([
                f"list_stock: {label}", found, f"{p50:.2f}", f"{statistics.median(cpus):.2f}",
                f"{sorted(walls)[int(len(walls) * 0.99) - 1]:.2f}",
                "≤ 50 ms: " + ("met" if p50 <= TARGET_MS else "**not met**"),
            ])  # fmt: skip
    finally:
        await db.dispose()
    return rows


async def dispenses(settings: Settings, runs: int) -> list[list[object]]:
    """A dispense on a type with levels (on-hand and its states kept) against one without."""
    db = Database(settings, pooled=False)
    rows: list[list[object]] = []
    try:
        async with db.session_scope() as session:
            user = await get_user(session, "admin")
            actor = Principal(user=user, permissions=ALL_PERMISSIONS, via="cli")
            levelled = await create.register_items(
                session, specs=[ItemCreate(type="supply_0", quantity=Decimal(10**6))],
                actor=actor, settings=settings,
            )  # fmt: skip
            plain = await create.register_items(
                session, specs=[ItemCreate(type="material", quantity=Decimal(10**6))],
                actor=actor, settings=settings,
            )  # fmt: skip
        for label, code in (("levels set", levelled[0].code), ("no levels", plain[0].code)):
            walls = []
            for _ in range(runs):
                async with db.session_scope() as session:
                    user = await get_user(session, "admin")
                    actor = Principal(user=user, permissions=ALL_PERMISSIONS, via="cli")
                    w = time.perf_counter()
                    await changes.change_quantity(
                        session, code=code, kind="dispense", amount=Decimal(1), actor=actor,
                        reason=None, context=EventContext(),
                    )  # fmt: skip
                    walls.append((time.perf_counter() - w) * 1000)
            rows.append([
                f"dispense 1, {label}", runs, f"{statistics.median(walls):.2f}", "-",
                f"{sorted(walls)[int(len(walls) * 0.99) - 1]:.2f}", "reference",
            ])  # fmt: skip
    finally:
        await db.dispose()
    return rows


def over_http(env: dict[str, str], runs: int) -> list[object]:
    """`GET /api/v1/stock?low=true` through one worker, sequentially."""
    out = qtrack_cli(env, "tokens", "create", "--name", f"bench-stock-{os.getpid()}",
                     "--user", "admin")  # fmt: skip
    token = next(line for line in out.splitlines() if line.startswith("qtk_"))
    with qtrack_server(env, workers=1) as server:
        time.sleep(1.0)
        (worker,) = worker_pids(server.process.pid)
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            for _ in range(20):
                client.get("/api/v1/stock?low=true").raise_for_status()
            before = cpu_seconds(worker)
            walls, found = [], 0
            for _ in range(runs):
                w = time.perf_counter()
                response = client.get("/api/v1/stock?low=true")
                walls.append((time.perf_counter() - w) * 1000)
                response.raise_for_status()
                found = len(response.json())
            cpu = (cpu_seconds(worker) - before) * 1000 / runs
    p50 = statistics.median(walls)
    return [
        "GET /api/v1/stock?low=true", found, f"{p50:.2f}", f"{cpu:.2f}",
        f"{sorted(walls)[int(len(walls) * 0.99) - 1]:.2f}",
        "≤ 50 ms: " + ("met" if p50 <= TARGET_MS else "**not met**"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--types", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url)
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    dsn = asyncpg_dsn(args.database_url)
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items...", file=sys.stderr)
            t = time.perf_counter()
            seed(args.database_url, items=args.items, processes=args.processes)
            print(f"seeded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            t = time.perf_counter()
            asyncio.run(catalogue(settings, dsn, args.types))
            print(f"catalogue and levels in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        rows = asyncio.run(in_process(settings, args.runs))
        rows.append(over_http(env, args.runs))
        rows += asyncio.run(dispenses(settings, min(args.runs, 100)))
    finally:
        if not (args.keep or args.reuse):
            asyncio.run(drop_database(args.database_url))
    print(f"\n{args.items:,} items, {args.types:,} catalogue types (+3 shipped), "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print_table(["what", "rows", "p50 ms", "CPU ms", "p99 ms", "target"], rows)


if __name__ == "__main__":
    main()
