"""Each change has one implementation (`items.create`, `items.changes`, `items.moves`,
`containers.service`), on the scan paths' terms: Core statements that answer from what they
read and wrote, never re-read. Whatever the edge (API, scan, CLI, pages, bulk), the answer
must be exactly what the read models say when the same things are read back afterwards."""

from typing import Any

import httpx

from qtrack.items.schemas import ChangeResult, ItemDetail
from tests.factories.accounts import PASSWORD
from tests.factories.items import full_lot_in_bag, register
from tests.items.conftest import Crew

_DETAIL_ONLY = ("status_label", "status_colour", "actions")


async def _read_back(
    client: httpx.AsyncClient, crew: Crew, code: str, *, archived: bool = False
) -> dict[str, Any]:
    """The item as the list endpoint shows it (the pydantic read model, from the ORM)."""
    response = await client.get(
        "/api/v1/items",
        params={"q": code, "archived": str(archived).lower()},
        headers=crew.admin.headers,
    )
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["code"] == code]
    return dict(item)


async def _history(client: httpx.AsyncClient, crew: Crew, code: object) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/items/{code}/events", headers=crew.admin.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_lookup_body_is_the_read_model_of_a_full_item(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    bag, lot = await full_lot_in_bag(client, crew.operator, bag_at="WH-A", lot_at="RACK-1")

    response = await client.get(f"/api/v1/items/{lot['code']}", headers=crew.operator.headers)
    assert response.status_code == 200
    body = response.json()
    assert response.headers["etag"] == f'"v{body["version"]}"'
    # Through the model and back: the same types and the same text for every value.
    assert ItemDetail.model_validate(body).model_dump(mode="json") == body
    assert list(body) == list(ItemDetail.model_fields)
    assert {k: v for k, v in body.items() if k not in _DETAIL_ONLY} == await _read_back(
        client, crew, str(lot["code"])
    )
    assert body["container"] == bag["code"]
    assert body["quantity"] == "25.125000"
    assert body["status_label"] == "Received"
    assert [a["name"] for a in body["actions"]] == ["quarantine"]

    by_id = await client.get(f"/api/v1/items/by-id/{body['id']}", headers=crew.viewer.headers)
    assert by_id.json() == {**body, "actions": []}  # a viewer may not change anything

    scanned = await client.post(
        "/api/v1/scan", json={"data": lot["code"]}, headers=crew.operator.headers
    )
    assert scanned.status_code == 200
    assert scanned.json()["item"] == {k: v for k, v in body.items() if k not in _DETAIL_ONLY}
    assert scanned.json()["actions"] == body["actions"]


async def test_change_answers_equal_what_is_read_back(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    lot = await register(client, crew.operator, type="material", name="Lot", location="WH-A")
    code = str(lot["code"])
    answers = []
    steps: list[tuple[Any, str, dict[str, Any]]] = [
        (
            crew.operator,
            f"/api/v1/items/{code}/transitions",
            {
                "transition": "quarantine",
                "client_event_id": "dev-1",
                "occurred_at": "2026-11-22T10:00:00.5+02:00",
                "latitude": 48.1,
                "longitude": 11.5,
            },
        ),
        (crew.qa, f"/api/v1/items/{code}/transitions", {"to": "under_test", "reason": "sampled"}),
        (
            crew.qa2,
            f"/api/v1/items/{code}/transitions",
            {"transition": "release", "password": PASSWORD},
        ),
        (crew.operator, f"/api/v1/items/{code}/move", {"location": "wh-b", "reason": "put away"}),
    ]
    for who, path, body in steps:
        response = await client.post(path, json=body, headers=who.headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert ChangeResult.model_validate(answer).model_dump(mode="json") == answer
        answers.append(answer)

    history = list(reversed(await _history(client, crew, code)))[1:]  # oldest first, no "created"
    assert [a["events"][0] for a in answers] == history
    assert answers[0]["events"][0]["occurred_at"] == "2026-11-22T08:00:00.500000Z"
    assert answers[2]["events"][0]["signature"]["by"] == "qa2"
    assert answers[-1]["item"] == await _read_back(client, crew, code)
    assert answers[-1]["item"]["location"] == "WH-B"


async def test_moving_a_container_answers_with_its_contents_events(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    bag = await register(client, crew.operator, type="bag", name="Bag", location="WH-A")
    inner = await register(client, crew.operator, type="material", name="In", location="RACK-1")
    packed = await client.post(
        f"/api/v1/items/{inner['code']}/pack",
        json={"container": bag["code"]},
        headers=crew.operator.headers,
    )
    assert packed.status_code == 200, packed.text

    moved = await client.post(
        "/api/v1/scan",
        json={"data": bag["code"], "action": {"kind": "move", "location": "WH-B"}},
        headers=crew.operator.headers,
    )
    assert moved.status_code == 200, moved.text
    result = moved.json()["result"]
    assert [(e["item"], e["after"]["location"]) for e in result["events"]] == [
        (bag["code"], "WH-B"),
        (inner["code"], "WH-B"),
    ]
    assert result["events"][0] == (await _history(client, crew, str(bag["code"])))[0]
    assert result["events"][1] == (await _history(client, crew, str(inner["code"])))[0]
    assert result["item"] == await _read_back(client, crew, str(bag["code"]))
    assert (await _read_back(client, crew, str(inner["code"])))["location"] == "WH-B"
    stats = (await client.get("/api/v1/stats", headers=crew.admin.headers)).json()
    assert {r["location"]: r["count"] for r in stats["by_location"]} == {"WH-B": 2}


async def test_every_kind_of_change_answers_what_is_read_back(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    bag = await register(client, crew.operator, type="bag", name="Bag", location="WH-B")
    created = await client.post(
        "/api/v1/items",
        json={"type": "material", "name": "Lot", "quantity": "10", "location": "WH-A"},
        headers=crew.operator.headers,
    )
    assert created.status_code == 201, created.text
    lot = created.json()["items"][0]
    code = lot["code"]
    assert lot == await _read_back(client, crew, code)
    assert (await _history(client, crew, code))[0]["after"]["quantity"] == "10"

    tag = (await client.get(f"/api/v1/items/{code}", headers=crew.qa.headers)).headers["etag"]
    steps: list[tuple[Any, str, str, dict[str, Any], dict[str, str]]] = [
        (crew.qa, "PATCH", "", {"batch": "B-9", "weight_kg": "2.5"}, {"If-Match": tag}),
        (crew.operator, "POST", "/quantity", {"kind": "dispense", "amount": "2.5"}, {}),
        (crew.operator, "POST", "/pack", {"container": bag["code"]}, {}),
        (crew.operator, "POST", "/unpack", {"reason": "wrong bag"}, {}),
        (crew.operator, "POST", "/transitions", {"transition": "quarantine"}, {}),
        (crew.operator, "POST", "/move", {"location": "RACK-1"}, {}),
        (crew.qa, "POST", "/archive", {"reason": "spilt"}, {}),
    ]
    for who, method, path, body, headers in steps:
        response = await client.request(
            method,
            f"/api/v1/items/{code}{path}",
            json=body,
            headers={**who.headers, **headers},
        )
        assert response.status_code == 200, (path, response.text)
        answer = response.json()
        assert ChangeResult.model_validate(answer).model_dump(mode="json") == answer
        archived = path == "/archive"
        assert answer["item"] == await _read_back(client, crew, code, archived=archived), path
        for event in answer["events"]:  # each is its item's newest, as its history shows it
            assert event == (await _history(client, crew, event["item"]))[0], path
    assert [e["type"] for e in await _history(client, crew, bag["code"])] == [
        "content_removed",
        "content_added",
        "created",
    ]
