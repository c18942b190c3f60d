"""Bulk actions of the items list: each selected item is changed on its own, and the result
page says what happened to each."""

import re
from html import unescape
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.items.bulk import MAX_CODES
from qtrack.items.models import Item
from qtrack.locations.models import Location
from tests.factories.accounts import csrf_of, signed_in, web_login
from tests.factories.items import register
from tests.items.conftest import Crew


class _Page(HTMLParser):
    """The result list (code -> result, text) and the attributes of every element."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, tuple[str, str]] = {}
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._row: tuple[str, str] | None = None
        self._text: list[str] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select":
            self._select = found.get("id")
        elif tag == "option":
            found["in"] = self._select  # which select offers it
        self.elements.append((tag, found))
        if tag == "li" and found.get("data-result"):
            self._row = (str(found["data-code"]), str(found["data-result"]))
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._row is not None:
            code, result = self._row
            self.rows[code] = (result, " ".join("".join(self._text).split()))
            self._row = None

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        """Elements of this tag whose attributes have these values."""
        return [
            a
            for t, a in self.elements
            if t == tag
            and all(a.get(k.strip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


def _text(html: str) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


def _parse(html: str) -> _Page:
    parser = _Page()
    parser.feed(html)
    return parser


async def _statuses(db: Database, codes: list[str]) -> dict[str, str]:
    async with db.session_scope("read") as session:
        rows = await session.execute(select(Item.code, Item.status).where(Item.code.in_(codes)))
        return {r.code: r.status for r in rows}


async def _event_counts(db: Database, codes: list[str], kind: str) -> dict[str, int]:
    async with db.session_scope("read") as session:
        rows = await session.execute(
            select(Item.code, func.count(Event.id))
            .join(Event, Event.item_id == Item.id)
            .where(Item.code.in_(codes), Event.type == kind)
            .group_by(Item.code)
        )
        return dict.fromkeys(codes, 0) | {r[0]: r[1] for r in rows}


async def _places(db: Database, codes: list[str]) -> dict[str, str | None]:
    async with db.session_scope("read") as session:
        rows = await session.execute(
            select(Item.code, Location.code)
            .outerjoin(Location, Location.id == Item.location_id)
            .where(Item.code.in_(codes))
        )
        return {r[0]: r[1] for r in rows}


async def _materials(client: httpx.AsyncClient, crew: Crew, n: int) -> list[str]:
    return [str((await register(client, crew.operator, type="material"))["code"]) for _ in range(n)]


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/items")
    assert page.status_code == 200
    return csrf_of(page.text)


async def test_one_item_in_the_wrong_state_is_refused_and_the_others_change(
    client: httpx.AsyncClient, db: Database, crew: Crew
) -> None:
    codes = await _materials(client, crew, 3)
    # Someone else quarantined the middle one meanwhile.
    done = await client.post(
        f"/api/v1/items/{codes[1]}/transitions",
        json={"transition": "quarantine"},
        headers=crew.qa.headers,
    )
    assert done.status_code == 200, done.text
    await web_login(client, "op")
    response = await client.post(
        "/items/bulk",
        data={
            "csrf_token": await _csrf(client),
            "code": codes,
            "action": "transition",
            "transition": "quarantine",
            "reason": "Supplier seal checked",
            "back": "type=material",
        },
    )
    assert response.status_code == 200, response.text
    page = _parse(response.text)
    assert "<h1>Change of status: Quarantine</h1>" in response.text
    assert page.rows[codes[0]] == ("ok", f"✓ Done {codes[0]} Received → Quarantine")
    assert page.rows[codes[2]][0] == "ok"
    result, details = page.rows[codes[1]]
    assert result == "refused"
    assert details == f"✗ Refused {codes[1]} Not possible from its status now: quarantine"
    assert "2 done, 1 not done (see why below)." in _text(response.text)
    assert page.find("a", id="bulk-back")[0]["href"] == "/items?type=material"

    assert await _statuses(db, codes) == dict.fromkeys(codes, "quarantine")
    # Exactly one change each: the refused item keeps only the other person's change.
    assert await _event_counts(db, codes, "status_changed") == dict.fromkeys(codes, 1)
    async with db.session_scope("read") as session:
        reasons = (
            await session.scalars(
                select(Event.reason)
                .join(Item, Item.id == Event.item_id)
                .where(Item.code.in_([codes[0], codes[2]]), Event.type == "status_changed")
            )
        ).all()
    assert reasons == ["Supplier seal checked", "Supplier seal checked"]
    # The counts the dashboard shows moved with them.
    stats = (await client.get("/api/v1/stats", headers=crew.operator.headers)).json()
    by_status = {(r["type"], r["status"]): r["count"] for r in stats["by_type_status"]}
    assert by_status[("material", "quarantine")] == 3


async def test_bulk_move_with_an_unknown_code_moves_the_rest(
    client: httpx.AsyncClient, db: Database, crew: Crew, site: list[str]
) -> None:
    codes = [
        str((await register(client, crew.operator, type="bag", location="RACK-1"))["code"])
        for _ in range(2)
    ]
    await web_login(client, "op")
    response = await client.post(
        "/items/bulk",
        data={
            "csrf_token": await _csrf(client),
            "code": [codes[0], "bag-999999", codes[1]],
            "action": "move",
            "location": "wh-b",
            "transition": "quarantine",  # left over from the other action: ignored
        },
    )
    assert response.status_code == 200, response.text
    page = _parse(response.text)
    assert "<h1>Move to WH-B</h1>" in response.text
    assert page.rows[codes[0]] == ("ok", f"✓ Done {codes[0]} moved to WH-B")
    assert page.rows[codes[1]][0] == "ok"
    assert page.rows["BAG-999999"] == ("not_found", "? Not found BAG-999999 No such item")
    assert not page.find("a", href="/items/BAG-999999")
    assert await _places(db, codes) == dict.fromkeys(codes, "WH-B")
    assert await _event_counts(db, codes, "moved") == dict.fromkeys(codes, 1)


async def test_a_viewer_and_a_missing_permission_are_refused(
    client: httpx.AsyncClient, db: Database, crew: Crew
) -> None:
    codes = await _materials(client, crew, 2)
    await web_login(client, "vic")
    listing = await client.get("/items")
    assert 'name="code"' not in listing.text
    assert 'action="/items/bulk"' in listing.text  # the list is a form, with nothing to tick
    refused = await client.post(
        "/items/bulk",
        data={
            "csrf_token": csrf_of(listing.text),
            "code": codes,
            "action": "transition",
            "transition": "quarantine",
        },
    )
    assert refused.status_code == 403
    assert 'data-error-code="permission_denied"' in refused.text

    # A dispatcher may move and print, not change a lot's status: each item says so.
    await signed_in(client, db, "dee", "dispatcher")
    listing = await client.get("/items")
    page = _parse(listing.text)
    assert not page.find("option", value="quarantine", _in="b-transition")  # not offered
    assert len(page.find("input", name="code")) == 2
    response = await client.post(
        "/items/bulk",
        data={
            "csrf_token": csrf_of(listing.text),
            "code": codes,
            "action": "transition",
            "transition": "quarantine",
        },
    )
    assert response.status_code == 200
    rows = _parse(response.text).rows
    assert [rows[c][0] for c in codes] == ["refused", "refused"]
    assert "needs the permission item.transition" in rows[codes[0]][1]
    assert await _statuses(db, codes) == dict.fromkeys(codes, "received")
    assert await _event_counts(db, codes, "status_changed") == dict.fromkeys(codes, 0)


@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_a_forged_form_changes_nothing(
    client: httpx.AsyncClient, db: Database, crew: Crew, token: str | None
) -> None:
    codes = await _materials(client, crew, 2)
    await web_login(client, "op")
    form: dict[str, object] = {"code": codes, "action": "transition", "transition": "quarantine"}
    if token:
        form["csrf_token"] = token
    response = await client.post("/items/bulk", data=form)
    assert response.status_code == 403
    assert 'data-error-code="csrf_failed"' in response.text
    assert await _statuses(db, codes) == dict.fromkeys(codes, "received")
    assert await _event_counts(db, codes, "status_changed") == dict.fromkeys(codes, 0)


async def test_too_many_codes_are_refused_whole(
    client: httpx.AsyncClient, db: Database, crew: Crew
) -> None:
    (code,) = await _materials(client, crew, 1)
    await web_login(client, "op")
    others = [f"MAT-{n:06d}" for n in range(900000, 900000 + MAX_CODES)]
    response = await client.post(
        "/items/bulk",
        data={
            "csrf_token": await _csrf(client),
            "code": [code, *others],
            "action": "transition",
            "transition": "quarantine",
        },
    )
    assert response.status_code == 422
    text = _text(response.text)
    assert f"{MAX_CODES + 1} items selected; at most {MAX_CODES} at a time" in text
    assert "Nothing was changed." in text
    page = _parse(response.text)
    # The selection comes back ticked, so a person can untick some and send it again.
    ticked = page.find("input", name="code")
    assert len(ticked) == MAX_CODES + 1
    assert all("checked" in box for box in ticked)
    assert page.find("fieldset", aria_describedby="be-code")
    assert await _statuses(db, [code]) == {code: "received"}


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"action": "transition", "transition": "release"}, "transition", "e-signature"),
        ({"action": "transition", "transition": "expire"}, "reason", "Expire needs a reason"),
        ({"action": "transition", "transition": "teleport"}, "transition", "'teleport'"),
        ({"action": "transition"}, "transition", "Choose the change of status"),
        ({"action": "move", "location": "NOWHERE"}, "location", "No location 'NOWHERE'"),
        ({"action": "move", "location": ""}, "location", "Enter the location"),
        ({"action": "explode"}, "action", "Choose what to do"),
        ({"action": "move", "location": "WH-A", "reason": "x" * 501}, "reason", "at most 500"),
        ({"action": "move", "location": "WH-A", "code": ""}, "code", "Select at least one item"),
    ],
)
async def test_a_request_no_item_could_satisfy_is_shown_with_its_field(
    client: httpx.AsyncClient,
    db: Database,
    crew: Crew,
    site: list[str],
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    codes = await _materials(client, crew, 2)
    await web_login(client, "qa")
    response = await client.post(
        "/items/bulk", data={"csrf_token": await _csrf(client), "code": codes, **form}
    )
    assert response.status_code == 422, response.text
    page = _parse(response.text)
    error = page.find("p", id=f"be-{field}")
    assert error, f"no error shown next to {field}"
    assert message in _text(response.text)
    if field != "code":
        described = [a for _, a in page.elements if a.get("aria-describedby") == f"be-{field}"]
        assert described
        assert described[0].get("aria-invalid") == "true"
    assert await _statuses(db, codes) == dict.fromkeys(codes, "received")
    assert await _places(db, codes) == dict.fromkeys(codes, None)


async def test_print_the_selected_labels(
    client: httpx.AsyncClient, db: Database, crew: Crew
) -> None:
    codes = await _materials(client, crew, 2)
    await web_login(client, "op")
    listing = await client.get("/items")
    page = _parse(listing.text)
    assert page.find("form", action="/items/bulk", method="post")
    assert {str(a["value"]) for a in page.find("input", name="code")} == set(codes)
    # Signed steps are not offered in bulk; the page says where they are made.
    assert page.find("option", value="start_test", _in="b-transition")
    assert not page.find("option", value="release", _in="b-transition")
    response = await client.post(
        "/items/bulk",
        data={"csrf_token": csrf_of(listing.text), "code": codes, "print": "labels"},
    )
    assert response.status_code == 303
    pdf = await client.get(response.headers["location"])
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert response.headers["location"] == f"/api/v1/labels.pdf?items={codes[0]}%2C{codes[1]}"
