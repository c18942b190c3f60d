"""What reading from a replica costs a read-only request: the same item lookup with no
replica, with one, and with one and read-your-writes marks kept in Redis.

    .venv/bin/python -m benchmarks.replica [--requests 3000] [--redis redis://127.0.0.1:6379/12]

Makes a migrated database with a few items, clones it as the "replica" (a second database on
the same server, read-only like a standby), then, in this process through the ASGI app (no
HTTP server: the figure is the app's own CPU per request, the client's included),
times sequential `GET /api/v1/items/{code}` as a user who has not written, and once more as
one who just wrote (routed back to the primary).
"""

import argparse
import asyncio
import os
import time
from typing import Any

import asyncpg
import httpx

from benchmarks.common import print_table
from benchmarks.seed import asyncpg_dsn
from benchmarks.tracking import (
    ADMIN_PASSWORD,
    DEFAULT_URL,
    drop_database,
    qtrack_cli,
    recreate_database,
)
from qtrack.app import create_app
from qtrack.config import Settings


async def _clone_read_only(primary_url: str, replica_url: str) -> None:
    admin = asyncpg_dsn(primary_url.rsplit("/", 1)[0] + "/postgres")
    source, target = primary_url.rsplit("/", 1)[1], replica_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
        await conn.execute(f'ALTER DATABASE "{target}" SET default_transaction_read_only = on')
    finally:
        await conn.close()


async def _run(settings: Settings, requests: int, write_first: bool) -> dict[str, Any]:
    app = create_app(settings)
    served: list[str] = []
    async with app.router.lifespan_context(app):
        app.state.qtrack.db.read_listeners.append(served.append)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = {"username": "admin", "password": ADMIN_PASSWORD}
            token = (await client.post("/api/v1/auth/login", json=body)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            if write_first:
                made = await client.post(
                    "/api/v1/items", json={"type": "material"}, headers=headers
                )
                assert made.status_code == 201, made.text
            for _ in range(200):  # warm up
                await client.get("/api/v1/items/MAT-000001", headers=headers)
            served.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                response = await client.get("/api/v1/items/MAT-000001", headers=headers)
                assert response.status_code == 200, response.text
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_ms": wall / requests * 1000,
        "cpu_ms": cpu / requests * 1000,
        "served": ", ".join(f"{n} {served.count(n)}" for n in sorted(set(served))) or "-",
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--database-url", default=DEFAULT_URL.replace("bench", "bench_primary"))
    args = parser.parse_args()
    primary = args.database_url
    replica = primary + "_replica"
    env = {"QTRACK_DATABASE_URL": primary, "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    asyncio.run(recreate_database(primary))
    rows: list[list[object]] = []
    try:
        qtrack_cli(env, "db", "upgrade")
        qtrack_cli(env, "items", "register", "--type", "material", "--count", "3", "--as", "admin")
        asyncio.run(_clone_read_only(primary, replica))
        base = {
            "database_url": primary,
            "log_level": "WARNING",
            "jobs_in_process": "off",
            "api_rate_limit_per_minute": 10**9,  # one user, as fast as it goes
        }
        runs = [
            ("no replica", {}, False),
            ("replica", {"database_replica_url": replica}, False),
            ("replica, marks in Redis", {"database_replica_url": replica, "redis_url": args.redis},
             False),
            ("replica, user just wrote (Redis)",
             {"database_replica_url": replica, "redis_url": args.redis,
              "database_replica_sticky_s": 3600}, True),
        ]  # fmt: skip
        for name, extra, write_first in runs:
            settings = Settings(_env_file=None, **{**base, **extra})
            result = asyncio.run(_run(settings, args.requests, write_first))
            rows.append(
                [name, f"{result['cpu_ms']:.2f} ms", f"{result['wall_ms']:.2f} ms",
                 result["served"], f"{result['load']:.2f}"]
            )  # fmt: skip
    finally:
        asyncio.run(drop_database(replica))
        asyncio.run(drop_database(primary))
    print_table(["GET /api/v1/items/{code}", "CPU", "wall", "served by", "load avg"], rows)


if __name__ == "__main__":
    main()
