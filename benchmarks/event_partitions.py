"""The event table's partitions: what converting a table with a year of events costs, and
what partitioning does to an event INSERT and to reading an item's history.

    .venv/bin/python -m benchmarks.event_partitions [--items 100000] [--events 900000]

Seeds `--items` items (each with its `created` event, `benchmarks.seed`) at the migration
head, goes back to revision 0014 (an unpartitioned `event`, which also times the way back),
adds `--events` more events spread over the last twelve months, then measures on the plain
table: single-event INSERTs, each its own transaction (the scan path's write), and reading
one item's events; converts the table (revision 0019, timed) and measures the same again.
The added events' hashes are not real chains: this times storage, not verification.
"""

import argparse
import asyncio
import os
import random
import time

import asyncpg

from benchmarks.common import print_table
from benchmarks.seed import asyncpg_dsn, seed
from benchmarks.tracking import (
    ADMIN_PASSWORD,
    DEFAULT_URL,
    drop_database,
    qtrack_cli,
    recreate_database,
)
from qtrack import migrations

INSERT = (
    "INSERT INTO event (item_id, seq, type, recorded_at, before, after, hash) "
    "VALUES ($1, $2, 'edited', now(), '{}', '{}', repeat('0', 64)) RETURNING id"
)
HISTORY = "SELECT id, seq, hash FROM event WHERE item_id = $1 ORDER BY seq"
SPREAD = """
INSERT INTO event (item_id, seq, type, recorded_at, before, after, hash)
SELECT 1 + (n % $1), 2 + n / $1, 'edited',
       now() - make_interval(secs => (n::float8 / $2) * 365 * 86400),
       '{}', '{}', repeat('0', 64)
FROM generate_series(0, $2 - 1) AS n
"""


async def _add_events(dsn: str, items: int, events: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SPREAD, items, events)
        await conn.execute("ANALYZE event")
    finally:
        await conn.close()


async def _measure(dsn: str, items: int, inserts: int, reads: int, base_seq: int) -> list[str]:
    """Per-operation wall time of sequential INSERTs and history reads, and the load then."""
    conn = await asyncpg.connect(dsn)
    try:
        insert = await conn.prepare(INSERT)
        history = await conn.prepare(HISTORY)
        rng = random.Random(7)
        t = time.perf_counter()
        for n in range(inserts):
            async with conn.transaction():
                await insert.fetchval(1 + n % items, base_seq + n // items)
        per_insert = (time.perf_counter() - t) / inserts * 1e6
        t = time.perf_counter()
        for _ in range(reads):
            await history.fetch(rng.randrange(1, items + 1))
        per_read = (time.perf_counter() - t) / reads * 1e6
    finally:
        await conn.close()
    return [f"{per_insert:.0f} µs", f"{per_read:.0f} µs", f"{os.getloadavg()[0]:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=900_000)
    parser.add_argument("--inserts", type=int, default=5_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--database-url", default=DEFAULT_URL.replace("bench", "bench_parts"))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    dsn = asyncpg_dsn(args.database_url)
    total = args.items + args.events
    rows: list[list[object]] = []
    asyncio.run(recreate_database(args.database_url))
    try:
        qtrack_cli(env, "db", "upgrade")
        seed(args.database_url, items=args.items, processes=args.processes)
        t = time.perf_counter()
        migrations.downgrade(args.database_url, "0014")
        back = time.perf_counter() - t
        asyncio.run(_add_events(dsn, args.items, args.events))
        plain = asyncio.run(_measure(dsn, args.items, args.inserts, args.reads, 10_000))
        t = time.perf_counter()
        migrations.upgrade(args.database_url, "head")
        convert = time.perf_counter() - t
        load = f"{os.getloadavg()[0]:.2f}"
        parted = asyncio.run(_measure(dsn, args.items, args.inserts, args.reads, 20_000))
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))
    rows.append(["convert to monthly partitions (0019)", f"{total:,} events", f"{convert:.1f} s",
                 load])  # fmt: skip
    rows.append(["back to one table (0014)", f"{args.items:,} events", f"{back:.1f} s", ""])
    rows.append(["event INSERT, own transaction: one table", "", plain[0], plain[2]])
    rows.append(["event INSERT, own transaction: partitioned", "", parted[0], parted[2]])
    rows.append(["one item's history: one table", "", plain[1], plain[2]])
    rows.append(["one item's history: partitioned (monthly)", "", parted[1], parted[2]])
    print_table(["what", "size", "took", "load avg (1 min)"], rows)


if __name__ == "__main__":
    main()
