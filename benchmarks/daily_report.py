"""The end-of-day summary on a big history: two million items, one day of 200,000 events.

Seeds the items (each with its `created` event, by COPY: benchmarks/seed.py), adds a day's
worth of events spread over one local day far from the seeding (moves, status changes with
a client event id, some rejections), then times `reports.service.daily_summary` for that day
and shows PostgreSQL's plan for its main count (an index range scan on `recorded_at`).

    .venv/bin/python -m benchmarks.daily_report [--items N] [--events N] [--database-url URL]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import date

import asyncpg

from benchmarks.common import print_table
from benchmarks.seed import asyncpg_dsn, seed
from benchmarks.tracking import ADMIN_PASSWORD, drop_database, qtrack_cli, recreate_database
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.reports import service
from qtrack.reports.service import day_bounds

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_daily"
DAY = date(2031, 3, 14)
# One day's events: a status change every fifth, a client event id on every other, and a
# rejection every hundredth, recorded evenly through the local day.
ADD_EVENTS = """
INSERT INTO event (item_id, seq, type, actor_id, client_event_id, recorded_at, location_id,
                   before, after, hash)
SELECT 1 + (n * 7919) % $1, 1000 + n,
       CASE WHEN n % 5 = 0 THEN 'status_changed' ELSE 'moved' END,
       $2, CASE WHEN n % 2 = 0 THEN 'bench-' || n END,
       $3::timestamptz + (n * $4::float8) * interval '1 microsecond', NULL,
       '{}'::json,
       CASE WHEN n % 100 = 0 THEN '{"status": "rejected"}'::json
            WHEN n % 5 = 0 THEN '{"status": "released"}'::json
            ELSE '{"location": "X"}'::json END,
       md5(n::text) || md5(n::text)
FROM generate_series(0, $5 - 1) AS n
"""


async def add_day(dsn: str, items: int, events: int, settings: Settings) -> None:
    start, end = day_bounds(DAY, settings)
    step = (end - start).total_seconds() * 1e6 / events
    conn = await asyncpg.connect(dsn)
    try:
        admin = await conn.fetchval('SELECT id FROM "user" ORDER BY id LIMIT 1')
        await conn.execute(ADD_EVENTS, items, admin, start, step, events)
        await conn.execute("ANALYZE event")
    finally:
        await conn.close()


async def plan(dsn: str, settings: Settings) -> str:
    start, end = day_bounds(DAY, settings)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "EXPLAIN SELECT type, count(*) FROM event WHERE recorded_at >= $1 AND "
            "recorded_at < $2 GROUP BY type",
            start,
            end,
        )
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


async def measure(settings: Settings, runs: int) -> list[float]:
    db = Database(settings, pooled=False)
    timings = []
    try:
        for _ in range(runs):
            async with db.session_scope("read") as session:
                t = time.perf_counter()
                summary = await service.daily_summary(session, settings, day=DAY)
                timings.append(time.perf_counter() - t)
        print(f"events counted: {summary.events:,}", file=sys.stderr)
    finally:
        await db.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timezone", default="Europe/Paris")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url, timezone=args.timezone)
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    dsn = asyncpg_dsn(args.database_url)
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items...", file=sys.stderr)
            seed(args.database_url, items=args.items, processes=args.processes)
            asyncio.run(add_day(dsn, args.items, args.events, settings))
        print(asyncio.run(plan(dsn, settings)), file=sys.stderr)
        timings = asyncio.run(measure(settings, args.runs))
    finally:
        if not (args.keep or args.reuse):
            asyncio.run(drop_database(args.database_url))
    print_table(
        ["items", "events that day", "first s", "median s", "target"],
        [
            [
                f"{args.items:,}",
                f"{args.events:,}",
                f"{timings[0]:.3f}",
                f"{statistics.median(timings):.3f}",
                "≤ 1 s: " + ("met" if max(timings[1:] or timings) <= 1 else "**not met**"),
            ]
        ],
    )


if __name__ == "__main__":
    main()
