"""EPCIS export at scale: `qtrack epcis export` streaming N events, its rate and its memory.

    python -m benchmarks.epcis [--events 200000] [--database-url URL] [--processes N]
                               [--keep] [--reuse]

Creates a fresh PostgreSQL database, runs `qtrack db upgrade`, seeds N/2 items with their
`created` events by COPY (benchmarks/seed.py), then gives every item a second event by COPY
(a status change, a move, a dispense or a pack, in turn), chained and hashed as
`events.service.append` would, so `qtrack audit verify` still passes. Then it runs
`qtrack epcis export --out FILE` as an administrator would, sampling the process's resident
memory as it goes, exports half the events (`--until`) the same way to show the memory does
not grow with the size, checks the file is one EPCISDocument holding every event (a sample
validated against GS1's schema), times a few query pages, and prints a Markdown table.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from jsonschema import Draft7Validator
from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.common import cpu_seconds, load_average, print_table
from benchmarks.seed import BLOCK, INITIAL, UNIT, asyncpg_dsn, code_of, seed
from benchmarks.tracking import ADMIN_PASSWORD, drop_database, qtrack_cli, recreate_database
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.pagination import encode_cursor
from qtrack.events.chain import canonical_fields, event_hash, jsonable
from qtrack.integrations.epcis import query as epcis_query
from qtrack.integrations.epcis import service as epcis_service
from qtrack.integrations.epcis import validation

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_epcis"
TARGET_RATE = 20_000  # events/s, DESIGN.md / issue 12
SECOND = {"material": ("quarantine", "quarantine"), "bag": ("sealed", "seal"),
          "supply": ("low", "mark_low")}  # fmt: skip
EVENT_COLUMNS = (
    "id", "item_id", "seq", "type", "actor_id", "recorded_at", "location_id", "before", "after",
    "prev_hash", "hash",
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    """What the second event of a seeded item needs to know of it."""

    id: int
    code: str
    key: str
    location_id: int | None
    location: str | None
    quantity: Any
    head: str


def second_event(
    item: Item, event_id: int, at: datetime, actor: int, leaves: Sequence[tuple[int, str]]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The item's second event (one of four kinds, by id) and the item's new columns."""
    turn = item.id % 4
    status, location_id, quantity, parent = INITIAL[item.key], item.location_id, item.quantity, None
    before: dict[str, Any]
    after: dict[str, Any]
    if turn == 2 and item.quantity is None:
        turn = 1  # bags have no quantity: move them instead
    if turn == 3 and item.key == "bag":
        turn = 0
    if turn == 0:
        status, transition = SECOND[item.key]
        kind, before, after = (
            "status_changed",
            {"status": INITIAL[item.key]},
            {"status": status, "transition": transition},
        )
    elif turn == 1:
        location_id, code = leaves[(item.id * 7) % len(leaves)]
        kind, before, after = "moved", {"location": item.location}, {"location": code}
    elif turn == 2:
        quantity = item.quantity - 1 if item.quantity >= 1 else item.quantity
        kind = "quantity_changed"
        before = {"quantity": item.quantity, "unit": UNIT[item.key]}
        after = {"quantity": quantity, "unit": UNIT[item.key], "kind": "dispense", "amount": 1}
    else:
        block = (item.id - 1) // len(BLOCK)
        bag_id = block * len(BLOCK) + BLOCK.index("bag") + 1
        parent = bag_id
        kind, before, after = "packed", {"container": None}, {"container": code_of(bag_id - 1)[1]}
    before, after = jsonable(before), jsonable(after)
    digest = event_hash(
        canonical_fields(
            item_id=item.id, seq=2, kind=kind, actor_id=actor, token_id=None,
            client_event_id=None, occurred_at=None, recorded_at=at, location_id=location_id,
            before=before, after=after, reason=None, signed_by_id=None, signature_meaning=None,
            signed_at=None, latitude=None, longitude=None, prev_hash=item.head,
        )
    )  # fmt: skip
    row = (
        event_id, item.id, 2, kind, actor, at, location_id, json.dumps(before),
        json.dumps(after), item.head, digest,
    )  # fmt: skip
    return row, (item.id, status, location_id, quantity, parent, digest)


async def add_second_events(dsn: str) -> float:
    """Every seeded item's second event by COPY; the items' rows follow. Returns seconds."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        actor = await conn.fetchval("SELECT id FROM \"user\" WHERE username = 'admin'")
        leaves = [
            (r["id"], r["code"])
            for r in await conn.fetch(
                "SELECT id, code FROM location WHERE kind = 'rack' ORDER BY id"
            )
        ]
        codes = {r["id"]: r["code"] for r in await conn.fetch("SELECT id, code FROM location")}
        types = {r["id"]: r["key"] for r in await conn.fetch("SELECT id, key FROM item_type")}
        first_id = int(await conn.fetchval("SELECT max(id) FROM event")) + 1
        at = datetime.now(UTC)
        last = 0
        while True:
            rows = await conn.fetch(
                "SELECT id, code, type_id, location_id, quantity, last_event_hash FROM item"
                " WHERE id > $1 ORDER BY id LIMIT 20000",
                last,
            )
            if not rows:
                break
            events, changes = [], []
            for r in rows:
                item = Item(
                    r["id"], r["code"], types[r["type_id"]], r["location_id"],
                    codes.get(r["location_id"]), r["quantity"], r["last_event_hash"],
                )  # fmt: skip
                event, change = second_event(
                    item, first_id + r["id"] - 1, at + timedelta(microseconds=r["id"]), actor,
                    leaves,
                )  # fmt: skip
                events.append(event)
                changes.append(change)
            async with conn.transaction():
                await conn.copy_records_to_table("event", records=events, columns=EVENT_COLUMNS)
                await conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS second (id bigint, status text,"
                    " location_id int, quantity numeric, parent_id bigint, hash text)"
                )
                await conn.execute("TRUNCATE second")
                await conn.copy_records_to_table("second", records=changes)
                await conn.execute(
                    "UPDATE item SET status = s.status, location_id = s.location_id,"
                    " quantity = s.quantity, parent_id = s.parent_id, event_count = 2,"
                    " last_event_hash = s.hash, version = version + 1 FROM second s"
                    " WHERE item.id = s.id"
                )
            last = rows[-1]["id"]
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('event', 'id'), (SELECT max(id) FROM event))"
        )
        await conn.execute("VACUUM (ANALYZE) item, event")
    finally:
        await conn.close()
    return time.perf_counter() - started


@dataclass
class Run:
    """One export by the CLI: how long, how much CPU and memory, what it said."""

    seconds: float
    cpu_s: float
    peak_rss_mb: float
    samples_mb: list[float]
    said: str


def export(env: dict[str, str], out: Path, *options: str) -> Run:
    """Run `qtrack epcis export` as a process of its own, sampling its resident memory every
    50 ms; its CPU time and peak RSS come from wait4, for that process alone."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as said:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qtrack", "epcis", "export", "--out", str(out), *options],
            env={**os.environ, **env},
            stderr=said,
        )
        samples: list[float] = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            samples.append(int(line.split()[1]) / 1024)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        said.seek(0)
        text = said.read()
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{text[-2000:]}")
    return Run(
        seconds=time.perf_counter() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        samples_mb=samples,
        said=text.strip().splitlines()[-1],
    )


@dataclass
class InProcess:
    """The export service run here: wall time, our CPU, and PostgreSQL's for the same work."""

    events: int
    seconds: float
    python_cpu_s: float
    postgres_cpu_s: float


async def in_process(database_url: str) -> InProcess:
    """Export every event through the service (no process start), discarding the bytes."""
    settings = Settings(database_url=database_url)
    db = Database(settings, pooled=False)
    try:
        async with db.session_scope("read") as session:
            backend = await session.scalar(text("SELECT pg_backend_pid()"))
            postgres_before = cpu_seconds(int(backend or 0))
            started, cpu = time.perf_counter(), time.process_time()
            count = await epcis_service.export_document(
                session, settings, since=None, until=None, write=lambda _: None
            )
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            postgres = cpu_seconds(int(backend or 0)) - postgres_before
    finally:
        await db.dispose()
    return InProcess(count, seconds, cpu, postgres)


def check(path: Path, expected: int) -> dict[str, int]:
    """The file is one EPCISDocument with every event; a sample passes GS1's schema."""
    document = json.loads(path.read_bytes())
    events = document["epcisBody"]["eventList"]
    if len(events) != expected:
        raise SystemExit(f"exported {len(events)} events, expected {expected}")
    sample = {**document, "epcisBody": {"eventList": events[:1000] + events[-1000:]}}
    schema = validation.schema()
    problems = list(Draft7Validator(schema).iter_errors(sample)) + validation.problems(sample)
    if problems:
        raise SystemExit(f"the export is not valid EPCIS: {problems[:3]}")
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event["qtrack:type"]] = kinds.get(event["qtrack:type"], 0) + 1
    return kinds


async def query_pages(database_url: str, events: int) -> list[list[str]]:
    """Milliseconds for one page of the query API's service, for a few kinds of query."""
    settings = Settings(database_url=database_url)
    db = Database(settings, pooled=False)
    rows: list[list[str]] = []
    shapes: list[tuple[str, list[tuple[str, str]]]] = [
        ("first page, 200 events", [("perPage", "200")]),
        ("a page at the end", [("perPage", "200"), ("nextPageToken", "")]),
        ("EQ_bizStep=storing", [("perPage", "200"), ("EQ_bizStep", "storing")]),
        ("EQ_disposition=non_sellable_other", [("EQ_disposition", "non_sellable_other")]),
        ("eventType=AggregationEvent", [("perPage", "200"), ("eventType", "AggregationEvent")]),
        ("MATCH_anyEPC (one item)", [("MATCH_anyEPC", "http://127.0.0.1:8000/id/item/BAG-000001")]),
    ]  # fmt: skip
    try:
        for label, params in shapes:
            params = [
                (k, encode_cursor(events - 300) if k == "nextPageToken" else v) for k, v in params
            ]
            query = epcis_query.parse(params)
            times = []
            found = 0
            for _ in range(5):
                async with db.session_scope("read") as session:
                    t = time.perf_counter()
                    document, _ = await epcis_service.query_events(session, settings, query)
                    times.append((time.perf_counter() - t) * 1000)
                found = len(document["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
            times.sort()
            rows.append([label, str(found), f"{times[len(times) // 2]:.1f}"])
    finally:
        await db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args()
    args.keep = args.keep or args.reuse
    items = args.events // 2
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    # Each batch's statement may pass the slow-query threshold on a busy machine: quiet.
    env["QTRACK_SLOW_QUERY_MS"] = "0"
    load_before = load_average()
    started_at = datetime.now(UTC)
    phases: dict[str, float] = {}
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {items:,} items and {args.events:,} events...", file=sys.stderr)
            seeded = seed(args.database_url, items=items, processes=args.processes)
            phases.update(seeded.phases)
            phases["second events"] = asyncio.run(add_second_events(asyncpg_dsn(args.database_url)))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "events.jsonld"
            half_at = asyncio.run(_time_of_event(args.database_url, items))
            half = export(env, out, "--until", half_at)
            full = export(env, out)
            kinds = check(out, args.events)
            size_mb = out.stat().st_size / 2**20
        inner = asyncio.run(in_process(args.database_url))
        pages = asyncio.run(query_pages(args.database_url, args.events))
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))

    rate = args.events / full.seconds
    cpu_rate = args.events / full.cpu_s
    print(
        f"\n{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, PostgreSQL at {make_url(args.database_url).host}; "
        f"load average {load_before} before, {load_average()} after\n"
    )
    print_table(
        ["qtrack epcis export", "events", "wall s", "events/s", "CPU s", "events/CPU-s",
         "peak RSS MB", "RSS after 10% (min-max)"],
        [
            [f"half (--until), {half.said}", f"{args.events // 2:,}", f"{half.seconds:.1f}",
             f"{args.events / 2 / half.seconds:,.0f}", f"{half.cpu_s:.1f}",
             f"{args.events / 2 / half.cpu_s:,.0f}", f"{half.peak_rss_mb:.0f}",
             _spread(half.samples_mb)],
            [f"all, {full.said}", f"{args.events:,}", f"{full.seconds:.1f}", f"{rate:,.0f}",
             f"{full.cpu_s:.1f}", f"{cpu_rate:,.0f}", f"{full.peak_rss_mb:.0f}",
             _spread(full.samples_mb)],
        ],
    )  # fmt: skip
    print(f"\nfile {size_mb:.0f} MB, one EPCISDocument; events by kind: {kinds}\n")
    print_table(
        ["export service, in process", "events", "wall s", "events/s", "Python CPU s",
         "PostgreSQL CPU s", "events/s if CPU-bound"],
        [[
            "all, bytes discarded", f"{inner.events:,}", f"{inner.seconds:.1f}",
            f"{inner.events / inner.seconds:,.0f}", f"{inner.python_cpu_s:.1f}",
            f"{inner.postgres_cpu_s:.1f}",
            f"{inner.events / (inner.python_cpu_s + inner.postgres_cpu_s):,.0f}",
        ]],
    )  # fmt: skip
    met = min(rate, cpu_rate) >= TARGET_RATE
    print(
        f"\ntarget ≥ {TARGET_RATE:,} events/s with flat memory: "
        f"{'met' if met else 'wall-clock not met' if cpu_rate >= TARGET_RATE else '**not met**'}"
    )
    print()
    print_table(["query (service, in process)", "events", "p50 ms"], pages)
    if phases:
        print("\nseeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))


def _spread(samples: list[float]) -> str:
    steady = samples[len(samples) // 10 :] or samples or [0.0]
    return f"{min(steady):.0f}-{max(steady):.0f}"


async def _time_of_event(database_url: str, event_id: int) -> str:
    """The eventTime of one event, as the export's --until takes it."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = await conn.fetchval(
            "SELECT coalesce(occurred_at, recorded_at) FROM event WHERE id = $1", event_id + 1
        )
    finally:
        await conn.close()
    return str(found.astimezone(UTC).isoformat())


if __name__ == "__main__":
    main()
