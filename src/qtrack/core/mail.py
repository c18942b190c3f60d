"""Sending an e-mail through the configured SMTP server: the standard library's smtplib.

A few short mails a day (the daily summary, the alert digest): an asynchronous SMTP client
would add a dependency for nothing, so callers run `send` in a thread.
"""

import smtplib
import ssl
from email.message import EmailMessage

from qtrack.config import Settings


def send(message: EmailMessage, settings: Settings) -> None:
    """Send one message (blocking: call it with `asyncio.to_thread`)."""
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
