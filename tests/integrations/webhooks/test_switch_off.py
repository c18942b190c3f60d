"""An endpoint whose deliveries keep failing is switched off, its waiting deliveries are
cancelled, and the admins are told (security log, admin page)."""

import httpx
import pytest
from sqlalchemy import select

from qtrack.accounts.models import SecurityEvent
from qtrack.config import Settings
from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.state import AppState
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.integrations.webhooks.conftest import new_item, pump, register
from tests.integrations.webhooks.receiver import Answer, Receiver
from tests.integrations.webhooks.test_delivery import deliveries


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, webhooks_allow_private=True, webhooks_read_timeout_s=5.0,
        webhooks_max_attempts=2, webhooks_disable_after=2, jobs_poll_s=0.05,
    )  # fmt: skip


async def test_an_endpoint_failing_for_good_is_switched_off_and_the_admins_are_told(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    receiver.decide = lambda _: Answer(500, b"no")
    hook = await register(client, admin, receiver.url())
    await new_item(client, admin)
    await new_item(client, admin)
    with FakeClock(utcnow()) as clock:
        await pump(started, lambda: len(receiver.received) >= 2)
        clock.advance(seconds=60)
        await pump(started, lambda: len(receiver.received) >= 4)
        await new_item(client, admin)  # made while the endpoint is off: not queued
        await pump(started)
    assert len(receiver.received) == 4, "two deliveries, two attempts each"
    shown = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "2 deliveries in a row failed every attempt"
    assert shown["consecutive_failures"] == 2
    assert {d["status"] for d in await deliveries(client, admin, hook["id"])} == {"failed"}
    async with started.db.session_scope("read") as session:
        alert = await session.scalar(
            select(SecurityEvent).where(SecurityEvent.kind == "webhook_disabled")
        )
    assert alert is not None
    assert alert.details["webhook"] == hook["id"]
    assert alert.details["by"] == "webhooks"

    switched_on = await client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=admin.headers
    )
    assert switched_on.json()["consecutive_failures"] == 0
    assert switched_on.json()["disabled_reason"] is None


async def test_a_receiver_answering_410_gone_is_switched_off_at_once(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    receiver.decide = lambda _: Answer(410, b"gone")
    hook = await register(client, admin, receiver.url())
    await new_item(client, admin)
    await pump(started, lambda: len(receiver.received) >= 1)
    shown = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "The receiver answered 410 Gone")
    [delivery] = await deliveries(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
