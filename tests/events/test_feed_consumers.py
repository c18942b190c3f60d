"""Durable feed consumers: each change handed over once, in order, with the consumer's writes
and its new position committed together; a failure rolls both back and retries later."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.db import Database
from qtrack.core.ratelimit import create_rate_limiter
from qtrack.core.state import AppState
from qtrack.events import feed
from qtrack.events.models import FeedConsumer
from qtrack.jobs import registry
from qtrack.jobs import service as jobs_service
from qtrack.jobs.models import Job
from qtrack.jobs.registry import JobContext, job
from qtrack.jobs.runner import Runner
from tests.events.test_feed import wait_for_changes
from tests.factories.accounts import AppLogin


@pytest.fixture(autouse=True)
def isolated_registry() -> Iterator[None]:
    """Only this file's consumer runs (not the domains' own, such as webhooks), and no
    shipped schedule falls due mid-test to add a job of its own to what the tests count."""
    saved = registry.snapshot()
    registry.restore(registry.Snapshot(saved.jobs, {}, saved.pollers))
    others = feed.consumers()
    for spec in others:
        feed.unregister(spec.name)
    yield
    registry.restore(saved)
    feed.unregister("test.audit")
    for spec in others:
        feed.consumer(spec.name, start=spec.start, batch=spec.batch)(spec.handler)


@pytest.fixture
def state(app: FastAPI) -> AppState:
    value: AppState = app.state.qtrack
    return value


async def _items(client: httpx.AsyncClient, who: AppLogin, count: int) -> None:
    for _ in range(count):
        response = await client.post(
            "/api/v1/items", json={"type": "material"}, headers=who.headers
        )
        assert response.status_code == 201, response.text


class Audit:
    """A consumer that turns each change into a job, and fails when told to."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.fail = False

        @job("test.audit.note")
        async def note(ctx: JobContext, payload: dict[str, Any]) -> None:
            pass

    async def __call__(
        self, ctx: JobContext, session: AsyncSession, changes: list[feed.Change]
    ) -> None:
        for change in changes:
            await jobs_service.enqueue(session, "test.audit.note", {"event": change.event_id})
        if self.fail:
            raise RuntimeError("the audit log is full")
        self.seen.extend(c.event_id for c in changes)


async def _position(db: Database) -> tuple[int, int, int, int, str | None]:
    async with db.session_scope("read") as session:
        row = await session.get(FeedConsumer, "test.audit")
        assert row is not None
        return row.txid, row.event_id, row.handled, row.failures, row.last_error


async def _jobs(db: Database) -> list[int]:
    async with db.session_scope("read") as session:
        payloads = (
            await session.scalars(
                select(Job.payload).where(Job.name == "test.audit.note").order_by(Job.id)
            )
        ).all()
    return [p["event"] for p in payloads]


async def test_a_consumer_gets_each_change_once_in_order_with_its_writes(
    client: httpx.AsyncClient, admin: AppLogin, state: AppState
) -> None:
    audit = Audit()
    feed.consumer("test.audit", start="beginning", batch=2)(audit)
    await _items(client, admin, 5)
    changes, _ = await wait_for_changes(state.db, None, 5)
    expected = [c.event_id for c in changes]
    ctx = JobContext(state, "events.feed")
    assert await feed.run_consumers(ctx) == 5
    assert audit.seen == expected
    assert await _jobs(state.db) == expected  # written in the same transactions
    assert (await _position(state.db))[2:] == (5, 0, None)
    assert await feed.run_consumers(ctx) == 0
    await _items(client, admin, 1)
    await wait_for_changes(state.db, changes[-1].position, 1)
    assert await feed.run_consumers(ctx) == 1
    assert len(audit.seen) == 6
    assert audit.seen[:5] == expected


async def test_a_failing_consumer_keeps_its_position_and_writes_nothing_then_retries(
    client: httpx.AsyncClient, admin: AppLogin, state: AppState
) -> None:
    audit = Audit()
    feed.consumer("test.audit", start="beginning")(audit)
    await _items(client, admin, 2)
    await wait_for_changes(state.db, None, 2)
    ctx = JobContext(state, "events.feed")
    audit.fail = True
    with FakeClock(utcnow()) as clock:
        assert await feed.run_consumers(ctx) == 0
        txid, event_id, handled, failures, error = await _position(state.db)
        assert (txid, event_id, handled, failures) == (0, 0, 0, 1)
        assert error == "RuntimeError: the audit log is full"
        assert await _jobs(state.db) == [], "the failed batch's jobs were rolled back"
        audit.fail = False
        assert await feed.run_consumers(ctx) == 0, "retried before its backoff"
        clock.advance(seconds=16)  # the first retry waits 5-15 s
        assert await feed.run_consumers(ctx) == 2
    assert (await _position(state.db))[2:] == (2, 0, None)
    assert await _jobs(state.db) == audit.seen


async def test_a_new_consumer_starting_now_skips_the_history(
    client: httpx.AsyncClient, admin: AppLogin, state: AppState
) -> None:
    await _items(client, admin, 3)
    changes, _ = await wait_for_changes(state.db, None, 3)
    audit = Audit()
    feed.consumer("test.audit")(audit)  # start="now"
    ctx = JobContext(state, "events.feed")
    assert await feed.run_consumers(ctx) == 0
    await _items(client, admin, 1)
    await wait_for_changes(state.db, changes[-1].position, 1)
    assert await feed.run_consumers(ctx) == 1
    assert audit.seen[0] > changes[-1].event_id


async def test_the_runner_runs_consumers_as_a_poller(
    client: httpx.AsyncClient, admin: AppLogin, state: AppState
) -> None:
    audit = Audit()
    feed.consumer("test.audit", start="beginning")(audit)
    await _items(client, admin, 2)
    await wait_for_changes(state.db, None, 2)
    runner = Runner(state, kind="worker", concurrency=2)
    await runner.run_until_idle()
    assert len(audit.seen) == 2
    async with state.db.session_scope("read") as session:
        done = await session.scalar(
            select(func.count()).select_from(Job).where(Job.status == "done")
        )
    assert done == 2, "the jobs the consumer enqueued ran too"


@pytest.mark.postgres_only
async def test_two_runners_never_hand_a_change_to_a_consumer_twice(
    client: httpx.AsyncClient, admin: AppLogin, state: AppState
) -> None:
    audit = Audit()
    feed.consumer("test.audit", start="beginning", batch=3)(audit)
    await _items(client, admin, 12)
    await wait_for_changes(state.db, None, 12)
    second_db = Database(state.settings)
    try:
        other = AppState(state.settings, second_db, None, None, create_rate_limiter(None))
        for _ in range(4):
            await asyncio.gather(
                feed.run_consumers(JobContext(state, "a"), max_batches=1),
                feed.run_consumers(JobContext(other, "b"), max_batches=1),
            )
    finally:
        await second_db.dispose()
    assert len(audit.seen) == len(set(audit.seen)) == 12
    assert audit.seen == sorted(audit.seen)
    assert await _jobs(state.db) == audit.seen
    assert (await _position(state.db))[2] == 12


async def test_the_admin_sees_consumers_positions(state: AppState) -> None:
    feed.consumer("test.audit", start="beginning")(Audit())
    await feed.run_consumers(JobContext(state, "events.feed"))
    async with state.db.session_scope("read") as session:
        rows = await feed.list_consumers(session)
    assert [(r.name, r.handled) for r in rows] == [("test.audit", 0)]
    assert rows[0].updated_at > utcnow() - timedelta(minutes=1)
