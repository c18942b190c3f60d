"""The alerts API refuses bad input with a 4xx and a stable code, and pages by cursor."""

import httpx

from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.stock.test_api import alerts, levels, quantity


async def test_bad_alert_requests_are_4xx(client: httpx.AsyncClient, operator: AppLogin) -> None:
    cases = [
        ("GET", "/api/v1/alerts?state=bogus", 422, "validation_error"),
        ("GET", "/api/v1/alerts?limit=0", 422, "validation_error"),
        ("GET", "/api/v1/alerts?limit=201", 422, "validation_error"),
        ("GET", "/api/v1/alerts?cursor=not-a-cursor", 400, "invalid_cursor"),
        ("GET", "/api/v1/alerts/abc", 422, "validation_error"),
        ("GET", "/api/v1/alerts/424242", 404, "alert_not_found"),
        ("POST", "/api/v1/alerts/abc/acknowledge", 422, "validation_error"),
    ]
    for method, url, status, code in cases:
        response = await client.request(method, url, headers=operator.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), url


async def test_alerts_page_by_cursor_newest_first(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    lot = await register(client, operator, type="supply", quantity="20")
    await levels(client, admin, minimum_level="5", reorder_level="10")
    for _ in range(2):  # low, out, back to ok: two crossings each time
        await quantity(client, operator, lot["code"], "dispense", "12")
        await quantity(client, operator, lot["code"], "dispense", "6")
        await quantity(client, operator, lot["code"], "receive", "18")
    every = await alerts(client, operator)
    assert [a["kind"] for a in every] == ["stock_out", "stock_low"] * 2
    first = await client.get(
        "/api/v1/alerts", params={"state": "all", "limit": 3}, headers=operator.headers
    )
    page = first.json()
    assert [a["id"] for a in page["items"]] == [a["id"] for a in every[:3]]
    rest = await client.get(
        "/api/v1/alerts",
        params={"state": "all", "limit": 3, "cursor": page["next_cursor"]},
        headers=operator.headers,
    )
    assert [a["id"] for a in rest.json()["items"]] == [every[3]["id"]]
    assert rest.json()["next_cursor"] is None
    assert await alerts(client, operator, "open") == []  # all cleared: stock is back
