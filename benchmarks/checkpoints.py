"""Audit checkpoints at scale: how long a checkpoint over N chain heads takes, first and again
after some changes, and what checking the history against it costs.

    .venv/bin/python -m benchmarks.checkpoints [--items 200000] [--database-url URL]

Seeds N items (each with its `created` event) into a fresh PostgreSQL database with
`benchmarks.seed`, then times, in-process:
- the first checkpoint (every head recorded);
- a second after `--changes` edits through the services (only moved heads recorded);
- `verify_checkpoints` (recorded heads still reachable, totals recomputed from the events);
- `verify_chains` (the existing walk that re-hashes every event), for comparison.
"""

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from benchmarks.common import print_table
from benchmarks.seed import code_of, seed
from benchmarks.tracking import (
    ADMIN_PASSWORD,
    DEFAULT_URL,
    drop_database,
    qtrack_cli,
    recreate_database,
)
from qtrack.audit import service as audit_service
from qtrack.audit import verify as audit_verify
from qtrack.audit.models import Checkpoint
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.events import service as events_service
from qtrack.history import verify as history_verify
from qtrack.items import writes

T = TypeVar("T")


async def _timed(db: Database, work: Callable[[Database], Awaitable[T]]) -> tuple[T, str]:
    """The result, and the wall time and this process's CPU time it took: the machine is
    shared, so the CPU time is the steadier figure (the database's own time is not in it)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = await work(db)
    return result, f"{time.perf_counter() - wall:.2f} s ({time.process_time() - cpu:.2f} s CPU)"


async def _measure(database_url: str, changes: int) -> list[list[str]]:
    db = Database(Settings(_env_file=None, database_url=database_url), pooled=False)
    rows: list[list[str]] = []

    async def checkpoint(db: Database) -> Checkpoint:
        async with db.session_scope() as session:
            return await audit_service.create_checkpoint(session, db.settings)

    try:
        first, seconds = await _timed(db, checkpoint)
        rows.append(["first checkpoint", f"{first.items:,} heads", seconds])
        async with db.session_scope() as session:
            step = max(1, first.items // changes)
            for index in range(0, first.items, step)[:changes]:
                row = await writes.lock(session, code_of(index)[1])
                recorded = await events_service.record(session, None, [writes.entry(row, "edited")])
                await writes.move_heads(session, recorded)
        second, seconds = await _timed(db, checkpoint)
        rows.append(["next checkpoint", f"{second.changed:,} heads moved", seconds])

        async def verify(db: Database) -> audit_verify.CheckpointReport:
            async with db.session_scope("read") as session:
                return await audit_verify.verify_checkpoints(session)

        report, seconds = await _timed(db, verify)
        assert report.intact, report.problems
        rows.append(["verify against checkpoints", f"{second.events:,} events", seconds])

        async def walk(db: Database) -> history_verify.ChainReport:
            async with db.session_scope("read") as session:
                return await history_verify.verify_chains(session)

        chains, seconds = await _timed(db, walk)
        assert chains.intact, chains.broken
        rows.append(["verify chains (re-hash all)", f"{chains.events:,} events", seconds])
    finally:
        await db.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(["peak RSS of this process", "", f"{peak:.0f} MB"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=2_000)
    parser.add_argument("--database-url", default=DEFAULT_URL.replace("bench", "bench_audit"))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    asyncio.run(recreate_database(args.database_url))
    try:
        qtrack_cli(env, "db", "upgrade")
        seed(args.database_url, items=args.items, processes=args.processes)
        rows = asyncio.run(_measure(args.database_url, args.changes))
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))
    print_table(["what", "size", "took (Python CPU)"], rows)


if __name__ == "__main__":
    main()
