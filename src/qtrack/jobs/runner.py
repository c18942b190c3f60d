"""The runner: claims due jobs, runs their handlers, records the outcome, and keeps going.

One runner per process: `qtrack worker` runs one, and `qtrack serve` runs one in-process
(see `QTRACK_JOBS_IN_PROCESS`). Each round it says it is alive, enqueues due schedules, calls
the pollers (the change feed's consumers), and claims as many due jobs as it has free slots.

A claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`:
on PostgreSQL runners racing for the same rows skip each other's; on SQLite writers take
turns. It sets the job's lease (`locked_until`: its timeout plus a grace period). A job
whose lease has expired is due again, so a job whose runner was killed runs again.
"""

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import Table, and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from qtrack.core.clock import utcnow
from qtrack.core.state import AppState
from qtrack.jobs import registry, service
from qtrack.jobs.models import DEAD, DONE, RUNNING, WAITING, Job, JobRunner
from qtrack.jobs.registry import JobContext
from qtrack.jobs.scheduler import Scheduler

log = structlog.get_logger("qtrack.jobs")

Kind = Literal["worker", "in-process"]
HEARTBEAT_S = 10.0
DEFAULT_TIMEOUT_S = 60.0  # the lease of a job no handler is registered for
DEFAULT_MAX_ATTEMPTS = 5
_job: Table = Job.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Claimed:
    """A job this runner holds the lease of."""

    id: int
    name: str
    payload: dict[str, Any]
    attempt: int


def backoff_s(attempt: int, base: float, cap: float) -> float:
    """Wait before the next attempt: doubling from `base`, ±50 % jitter, at most `cap`."""
    delay: float = min(cap, base * 2.0 ** min(attempt - 1, 32))
    # Jitter spreads the retries of many jobs that failed together (a webhook target down).
    return min(cap, delay * random.uniform(0.5, 1.5))  # noqa: S311 (not for security)


def _due(now: Any) -> Any:
    return or_(
        and_(_job.c.status == WAITING, _job.c.run_at <= now),
        and_(_job.c.status == RUNNING, _job.c.locked_until < now),
    )


class Runner:
    """Runs jobs, schedules and pollers until stopped."""

    def __init__(self, state: AppState, *, kind: Kind, concurrency: int) -> None:
        self.state = state
        self.kind = kind
        self.concurrency = concurrency
        self.id = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
        self.active = True
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (job name, outcome) -> runs
        self.scheduler = Scheduler(state)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._last_beat = -HEARTBEAT_S
        self._round_lock = asyncio.Lock()
        self._registered = False

    @property
    def busy(self) -> int:
        """Jobs running now."""
        return len(self._tasks)

    async def start(self) -> None:
        """Say we are alive and start the loop in the background."""
        await self._beat_safely()
        self._loop = asyncio.create_task(self._run(), name=f"qtrack-jobs-{self.kind}")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop claiming, let running jobs finish for up to `grace_s` seconds, hand back the
        rest (they are cancelled and run again elsewhere) and say goodbye."""
        self._stopping.set()
        self._wake.set()
        if self._loop is not None:
            await self._loop
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._registered:
            try:
                async with self.state.db.session_scope() as session:
                    await service.release_runner(session, self.id)
            except Exception as exc:  # the database may be gone; the leases expire anyway
                log.warning("jobs_release_failed", error=repr(exc))

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self.round()
                failures = 0
            except Exception as exc:  # a database outage must not end the loop
                failures += 1
                log.warning("jobs_round_failed", error=repr(exc), failures=failures)
            pause = self.state.settings.jobs_poll_s * min(2 ** max(failures - 1, 0), 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()

    async def round(self) -> int:
        """One pass: heartbeat when due, schedules, pollers, then claim and start jobs."""
        # One round at a time, and never beside a heartbeat: a runner that has just been told
        # to step aside must not finish a round it began while it was still active.
        async with self._round_lock:
            return await self._round()

    async def _round(self) -> int:
        if time.monotonic() - self._last_beat >= HEARTBEAT_S:
            await self._heartbeat()
        if not self.active or self._stopping.is_set():
            return 0
        await self.scheduler.tick()
        await self.run_pollers()
        # The pollers (feed consumers) wait on the database: a heartbeat meanwhile may have
        # made this runner step aside for a worker, and it must then claim nothing.
        if not self.active or self._stopping.is_set():
            return 0
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        claimed = await self.claim(free)
        for job in claimed:
            task = asyncio.create_task(self.execute(job), name=f"qtrack-job-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()  # a free slot: claim again without waiting for the poll

    async def run_until_idle(self, *, max_rounds: int = 1000) -> int:
        """Run rounds until nothing is due and nothing runs (tests, `qtrack jobs run`);
        returns how many jobs were started."""
        started = 0
        for _ in range(max_rounds):
            claimed = await self.round()
            started += claimed
            if self._tasks:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            elif not claimed:
                return started
        return started

    async def run_pollers(self) -> None:
        """Call every registered poller once; one failing does not stop the others."""
        for name, poll in registry.pollers():
            try:
                await poll(JobContext(self.state, name))
            except Exception as exc:
                log.warning("jobs_poller_failed", poller=name, error=repr(exc))

    async def heartbeat(self) -> None:
        """Say this runner is alive; an in-process runner in `auto` mode steps aside while a
        `qtrack worker` is alive, and takes over when none is."""
        async with self._round_lock:
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        now = utcnow()
        mode = self.state.settings.jobs_in_process
        async with self.state.db.session_scope() as session:
            if self.kind == "in-process" and mode == "auto":
                since = now - timedelta(seconds=service.RUNNER_ALIVE_S)
                worker = await session.scalar(
                    select(JobRunner.id)
                    .where(JobRunner.kind == "worker", JobRunner.seen_at > since)
                    .limit(1)
                )
                if self.active == (worker is not None):
                    log.info("jobs_in_process", active=worker is None, runner=self.id)
                self.active = worker is None
            dialect = session.get_bind().dialect.name
            upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(JobRunner)
            values = {
                "id": self.id,
                "kind": self.kind,
                "host": socket.gethostname()[:200],
                "pid": os.getpid(),
                "active": self.active,
                "started_at": now,
                "seen_at": now,
            }
            await session.execute(
                upsert.values(**values).on_conflict_do_update(
                    index_elements=["id"], set_={"seen_at": now, "active": self.active}
                )
            )
        self._registered = True
        self._last_beat = time.monotonic()

    async def _beat_safely(self) -> None:
        try:
            await self.heartbeat()
        except Exception as exc:
            log.warning("jobs_heartbeat_failed", error=repr(exc))

    async def claim(self, limit: int, *, job_id: int | None = None) -> list[Claimed]:
        """Take up to `limit` due jobs (or the one job `job_id` if it is waiting), setting
        their lease; on SQLite only after a read found one, since the claim takes the lock."""
        now = utcnow()
        if job_id is None:
            wanted = _due(now)
            async with self.state.db.session_scope("read") as session:
                if await session.scalar(select(_job.c.id).where(wanted).limit(1)) is None:
                    return []
        else:
            wanted = and_(_job.c.id == job_id, _job.c.status == WAITING)
        grace = timedelta(seconds=self.state.settings.jobs_lease_grace_s)
        leases = {spec.name: now + timedelta(seconds=spec.timeout_s) + grace
                  for spec in registry.jobs()}  # fmt: skip
        default_lease = now + timedelta(seconds=DEFAULT_TIMEOUT_S) + grace
        pick = (
            select(_job.c.id)
            .where(wanted)
            .order_by(_job.c.run_at, _job.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_job)
            .where(_job.c.id.in_(pick.scalar_subquery()))
            .values(
                status=RUNNING,
                attempts=_job.c.attempts + 1,
                locked_by=self.id,
                locked_until=case(leases, value=_job.c.name, else_=default_lease)
                if leases
                else default_lease,
                started_at=now,
            )
            .returning(_job.c.id, _job.c.name, _job.c.payload, _job.c.attempts)
        )
        async with self.state.db.session_scope() as session:
            rows = (await session.execute(stmt)).all()
        claimed = [Claimed(r.id, r.name, r.payload or {}, r.attempts) for r in rows]
        runnable = []
        for job in claimed:
            spec = registry.find_job(job.name)
            limit_attempts = spec.max_attempts if spec else DEFAULT_MAX_ATTEMPTS
            if job.attempt > limit_attempts:  # its last attempt's lease ran out: it died
                await self._record(job, DEAD, "the last attempt never finished (lease expired)")
                continue
            runnable.append(job)
        return runnable

    async def execute(self, job: Claimed) -> None:
        """Run one claimed job's handler within its timeout and record how it went."""
        started = time.monotonic()
        log.info("job_started", job_id=job.id, job=job.name, attempt=job.attempt)
        ctx = JobContext(self.state, job.name, job.id, job.attempt)
        spec = None
        try:
            spec = registry.get_job(job.name)
            async with asyncio.timeout(spec.timeout_s):
                await spec.handler(ctx, job.payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError) and spec is not None:
                error = f"timed out after {spec.timeout_s:g} s"
            max_attempts = spec.max_attempts if spec else DEFAULT_MAX_ATTEMPTS
            outcome = DEAD if job.attempt >= max_attempts else WAITING
            log.warning(
                "job_failed", job_id=job.id, job=job.name, attempt=job.attempt,
                error=error, dead=outcome == DEAD,
            )  # fmt: skip
            await self._record(job, outcome, error[:2000])
            return
        log.info(
            "job_done", job_id=job.id, job=job.name, seconds=round(time.monotonic() - started, 3)
        )
        await self._record(job, DONE, None)

    async def _record(self, job: Claimed, outcome: str, error: str | None) -> None:
        """Write a job's outcome, if this runner still holds its lease."""
        now = utcnow()
        values: dict[str, Any] = {"status": outcome, "locked_by": None, "locked_until": None}
        if outcome == WAITING:
            settings = self.state.settings
            delay = backoff_s(job.attempt, settings.jobs_retry_base_s, settings.jobs_retry_max_s)
            values.update(run_at=now + timedelta(seconds=delay), last_error=error)
        else:
            values.update(finished_at=now, last_error=error)
        stmt = (
            update(_job)
            .where(_job.c.id == job.id, _job.c.locked_by == self.id, _job.c.attempts == job.attempt)
            .values(**values)
        )
        counted = "retry" if outcome == WAITING else outcome
        self.outcomes[(job.name, counted)] += 1
        if self.state.metrics is not None:  # summed over every runner of the host
            self.state.metrics.job_runs.labels(job.name, counted).inc()
        try:
            async with self.state.db.session_scope() as session:
                result = await session.execute(stmt)
        except Exception as exc:  # left running: its lease expires and it runs again
            log.warning("job_record_failed", job_id=job.id, error=repr(exc))
            return
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("job_lease_lost", job_id=job.id, job=job.name, attempt=job.attempt)
