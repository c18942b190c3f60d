"""Durable jobs: enqueued with the change that causes them, run once, retried with backoff,
dead after their last attempt, retried by an admin, and claimed by one runner at a time."""

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.core.ratelimit import create_rate_limiter
from qtrack.core.state import AppState
from qtrack.jobs import service
from qtrack.jobs.models import DEAD, DONE, RUNNING, WAITING, Job
from qtrack.jobs.registry import JobContext, job, schedule
from qtrack.jobs.runner import Runner

Calls = list[tuple[int | None, int, dict[str, Any]]]


def recording(name: str, *, fail_times: int = 0, **options: Any) -> Calls:
    """Register a job that notes each call (job id, attempt, payload) and fails the first
    `fail_times` calls."""
    calls: Calls = []

    @job(name, **options)
    async def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append((ctx.job_id, ctx.attempt, payload))
        if len(calls) <= fail_times:
            raise RuntimeError(f"failure {len(calls)}")

    return calls


async def _job(db: Database, job_id: int) -> Job:
    async with db.session_scope("read") as session:
        return await service.get_job(session, job_id)


async def _count(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.mark.usefixtures("no_shipped_schedules")
async def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    calls = recording("test.notify")

    class Refused(Exception):
        pass

    async def rolled_back() -> None:
        async with db.session_scope() as session:
            await service.enqueue(session, "test.notify", {"n": 1})
            raise Refused

    with pytest.raises(Refused):
        await rolled_back()
    assert await _count(db) == 0
    assert await make_runner().run_until_idle() == 0
    async with db.session_scope() as session:
        job_id = await service.enqueue(session, "test.notify", {"n": 2})
    assert await make_runner().run_until_idle() == 1
    assert calls == [(job_id, 1, {"n": 2})]
    done = await _job(db, job_id)
    assert (done.status, done.attempts, done.locked_by) == (DONE, 1, None)
    assert await make_runner().run_until_idle() == 0  # done is done
    assert len(calls) == 1


@pytest.mark.usefixtures("no_shipped_schedules")
async def test_a_job_waits_for_its_run_at(db: Database, make_runner: Callable[..., Runner]) -> None:
    calls = recording("test.later")
    with FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) as clock:
        async with db.session_scope() as session:
            await service.enqueue(session, "test.later", run_at=clock.now + timedelta(minutes=5))
        assert await make_runner().run_until_idle() == 0
        clock.advance(minutes=5)
        assert await make_runner().run_until_idle() == 1
    assert len(calls) == 1


async def test_enqueue_refuses_a_job_nobody_registered(db: Database) -> None:
    async with db.session_scope() as session:
        with pytest.raises(QtrackError) as refused:
            await service.enqueue(session, "test.nobody", {})
    assert (refused.value.status_code, refused.value.code) == (404, "unknown_job")
    assert await _count(db) == 0


async def test_a_dedupe_key_gives_back_the_pending_twin(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    calls = recording("test.recount")
    async with db.session_scope() as session:
        first = await service.enqueue(session, "test.recount", {"v": 1}, dedupe_key="item-7")
        twin = await service.enqueue(session, "test.recount", {"v": 2}, dedupe_key="item-7")
        other = await service.enqueue(session, "test.recount", {"v": 3}, dedupe_key="item-8")
    assert twin == first != other
    await make_runner().run_until_idle()
    assert sorted(p["v"] for _, _, p in calls) == [1, 3]
    async with db.session_scope() as session:  # the first one is done: a new one may wait
        again = await service.enqueue(session, "test.recount", {"v": 4}, dedupe_key="item-7")
    assert again not in (first, other)


async def test_failures_back_off_then_die_and_an_admin_retries(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    calls = recording("test.flaky", fail_times=3, max_attempts=3)
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with FakeClock(start) as clock:
        async with db.session_scope() as session:
            job_id = await service.enqueue(session, "test.flaky", {"to": "x"})
        waits = []
        for attempt in (1, 2):
            assert await make_runner().run_until_idle() == 1
            failed = await _job(db, job_id)
            assert (failed.status, failed.attempts) == (WAITING, attempt)
            assert failed.last_error == f"RuntimeError: failure {attempt}"
            wait = (failed.run_at - clock.now).total_seconds()
            base = 10.0 * 2 ** (attempt - 1)  # QTRACK_JOBS_RETRY_BASE_S, doubling
            assert base * 0.5 <= wait <= base * 1.5, wait
            waits.append(wait)
            clock.advance(seconds=wait - 1)
            assert await make_runner().run_until_idle() == 0, "retried before its backoff"
            clock.advance(seconds=1)
        assert await make_runner().run_until_idle() == 1
        dead = await _job(db, job_id)
        assert (dead.status, dead.attempts, dead.last_error) == (DEAD, 3, "RuntimeError: failure 3")
        clock.advance(days=30)
        await make_runner().run_until_idle()  # (the daily jobs.prune runs: it keeps dead jobs)
        assert len(calls) == 3
        assert (await _job(db, job_id)).status == DEAD
        async with db.session_scope("read") as session:
            assert [j.id for j in await service.list_jobs(session, statuses=(DEAD,))] == [job_id]
            stats = await service.stats(session)
        assert (stats.dead, stats.ready, stats.retrying) == (1, 0, 0)

        async with db.session_scope() as session:
            await service.retry(session, job_id)
        assert await make_runner().run_until_idle() == 1
    assert [attempt for _, attempt, _ in calls] == [1, 2, 3, 1]
    done = await _job(db, job_id)
    assert (done.status, done.attempts) == (DONE, 1)


async def test_only_a_dead_job_can_be_retried(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    recording("test.fine")
    async with db.session_scope() as session:
        job_id = await service.enqueue(session, "test.fine")
    for expected in ("job_not_dead", "job_not_found"):
        async with db.session_scope() as session:
            with pytest.raises(QtrackError) as refused:
                await service.retry(session, job_id if expected == "job_not_dead" else 999)
        assert refused.value.code == expected


async def test_a_job_past_its_timeout_fails_and_is_retried(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    @job("test.slow", timeout=0.05, max_attempts=2)
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(5)

    async with db.session_scope() as session:
        job_id = await service.enqueue(session, "test.slow")
    await make_runner().run_until_idle()
    failed = await _job(db, job_id)
    assert (failed.status, failed.last_error) == (WAITING, "timed out after 0.05 s")


async def test_an_expired_lease_runs_the_job_again_and_the_late_runner_is_ignored(
    db: Database, make_runner: Callable[..., Runner]
) -> None:
    """A runner that took a job and vanished: its lease (timeout + grace) runs out, another
    runner takes the job, and if the first comes back its outcome is ignored."""
    calls = recording("test.lease", timeout=5, max_attempts=2)
    with FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) as clock:
        async with db.session_scope() as session:
            job_id = await service.enqueue(session, "test.lease")
        vanished, other = make_runner(), make_runner()
        [taken] = await vanished.claim(1)
        held = await _job(db, job_id)
        assert (held.status, held.locked_by) == (RUNNING, vanished.id)
        assert held.locked_until == clock.now + timedelta(seconds=5 + 1)  # timeout + grace
        clock.advance(seconds=6)
        assert await other.claim(1) == [], "taken while the lease holds"
        clock.advance(seconds=1)
        [again] = await other.claim(1)
        assert (again.id, again.attempt) == (job_id, 2)
        await vanished.execute(taken)  # the vanished runner finishes late: ignored
        assert (await _job(db, job_id)).locked_by == other.id
        await other.execute(again)
        done = await _job(db, job_id)
        assert (done.status, done.attempts) == (DONE, 2)

        # A job whose last allowed attempt never finished is dead, not run a third time.
        async with db.session_scope() as session:
            job_id = await service.enqueue(session, "test.lease")
        for _ in range(2):
            assert len(await make_runner().claim(1)) == 1
            clock.advance(seconds=7)
        assert await make_runner().claim(1) == []
        dead = await _job(db, job_id)
        assert dead.status == DEAD
        assert dead.last_error == "the last attempt never finished (lease expired)"
    assert len(calls) == 2


@pytest.mark.postgres_only
async def test_two_runners_never_run_one_job_twice_at_once(
    state: AppState, make_runner: Callable[..., Runner]
) -> None:
    """Two runners, each with its own connection pool, race for 40 jobs."""
    running: Counter[int] = Counter()
    runs: Counter[int] = Counter()
    overlaps: list[int] = []

    @job("test.race")
    async def race(ctx: JobContext, payload: dict[str, Any]) -> None:
        assert ctx.job_id is not None
        running[ctx.job_id] += 1
        if running[ctx.job_id] > 1:
            overlaps.append(ctx.job_id)
        runs[ctx.job_id] += 1
        await asyncio.sleep(random.uniform(0, 0.02))
        running[ctx.job_id] -= 1

    async with state.db.session_scope() as session:
        ids = [await service.enqueue(session, "test.race", {"n": n}) for n in range(40)]
    second_db = Database(state.settings)
    try:
        second = AppState(state.settings, second_db, None, None, create_rate_limiter(None))
        one, two = make_runner(concurrency=4), make_runner(concurrency=4, on=second)
        started = await asyncio.gather(one.run_until_idle(), two.run_until_idle())
    finally:
        await second_db.dispose()
    assert overlaps == []
    assert runs == Counter(dict.fromkeys(ids, 1))
    assert min(started) > 0, f"one runner got no job: {started}"
    async with state.db.session_scope("read") as session:
        statuses = (await session.scalars(select(Job.status).where(Job.id.in_(ids)))).all()
        # A schedule that fell due meanwhile (reports.daily runs every five minutes) is
        # claimed in the same rounds; every claim is counted once.
        scheduled = await session.scalar(
            select(func.count()).select_from(Job).where(Job.id.not_in(ids), Job.attempts > 0)
        )
    assert sum(started) == 40 + (scheduled or 0)
    assert set(statuses) == {DONE}


@pytest.mark.usefixtures("no_shipped_schedules")
async def test_a_schedule_runs_once_per_due_time_however_many_runners(
    state: AppState, make_runner: Callable[..., Runner]
) -> None:
    calls = recording("test.tick")
    schedule("test.tick", cron="*/5 * * * *", payload={"what": "tick"})
    db = state.db
    second_db = Database(state.settings)
    second = AppState(state.settings, second_db, None, None, create_rate_limiter(None))
    try:
        with FakeClock(datetime(2026, 6, 1, 10, 2, tzinfo=UTC)) as clock:
            runners = [make_runner(), make_runner(on=second), make_runner()]
            # First sight: the schedule starts with its next due time (10:05), not 10:00.
            await asyncio.gather(*(r.scheduler.tick() for r in runners))
            assert await _count(db) == 0
            for minute, expected in ((5, 1), (7, 1), (10, 2), (31, 3)):
                clock.now = datetime(2026, 6, 1, 10, minute, 30, tzinfo=UTC)
                for _ in range(2):
                    await asyncio.gather(*(r.scheduler.tick() for r in runners))
                    await asyncio.gather(*(make_runner().scheduler.tick() for _ in range(2)))
                assert await _count(db) == expected, f"at 10:{minute:02}"
            await runners[0].run_until_idle()
    finally:
        await second_db.dispose()
    due = sorted(p["due_at"] for _, _, p in calls)
    # 10:15-10:30 were missed (nothing ran): they run once, as the latest, 10:30.
    assert due == [
        "2026-06-01T10:05:00+00:00",
        "2026-06-01T10:10:00+00:00",
        "2026-06-01T10:30:00+00:00",
    ]
    assert {p["what"] for _, _, p in calls} == {"tick"}


async def test_the_queue_figures(db: Database, make_runner: Callable[..., Runner]) -> None:
    recording("test.count", fail_times=1)
    with FakeClock(utcnow()) as clock:
        async with db.session_scope() as session:
            await service.enqueue(session, "test.count")
            await service.enqueue(session, "test.count", run_at=clock.now + timedelta(hours=1))
        clock.advance(seconds=42)
        async with db.session_scope("read") as session:
            stats = await service.stats(session)
        assert (stats.ready, stats.delayed, stats.running, stats.dead) == (1, 1, 0, 0)
        assert stats.oldest_ready_s == pytest.approx(42, abs=0.01)
        await make_runner().run_until_idle()
        async with db.session_scope("read") as session:
            stats = await service.stats(session)
        assert (stats.ready, stats.delayed, stats.retrying) == (0, 2, 1)
