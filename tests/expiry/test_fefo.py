"""First expired, first out: the lot to use first, by API and as the scan screen's warning."""

import httpx

from tests.expiry.conftest import day, supply
from tests.factories.accounts import AppLogin

GTIN = "09506000134352"


async def _shelves(client: httpx.AsyncClient, who: AppLogin) -> None:
    for code in ("SHELF-A", "SHELF-B"):
        made = await client.post(
            "/api/v1/locations",
            json={"code": code, "name": code, "kind": "shelf"},
            headers=who.headers,
        )
        assert made.status_code == 201, made.text


async def _fefo(client: httpx.AsyncClient, who: AppLogin, **params: str) -> httpx.Response:
    return await client.get("/api/v1/items/fefo", params=params, headers=who.headers)


async def test_the_lot_that_expires_first_is_suggested(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await _shelves(client, admin)
    late = await supply(client, admin, day(20), location="SHELF-A", gtin=GTIN)
    first = await supply(client, admin, day(5), location="SHELF-A", gtin=GTIN)
    await supply(client, admin, day(-1), location="SHELF-A", gtin=GTIN)  # expired: never
    empty = await supply(client, admin, day(2), location="SHELF-A", gtin=GTIN)
    counted = await client.post(
        f"/api/v1/items/{empty}/quantity",
        json={"kind": "adjust", "amount": "0", "reason": "count"},
        headers=admin.headers,
    )
    assert counted.status_code == 200, counted.text
    elsewhere = await supply(client, admin, day(1), location="SHELF-B")
    undated = await supply(client, admin, None, location="SHELF-A", gtin=GTIN)

    answer = await _fefo(client, operator, type="supply", location="SHELF-A")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["suggestion"]["code"] == first
    assert [i["code"] for i in body["next"]] == [late, undated]  # without a date: last
    anywhere = (await _fefo(client, operator, type="supply")).json()
    assert anywhere["suggestion"]["code"] == elsewhere
    by_gtin = (await _fefo(client, operator, gtin=GTIN)).json()
    assert by_gtin["suggestion"]["code"] == first
    none = (await _fefo(client, operator, type="supply", location="SHELF-B", gtin=GTIN)).json()
    assert none["suggestion"] is None
    assert none["next"] == []


async def test_fefo_needs_a_type_or_gtin_that_exists(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    assert (await _fefo(client, operator)).status_code == 422
    assert (await _fefo(client, operator, type="nope")).status_code == 404
    assert (await _fefo(client, operator, type="supply", location="NOWHERE")).status_code == 404
    assert (await _fefo(client, operator, gtin="12ab")).status_code == 422


async def _scan(client: httpx.AsyncClient, who: AppLogin, **body: object) -> dict[str, object]:
    answer = await client.post("/api/v1/scan", json=body, headers=who.headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


async def test_the_scan_warns_when_another_lot_there_expires_first(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await _shelves(client, admin)
    late = await supply(client, admin, day(20), location="SHELF-A")
    first = await supply(client, admin, day(5), location="SHELF-A")
    await supply(client, admin, day(1), location="SHELF-B")  # another place: no matter
    gone = await supply(client, admin, day(-1), location="SHELF-A")

    picked = await _scan(client, operator, data=late, fefo=True)
    assert picked["warnings"] == [
        {
            "code": "fefo",
            "message": f"{first} at SHELF-A expires earlier ({day(5)}): use it first",
            "details": {
                "suggested": first,
                "suggested_expiry_on": day(5),
                "scanned_expiry_on": day(20),
            },
        }
    ]
    assert (await _scan(client, operator, data=first, fefo=True))["warnings"] == []
    # A plain look-up does not ask (the scan path stays one query)...
    assert (await _scan(client, operator, data=late))["warnings"] == []
    # ...but a dispense does, and is done all the same: the warning is advice.
    dispensed = await _scan(client, operator, data=late, action={"kind": "dispense", "amount": "1"})
    assert [w["code"] for w in dispensed["warnings"]] == ["fefo"]  # type: ignore[attr-defined]
    assert dispensed["result"]["item"]["quantity"] == "9.000000"  # type: ignore[index]
    # An expired lot says so on any scan.
    expired = await _scan(client, operator, data=gone)
    assert [w["code"] for w in expired["warnings"]] == ["expired"]  # type: ignore[attr-defined]
    assert day(-1) in expired["warnings"][0]["message"]  # type: ignore[index]
