"""The alert digest: new alerts mailed once an hour through a real SMTP server, each once."""

from email import message_from_bytes

import httpx
import pytest
from fastapi import FastAPI

from qtrack.alerts import digest
from qtrack.config import Settings
from qtrack.jobs.registry import JobContext, schedules
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.reports.test_daily import Inbox, inbox
from tests.stock.test_api import levels, quantity

__all__ = ["inbox"]  # the SMTP server fixture


@pytest.fixture
def settings(database_url: str, inbox: tuple[int, Inbox]) -> Settings:
    return make_settings(
        database_url,
        smtp_host="127.0.0.1",
        smtp_port=inbox[0],
        smtp_tls="none",
        smtp_sender="qtrack@example.com",
        alert_digest_recipients="stores@example.com, boss@example.com",
    )


async def test_new_alerts_are_mailed_once(
    client: httpx.AsyncClient,
    admin: AppLogin,
    operator: AppLogin,
    app: FastAPI,
    inbox: tuple[int, Inbox],
) -> None:
    ctx = JobContext(state=app.state.qtrack, name=digest.NAME)
    await digest.send_digest(ctx, {})
    assert inbox[1].messages == []  # nothing new: no mail
    lot = await register(client, operator, type="supply", quantity="20")
    await levels(client, admin, minimum_level="5", reorder_level="10")
    await quantity(client, operator, lot["code"], "dispense", "12")  # low
    await quantity(client, operator, lot["code"], "dispense", "6")  # out
    await digest.send_digest(ctx, {})
    ((to, raw),) = inbox[1].messages
    assert sorted(to) == ["boss@example.com", "stores@example.com"]
    mail = message_from_bytes(raw)
    assert mail["Subject"] == "qtrack: 2 new alerts"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert "stock_low  Supply is low on stock: 8 pcs on hand" in body
    assert body.index("stock_low") < body.index("stock_out")
    await digest.send_digest(ctx, {})
    assert len(inbox[1].messages) == 1  # each alert is mailed once
    await quantity(client, operator, lot["code"], "receive", "30")
    await quantity(client, operator, lot["code"], "dispense", "25")  # low again: a new alert
    await digest.send_digest(ctx, {})
    assert message_from_bytes(inbox[1].messages[-1][1])["Subject"] == "qtrack: 1 new alert"
    assert any(s.name == digest.NAME for s in schedules())
