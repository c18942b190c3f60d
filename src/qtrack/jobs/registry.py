"""Where domains declare their jobs, schedules and pollers, at import time.

    @job("webhooks.deliver", max_attempts=8, timeout=30)
    async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None: ...

    schedule("reports.daily", cron="0 18 * * *")   # runs the job "reports.daily"

`qtrack.handlers` imports every module that registers something, so the server, the worker
and the CLI know the same jobs.
"""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.config import Settings
from qtrack.core.db import Mode
from qtrack.core.state import AppState
from qtrack.jobs.cron import Cron
from qtrack.jobs.errors import UnknownJob


@dataclass
class JobContext:
    """What a handler gets besides its payload: sessions, settings, the app's state."""

    state: AppState
    name: str
    job_id: int | None = None
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        """The settings of the process running the job."""
        return self.state.settings

    def session(self, mode: Mode = "write") -> AbstractAsyncContextManager[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back on an error."""
        return self.state.db.session_scope(mode)


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
Poller = Callable[[JobContext], Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its handler, how often it may be tried, how long one try may take."""

    name: str
    handler: JobHandler
    max_attempts: int
    timeout_s: float


@dataclass(frozen=True)
class ScheduleSpec:
    """A registered schedule: the job it enqueues at each due time of its cron expression."""

    name: str
    cron: Cron
    job: str
    payload: dict[str, Any]


_jobs: dict[str, JobSpec] = {}
_schedules: dict[str, ScheduleSpec] = {}
_pollers: dict[str, Poller] = {}


def job(
    name: str, *, max_attempts: int = 5, timeout: float = 60.0
) -> Callable[[JobHandler], JobHandler]:
    """Register `async def handler(ctx, payload) -> None` as the job `name`."""
    if max_attempts < 1 or timeout <= 0:
        raise ValueError("max_attempts must be at least 1 and timeout positive")

    def register(handler: JobHandler) -> JobHandler:
        spec = JobSpec(name, handler, max_attempts, float(timeout))
        _add(_jobs, name, spec, same=lambda old: old.handler is handler)
        return handler

    return register


def schedule(
    name: str, *, cron: str, job: str | None = None, payload: dict[str, Any] | None = None
) -> None:
    """Enqueue the job `job` (by default the one named `name`) at each due time of `cron`,
    read in the site's time zone (QTRACK_TIMEZONE); the payload gets `due_at` added."""
    spec = ScheduleSpec(name, Cron.parse(cron), job or name, dict(payload or {}))
    _add(_schedules, name, spec, same=lambda old: old == spec)


def poller(name: str, fn: Poller) -> None:
    """Call `fn(ctx)` on every round of every active runner (the change feed's consumers);
    it must be cheap when there is nothing to do, and safe with other runners doing the same."""
    _add(_pollers, name, fn, same=lambda old: old is fn)


def _add(table: dict[str, Any], name: str, value: Any, *, same: Callable[[Any], bool]) -> None:
    old = table.get(name)
    if old is not None and not same(old):
        raise ValueError(f"{name!r} is registered twice")
    table[name] = value


def get_job(name: str) -> JobSpec:
    """The registered job of that name; UnknownJob if there is none."""
    spec = _jobs.get(name)
    if spec is None:
        raise UnknownJob(f"No job named {name!r} is registered")
    return spec


def find_job(name: str) -> JobSpec | None:
    """The registered job of that name, or None."""
    return _jobs.get(name)


def is_registered(name: str) -> bool:
    """Whether a job of that name is registered."""
    return name in _jobs


def jobs() -> list[JobSpec]:
    """Every registered job, by name."""
    return [_jobs[name] for name in sorted(_jobs)]


def schedules() -> list[ScheduleSpec]:
    """Every registered schedule, by name."""
    return [_schedules[name] for name in sorted(_schedules)]


def pollers() -> list[tuple[str, Poller]]:
    """Every registered poller, by name."""
    return sorted(_pollers.items())


@dataclass(frozen=True)
class Snapshot:
    """What is registered, kept so a test can restore it."""

    jobs: dict[str, JobSpec]
    schedules: dict[str, ScheduleSpec]
    pollers: dict[str, Poller]


def snapshot() -> Snapshot:
    """Everything registered now."""
    return Snapshot(dict(_jobs), dict(_schedules), dict(_pollers))


def restore(saved: Snapshot) -> None:
    """Put back what `snapshot` saw (tests register jobs of their own)."""
    _jobs.clear()
    _jobs.update(saved.jobs)
    _schedules.clear()
    _schedules.update(saved.schedules)
    _pollers.clear()
    _pollers.update(saved.pollers)
