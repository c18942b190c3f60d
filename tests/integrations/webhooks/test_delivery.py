"""Deliveries to a real receiver: signed as Standard Webhooks say (checked with the
standardwebhooks library), retried with the same webhook-id, in event order per item,
(cut off when the receiver hangs: test_hanging_receiver.py)."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.state import AppState
from qtrack.integrations.webhooks.models import WebhookDelivery
from tests.factories.accounts import AppLogin
from tests.integrations.webhooks.conftest import location, move, new_item, pump, register
from tests.integrations.webhooks.receiver import Answer, Received, Receiver


def verified(secret: str, request: Received) -> Any:
    """The payload, once the receiver's library accepts the signature."""
    return Webhook(secret).verify(request.body, request.headers)


async def deliveries(client: httpx.AsyncClient, who: AppLogin, hook: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def detail(
    client: httpx.AsyncClient, who: AppLogin, hook: int, delivery: int
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/webhooks/{hook}/deliveries/{delivery}", headers=who.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_changes_arrive_signed_and_the_log_shows_each_attempt(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    hook = await register(client, admin, receiver.url(), description="ERP")
    assert hook["secret"].startswith("whsec_")
    await location(client, admin, "DOCK")
    code = await new_item(client, admin)
    await move(client, admin, code, "DOCK")
    await pump(started, lambda: len(receiver.received) >= 2)

    first, second = receiver.received
    assert [first.method, first.path] == ["POST", "/hook"]
    assert first.headers["content-type"] == "application/json"
    assert first.headers["webhook-id"].startswith("msg_")
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    created, moved = verified(hook["secret"], first), verified(hook["secret"], second)
    assert created["type"] == "item.created"
    assert created["data"]["item"] == {"id": created["data"]["item"]["id"], "code": code,
                                       "type": "material"}  # fmt: skip
    assert created["data"]["actor"]["username"] == "boss"
    assert created["data"]["seq"] == 1
    assert len(created["data"]["hash"]) == 64
    assert moved["type"] == "item.moved"
    assert moved["data"]["location"]["code"] == "DOCK"
    assert moved["data"]["after"]["location"] == "DOCK"
    assert moved["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(first.body, first.headers)
    tampered = first.body.replace(code.encode(), b"MAT-999999")
    with pytest.raises(WebhookVerificationError):
        verified(hook["secret"], Received("POST", "/hook", first.headers, tampered))

    log = await deliveries(client, admin, hook["id"])
    assert [d["event_type"] for d in log] == ["item.moved", "item.created"]  # newest first
    assert {d["status"] for d in log} == {"succeeded"}
    assert log[1]["webhook_id"] == first.headers["webhook-id"]
    one = await detail(client, admin, hook["id"], log[1]["id"])
    assert one["payload"] == created
    [attempt] = one["attempt_log"]
    assert attempt["attempt"] == 1
    assert attempt["status_code"] == 200
    assert attempt["response_excerpt"] == '{"ok": true}'
    assert attempt["error"] is None
    assert 0 < attempt["latency_ms"] < 5000


async def test_a_receiver_failing_first_gets_the_same_webhook_id_until_it_takes_it(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    answers = [Answer(500, b"database down"), Answer(200)]
    receiver.decide = lambda _: answers.pop(0)
    hook = await register(client, admin, receiver.url())
    await new_item(client, admin)
    with FakeClock(utcnow()) as clock:
        await pump(started, lambda: len(receiver.received) >= 1)
        [delivery] = await deliveries(client, admin, hook["id"])
        assert delivery["status"] == "pending"
        assert delivery["attempts"] == 1
        assert delivery["last_status_code"] == 500
        assert delivery["last_error"] == "answered 500"
        wait = (_time(delivery["next_attempt_at"]) - clock.now).total_seconds()
        assert 24 <= wait <= 36, "the first retry waits 30 s ± 20 %"
        await pump(started)
        assert len(receiver.received) == 1, "not retried before its time"
        clock.advance(seconds=50)  # the retry (at most 36 s) wakes on a 10 s bucket
        await pump(started, lambda: len(receiver.received) >= 2)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 50
    assert verified(hook["secret"], first) == verified(hook["secret"], second)
    [delivery] = await deliveries(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
    log = (await detail(client, admin, hook["id"], delivery["id"]))["attempt_log"]
    assert [(a["attempt"], a["status_code"]) for a in log] == [(1, 500), (2, 200)]
    assert log[0]["response_excerpt"] == "database down"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_one_items_deliveries_wait_for_its_earlier_ones(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    await location(client, admin, "A1")
    await location(client, admin, "A2")
    await register(client, admin, receiver.url())
    failed_once: list[str] = []
    slow = "MAT-000001"

    def decide(request: Received) -> Answer:
        data = request.json["data"]
        if data["item"]["code"] == slow and data["seq"] == 2 and not failed_once:
            failed_once.append(request.headers["webhook-id"])
            return Answer(503, b"busy")
        return Answer()

    receiver.decide = decide
    assert await new_item(client, admin) == slow
    await move(client, admin, slow, "A1")  # seq 2: fails first
    await move(client, admin, slow, "A2")  # seq 3: must wait for seq 2
    other = await new_item(client, admin)  # another item goes on meanwhile

    def seen() -> list[tuple[str, int]]:
        return [(r.json["data"]["item"]["code"], r.json["data"]["seq"]) for r in receiver.received]

    with FakeClock(utcnow()) as clock:
        await pump(started, lambda: len(receiver.received) >= 3)
        await pump(started)
        assert sorted(seen()) == [(slow, 1), (slow, 2), (other, 1)], "seq 3 waits for seq 2"
        clock.advance(seconds=60)
        await pump(started, lambda: len(receiver.received) >= 5)
    assert [s for s in seen() if s[0] == slow] == [(slow, 1), (slow, 2), (slow, 2), (slow, 3)]
    assert seen().count((other, 1)) == 1


async def test_filters_by_event_type_item_type_and_location_subtree(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    await location(client, admin, "SITE")
    await location(client, admin, "ZONE", "SITE")
    await location(client, admin, "ELSEWHERE")
    await register(client, admin, receiver.url("/moves"), event_types=["item.moved"])
    await register(client, admin, receiver.url("/bags"), item_types=["bag"])
    await register(client, admin, receiver.url("/site"), location="SITE")
    material = await new_item(client, admin)
    bag = await new_item(client, admin, "bag")
    await move(client, admin, material, "ZONE")  # into the site's subtree
    await move(client, admin, material, "ELSEWHERE")  # out of it: the site hears it leave
    await move(client, admin, bag, "ELSEWHERE")
    await pump(started, lambda: len(receiver.received) >= 7)

    def kinds(path: str) -> list[tuple[str, str]]:
        return [(r.json["data"]["item"]["code"], r.json["type"]) for r in receiver.at(path)]

    # Different items go out in parallel; one item's in order.
    assert sorted(kinds("/moves")) == [
        (bag, "item.moved"), (material, "item.moved"), (material, "item.moved")
    ]  # fmt: skip
    assert kinds("/bags") == [(bag, "item.created"), (bag, "item.moved")]
    assert kinds("/site") == [(material, "item.moved"), (material, "item.moved")]


async def test_a_rotated_secret_signs_alongside_the_new_one_during_the_overlap(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    hook = await register(client, admin, receiver.url())
    old = hook["secret"]
    with FakeClock(utcnow()) as clock:
        rotated = await client.post(
            f"/api/v1/webhooks/{hook['id']}/rotate-secret", json={"overlap_s": 60},
            headers=admin.headers,
        )  # fmt: skip
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new = rotated.json()["secret"]
        assert new != old
        assert new.startswith("whsec_")
        await new_item(client, admin)
        await pump(started, lambda: len(receiver.received) >= 1)
        during = receiver.received[0]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verified(old, during) == verified(new, during)
        clock.advance(seconds=61)
        await new_item(client, admin)
        await pump(started, lambda: len(receiver.received) >= 2)
    after = receiver.received[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verified(new, after)["type"] == "item.created"
    with pytest.raises(WebhookVerificationError):
        verified(old, after)


async def test_a_delivery_is_refused_when_the_host_turns_private_later(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    hook = await register(client, admin, receiver.url())
    strict = started.settings.model_copy(update={"webhooks_allow_private": False})
    guarded = AppState(strict, started.db, None, None, started.limiter)
    await new_item(client, admin)

    async def tried() -> bool:
        async with started.db.session_scope("read") as session:
            return bool(await session.scalar(select(WebhookDelivery.attempts)))

    await pump(guarded, tried)
    assert receiver.received == []
    [delivery] = await deliveries(client, admin, hook["id"])
    assert delivery["status"] == "pending"
    assert delivery["last_error"].startswith("refused: 127.0.0.1 is a loopback address")


async def test_a_test_message_and_redeliveries_keep_their_webhook_id(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    hook = await register(client, admin, receiver.url())
    url = f"/api/v1/webhooks/{hook['id']}"
    queued = await client.post(f"{url}/test", headers=admin.headers)
    assert queued.status_code == 202
    assert queued.json()["event_type"] == "webhook.test"
    await new_item(client, admin)
    await pump(started, lambda: len(receiver.received) >= 2)
    assert {verified(hook["secret"], r)["type"] for r in receiver.received} == {
        "webhook.test", "item.created"
    }  # fmt: skip
    log = await deliveries(client, admin, hook["id"])
    again = await client.post(f"{url}/deliveries/{log[0]['id']}/redeliver", headers=admin.headers)
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    twice = await client.post(f"{url}/deliveries/{log[0]['id']}/redeliver", headers=admin.headers)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "delivery_unfinished"
    await pump(started, lambda: len(receiver.received) >= 3)
    assert receiver.received[2].headers["webhook-id"] == log[0]["webhook_id"]

    since = (utcnow() - timedelta(minutes=5)).isoformat()
    failed_only = await client.post(
        f"{url}/redeliver", json={"since": since}, headers=admin.headers
    )
    assert failed_only.json() == {"redelivered": 0}, "by default only failed ones"
    every = await client.post(
        f"{url}/redeliver", json={"since": since, "only_failed": False}, headers=admin.headers
    )
    assert every.json() == {"redelivered": 2}
    await pump(started, lambda: len(receiver.received) >= 5)
    ids = {log[0]["webhook_id"], log[1]["webhook_id"]}
    assert {r.headers["webhook-id"] for r in receiver.received[3:]} == ids
    async with started.db.session_scope("read") as session:
        rows = (await session.scalars(select(WebhookDelivery.status))).all()
    assert set(rows) == {"succeeded"}
