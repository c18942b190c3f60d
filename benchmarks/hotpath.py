"""CPU per request on the scan paths, in process: no HTTP server and no client to share it.

    python -m benchmarks.hotpath [--requests 2000] [--rounds 3] [--database-url URL]
                                 [--redis-url URL] [--only lookup,scan,transition,move]
                                 [--reference] [--in-flight 16] [--instructions]
                                 [--profile FILE]

Runs against a database `benchmarks.tracking --keep` left (two million items by default). It
builds the app with `create_app`, runs its lifespan, and calls the ASGI app directly with 16
requests in flight, as 16 scanners over keep-alive connections would; an API token of the
tracking benchmark's operator is created with `qtrack tokens create`. For each kind of
request it reports this process's CPU (`time.process_time`) and the PostgreSQL backends' CPU
(from /proc) per request, median of the rounds, after 50 warm-up requests. Transitions take
the next material lots that are still `received`, as the tracking benchmark does; moves
alternate each item between two racks; dispenses (`--only dispense`, not run by default) take
a thousandth of a unit from the same supplies in turn. Every answer must be a 200.

`--reference` measures `benchmarks/reference.py` instead, the same way (lookups, scans and
transitions; not moves, which it does not serve): what the least work these requests need
costs in process, without the HTTP server that both pay for in `benchmarks.tracking`, so the
gap left is qtrack's own. Its transitions write as qtrack's do (below).

`--instructions` runs the same again under valgrind's callgrind and adds the user-space
instructions per request to the table (`benchmarks/instructions.py`), with one request in
flight unless `--in-flight` says otherwise: a figure that does not move with the machine's
load, for changes of a few percent. Use a few hundred requests and one round; it runs about 50
times slower.

`--profile FILE` runs the measured requests (not the warm-up) under cProfile, writes the
statistics to FILE (for `python -m pstats` or snakeviz) and prints the 25 functions that
took most of their own time. cProfile slows each Python call by a similar amount, so it
overstates code made of many small calls: it says where to look, and `--instructions` says
what a change bought.

Lookups and scans only read. Transitions and moves write, and a later `tracking --reuse` on
the same database checks that every item with a second event got it from its own run: after
writing here, seed again (or give this script a database of its own) before `--reuse`.
"""

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import orjson
import uvloop

from benchmarks import instructions, reference
from benchmarks.common import cpu_seconds, load_average, postgres_backends
from benchmarks.seed import asyncpg_dsn
from benchmarks.tracking import DEFAULT_REDIS, DEFAULT_URL, OPERATOR, qtrack_cli
from qtrack import app as qtrack_app
from qtrack.config import Settings

IN_FLIGHT = 16
WARM_UP = 50


@dataclass
class Call:
    method: str
    path: str
    body: bytes = b""


async def asgi_call(app: object, call: Call, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the ASGI app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": call.path,
        "raw_path": call.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(call.body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, object]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": call.body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    await app(scope, receive, send)  # type: ignore[operator]
    return status


async def run_calls(
    app: object, calls: list[Call], headers: list[tuple[bytes, bytes]], in_flight: int
) -> None:
    queue = iter(calls)
    failures: list[str] = []

    async def worker() -> None:
        for call in queue:
            status = await asgi_call(app, call, headers)
            if status != 200:
                failures.append(f"{call.method} {call.path}: {status}")

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    if failures:
        raise SystemExit(f"{len(failures)} failed, e.g. {failures[:3]}")


@asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[None]:
    """The ASGI app started and, on leaving, stopped, through the lifespan protocol."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))  # type: ignore[operator]
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def backends_cpu(database: str) -> float:
    total = 0.0
    for pid in postgres_backends(database):
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


async def plan(dsn: str, n: int) -> dict[str, Callable[[int], list[Call]]]:
    conn = await asyncpg.connect(dsn)
    try:
        sample = "SELECT code FROM item TABLESAMPLE SYSTEM (1) LIMIT 5000"
        codes = [r["code"] for r in await conn.fetch(sample)]
        lots = [
            r["code"]
            for r in await conn.fetch(
                "SELECT code FROM item WHERE code LIKE 'MAT-%' AND status = 'received'"
                " AND NOT archived ORDER BY id DESC LIMIT $1",
                n,
            )
        ]
        racks = [
            r["code"]
            for r in await conn.fetch("SELECT code FROM location ORDER BY id DESC LIMIT 2")
        ]
        supplies = "SELECT code FROM item WHERE code LIKE 'SUP-%' LIMIT 200"
        movers = [r["code"] for r in await conn.fetch(supplies)]
    finally:
        await conn.close()
    rng = random.Random(7)
    lot_iter = iter(lots)
    move_round = [0]

    def lookups(k: int) -> list[Call]:
        return [Call("GET", f"/api/v1/items/{rng.choice(codes)}") for _ in range(k)]

    def scans(k: int) -> list[Call]:
        return [
            Call("POST", "/api/v1/scan", orjson.dumps({"data": rng.choice(codes)}))
            for _ in range(k)
        ]

    def transitions(k: int) -> list[Call]:
        body = orjson.dumps({"transition": "quarantine"})
        return [Call("POST", f"/api/v1/items/{next(lot_iter)}/transitions", body) for _ in range(k)]

    def moves(k: int) -> list[Call]:
        out = []
        for i in range(k):
            # Each item goes to the other rack than last time; one item is never in flight twice.
            code = movers[i % len(movers)]
            rack = racks[(move_round[0] + i // len(movers)) % 2]
            out.append(Call("POST", f"/api/v1/items/{code}/move", orjson.dumps({"location": rack})))
        move_round[0] += (k + len(movers) - 1) // len(movers)
        return out

    def dispenses(k: int) -> list[Call]:
        # A thousandth of a unit from each supply in turn (each holds hundreds).
        body = orjson.dumps({"kind": "dispense", "amount": "0.001"})
        return [
            Call("POST", f"/api/v1/items/{movers[i % len(movers)]}/quantity", body)
            for i in range(k)
        ]

    return {
        "lookup": lookups,
        "scan": scans,
        "transition": transitions,
        "move": moves,
        "dispense": dispenses,
    }


async def main(args: argparse.Namespace) -> None:
    env = {
        "QTRACK_DATABASE_URL": args.database_url,
        "QTRACK_API_RATE_LIMIT_PER_MINUTE": str(10**9),
        "QTRACK_DATABASE_POOL_SIZE": "20",
        "QTRACK_JOBS_IN_PROCESS": "off",
        "QTRACK_LOG_LEVEL": "WARNING",
        "QTRACK_SLOW_QUERY_MS": "0",
    }
    if args.redis_url:
        env["QTRACK_REDIS_URL"] = args.redis_url
    name = f"hotpath-{time.time_ns()}"
    out = qtrack_cli(env, "tokens", "create", "--name", name, "--user", OPERATOR)
    token = next(line for line in out.splitlines() if line.startswith("qtk_"))
    os.environ.update(env)
    kinds = args.only.split(",")
    dsn = asyncpg_dsn(args.database_url)
    app: object
    if args.reference:
        if set(kinds) - {"lookup", "scan", "transition"}:
            raise SystemExit("--reference measures lookups, scans and transitions only")
        app = reference.Reference(dsn)
    else:
        if args.plain:
            # Every route through FastAPI, as before core/fastroutes.py: for comparison.
            qtrack_app.HOT_ROUTES = ()
        app = qtrack_app.create_app(Settings())
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"user-agent", b"hotpath"),
    ]
    database = dsn.rsplit("/", 1)[1]
    total_writes = (args.requests + WARM_UP) * args.rounds
    builders = await plan(dsn, total_writes)
    results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in kinds}
    in_flight = args.in_flight or (1 if args.instructions else IN_FLIGHT)
    counter = instructions.Counter() if args.instructions else None
    profiler = cProfile.Profile() if args.profile else None
    print(f"load average before: {load_average()}; {in_flight} in flight")
    async with lifespan(app):
        for _ in range(args.rounds):
            for kind in kinds:
                await run_calls(app, builders[kind](WARM_UP), headers, in_flight)
                calls = builders[kind](args.requests)
                if counter is not None:
                    counter.start()
                if profiler is not None:
                    profiler.enable()
                pg0, cpu0 = backends_cpu(database), time.process_time()
                await run_calls(app, calls, headers, in_flight)
                cpu1, pg1 = time.process_time(), backends_cpu(database)
                if profiler is not None:
                    profiler.disable()
                counted = counter.stop() if counter is not None else 0
                results[kind].append(
                    (
                        (cpu1 - cpu0) * 1000 / len(calls),
                        (pg1 - pg0) * 1000 / len(calls),
                        counted // len(calls),
                    )
                )
    print(f"load average after: {load_average()}")
    columns = ["request", "server CPU ms/request (rounds)", "median", "PostgreSQL CPU ms/request"]
    if counter is not None:
        columns.append("instructions/request (median)")
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for kind, runs in results.items():
        server = [r[0] for r in runs]
        cells = [
            kind,
            " / ".join(f"{s:.3f}" for s in server),
            f"{statistics.median(server):.3f}",
            f"{statistics.median(r[1] for r in runs):.3f}",
        ]
        if counter is not None:
            cells.append(f"{statistics.median(r[2] for r in runs):,.0f}")
        print("| " + " | ".join(cells) + " |")
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--only", default="lookup,scan,transition,move")
    parser.add_argument("--plain", action="store_true", help="without core/fastroutes.py")
    parser.add_argument("--reference", action="store_true", help="benchmarks/reference.py instead")
    parser.add_argument("--in-flight", type=int, help=f"requests in flight (default {IN_FLIGHT})")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions too (valgrind)"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the measured requests")
    arguments = parser.parse_args()
    if arguments.instructions and not instructions.counting():
        instructions.reexec()
    # On uvloop, as `qtrack serve` runs (uvicorn picks it when installed).
    uvloop.run(main(arguments))
