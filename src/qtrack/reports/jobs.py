"""The daily summary's e-mail as durable background work.

`reports.daily` runs every five minutes (each due time once, however many workers run) and
enqueues `reports.daily.send` for the last day whose mail is due (today once the local time
has passed QTRACK_DAILY_REPORT_AT, else yesterday), unless a job for that date exists already:
the dedupe key holds while it waits or runs, and the finished job row (kept
QTRACK_JOBS_KEEP_DONE_DAYS) afterwards. So each day's mail is sent once (at least once: a
crash between sending and recording may send it again), and a day whose evening no worker ran
(stopped from the report time to midnight) is mailed late, the next morning, not never.
"""

from datetime import date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from qtrack.jobs import service as jobs_service
from qtrack.jobs.models import Job
from qtrack.jobs.registry import JobContext, job, schedule
from qtrack.reports import mail, service

log = structlog.get_logger("qtrack.reports")
SEND = "reports.daily.send"


@job("reports.daily", max_attempts=3, timeout=60)
async def daily_tick(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Enqueue the last due day's mail (today's once the configured local time has passed,
    else yesterday's) if it was not yet."""
    settings = ctx.settings
    if not settings.smtp_host or not settings.daily_report_recipients:
        return
    due = payload.get("due_at")
    now = datetime.fromisoformat(due) if isinstance(due, str) else datetime.now(settings.zone)
    local = now.astimezone(settings.zone)
    hour, minute = (int(part) for part in settings.daily_report_at.split(":"))
    due_day = local.date()
    if local.time() < time(hour, minute):
        due_day -= timedelta(days=1)  # sent yesterday evening, or to be sent late now
    day = due_day.isoformat()
    async with ctx.session() as session:
        seen = await session.scalar(
            select(Job.id).where(Job.name == SEND, Job.dedupe_key == day).limit(1)
        )
        if seen is None:
            await jobs_service.enqueue(session, SEND, {"date": day}, dedupe_key=day)


@job(SEND, max_attempts=5, timeout=120)
async def send_daily(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Build one day's summary and mail it."""
    day = date.fromisoformat(str(payload["date"]))
    async with ctx.session("read") as session:
        summary = await service.daily_summary(session, ctx.settings, day=day)
    sent_to = await mail.send_summary(summary, ctx.settings)
    log.info("daily_report_sent", date=day.isoformat(), recipients=len(sent_to))


schedule("reports.daily", cron="*/5 * * * *")
