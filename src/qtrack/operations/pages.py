"""/admin/jobs: the queue (waiting, running, dead with retry), schedules, runners, consumers."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.events import feed
from qtrack.jobs import registry, scheduler
from qtrack.jobs import service as jobs_service
from qtrack.jobs.models import DEAD, RUNNING, WAITING
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]
BASE = "/admin/jobs"
LISTED = 100  # jobs shown per state


async def _jobs_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    now, zone = utcnow(), settings.zone
    last_due = await scheduler.schedule_rows(session)
    schedules = [
        {
            "name": spec.name,
            "cron": spec.cron.text,
            "job": spec.job,
            "last_due": last_due.get(spec.name),
            "next_due": spec.cron.next_after(now, zone),
        }
        for spec in registry.schedules()
    ]
    limits = {spec.name: spec.max_attempts for spec in registry.jobs()}
    context: dict[str, Any] = {
        "stats": await jobs_service.stats(session),
        "waiting": await jobs_service.list_jobs(session, statuses=(WAITING,), limit=LISTED),
        "running": await jobs_service.list_jobs(session, statuses=(RUNNING,), limit=LISTED),
        "dead": await jobs_service.list_jobs(session, statuses=(DEAD,), limit=LISTED),
        "limits": limits,
        "schedules": schedules,
        "timezone": settings.timezone,
        "runners": await jobs_service.live_runners(session),
        "consumers": await feed.list_consumers(session),
        "now": now,
        "notice": notice,
        "message": message,
        "listed": LISTED,
    }
    return page(
        request, "admin/jobs.html", principal=principal, settings=settings, context=context,
        status_code=status_code,
    )  # fmt: skip


@router.get(BASE)
async def jobs_page(
    request: Request,
    principal: Admin,
    session: SessionDep,
    state: StateDep,
    retried: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The background work: what waits, runs and died, what is scheduled, who runs it."""
    notice = f"Job {retried} is waiting again, with a full set of attempts." if retried else None
    return await _jobs_page(request, session, state.settings, principal, notice=notice)


@router.post(BASE + "/{job_id}/retry")
async def retry_job(
    job_id: int, request: Request, principal: Admin, session: SessionDep, state: StateDep
) -> Response:
    """Give a dead job another full set of attempts, starting now."""
    try:
        # A savepoint: a refusal undoes only the retry; the signed-in user stays loaded.
        async with session.begin_nested():
            await jobs_service.retry(session, job_id)
    except QtrackError as exc:
        return await _jobs_page(
            request, session, state.settings, principal,
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}?retried={job_id}", status_code=303)
