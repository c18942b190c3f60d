"""Expiring soon and expired: the items list's filters, so every list of items has them."""

import httpx

from tests.expiry.conftest import day, supply
from tests.factories.accounts import AppLogin
from tests.factories.items import register


async def _codes(client: httpx.AsyncClient, who: AppLogin, **params: str | int) -> set[str]:
    answer = await client.get("/api/v1/items", params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return {item["code"] for item in answer.json()["items"]}


async def test_expired_and_expiring_lists(
    client: httpx.AsyncClient, admin: AppLogin, kit: str
) -> None:
    past = await supply(client, admin, day(-1))
    today_ = await supply(client, admin, day(0))
    in_10 = await supply(client, admin, day(10))
    in_40 = await supply(client, admin, day(40))
    undated = await supply(client, admin, None)
    kit_5 = (await register(client, admin, type=kit, expiry_on=day(5)))["code"]
    kit_10 = (await register(client, admin, type=kit, expiry_on=day(10)))["code"]
    used = (await register(client, admin, type=kit, expiry_on=day(-3)))["code"]
    consumed = await client.post(
        f"/api/v1/items/{used}/transitions",
        json={"transition": "hold"},
        headers=admin.headers,
    )
    assert consumed.status_code == 200
    assert await _codes(client, admin, expired="true") == {past, used}
    assert await _codes(client, admin, expired="false") == {
        today_,
        in_10,
        in_40,
        undated,
        kit_5,
        kit_10,
    }
    assert await _codes(client, admin, expiring_within_days=10) == {today_, in_10, kit_5, kit_10}
    assert await _codes(client, admin, expiring_within_days=0) == {today_}
    # Each type's own window: 30 days for supplies (the default), 7 for kits.
    assert await _codes(client, admin, expiring_soon="true") == {today_, in_10, kit_5}
    assert await _codes(client, admin, expiring_soon="true", type="kit") == {kit_5}
    # Once swept, an expired item is in the expired list by its state.
    swept = await client.post("/api/v1/expiry/sweep", headers=admin.headers)
    assert swept.status_code == 200
    assert await _codes(client, admin, expired="true") == {past, used}
    assert await _codes(client, admin, expired="true", status="expired") == {past}


async def test_used_up_items_are_neither_expired_nor_expiring(
    client: httpx.AsyncClient, admin: AppLogin, kit: str
) -> None:
    soon = (await register(client, admin, type=kit, expiry_on=day(1)))["code"]
    late = (await register(client, admin, type=kit, expiry_on=day(2)))["code"]
    for code in (soon, late):
        used = await client.post(
            f"/api/v1/items/{code}/transitions",
            json={"transition": "consume"},
            headers=admin.headers,
        )
        assert used.status_code == 200, used.text
    assert await _codes(client, admin, expiring_within_days=5) == set()
    assert await _codes(client, admin, expired="true") == set()


async def test_a_bad_window_is_a_422(client: httpx.AsyncClient, admin: AppLogin) -> None:
    for bad in ("-1", "ten", "4000"):
        answer = await client.get(
            "/api/v1/items", params={"expiring_within_days": bad}, headers=admin.headers
        )
        assert answer.status_code == 422, bad


async def test_the_window_is_part_of_the_item_type(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    shown = (await client.get("/api/v1/item-types/supply", headers=admin.headers)).json()
    assert shown["expiry_window_days"] == 30
    changed = await client.patch(
        "/api/v1/item-types/supply", json={"expiry_window_days": 60}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["expiry_window_days"] == 60
    bad = await client.patch(
        "/api/v1/item-types/supply", json={"expiry_window_days": -1}, headers=admin.headers
    )
    assert bad.status_code == 422
