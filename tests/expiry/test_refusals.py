"""Expired items are not dispensed, consumed or shipped: 409 item_expired naming the date,
from every edge (API, scan), while receiving, counting and fresh items go on as before."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from qtrack.core.db import Database
from qtrack.items import rules
from qtrack.items.models import Item
from qtrack.workflow.schemas import Transition
from tests.expiry.conftest import day, supply, today
from tests.factories.accounts import AppLogin
from tests.factories.items import register


async def _quantity(
    client: httpx.AsyncClient, who: AppLogin, code: str, kind: str, amount: str = "1"
) -> httpx.Response:
    body = {"kind": kind, "amount": amount, "reason": "count"}
    return await client.post(f"/api/v1/items/{code}/quantity", json=body, headers=who.headers)


async def test_an_expired_supply_is_not_dispensed_or_consumed(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    old = await supply(client, operator, day(-1))
    for kind in ("dispense", "consume"):
        refused = await _quantity(client, operator, old, kind)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "item_expired"
        assert day(-1) in error["message"]
        assert error["details"] == {"code": old, "expiry_on": day(-1), "status": "in_stock"}
    item = (await client.get(f"/api/v1/items/{old}", headers=operator.headers)).json()
    assert item["quantity"] == "10.000000"
    assert item["version"] == 1


async def test_receiving_and_counting_an_expired_item_still_work(
    client: httpx.AsyncClient, operator: AppLogin, admin: AppLogin
) -> None:
    old = await supply(client, operator, day(-3))
    assert (await _quantity(client, admin, old, "receive", "2")).status_code == 200
    assert (await _quantity(client, admin, old, "adjust", "5")).status_code == 200


async def test_an_item_is_usable_on_its_expiry_day_and_one_without_a_date_always(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    for expiry_on in (day(0), day(30), None):
        code = await supply(client, operator, expiry_on)
        answer = await _quantity(client, operator, code, "dispense")
        assert answer.status_code == 200, answer.text
        assert answer.json()["item"]["quantity"] == "9.000000"


async def test_a_using_up_transition_is_refused_for_an_expired_item(
    client: httpx.AsyncClient, operator: AppLogin, kit: str
) -> None:
    old = (await register(client, operator, type=kit, expiry_on=day(-2)))["code"]
    fresh = (await register(client, operator, type=kit, expiry_on=day(2)))["code"]
    url = "/api/v1/items/{}/transitions"
    refused = await client.post(
        url.format(old), json={"transition": "consume"}, headers=operator.headers
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "item_expired"
    assert f"expired on {day(-2)}; it cannot be consumed" in refused.json()["error"]["message"]
    # Other transitions are not using it up: holding an expired kit is fine.
    held = await client.post(url.format(old), json={"transition": "hold"}, headers=operator.headers)
    assert held.status_code == 200, held.text
    done = await client.post(
        url.format(fresh), json={"transition": "consume"}, headers=operator.headers
    )
    assert done.status_code == 200, done.text


async def test_an_item_in_the_expired_state_is_refused_whatever_its_date(
    client: httpx.AsyncClient, operator: AppLogin, admin: AppLogin
) -> None:
    code = await supply(client, operator, day(100))
    expired = await client.post(
        f"/api/v1/items/{code}/transitions",
        json={"transition": "expire", "reason": "damaged seal"},
        headers=admin.headers,
    )
    assert expired.status_code == 200, expired.text
    refused = await _quantity(client, operator, code, "dispense")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "item_expired"


async def test_the_scan_screen_s_dispense_is_refused_too(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    old = await supply(client, operator, day(-1))
    body = {"data": old, "action": {"kind": "dispense", "amount": "1"}}
    refused = await client.post("/api/v1/scan", json=body, headers=operator.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "item_expired"
    fresh = await supply(client, operator, day(1))
    body = {"data": fresh, "action": {"kind": "dispense", "amount": "1"}}
    done = await client.post("/api/v1/scan", json=body, headers=operator.headers)
    assert done.status_code == 200, done.text


async def _bag_with(client: httpx.AsyncClient, who: AppLogin, expiry_on: str) -> tuple[str, str]:
    bag = (await register(client, who, type="bag"))["code"]
    lot = (await register(client, who, type="material", expiry_on=expiry_on))["code"]
    packed = await client.post(
        f"/api/v1/items/{lot}/pack", json={"container": bag}, headers=who.headers
    )
    assert packed.status_code == 200, packed.text
    sealed = await client.post(
        f"/api/v1/items/{bag}/transitions", json={"transition": "seal"}, headers=who.headers
    )
    assert sealed.status_code == 200, sealed.text
    return bag, lot


async def test_a_bag_holding_an_expired_lot_does_not_go_on_a_bill_or_leave(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    shipment = await client.post(
        "/api/v1/shipments", json={"consignee": "ACME"}, headers=admin.headers
    )
    assert shipment.status_code == 201, shipment.text
    number = shipment.json()["number"]
    bag, lot = await _bag_with(client, admin, day(-1))
    lines = f"/api/v1/shipments/{number}/lines"
    refused = await client.post(lines, json={"code": bag}, headers=admin.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "item_expired"
    assert lot in refused.json()["error"]["message"]
    # A bag whose lot expires after it went on the bill is stopped at dispatch.
    fresh_bag, fresh_lot = await _bag_with(client, admin, day(5))
    added = await client.post(lines, json={"code": fresh_bag}, headers=admin.headers)
    assert added.status_code == 201, added.text
    issued = await client.post(f"/api/v1/shipments/{number}/issue", json={}, headers=admin.headers)
    assert issued.status_code == 200, issued.text
    async with db.session_scope() as session:
        await session.execute(
            update(Item).where(Item.code == fresh_lot).values(expiry_on=today() - timedelta(days=1))
        )
    dispatch = await client.post(
        f"/api/v1/shipments/{number}/dispatch", json={}, headers=admin.headers
    )
    assert dispatch.status_code == 409, dispatch.text
    assert dispatch.json()["error"]["code"] == "item_expired"
    bag_now = (await client.get(f"/api/v1/items/{fresh_bag}", headers=admin.headers)).json()
    assert bag_now["status"] == "sealed"  # nothing moved


async def test_a_bag_holding_an_expired_lot_is_not_dispatched_on_its_own_either(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    bag, lot = await _bag_with(client, admin, day(-1))
    url = f"/api/v1/items/{bag}/transitions"
    refused = await client.post(url, json={"transition": "dispatch"}, headers=admin.headers)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "item_expired"
    assert error["message"] == f"{lot} expired on {day(-1)}; it cannot be shipped"
    assert error["details"]["expiry_on"] == day(-1)
    scanned = await client.post(
        "/api/v1/scan",
        json={"data": bag, "action": {"kind": "transition", "transition": "dispatch"}},
        headers=admin.headers,
    )
    assert scanned.status_code == 409, scanned.text
    assert scanned.json()["error"]["code"] == "item_expired"
    bag_now = (await client.get(f"/api/v1/items/{bag}", headers=admin.headers)).json()
    assert (bag_now["status"], bag_now["version"]) == ("sealed", 2)  # nothing moved
    fresh_bag, _ = await _bag_with(client, admin, day(1))
    done = await client.post(
        f"/api/v1/items/{fresh_bag}/transitions",
        json={"transition": "dispatch"},
        headers=admin.headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["item"]["status"] == "dispatched"


@pytest.mark.parametrize(
    ("transition", "ships"),
    [
        ({"name": "dispatch"}, True),  # CBV's shipping by its default name
        ({"name": "send_out", "epcis_biz_step": "shipping"}, True),  # configured as shipping
        ({"name": "dispatch", "epcis_biz_step": "holding"}, False),  # configured otherwise
        ({"name": "seal"}, False),
        ({"name": "deliver"}, False),
    ],
)
def test_which_transitions_ship(transition: dict[str, str], ships: bool) -> None:
    parsed = Transition.model_validate({"from": ["a"], "to": "b", **transition})
    assert rules.ships(parsed) is ships
