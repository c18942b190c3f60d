"""A new bill sent again with the same `Idempotency-Key` (a lost answer, a retry, a twin sent
at once) is made once; the retry gets the first answer."""

import asyncio

import httpx
import pytest

from tests.shipments.conftest import Team

BILLS = "/api/v1/shipments"


async def test_a_bill_sent_again_with_its_key_is_made_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"consignee": "ACME", "destination": "Lyon"}
    headers = team.biller.keyed("bill-1")
    first = await client.post(BILLS, json=body, headers=headers)
    again = await client.post(BILLS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await client.post(BILLS, json={**body, "consignee": "Else"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.postgres_only
async def test_bills_sent_at_once_with_one_key_are_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"consignee": "ACME", "destination": "Lyon"}
    headers = team.biller.keyed("bill-twins")
    answers = await asyncio.gather(
        *(client.post(BILLS, json=body, headers=headers) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["number"] for a in answers}) == 1
