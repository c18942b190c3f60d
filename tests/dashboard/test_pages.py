"""The start page, the scan screen, the admin start page and the navigation every page shows."""

import json
import re
from html.parser import HTMLParser

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, signed_in
from tests.factories.items import register_many


class _Page(HTMLParser):
    """The main navigation (href -> whether it is the current page) and every link."""

    def __init__(self) -> None:
        super().__init__()
        self.nav: dict[str, bool] = {}
        self.links: list[str] = []
        self._in_nav = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "nav" and found.get("class") == "mainnav":
            self._in_nav = True
        elif tag == "a" and found.get("href"):
            href = str(found["href"])
            self.links.append(href)
            if self._in_nav:
                self.nav[href] = found.get("aria-current") == "page"

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav = False


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


async def test_every_screen_renders_for_an_operator_under_the_csp(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "op", "operator")
    for path in ("/", "/scan", "/items", "/items/new", "/locations"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'data-csrf="' in response.text
        assert "style=" not in response.text  # the CSP forbids inline styles
        assert "<script>" not in response.text  # and inline scripts
        assert response.headers["cache-control"] == "private, no-cache"
    bad = await client.get("/items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text


async def test_the_navigation_shows_what_the_caller_may_open_and_marks_where_they_are(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await signed_in(client, db, "vic", "viewer")
    home = _parse((await client.get("/")).text)
    assert home.nav == {
        "/": True, "/scan": False, "/items": False, "/locations": False, "/stock": False,
        "/alerts": False,
    }  # fmt: skip

    await signed_in(client, db, "boss2", "admin")
    new_item = _parse((await client.get("/items/new")).text)
    # A page of its own: "New item" is current, "Items" is not.
    assert new_item.nav["/items/new"] is True
    assert new_item.nav["/items"] is False
    assert "/admin" in new_item.nav
    await client.post(
        "/api/v1/locations",
        json={"code": "WH", "name": "Warehouse", "kind": "building"},
        headers=admin.headers,
    )
    # Sections own their sub-pages: a location is under Locations, a user under Admin.
    assert _parse((await client.get("/locations/WH")).text).nav["/locations"] is True
    assert _parse((await client.get("/admin/users")).text).nav["/admin"] is True


async def test_the_start_page_counts_items_by_type_and_state(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await signed_in(client, db, "op", "operator")
    empty = await client.get("/")
    assert "No items yet." in empty.text
    await register_many(client, admin, 3, name="Lactose")
    await register_many(client, admin, 2, type="bag")
    page = await client.get("/")
    assert page.status_code == 200
    assert "No items yet." not in page.text
    bars = re.findall(r'<span class="bar-label">([^<]+)</span>', page.text)
    counts = re.findall(r'<span class="bar-count">(\d+)</span>', page.text)
    shown = dict(zip(bars, counts, strict=True))
    assert shown == {"Material lot · Received": "3", "Bag · Open": "2"}
    links = _parse(page.text).links
    assert "/items?type=material&status=received" in links


async def test_the_scan_screen_offers_the_modes_the_caller_may_use(
    client: httpx.AsyncClient, db: Database
) -> None:
    def config(html: str) -> dict[str, object]:
        found = re.search(r'<script type="application/json" id="scan-config">(.*?)</script>', html)
        assert found, "the scan screen carries its configuration"
        loaded: dict[str, object] = json.loads(found.group(1))
        return loaded

    await signed_in(client, db, "op", "operator")
    operator = config((await client.get("/scan")).text)
    assert operator["modes"] == ["lookup", "putaway", "pack", "act"]
    states, types = operator["states"], operator["types"]
    assert isinstance(states, dict)
    assert isinstance(types, dict)
    assert states["material quarantine"] == "Quarantine"
    assert types["material"] == "Material lot"  # the scan card names a type as people do

    await signed_in(client, db, "vic", "viewer")
    viewer = config((await client.get("/scan")).text)
    assert viewer["modes"] == ["lookup"]


async def test_the_admin_start_page_lists_only_what_the_admin_may_manage(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    await signed_in(client, db, "boss2", "admin")
    response = await client.get("/admin")
    assert response.status_code == 200
    for href in ("/admin/users", "/admin/workflows", "/admin/keys", "/admin/label-templates"):
        assert f'href="{href}"' in response.text
    assert '<a href="/admin" aria-current="page">' in response.text

    # A role that configures the system but manages no people.
    role = {"key": "configurer", "name": "Configurer", "permissions": ["admin.config"]}
    made = await client.post("/api/v1/roles", json=role, headers=admin.headers)
    assert made.status_code == 201, made.text
    client.cookies.clear()
    await signed_in(client, db, "cfg", "configurer")
    sections = _parse((await client.get("/admin")).text).links
    assert "/admin/workflows" in sections
    assert "/admin/item-types" in sections
    for hidden in ("/admin/users", "/admin/roles", "/admin/tokens", "/admin/security-log"):
        assert hidden not in sections


async def test_people_without_an_admin_permission_are_refused_the_admin_start_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "op", "operator")
    response = await client.get("/admin")
    assert response.status_code == 403
    assert 'data-error-code="permission_denied"' in response.text


async def test_the_low_stock_panel_leaves_out_lots_that_are_done_with(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    # Supplies show as low at 10 or less; an expired lot is no stock, low or not (the /stock
    # list and the expiry panels leave it out too).
    live, gone = await register_many(client, admin, 2, type="supply", quantity="4")
    expired = await client.post(
        f"/api/v1/items/{gone['code']}/transitions",
        json={"transition": "expire", "reason": "past its date"},
        headers=admin.headers,
    )
    assert expired.status_code == 200, expired.text
    await signed_in(client, db, "op", "operator")
    page = await client.get("/")
    assert page.status_code == 200
    panel = page.text.split("<h2>Low stock</h2>", 1)[1].split("</section>", 1)[0]
    assert re.findall(r'<a href="/items/([^"]+)">', panel) == [live["code"]]
