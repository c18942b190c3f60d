"""Jobs as use cases: enqueue in the caller's transaction, list, retry, count."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, case, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import utcnow
from qtrack.jobs import registry
from qtrack.jobs.errors import JobNotDead, JobNotFound, TwinPending
from qtrack.jobs.models import DEAD, DONE, PENDING, RUNNING, WAITING, Job, JobRunner

_job: Table = Job.__table__  # type: ignore[assignment]
_INSERT = insert(_job).returning(_job.c.id)
# A runner that has not said it is alive for this long is taken for gone.
RUNNER_ALIVE_S = 30.0


# The partial index's predicate as literal SQL: with bound parameters in it PostgreSQL can
# infer the index only while it plans the prepared statement with their values; after five
# runs on one connection it switches to a generic plan and refuses the ON CONFLICT ("no
# unique or exclusion constraint matching").
_TWIN_PREDICATE = text(
    "dedupe_key IS NOT NULL AND status IN (" + ", ".join(f"'{s}'" for s in PENDING) + ")"
)


def _insert_twin_free(dialect: str) -> Any:
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        dialect_insert(_job)
        .on_conflict_do_nothing(index_elements=["name", "dedupe_key"], index_where=_TWIN_PREDICATE)
        .returning(_job.c.id)
    )


_INSERT_TWIN_FREE = {name: _insert_twin_free(name) for name in ("postgresql", "sqlite")}


async def enqueue(
    session: AsyncSession,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Add a job to the caller's transaction (it runs only if that commits); returns its id.

    With a `dedupe_key`, a job of the same name and key that is still waiting or running is
    not added again: its id is returned instead.
    """
    registry.get_job(name)
    now = utcnow()
    values = {
        "name": name,
        "payload": payload or {},
        "status": WAITING,
        "attempts": 0,
        "run_at": run_at or now,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    if dedupe_key is None:
        return int((await session.execute(_INSERT, values)).scalar_one())
    stmt = _INSERT_TWIN_FREE[session.get_bind().dialect.name]
    twin = select(Job.id).where(
        Job.name == name, Job.dedupe_key == dedupe_key, Job.status.in_(PENDING)
    )
    while True:
        job_id = (await session.execute(stmt, values)).scalar_one_or_none()
        if job_id is None:  # a twin is pending: it is the job (unless it just finished)
            job_id = await session.scalar(twin)
        if job_id is not None:
            return int(job_id)


async def get_job(session: AsyncSession, job_id: int) -> Job:
    """One job; JobNotFound if there is none."""
    job = await session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"There is no job {job_id}")
    return job


async def list_jobs(
    session: AsyncSession, *, statuses: tuple[str, ...], limit: int = 100
) -> list[Job]:
    """Jobs in these states: waiting and running by when they are due, others newest first."""
    stmt = select(Job).where(Job.status.in_(statuses)).limit(limit)
    if set(statuses) <= set(PENDING):
        stmt = stmt.order_by(Job.run_at, Job.id)
    else:
        stmt = stmt.order_by(Job.finished_at.desc(), Job.id.desc())
    return list((await session.scalars(stmt)).all())


async def retry(session: AsyncSession, job_id: int) -> Job:
    """Give a dead job another full set of attempts, starting now."""
    job = await get_job(session, job_id)
    if job.status != DEAD:
        raise JobNotDead(f"Job {job_id} is {job.status}; only a dead job can be retried")
    if job.dedupe_key is not None:
        twin = await session.scalar(
            select(Job.id).where(
                Job.name == job.name, Job.dedupe_key == job.dedupe_key, Job.status.in_(PENDING)
            )
        )
        if twin is not None:
            raise TwinPending(f"Job {twin} does the same work and is still pending")
    job.status, job.attempts, job.run_at = WAITING, 0, utcnow()
    job.locked_by = job.locked_until = job.finished_at = None
    await session.flush()
    return job


@dataclass(frozen=True)
class QueueStats:
    """How the queue stands: for /metrics, /readyz and the admin page."""

    ready: int = 0  # waiting and due
    delayed: int = 0  # waiting for a later time (a retry's backoff, a run_at)
    running: int = 0
    dead: int = 0
    retrying: int = 0  # waiting after at least one failed attempt
    oldest_ready_s: float = 0.0  # how long the longest-waiting due job has waited
    runners: int = 0  # processes alive that run jobs (or stand by to)
    workers: int = 0  # of which `qtrack worker` processes


async def stats(session: AsyncSession) -> QueueStats:
    """Count the jobs by state, and the runners alive: two small indexed queries."""
    now = utcnow()
    due = case((Job.run_at <= now, True), else_=False)
    rows = await session.execute(
        select(
            Job.status,
            due,
            func.count(),
            func.min(Job.run_at),
            func.sum(case((Job.attempts > 0, 1), else_=0)),
        )
        .where(Job.status.in_((WAITING, RUNNING, DEAD)))
        .group_by(Job.status, due)
    )
    counts: dict[str, Any] = {"ready": 0, "delayed": 0, "running": 0, "dead": 0, "retrying": 0}
    oldest: datetime | None = None
    for status, is_due, count, first, failed in rows:
        if status == WAITING:
            counts["ready" if is_due else "delayed"] += count
            counts["retrying"] += int(failed or 0)
            if is_due:
                oldest = first
        else:
            counts[status] += count
    alive = await session.execute(
        select(JobRunner.kind, func.count())
        .where(JobRunner.seen_at > now - timedelta(seconds=RUNNER_ALIVE_S))
        .group_by(JobRunner.kind)
    )
    by_kind = {kind: int(n) for kind, n in alive}
    return QueueStats(
        **counts,
        oldest_ready_s=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        runners=sum(by_kind.values()),
        workers=by_kind.get("worker", 0),
    )


async def live_runners(session: AsyncSession) -> list[JobRunner]:
    """The runner processes that said they were alive lately."""
    since = utcnow() - timedelta(seconds=RUNNER_ALIVE_S)
    rows = await session.scalars(
        select(JobRunner).where(JobRunner.seen_at > since).order_by(JobRunner.started_at)
    )
    return list(rows.all())


async def prune(session: AsyncSession, *, keep_days: int) -> int:
    """Delete jobs finished more than `keep_days` ago, and runners long gone."""
    before = utcnow() - timedelta(days=keep_days)
    result = await session.execute(delete(Job).where(Job.status == DONE, Job.finished_at < before))
    await session.execute(delete(JobRunner).where(JobRunner.seen_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def release_runner(session: AsyncSession, runner_id: str) -> None:
    """Forget a runner that stops cleanly (its jobs were finished or handed back)."""
    await session.execute(delete(JobRunner).where(JobRunner.id == runner_id))
    await session.execute(
        update(Job)
        .where(Job.status == RUNNING, Job.locked_by == runner_id)
        .values(status=WAITING, locked_by=None, locked_until=None, attempts=Job.attempts - 1)
    )
