"""Suggest an order: a draft for everything below its reorder level, up to its level, less
what open orders still wait for; critical types first; over the API, the page and the CLI."""

import asyncio
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.accounts.test_cli import create_user, ok, qtrack
from tests.factories.accounts import csrf_of, web_login
from tests.factories.items import register, register_many
from tests.factories.locations import create_tree
from tests.items.test_cli import fails
from tests.orders.conftest import API, Team, approved_order, new_order, post

SUGGEST = f"{API}/suggest"


async def levels(client: httpx.AsyncClient, who: Any, type_key: str, **body: Any) -> None:
    response = await client.put(
        "/api/v1/stock/levels", json={"type": type_key, **body}, headers=who.headers
    )
    assert response.status_code == 200, response.text


def lines_of(order: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(ln["type"], ln["quantity"], ln["supplier_ref"]) for ln in order["lines"]]


async def test_suggest_drafts_what_is_short_up_to_its_level(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = team.admin
    await create_tree(client, admin, ("WARD", None, "site"), ("SHELF", "WARD", "shelf"))
    await register(client, admin, type="supply", quantity="12", location="SHELF")
    await register_many(client, admin, 2, type="bag")
    await levels(client, admin, "supply", minimum_level="5", reorder_level="40")
    await levels(client, admin, "bag", reorder_level="6.5")  # counted: whole items
    await levels(client, admin, "material", reorder_level="0")  # none on hand, none wanted
    # The bag is critical: it comes first.
    critical = await client.patch(
        "/api/v1/item-types/bag", json={"critical": True}, headers=admin.headers
    )
    assert critical.status_code == 200, critical.text

    made = await post(client, SUGGEST, team.operator, {"supplier": "MedCo"})
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["status"], order["supplier"]) == ("draft", "MedCo")
    assert lines_of(order) == [("bag", "5.000000", ""), ("supply", "28.000000", "")]
    history = await client.get(f"{API}/{order['code']}/history", headers=team.operator.headers)
    assert history.json()[0]["data"]["suggested"] is True

    # What is already on order counts: suggesting again drafts nothing.
    again = await post(client, SUGGEST, team.operator)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "nothing_to_order")

    # Once that draft is cancelled, the next suggestion keeps the supplier reference used.
    await client.patch(
        f"{API}/{order['code']}/lines/2", json={"supplier_ref": "SYR-5ML"},
        headers=team.operator.headers,
    )  # fmt: skip
    cancelled = await post(client, f"{API}/{order['code']}/cancel", team.supervisor)
    assert cancelled.status_code == 200, cancelled.text
    renewed = await post(client, SUGGEST, team.operator)
    assert renewed.status_code == 201, renewed.text
    assert lines_of(renewed.json()) == [("bag", "5.000000", ""), ("supply", "28.000000", "SYR-5ML")]


async def test_partly_received_orders_count_what_is_still_to_come(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = team.admin
    await levels(client, admin, "supply", reorder_level="100")
    order = await approved_order(client, team, {"type": "supply", "quantity": "30"})
    got = await post(
        client, f"{API}/{order['code']}/receive", team.operator, {"line": 1, "quantity": "10"}
    )
    assert got.status_code == 200, got.text
    # 10 on hand, 20 still to come: 70 more brings it to 100.
    made = await post(client, SUGGEST, team.operator)
    assert made.status_code == 201, made.text
    assert lines_of(made.json()) == [("supply", "70.000000", "")]


async def test_a_partly_received_order_closed_short_is_no_longer_on_order(
    client: httpx.AsyncClient, team: Team
) -> None:
    """The supplier cannot send the rest: the order is closed with a reason, the lots that
    came stay, nothing more is received on it, and the rest is suggested again."""
    await levels(client, team.admin, "supply", reorder_level="100")
    order = await approved_order(client, team, {"type": "supply", "quantity": "30"})
    url = f"{API}/{order['code']}"
    # Nothing has arrived: there is nothing to close (cancel it instead).
    early = await post(client, f"{url}/close", team.supervisor, {"reason": "gone"})
    assert (early.status_code, early.json()["error"]["code"]) == (409, "order_wrong_status")
    got = await post(client, f"{url}/receive", team.operator, {"line": 1, "quantity": "10"})
    assert got.status_code == 200, got.text
    refused = [
        (team.operator, {"reason": "gone"}, 403),  # needs order.cancel
        (team.supervisor, {}, 422),  # a reason
        (team.supervisor, {"reason": "  "}, 422),
    ]
    for who, body, status in refused:
        response = await post(client, f"{url}/close", who, body)
        assert response.status_code == status, (body, response.text)
    closed = await client.post(
        f"{url}/close", json={"reason": "Discontinued by the supplier"},
        headers={**team.supervisor.headers, "If-Match": got.headers["ETag"]},
    )  # fmt: skip
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.headers["ETag"] == f'"v{closed.json()["version"]}"'
    assert closed.json()["lines"][0]["received_quantity"] == "10.000000"
    late = await post(client, f"{url}/receive", team.operator, {"line": 1, "quantity": "5"})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "order_wrong_status")
    again = await post(client, f"{url}/close", team.supervisor, {"reason": "twice"})
    assert again.status_code == 409
    history = (await client.get(f"{url}/history", headers=team.operator.headers)).json()
    assert [h["data"].get("reason") for h in history if h["type"] == "closed"] == [
        "Discontinued by the supplier"
    ]
    # 10 on hand and nothing to come: 90 more brings it to 100.
    made = await post(client, SUGGEST, team.operator)
    assert made.status_code == 201, made.text
    assert lines_of(made.json()) == [("supply", "90.000000", "")]


async def test_levels_at_locations_add_up_and_a_category_narrows(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = team.admin
    await create_tree(
        client, admin, ("SITE", None, "site"), ("WA", "SITE", "zone"), ("WB", "SITE", "zone")
    )
    await register(client, admin, type="supply", quantity="50", location="WA")
    await register(client, admin, type="supply", quantity="1", location="WB")
    await levels(client, admin, "supply", reorder_level="20")  # overall: 51, fine
    await levels(client, admin, "supply", location="WA", reorder_level="10")  # fine
    await levels(client, admin, "supply", location="WB", reorder_level="15")  # 14 short
    await levels(client, admin, "bag", reorder_level="2")  # 2 short
    created = await client.post(
        "/api/v1/categories", json={"key": "meds", "name": "Meds"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    await client.patch("/api/v1/item-types/supply", json={"category": "meds"},
                       headers=admin.headers)  # fmt: skip

    made = await post(client, SUGGEST, team.operator, {"category": "meds"})
    assert made.status_code == 201, made.text
    assert lines_of(made.json()) == [("supply", "14.000000", "")]
    unknown = await post(client, SUGGEST, team.operator, {"category": "nope"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "category_not_found")


async def test_only_those_who_draft_orders_may_suggest(
    client: httpx.AsyncClient, team: Team
) -> None:
    await levels(client, team.admin, "bag", reorder_level="1")
    refused = await post(client, SUGGEST, team.viewer)
    assert refused.status_code == 403
    bad = await post(client, SUGGEST, team.operator, {"lines": []})
    assert bad.status_code == 422
    # A draft made by hand is an open order too.
    await new_order(client, team.operator, {"type": "bag", "quantity": "1"})
    nothing = await post(client, SUGGEST, team.operator)
    assert (nothing.status_code, nothing.json()["error"]["code"]) == (409, "nothing_to_order")


async def test_the_orders_page_suggests_and_says_when_nothing_is_short(
    client: httpx.AsyncClient, team: Team
) -> None:
    await levels(client, team.admin, "supply", reorder_level="0")
    await web_login(client, "op")
    listing = await client.get("/orders")
    assert 'id="suggest-order"' in listing.text
    token = csrf_of(listing.text)
    form = {"csrf_token": token, "supplier": "MedCo", "category": ""}
    nothing = await client.post("/orders/suggest", data=form)
    assert nothing.status_code == 409
    assert 'id="orders-error"' in nothing.text
    assert "Nothing is below its reorder level" in nothing.text
    assert 'value="MedCo"' in nothing.text  # what was typed stays
    await levels(client, team.admin, "bag", reorder_level="3")
    made = await client.post("/orders/suggest", data=form)
    assert (made.status_code, made.headers["location"]) == (303, "/orders/ORD-000001")
    opened = await client.get("/orders/ORD-000001")
    assert opened.text.count("data-line=") == 1
    assert "MedCo" in opened.text


def test_the_cli_suggests_an_order(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    fails(cli, database_url, "orders", "suggest", "--as", "op", code="nothing_to_order")
    ok(qtrack(cli, database_url, "stock", "levels", "bag", "--reorder", "4"))
    out = ok(qtrack(cli, database_url, "orders", "suggest", "--supplier", "MedCo", "--as", "op"))
    assert out.startswith("ORD-000001  draft  MedCo")
    assert "1  bag" in out


@pytest.mark.postgres_only
async def test_twin_suggestions_at_once_order_once(client: httpx.AsyncClient, team: Team) -> None:
    await register(client, team.admin, type="supply", quantity="4")
    await levels(client, team.admin, "supply", reorder_level="10")
    twins = await asyncio.gather(*(post(client, SUGGEST, team.operator) for _ in range(3)))
    assert sorted(r.status_code for r in twins) == [201, 409, 409], [r.text for r in twins]
    for refused in (r for r in twins if r.status_code == 409):
        assert refused.json()["error"]["code"] == "nothing_to_order"
    drafts = await client.get(API, params={"status": "draft"}, headers=team.operator.headers)
    assert len(drafts.json()) == 1
    made = next(r for r in twins if r.status_code == 201).json()
    assert lines_of(made) == [("supply", "6.000000", "")]
