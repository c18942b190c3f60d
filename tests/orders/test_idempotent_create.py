"""A new order sent again with the same `Idempotency-Key` (a lost answer, a retry, a twin
sent at once) is made once; the retry gets the first answer, its ETag too."""

import httpx
import pytest

from tests.factories.idempotency import sent_at_once, sent_twice
from tests.orders.conftest import Team, approved_order

ORDERS = "/api/v1/orders"
SUPPLY = {"type": "supply", "quantity": "100", "supplier_ref": "SYR-5ML"}


async def test_an_order_sent_again_with_its_key_is_made_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"supplier": "MedCo", "lines": [SUPPLY]}
    headers = team.operator.keyed("order-1")
    first, again = await sent_twice(client, ORDERS, body, headers, 201)
    assert again.headers["ETag"] == first.headers["ETag"] == f'"v{first.json()["version"]}"'
    other = await client.post(ORDERS, json={**body, "supplier": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    unkeyed = await client.post(ORDERS, json=body, headers=team.operator.headers)
    assert unkeyed.status_code == 201
    assert unkeyed.json()["code"] != first.json()["code"]
    assert unkeyed.headers["ETag"] == f'"v{unkeyed.json()["version"]}"'


@pytest.mark.postgres_only
async def test_orders_sent_at_once_with_one_key_are_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"supplier": "MedCo", "lines": [SUPPLY]}
    headers = team.operator.keyed("order-twins")
    answers = await sent_at_once(client, ORDERS, body, headers, 201, times=4)
    assert len({a.json()["code"] for a in answers}) == 1
    listed = (await client.get(ORDERS, headers=team.operator.headers)).json()
    assert len(listed) == 1


async def test_a_receipt_sent_again_with_its_key_is_recorded_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    order = await approved_order(client, team, SUPPLY)
    url = f"{ORDERS}/{order['code']}/receive"
    headers = team.operator.keyed("receipt-1")
    body = {"line": 1, "quantity": "1", "batch": "B1"}
    first, again = await sent_twice(client, url, body, headers, 200)
    assert again.headers["ETag"] == first.headers["ETag"]
    assert first.headers["ETag"] == f'"v{first.json()["order"]["version"]}"'
    got = (await client.get(f"{ORDERS}/{order['code']}", headers=team.operator.headers)).json()
    assert got["lines"][0]["received_quantity"] == "1.000000"


@pytest.mark.postgres_only
async def test_receipts_sent_at_once_with_one_key_are_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    order = await approved_order(client, team, SUPPLY)
    url = f"{ORDERS}/{order['code']}/receive"
    headers = team.operator.keyed("receipt-twins")
    body = {"line": 1, "quantity": "1"}
    answers = await sent_at_once(client, url, body, headers, 200, times=8)
    assert len({tuple(a.json()["items"]) for a in answers}) == 1
    got = (await client.get(f"{ORDERS}/{order['code']}", headers=team.operator.headers)).json()
    assert got["lines"][0]["received_quantity"] == "1.000000"
