"""Packing and unpacking: contents, weights, closed containers, and a container's own history."""

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.factories.items import register
from tests.items.conftest import Crew


async def _post(
    client: httpx.AsyncClient, path: str, who: Any, body: Mapping[str, object]
) -> httpx.Response:
    return await client.post(path, json=body, headers=who.headers)


async def _events(client: httpx.AsyncClient, crew: Crew, code: object) -> list[dict[str, Any]]:
    """An item's history, oldest first."""
    response = await client.get(f"/api/v1/items/{code}/events", headers=crew.viewer.headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


async def _item(client: httpx.AsyncClient, crew: Crew, code: object) -> dict[str, Any]:
    response = await client.get(f"/api/v1/items/{code}", headers=crew.viewer.headers)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()
    return item


async def _seal(client: httpx.AsyncClient, crew: Crew, code: object) -> None:
    sealed = await _post(
        client, f"/api/v1/items/{code}/transitions", crew.operator, {"transition": "seal"}
    )
    assert sealed.status_code == 200, sealed.text


async def test_moves_packing_and_weights(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    outer = await register(
        client, crew.operator, type="bag", name="Outer", weight_kg="0.5", location="WH-A"
    )
    inner = await register(client, crew.operator, type="bag", name="Inner", weight_kg="0.25")
    parcel = await register(client, crew.operator, type="material", name="Parcel", weight_kg="2")

    assert (
        await _post(
            client,
            f"/api/v1/items/{inner['code']}/pack",
            crew.operator,
            {"container": outer["code"]},
        )
    ).status_code == 200
    packed = await _post(
        client, f"/api/v1/items/{parcel['code']}/pack", crew.operator, {"container": inner["code"]}
    )
    assert packed.status_code == 200
    assert packed.json()["item"]["container"] == inner["code"]

    cycle = await _post(
        client, f"/api/v1/items/{outer['code']}/pack", crew.operator, {"container": inner["code"]}
    )
    assert cycle.status_code == 409
    assert cycle.json()["error"]["code"] == "container_cycle"
    itself = await _post(
        client, f"/api/v1/items/{outer['code']}/pack", crew.operator, {"container": outer["code"]}
    )
    assert itself.json()["error"]["code"] == "container_cycle"
    not_box = await _post(
        client, f"/api/v1/items/{outer['code']}/pack", crew.operator, {"container": parcel["code"]}
    )
    assert not_box.json()["error"]["code"] == "not_a_container"

    contents = (
        await client.get(f"/api/v1/items/{outer['code']}/contents", headers=crew.viewer.headers)
    ).json()
    assert [i["code"] for i in contents["items"]] == [inner["code"]]
    assert float(contents["total_weight_kg"]) == pytest.approx(2.75)

    moved = await _post(
        client, f"/api/v1/items/{outer['code']}/move", crew.operator, {"location": "WH-B"}
    )
    assert moved.status_code == 200
    assert [e["item"] for e in moved.json()["events"]] == [
        outer["code"],
        inner["code"],
        parcel["code"],
    ]
    for code in (inner["code"], parcel["code"]):
        assert (await client.get(f"/api/v1/items/{code}", headers=crew.viewer.headers)).json()[
            "location"
        ] == "WH-B"

    listed = (
        await client.get("/api/v1/items", params={"location": "PLANT"}, headers=crew.viewer.headers)
    ).json()
    assert {i["code"] for i in listed["items"]} == {outer["code"], inner["code"], parcel["code"]}
    in_box = (
        await client.get(
            "/api/v1/items", params={"container": str(inner["code"])}, headers=crew.viewer.headers
        )
    ).json()
    assert [i["code"] for i in in_box["items"]] == [parcel["code"]]

    out = await _post(client, f"/api/v1/items/{parcel['code']}/unpack", crew.operator, {})
    assert out.json()["item"]["container"] is None
    assert out.json()["item"]["location"] == "WH-B"


async def test_a_containers_history_shows_what_went_in_and_came_out(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    bag = await register(client, crew.operator, type="bag", name="Bag", location="WH-A")
    other = await register(client, crew.operator, type="bag", name="Other", location="WH-B")
    lot = await register(client, crew.operator, type="material", name="Lot", location="RACK-1")

    packed = await _post(
        client, f"/api/v1/items/{lot['code']}/pack", crew.operator, {"container": bag["code"]}
    )
    assert packed.status_code == 200, packed.text
    # The answer lists every event the change recorded: the lot's, then the bag's.
    assert [(e["item"], e["type"]) for e in packed.json()["events"]] == [
        (lot["code"], "packed"),
        (bag["code"], "content_added"),
    ]
    assert packed.json()["events"][0]["before"] == {"container": None, "location": "RACK-1"}
    assert packed.json()["events"][0]["after"] == {"container": bag["code"], "location": "WH-A"}
    repacked = await _post(
        client, f"/api/v1/items/{lot['code']}/pack", crew.operator, {"container": other["code"]}
    )
    assert repacked.status_code == 200, repacked.text
    out = await _post(client, f"/api/v1/items/{lot['code']}/unpack", crew.operator, {"reason": "x"})
    assert out.status_code == 200, out.text
    moved_in = await _post(
        client, f"/api/v1/items/{lot['code']}/pack", crew.operator, {"container": bag["code"]}
    )
    assert moved_in.status_code == 200
    taken = await _post(
        client, f"/api/v1/items/{lot['code']}/move", crew.operator, {"location": "RACK-1"}
    )
    assert taken.status_code == 200, taken.text
    assert [(e["item"], e["type"]) for e in taken.json()["events"]] == [
        (lot["code"], "moved"),
        (bag["code"], "content_removed"),
    ]

    assert [(e["type"], e["after"]) for e in await _events(client, crew, bag["code"])] == [
        ("created", {"code": bag["code"], "status": "open", "name": "Bag", "location": "WH-A",
                     "unit": "pcs"}),
        ("content_added", {"item": lot["code"]}),
        ("content_removed", {"item": lot["code"]}),
        ("content_added", {"item": lot["code"]}),
        ("content_removed", {"item": lot["code"]}),
    ]  # fmt: skip
    assert [(e["type"], e["after"]) for e in (await _events(client, crew, other["code"]))[1:]] == [
        ("content_added", {"item": lot["code"]}),
        ("content_removed", {"item": lot["code"]}),
    ]
    # A container's own events leave its version (what an edit must name) as it was.
    assert (await _item(client, crew, bag["code"]))["version"] == 1
    page = await client.get(f"/items/{bag['code']}", headers=crew.viewer.headers)
    assert page.status_code == 200
    assert page.text.count("content added") == 2
    assert "Chain verified: 5 events, intact" in page.text


@pytest.mark.parametrize("state", ["sealed", "dispatched"])
async def test_a_closed_container_takes_nothing_in_and_lets_nothing_out(
    client: httpx.AsyncClient, crew: Crew, site: list[str], state: str
) -> None:
    bag = await register(client, crew.operator, type="bag", name="Outbound", location="WH-A")
    spare = await register(client, crew.operator, type="bag", name="Spare", location="WH-A")
    inside = await register(client, crew.operator, type="material", name="In", location="WH-A")
    outside = await register(client, crew.operator, type="material", name="Out", location="WH-B")
    assert (
        await _post(
            client,
            f"/api/v1/items/{inside['code']}/pack",
            crew.operator,
            {"container": bag["code"]},
        )
    ).status_code == 200
    await _seal(client, crew, bag["code"])
    if state == "dispatched":
        dispatched = await _post(
            client,
            f"/api/v1/items/{bag['code']}/transitions",
            crew.admin,
            {"transition": "dispatch"},
        )
        assert dispatched.status_code == 200, dispatched.text
    before = {c: await _events(client, crew, c) for c in (bag["code"], inside["code"])}

    refused = [
        await _post(
            client, f"/api/v1/items/{outside['code']}/pack", crew.operator,
            {"container": bag["code"]},
        ),
        await _post(client, f"/api/v1/items/{inside['code']}/unpack", crew.operator, {}),
        await _post(
            client, f"/api/v1/items/{inside['code']}/move", crew.operator, {"location": "WH-B"}
        ),
        await _post(
            client, f"/api/v1/items/{inside['code']}/pack", crew.operator,
            {"container": spare["code"]},
        ),
        await client.post(
            "/api/v1/scan",
            json={"data": outside["code"], "action": {"kind": "pack", "container": bag["code"]}},
            headers=crew.operator.headers,
        ),
    ]  # fmt: skip
    for response in refused:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "container_closed"
        assert error["details"] == {"container": bag["code"], "status": state}
        assert bag["code"] in error["message"]
    # Nothing was written: the same histories, the lot still inside, the other outside.
    assert {c: await _events(client, crew, c) for c in before} == before
    assert (await _item(client, crew, inside["code"]))["container"] == bag["code"]
    assert (await _item(client, crew, outside["code"]))["container"] is None

    # The closed bag itself still moves, and what it holds goes with it.
    moved = await _post(
        client, f"/api/v1/items/{bag['code']}/move", crew.operator, {"location": "WH-B"}
    )
    assert moved.status_code == 200, moved.text
    assert (await _item(client, crew, inside["code"]))["location"] == "WH-B"


async def test_whether_a_state_is_closed_is_the_workflows_data(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    bag = await register(client, crew.operator, type="bag", name="Bag", location="WH-A")
    lot = await register(client, crew.operator, type="material", name="Lot", location="WH-A")
    await _seal(client, crew, bag["code"])
    reopened = await _post(
        client, f"/api/v1/items/{bag['code']}/transitions", crew.operator,
        {"transition": "reopen", "reason": "one more"},
    )  # fmt: skip
    assert reopened.status_code == 200, reopened.text
    pack = {"container": bag["code"]}
    assert (
        await _post(client, f"/api/v1/items/{lot['code']}/pack", crew.operator, pack)
    ).status_code == 200
    assert (
        await _post(client, f"/api/v1/items/{lot['code']}/unpack", crew.operator, {})
    ).status_code == 200

    workflow = await client.get("/api/v1/workflows/bag", headers=crew.admin.headers)
    assert workflow.status_code == 200, workflow.text
    definition = workflow.json()["definition"]
    assert {s["key"]: s["closed"] for s in definition["states"]} == {
        "open": False,
        "sealed": True,
        "dispatched": True,
        "delivered": True,
    }
    for s in definition["states"]:
        s["closed"] = s["key"] == "open"  # an admin's choice: open bags are closed now
    changed = await client.put(
        "/api/v1/workflows/bag", json={"definition": definition}, headers=crew.admin.headers
    )
    assert changed.status_code == 200, changed.text
    refused = await _post(client, f"/api/v1/items/{lot['code']}/pack", crew.operator, pack)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "container_closed"
