"""QR images, label PDFs and ZPL over the API, and decoding frames: each round-trips."""

from collections.abc import MutableMapping
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from qtrack.codes.decode import decode_image
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.items.models import Item
from qtrack.signing.models import ItemLabel
from tests.factories.accounts import AppLogin, create_user, logged_in, login
from tests.factories.items import codes_of


@pytest.fixture
async def op(client: httpx.AsyncClient, db: Database) -> AppLogin:
    return await logged_in(client, db, "op", "operator")


async def test_item_qr_png_and_svg_round_trip(client: httpx.AsyncClient, op: AppLogin) -> None:
    (code,) = await codes_of(client, op, 1, name="Lactose", batch="B7")
    url = (await client.get(f"/api/v1/items/{code}/label", headers=op.headers)).json()["url"]
    png = await client.get(f"/api/v1/items/{code}/qr.png", params={"scale": 6}, headers=op.headers)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert [s.text for s in decode_image(png.content)] == [url]
    cached = await client.get(
        f"/api/v1/items/{code}/qr.png",
        params={"scale": 6},
        headers={**op.headers, "If-None-Match": png.headers["etag"]},
    )
    assert cached.status_code == 304
    svg = await client.get(f"/api/v1/items/{code}/qr.svg", headers=op.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<")
    assert "viewBox" in svg.text
    # A reprint changes the image (and its ETag).
    await client.post(f"/api/v1/items/{code}/labels", headers=op.headers)
    again = await client.get(
        f"/api/v1/items/{code}/qr.png", params={"scale": 6}, headers=op.headers
    )
    assert again.headers["etag"] != png.headers["etag"]


@pytest.mark.parametrize("params", [{"scale": 0}, {"scale": 41}, {"border": 17}, {"ec": "X"}])
async def test_render_parameters_are_bounded(
    client: httpx.AsyncClient, op: AppLogin, params: dict[str, str | int]
) -> None:
    (code,) = await codes_of(client, op, 1, name="Lactose", batch="B7")
    response = await client.get(f"/api/v1/items/{code}/qr.png", params=params, headers=op.headers)
    assert response.status_code == 422


async def test_label_pdf_and_zpl(client: httpx.AsyncClient, op: AppLogin, db: Database) -> None:
    codes = await codes_of(client, op, 3, name="Lactose", batch="B7")
    await create_user(db, "boss", "admin")
    boss = await login(client, "boss")
    await client.post(
        "/api/v1/locations",
        json={"code": "BIN-1", "name": "Bin 1", "kind": "shelf"},
        headers=boss.headers,
    )
    params: dict[str, str | int] = {"items": ",".join(codes), "locations": "BIN-1", "skip": 2}
    sheet = await client.get("/api/v1/labels.pdf", params=params, headers=op.headers)
    assert sheet.status_code == 200, sheet.text
    assert sheet.headers["content-type"] == "application/pdf"
    assert sheet.content.startswith(b"%PDF")
    zpl = await client.get(
        "/api/v1/labels.zpl", params={"items": ",".join(codes)}, headers=op.headers
    )
    assert zpl.status_code == 200
    assert zpl.text.count("^XA") == 3
    token_url = (await client.get(f"/api/v1/items/{codes[0]}/label", headers=op.headers)).json()[
        "url"
    ]
    assert token_url in zpl.text

    bad: list[tuple[dict[str, str | int], int]] = [
        ({"items": "MAT-999999"}, 404),
        ({}, 422),
        ({"items": codes[0], "skip": 21}, 422),
        ({"items": codes[0], "template": "nope"}, 404),
        ({"items": ",".join(["MAT-000001"] * 1001)}, 422),
    ]
    for query, status in bad:
        response = await client.get("/api/v1/labels.pdf", params=query, headers=op.headers)
        assert response.status_code == status, (query, response.text)


async def test_a_code_named_twice_prints_one_label_twice(
    client: httpx.AsyncClient, op: AppLogin, db: Database
) -> None:
    """Two copies of an item's label, for an item whose label was revoked: the label signed
    for the first copy is the second too, and stays the item's current one."""
    (code,) = await codes_of(client, op, 1)
    async with db.session_scope() as session:
        item_id = await session.scalar(select(Item.id).where(Item.code == code))
        await session.execute(
            update(ItemLabel).where(ItemLabel.item_id == item_id).values(revoked_at=utcnow())
        )
    zpl = await client.get("/api/v1/labels.zpl", params={"items": f"{code},{code}"},
                           headers=op.headers)  # fmt: skip
    assert zpl.status_code == 200, zpl.text
    current = (await client.get(f"/api/v1/items/{code}/label", headers=op.headers)).json()
    assert zpl.text.count(current["url"]) == 2
    async with db.session_scope("read") as session:
        live = await session.scalar(
            select(func.count()).where(ItemLabel.item_id == item_id, ItemLabel.revoked_at.is_(None))
        )
    assert live == 1


async def test_more_codes_than_a_statement_takes_are_too_many_labels(
    app: FastAPI, op: AppLogin
) -> None:
    # 40,000 codes: more than PostgreSQL takes as a statement's parameters (32,767). The URL
    # is past httpx's limit (64 KiB) but not uvicorn's, so the request goes to the app as
    # uvicorn would hand it over.
    query = b"items=" + b",".join([b"A"] * 40_000)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    headers = [(k.lower().encode(), v.encode()) for k, v in op.headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/v1/labels.pdf", "raw_path": b"/api/v1/labels.pdf",
        "query_string": query, "root_path": "", "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("test", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 422, body
    assert orjson.loads(body)["error"]["code"] == "too_many_labels"


async def test_templates_and_decode_endpoint(client: httpx.AsyncClient, op: AppLogin) -> None:
    templates = (await client.get("/api/v1/label-templates", headers=op.headers)).json()
    assert {t["key"] for t in templates} >= {"a4-21", "letter-30", "roll-50x30"}
    (code,) = await codes_of(client, op, 1, name="Lactose", batch="B7")
    png = (await client.get(f"/api/v1/items/{code}/qr.png", headers=op.headers)).content
    decoded = await client.post(
        "/api/v1/scan/decode", content=png, headers={**op.headers, "content-type": "image/png"}
    )
    assert decoded.status_code == 200, decoded.text
    [symbol] = decoded.json()["symbols"]
    assert symbol["format"].lower().startswith("qr")
    scanned = await client.post(
        "/api/v1/scan",
        json={"data": symbol["text"], "symbology": symbol["symbology"]},
        headers=op.headers,
    )
    assert scanned.json()["item"]["code"] == code
    garbage = await client.post("/api/v1/scan/decode", content=b"not an image", headers=op.headers)
    assert 400 <= garbage.status_code < 500


async def test_gs1_items_get_a_gs1_datamatrix(client: httpx.AsyncClient, op: AppLogin) -> None:
    response = await client.post(
        "/api/v1/items",
        json={
            "type": "material",
            "gtin": "09506000134352",
            "batch": "ABC123",
            "expiry_raw": "271200",
        },
        headers=op.headers,
    )
    code = response.json()["items"][0]["code"]
    image = await client.get(f"/api/v1/items/{code}/datamatrix.png", headers=op.headers)
    assert image.status_code == 200
    [symbol] = decode_image(image.content)
    assert symbol.symbology == "]d2"
    assert symbol.text == "010950600013435217271200" + "10ABC123"
    scanned = await client.post(
        "/api/v1/scan", json={"data": symbol.symbology + symbol.text}, headers=op.headers
    )
    assert scanned.json()["item"]["code"] == code
    (plain,) = await codes_of(client, op, 1, name="Lactose", batch="B7")
    missing = await client.get(f"/api/v1/items/{plain}/datamatrix.png", headers=op.headers)
    assert missing.status_code == 409
    assert missing.json()["error"]["code"] == "no_gs1_data"


async def test_admins_define_label_templates(
    client: httpx.AsyncClient, db: Database, op: AppLogin
) -> None:
    await create_user(db, "boss", "admin")
    boss = await login(client, "boss")
    body = {
        "key": "shelf-strip",
        "name": "Shelf strip",
        "page": "A4",
        "label_width_mm": 100,
        "label_height_mm": 30,
        "columns": 2,
        "rows": 9,
        "margin_top_mm": 10,
        "margin_left_mm": 5,
        "fields": "qr,code,name",
    }
    assert (
        await client.post("/api/v1/label-templates", json=body, headers=op.headers)
    ).status_code == 403
    made = await client.post("/api/v1/label-templates", json=body, headers=boss.headers)
    assert made.status_code == 201, made.text
    assert (
        await client.post("/api/v1/label-templates", json=body, headers=boss.headers)
    ).status_code == 409
    too_wide = await client.post(
        "/api/v1/label-templates",
        json={**body, "key": "too-wide", "columns": 3},
        headers=boss.headers,
    )
    assert too_wide.status_code == 422
    (code,) = await codes_of(client, op, 1, name="Lactose", batch="B7")
    sheet = await client.get(
        "/api/v1/labels.pdf", params={"items": code, "template": "shelf-strip"}, headers=op.headers
    )
    assert sheet.status_code == 200
