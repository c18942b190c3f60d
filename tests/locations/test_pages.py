"""The location pages: one place with its path, label, places inside and items; and the forms
with which location managers create, change, move and archive places."""

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from qtrack.core.db import Database
from qtrack.locations.models import Location
from tests.factories.accounts import AppLogin, csrf_of, logged_in, signed_in, web_login
from tests.factories.items import codes_of
from tests.factories.locations import create_location

API = "/api/v1/locations"


class _Parsed(HTMLParser):
    """What a person sees of a location page: breadcrumb, rows, forms, fields in error."""

    def __init__(self) -> None:
        super().__init__()
        self.breadcrumb: list[str] = []
        self.rows: list[str] = []
        self.children: list[str] = []
        self.forms: list[str] = []
        self.invalid: list[str] = []
        self.errors: dict[str, str] = {}
        self.links: list[str] = []
        self._in: list[str] = []
        self._error_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "nav" and a.get("class") == "breadcrumb":
            self._in.append("breadcrumb")
        elif tag == "a" and "breadcrumb" in self._in:
            self.breadcrumb.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "tr" and "data-item-code" in a:
            self.rows.append(a["data-item-code"])
        if tag == "li" and "data-location" in a:
            self.children.append(a["data-location"])
        if tag == "form" and a.get("method") == "post":
            self.forms.append(a["action"])
        if a.get("aria-invalid") == "true":
            self.invalid.append(a["name"])
        if a.get("class") == "field-error":
            self._error_id = a["id"].removeprefix("e-")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._error_id is not None:
            self.errors[self._error_id] = data
            self._error_id = None


def parse(html: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(html)
    return parsed


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: Database) -> AppLogin:
    """An administrator (location.manage), logged in through the API to arrange data."""
    return await logged_in(client, db, "boss", "admin")


async def _plant(client: httpx.AsyncClient, who: AppLogin) -> None:
    """PLANT > WH > Z1 > RACK-3, and Z2 under WH."""
    await create_location(client, who, "PLANT", "site", latitude=48.8566, longitude=2.3522)
    await create_location(client, who, "WH", "building", "PLANT")
    await create_location(client, who, "Z1", "zone", "WH")
    await create_location(client, who, "Z2", "zone", "WH")
    await create_location(client, who, "RACK-3", "rack", "Z1")


async def _rows(db: Database) -> dict[str, tuple[Any, ...]]:
    """Every location as stored: code -> (name, kind, parent_id, path, lat, lon, archived)."""
    async with db.session_scope("read") as session:
        found = await session.execute(select(Location))
        return {
            loc.code: (
                loc.name,
                loc.kind,
                loc.parent_id,
                loc.path,
                loc.latitude,
                loc.longitude,
                loc.archived,
            )
            for (loc,) in found
        }


async def test_a_location_page_shows_its_path_label_places_and_items(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    lots = await codes_of(client, boss, 2, type="material", location="Z1", name="Thing")
    (bag,) = await codes_of(client, boss, 1, type="bag", location="Z1", name="Thing")
    (deep,) = await codes_of(client, boss, 1, type="material", location="RACK-3", name="Thing")
    packed = await client.post(
        f"/api/v1/items/{lots[1]}/pack", headers=boss.headers, json={"container": bag}
    )
    assert packed.status_code == 200, packed.text
    await signed_in(client, db, "olga", "operator")

    response = await client.get("/locations/z1")  # a code typed in lower case
    assert response.status_code == 200
    html = parse(response.text)
    assert html.breadcrumb == ["/locations", "/locations/PLANT", "/locations/WH"]
    assert '<span aria-current="page">Z1</span>' in response.text
    assert html.children == ["RACK-3"]
    assert "1 here · 1 in all" in response.text
    assert html.rows == sorted([*lots, bag])  # directly here, the packed lot too
    assert deep not in html.rows
    assert re.search(rf"{bag}</a> <span class=\"muted holds\">holds 1</span>", response.text)
    assert 'data-status="received"' in response.text  # the badge of the lot's state
    assert "Received" in response.text
    assert 'src="/api/v1/locations/Z1/qr.svg"' in response.text
    assert "/api/v1/labels.pdf?locations=Z1" in html.links
    assert html.forms == ["/logout"]  # an operator manages no locations

    below = await client.get("/locations/Z1?below=1")
    assert parse(below.text).rows == sorted([*lots, bag, deep])
    assert 'href="/locations/RACK-3">RACK-3</a>' in below.text

    top = await client.get("/locations/PLANT")
    assert "48.856600, 2.352200" in top.text
    assert parse(top.text).children == ["WH"]
    assert "0 here · 4 in all" in top.text

    qr = await client.get("/api/v1/locations/Z1/qr.svg")
    assert qr.status_code == 200
    pdf = await client.get("/api/v1/labels.pdf?locations=Z1")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"


async def test_the_tree_links_each_place_and_only_managers_see_new(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    await signed_in(client, db, "vic", "viewer")
    tree = await client.get("/locations")
    links = parse(tree.text).links
    for code in ("PLANT", "WH", "Z1", "Z2", "RACK-3"):
        assert f"/locations/{code}" in links
    assert "/locations/new" not in links
    page = await client.get("/locations/Z1")
    assert "/api/v1/labels.pdf?locations=Z1" not in parse(page.text).links  # no label.print
    assert (await client.get("/locations/new")).status_code == 403

    await web_login(client, "boss")
    assert "/locations/new" in parse((await client.get("/locations")).text).links


async def test_items_come_a_page_at_a_time(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await create_location(client, boss, "BIG", "zone")
    codes = sorted(await codes_of(client, boss, 53, type="supply", location="BIG", name="Thing"))
    await web_login(client, "boss")
    for query in ("", "?below=1"):
        first = await client.get(f"/locations/BIG{query}")
        assert parse(first.text).rows == codes[:50]
        (next_url,) = re.findall(r'rel="next" href="([^"]+)"', first.text)
        second = await client.get(next_url.replace("&amp;", "&"))
        assert second.status_code == 200
        assert parse(second.text).rows == codes[50:]
        assert 'rel="next"' not in second.text
        assert ("below=1" in next_url) == bool(query)
    assert (await client.get("/locations/BIG?cursor=WzEsMl0")).status_code == 400  # [1,2]
    assert (await client.get("/locations/BIG?cursor=%%%")).status_code == 400


async def test_the_page_costs_the_same_queries_for_few_or_many_items(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    await codes_of(client, boss, 1, type="bag", location="Z1", name="Thing")
    await codes_of(client, boss, 1, type="material", location="RACK-3", name="Thing")
    await web_login(client, "boss")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        few: dict[str, int] = {}
        for query in ("", "?below=1"):
            statements.clear()
            assert (await client.get(f"/locations/Z1{query}")).status_code == 200
            few[query] = len(statements)
        await codes_of(client, boss, 12, type="bag", location="Z1", name="Thing")
        await codes_of(client, boss, 9, type="material", location="RACK-3", name="Thing")
        await create_location(client, boss, "RACK-4", "rack", "Z1")
        for query in ("", "?below=1"):
            statements.clear()
            assert (await client.get(f"/locations/Z1{query}")).status_code == 200
            assert len(statements) == few[query], query
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_an_unknown_location_is_the_404_page(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await web_login(client, "boss")
    response = await client.get("/locations/NOWHERE")
    assert response.status_code == 404
    assert 'data-error-code="location_not_found"' in response.text
    token = csrf_of((await client.get("/locations")).text)
    for action in ("edit", "archive"):
        posted = await client.post(
            f"/locations/NOWHERE/{action}", data={"csrf_token": token, "name": "X", "kind": "zone"}
        )
        assert posted.status_code == 404
    assert await _rows(db) == {}


async def test_a_manager_creates_a_tree_through_the_form(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await web_login(client, "boss")
    form = await client.get("/locations/new")
    assert form.status_code == 200
    token = csrf_of(form.text)
    base = {"csrf_token": token, "kind": "site", "latitude": "", "longitude": "", "radius_m": ""}
    site = await client.post(
        "/locations/new",
        data={**base, "code": "north", "name": "North plant", "parent": "", "latitude": "59.3",
              "longitude": "18.07", "radius_m": "250"},
    )  # fmt: skip
    assert site.status_code == 303
    assert site.headers["location"] == "/locations/NORTH"
    under = await client.get("/locations/new?parent=NORTH")
    assert 'value="NORTH"' in under.text
    zone = await client.post(
        "/locations/new",
        data={**base, "code": "N-Z1", "name": "Zone 1", "kind": "zone", "parent": "north"},
    )
    assert zone.status_code == 303
    rows = await _rows(db)
    assert rows["NORTH"][:2] == ("North plant", "site")
    assert rows["NORTH"][4:6] == (59.3, 18.07)
    north_id = int(rows["NORTH"][3].strip("/"))
    assert rows["N-Z1"][2] == north_id
    page = await client.get("/locations/N-Z1")
    assert parse(page.text).breadcrumb == ["/locations", "/locations/NORTH"]
    assert "within 250 m" in (await client.get("/locations/NORTH")).text


@pytest.mark.parametrize(
    ("fields", "field", "status", "message"),
    [
        ({"code": "Z1"}, "code", 409, "Location 'Z1' already exists"),
        ({"parent": "NOPE"}, "parent", 422, "No location 'NOPE'"),
        ({"latitude": "91", "longitude": "0"}, "latitude", 422, "less than or equal to 90"),
        ({"latitude": "north"}, "latitude", 422, "valid number"),
        ({"latitude": "45"}, "longitude", 422, "latitude and longitude go together"),
        ({"code": "A B"}, "code", 422, "Use only letters, digits"),
        ({"name": ""}, "name", 422, "Required"),
        ({"name": " "}, "name", 422, "Required"),
        ({"kind": "planet"}, "kind", 422, "Input should be"),
    ],
)
async def test_a_bad_new_location_is_refused_on_the_form(
    client: httpx.AsyncClient,
    db: Database,
    boss: AppLogin,
    fields: dict[str, str],
    field: str,
    status: int,
    message: str,
) -> None:
    await _plant(client, boss)
    before = await _rows(db)
    await web_login(client, "boss")
    token = csrf_of((await client.get("/locations/new")).text)
    data = {"csrf_token": token, "code": "NEW-1", "name": "New", "kind": "zone", "parent": "WH"}
    response = await client.post("/locations/new", data={**data, **fields})
    assert response.status_code == status
    html = parse(response.text)
    assert html.invalid == [field]
    assert message in html.errors[field]
    assert f'aria-describedby="e-{field}"' in response.text
    assert 'value="New"' in response.text or field == "name"  # what was typed is kept
    assert await _rows(db) == before


async def test_a_manager_edits_and_moves_a_location(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    await web_login(client, "boss")
    page = await client.get("/locations/Z1")
    assert "/locations/Z1/edit" in parse(page.text).forms
    token = csrf_of(page.text)
    moved = await client.post(
        "/locations/Z1/edit",
        data={"csrf_token": token, "name": "Cold room", "kind": "area", "parent": "PLANT",
              "latitude": "48.85", "longitude": "2.35", "radius_m": ""},
    )  # fmt: skip
    assert moved.status_code == 303
    assert moved.headers["location"] == "/locations/Z1"
    rows = await _rows(db)
    assert rows["Z1"][:2] == ("Cold room", "area")
    plant_id, z1_id = rows["PLANT"][3], rows["Z1"][3]
    assert z1_id.startswith(plant_id)
    assert z1_id.count("/") == 3
    assert rows["RACK-3"][3].startswith(z1_id)  # the subtree moved with it
    assert parse((await client.get("/locations/RACK-3")).text).breadcrumb == [
        "/locations",
        "/locations/PLANT",
        "/locations/Z1",
    ]


@pytest.mark.parametrize(
    ("fields", "field", "status", "message"),
    [
        ({"parent": "RACK-3"}, "parent", 409, "'RACK-3' is 'Z1' or inside it"),
        ({"parent": "Z1"}, "parent", 409, "or inside it"),
        ({"parent": "GONE"}, "parent", 422, "No location 'GONE'"),
        ({"latitude": "-100", "longitude": "3"}, "latitude", 422, "greater than or equal to -90"),
        ({"longitude": "3"}, "latitude", 422, "latitude and longitude go together"),
        ({"radius_m": "-1"}, "radius_m", 422, "greater than or equal to 0"),
    ],
)
async def test_a_bad_edit_is_refused_on_the_form(
    client: httpx.AsyncClient,
    db: Database,
    boss: AppLogin,
    fields: dict[str, str],
    field: str,
    status: int,
    message: str,
) -> None:
    await _plant(client, boss)
    before = await _rows(db)
    await web_login(client, "boss")
    token = csrf_of((await client.get("/locations/Z1")).text)
    data = {"csrf_token": token, "name": "Renamed", "kind": "zone", "parent": "WH"}
    response = await client.post("/locations/Z1/edit", data={**data, **fields})
    assert response.status_code == status
    html = parse(response.text)
    assert html.invalid == [field]
    assert message in html.errors[field]
    assert 'id="edit-error"' in response.text
    assert 'value="Renamed"' in response.text  # the form keeps what was typed
    assert html.children == ["RACK-3"]  # still the whole page
    assert await _rows(db) == before  # not even the name


async def test_archiving_refuses_a_location_that_still_holds_something(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    await codes_of(client, boss, 1, type="bag", location="Z2", name="Thing")
    await web_login(client, "boss")
    token = csrf_of((await client.get("/locations")).text)

    for code, message in (("Z2", "still holds 1 item(s)"), ("WH", "still holds 2 location(s)")):
        refused = await client.post(f"/locations/{code}/archive", data={"csrf_token": token})
        assert refused.status_code == 409
        assert 'id="archive-error"' in refused.text
        assert message in refused.text
    rows = await _rows(db)
    assert not any(row[6] for row in rows.values())

    done = await client.post("/locations/RACK-3/archive", data={"csrf_token": token})
    assert done.status_code == 303
    assert (await _rows(db))["RACK-3"][6] is True
    page = await client.get("/locations/RACK-3")
    assert page.status_code == 200
    assert 'id="archived-note"' in page.text
    assert parse(page.text).forms == ["/logout"]  # nothing more to manage on it
    assert "/locations/RACK-3" not in parse((await client.get("/locations")).text).links
    assert parse((await client.get("/locations/Z1")).text).children == []


async def test_without_location_manage_there_are_no_forms_and_posts_are_refused(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    before = await _rows(db)
    for username, role in (("olga", "operator"), ("vic", "viewer")):
        await signed_in(client, db, username, role)
        page = await client.get("/locations/Z1")
        assert parse(page.text).forms == ["/logout"]
        assert "/locations/new?parent=Z1" not in page.text
        token = csrf_of(page.text)
        posts = {
            "/locations/new": {"code": "X1", "name": "X", "kind": "zone"},
            "/locations/Z2/edit": {"name": "Taken over", "kind": "zone", "parent": "WH"},
            "/locations/Z2/archive": {},
        }
        for url, data in posts.items():
            response = await client.post(url, data={"csrf_token": token, **data})
            assert response.status_code == 403, url
            assert "permission_denied" in response.text
    assert await _rows(db) == before


async def test_a_forged_form_changes_nothing(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    before = await _rows(db)
    await web_login(client, "boss")
    for token in (None, "0" * 64):
        forged = {"csrf_token": token} if token else {}
        posts = {
            "/locations/new": {"code": "X1", "name": "X", "kind": "zone"},
            "/locations/Z2/edit": {"name": "Taken over", "kind": "zone", "parent": "WH"},
            "/locations/Z2/archive": {},
        }
        for url, data in posts.items():
            response = await client.post(url, data={**forged, **data})
            assert response.status_code == 403, url
            assert "csrf_failed" in response.text
    assert await _rows(db) == before


async def test_the_items_at_a_location_filter_by_category(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    await _plant(client, boss)
    made = await client.post(
        "/api/v1/categories", json={"key": "meds", "name": "Meds"}, headers=boss.headers
    )
    assert made.status_code == 201, made.text
    typed = await client.patch(
        "/api/v1/item-types/supply", json={"category": "meds"}, headers=boss.headers
    )
    assert typed.status_code == 200, typed.text
    (lot,) = await codes_of(client, boss, 1, type="material", location="Z1")
    (here,) = await codes_of(client, boss, 1, type="supply", quantity="5", location="Z1")
    (deep,) = await codes_of(client, boss, 1, type="supply", quantity="5", location="RACK-3")
    await signed_in(client, db, "olga", "operator")
    everything = await client.get("/locations/Z1")
    assert parse(everything.text).rows == sorted([lot, here])
    assert 'id="contents-filter"' in everything.text
    meds = await client.get("/locations/Z1", params={"category": "meds"})
    assert parse(meds.text).rows == [here]
    assert '<option value="meds" selected>' in meds.text
    below = await client.get("/locations/Z1", params={"category": "meds", "below": "1"})
    assert parse(below.text).rows == sorted([here, deep])
    assert '<input type="hidden" name="below" value="1">' in below.text
    unknown = await client.get("/locations/Z1", params={"category": "nope"})
    assert unknown.status_code == 404
