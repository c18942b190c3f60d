"""A receiver that never answers: the attempt is cut off at the read timeout, logged as
such, and retried with the same webhook-id. Its own module, for its short read timeout: the
other delivery tests allow a busy machine a longer one."""

import httpx
import pytest
from sqlalchemy import select

from qtrack.config import Settings
from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.state import AppState
from qtrack.jobs.models import Job
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.integrations.webhooks.conftest import new_item, pump, register
from tests.integrations.webhooks.receiver import Answer, Receiver
from tests.integrations.webhooks.test_delivery import deliveries, detail


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, webhooks_allow_private=True, webhooks_connect_timeout_s=1.0,
        webhooks_read_timeout_s=0.5, jobs_poll_s=0.05,
    )  # fmt: skip


async def test_a_hanging_receiver_times_out_the_attempt_is_logged_and_retried(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    answers = [Answer(hang=True), Answer(204, b"")]
    receiver.decide = lambda _: answers.pop(0)
    hook = await register(client, admin, receiver.url())
    await new_item(client, admin)
    with FakeClock(utcnow()) as clock:
        await pump(started, lambda: len(receiver.received) >= 1)
        [delivery] = await deliveries(client, admin, hook["id"])
        assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
        assert delivery["last_error"] == "timed out waiting for the answer"
        attempt = (await detail(client, admin, hook["id"], delivery["id"]))["attempt_log"][0]
        assert attempt["status_code"] is None
        assert 400 <= attempt["latency_ms"] < 3000, "cut off at the read timeout (0.5 s)"
        async with started.db.session_scope("read") as session:
            wake = await session.scalar(
                select(Job.run_at).where(Job.name == "webhooks.deliver", Job.status == "waiting")
            )
        assert wake is not None, "a retry is scheduled"
        assert wake > clock.now
        clock.advance(seconds=60)
        await pump(started, lambda: len(receiver.received) >= 2)
    [delivery] = await deliveries(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
