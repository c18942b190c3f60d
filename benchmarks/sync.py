"""A device's first sync of a big site: every record paged through GET /api/v1/sync/changes.

    .venv/bin/python -m benchmarks.sync [--items 100000] [--limit 1000] [--database-url URL]
                                        [--processes N] [--keep] [--reuse]

Creates a fresh PostgreSQL database, seeds items with their `created` events by COPY
(benchmarks/seed.py), starts `qtrack serve` (one worker), logs in as an operator through the
API as a mobile app would, and pulls from no cursor until `has_more` is false, a page of
`--limit` changes at a time, over one keep-alive connection. Then it changes a few hundred
items and pulls again (an incremental sync). Prints one Markdown table: wall time, pages,
records, the server's and PostgreSQL's CPU per page, and the target (a full first sync of
100,000 items in 30 s or less).
"""

import argparse
import asyncio
import random
import sys
import time
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from benchmarks.common import cpu_seconds, postgres_backends, print_table, qtrack_server
from benchmarks.seed import seed
from benchmarks.tracking import (
    ADMIN_PASSWORD,
    OPERATOR,
    OPERATOR_PASSWORD,
    drop_database,
    qtrack_cli,
    recreate_database,
)

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_sync"
TARGET_S = 30.0


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def pull_all(
    client: httpx.Client, limit: int, since: str | None
) -> tuple[int, int, str, dict[str, int]]:
    """Pull until nothing more waits: pages, records, the cursor after, records per kind."""
    pages = records = 0
    kinds: dict[str, int] = {}
    cursor = since
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["since"] = cursor
        response = client.get("/api/v1/sync/changes", params=params)
        response.raise_for_status()
        page = response.json()
        pages += 1
        records += len(page["changes"])
        for change in page["changes"]:
            kinds[change["kind"]] = kinds.get(change["kind"], 0) + 1
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is not None
            return pages, records, cursor, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args()
    env = {"QTRACK_DATABASE_URL": args.database_url, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    rows: list[list[object]] = []
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items...", file=sys.stderr)
            seed(args.database_url, items=args.items, processes=args.processes)
            qtrack_cli(
                env, "users", "create", OPERATOR, "--role", "operator", "--password-stdin",
                stdin=OPERATOR_PASSWORD,
            )  # fmt: skip
        database = make_url(args.database_url).database or ""
        with qtrack_server(env, workers=1) as server:
            time.sleep(1.0)
            with httpx.Client(base_url=server.base_url, timeout=120) as client:
                login = client.post(
                    "/api/v1/auth/login",
                    json={"username": OPERATOR, "password": OPERATOR_PASSWORD},
                )
                login.raise_for_status()
                client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                backends = postgres_backends(database)
                server0, pg0 = _cpu([server.process.pid]), _cpu(backends)
                t = time.perf_counter()
                pages, records, cursor, kinds = pull_all(client, args.limit, None)
                first_s = time.perf_counter() - t
                backends = sorted(set(backends) | set(postgres_backends(database)))
                server_s, pg_s = _cpu([server.process.pid]) - server0, _cpu(backends) - pg0
                print(f"first sync: {kinds}", file=sys.stderr)
                rows.append(
                    [
                        f"first sync, {args.items:,} items",
                        f"{first_s:.1f}",
                        pages,
                        f"{records:,}",
                        f"{server_s / pages * 1000:.0f} + {pg_s / pages * 1000:.0f}",
                        f"≤ {TARGET_S:.0f} s: " + ("met" if first_s <= TARGET_S else "**not met**"),
                    ]
                )
                # An incremental sync after some moves (through the API, as devices make them).
                locations = client.get("/api/v1/locations", params={"limit": 20}).json()["items"]
                places = [loc["code"] for loc in locations]
                listed = client.get("/api/v1/items", params={"limit": 200}).json()["items"]
                rng = random.Random(17)
                moved = 0
                for _ in range(args.changes):
                    code = rng.choice(listed)["code"]
                    answer = client.post(
                        f"/api/v1/items/{code}/move", json={"location": rng.choice(places)}
                    )
                    moved += answer.status_code == 200
                time.sleep(0.5)
                server0, pg0 = _cpu([server.process.pid]), _cpu(backends)
                t = time.perf_counter()
                pages, records, _, kinds = pull_all(client, args.limit, cursor)
                later_s = time.perf_counter() - t
                server_s, pg_s = _cpu([server.process.pid]) - server0, _cpu(backends) - pg0
                print(f"later sync: {kinds}", file=sys.stderr)
                rows.append(
                    [
                        f"later sync after {moved} moves",
                        f"{later_s:.2f}",
                        pages,
                        f"{records:,}",
                        f"{server_s / pages * 1000:.0f} + {pg_s / pages * 1000:.0f}",
                        "",
                    ]
                )
    finally:
        if not (args.keep or args.reuse):
            asyncio.run(drop_database(args.database_url))
    print_table(
        ["pull", "wall s", "pages", "records", "CPU ms/page (server + PostgreSQL)", "target"],
        rows,
    )


if __name__ == "__main__":
    main()
