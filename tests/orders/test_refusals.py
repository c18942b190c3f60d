"""Bad input to the orders API: stale versions (If-Match), wrong types, and twin steps at
once; each a 4xx with a stable code that changes nothing."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.orders.conftest import API, Team, approved_order, new_order, post

SUPPLY = {"type": "supply", "quantity": "10", "supplier_ref": "SYR-5ML"}


async def test_writes_at_a_stale_version_are_412_and_change_nothing(
    client: httpx.AsyncClient, team: Team
) -> None:
    order = await new_order(client, team.operator, SUPPLY)
    code = order["code"]
    read = await client.get(f"{API}/{code}", headers=team.operator.headers)
    assert read.headers["ETag"] == f'"v{read.json()["version"]}"'
    seen = read.headers["ETag"]
    # Someone else changes the draft meanwhile.
    changed = await client.patch(
        f"{API}/{code}/lines/1", json={"quantity": "20"}, headers=team.admin.headers
    )
    assert changed.status_code == 200, changed.text
    now = changed.headers["ETag"]
    assert now != seen
    stale = {**team.admin.headers, "If-Match": seen}
    attempts: list[tuple[str, str, Any]] = [
        ("PATCH", f"{API}/{code}/lines/1", {"quantity": "5"}),
        ("POST", f"{API}/{code}/lines", {"type": "supply", "quantity": "1"}),
        ("DELETE", f"{API}/{code}/lines/1", None),
        ("POST", f"{API}/{code}/submit", {}),
        ("POST", f"{API}/{code}/cancel", {"reason": "dup"}),
    ]
    for method, url, body in attempts:
        kwargs: dict[str, Any] = {"headers": stale}
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method, url, **kwargs)
        assert response.status_code == 412, (method, url, response.text)
        error = response.json()["error"]
        assert error["code"] == "version_mismatch"
        assert error["details"] == {
            "order": code,
            "version": order["version"] + 1,
            "expected": order["version"],
        }
    after = (await client.get(f"{API}/{code}", headers=team.operator.headers)).json()
    assert (after["status"], after["version"]) == ("draft", order["version"] + 1)
    assert [(ln["position"], ln["quantity"]) for ln in after["lines"]] == [(1, "20.000000")]
    # At the version read now, the same writes go through; each answer tags the new one.
    fresh = {**team.operator.headers, "If-Match": now}
    submitted = await client.post(f"{API}/{code}/submit", json={}, headers=fresh)
    assert submitted.status_code == 200, submitted.text
    assert submitted.headers["ETag"] == f'"v{submitted.json()["version"]}"'
    approved = await client.post(
        f"{API}/{code}/approve",
        json={},
        headers={**team.supervisor.headers, "If-Match": submitted.headers["ETag"]},
    )
    assert approved.status_code == 200, approved.text
    late = await client.post(
        f"{API}/{code}/receive",
        json={"quantity": "1"},
        headers={**team.operator.headers, "If-Match": submitted.headers["ETag"]},
    )
    assert (late.status_code, late.json()["error"]["code"]) == (412, "version_mismatch")
    taken = await client.post(
        f"{API}/{code}/receive",
        json={"quantity": "1", "client_event_id": "r1"},
        headers={**team.operator.headers, "If-Match": approved.headers["ETag"]},
    )
    assert taken.status_code == 200, taken.text
    assert taken.headers["ETag"] == f'"v{taken.json()["order"]["version"]}"'
    # A retry of that receipt answers the first, though the order moved on since.
    retried = await client.post(
        f"{API}/{code}/receive",
        json={"quantity": "1", "client_event_id": "r1"},
        headers={**team.operator.headers, "If-Match": approved.headers["ETag"]},
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["repeated"] is True


@pytest.mark.parametrize("tag", ['"abc"', "v", '"v-1"', "12345678901234567890"])
async def test_an_if_match_that_names_no_version_is_412(
    client: httpx.AsyncClient, team: Team, tag: str
) -> None:
    order = await new_order(client, team.operator, SUPPLY)
    response = await client.post(
        f"{API}/{order['code']}/submit", json={}, headers={**team.operator.headers, "If-Match": tag}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (412, "version_mismatch")
    read = await client.get(f"{API}/{order['code']}", headers=team.operator.headers)
    assert read.json()["status"] == "draft"


async def test_wrong_types_are_422_with_the_field(client: httpx.AsyncClient, team: Team) -> None:
    order = await new_order(client, team.operator, SUPPLY)
    code = order["code"]
    cases: list[tuple[str, str, Any, list[str]]] = [
        ("POST", API, {"lines": [{"type": "supply", "quantity": "lots"}]},
         ["body", "lines", "0", "quantity"]),
        ("POST", API, {"lines": {"type": "supply"}}, ["body", "lines"]),
        ("POST", API, {"supplier": ["MedCo"]}, ["body", "supplier"]),
        ("POST", API, {"lines": [{"type": "supply", "quantity": "1", "price": "3"}]},
         ["body", "lines", "0", "price"]),
        ("POST", f"{API}/{code}/lines", {"type": 5, "quantity": "1"}, ["body", "type"]),
        ("POST", f"{API}/{code}/lines", {"type": "supply", "quantity": "-2"},
         ["body", "quantity"]),
        ("PATCH", f"{API}/{code}/lines/first", {"quantity": "2"}, ["path", "position"]),
        ("PATCH", f"{API}/{code}/lines/1", {"quantity": True}, ["body", "quantity"]),
        ("POST", f"{API}/{code}/cancel", {"reason": 7}, ["body", "reason"]),
        ("POST", f"{API}/suggest", {"category": ""}, ["body", "category"]),
        ("GET", f"{API}?status=lost", None, ["query", "status"]),
        ("GET", f"{API}?limit=0", None, ["query", "limit"]),
    ]  # fmt: skip
    for method, url, body, where in cases:
        kwargs: dict[str, Any] = {"headers": team.admin.headers}
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method, url, **kwargs)
        assert response.status_code == 422, (method, url, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error", response.text
        assert [str(p) for p in error["details"][0]["loc"]][: len(where)] == where, response.text
    approved = await approved_order(client, team, SUPPLY)
    receive = f"{API}/{approved['code']}/receive"
    for body, where in [
        ({"quantity": "a few"}, ["body", "quantity"]),
        ({"quantity": "1", "line": "one"}, ["body", "line"]),
        ({"quantity": "1", "expiry_on": "31/12/2030"}, ["body", "expiry_on"]),
        ({"quantity": "1", "gtin": "123"}, ["body", "gtin"]),
        ({"data": 42}, ["body", "data"]),
    ]:
        response = await post(client, receive, team.operator, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert [str(p) for p in response.json()["error"]["details"][0]["loc"]] == where
    after = (await client.get(f"{API}/{approved['code']}", headers=team.operator.headers)).json()
    assert (after["status"], after["receipts"]) == ("approved", [])


@pytest.mark.postgres_only
async def test_twin_steps_at_once_take_turns(client: httpx.AsyncClient, team: Team) -> None:
    # Two supervisors approve the same order at once: one does, the other is told it is
    # approved already.
    order = await new_order(client, team.operator, SUPPLY)
    code = order["code"]
    assert (await post(client, f"{API}/{code}/submit", team.operator)).status_code == 200
    twins = await asyncio.gather(
        *(post(client, f"{API}/{code}/approve", team.supervisor) for _ in range(2))
    )
    assert sorted(r.status_code for r in twins) == [200, 409]
    loser = next(r for r in twins if r.status_code == 409).json()["error"]
    assert (loser["code"], loser["details"]["status"]) == ("order_wrong_status", "approved")
    # Approving and cancelling at once: whichever comes second is refused, and the order
    # ends as the first left it.
    other = await new_order(client, team.operator, SUPPLY)
    ref = other["code"]
    assert (await post(client, f"{API}/{ref}/submit", team.operator)).status_code == 200
    raced = await asyncio.gather(
        post(client, f"{API}/{ref}/approve", team.supervisor),
        post(client, f"{API}/{ref}/cancel", team.supervisor, {"reason": "dup"}),
    )
    codes = sorted(r.status_code for r in raced)
    final = (await client.get(f"{API}/{ref}", headers=team.operator.headers)).json()
    if codes == [200, 200]:  # approved first, then cancelled (an approved order may be)
        assert final["status"] == "cancelled"
    else:  # cancelled first: the approval is refused
        assert codes == [200, 409]
        assert raced[0].status_code == 409
        assert final["status"] == "cancelled"
    # Two edits of one draft at the version both read: one wins, the other gets 412.
    draft = await new_order(client, team.operator, SUPPLY)
    read = await client.get(f"{API}/{draft['code']}", headers=team.operator.headers)
    edits = await asyncio.gather(
        *(
            client.patch(
                f"{API}/{draft['code']}/lines/1",
                json={"quantity": amount},
                headers={**team.operator.headers, "If-Match": read.headers["ETag"]},
            )
            for amount in ("11", "12")
        )
    )
    assert sorted(r.status_code for r in edits) == [200, 412]
    winner = next(r for r in edits if r.status_code == 200).json()
    final_draft = (await client.get(f"{API}/{draft['code']}", headers=team.operator.headers)).json()
    assert final_draft["lines"][0]["quantity"] == winner["lines"][0]["quantity"]
    assert final_draft["version"] == draft["version"] + 1


async def test_a_scan_counting_nothing_receives_nothing(
    client: httpx.AsyncClient, team: Team
) -> None:
    # A typed quantity must be more than 0; a GS1 count (AI 30) of 0 must be refused the same,
    # not register an empty lot and mark the order partly received (no longer cancellable).
    order = await approved_order(client, team, {**SUPPLY, "supplier_ref": "09506000134352"})
    url = f"{API}/{order['code']}/receive"
    for data in ("(01)09506000134352(10)LOT1(30)0", "(01)09506000134352(10)LOT1(30)00000000"):
        refused = await post(client, url, team.operator, {"data": data})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["details"]) == ("receipt_invalid", {"field": "quantity"})
    after = (await client.get(f"{API}/{order['code']}", headers=team.operator.headers)).json()
    assert (after["status"], after["version"], after["receipts"]) == ("approved", 3, [])
    assert after["lines"][0]["received_quantity"] == "0.000000"
