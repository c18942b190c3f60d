"""Webhook fan-out: how many changes a second the feed consumer and the delivery jobs turn
into signed deliveries to a local receiver, on two `qtrack worker` processes (PostgreSQL).

    python -m benchmarks.webhooks [--changes 20000] [--endpoints 1] [--database-url URL]
                                  [--scans 2000] [--keep]

Creates a fresh database (dropping one of the same name), runs `qtrack db upgrade`, puts
the `webhooks` feed consumer before the first change, seeds N items with their `created`
events by COPY (benchmarks/seed.py) so the consumer has a backlog of N changes, registers
the endpoints (all event types) to a receiver process on 127.0.0.1 (asyncio, keep-alive,
answers 200 at once), then starts two `qtrack worker --concurrency 4` and times until every
delivery has succeeded. It reports changes a second (fanned out, and delivered), and the
CPU the workers, PostgreSQL and the receiver spent per delivery: the machine is shared, so
that figure says more than the wall clock. With --scans, it also times scan-like writes
(an event recorded through the scan path's statement) with the workers idle and while they
deliver, to show whether fan-out slows the scan path.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import asyncpg
from sqlalchemy import func, select

from benchmarks.common import cpu_seconds, load_average, postgres_backends, print_table
from benchmarks.receiver import delivery_workers, receiver, register_endpoints
from benchmarks.seed import asyncpg_dsn, seed
from benchmarks.tracking import ADMIN_PASSWORD, drop_database, qtrack_cli, recreate_database
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.events import service as events_service
from qtrack.integrations.webhooks.models import WebhookDelivery
from qtrack.items import writes
from qtrack.items.models import Item

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_webhooks"


async def _prepare(database_url: str, receiver_port: int, endpoints: int) -> None:
    """The consumer before every change, and the endpoints (written as the service would)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO feed_consumer (name, txid, event_id, handled, failures, updated_at) "
            "VALUES ('webhooks', 0, 0, 0, 0, now())"
        )
    finally:
        await conn.close()
    await register_endpoints(database_url, receiver_port, endpoints)


async def _progress(db: Database) -> tuple[int, int]:
    async with db.session_scope("read") as session:
        made = await session.scalar(select(func.count()).select_from(WebhookDelivery))
        done = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "succeeded")
        )
    return int(made or 0), int(done or 0)


async def _scans(db: Database, count: int) -> list[float]:
    """Scan-like writes, one after another: lock an item, record an event through the scan
    path's statement, move the item's chain head; the time of each transaction in ms."""
    times = []
    for n in range(count):
        started = time.perf_counter()
        async with db.session_scope() as session:
            code = await session.scalar(select(Item.code).where(Item.id == 1 + n % 1000))
            assert code is not None
            row = await writes.lock(session, code)
            recorded = await events_service.record(
                session, None, [writes.entry(row, "observed", reason="bench")]
            )
            await writes.move_heads(session, recorded)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p50(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} ms" if times else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--scans", type=int, default=0)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--log", default=os.devnull, help="where the workers' logs go")
    args = parser.parse_args()
    load_before = load_average()
    env = {
        "QTRACK_DATABASE_URL": args.database_url,
        "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QTRACK_WEBHOOKS_ALLOW_PRIVATE": "true",
        "QTRACK_LOG_LEVEL": "WARNING",
        "QTRACK_JOBS_POLL_S": "0.2",
    }
    asyncio.run(recreate_database(args.database_url))
    settings = Settings(_env_file=None, database_url=args.database_url)
    try:
        qtrack_cli(env, "db", "upgrade")
        with receiver() as hook:
            asyncio.run(_prepare(args.database_url, hook.port, args.endpoints))
            print(f"seeding {args.changes:,} items (their created events)...", file=sys.stderr)
            seed(args.database_url, items=args.changes, processes=2)
            # The scan-like writes record `observed` events: changes of the feed, but of no
            # webhook event type, so they make no delivery (counting them, the wait never ended).
            expected = args.changes * args.endpoints
            idle_scans = asyncio.run(_with_db(settings, lambda db: _scans(db, args.scans)))

            database = args.database_url.rsplit("/", 1)[-1]
            pg_before = {pid: cpu_seconds(pid) for pid in postgres_backends(database)}
            receiver_before = cpu_seconds(hook.pid)
            with delivery_workers(env, log=args.log) as workers:
                busy_scans, f = asyncio.run(
                    _watch(settings, expected, args.scans, [w.pid for w in workers])
                )
                # While the workers run: their backends end with them.
                pg_cpu = sum(
                    cpu_seconds(pid) - pg_before.get(pid, 0.0)
                    for pid in postgres_backends(database)
                )
                receiver_cpu = cpu_seconds(hook.pid) - receiver_before
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))
    measured = max(f["done"] - f["done0"], 1)
    elapsed = f["t1"] - f["t0"]
    rows: list[tuple[Any, ...]] = [
        ("changes (items created)", f"{args.changes:,}"),
        ("endpoints", args.endpoints),
        (
            "deliveries made / succeeded / received",
            f"{f['made']:,.0f} / {f['done']:,.0f} / {hook.received:,}",
        ),
        (
            "fan-out (consumer) throughput",
            f"{(f['made'] - f['made0']) / max(f['fanned'] - f['t0'], 1e-3):,.0f} changes/s",
        ),
        ("delivered throughput (2 workers)", f"{measured / elapsed:,.0f} deliveries/s"),
        ("target", "≥ 500 changes/s"),
        ("CPU per delivery: workers", f"{(f['cpu1'] - f['cpu0']) / measured * 1000:.2f} ms"),
        ("CPU per delivery: PostgreSQL", f"{pg_cpu / measured * 1000:.2f} ms"),
        ("CPU per delivery: receiver", f"{receiver_cpu / measured * 1000:.2f} ms"),
        ("load average before / after", f"{load_before} / {load_average()}"),
    ]
    if args.scans:
        rows.append(("scan-like write p50, workers idle", _p50(idle_scans)))
        rows.append(("scan-like write p50, while delivering", _p50(busy_scans)))
    print_table(["what", "figure"], rows)


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


async def _watch(
    settings: Settings, expected: int, scans: int, pids: list[int]
) -> tuple[list[float], dict[str, float]]:
    """Wait until every delivery succeeded (the workers are up: `delivery_workers` waited),
    timing scans meanwhile; the figures at the start and at the end."""
    db = Database(settings)
    busy: list[float] = []
    figures: dict[str, float] = {}
    try:
        figures["t0"] = time.perf_counter()
        figures["cpu0"] = sum(cpu_seconds(pid) for pid in pids)
        figures["made0"], figures["done0"] = await _progress(db)
        while True:
            if scans and len(busy) < scans:
                busy += await _scans(db, min(100, scans - len(busy)))
            else:
                await asyncio.sleep(0.25)
            made, done = await _progress(db)
            now = time.perf_counter()
            if "fanned" not in figures and made >= expected:
                figures["fanned"] = now
            if done >= expected or now - figures["t0"] > 900:
                figures.update(t1=now, made=made, done=done)
                figures["cpu1"] = sum(cpu_seconds(pid) for pid in pids)
                figures.setdefault("fanned", now)
                return busy, figures
    finally:
        await db.dispose()


if __name__ == "__main__":
    main()
