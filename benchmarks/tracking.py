"""Tracking figures at scale: scan lookups, scans that write, counts and search.

    python -m benchmarks.tracking [--items 2000000] [--seconds 10] [--database-url URL]
                                  [--redis-url URL] [--processes N] [--keep] [--reuse]
                                  [--no-reference] [--webhooks]

Creates a fresh PostgreSQL database (dropping one of the same name), runs `qtrack db
upgrade`, seeds items and their `created` events by COPY (benchmarks/seed.py), starts
`qtrack serve --workers 2`, and loads it with wrk over loopback as an operator with an API
token. Afterwards it checks that every acknowledged scan left exactly one event, that no
item got two, that the counts still agree with the items and that the chains it touched
still verify. Prints one Markdown table with the DESIGN.md targets, with the CPU the workers
and PostgreSQL spent per request (a figure that survives a busy machine), then drops the
database (unless --keep; --reuse measures again on a kept one without seeding).

With --webhooks, it then loads the transitions again with webhooks on (issue 15: the write
figures must still hold): one endpoint for every event type, pointing at a local receiver
(benchmarks/receiver.py), and two `qtrack worker --concurrency 4` fanning the changes out
and delivering them during the load and after it. It reports that load against the one
without, and the deliveries: made, succeeded, received, how long after the load the last
one finished, and the workers' CPU per delivery; its writes are checked with the others.
"""

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from benchmarks.common import (
    load_average,
    print_table,
    qtrack_server,
    reference_server,
    worker_pids,
)
from benchmarks.seed import SeedResult, asyncpg_dsn, batch_of, seed
from benchmarks.tracking_checks import verify
from benchmarks.tracking_hooks import Hooked, run_hooked
from benchmarks.tracking_load import Loads, book_reference_counts, read_state, run_loads, sequential
from benchmarks.tracking_table import hooked_rows, lookup_rows, met, ratio_rows, write_rows

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench"
# Not a database the test suite uses (it takes 15, 14, 13... one per parallel worker).
DEFAULT_REDIS = "redis://127.0.0.1:6379/1"
ADMIN_PASSWORD = "throwaway benchmark secret"  # noqa: S105 (a throwaway database)
OPERATOR = "bench-operator"
OPERATOR_PASSWORD = "scans all day long"  # noqa: S105


def qtrack_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a `qtrack` command as an administrator would; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "qtrack", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"qtrack {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


async def recreate_database(database_url: str) -> None:
    """Drop the database named in the URL if it exists, and create it empty."""
    url = make_url(database_url)
    name = url.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing a database name that is not plain lowercase: {name!r}")
    conn = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    """Drop the benchmark database."""
    url = make_url(database_url)
    conn = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help='"" to run without Redis')
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--sample", type=int, default=2000, help="untouched chains to verify")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--no-reference", action="store_true", help="measure qtrack alone, without the reference"
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="load the transitions again with an endpoint for every change and two workers",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on a database an earlier --keep run left (no seeding; kept)",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.reuse
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("this benchmark needs a PostgreSQL URL")
    load_before = load_average()
    started_at = datetime.now(UTC)

    env = {
        "QTRACK_DATABASE_URL": args.database_url,
        "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # One token carries 32 scanners' traffic here; the per-token limit (1,200/min by
        # default) is a policy for one real device, not what is being measured.
        "QTRACK_API_RATE_LIMIT_PER_MINUTE": str(10**9),
        # 32 connections over 2 workers is 16 requests in flight per worker: with the default
        # pool of 10, overflow connections open and close all the time, and the CPU of those
        # short-lived PostgreSQL backends would escape `timed_load`'s accounting.
        "QTRACK_DATABASE_POOL_SIZE": "20",
        # Background jobs run in `qtrack worker` here, not in the server's workers: a scheduled
        # job (the audit checkpoint over two million chains, the change feed's consumers)
        # would otherwise spend the workers' CPU during a load and be booked to the requests.
        # Every job a request enqueues is still enqueued, in the request's transaction.
        "QTRACK_JOBS_IN_PROCESS": "off",
    }
    if args.redis_url:
        env["QTRACK_REDIS_URL"] = args.redis_url
    dsn = asyncpg_dsn(args.database_url)

    seeded = None
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items, {args.processes} processes...", file=sys.stderr)
            seeded = seed(args.database_url, items=args.items, processes=args.processes)
            print(
                "seeded: " + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.phases.items()),
                file=sys.stderr,
            )
        items, rows, ratios = measure(args, env, dsn, seeded)
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))

    print(
        f"\n{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, PostgreSQL at {make_url(args.database_url).host}, "
        f"Redis {'on' if args.redis_url else 'off'}; {items:,} items; load average "
        f"{load_before} before, {load_average()} after\n"
    )
    print_table(["what", "measured", "target (DESIGN.md)", ""], rows)
    if ratios:
        print("\nqtrack / reference (`benchmarks/reference.py`), same run, same database:\n")
        print_table(
            [
                "request",
                "req/s: qtrack / reference = ratio (≥ 0.8)",
                "CPU per request, server + PostgreSQL: qtrack / reference",
                "p99: qtrack / reference",
                "errors",
            ],
            ratios,
        )
    if seeded is not None:
        print(
            "\nseeding phases: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.phases.items())
            + "; loaders: "
            + ", ".join(f"build {s.build_s:.1f} s / COPY {s.copy_s:.1f} s" for s in seeded.loaders)
        )


def measure(
    args: argparse.Namespace, env: dict[str, str], dsn: str, seeded: SeedResult | None
) -> tuple[int, list[list[object]], list[list[object]]]:
    """Load the reference, then qtrack, the same way; check the database: how many items, the
    targets' table and the comparison's."""
    if seeded is not None:
        qtrack_cli(
            env,
            "users",
            "create",
            OPERATOR,
            "--role",
            "operator",
            "--password-stdin",
            stdin=OPERATOR_PASSWORD,
        )
    name = f"bench-scanner-{datetime.now(UTC):%Y%m%d%H%M%S}"
    out = qtrack_cli(env, "tokens", "create", "--name", name, "--user", OPERATOR)
    token = next(line for line in out.splitlines() if line.startswith("qtk_"))
    state = asyncio.run(read_state(dsn))
    rng = random.Random(7)
    batch = batch_of(rng.randrange(state.items))[1:]  # "OT-012345": a substring of one batch
    code = f"AT-{rng.randrange(10_000, 99_999)}"  # MAT-NNNNN0..9 and longer codes
    rows: list[list[object]] = []
    db = make_url(args.database_url).database or ""

    with tempfile.TemporaryDirectory() as tmp:
        reference: Loads | None = None
        first = state.first
        if not args.no_reference:
            with reference_server(dsn, workers=2) as server:
                time.sleep(1.0)  # let both workers finish starting
                reference = run_loads(
                    server.base_url,
                    worker_pids(server.process.pid),
                    db,
                    token=token,
                    state=state,
                    first=first,
                    seconds=args.seconds,
                    acks=Path(tmp) / "reference-acks.txt",
                )
            asyncio.run(book_reference_counts(dsn, first, reference.sent))
            first += reference.sent + 1
        with qtrack_server(env, workers=2) as server:
            time.sleep(1.0)  # let both workers finish starting
            url = server.base_url
            loads = run_loads(
                url,
                worker_pids(server.process.pid),
                db,
                token=token,
                state=state,
                first=first,
                seconds=args.seconds,
                acks=Path(tmp) / "acks.txt",
            )
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                stats = sequential(client, "/api/v1/stats", 50)
                by_name = sequential(client, "/api/v1/items?q=stearate", 20, key="items")
                by_batch = sequential(client, f"/api/v1/items?q={batch}", 20, key="items")
                by_code = sequential(client, f"/api/v1/items?q={code}", 20, key="items")
        hooked: Hooked | None = None
        if args.webhooks:
            hooked = run_hooked(
                args,
                env,
                dsn,
                token=token,
                state=state,
                first=first + loads.sent + 1,
                acks=Path(tmp) / "hooked-acks.txt",
            )

    sent, acked = loads.sent, loads.acked
    requests = loads.write_requests
    for other in (reference, hooked):
        if other is not None:
            sent, acked = sent + other.sent, acked + other.acked
            requests += other.write_requests
    check = verify(args, dsn, state, requests, sent, acked)
    one, many, scans, writes = loads.one, loads.many, loads.scans, loads.writes

    if seeded is not None:
        rate = seeded.items / seeded.seconds
        rows.append(
            [
                f"seed {seeded.items:,} items + events (COPY, {args.processes} processes)",
                f"{seeded.seconds:.1f} s, {rate:,.0f} items/s",
                "bulk import: 1M items ≤ 60 s (16,667/s), for `qtrack import`",
                f"reference: {met(rate >= 1_000_000 / 60)}",
            ]
        )
    rows += lookup_rows(one, many)
    rows.append(
        [
            "POST /api/v1/scan (plain code), 32 connections, req/s",
            f"{scans.load.result.requests_per_s:,.0f} (errors {scans.load.result.errors}); "
            f"p99 {scans.load.result.p99_ms:.1f} ms; {scans.cost()}",
            "≥ 4,000/s (as a lookup)",
            met(scans.load.result.requests_per_s >= 4000 and scans.load.result.errors == 0),
        ]
    )
    rows += write_rows(writes, check)
    if hooked is not None:
        rows += hooked_rows(hooked, writes)
    rows.append(
        [
            "GET /api/v1/stats, p50 of 50",
            f"{stats.p50_ms:.1f} ms (max {stats.max_ms:.1f})",
            "≤ 10 ms",
            met(stats.p50_ms <= 10),
        ]
    )
    for label, result in (
        ("name 'stearate'", by_name),
        (f"batch '{batch}'", by_batch),
        (f"code '{code}'", by_code),
    ):
        rows.append(
            [
                f"GET /api/v1/items?q= {label}, p50 of 20",
                f"{result.p50_ms:.1f} ms (max {result.max_ms:.1f}; {result.found} on the page)",
                "≤ 100 ms",
                met(result.p50_ms <= 100),
            ]
        )
    rows.append(
        [
            "RSS per worker after the load",
            " / ".join(f"{r:.0f} MB" for r in loads.rss),
            "≤ 200 MB",
            met(max(loads.rss) <= 200),
        ]
    )
    return state.items, rows, ratio_rows(loads, reference)


if __name__ == "__main__":
    main()
