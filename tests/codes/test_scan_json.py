"""A scan without an action is answered with the JSON its use case builds
(`codes.scan.resolve_json`), not through `ScanResult`: the bytes must be exactly the ones the
model gives when it is built from the item's typed values, for every kind of answer."""

from datetime import timedelta
from typing import Any

import httpx

from qtrack.codes.scan_schemas import ScanResult
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.http import model_response
from qtrack.items import repository
from qtrack.items import service as items_service
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import full_lot_in_bag, register

GTIN = "09506000134352"


async def _scan(client: httpx.AsyncClient, db: Database, who: AppLogin, **body: Any) -> Any:
    """The API's answer, checked against the model's bytes; the answer."""
    response = await client.post("/api/v1/scan", json=body, headers=who.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == list(ScanResult.model_fields)
    typed = dict(answer)
    if answer["item"] is not None:
        async with db.session_scope("read") as session:
            row = await items_service.lookup_row(session, code=answer["item"]["code"])
        typed["item"] = repository.item_values(row)  # decimals, dates, times as they are read
    assert model_response(ScanResult.model_validate(typed)).body == response.content
    return answer


def _day(offset: int) -> str:
    return (utcnow().date() + timedelta(days=offset)).isoformat()


async def test_every_kind_of_plain_scan_answers_the_models_bytes(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    viewer = await logged_in(client, db, "vera", "viewer")
    for code in ("RACK-1", "SHELF-A"):
        made = await client.post(
            "/api/v1/locations",
            json={"code": code, "name": f"{code} ü", "kind": "shelf"},
            headers=admin.headers,
        )
        assert made.status_code == 201, made.text
    bag, lot = await full_lot_in_bag(client, operator, bag_at="RACK-1", lot_at="RACK-1")

    full = await _scan(client, db, operator, data=lot["code"])
    assert full["item"]["container"] == bag["code"]
    assert full["item"]["quantity"] == "25.125000"
    assert [a["name"] for a in full["actions"]] == ["quarantine"]
    assert (await _scan(client, db, viewer, data=lot["code"]))["actions"] == []

    late = await register(
        client, admin, type="supply", quantity="10", expiry_on=_day(20), location="SHELF-A"
    )
    first = await register(
        client, admin, type="supply", quantity="10", expiry_on=_day(5), location="SHELF-A"
    )
    gone = await register(
        client, admin, type="supply", quantity="10", expiry_on=_day(-1), location="SHELF-A"
    )
    fefo = await _scan(client, db, operator, data=late["code"], fefo=True)
    assert [w["details"]["suggested"] for w in fefo["warnings"]] == [first["code"]]
    expired = await _scan(client, db, operator, data=gone["code"])
    assert [w["code"] for w in expired["warnings"]] == ["expired"]

    labelled = await client.get(f"/api/v1/items/{bag['code']}/label", headers=operator.headers)
    label = labelled.json()
    signed = await _scan(client, db, operator, data=label["url"])
    assert (signed["kind"], signed["label_status"], signed["matched"]) == (
        "qtrack_token",
        "valid",
        "item",
    )
    archived = await client.post(
        f"/api/v1/items/{late['code']}/archive", json={"reason": "gone"}, headers=admin.headers
    )
    assert archived.status_code == 200, archived.text
    gone_by = await _scan(client, db, admin, data=late["code"])
    assert (gone_by["actions"], gone_by["can"]) == ([], [])

    place = await _scan(client, db, operator, data="shelf-a")
    assert place["location"] == {"code": "SHELF-A", "name": "SHELF-A ü", "kind": "shelf"}
    offered = await _scan(client, db, operator, data=f"]d201{GTIN}10ABC123\x1d17271200")
    assert (offered["matched"], offered["offers"]) == ("none", ["receive"])
    assert offered["gs1"]["expiry_on"] == "2027-12-31"
    nothing = await _scan(client, db, viewer, data="hello there, scanner")
    assert (nothing["matched"], nothing["offers"]) == ("none", [])
