"""Turning schedules into jobs: each due time once, however many runners race for it."""

from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import utcnow
from qtrack.core.state import AppState
from qtrack.jobs import registry, service
from qtrack.jobs.models import JobSchedule
from qtrack.jobs.registry import ScheduleSpec

log = structlog.get_logger("qtrack.jobs")


class Scheduler:
    """Enqueues each registered schedule's job once per due time.

    A schedule's row holds the last due time that was enqueued; a runner enqueues only if its
    `UPDATE ... WHERE last_due_at < :due` moved the row. On PostgreSQL a second runner's
    update waits for the first one's commit and then matches nothing; on SQLite writers take
    turns. Missed due times (everything was stopped) run once, not once each, when the
    runners come back; a schedule seen for the first time starts with its next due time.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._seen: dict[str, datetime] = {}  # due times this runner knows are handled

    async def tick(self) -> int:
        """Enqueue what is due now; returns how many jobs were enqueued."""
        now = utcnow()
        zone = self.state.settings.zone
        due: dict[str, tuple[ScheduleSpec, datetime]] = {}
        for spec in registry.schedules():
            at = spec.cron.latest(now, zone)
            seen = self._seen.get(spec.name)
            if at is None or (seen is not None and at <= seen):
                continue
            if not registry.is_registered(spec.job):
                log.warning("schedule_without_job", schedule=spec.name, job=spec.job)
                continue
            due[spec.name] = (spec, at)
        if not due:
            return 0
        async with self.state.db.session_scope() as session:
            enqueued = await _advance(session, due, now)
        for name, (_, at) in due.items():
            self._seen[name] = at
        return enqueued


async def _advance(
    session: AsyncSession, due: dict[str, tuple[ScheduleSpec, datetime]], now: datetime
) -> int:
    known = dict(
        (
            await session.execute(
                select(JobSchedule.name, JobSchedule.last_due_at).where(
                    JobSchedule.name.in_(list(due))
                )
            )
        ).all()
    )
    dialect_insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    enqueued = 0
    for name, (spec, at) in due.items():
        last = known.get(name)
        if last is None:
            await session.execute(
                dialect_insert(JobSchedule)
                .values(name=name, last_due_at=at, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            continue
        if last >= at:
            continue
        moved = await session.execute(
            update(JobSchedule)
            .where(JobSchedule.name == name, JobSchedule.last_due_at < at)
            .values(last_due_at=at, updated_at=now)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            payload = {**spec.payload, "due_at": at.isoformat()}
            await service.enqueue(session, spec.job, payload, dedupe_key=f"{name}@{at.isoformat()}")
            log.info("schedule_due", schedule=name, job=spec.job, due_at=at.isoformat())
            enqueued += 1
    return enqueued


async def schedule_rows(session: AsyncSession) -> dict[str, datetime]:
    """The last due time enqueued per schedule."""
    rows = await session.execute(select(JobSchedule.name, JobSchedule.last_due_at))
    return {row.name: row.last_due_at for row in rows}
