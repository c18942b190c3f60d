"""The tracking benchmark's transitions with webhooks on (`--webhooks`): the load again, with
an endpoint for every change and two `qtrack worker`s delivering them to a local receiver."""

import argparse
import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.common import cpu_seconds, qtrack_server, wait_for_count, worker_pids, wrk_lua
from benchmarks.receiver import delivery_workers, receiver, register_endpoints
from benchmarks.tracking_load import (
    LOOKUP_LUA,
    TRANSITION_LUA,
    Run,
    State,
    read_acks,
    read_script,
    timed_load,
    warm_up_writes,
)


@dataclass
class Hooked:
    """The transition load again with webhooks on, and the deliveries its changes made."""

    writes: Run
    sent: int  # the warm-up's included, as below
    acked: list[int]
    write_requests: int
    events: int  # status_changed events of that load and its warm-up
    made: int  # deliveries made for them
    succeeded: int
    received: int  # POSTs the receiver answered
    last_after_s: float  # from the end of the load to the last delivery's finish
    workers_ms: float  # CPU of the `qtrack worker`s per delivery, load and backlog


async def reset_webhooks(dsn: str) -> int:
    """Disable endpoints an earlier run left (with --reuse) and forget the `webhooks`
    consumer's position, so that it starts "now" again; the last event id."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE webhook_endpoint SET enabled = false")
        await conn.execute("DELETE FROM feed_consumer WHERE name = 'webhooks'")
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM event"))
    finally:
        await conn.close()


async def wait_for_consumer(dsn: str) -> None:
    """Wait until the `webhooks` consumer has taken its position: it starts after the latest
    change when it first runs, so a change made before that would never be fanned out."""
    await wait_for_count(
        dsn,
        "SELECT count(*) FROM feed_consumer WHERE name = 'webhooks'",
        at_least=1,
        what="the webhooks consumer's start",
    )


async def wait_for_deliveries(
    dsn: str, after_event: int, timeout_s: float = 120
) -> tuple[int, int, int, float | None]:
    """Wait until every status_changed event after `after_event` has its delivery and every
    delivery succeeded (or the timeout); the events, made, succeeded, and the epoch time
    the last one finished."""
    conn = await asyncpg.connect(dsn)
    try:
        events = int(
            await conn.fetchval(
                "SELECT count(*) FROM event WHERE type = 'status_changed' AND id > $1",
                after_event,
            )
        )
        deadline = time.monotonic() + timeout_s
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) AS made, count(*) FILTER (WHERE status = 'succeeded') AS ok,"
                " extract(epoch FROM max(finished_at)) AS last"
                " FROM webhook_delivery WHERE event_id > $1",
                after_event,
            )
            made, ok = int(row["made"]), int(row["ok"])
            if (made >= events and ok == made) or time.monotonic() > deadline:
                last = float(row["last"]) if row["last"] is not None else None
                return events, made, ok, last
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def run_hooked(
    args: argparse.Namespace,
    env: dict[str, str],
    dsn: str,
    *,
    token: str,
    state: State,
    first: int,
    acks: Path,
) -> Hooked:
    """The transition load with an endpoint for every change, two `qtrack worker`s fanning
    the changes out and delivering them to a local receiver, meanwhile and afterwards."""
    db = make_url(args.database_url).database or ""
    after_event = asyncio.run(reset_webhooks(dsn))
    worker_env = {**env, "QTRACK_WEBHOOKS_ALLOW_PRIVATE": "true", "QTRACK_JOBS_POLL_S": "0.2"}
    with receiver() as hook:
        asyncio.run(register_endpoints(args.database_url, hook.port, 1))
        with delivery_workers(worker_env) as workers:
            pids = [w.pid for w in workers]
            asyncio.run(wait_for_consumer(dsn))
            with qtrack_server(env, workers=2) as server:
                time.sleep(1.0)  # let the server's two workers finish starting
                # Warm up as run_loads does: the pools' backends must exist before the load
                # for their CPU to be accounted.
                lookup = read_script(LOOKUP_LUA, token, state)
                wrk_lua(server.base_url, lookup, connections=32, seconds=2)
                warm_acks = acks.with_name(f"warm-{acks.name}")
                warmed = warm_up_writes(server.base_url, token, first, warm_acks)
                script = TRANSITION_LUA.substitute(token=token, first=warmed.next_first, path=acks)
                cpu0 = sum(cpu_seconds(pid) for pid in pids)
                # PostgreSQL's share counts every backend of the database, so also what the
                # fan-out and the deliveries made it do during the load.
                writes = timed_load(
                    server.base_url,
                    script,
                    connections=32,
                    seconds=args.seconds,
                    workers=worker_pids(server.process.pid),
                    db=db,
                )
                ended = time.time()
                sent, acked = read_acks(acks)
                time.sleep(0.5)  # let requests still in flight when wrk stopped finish
            events, made, ok, last = asyncio.run(wait_for_deliveries(dsn, after_event))
            workers_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
    return Hooked(
        writes,
        warmed.sent + sent,
        warmed.acked + acked,
        warmed.requests + writes.load.requests,
        events,
        made,
        ok,
        hook.received,
        last_after_s=(last - ended) if last is not None else float("nan"),
        workers_ms=workers_cpu / max(made, 1) * 1000,
    )
