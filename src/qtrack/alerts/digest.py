"""The alert digest: each hour, the alerts raised since the last digest, in one e-mail.

`alerts.digest` runs at the start of every hour (each due time once, however many workers
run). With QTRACK_SMTP_HOST and QTRACK_ALERT_DIGEST_RECIPIENTS set, it mails the alerts not
yet mailed (`digested_at` empty), oldest first, and marks them in the same transaction after
the mail went out: at least once (a crash between the two may send them again), never lost.
"""

import asyncio
from email.message import EmailMessage
from typing import Any

import structlog
from sqlalchemy import select, update

from qtrack.alerts.models import Alert
from qtrack.config import Settings
from qtrack.core import mail
from qtrack.core.clock import utcnow
from qtrack.jobs.registry import JobContext, job, schedule

log = structlog.get_logger("qtrack.alerts")
NAME = "alerts.digest"
MAX_PER_MAIL = 500


def compose(alerts: list[Alert], settings: Settings) -> EmailMessage:
    """The digest: one line per alert, oldest first."""
    message = EmailMessage()
    count = len(alerts)
    message["Subject"] = f"qtrack: {count} new alert{'' if count == 1 else 's'}"
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(settings.alert_digest_recipients)
    zone = settings.zone
    lines = [
        f"{a.raised_at.astimezone(zone).strftime('%Y-%m-%d %H:%M')}  {a.kind}  {a.message}"
        for a in alerts
    ]
    message.set_content(
        "Alerts raised since the last digest:\n\n" + "\n".join(lines) + "\n\nSee them at /alerts.\n"
    )
    return message


@job(NAME, max_attempts=5, timeout=120)
async def send_digest(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Mail the alerts raised since the last digest, if any, and mark them mailed."""
    settings = ctx.settings
    if not settings.smtp_host or not settings.alert_digest_recipients:
        return
    async with ctx.session() as session:
        alerts = list(
            await session.scalars(
                select(Alert)
                .where(Alert.digested_at.is_(None))
                .order_by(Alert.id)
                .limit(MAX_PER_MAIL)
            )
        )
        if not alerts:
            return
        await asyncio.to_thread(mail.send, compose(alerts, settings), settings)
        await session.execute(
            update(Alert)
            .where(Alert.id.in_([a.id for a in alerts]))
            .values(digested_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    log.info(
        "alert_digest_sent", alerts=len(alerts), recipients=len(settings.alert_digest_recipients)
    )


schedule(NAME, cron="0 * * * *")
