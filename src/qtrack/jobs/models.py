"""The job table (an outbox: a job is a row written in the transaction that causes it), the
schedules' last due times, and the runners alive."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, and_
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base

WAITING, RUNNING, DONE, DEAD = "waiting", "running", "done", "dead"
PENDING = (WAITING, RUNNING)


class Job(Base):
    """One piece of work: a registered job name and its JSON payload."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=WAITING)
    attempts: Mapped[int] = mapped_column(default=0)  # started so far, the running one too
    run_at: Mapped[datetime] = mapped_column(default=utcnow)  # not before then
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    locked_by: Mapped[str | None] = mapped_column(String(64))  # the runner running it
    locked_until: Mapped[datetime | None]  # its lease: after that, another runner may take it
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# At most one job of a name and key is waiting or running: enqueueing a twin returns it.
PENDING_TWIN = and_(Job.dedupe_key.is_not(None), Job.status.in_(PENDING))
Index(
    "uq_job_name_dedupe_key",
    Job.name,
    Job.dedupe_key,
    unique=True,
    postgresql_where=PENDING_TWIN,
    sqlite_where=PENDING_TWIN,
)


class JobSchedule(Base):
    """A schedule's last due time that was enqueued: the row every runner races to move, so
    each due time runs once however many runners there are."""

    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_due_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRunner(Base):
    """A process that runs jobs (`qtrack worker`, or `qtrack serve` in-process), with the last
    time it said it was alive."""

    __tablename__ = "job_runner"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # worker | in-process
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)  # an in-process runner steps aside
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
