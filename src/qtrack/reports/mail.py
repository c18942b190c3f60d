"""Sending the daily summary by e-mail (`core.mail`, in a thread)."""

import asyncio
from email.message import EmailMessage

from qtrack.config import Settings
from qtrack.core import mail
from qtrack.core.errors import QtrackError
from qtrack.reports import files
from qtrack.reports.schemas import DailySummary


class MailNotConfigured(QtrackError):
    status_code, code, message = (
        409,
        "mail_not_configured",
        "Set QTRACK_SMTP_HOST and QTRACK_DAILY_REPORT_RECIPIENTS to send the summary",
    )


def compose(summary: DailySummary, settings: Settings) -> EmailMessage:
    """The mail: the summary as text, with its PDF and CSV attached."""
    message = EmailMessage()
    message["Subject"] = files.title(summary)
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(settings.daily_report_recipients)
    message.set_content(files.render_text(summary))
    name = f"qtrack-daily-{summary.date.isoformat()}"
    message.add_attachment(
        files.render_pdf(summary), maintype="application", subtype="pdf", filename=f"{name}.pdf"
    )
    message.add_attachment(
        files.render_csv(summary).encode(), maintype="text", subtype="csv", filename=f"{name}.csv"
    )
    return message


async def send_summary(summary: DailySummary, settings: Settings) -> list[str]:
    """Mail the summary to the configured recipients; returns them."""
    if not settings.smtp_host or not settings.daily_report_recipients:
        raise MailNotConfigured()
    await asyncio.to_thread(mail.send, compose(summary, settings), settings)
    return list(settings.daily_report_recipients)
