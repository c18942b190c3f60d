"""What a bill says stays true once its bags are closed: nothing inside a sealed, dispatched or
delivered bag leaves its totals."""

from typing import Any

import httpx

from tests.shipments.conftest import Team, post, register

API = "/api/v1/shipments"


async def _packed_bag(client: httpx.AsyncClient, team: Team) -> tuple[str, str]:
    """A bag of 0.5 kg holding a lot of 2 kg: (bag, lot)."""
    bag = await register(client, team.operator, type="bag", weight_kg="0.5")
    lot = await register(client, team.operator, type="material", weight_kg="2")
    packed = await post(client, f"/api/v1/items/{lot}/pack", team.operator, {"container": bag})
    assert packed.status_code == 200, packed.text
    return bag, lot


async def _dispatched(client: httpx.AsyncClient, team: Team, bag: str) -> tuple[str, Any]:
    """The bag sealed and dispatched alone on a bill: the bill's URL and its totals."""
    await post(client, f"/api/v1/items/{bag}/transitions", team.operator, {"transition": "seal"})
    made = await post(client, API, team.biller, {"consignee": "ACME"})
    bill = f"{API}/{made.json()['id']}"
    assert (await post(client, f"{bill}/lines", team.biller, {"code": bag})).status_code == 201
    assert (await post(client, f"{bill}/issue", team.biller)).status_code == 200
    sent = await post(client, f"{bill}/dispatch", team.dispatcher)
    assert sent.status_code == 200, sent.text
    return bill, sent.json()["totals"]


async def test_nothing_in_a_closed_bag_can_be_archived_off_its_bill(
    client: httpx.AsyncClient, team: Team
) -> None:
    bag, lot = await _packed_bag(client, team)
    bill, printed = await _dispatched(client, team, bag)
    assert (printed["items"], printed["gross_kg"]) == (1, "2.500000")

    archived = await post(client, f"/api/v1/items/{lot}/archive", team.admin, {"reason": "oops"})
    assert archived.status_code == 409, archived.text
    assert archived.json()["error"]["code"] == "container_closed"
    assert archived.json()["error"]["details"] == {"container": bag, "status": "dispatched"}
    shown = (await client.get(bill, headers=team.biller.headers)).json()
    assert shown["totals"] == printed
    item = (await client.get(f"/api/v1/items/{lot}", headers=team.admin.headers)).json()
    assert item["archived"] is False


async def test_no_weight_in_a_closed_bag_changes_its_bill(
    client: httpx.AsyncClient, team: Team
) -> None:
    """A lot's weight and the bag's tare are the bill's totals once the bag is sealed: edits
    of them are refused; other fields, and an open bag's contents, may change."""
    bag, lot = await _packed_bag(client, team)

    async def edit(code: str, body: dict[str, str]) -> httpx.Response:
        url = f"/api/v1/items/{code}"
        shown = await client.get(url, headers=team.admin.headers)
        headers = {**team.admin.headers, "If-Match": shown.headers["ETag"]}
        return await client.patch(url, json=body, headers=headers)

    # Open, the weights may still be corrected.
    assert (await edit(lot, {"weight_kg": "2.25"})).status_code == 200
    assert (await edit(lot, {"weight_kg": "2"})).status_code == 200
    bill, printed = await _dispatched(client, team, bag)
    for code in (lot, bag):
        refused = await edit(code, {"weight_kg": "9"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "container_closed"
        assert refused.json()["error"]["details"] == {"container": bag, "status": "dispatched"}
    assert (await edit(lot, {"name": "Lactose, relabelled"})).status_code == 200
    shown = (await client.get(bill, headers=team.biller.headers)).json()
    assert shown["totals"] == printed
