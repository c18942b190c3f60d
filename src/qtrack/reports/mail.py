"""Sending the daily summary by e-mail: the standard library's smtplib, in a thread.

One short mail a day: an asynchronous SMTP client would add a dependency for nothing.
"""

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from qtrack.config import Settings
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


def _send(message: EmailMessage, settings: Settings) -> None:
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


async def send_summary(summary: DailySummary, settings: Settings) -> list[str]:
    """Mail the summary to the configured recipients; returns them."""
    if not settings.smtp_host or not settings.daily_report_recipients:
        raise MailNotConfigured()
    await asyncio.to_thread(_send, compose(summary, settings), settings)
    return list(settings.daily_report_recipients)
