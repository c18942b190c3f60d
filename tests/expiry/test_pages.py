"""The expiry pages: the dashboard's panels, the items list's filter, the /expiry page and
its sweep button."""

import re

import httpx

from qtrack.core.db import Database
from tests.expiry.conftest import day, supply
from tests.factories.accounts import AppLogin, csrf_of, signed_in
from tests.factories.locations import create_tree


def _codes(html: str, section: str) -> list[str]:
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<a href="/items/([A-Z]+-\d+)">', part)


async def test_the_dashboard_shows_what_expires_soon_and_what_has_expired(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await signed_in(client, db, "op", "operator")
    empty = (await client.get("/")).text
    assert "Nothing expires soon." in empty
    assert "Nothing has expired." in empty
    late = await supply(client, admin, day(20))
    soon = await supply(client, admin, day(3))
    gone = await supply(client, admin, day(-1))
    await supply(client, admin, day(45))
    html = (await client.get("/")).text
    assert _codes(html, "expiring-soon") == [soon, late]  # soonest first
    assert _codes(html, "expired") == [gone]
    assert 'href="/items?expiry=soon"' in html


async def test_the_items_list_filters_by_expiry(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await signed_in(client, db, "op", "operator")
    soon = await supply(client, admin, day(3))
    gone = await supply(client, admin, day(-1))
    listed = await client.get("/items", params={"expiry": "expired"})
    assert listed.status_code == 200
    assert gone in listed.text
    assert soon not in listed.text
    assert '<option value="expired" selected>' in listed.text
    listed = await client.get("/items", params={"expiry": "soon"})
    assert soon in listed.text
    assert gone not in listed.text
    listed = await client.get("/items", params={"expiring_within_days": "2"})
    assert soon not in listed.text
    bad = await client.get("/items", params={"expiring_within_days": "x"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text


async def test_the_expiry_page_lists_and_a_supervisor_sweeps_from_it(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    soon = await supply(client, admin, day(3))
    gone = await supply(client, admin, day(-1))
    await signed_in(client, db, "op", "operator")
    page = await client.get("/expiry")
    assert page.status_code == 200
    assert _codes(page.text, "expired") == [gone]
    assert _codes(page.text, "expiring") == [soon]
    assert "Sweep now" not in page.text  # an operator may not
    client.cookies.clear()
    await signed_in(client, db, "sue", "supervisor")
    page = await client.get("/expiry")
    assert "Sweep now" in page.text
    swept = await client.post("/expiry/sweep", data={"csrf_token": csrf_of(page.text)})
    assert swept.status_code == 200, swept.text
    assert "1 expired, 0 left" in swept.text
    item = (await client.get(f"/api/v1/items/{gone}", headers=admin.headers)).json()
    assert item["status"] == "expired"
    # Or queued as the durable background job.
    queued = await client.post(
        "/expiry/sweep", data={"csrf_token": csrf_of(page.text), "background": "1"}
    )
    assert queued.status_code == 200, queued.text
    assert re.search(r'id="queued" role="status">The sweep is queued as background job \d+ '
                     r"\(expiry\.sweep\)", queued.text)  # fmt: skip


async def test_the_expiry_page_filters_by_category(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    made = await client.post(
        "/api/v1/categories", json={"key": "meds", "name": "Meds"}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    typed = await client.patch(
        "/api/v1/item-types/supply", json={"category": "meds"}, headers=admin.headers
    )
    assert typed.status_code == 200, typed.text
    soon = await supply(client, admin, day(3))
    other = await client.post(
        "/api/v1/items", json={"type": "material", "expiry_on": day(2)}, headers=admin.headers
    )
    assert other.status_code == 201, other.text
    (lot,) = [i["code"] for i in other.json()["items"]]
    await signed_in(client, db, "op", "operator")
    everything = await client.get("/expiry")
    assert sorted(_codes(everything.text, "expiring")) == sorted([soon, lot])
    meds = await client.get("/expiry", params={"category": "meds"})
    assert _codes(meds.text, "expiring") == [soon]
    assert '<option value="meds" selected>' in meds.text
    assert "/items?expiry=soon&amp;category=meds" in meds.text
    unknown = await client.get("/expiry", params={"category": "nope"})
    assert unknown.status_code == 404


async def test_the_expiry_page_says_which_lot_to_use_first(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await create_tree(client, admin, ("STORE", None, "site"), ("SHELF", "STORE", "shelf"))
    later = await supply(client, admin, day(40), location="SHELF", batch="LATE")
    first = await supply(client, admin, day(20), location="SHELF", batch="EARLY")
    elsewhere = await supply(client, admin, day(10))
    await signed_in(client, db, "op", "operator")
    page = await client.get("/expiry", params={"pick_type": "supply", "pick_location": "STORE"})
    assert page.status_code == 200
    assert re.search(rf'id="fefo-first"[^>]*>Use <a href="/items/{first}">{first}</a> first '
                     rf"\(batch EARLY\): expires {day(20)}, at SHELF\.", page.text)  # fmt: skip
    assert later in page.text.split('id="fefo-next"', 1)[1].split("</p>", 1)[0]
    assert elsewhere not in page.text.split('id="fefo"', 1)[1].split("</section>", 1)[0]
    nowhere = await client.get("/expiry", params={"pick_type": "supply", "pick_location": "NOPE"})
    assert nowhere.status_code == 200
    assert 'id="fefo-error"' in nowhere.text
    bad = await client.get("/expiry", params={"pick_gtin": "12ab"})
    assert "A GTIN is 8 to 14 digits" in bad.text
