"""The label template admin pages: list with a sample preview, create, edit, reset, delete."""

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from sqlalchemy import func, select

from qtrack.codes.models import LabelTemplate
from qtrack.core.db import Database
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.service import LAYOUT_FIELDS
from tests.factories.accounts import csrf_of, signed_in

BASE = "/admin/label-templates"
NEW = {
    "key": "shelf-strip",
    "name": "Shelf strip",
    "page": "A4",
    "label_width_mm": "100",
    "label_height_mm": "30",
    "columns": "2",
    "rows": "9",
    "margin_top_mm": "10",
    "margin_left_mm": "5",
    "gap_x_mm": "0",
    "gap_y_mm": "0",
    "font_size_pt": "8",
}


class _Form(HTMLParser):
    """Inputs and the error messages tied to them by aria-describedby."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.checked: list[str] = []
        self.boxes: list[str] = []
        self.texts: dict[str, str] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name")
        if tag in ("input", "select") and name:
            if found.get("type") == "checkbox" and name == "fields":
                self.boxes.append(str(found["value"]))
                if "checked" in found:
                    self.checked.append(str(found["value"]))
            self.inputs.setdefault(name, found)
        if tag == "p" and found.get("id"):
            self._open = str(found["id"])
            self.texts[self._open] = ""

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts[self._open] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._open = None

    def error_of(self, name: str) -> str | None:
        """The message shown next to an input, if it is marked invalid."""
        found = self.inputs.get(name) or {}
        described = found.get("aria-describedby")
        if found.get("aria-invalid") != "true" or not described:
            return None
        return self.texts.get(described)


def _form(html: str) -> _Form:
    parser = _Form()
    parser.feed(html)
    return parser


async def _admin(client: httpx.AsyncClient, db: Database) -> str:
    """Sign in as an admin; returns the session's CSRF token."""
    await signed_in(client, db, "boss", "admin")
    return csrf_of((await client.get(BASE)).text)


async def _row(db: Database, key: str) -> dict[str, Any] | None:
    async with db.session_scope("read") as session:
        row = await session.scalar(select(LabelTemplate).where(LabelTemplate.key == key))
        return None if row is None else {n: getattr(row, n) for n in ("key", *LAYOUT_FIELDS)}


async def _count(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count(LabelTemplate.id))) or 0)


async def test_the_list_shows_each_template_and_previews_a_sample_sheet(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _admin(client, db)
    page = await client.get(BASE)
    assert page.status_code == 200
    row = re.search(r'<li class="card" data-template="a4-21">(.*?)</li>', page.text, re.S)
    assert row, page.text
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1)))
    assert "63.5 \u00d7 38.1 mm" in cells
    assert "A4, 3 \u00d7 7 = 21 a sheet" in cells
    assert "QR code, Code, Name, Batch, Expiry" in cells
    assert "shipped" in cells
    roll = re.search(r'<li class="card" data-template="roll-50x30">(.*?)</li>', page.text, re.S)
    assert roll
    assert "Roll, one label a page" in roll.group(1)

    preview = await client.get(f"{BASE}/a4-21/preview.pdf")
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "application/pdf"
    assert f'href="{BASE}/a4-21/preview.pdf"' in page.text
    document = pdfium.PdfDocument(preview.content)
    try:
        assert len(document) == 1
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    # A full sheet: the 21st sample label is on it.
    assert "MAT-000001" in text
    assert "MAT-000021" in text
    assert (await client.get(f"{BASE}/nope/preview.pdf")).status_code == 404


async def test_a_new_template_is_created_from_the_form(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _admin(client, db)
    form = await client.get(f"{BASE}/new")
    assert form.status_code == 200
    parsed = _form(form.text)
    assert parsed.inputs["label_width_mm"]["value"] == "63.5"  # starts from the A4 layout
    assert parsed.checked == ["qr", "code", "name", "batch", "expiry"]

    data = {**NEW, "csrf_token": csrf, "fields": ["qr", "code", "name"]}
    created = await client.post(f"{BASE}/new", data=data)
    assert created.status_code == 303
    assert created.headers["location"] == f"{BASE}?created=shelf-strip"
    listed = await client.get(created.headers["location"])
    assert "Created label template shelf-strip." in listed.text
    assert await _row(db, "shelf-strip") == {
        **{k: float(v) if "_mm" in k or k == "font_size_pt" else v for k, v in NEW.items()},
        "columns": 2,
        "rows": 9,
        "fields": "qr,code,name",
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"key": "Shelf Strip"}, "key", "Lower-case letters"),
        ({"key": "a4-21"}, "key", "already exists"),
        ({"key": "new"}, "key", "reserved"),
        ({"name": ""}, "name", "required"),
        ({"label_width_mm": ""}, "label_width_mm", "required"),
        ({"label_height_mm": "3"}, "label_height_mm", "greater than 5"),
        ({"columns": "3"}, "columns", "labels need"),
        ({"rows": "10"}, "rows", "labels need"),
        ({"fields": []}, "fields", "at least one"),
        ({"page": "A3"}, "page", "A4"),
    ],
)
async def test_a_bad_new_template_shows_the_error_at_its_field_and_saves_nothing(
    client: httpx.AsyncClient, db: Database, change: dict[str, Any], field: str, message: str
) -> None:
    csrf = await _admin(client, db)
    before = await _count(db)
    data = {**NEW, "fields": ["qr", "code"], **change, "csrf_token": csrf}
    response = await client.post(f"{BASE}/new", data=data)
    assert response.status_code in (409, 422), response.text
    parsed = _form(response.text)
    shown = parsed.error_of(field)
    if field == "fields":  # one message for the group of boxes, each box marked invalid
        assert parsed.inputs["fields"]["aria-invalid"] == "true"
        shown = parsed.texts.get("e-fields")
    assert shown, response.text
    assert message in shown
    assert await _count(db) == before
    # What was typed stays in the form.
    if field != "name":
        assert parsed.inputs["name"]["value"] == NEW["name"]


async def test_editing_keeps_the_field_order_and_refuses_what_does_not_fit(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _admin(client, db)
    await client.post(f"{BASE}/new", data={**NEW, "csrf_token": csrf, "fields": ["code", "qr"]})
    form = await client.get(f"{BASE}/shelf-strip")
    assert form.status_code == 200
    parsed = _form(form.text)
    assert parsed.boxes == ["code", "qr", "name", "batch", "expiry"]
    assert parsed.checked == ["code", "qr"]
    etag = parsed.inputs["etag"]["value"]
    assert "key" not in parsed.inputs  # the key cannot change

    values = {**NEW, "name": "Narrow strip", "label_width_mm": "90"}
    saved = await client.post(
        f"{BASE}/shelf-strip",
        data={**values, "csrf_token": csrf, "etag": etag, "fields": ["code", "qr", "expiry"]},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{BASE}?saved=shelf-strip"
    row = await _row(db, "shelf-strip")
    assert row
    assert (row["name"], row["label_width_mm"], row["fields"]) == (
        "Narrow strip",
        90,
        "code,qr,expiry",
    )

    too_wide = await client.post(
        f"{BASE}/shelf-strip",
        data={**values, "columns": "3", "csrf_token": csrf, "fields": ["qr"]},
    )
    assert too_wide.status_code == 422
    shown = _form(too_wide.text).error_of("columns")
    assert shown
    assert "the A4 page is 210.0x297.0 mm" in shown
    assert await _row(db, "shelf-strip") == row

    # A form opened before someone else's save is refused, and shows their values.
    stale = await client.post(
        f"{BASE}/shelf-strip",
        data={**values, "name": "Mine", "csrf_token": csrf, "etag": etag, "fields": ["qr"]},
    )
    assert stale.status_code == 412
    assert "Someone else changed this template" in stale.text
    assert _form(stale.text).inputs["name"]["value"] == "Narrow strip"
    assert await _row(db, "shelf-strip") == row
    assert (await client.get(f"{BASE}/nope")).status_code == 404


async def test_delete_needs_confirming_and_refuses_shipped_templates(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _admin(client, db)
    await client.post(f"{BASE}/new", data={**NEW, "csrf_token": csrf, "fields": ["qr"]})
    unconfirmed = await client.post(f"{BASE}/shelf-strip/delete", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422
    assert _form(unconfirmed.text).error_of("confirm") == "Tick the box to confirm"
    assert await _row(db, "shelf-strip") is not None

    deleted = await client.post(
        f"{BASE}/shelf-strip/delete", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert deleted.status_code == 303
    assert await _row(db, "shelf-strip") is None
    listed = await client.get(deleted.headers["location"])
    assert "Deleted label template shelf-strip." in listed.text
    assert 'data-template="shelf-strip"' not in listed.text

    shipped = await client.get(f"{BASE}/a4-21")
    assert f'action="{BASE}/a4-21/delete"' not in shipped.text  # offered a reset instead
    refused = await client.post(f"{BASE}/a4-21/delete", data={"csrf_token": csrf, "confirm": "yes"})
    assert refused.status_code == 409
    assert "ships with qtrack" in (_form(refused.text).texts.get("delete-message") or "")
    assert await _row(db, "a4-21") is not None


async def test_a_shipped_template_is_edited_then_reset(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _admin(client, db)
    shipped = {k: str(v) for k, v in SHIPPED_TEMPLATES["a4-21"].items() if k != "fields"}
    edited = await client.post(
        f"{BASE}/a4-21",
        data={**shipped, "margin_top_mm": "14", "csrf_token": csrf, "fields": ["qr", "code"]},
    )
    assert edited.status_code == 303
    assert (await _row(db, "a4-21") or {})["margin_top_mm"] == 14
    reset = await client.post(f"{BASE}/a4-21/reset", data={"csrf_token": csrf})
    assert reset.status_code == 303
    assert (
        "Back to the values qtrack ships it with."
        in (await client.get(reset.headers["location"])).text
    )
    assert await _row(db, "a4-21") == {"key": "a4-21", **SHIPPED_TEMPLATES["a4-21"]}


async def test_operators_and_forged_forms_change_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _admin(client, db)
    before = await _row(db, "a4-21")
    count = await _count(db)
    forged = {"csrf_token": "0" * len(csrf), "confirm": "yes"}
    for path, data in [
        (f"{BASE}/new", {**NEW, **forged}),
        (f"{BASE}/a4-21", {**NEW, "name": "Forged", **forged}),
        (f"{BASE}/a4-21/reset", forged),
        (f"{BASE}/a4-21/delete", forged),
    ]:
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
        assert 'data-error-code="csrf_failed"' in response.text
        missing = await client.post(path, data={k: v for k, v in data.items() if k != "csrf_token"})
        assert missing.status_code == 403, path

    await signed_in(client, db, "olga", "operator")
    operator_csrf = csrf_of((await client.get("/")).text)
    for path in (BASE, f"{BASE}/new", f"{BASE}/a4-21", f"{BASE}/a4-21/preview.pdf"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert 'data-error-code="permission_denied"' in response.text
    for path, data in [
        (f"{BASE}/new", NEW),
        (f"{BASE}/a4-21", {**NEW, "name": "Mine"}),
        (f"{BASE}/a4-21/reset", {}),
        (f"{BASE}/a4-21/delete", {"confirm": "yes"}),
    ]:
        response = await client.post(path, data={**data, "csrf_token": operator_csrf})
        assert response.status_code == 403, path
    assert await _row(db, "a4-21") == before
    assert await _count(db) == count
