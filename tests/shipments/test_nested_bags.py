"""Bags packed in bags on bills: a bag travels in the one it is packed in, so it is never a
line of its own, and what it holds is never on two bills."""

import httpx

from tests.shipments.conftest import Team, post, register, sealed_bag

API = "/api/v1/shipments"


async def _bill(client: httpx.AsyncClient, team: Team) -> str:
    response = await post(client, API, team.biller, {"consignee": "ACME"})
    assert response.status_code == 201, response.text
    return f"{API}/{response.json()['id']}"


async def _bag_in_bag(client: httpx.AsyncClient, team: Team) -> tuple[str, str]:
    """A sealed bag (0.5 kg, holding a 2 kg lot) packed into another (1 kg), itself sealed."""
    inner = await sealed_bag(client, team.operator, tare="0.5", contents=("2",))
    outer = await register(client, team.operator, type="bag", weight_kg="1")
    packed = await post(client, f"/api/v1/items/{inner}/pack", team.operator, {"container": outer})
    assert packed.status_code == 200, packed.text
    sealed = await post(
        client, f"/api/v1/items/{outer}/transitions", team.operator, {"transition": "seal"}
    )
    assert sealed.status_code == 200, sealed.text
    return inner, outer


async def test_a_bag_packed_in_another_is_not_a_line_of_its_own(
    client: httpx.AsyncClient, team: Team
) -> None:
    inner, outer = await _bag_in_bag(client, team)
    # On another bill than the bag it travels in: its lot would be on two bills.
    other = await _bill(client, team)
    refused = await post(client, f"{other}/lines", team.biller, {"code": inner})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == (
        "container_packed",
        {"code": inner, "container": outer},
    )
    bill = await _bill(client, team)
    added = await post(client, f"{bill}/lines", team.biller, {"code": outer})
    assert added.status_code == 201, added.text
    # The outer bag's line carries everything in it, at any depth.
    (line,) = added.json()["lines"]
    assert (line["code"], line["items"], line["net_kg"], line["gross_kg"]) == (
        outer,
        2,
        "2.500000",
        "3.500000",
    )
    again = await post(client, f"{bill}/lines", team.biller, {"code": inner})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "container_packed")
    shown = (await client.get(bill, headers=team.biller.headers)).json()
    assert [ln["code"] for ln in shown["lines"]] == [outer]
    assert (shown["totals"]["items"], shown["totals"]["gross_kg"]) == (2, "3.500000")


async def test_a_bag_holding_one_on_another_bill_is_refused(
    client: httpx.AsyncClient, team: Team
) -> None:
    inner = await sealed_bag(client, team.operator, tare="0.5", contents=("2",))
    first = await _bill(client, team)
    assert (await post(client, f"{first}/lines", team.biller, {"code": inner})).status_code == 201
    # Packed into another bag after it went on the first bill, then that bag on a second.
    outer = await register(client, team.operator, type="bag", weight_kg="1")
    packed = await post(client, f"/api/v1/items/{inner}/pack", team.operator, {"container": outer})
    assert packed.status_code == 200, packed.text
    await post(client, f"/api/v1/items/{outer}/transitions", team.operator, {"transition": "seal"})
    second = await _bill(client, team)
    refused = await post(client, f"{second}/lines", team.biller, {"code": outer})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "container_on_other_shipment"
    assert error["details"]["inside"] == inner
    # The first bill cannot send the bag on its own while it is inside another one.
    assert (await post(client, f"{first}/issue", team.biller)).status_code == 200
    blocked = await post(client, f"{first}/dispatch", team.dispatcher)
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["error"]["code"] == "containers_blocked"
    (blocker,) = blocked.json()["error"]["details"]["blocking"]
    assert (blocker["code"], blocker["problem"]) == (inner, f"packed inside {outer}")


async def test_a_bag_inside_a_closed_one_stays_closed(
    client: httpx.AsyncClient, team: Team
) -> None:
    """Reopened inside a sealed (or dispatched) bag, a bag's lot could be taken out of the
    outer one's bill: refused until the outer bag is open itself."""
    inner, outer = await _bag_in_bag(client, team)

    async def reopen(bag: str) -> httpx.Response:
        body = {"transition": "reopen", "reason": "one more lot"}
        return await post(client, f"/api/v1/items/{bag}/transitions", team.operator, body)

    refused = await reopen(inner)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == (
        "container_closed",
        {"container": outer, "status": "sealed"},
    )
    assert (await reopen(outer)).status_code == 200
    assert (await reopen(inner)).status_code == 200
    # Sealed again, the outer bag dispatched: the inner one cannot be opened in it.
    for bag in (inner, outer):
        sealed = await post(
            client, f"/api/v1/items/{bag}/transitions", team.operator, {"transition": "seal"}
        )
        assert sealed.status_code == 200, sealed.text
    bill = await _bill(client, team)
    assert (await post(client, f"{bill}/lines", team.biller, {"code": outer})).status_code == 201
    assert (await post(client, f"{bill}/issue", team.biller)).status_code == 200
    assert (await post(client, f"{bill}/dispatch", team.dispatcher)).status_code == 200
    late = await reopen(inner)
    assert (late.status_code, late.json()["error"]["details"]["status"]) == (409, "dispatched")
    shown = (await client.get(bill, headers=team.biller.headers)).json()
    assert (shown["totals"]["items"], shown["totals"]["gross_kg"]) == (2, "3.500000")
