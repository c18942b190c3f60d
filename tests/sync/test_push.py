"""Push: offline changes applied once each, each answered on its own, refusals kept."""

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.sync.models import SyncChange
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import codes_of
from tests.factories.locations import create_location

PUSH = "/api/v1/sync/push"
REFUSED = "/api/v1/sync/refused"


def new_id() -> str:
    return str(uuid.uuid4())


def at(minutes: float) -> str:
    """A device time, minutes after a fixed moment."""
    return (datetime(2026, 12, 5, 6, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


async def push(
    client: httpx.AsyncClient, who: AppLogin, *changes: dict[str, Any], device: str = "hh-1"
) -> dict[str, Any]:
    # A device always sends its clock; where a test does not care which time, a fixed one.
    sent = [{"occurred_at": at(0), **change} for change in changes]
    response = await client.post(
        PUSH, json={"device_id": device, "changes": sent}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert [r["id"] for r in answer["results"]] == [c.get("id") for c in changes]
    return answer


async def events(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def item(client: httpx.AsyncClient, who: AppLogin, code: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/items/{code}", headers=who.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_items_made_offline_get_codes_and_later_changes_may_name_them_by_uuid(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "A1")
    await create_location(client, admin, "B1")
    lot, bag = new_id(), new_id()
    changes: list[dict[str, Any]] = [
        {"id": new_id(), "type": "create", "uuid": lot, "occurred_at": at(0),
         "record": {"type": "material", "location": "A1", "quantity": "20", "batch": "B-7"}},
        {"id": new_id(), "type": "create", "uuid": bag, "occurred_at": at(1),
         "record": {"type": "bag", "location": "A1"}},
        {"id": new_id(), "type": "transition", "item_uuid": lot, "base_version": 1,
         "transition": "quarantine", "occurred_at": at(2)},
        {"id": new_id(), "type": "quantity", "item_uuid": lot, "kind": "dispense",
         "amount": "2.5", "occurred_at": at(3)},
        {"id": new_id(), "type": "move", "item_uuid": bag, "location": "B1", "occurred_at": at(4)},
        {"id": new_id(), "type": "pack", "item_uuid": lot, "container_uuid": bag,
         "occurred_at": at(5)},
    ]  # fmt: skip
    answer = await push(client, operator, *changes)
    assert [r["outcome"] for r in answer["results"]] == ["applied"] * 6, answer
    codes = answer["created"]
    assert set(codes) == {lot, bag}
    assert codes[lot].startswith("MAT-")
    assert codes[bag].startswith("BAG-")
    assert answer["results"][0]["uuid"] == lot
    now = await item(client, operator, codes[lot])
    assert (now["status"], Decimal(now["quantity"]), now["location"], now["container"]) == (
        "quarantine", Decimal("17.5"), "B1", codes[bag],
    )  # fmt: skip
    assert answer["results"][5]["item"]["version"] == now["version"]
    # The device's clock and its change id are on the events.
    async with db.session_scope("read") as session:
        recorded = (
            await session.execute(
                select(Event.client_event_id, Event.occurred_at).where(
                    Event.client_event_id == changes[3]["id"]
                )
            )
        ).one()
    assert recorded.occurred_at == datetime.fromisoformat(at(3))

    # The same batch again (the answer was lost): the same answers, nothing recorded twice.
    before = await events(db)
    again = await push(client, operator, *changes)
    assert again == answer
    assert await events(db) == before


async def test_each_change_is_answered_alone_and_refusals_are_kept(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "A1")
    lot, other = await codes_of(client, operator, 2)
    supervisor = await logged_in(client, db, "sue", "supervisor")
    changes = [
        {"id": new_id(), "type": "move", "item": lot, "location": "A1"},
        {"id": new_id(), "type": "move", "item": lot, "location": "NOWHERE"},
        {"id": new_id(), "type": "transition", "item": other, "transition": "quarantine"},
        {"id": new_id(), "type": "transition", "item": other, "transition": "start_test"},
        # Releasing needs item.release, which operators do not have.
        {"id": new_id(), "type": "transition", "item": other, "transition": "release"},
        {"id": new_id(), "type": "teleport", "item": lot},
        {"id": new_id(), "type": "move", "item": lot},
        {"type": "move", "item": lot, "location": "A1"},
        {"id": new_id(), "type": "quantity", "item": lot, "kind": "dispense", "amount": "999"},
        {"id": new_id(), "type": "move", "item_uuid": new_id(), "location": "A1"},
    ]
    answer = await push(client, operator, *changes)
    outcomes = [(r["outcome"], r.get("reason"), r.get("code")) for r in answer["results"]]
    assert outcomes == [
        ("applied", None, None),
        ("rejected", "invalid", "location_not_found"),
        ("applied", None, None),
        ("applied", None, None),
        ("rejected", "not_allowed", "permission_denied"),
        ("rejected", "invalid", "validation_error"),
        ("rejected", "invalid", "validation_error"),
        ("rejected", "invalid", "validation_error"),
        ("rejected", "invalid", "insufficient_quantity"),
        ("rejected", "invalid", "unknown_record"),
    ]
    # Kept, with why, for the user (newest first) ...
    mine = await client.get(REFUSED, headers=operator.headers)
    assert mine.status_code == 200
    kept = mine.json()["items"]
    refused_ids = [c["id"] for c, r in zip(changes, answer["results"], strict=True)
                   if r["outcome"] != "applied" and "id" in c]  # fmt: skip
    assert [k["change_id"] for k in kept] == refused_ids[::-1]
    assert kept[-1]["code"] == "location_not_found"
    assert kept[-1]["change"] == {"occurred_at": at(0), **changes[1]}
    assert kept[-1]["user"] == "olga"
    # ... and for supervisors, who may see everyone's; others may not ask for that.
    theirs = await client.get(REFUSED, params={"everyone": True}, headers=supervisor.headers)
    assert [k["change_id"] for k in theirs.json()["items"]] == refused_ids[::-1]
    assert (await client.get(REFUSED, headers=supervisor.headers)).json()["items"] == []
    denied = await client.get(REFUSED, params={"everyone": True}, headers=operator.headers)
    assert denied.status_code == 403
    # Counted for /metrics, by type and outcome.
    metrics = (await client.get("/metrics")).text
    assert 'qtrack_sync_pushed_changes_total{outcome="applied",type="move"} 1.0' in metrics
    assert 'qtrack_sync_pushed_changes_total{outcome="rejected",type="unknown"} 1.0' in metrics


async def test_a_change_without_the_device_time_is_refused_and_kept(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    (lot,) = await codes_of(client, operator, 1)
    before = await item(client, operator, lot)
    change = {"id": new_id(), "type": "move", "item": lot, "location": "A1", "base_version": 1}
    response = await client.post(
        PUSH, json={"device_id": "hh-1", "changes": [change]}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert (result["outcome"], result["reason"], result["code"]) == (
        "rejected", "invalid", "validation_error",
    )  # fmt: skip
    assert [d["loc"] for d in result["details"]] == [["move", "occurred_at"]]
    assert await item(client, operator, lot) == before
    kept = (await client.get(REFUSED, headers=operator.headers)).json()["items"]
    assert [(k["change_id"], k["change"]) for k in kept] == [(change["id"], change)]


async def test_a_change_id_used_for_another_change_is_refused(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    (lot,) = await codes_of(client, operator, 1)
    same = new_id()
    first = await push(client, operator, {"id": same, "type": "move", "item": lot, "location": "X"})
    assert first["results"][0]["code"] == "location_not_found"
    second = await push(
        client,
        operator,
        {"id": same, "type": "transition", "item": lot, "transition": "quarantine"},
    )
    assert second["results"][0]["code"] == "change_id_reused"
    assert (await item(client, operator, lot))["status"] == "received"


async def test_stale_changes_conflict_with_the_current_record(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    for code in ("A1", "B1", "C1"):
        await create_location(client, admin, code)
    (lot,) = await codes_of(client, operator, 1, location="A1", quantity="10")
    # Device 1 moved it to B1 at 06:10 and counted 8; device 2, which saw version 1 too,
    # moved it to C1 earlier, at 06:05, counted 9, and dispensed 1.
    one = await push(
        client, operator,
        {"id": new_id(), "type": "move", "item": lot, "base_version": 1, "location": "B1",
         "occurred_at": at(10)},
        {"id": new_id(), "type": "quantity", "item": lot, "base_version": 2, "kind": "adjust",
         "reason": "count", "amount": "8", "occurred_at": at(11)},
    )  # fmt: skip
    assert [r["outcome"] for r in one["results"]] == ["applied", "applied"], one
    two = await push(
        client, operator,
        {"id": new_id(), "type": "move", "item": lot, "base_version": 1, "location": "C1",
         "occurred_at": at(5)},
        {"id": new_id(), "type": "quantity", "item": lot, "base_version": 1, "kind": "adjust",
         "reason": "count", "amount": "9", "occurred_at": at(6)},
        {"id": new_id(), "type": "quantity", "item": lot, "base_version": 1, "kind": "dispense",
         "amount": "1", "occurred_at": at(7)},
        device="hh-2",
    )  # fmt: skip
    move, count, dispense = two["results"]
    assert (move["outcome"], move["reason"], move["code"]) == ("conflict", "stale", "superseded")
    assert move["item"]["location"] == "B1"  # the server's record, as it is
    assert (count["outcome"], count["code"]) == ("conflict", "version_mismatch")
    assert Decimal(count["item"]["quantity"]) == 8
    assert dispense["outcome"] == "applied"  # amounts add up whatever the version
    assert Decimal(dispense["item"]["quantity"]) == 7
    # A later move by device time wins even on an old version.
    late = await push(
        client, operator,
        {"id": new_id(), "type": "move", "item": lot, "base_version": 1, "location": "C1",
         "occurred_at": at(30)},
    )  # fmt: skip
    assert late["results"][0]["outcome"] == "applied"
    assert (await item(client, operator, lot))["location"] == "C1"


async def test_nothing_needing_a_signature_is_pushed(
    client: httpx.AsyncClient, db: Database, operator: AppLogin
) -> None:
    (lot,) = await codes_of(client, operator, 1)
    answer = await push(
        client,
        operator,
        {"id": new_id(), "type": "scan", "scan": {
            "data": lot, "action": {"kind": "transition", "transition": "quarantine",
                                    "password": "secret"}}},
        {"id": new_id(), "type": "scan", "scan": {
            "data": lot, "action": {"kind": "transition", "transition": "quarantine"}}},
    )  # fmt: skip
    first, second = answer["results"]
    assert (first["outcome"], first["reason"], first["code"]) == (
        "rejected", "not_allowed", "signature_not_pushed",
    )  # fmt: skip
    assert second["outcome"] == "applied"
    assert second["item"]["status"] == "quarantine"


@pytest.mark.postgres_only
async def test_the_same_batch_sent_twice_at_once_is_applied_once(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "A1")
    lots = await codes_of(client, operator, 5, quantity="10")
    created = new_id()
    changes = [
        {"id": new_id(), "type": "quantity", "item": code, "kind": "dispense", "amount": "1"}
        for code in lots
    ] + [{"id": new_id(), "type": "create", "uuid": created, "record": {"type": "bag"}}]
    before = await events(db)
    answers = await asyncio.gather(*(push(client, operator, *changes) for _ in range(4)))
    assert all(a == answers[0] for a in answers)
    assert all(r["outcome"] == "applied" for r in answers[0]["results"])
    assert await events(db) == before + 6
    for code in lots:
        assert Decimal((await item(client, operator, code))["quantity"]) == 9
    async with db.session_scope("read") as session:
        rows = await session.scalar(select(func.count()).select_from(SyncChange))
    assert rows == 6


async def test_a_change_the_api_already_made_under_its_id_is_not_made_again(
    client: httpx.AsyncClient, db: Database, operator: AppLogin
) -> None:
    (lot,) = await codes_of(client, operator, 1, quantity="10")
    change = new_id()
    direct = await client.post(
        f"/api/v1/items/{lot}/quantity",
        json={"kind": "dispense", "amount": "1", "client_event_id": change},
        headers=operator.headers,
    )
    assert direct.status_code == 200
    before = await events(db)
    # The answer was lost; the device queued the dispense and pushes it under the same id.
    answer = await push(
        client,
        operator,
        {"id": change, "type": "quantity", "item": lot, "kind": "dispense", "amount": "1"},
    )
    (result,) = answer["results"]
    assert result["outcome"] == "applied"
    assert result["version"] == direct.json()["item"]["version"]
    assert await events(db) == before
    assert Decimal((await item(client, operator, lot))["quantity"]) == 9


async def test_a_change_qtrack_cannot_keep_as_json_is_refused_and_the_rest_applied(
    client: httpx.AsyncClient, operator: AppLogin, db: Database
) -> None:
    """What Python's JSON reader takes but a JSON column cannot hold (an integer beyond 64
    bits, an unpaired surrogate, NaN, nesting deeper than orjson writes) refuses that change
    as invalid, not the batch with a 500; the batch's other changes are applied."""
    (lot,) = await codes_of(client, operator, 1)
    good = new_id()
    ids = [new_id() for _ in range(4)]
    deep = "[" * 300 + "]" * 300
    changes = [
        f'{{"id":"{ids[0]}","type":"move","item":"{lot}","x":18446744073709551616}}',
        f'{{"id":"{ids[1]}","type":"move","item":"{lot}","note":"\\ud800"}}',
        f'{{"id":"{ids[2]}","type":"move","item":"{lot}","x":NaN}}',
        f'{{"id":"{ids[3]}","type":"move","item":"{lot}","x":{deep}}}',
        f'{{"id":"{good}","type":"transition","item":"{lot}","transition":"quarantine",'
        f'"occurred_at":"{at(0)}"}}',
    ]
    body = '{"device_id":"hh-1","changes":[' + ",".join(changes) + "]}"
    response = await client.post(
        PUSH,
        content=body.encode(),
        headers={**operator.headers, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [*ids, good]
    for result, why in zip(
        results, ["64 bits", "surrogate", "finite", "nested at most"], strict=False
    ):
        assert (result["outcome"], result["reason"], result["code"]) == (
            "rejected", "invalid", "validation_error",
        )  # fmt: skip
        assert why in result["message"]
    assert results[-1]["outcome"] == "applied"
    assert (await item(client, operator, lot))["status"] == "quarantine"
    async with db.session_scope("read") as session:
        kept = set((await session.scalars(select(SyncChange.change_id))).all())
    assert kept == {good}


@pytest.mark.postgres_only
async def test_batches_that_cross_over_the_same_items_are_retried_never_a_500(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    """Six devices dispense from the same six items at once, half of them in the opposite
    order. Each batch locks the items it names in id order first, so they wait for each
    other; should the database still stop one (a deadlock), it is answered 503
    `database_busy` with nothing of it applied. Never a 500; every change applied once."""
    await create_location(client, admin, "A1")
    lots = await codes_of(client, operator, 6, type="supply", quantity="50")
    busy = 0

    async def device(n: int, rounds: int) -> None:
        nonlocal busy
        for _ in range(rounds):
            order = lots if n % 2 == 0 else lots[::-1]
            changes = [
                {"id": new_id(), "type": "quantity", "item": code, "kind": "dispense",
                 "amount": "1", "occurred_at": at(0)}
                for code in order
            ]  # fmt: skip
            for _attempt in range(50):
                response = await client.post(
                    PUSH, json={"device_id": f"hh-{n}", "changes": changes},
                    headers=operator.headers,
                )  # fmt: skip
                if response.status_code != 503:
                    break
                assert response.json()["error"]["code"] == "database_busy"
                assert response.headers["Retry-After"] == "1"
                busy += 1
                await asyncio.sleep(random.uniform(0, 0.2))  # a client's jitter
            assert response.status_code == 200, response.text
            outcomes = [r["outcome"] for r in response.json()["results"]]
            assert outcomes == ["applied"] * 6

    await asyncio.gather(*(device(n, 4) for n in range(6)))
    for code in lots:
        assert Decimal((await item(client, operator, code))["quantity"]) == 50 - 6 * 4
    print(f"{busy} batches answered database_busy and sent again")
