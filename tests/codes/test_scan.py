"""POST /api/v1/scan: any scanned string resolved, and scan-and-act in one request."""

from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, create_user, login
from tests.factories.items import register

GTIN = "09506000134352"
GS1_SCAN = f"]d201{GTIN}10ABC123\x1d17271200"


@pytest.fixture
async def people(client: httpx.AsyncClient, db: Database) -> dict[str, AppLogin]:
    for name, role in [("op", "operator"), ("vic", "viewer"), ("boss", "admin")]:
        await create_user(db, name, role)
    return {name: await login(client, name) for name in ("op", "vic", "boss")}


async def _scan(
    client: httpx.AsyncClient, who: AppLogin, data: str, **extra: Any
) -> httpx.Response:
    return await client.post("/api/v1/scan", json={"data": data, **extra}, headers=who.headers)


async def test_every_way_of_naming_an_item_finds_it(
    client: httpx.AsyncClient, people: dict[str, AppLogin]
) -> None:
    op = people["op"]
    item = await register(client, op, type="material", gtin=GTIN, batch="ABC123")
    label = (await client.get(f"/api/v1/items/{item['code']}/label", headers=op.headers)).json()
    for data in (
        label["url"],
        label["token"],
        item["code"].lower(),
        f'{{"id": "{item["code"]}", "v": 1}}',
        GS1_SCAN,
        f"(01){GTIN}(10)ABC123",
        f"https://id.gs1.org/01/{GTIN}/10/ABC123?17=271231",
        f"  {item['code']}\r\n",
    ):
        response = await _scan(client, op, data)
        assert response.status_code == 200, (data, response.text)
        body = response.json()
        assert body["matched"] == "item", data
        assert body["item"]["code"] == item["code"], data
        assert [a["name"] for a in body["actions"]] == ["quarantine"], data
        assert "move" in body["can"], data
    first = (await _scan(client, op, label["url"])).json()
    assert first["kind"] == "qtrack_token"
    assert first["label_status"] == "valid"


async def test_locations_unknowns_and_bad_labels(
    client: httpx.AsyncClient, people: dict[str, AppLogin]
) -> None:
    boss, op = people["boss"], people["op"]
    await client.post(
        "/api/v1/locations",
        json={"code": "DOCK-1", "name": "Dock 1", "kind": "zone"},
        headers=boss.headers,
    )
    location = (await _scan(client, op, "dock-1")).json()
    assert location["matched"] == "location"
    assert location["location"] == {"code": "DOCK-1", "name": "Dock 1", "kind": "zone"}

    nothing = (await _scan(client, op, "hello there, scanner")).json()
    assert nothing["matched"] == "none"
    assert nothing["kind"] == "text"

    item = await register(client, op, type="bag")
    old = (await client.get(f"/api/v1/items/{item['code']}/label", headers=op.headers)).json()
    await client.post(f"/api/v1/items/{item['code']}/labels", headers=op.headers)
    revoked = (await _scan(client, op, old["url"])).json()
    assert revoked["label_status"] == "revoked"
    assert revoked["matched"] == "none"
    assert revoked["item"] is None


@pytest.mark.parametrize(
    "data",
    ["010950600013435310X", "]d20109506000134353", "HTTP://127.0.0.1:8000/Q/ABC"],
)
async def test_invalid_data_is_refused_with_the_reason(
    client: httpx.AsyncClient, people: dict[str, AppLogin], data: str
) -> None:
    response = await _scan(client, people["op"], data)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "scan_invalid"
    assert error["details"]["reason"]


async def test_unknown_gs1_is_offered_for_receipt_and_received(
    client: httpx.AsyncClient, people: dict[str, AppLogin]
) -> None:
    op, vic = people["op"], people["vic"]
    offered = (await _scan(client, op, GS1_SCAN)).json()
    assert offered["matched"] == "none"
    assert offered["offers"] == ["receive"]
    assert offered["gs1"]["batch"] == "ABC123"
    assert (await _scan(client, vic, GS1_SCAN)).json()["offers"] == []

    received = await _scan(
        client, op, GS1_SCAN, action={"kind": "receive", "type": "material", "name": "Lactose"}
    )
    assert received.status_code == 200, received.text
    item = received.json()["result"]["item"]
    assert item["gtin"] == GTIN
    assert item["batch"] == "ABC123"
    assert item["expiry_raw"] == "271200"
    assert item["expiry_on"] == "2027-12-31"
    # The answer says what was done, and offers nothing more.
    assert received.json()["message"] == f"Received {item['code']}"
    assert received.json()["matched"] == "item"
    assert received.json()["offers"] == []
    assert [e["type"] for e in received.json()["result"]["events"]] == ["created"]
    again = (await _scan(client, op, GS1_SCAN)).json()
    assert again["matched"] == "item"
    assert again["item"]["code"] == item["code"]


async def test_a_receive_with_a_misspelt_field_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, people: dict[str, AppLogin]
) -> None:
    op = people["op"]
    receive = {"kind": "receive", "type": "material", "name": "Lactose"}
    for wrong in ({**receive, "quantity": "5"}, {**receive, "amount": "5", "unit": "kg"}):
        refused = await _scan(client, op, GS1_SCAN, action=wrong)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_error"
    misplaced = await _scan(client, op, GS1_SCAN, action=receive, quantity="5")
    assert misplaced.status_code == 422
    listed = await client.get("/api/v1/items", params={"gtin": GTIN}, headers=op.headers)
    assert listed.json()["items"] == []

    received = await _scan(client, op, GS1_SCAN, action={**receive, "amount": "5"})
    assert received.status_code == 200, received.text
    item = received.json()["result"]["item"]
    assert item["quantity"] in ("5", "5.000000")
    assert received.json()["message"] == f"Received {item['code']} with 5 kg"
    assert received.json()["result"]["events"][0]["after"]["quantity"] == "5"


async def test_scan_and_act(client: httpx.AsyncClient, people: dict[str, AppLogin]) -> None:
    op, boss, vic = people["op"], people["boss"], people["vic"]
    await client.post(
        "/api/v1/locations",
        json={"code": "SHELF-9", "name": "Shelf 9", "kind": "shelf"},
        headers=boss.headers,
    )
    bag = await register(client, op, type="bag")
    lot = await register(client, op, type="supply", quantity="10")

    moved = await _scan(
        client,
        op,
        lot["code"],
        action={"kind": "move", "location": "SHELF-9"},
        client_event_id="h1-1",
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["result"]["item"]["location"] == "SHELF-9"
    replay = await _scan(
        client,
        op,
        lot["code"],
        action={"kind": "move", "location": "SHELF-9"},
        client_event_id="h1-1",
    )
    assert replay.json() == moved.json()
    assert replay.headers["idempotent-replayed"] == "true"

    packed = await _scan(client, op, lot["code"], action={"kind": "pack", "container": bag["code"]})
    assert packed.json()["result"]["item"]["container"] == bag["code"]
    dispensed = await _scan(client, op, lot["code"], action={"kind": "dispense", "amount": "3"})
    assert dispensed.json()["result"]["item"]["quantity"] in ("7", "7.000000")
    assert dispensed.json()["message"] == f"Dispensed 3 of {lot['code']}; 7 pcs left"
    zero = await _scan(client, op, lot["code"], action={"kind": "dispense", "amount": "0"})
    assert zero.status_code == 422
    sealed = await _scan(
        client, op, bag["code"], action={"kind": "transition", "transition": "seal"}
    )
    assert sealed.json()["result"]["item"]["status"] == "sealed"

    too_much = await _scan(client, op, lot["code"], action={"kind": "dispense", "amount": "30"})
    assert too_much.status_code == 409
    missing = await _scan(client, op, lot["code"], action={"kind": "move"})
    assert missing.status_code == 422
    nothing = await _scan(
        client, op, "NO-SUCH-THING", action={"kind": "move", "location": "SHELF-9"}
    )
    assert nothing.status_code == 422
    assert nothing.json()["error"]["code"] == "nothing_to_act_on"
    forbidden = await _scan(
        client, vic, lot["code"], action={"kind": "move", "location": "SHELF-9"}
    )
    assert forbidden.status_code == 403
    history = (await client.get(f"/api/v1/items/{lot['code']}/events", headers=op.headers)).json()[
        "items"
    ]
    assert [e["type"] for e in history] == ["quantity_changed", "packed", "moved", "created"]


@pytest.mark.parametrize("data", ["", "x" * 5000])
async def test_hostile_scan_bodies(
    client: httpx.AsyncClient, people: dict[str, AppLogin], data: str
) -> None:
    response = await _scan(client, people["op"], data)
    assert response.status_code == 422
