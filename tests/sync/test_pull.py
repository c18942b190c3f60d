"""Pull: a first sync pages through everything once, later pulls bring what changed, cursors
that cannot be read on are refused with codes that say to start again."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.pagination import decode_cursor, encode_cursor
from qtrack.locations.models import Location
from qtrack.sync.cursor import VERSION
from tests.conftest import start_app
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import codes_of
from tests.factories.locations import create_location
from tests.sync.conftest import CHANGES, Replica, feed_settled


async def _items(client: httpx.AsyncClient, who: AppLogin) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/items", params={"limit": 200}, headers=who.headers)
    assert response.status_code == 200
    return {item["code"]: item for item in response.json()["items"]}


async def test_a_first_sync_pages_through_every_record_once_in_order(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "WH1", "building")
    await create_location(client, admin, "WH1-Z1", "zone", parent="WH1")
    codes = await codes_of(client, operator, 7, location="WH1-Z1")
    codes += await codes_of(client, operator, 2, type="bag")

    device = Replica(operator)
    await device.pull(client, limit=3)

    snapshot = [page for page in device.pages if page["snapshot"]]
    assert device.pages[: len(snapshot)] == snapshot  # the snapshot comes first
    assert all(len(page["changes"]) == 3 for page in snapshot[:-1])
    seen = [change for page in snapshot for change in page["changes"]]
    assert len(seen) == len({(c["kind"], c["id"]) for c in seen})  # each record once
    kinds = [change["kind"] for change in seen]
    # Referenced kinds come first: workflows, item types, locations, then items.
    assert kinds == sorted(kinds, key=["workflow", "item_type", "location", "item"].index)
    snapshot_items = [c["key"] for c in seen if c["kind"] == "item"]
    assert sorted(snapshot_items) == sorted(codes)  # each once
    assert device.of("item") == await _items(client, operator)
    assert set(device.of("location")) == {"WH1", "WH1-Z1"}
    assert device.of("location")["WH1-Z1"]["parent"] == "WH1"
    assert {"material", "bag"} <= set(device.of("item_type"))
    assert device.of("item_type")["material"]["workflow"] in device.of("workflow")
    # An operator may not read bills: no shipment kind at all.
    assert "shipment" not in {kind for kind, _ in device.records}


async def test_later_pulls_bring_changes_and_tombstones(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "A1")
    await create_location(client, admin, "B1")
    moved, archived, quiet = await codes_of(client, operator, 3, location="A1")
    await feed_settled(db)
    device = Replica(operator)
    await device.pull(client)

    response = await client.post(
        f"/api/v1/items/{moved}/move", json={"location": "B1"}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/api/v1/items/{archived}/archive", json={"reason": "broken"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    await create_location(client, admin, "C1")
    new_codes = await codes_of(client, operator, 2, location="C1")

    expected = await _items(client, operator)
    seen = await device.pull_until(client, lambda d: d.of("item") == expected)
    items = [(c["key"], c["op"]) for c in seen if c["kind"] == "item"]
    assert sorted(items) == sorted(
        [(moved, "upsert"), (archived, "delete"), *[(c, "upsert") for c in new_codes]]
    )
    assert quiet not in {key for key, _ in items}  # unchanged items are not sent again
    assert device.of("item")[moved]["location"] == "B1"
    assert archived not in device.of("item")
    assert "C1" in device.of("location")

    # Nothing new: no item is sent again (recent table rows may be, see the overlap).
    again = await device.pull(client)
    assert [c for c in again if c["kind"] == "item"] == []


async def test_archived_locations_become_tombstones_and_edits_arrive(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "OLD")
    await create_location(client, admin, "KEEP")
    device = Replica(operator)
    await device.pull(client)
    archived = await client.post("/api/v1/locations/OLD/archive", headers=admin.headers)
    assert archived.status_code == 200, archived.text
    renamed = await client.patch(
        "/api/v1/locations/KEEP", json={"name": "Kept"}, headers=admin.headers
    )
    assert renamed.status_code == 200, renamed.text
    await device.pull(client)
    assert "OLD" not in device.of("location")
    assert device.of("location")["KEEP"]["name"] == "Kept"


async def test_without_overlap_nothing_is_sent_twice(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin, settings: Settings
) -> None:
    await create_location(client, admin, "A1")
    await codes_of(client, operator, 3, location="A1")
    device = Replica(operator)
    # The default overlap sends recent table rows again; with none, a pull after a pull
    # sends no table row again. (Overlap 0 is safe on SQLite, where writers take turns. On
    # PostgreSQL, items created just before a first sync may come once more from the feed
    # when other transactions in the cluster held it back: harmless, and not what this tests.)
    app, lifespan = await start_app(settings.model_copy(update={"sync_overlap_s": 0}))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            first = [c for c in await device.pull(other) if c["kind"] != "item"]
            assert len(first) == len({(c["kind"], c["id"]) for c in first})
            assert [c for c in await device.pull(other) if c["kind"] != "item"] == []
            await create_location(client, admin, "B1")
            later = [c for c in await device.pull(other) if c["kind"] != "item"]
            assert [(c["kind"], c["key"]) for c in later] == [("location", "B1")]
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_bills_are_synced_to_those_who_may_read_them(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await create_location(client, admin, "DOCK")
    biller = await logged_in(client, db, "bill", "biller")
    created = await client.post(
        "/api/v1/shipments",
        json={"consignee": "ACME", "destination": "Lyon", "destination_location": "DOCK"},
        headers=biller.headers,
    )
    assert created.status_code == 201, created.text
    device = Replica(biller)
    await device.pull(client)
    bill = device.of("shipment")[created.json()["number"]]
    assert (bill["status"], bill["consignee"], bill["containers"]) == ("draft", "ACME", [])
    assert bill["version"] == created.json()["version"]
    assert bill["destination_location"] == "DOCK"


def _forge(cursor: str, **changes: Any) -> str:
    value = decode_cursor(cursor)
    value.update(changes)
    return encode_cursor(value)


async def test_cursors_that_cannot_be_read_on_say_start_again(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    await codes_of(client, operator, 1)
    device = Replica(operator)
    await device.pull(client)
    assert device.cursor is not None

    async def answer(since: str) -> tuple[int, str, Any]:
        response = await client.get(CHANGES, params={"since": since}, headers=operator.headers)
        error = response.json()["error"]
        return response.status_code, error["code"], error.get("details")

    for garbage in ["nope", encode_cursor([1, 2]), _forge(device.cursor, f=[-1, 0])]:
        assert await answer(garbage) == (400, "sync_cursor_invalid", None)
    assert await answer(_forge(device.cursor, v=VERSION + 1)) == (
        410, "sync_resync_required", {"reason": "protocol"},
    )  # fmt: skip
    assert await answer(_forge(device.cursor, k=["item"])) == (
        410, "sync_resync_required", {"reason": "scope_changed"},
    )  # fmt: skip
    assert await answer(_forge(device.cursor, f=[0, 10**9])) == (
        410, "sync_resync_required", {"reason": "unknown_position"},
    )  # fmt: skip
    month_ago = int((utcnow() - timedelta(days=31)).timestamp())
    assert await answer(_forge(device.cursor, t=month_ago)) == (
        410, "sync_resync_required", {"reason": "expired"},
    )  # fmt: skip
    # The same cursor is still good today, and a fresh start always works.
    ok = await client.get(CHANGES, params={"since": device.cursor}, headers=operator.headers)
    assert ok.status_code == 200
    assert (await client.get(CHANGES, headers=operator.headers)).status_code == 200
    unauthenticated = await client.get(CHANGES)
    assert unauthenticated.status_code == 401


async def test_changes_while_a_first_sync_runs_are_not_lost(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "A1")
    await create_location(client, admin, "B1")
    codes = await codes_of(client, operator, 6, location="A1")
    device = Replica(operator)
    # The first two pages of the snapshot, then changes, then the rest.
    for _ in range(2):
        params: dict[str, str | int] = {"limit": 3}
        if device.cursor:
            params["since"] = device.cursor
        page = (await client.get(CHANGES, params=params, headers=operator.headers)).json()
        device.cursor = page["next_cursor"]
        for change in page["changes"]:
            device.records[(change["kind"], change["id"])] = change["record"]
    for code in (codes[0], codes[-1]):
        moved = await client.post(
            f"/api/v1/items/{code}/move", json={"location": "B1"}, headers=operator.headers
        )
        assert moved.status_code == 200
    later = await codes_of(client, operator, 1)
    expected = await _items(client, operator)
    await device.pull_until(client, lambda d: d.of("item") == expected, limit=3)
    assert set(device.of("item")) == {*codes, *later}


def test_cursor_times_are_exact() -> None:
    from qtrack.sync.cursor import from_micros, micros

    moment = datetime(2026, 12, 5, 8, 1, 2, 345678, tzinfo=UTC)
    assert from_micros(micros(moment)) == moment


async def test_restock_orders_are_synced_to_those_who_may_read_them(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    created = await client.post(
        "/api/v1/orders",
        json={"supplier": "Acme", "lines": [{"type": "supply", "quantity": "40"}]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    device = Replica(admin)
    await device.pull(client)
    order = device.of("order")[created.json()["code"]]
    assert (order["status"], order["supplier"], order["version"]) == ("draft", "Acme", 1)
    assert [line["type"] for line in order["lines"]] == ["supply"]
    viewer = await logged_in(client, db, "vic", "viewer")
    seen = Replica(viewer)
    await seen.pull(client)
    assert "order" not in {kind for kind, _ in seen.records}


@pytest.mark.postgres_only
async def test_a_table_change_that_commits_late_still_arrives(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "SLOW")
    await create_location(client, admin, "FAST")
    device = Replica(operator)
    await device.pull(client)
    async with db.session_scope() as session:
        # A slow transaction stamps its change now but commits only later ...
        slow = await session.scalar(select(Location).where(Location.code == "SLOW"))
        assert slow is not None
        slow.name = "Renamed slowly"
        await session.flush()
        await asyncio.sleep(0.05)
        # ... while a later change commits at once and a pull reads past both times.
        quick = await client.patch(
            "/api/v1/locations/FAST", json={"name": "Quick"}, headers=admin.headers
        )
        assert quick.status_code == 200
        await device.pull(client)
        assert device.of("location")["FAST"]["name"] == "Quick"
        assert device.of("location")["SLOW"]["name"] != "Renamed slowly"
    # Committed now, stamped before the change the device has already seen: the overlap
    # brings it all the same.
    await device.pull(client)
    assert device.of("location")["SLOW"]["name"] == "Renamed slowly"


async def test_categories_come_before_the_item_types_that_name_them(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    for body in ({"key": "consumables", "name": "Consumables"},
                 {"key": "syringes", "name": "Syringes", "parent": "consumables"}):  # fmt: skip
        created = await client.post("/api/v1/categories", json=body, headers=admin.headers)
        assert created.status_code == 201, created.text
    typed = await client.patch(
        "/api/v1/item-types/supply", json={"category": "syringes"}, headers=admin.headers
    )
    assert typed.status_code == 200, typed.text
    device = Replica(operator)
    seen = await device.pull(client)
    kinds = [c["kind"] for c in seen]
    assert kinds.index("category") < kinds.index("item_type")
    syringes = device.of("category")["syringes"]
    assert (syringes["parent"], syringes["path"]) == ("consumables", ["Consumables", "Syringes"])
    assert device.of("item_type")["supply"]["category"] == "syringes"
    spare = await client.post(
        "/api/v1/categories", json={"key": "spare", "name": "Spare"}, headers=admin.headers
    )
    assert spare.status_code == 201
    await device.pull(client)
    assert "spare" in device.of("category")
    archived = await client.post("/api/v1/categories/spare/archive", headers=admin.headers)
    assert archived.status_code == 200, archived.text
    gone = await device.pull(client)
    assert ("category", "spare", "delete") in {(c["kind"], c["key"], c["op"]) for c in gone}
    assert "spare" not in device.of("category")
