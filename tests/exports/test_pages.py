"""The lists' Export links download, with the signed-in session, what the list shows."""

import csv
import html
import io
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import httpx
import orjson

from qtrack.config import Settings
from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, logged_in, signed_in, web_login
from tests.factories.items import register, register_many
from tests.factories.locations import create_location
from tests.timing import clear_of_midnight


def export_links(page: str) -> dict[str, str]:
    """The Export links of a page: format -> URL."""
    found = re.findall(
        r'<a class="button quiet" data-export="(\w+)" href="([^"]+)" download>', page
    )
    return {fmt: html.unescape(href) for fmt, href in found}


async def test_the_items_list_exports_what_its_filters_show(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin: AppLogin = await logged_in(client, db, "boss", "admin")
    await create_location(client, admin, "Z1")
    await register_many(client, admin, 2, name="Lactose", location="Z1")
    await register(client, admin, name="Starch")
    await signed_in(client, db, "vic", "viewer")
    page = await client.get("/items", params={"q": "lactose", "location": "z1"})
    assert page.status_code == 200
    links = export_links(page.text)
    assert set(links) == {"csv", "xlsx", "jsonl"}
    assert links["csv"] == "/api/v1/exports/items?q=lactose&location=Z1&format=csv"
    response = await client.get(links["csv"])  # the session cookie, as the browser sends it
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["Lactose", "Lactose"]
    workbook = await client.get(links["xlsx"])
    assert workbook.headers["content-disposition"].endswith('.xlsx"')


async def test_shipments_and_locations_lists_have_export_links(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "boss", "admin")
    page = await client.get("/shipments", params={"status": "draft", "q": ""})
    assert export_links(page.text)["jsonl"] == (
        "/api/v1/exports/shipments?status=draft&format=jsonl"
    )
    page = await client.get("/locations")
    assert export_links(page.text)["csv"] == "/api/v1/exports/locations?format=csv"
    assert (await client.get("/api/v1/exports/locations?format=csv")).status_code == 200


async def test_the_orders_list_has_export_links(client: httpx.AsyncClient, db: Database) -> None:
    await signed_in(client, db, "boss", "admin")
    page = await client.get("/orders", params={"q": "acme", "status": "nonsense"})
    assert page.status_code == 200
    # A status the list does not know is ignored by the list, and left out of the export.
    assert export_links(page.text)["csv"] == "/api/v1/exports/orders?q=acme&format=csv"
    assert (await client.get("/api/v1/exports/orders?q=acme&format=csv")).status_code == 200


async def test_an_item_page_exports_its_events(client: httpx.AsyncClient, db: Database) -> None:
    admin: AppLogin = await logged_in(client, db, "boss", "admin")
    await create_location(client, admin, "Z1")
    item, other = await register_many(client, admin, 2)
    moved = await client.post(
        f"/api/v1/items/{item['code']}/move", json={"location": "Z1"}, headers=admin.headers
    )
    assert moved.status_code == 200, moved.text
    await signed_in(client, db, "vic", "viewer")
    page = await client.get(f"/items/{item['code']}")
    links = export_links(page.text)
    assert links["csv"] == f"/api/v1/exports/events?item={item['code']}&format=csv"
    response = await client.get(links["csv"])
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["item"], r["type"], r["seq"]) for r in rows] == [
        (item["code"], "created", "1"),
        (item["code"], "moved", "2"),
    ]
    assert other["code"] not in response.text


async def test_the_daily_summary_exports_that_days_events(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    clear_of_midnight(settings.zone)  # the items are registered on the day the page shows
    admin: AppLogin = await logged_in(client, db, "boss", "admin")
    codes = [item["code"] for item in await register_many(client, admin, 3)]
    await web_login(client, "boss")
    today = await client.get("/reports/daily")
    assert today.status_code == 200, today.text
    link = export_links(today.text)["jsonl"]
    path, _, query = link.partition("?")
    window = parse_qs(query)
    assert path == "/api/v1/exports/events"
    since, until = (datetime.fromisoformat(window[k][0]) for k in ("since", "until"))
    assert since.utcoffset() == timedelta(0)
    assert until - since == timedelta(days=1)
    events = [orjson.loads(line) for line in (await client.get(link)).content.splitlines()]
    assert sorted(e["item"] for e in events) == sorted(codes)
    yesterday = await client.get("/reports/daily", params={"date": "2020-01-01"})
    link = export_links(yesterday.text)["jsonl"]
    assert parse_qs(link.partition("?")[2])["until"][0].startswith(("2020-01-01T", "2020-01-02T"))
    assert (await client.get(link)).content == b""


async def test_events_of_a_range_of_days_export_from_the_daily_summary(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin: AppLogin = await logged_in(client, db, "boss", "admin")
    codes = [item["code"] for item in await register_many(client, admin, 2)]
    await web_login(client, "boss")
    page = (await client.get("/reports/daily")).text
    form = re.search(r'<form method="get" action="([^"]+)"[^>]*id="events-export">', page)
    assert form, page
    today = re.search(r'id="e-from" name="from" type="date" value="([\d-]+)"', page)
    assert today
    day = datetime.fromisoformat(today.group(1)).date()
    first, last = (day - timedelta(days=6)).isoformat(), day.isoformat()

    sent = await client.get(form.group(1), params={"from": first, "to": last, "format": "jsonl"})

    assert sent.status_code == 303
    path, _, query = sent.headers["location"].partition("?")
    window = parse_qs(query)
    assert (path, window["format"]) == ("/api/v1/exports/events", ["jsonl"])
    since, until = (datetime.fromisoformat(window[k][0]) for k in ("since", "until"))
    assert until - since in (
        timedelta(days=7),
        timedelta(days=7, hours=1),
        timedelta(days=7, hours=-1),
    )  # fmt: skip  (a DST change)
    body = (await client.get(sent.headers["location"])).content
    events = [orjson.loads(line) for line in body.splitlines()]
    assert sorted(e["item"] for e in events) == sorted(codes)

    backwards = await client.get(form.group(1), params={"from": last, "to": first})
    assert backwards.status_code == 422
    assert "comes before the first" in backwards.text
    api = await client.get(
        "/api/v1/exports/events", params={"since": window["until"][0], "until": window["since"][0]}
    )
    assert (api.status_code, api.json()["error"]["code"]) == (422, "export_bad_range")
    not_a_day = await client.get(form.group(1), params={"from": "x", "to": last})
    assert not_a_day.status_code == 422
