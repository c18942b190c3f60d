"""Registering, finding and changing items: every change is one event; rules come from data."""

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from qtrack.core.db import Database
from qtrack.history import verify
from qtrack.inventory import service as inventory_service
from qtrack.items.models import Item
from tests.factories.accounts import PASSWORD
from tests.factories.items import register
from tests.items.conftest import Crew


async def _post(
    client: httpx.AsyncClient, path: str, who: object, body: Mapping[str, object]
) -> httpx.Response:
    return await client.post(path, json=body, headers=who.headers)  # type: ignore[attr-defined]


async def _events(client: httpx.AsyncClient, crew: Crew, code: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/items/{code}/events", headers=crew.admin.headers)
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["items"]
    return events


async def test_register_assigns_sequential_codes_and_records_creation(
    client: httpx.AsyncClient, crew: Crew, site: list[str], db: Database
) -> None:
    response = await client.post(
        "/api/v1/items",
        json={
            "type": "material",
            "name": "Lactose",
            "batch": "L-77",
            "quantity": "25.5",
            "location": "rack-1",
            "count": 3,
            "expiry_raw": "271100",
        },
        headers=crew.operator.headers,
    )
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [i["code"] for i in items] == ["MAT-000001", "MAT-000002", "MAT-000003"]
    first = items[0]
    assert first["status"] == "received"
    assert first["location"] == "RACK-1"
    assert first["quantity"] == "25.500000" or first["quantity"] == "25.5"
    assert first["unit"] == "kg"
    assert first["expiry_on"] == "2027-11-30"  # day 00: the last day of the month
    assert first["expiry_raw"] == "271100"

    history = await _events(client, crew, "MAT-000002")
    assert [e["type"] for e in history] == ["created"]
    assert history[0]["actor"] == "op"
    assert history[0]["after"]["batch"] == "L-77"

    stats = (await client.get("/api/v1/stats", headers=crew.viewer.headers)).json()
    assert {"type": "material", "status": "received", "count": 3} in stats["by_type_status"]
    assert {"location": "RACK-1", "count": 3} in stats["by_location"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": "nope"}, "item_type_not_found"),
        ({"type": "material", "location": "NOWHERE"}, "location_not_found"),
        ({"type": "bag", "quantity": "3"}, "validation_error"),
        ({"type": "material", "gtin": "04012345678900"}, "validation_error"),
        ({"type": "material", "expiry_raw": "271340"}, "validation_error"),
        ({"type": "material", "count": 1001}, "validation_error"),
        ({"type": "material", "quantity": "-1"}, "validation_error"),
        ({"type": "material", "colour": "red"}, "validation_error"),
        ({"type": "material", "attributes": {"n": 2**63}}, "validation_error"),
        ({"type": "material", "attributes": {"deep": [{"n": -(2**63) - 1}]}}, "validation_error"),
    ],
)
async def test_bad_registrations_are_refused_whole(
    client: httpx.AsyncClient,
    crew: Crew,
    site: list[str],
    db: Database,
    fields: dict[str, object],
    code: str,
) -> None:
    response = await client.post("/api/v1/items", json=fields, headers=crew.operator.headers)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code
    async with db.session_scope("read") as session:
        assert (await session.scalars(select(Item))).all() == []


async def test_material_lot_through_quarantine_test_and_release(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    lot = await register(client, crew.operator, type="material", name="API-1")
    code = lot["code"]
    detail = (await client.get(f"/api/v1/items/{code}", headers=crew.operator.headers)).json()
    assert [a["name"] for a in detail["actions"]] == ["quarantine"]

    assert (
        await _post(
            client, f"/api/v1/items/{code}/transitions", crew.operator, {"transition": "quarantine"}
        )
    ).status_code == 200
    assert (
        await _post(client, f"/api/v1/items/{code}/transitions", crew.qa, {"to": "under_test"})
    ).status_code == 200

    # The operator may not release; the workflow says item.release.
    denied = await _post(
        client,
        f"/api/v1/items/{code}/transitions",
        crew.operator,
        {"transition": "release", "password": PASSWORD},
    )
    assert denied.status_code == 403
    # Release needs an e-signature...
    unsigned = await _post(
        client, f"/api/v1/items/{code}/transitions", crew.qa2, {"transition": "release"}
    )
    assert unsigned.status_code == 422
    assert unsigned.json()["error"]["code"] == "signature_required"
    wrong = await _post(
        client,
        f"/api/v1/items/{code}/transitions",
        crew.qa2,
        {"transition": "release", "password": "not it"},
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "signature_failed"
    # ...and someone other than who started the test.
    same = await _post(
        client,
        f"/api/v1/items/{code}/transitions",
        crew.qa,
        {"transition": "release", "password": PASSWORD},
    )
    assert same.status_code == 409
    assert same.json()["error"]["code"] == "same_person"

    released = await _post(
        client,
        f"/api/v1/items/{code}/transitions",
        crew.qa2,
        {"transition": "release", "password": PASSWORD},
    )
    assert released.status_code == 200, released.text
    result = released.json()
    assert result["item"]["status"] == "released"
    event = result["events"][0]
    assert event["signature"]["by"] == "qa2"
    assert event["signature"]["meaning"] == "QA release"
    assert event["before"] == {"status": "under_test"}

    history = await _events(client, crew, str(code))
    assert [e["type"] for e in history] == ["status_changed"] * 3 + ["created"]
    assert [e["seq"] for e in history] == [4, 3, 2, 1]
    assert history[0]["prev_hash"] == history[1]["hash"]

    refused = await _post(
        client, f"/api/v1/items/{code}/transitions", crew.qa, {"transition": "start_test"}
    )
    assert refused.status_code == 409
    body = refused.json()["error"]
    assert body["code"] == "transition_not_allowed"
    assert {a["name"] for a in body["details"]["allowed"]} == {"dispense", "consume", "expire"}


async def test_reason_required_and_unknown_item(client: httpx.AsyncClient, crew: Crew) -> None:
    lot = await register(client, crew.operator, type="material")
    code = lot["code"]
    await _post(client, f"/api/v1/items/{code}/transitions", crew.qa, {"transition": "quarantine"})
    missing = await _post(
        client, f"/api/v1/items/{code}/transitions", crew.qa, {"transition": "expire"}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "reason_required"
    ok = await _post(
        client,
        f"/api/v1/items/{code}/transitions",
        crew.qa,
        {"transition": "expire", "reason": "past date"},
    )
    assert ok.status_code == 200
    assert ok.json()["events"][0]["reason"] == "past date"
    unknown = await _post(
        client, "/api/v1/items/MAT-999999/transitions", crew.qa, {"transition": "expire"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "item_not_found"
    both = await _post(
        client, f"/api/v1/items/{code}/transitions", crew.qa, {"transition": "x", "to": "y"}
    )
    assert both.status_code == 422


async def test_quantities_never_go_below_zero(client: httpx.AsyncClient, crew: Crew) -> None:
    lot = await register(client, crew.operator, type="material", quantity="10")
    path = f"/api/v1/items/{lot['code']}/quantity"
    assert (await _post(client, path, crew.operator, {"kind": "dispense", "amount": "4"})).json()[
        "item"
    ]["quantity"] in ("6", "6.000000")
    too_much = await _post(client, path, crew.operator, {"kind": "dispense", "amount": "6.5"})
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "insufficient_quantity"
    no_reason = await _post(client, path, crew.operator, {"kind": "adjust", "amount": "5"})
    assert no_reason.status_code == 422
    counted = await _post(
        client, path, crew.operator, {"kind": "adjust", "amount": "5", "reason": "stock count"}
    )
    assert counted.status_code == 200
    assert counted.json()["events"][0]["after"]["kind"] == "adjust"
    viewer = await _post(client, path, crew.viewer, {"kind": "dispense", "amount": "1"})
    assert viewer.status_code == 403
    bag = await register(client, crew.operator, type="bag")
    untracked = await _post(
        client,
        f"/api/v1/items/{bag['code']}/quantity",
        crew.operator,
        {"kind": "receive", "amount": "1"},
    )
    assert untracked.json()["error"]["code"] == "quantity_not_tracked"


async def test_attributes_carry_64_bit_integers_and_finite_numbers_only(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    """The widest integers an event's hash and the answers can carry are kept as they are;
    one beyond them, or NaN or Infinity (Python's JSON reader takes both), is a 422, where
    they were a 500."""
    widest = {"max": 2**63 - 1, "min": -(2**63), "list": [1.5, {"n": 2**63 - 1}]}
    lot = await register(client, crew.operator, type="material", attributes=widest)
    path = f"/api/v1/items/{lot['code']}"
    read = await client.get(path, headers=crew.qa.headers)
    assert read.status_code == 200
    assert read.json()["attributes"] == widest
    json_headers = {**crew.operator.headers, "content-type": "application/json"}
    for raw in (b'{"n": NaN}', b'{"n": [Infinity]}', b'{"n": {"m": -Infinity}}'):
        refused = await client.post(
            "/api/v1/items",
            content=b'{"type": "material", "attributes": ' + raw + b"}",
            headers=json_headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_error"
    edit = await client.patch(
        path,
        json={"attributes": {"n": 2**64}},
        headers={**crew.qa.headers, "If-Match": read.headers["etag"]},
    )
    assert edit.status_code == 422, edit.text
    assert (await client.get(path, headers=crew.qa.headers)).json()["attributes"] == widest
    assert [e["type"] for e in await _events(client, crew, lot["code"])] == ["created"]


async def test_edit_needs_the_current_version(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    lot = await register(client, crew.operator, type="material", name="Old name")
    path = f"/api/v1/items/{lot['code']}"
    read = await client.get(path, headers=crew.qa.headers)
    tag = read.headers["etag"]
    missing = await client.patch(path, json={"name": "New"}, headers=crew.qa.headers)
    assert missing.status_code == 428
    ok = await client.patch(
        path, json={"name": "New", "batch": "B-1"}, headers={**crew.qa.headers, "If-Match": tag}
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != tag
    assert ok.json()["events"][0]["before"] == {"name": "Old name", "batch": None}
    stale = await client.patch(
        path, json={"name": "Newer"}, headers={**crew.qa.headers, "If-Match": tag}
    )
    assert stale.status_code == 412
    assert (await client.get(path, headers=crew.qa.headers)).json()["name"] == "New"
    garbage = await client.patch(
        path, json={"name": "x"}, headers={**crew.qa.headers, "If-Match": "nonsense"}
    )
    assert garbage.status_code == 412


async def test_archive_leaves_counts_and_refuses_changes(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    lot = await register(client, crew.operator, type="material")
    path = f"/api/v1/items/{lot['code']}"
    assert (
        await _post(client, f"{path}/archive", crew.qa, {"reason": "entered twice"})
    ).status_code == 200
    stats = (await client.get("/api/v1/stats", headers=crew.viewer.headers)).json()
    assert stats["total"] == 0
    refused = await _post(client, f"{path}/transitions", crew.qa, {"transition": "quarantine"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "item_archived"
    assert (await client.get("/api/v1/items", headers=crew.viewer.headers)).json()["items"] == []
    archived = (
        await client.get("/api/v1/items", params={"archived": True}, headers=crew.viewer.headers)
    ).json()
    assert [i["code"] for i in archived["items"]] == [lot["code"]]


async def test_retry_with_the_same_client_event_id_changes_nothing(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    lot = await register(client, crew.operator, type="material")
    path = f"/api/v1/items/{lot['code']}/transitions"
    body = {"transition": "quarantine", "client_event_id": "dev1-0001"}
    first = await _post(client, path, crew.operator, body)
    second = await _post(client, path, crew.operator, body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len(await _events(client, crew, str(lot["code"]))) == 2
    reused = await _post(
        client, path, crew.operator, {"transition": "start_test", "client_event_id": "dev1-0001"}
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


async def test_concurrent_retries_apply_once(client: httpx.AsyncClient, crew: Crew) -> None:
    lot = await register(client, crew.operator, type="material")
    path = f"/api/v1/items/{lot['code']}/transitions"
    headers = {**crew.operator.headers, "Idempotency-Key": "k-42"}
    responses = await asyncio.gather(
        *(client.post(path, json={"transition": "quarantine"}, headers=headers) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.text for r in responses}) == 1
    assert len(await _events(client, crew, str(lot["code"]))) == 2


@pytest.mark.postgres_only
async def test_twins_of_a_failed_signature_each_get_its_answer(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    """Three releases sent at once under one key with a wrong password: the first fails and
    keeps its record of the failure; each twin then runs for real and fails the same way (it
    was a generic 409 conflict). The same key with the right password then releases."""
    lot = await register(client, crew.operator, type="material")
    path = f"/api/v1/items/{lot['code']}/transitions"
    assert (await _post(client, path, crew.operator, {"transition": "quarantine"})).is_success
    assert (await _post(client, path, crew.qa, {"to": "under_test"})).is_success
    headers = {**crew.qa2.headers, "Idempotency-Key": "release-1"}
    wrong = {"transition": "release", "password": "not it"}
    answers = await asyncio.gather(
        *(client.post(path, json=wrong, headers=headers) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [403] * 3, [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers} == {"signature_failed"}
    right = {"transition": "release", "password": PASSWORD}
    released = await client.post(path, json=right, headers=headers)
    assert released.status_code == 200, released.text
    assert released.json()["item"]["status"] == "released"


async def test_twenty_concurrent_transitions(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    lot = await register(client, crew.operator, type="material")
    path = f"/api/v1/items/{lot['code']}/transitions"
    responses = await asyncio.gather(
        *(
            client.post(path, json={"transition": "quarantine"}, headers=crew.operator.headers)
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19
    async with db.session_scope("read") as session:
        report = await verify.verify_chains(session)
        assert report.intact, report.broken
        assert report.events == 2
        assert await inventory_service.recount(session) == await inventory_service.maintained(
            session
        )


async def test_history_and_feed_pages(client: httpx.AsyncClient, crew: Crew) -> None:
    lot = await register(client, crew.operator, type="supply", quantity="50")
    for n in range(5):
        await _post(
            client,
            f"/api/v1/items/{lot['code']}/quantity",
            crew.operator,
            {"kind": "dispense", "amount": str(n + 1)},
        )
    page = (
        await client.get(
            f"/api/v1/items/{lot['code']}/events", params={"limit": 4}, headers=crew.viewer.headers
        )
    ).json()
    assert [e["seq"] for e in page["items"]] == [6, 5, 4, 3]
    rest = (
        await client.get(
            f"/api/v1/items/{lot['code']}/events",
            params={"limit": 4, "cursor": page["next_cursor"]},
            headers=crew.viewer.headers,
        )
    ).json()
    assert [e["seq"] for e in rest["items"]] == [2, 1]

    feed = (
        await client.get("/api/v1/events", params={"limit": 4}, headers=crew.viewer.headers)
    ).json()
    assert len(feed["items"]) == 4
    more = (
        await client.get(
            "/api/v1/events", params={"after": feed["next_cursor"]}, headers=crew.viewer.headers
        )
    ).json()
    assert [e["seq"] for e in more["items"]] == [5, 6]
    empty = (
        await client.get(
            "/api/v1/events", params={"after": more["next_cursor"]}, headers=crew.viewer.headers
        )
    ).json()
    assert empty["items"] == []
    assert empty["next_cursor"] == more["next_cursor"]


async def test_list_filters_search_and_pages(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    await client.post(
        "/api/v1/items",
        json={
            "type": "material",
            "name": "Sugar",
            "batch": "S_1",
            "count": 3,
            "expiry_on": "2027-01-01",
        },
        headers=crew.operator.headers,
    )
    await client.post(
        "/api/v1/items",
        json={"type": "supply", "name": "Gloves", "count": 2, "location": "WH-B"},
        headers=crew.operator.headers,
    )
    h = crew.viewer.headers
    assert (
        len(
            (await client.get("/api/v1/items", params={"type": "supply"}, headers=h)).json()[
                "items"
            ]
        )
        == 2
    )
    assert (
        len((await client.get("/api/v1/items", params={"q": "sug"}, headers=h)).json()["items"])
        == 3
    )
    assert (
        len((await client.get("/api/v1/items", params={"q": "S_"}, headers=h)).json()["items"]) == 3
    )
    assert (
        len((await client.get("/api/v1/items", params={"q": "%"}, headers=h)).json()["items"]) == 0
    )
    assert (
        len(
            (
                await client.get(
                    "/api/v1/items", params={"expiring_before": "2027-06-01"}, headers=h
                )
            ).json()["items"]
        )
        == 3
    )
    assert (
        len(
            (await client.get("/api/v1/items", params={"location": "WH-B"}, headers=h)).json()[
                "items"
            ]
        )
        == 2
    )
    codes: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "sort": "-code"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/items", params=params, headers=h)).json()
        codes += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert codes == sorted(codes, reverse=True)
    assert len(codes) == 5
    bad = await client.get("/api/v1/items", params={"sort": "price"}, headers=h)
    assert bad.status_code == 422


async def test_the_database_refuses_to_edit_history(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    await register(client, crew.operator, type="material")
    for statement in ("UPDATE event SET reason = 'forged'", "DELETE FROM event"):
        with pytest.raises(Exception, match="append-only"):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement))
    async with db.session_scope("read") as session:
        assert (await verify.verify_chains(session)).intact


async def test_concurrent_registrations_get_unique_gap_free_codes(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/items", json={"type": "bag", "count": 5}, headers=crew.operator.headers
            )
            for _ in range(8)
        )
    )
    assert [r.status_code for r in responses] == [201] * 8
    codes = sorted(i["code"] for r in responses for i in r.json()["items"])
    assert codes == [f"BAG-{n:06d}" for n in range(1, 41)]


async def test_a_location_with_items_cannot_be_archived(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    await register(client, crew.operator, type="bag", location="WH-B")
    refused = await client.post("/api/v1/locations/WH-B/archive", headers=crew.admin.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["items"] == 1


@pytest.mark.parametrize("kind", ["dispense", "consume", "receive"])
async def test_a_zero_amount_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, crew: Crew, kind: str
) -> None:
    lot = await register(client, crew.operator, type="material", quantity="10")
    path = f"/api/v1/items/{lot['code']}/quantity"
    for amount in ("0", "0.000000"):
        refused = await _post(client, path, crew.operator, {"kind": kind, "amount": amount})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["details"] == [
            {"loc": ["body", "amount"], "msg": "must be more than 0", "type": "greater_than"}
        ]
    assert [e["type"] for e in await _events(client, crew, str(lot["code"]))] == ["created"]
    # Counting and finding none is a real change: an adjustment may set 0.
    counted = await _post(
        client, path, crew.operator, {"kind": "adjust", "amount": "0", "reason": "empty"}
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["item"]["quantity"] in ("0", "0.000000")


async def test_history_records_only_what_changed(client: httpx.AsyncClient, crew: Crew) -> None:
    lot = await register(client, crew.operator, type="material", name="Lot", quantity="10")
    path = f"/api/v1/items/{lot['code']}"
    dispensed = await _post(
        client, f"{path}/quantity", crew.operator, {"kind": "dispense", "amount": "4"}
    )
    assert dispensed.status_code == 200, dispensed.text
    # The unit is the item's and did not change: no "unit: kg → kg".
    assert dispensed.json()["events"][0]["before"] == {"quantity": "10"}
    assert dispensed.json()["events"][0]["after"] == {
        "quantity": "6",
        "kind": "dispense",
        "amount": "4",
    }
    tag = (await client.get(path, headers=crew.qa.headers)).headers["etag"]
    same = await client.patch(
        path, json={"name": "Lot", "batch": None}, headers={**crew.qa.headers, "If-Match": tag}
    )
    assert same.status_code == 200, same.text
    assert same.json()["events"] == []
    assert same.headers["etag"] == tag  # nothing changed, so neither did the version
    partly = await client.patch(
        path, json={"name": "Lot", "batch": "B-2"}, headers={**crew.qa.headers, "If-Match": tag}
    )
    assert partly.json()["events"][0]["before"] == {"batch": None}
    assert partly.json()["events"][0]["after"] == {"batch": "B-2"}
    recount = await _post(
        client, f"{path}/quantity", crew.operator, {"kind": "adjust", "amount": "6", "reason": "x"}
    )
    assert recount.status_code == 200
    assert recount.json()["events"] == []
    assert [e["type"] for e in await _events(client, crew, str(lot["code"]))] == [
        "edited",
        "quantity_changed",
        "created",
    ]
    # A name may be left out of an edit, not set to null (it would be a 500 otherwise).
    null_name = await client.patch(
        path, json={"name": None}, headers={**crew.qa.headers, "If-Match": partly.headers["etag"]}
    )
    assert null_name.status_code == 422


async def test_unknown_fields_of_a_change_are_refused(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    lot = await register(client, crew.operator, type="material", quantity="10")
    for path, body in (
        ("quantity", {"kind": "dispense", "amount": "1", "unit": "kg"}),
        ("move", {"location": "WH-A", "where": "WH-B"}),
        ("transitions", {"transition": "quarantine", "signature": "x"}),
    ):
        refused = await _post(client, f"/api/v1/items/{lot['code']}/{path}", crew.operator, body)
        assert refused.status_code == 422, (path, refused.text)
    assert [e["type"] for e in await _events(client, crew, str(lot["code"]))] == ["created"]


async def test_the_actions_offered_follow_the_caller_and_the_workflows_version(
    client: httpx.AsyncClient, crew: Crew, site: list[str]
) -> None:
    """What a lookup and a scan offer is worked out once per workflow version, state and
    set of permissions (`rules.for_caller`): another caller, or the workflow edited, gets
    its own."""
    lot = await register(client, crew.operator, type="material", name="Offered")
    code = lot["code"]
    assert (
        await _post(
            client, f"/api/v1/items/{code}/transitions", crew.operator, {"transition": "quarantine"}
        )
    ).status_code == 200

    async def offered(who: Any) -> tuple[list[str], list[str], str]:
        found = await client.get(f"/api/v1/items/{code}", headers=who.headers)
        scanned = await client.post("/api/v1/scan", json={"data": code}, headers=who.headers)
        assert found.status_code == scanned.status_code == 200
        return (
            [a["name"] for a in found.json()["actions"]],
            [a["name"] for a in scanned.json()["actions"]],
            found.json()["status_label"],
        )

    for _ in range(2):  # the second time from what was kept
        assert await offered(crew.operator) == (["start_test"], ["start_test"], "Quarantine")
        both = ["start_test", "expire"]
        assert await offered(crew.qa) == (both, both, "Quarantine")

    workflow = await client.get("/api/v1/workflows/material", headers=crew.admin.headers)
    definition = workflow.json()["definition"]
    for state in definition["states"]:
        if state["key"] == "quarantine":
            state["label"] = "On hold"
    for transition in definition["transitions"]:
        if transition["name"] == "expire":
            transition["permission"] = "item.transition"
    changed = await client.put(
        "/api/v1/workflows/material", json={"definition": definition}, headers=crew.admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert await offered(crew.operator) == (both, both, "On hold")
