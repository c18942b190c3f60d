"""Label templates over the API: read one, edit (with If-Match), reset, delete, and every
way each can be refused."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.codes.models import LabelTemplate
from qtrack.core.db import Database
from qtrack.labels import service as labels_service
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import register

STRIP = {
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
URL = "/api/v1/label-templates/shelf-strip"


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: Database) -> AppLogin:
    return await logged_in(client, db, "boss", "admin")


@pytest.fixture
async def vic(client: httpx.AsyncClient, db: Database) -> AppLogin:
    return await logged_in(client, db, "vic", "viewer")


@pytest.fixture
async def strip(client: httpx.AsyncClient, boss: AppLogin) -> dict[str, Any]:
    made = await client.post("/api/v1/label-templates", json=STRIP, headers=boss.headers)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def _row(db: Database, key: str) -> dict[str, Any] | None:
    """The template as stored, or None."""
    async with db.session_scope("read") as session:
        row = await session.scalar(select(LabelTemplate).where(LabelTemplate.key == key))
        if row is None:
            return None
        return {name: getattr(row, name) for name in ("key", *labels_service.LAYOUT_FIELDS)}


def _problem(response: httpx.Response) -> tuple[str, list[str]]:
    """The error code, and the fields its details name."""
    error = response.json()["error"]
    details = error["details"] if isinstance(error["details"], list) else []
    return error["code"], [str(d["loc"][-1]) for d in details]


async def test_one_template_reads_with_an_etag_that_follows_its_edits(
    client: httpx.AsyncClient, db: Database, boss: AppLogin, strip: dict[str, Any]
) -> None:
    read = await client.get(URL, headers=boss.headers)
    assert read.status_code == 200
    assert read.json() == strip
    assert read.json()["margin_left_mm"] == 5
    etag = read.headers["etag"]

    edited = await client.patch(
        URL,
        json={"name": "Shelf strip, narrow", "label_width_mm": 90, "fields": "code,qr"},
        headers={**boss.headers, "If-Match": etag},
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["label_width_mm"], body["fields"]) == (
        "Shelf strip, narrow",
        90,
        "code,qr",
    )
    assert body["rows"] == 9  # what was not sent stays
    assert edited.headers["etag"] != etag

    # An edit based on the first read is refused and changes nothing.
    before = await _row(db, "shelf-strip")
    stale = await client.patch(URL, json={"rows": 8}, headers={**boss.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "label_template_changed"
    assert await _row(db, "shelf-strip") == before
    again = await client.get(URL, headers=boss.headers)
    assert again.headers["etag"] == edited.headers["etag"]
    # Without If-Match the edit is applied as is.
    plain = await client.patch(URL, json={"rows": 8}, headers=boss.headers)
    assert plain.status_code == 200
    assert (await _row(db, "shelf-strip") or {})["rows"] == 8


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"columns": 0}, "validation_error", "columns"),
        ({"label_width_mm": "wide"}, "validation_error", "label_width_mm"),
        ({"page": "A3"}, "validation_error", "page"),
        ({"fields": "qr,colour"}, "validation_error", "fields"),
        ({"fields": ""}, "validation_error", "fields"),
        ({"font_size_pt": 99}, "validation_error", "font_size_pt"),
        ({"name": "   "}, "validation_error", "name"),
        ({"name": None}, "validation_error", "name"),
        ({"key": "renamed"}, "validation_error", "key"),
        ({"builtin": True}, "validation_error", "builtin"),
        # The grid must fit the page: 3 columns of 100 mm do not fit across A4...
        ({"columns": 3}, "label_template_invalid", "columns"),
        # ...nor do 10 rows of 30 mm down it.
        ({"rows": 10}, "label_template_invalid", "rows"),
        ({"page": "Letter", "label_height_mm": 31}, "label_template_invalid", "rows"),
    ],
)
async def test_bad_edits_name_the_field_and_change_nothing(
    client: httpx.AsyncClient,
    db: Database,
    boss: AppLogin,
    strip: dict[str, Any],
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    before = await _row(db, "shelf-strip")
    response = await client.patch(URL, json=body, headers=boss.headers)
    assert response.status_code == 422, response.text
    assert _problem(response) == (code, [field])
    assert await _row(db, "shelf-strip") == before


async def test_unknown_templates_are_404_and_viewers_only_read(
    client: httpx.AsyncClient, db: Database, boss: AppLogin, vic: AppLogin, strip: dict[str, Any]
) -> None:
    for method, path, body in [
        ("GET", "/api/v1/label-templates/nope", None),
        ("PATCH", "/api/v1/label-templates/nope", {"rows": 2}),
        ("DELETE", "/api/v1/label-templates/nope", None),
        ("POST", "/api/v1/label-templates/nope/reset", None),
    ]:
        response = await client.request(method, path, json=body, headers=boss.headers)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "label_template_not_found"

    assert (await client.get(URL, headers=vic.headers)).status_code == 200
    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", URL, {"rows": 2}),
        ("DELETE", URL, None),
        ("POST", "/api/v1/label-templates/a4-21/reset", None),
        ("POST", "/api/v1/label-templates", {**STRIP, "key": "vic"}),
    ]
    for method, path, write in writes:
        response = await client.request(method, path, json=write, headers=vic.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "permission_denied"
    assert await _row(db, "shelf-strip") == {
        name: strip[name] for name in ("key", *labels_service.LAYOUT_FIELDS)
    }
    assert await _row(db, "vic") is None
    assert (await client.get(URL)).status_code == 401


async def test_a_template_is_deleted_once_and_for_good(
    client: httpx.AsyncClient, db: Database, boss: AppLogin, strip: dict[str, Any]
) -> None:
    deleted = await client.delete(URL, headers=boss.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert await _row(db, "shelf-strip") is None
    assert (await client.get(URL, headers=boss.headers)).status_code == 404
    listed = await client.get("/api/v1/label-templates", headers=boss.headers)
    assert "shelf-strip" not in [t["key"] for t in listed.json()]
    assert (await client.delete(URL, headers=boss.headers)).status_code == 404
    # The key is free again.
    made = await client.post("/api/v1/label-templates", json=STRIP, headers=boss.headers)
    assert made.status_code == 201


async def test_shipped_templates_can_be_edited_and_reset_but_not_deleted(
    client: httpx.AsyncClient, db: Database, boss: AppLogin
) -> None:
    path = "/api/v1/label-templates/a4-21"
    edited = await client.patch(
        path, json={"margin_top_mm": 13, "fields": "qr,code"}, headers=boss.headers
    )
    assert edited.status_code == 200
    assert (edited.json()["margin_top_mm"], edited.json()["builtin"]) == (13, True)

    refused = await client.delete(path, headers=boss.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "label_template_builtin"
    assert (await _row(db, "a4-21") or {})["margin_top_mm"] == 13

    reset = await client.post(path + "/reset", headers=boss.headers)
    assert reset.status_code == 200
    shipped = SHIPPED_TEMPLATES["a4-21"]
    assert await _row(db, "a4-21") == {"key": "a4-21", **shipped}
    # Only shipped templates have values to go back to.
    await client.post("/api/v1/label-templates", json=STRIP, headers=boss.headers)
    not_shipped = await client.post(URL + "/reset", headers=boss.headers)
    assert not_shipped.status_code == 409
    assert not_shipped.json()["error"]["code"] == "label_template_not_shipped"


async def test_edited_templates_print_with_their_new_layout(
    client: httpx.AsyncClient, boss: AppLogin, strip: dict[str, Any]
) -> None:
    code = (await register(client, boss))["code"]
    params = {"items": code, "template": "shelf-strip", "skip": 17}
    assert (await client.get("/api/v1/labels.pdf", params=params, headers=boss.headers)).is_success
    await client.patch(URL, json={"rows": 5}, headers=boss.headers)
    # Ten labels a sheet now: skipping 17 used positions no longer makes sense.
    too_many = await client.get("/api/v1/labels.pdf", params=params, headers=boss.headers)
    assert too_many.status_code == 422


async def test_new_is_not_a_template_key(client: httpx.AsyncClient, boss: AppLogin) -> None:
    response = await client.post(
        "/api/v1/label-templates", json={**STRIP, "key": "new"}, headers=boss.headers
    )
    assert response.status_code == 422
    assert _problem(response) == ("validation_error", ["key"])


async def test_a_template_item_types_print_with_is_not_deleted(
    client: httpx.AsyncClient, db: Database, boss: AppLogin, strip: dict[str, Any]
) -> None:
    for type_key in ("supply", "bag"):
        chosen = await client.patch(
            f"/api/v1/item-types/{type_key}",
            json={"label_template": "shelf-strip"},
            headers=boss.headers,
        )
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["label_template"] == "shelf-strip"
    refused = await client.delete(URL, headers=boss.headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "label_template_in_use"
    assert error["details"]["item_types"] == ["bag", "supply"]
    assert "bag, supply" in error["message"]
    assert await _row(db, "shelf-strip") is not None

    for type_key in ("supply", "bag"):
        cleared = await client.patch(
            f"/api/v1/item-types/{type_key}", json={"label_template": None}, headers=boss.headers
        )
        assert cleared.json()["label_template"] is None
    assert (await client.delete(URL, headers=boss.headers)).status_code == 204
    assert await _row(db, "shelf-strip") is None
