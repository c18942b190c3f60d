"""A new bill sent again with the same `Idempotency-Key` (a lost answer, a retry, a twin sent
at once) is made once; the retry gets the first answer."""

import httpx
import pytest

from tests.factories.idempotency import sent_at_once, sent_twice
from tests.shipments.conftest import Team

BILLS = "/api/v1/shipments"


async def test_a_bill_sent_again_with_its_key_is_made_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"consignee": "ACME", "destination": "Lyon"}
    headers = team.biller.keyed("bill-1")
    await sent_twice(client, BILLS, body, headers, 201)
    other = await client.post(BILLS, json={**body, "consignee": "Else"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.postgres_only
async def test_bills_sent_at_once_with_one_key_are_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    body = {"consignee": "ACME", "destination": "Lyon"}
    headers = team.biller.keyed("bill-twins")
    answers = await sent_at_once(client, BILLS, body, headers, 201, times=4)
    assert len({a.json()["number"] for a in answers}) == 1
