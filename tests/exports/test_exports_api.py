"""`GET /api/v1/exports/{kind}`: what each export holds, in each format, with its list's
filters, read in batches; who may export what; bad filters refused before any byte."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from qtrack.core.db import Database
from qtrack.exports import formats, service, sources
from qtrack.items.service import ItemFilter
from tests.exports.xlsx import sheets
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import register, register_many
from tests.factories.locations import create_tree


def rows_of_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [orjson.loads(line) for line in response.content.splitlines()]


async def listed(client: httpx.AsyncClient, who: AppLogin, query: str) -> list[dict[str, Any]]:
    """Every item the items list shows for a query, following its cursor."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await client.get(f"/api/v1/items?limit=2&{query}{cursor}", headers=who.headers)
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        if not page.json()["next_cursor"]:
            return found
        cursor = f"&cursor={page.json()['next_cursor']}"


async def test_items_export_is_what_the_list_shows_with_its_filters(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    await create_tree(client, admin, ("SITE", None, "site"), ("Z1", "SITE", "zone"))
    await register_many(client, admin, 3, name="Lactose", batch="B1", location="Z1")
    await register_many(client, admin, 2, name="Starch", batch="B2", location="SITE")
    await register(client, admin, type="supply", name="Gloves", quantity="12.5")
    for query in ("location=SITE", "location=Z1", "q=starch&sort=-code", "type=supply", ""):
        shown = await listed(client, admin, query)
        exported = await client.get(
            f"/api/v1/exports/items?format=jsonl&{query}", headers=admin.headers
        )
        assert lines_of(exported) == shown, query
    exported = await client.get("/api/v1/exports/items?type=supply", headers=admin.headers)
    (gloves,) = rows_of_csv(exported)
    assert gloves["name"] == "Gloves"
    assert Decimal(gloves["quantity"]) == Decimal("12.5")
    assert gloves["location"] == ""
    assert gloves["archived"] == "false"
    assert gloves["attributes"] == "{}"
    assert gloves["created_at"].endswith("Z")
    disposition = exported.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="items-')
    assert disposition.endswith('.csv"')


async def test_a_filter_naming_nothing_is_refused_before_any_byte(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    response = await client.get("/api/v1/exports/items?location=NOWHERE", headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "location_not_found"
    response = await client.get("/api/v1/exports/events?item=MAT-999999", headers=admin.headers)
    assert response.json()["error"]["code"] == "item_not_found"
    response = await client.get("/api/v1/exports/items?format=pdf", headers=admin.headers)
    assert response.status_code == 422
    response = await client.get("/api/v1/exports/locations?parent=NOWHERE", headers=admin.headers)
    assert response.status_code == 404


async def test_csv_text_that_a_spreadsheet_would_run_is_defused(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    await register(client, admin, name='=HYPERLINK("http://x")', batch="-5")
    await register(client, admin, name='Quote " and, comma\nand line', batch="@SUM(1)")
    rows = rows_of_csv(await client.get("/api/v1/exports/items", headers=admin.headers))
    assert [(r["name"], r["batch"]) for r in rows] == [
        ('\'=HYPERLINK("http://x")', "-5"),
        ('Quote " and, comma\nand line', "'@SUM(1)"),
    ]
    # JSON Lines and workbooks keep the text as it is: neither runs it.
    lines = lines_of(await client.get("/api/v1/exports/items?format=jsonl", headers=admin.headers))
    assert lines[0]["name"] == '=HYPERLINK("http://x")'


async def test_xlsx_has_typed_cells_and_text_stays_text(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    await register(client, admin, name="=1+1", weight_kg="2.5", batch="00123")
    response = await client.get("/api/v1/exports/items?format=xlsx", headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == formats.MEDIA_TYPES["xlsx"]
    book = sheets(response.content)
    assert list(book) == ["items"]
    head, row = book["items"]
    assert head == [c.name for c in sources.ITEM_COLUMNS]
    item = dict(zip(head, row, strict=False))
    assert item["name"] == "=1+1"  # a string cell, not a formula
    assert item["batch"] == "00123"  # not the number 123
    assert item["weight_kg"] == 2.5
    assert item["archived"] is False
    assert isinstance(item["created_at"], float)  # an Excel date-time serial


async def test_xlsx_goes_on_to_a_new_sheet_when_one_is_full(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register_many(client, admin, 5)
    monkeypatch.setattr(formats, "XLSX_ROWS_PER_SHEET", 2)
    async with db.session_scope("read") as session:
        source = await sources.items(session, ItemFilter())
    data = b"".join([chunk async for chunk in service.stream(db, source, "xlsx", batch=3)])
    book = sheets(data)
    assert list(book) == ["items", "items (2)", "items (3)"]
    codes = [row[1] for sheet in book.values() for row in sheet[1:]]
    assert codes == [f"MAT-{n:06d}" for n in range(1, 6)]
    assert all(sheet[0][1] == "code" for sheet in book.values())


@pytest.mark.parametrize("sort", ["code", "-code", "name", "-name", "created", "-created"])
async def test_keyset_batches_read_every_row_once_in_order(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, sort: str
) -> None:
    for name in ["b", "a", "b", "c", "a", "b", "a"]:  # equal names: the id breaks ties
        await register(client, admin, name=name)
    shown = await listed(client, admin, f"sort={sort}")
    async with db.session_scope("read") as session:
        source = await sources.items(session, ItemFilter(), sort=sort)
    data = b"".join([c async for c in service.stream(db, source, "jsonl", batch=2)])
    assert [orjson.loads(line) for line in data.splitlines()] == shown


async def test_events_export_takes_a_time_range(client: httpx.AsyncClient, admin: AppLogin) -> None:
    lot = await register(client, admin)
    moved = await client.post(
        f"/api/v1/items/{lot['code']}/transitions",
        json={"to": "quarantine"},
        headers=admin.headers,
    )
    assert moved.status_code == 200, moved.text
    everything = lines_of(
        await client.get("/api/v1/exports/events?format=jsonl", headers=admin.headers)
    )
    assert [(e["item"], e["seq"]) for e in everything] == [(lot["code"], 1), (lot["code"], 2)]
    feed = (await client.get("/api/v1/events", headers=admin.headers)).json()["items"]
    assert [e["hash"] for e in everything] == [e["hash"] for e in feed]
    assert everything[1]["after"] == feed[1]["after"]
    second = datetime.fromisoformat(everything[1]["recorded_at"])
    query = {"since": second.isoformat(), "format": "jsonl"}
    later = lines_of(
        await client.get("/api/v1/exports/events", params=query, headers=admin.headers)
    )
    assert [e["seq"] for e in later] == [2]
    query = {"until": second.replace(tzinfo=None).isoformat(), "format": "jsonl"}  # UTC
    earlier = lines_of(
        await client.get("/api/v1/exports/events", params=query, headers=admin.headers)
    )
    assert [e["seq"] for e in earlier] == [1]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    rows = rows_of_csv(
        await client.get("/api/v1/exports/events", params={"since": future}, headers=admin.headers)
    )
    assert rows == []
    typed = lines_of(
        await client.get("/api/v1/exports/events?format=jsonl&type=created", headers=admin.headers)
    )
    assert [e["type"] for e in typed] == ["created"]


async def test_locations_and_shipments_exports(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await create_tree(
        client, admin, ("SITE", None, "site"), ("Z1", "SITE", "zone"), ("R1", "Z1", "rack")
    )
    rows = rows_of_csv(await client.get("/api/v1/exports/locations", headers=admin.headers))
    assert [(r["code"], r["parent"], r["kind"]) for r in rows] == [
        ("SITE", "", "site"),
        ("Z1", "SITE", "zone"),
        ("R1", "Z1", "rack"),
    ]
    rows = rows_of_csv(
        await client.get("/api/v1/exports/locations?parent=SITE", headers=admin.headers)
    )
    assert [r["code"] for r in rows] == ["Z1"]
    for consignee in ("ACME", "Globex"):
        made = await client.post(
            "/api/v1/shipments", json={"consignee": consignee}, headers=admin.headers
        )
        assert made.status_code == 201, made.text
    bills = lines_of(
        await client.get("/api/v1/exports/shipments?format=jsonl", headers=admin.headers)
    )
    assert [(b["consignee"], b["status"], b["containers"]) for b in bills] == [
        ("Globex", "draft", 0),
        ("ACME", "draft", 0),
    ]
    bills = lines_of(
        await client.get("/api/v1/exports/shipments?format=jsonl&q=acm", headers=admin.headers)
    )
    assert [b["consignee"] for b in bills] == ["ACME"]


async def test_each_kind_needs_the_permission_to_read_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    viewer = await logged_in(client, db, "vic", "viewer")
    for kind in ("items", "events", "locations"):
        response = await client.get(f"/api/v1/exports/{kind}", headers=viewer.headers)
        assert response.status_code == 200, kind
    response = await client.get("/api/v1/exports/shipments", headers=viewer.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    response = await client.get("/api/v1/exports/items")
    assert response.status_code == 401


async def test_orders_export(client: httpx.AsyncClient, admin: AppLogin, db: Database) -> None:
    for supplier, lines in (("Medline", [{"type": "supply", "quantity": "10"}]), ("Acme", [])):
        made = await client.post(
            "/api/v1/orders", json={"supplier": supplier, "lines": lines}, headers=admin.headers
        )
        assert made.status_code == 201, made.text
    orders = lines_of(
        await client.get("/api/v1/exports/orders?format=jsonl", headers=admin.headers)
    )
    assert [(o["supplier"], o["status"], o["lines"]) for o in orders] == [
        ("Acme", "draft", 0),
        ("Medline", "draft", 1),
    ]
    rows = rows_of_csv(await client.get("/api/v1/exports/orders?q=med", headers=admin.headers))
    assert [r["supplier"] for r in rows] == ["Medline"]
    viewer = await logged_in(client, db, "vic", "viewer")
    refused = await client.get("/api/v1/exports/orders", headers=viewer.headers)
    assert refused.status_code == 403


async def test_a_time_range_that_no_event_can_have_is_422(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    for query in [
        {"since": "2026-12-05T00:00:00Z", "until": "2026-12-01T00:00:00Z"},  # backwards
        {"since": "2026-12-05T00:00:00Z", "until": "2026-12-05T00:00:00Z"},  # empty
        {"since": "0001-01-01T00:00:00+05:00"},  # before the first UTC time
        {"until": "9999-12-31T23:59:59-05:00"},  # after the last
    ]:
        response = await client.get("/api/v1/exports/events", params=query, headers=admin.headers)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["error"]["code"] == "export_bad_range"
    earliest = await client.get(
        "/api/v1/exports/events", params={"since": "0001-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert earliest.status_code == 200
