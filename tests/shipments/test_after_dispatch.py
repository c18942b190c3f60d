"""What a bill says stays true once its bags are closed: nothing inside a sealed, dispatched or
delivered bag leaves its totals."""

import httpx

from tests.shipments.conftest import Team, post, register

API = "/api/v1/shipments"


async def test_nothing_in_a_closed_bag_can_be_archived_off_its_bill(
    client: httpx.AsyncClient, team: Team
) -> None:
    bag = await register(client, team.operator, type="bag", weight_kg="0.5")
    lot = await register(client, team.operator, type="material", weight_kg="2")
    packed = await post(client, f"/api/v1/items/{lot}/pack", team.operator, {"container": bag})
    assert packed.status_code == 200, packed.text
    await post(client, f"/api/v1/items/{bag}/transitions", team.operator, {"transition": "seal"})
    made = await post(client, API, team.biller, {"consignee": "ACME"})
    bill = f"{API}/{made.json()['id']}"
    assert (await post(client, f"{bill}/lines", team.biller, {"code": bag})).status_code == 201
    assert (await post(client, f"{bill}/issue", team.biller)).status_code == 200
    sent = await post(client, f"{bill}/dispatch", team.dispatcher)
    assert sent.status_code == 200, sent.text
    printed = sent.json()["totals"]
    assert (printed["items"], printed["gross_kg"]) == (1, "2.500000")

    archived = await post(client, f"/api/v1/items/{lot}/archive", team.admin, {"reason": "oops"})
    assert archived.status_code == 409, archived.text
    assert archived.json()["error"]["code"] == "container_closed"
    assert archived.json()["error"]["details"] == {"container": bag, "status": "dispatched"}
    shown = (await client.get(bill, headers=team.biller.headers)).json()
    assert shown["totals"] == printed
    item = (await client.get(f"/api/v1/items/{lot}", headers=team.admin.headers)).json()
    assert item["archived"] is False
