"""The item type admin pages: list, define, change; every refusal is shown on its field, with a
422, and nothing is written."""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.categories import service as categories_service
from qtrack.core.db import Database
from qtrack.item_types.models import ItemType
from qtrack.workflow.models import Workflow
from tests.factories.accounts import create_user, csrf_of, login, web_login
from tests.factories.items import insert_item_row
from tests.workflow.test_pages import Form, Page, form_of


async def row_of(db: Database, key: str) -> dict[str, Any] | None:
    """The item type's row as plain values (its workflow by key), or None."""
    async with db.session_scope("read") as session:
        found = (
            await session.execute(
                select(ItemType, Workflow.key)
                .join(Workflow, Workflow.id == ItemType.workflow_id)
                .where(ItemType.key == key)
            )
        ).first()
    if found is None:
        return None
    item_type, workflow = found
    columns = ItemType.__table__.columns.keys()
    return {c: getattr(item_type, c) for c in columns if c != "updated_at"} | {"wf": workflow}


async def test_the_list_shows_every_type_with_its_settings_and_live_items(
    web_admin: httpx.AsyncClient,
) -> None:
    jwt = await login(web_admin, "boss")
    made = await web_admin.post(
        "/api/v1/items", json={"type": "bag", "count": 2}, headers=jwt.headers
    )
    assert made.status_code == 201, made.text
    response = await web_admin.get("/admin/item-types")
    assert response.status_code == 200
    page = Page(response.text)
    rows = " ".join(page.text["item-types"].split())
    assert "bag Bag BAG Bag pcs contents 2" in rows
    assert "material Material lot MAT Material lot kg quantity, expiry 0" in rows
    assert 'href="/admin/item-types/supply"' in response.text
    assert 'href="/admin/workflows/supply"' in response.text


async def test_the_form_shows_the_type_as_it_is(web_admin: httpx.AsyncClient) -> None:
    form = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    assert form.get("name") == ["Supply"]
    assert form.get("code_prefix") == ["SUP"]
    assert form.get("workflow") == ["supply"]
    assert form.get("unit") == ["pcs"]
    assert form.get("low_stock_threshold") == ["10"]
    assert form.get("tracks_quantity") == ["1"]
    assert form.get("tracks_expiry") == ["1"]
    assert form.get("can_contain") == []
    assert form.get("attribute_schema") == [""]
    assert form.get("label_template") == [""]  # the server's default
    assert form.get("key") == []  # a key never changes


async def test_saving_the_form_as_shown_changes_nothing(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    before = await row_of(db, "supply")
    form = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    saved = await web_admin.post("/admin/item-types/supply", data=form.data())
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/admin/item-types/supply?saved=1"
    assert await row_of(db, "supply") == before
    assert Page((await web_admin.get(saved.headers["location"])).text).text["saved"] == "Saved."


async def test_an_admin_changes_every_field(web_admin: httpx.AsyncClient, db: Database) -> None:
    schema = {"type": "object", "properties": {"grade": {"enum": ["A", "B"]}}}
    form = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    form.set("name", "Ward supply").set("code_prefix", "wsp").set("workflow", "material")
    form.set("unit", "box").set("tracks_quantity").set("can_contain", "1")
    form.set("low_stock_threshold", "2.5").set("attribute_schema", json.dumps(schema))
    form.set("label_template", "roll-50x30")
    saved = await web_admin.post("/admin/item-types/supply", data=form.data())
    assert saved.status_code == 303, saved.text
    row = await row_of(db, "supply")
    assert row is not None
    assert row["name"] == "Ward supply"
    assert row["code_prefix"] == "WSP"
    assert row["wf"] == "material"
    assert row["unit"] == "box"
    assert (row["tracks_quantity"], row["tracks_expiry"], row["can_contain"]) == (
        False,
        True,
        True,
    )
    assert row["low_stock_threshold"] == Decimal("2.5")
    assert row["attribute_schema"] == schema
    assert row["label_template_key"] == "roll-50x30"
    again = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    assert json.loads(again.get("attribute_schema")[0]) == schema
    cleared = await web_admin.post(
        "/admin/item-types/supply",
        data=again.set("low_stock_threshold", "")
        .set("attribute_schema", "  ")
        .set("label_template", "")
        .data(),
    )
    assert cleared.status_code == 303
    row = await row_of(db, "supply")
    assert row is not None
    assert row["low_stock_threshold"] is None
    assert row["attribute_schema"] == {}
    assert row["label_template_key"] is None


async def test_an_admin_defines_a_type(web_admin: httpx.AsyncClient, db: Database) -> None:
    form = await form_of(web_admin, "/admin/item-types/new", "/admin/item-types/new")
    assert form.get("unit") == ["pcs"]
    form.set("key", "sample").set("name", "Lab sample").set("code_prefix", "smp")
    form.set("workflow", "material").set("tracks_expiry", "1")
    form.set("attribute_schema", '{"type": "object", "required": ["lab"]}')
    created = await web_admin.post("/admin/item-types/new", data=form.data())
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/admin/item-types/sample?saved=1"
    row = await row_of(db, "sample")
    assert row is not None
    assert (row["name"], row["code_prefix"], row["wf"]) == ("Lab sample", "SMP", "material")
    assert row["tracks_expiry"] is True
    assert row["attribute_schema"] == {"type": "object", "required": ["lab"]}


Change = Callable[[Form], object]
_BAD_EDITS = [
    pytest.param(
        lambda f: f.set("attribute_schema", "{not json"),
        "attribute_schema",
        "Not valid JSON",
        id="schema that is not JSON",
    ),
    pytest.param(
        lambda f: f.set("attribute_schema", "[1, 2]"),
        "attribute_schema",
        "must be a JSON object",
        id="schema that is not an object",
    ),
    pytest.param(
        lambda f: f.set("attribute_schema", '{"type": "strin"}'),
        "attribute_schema",
        "is not valid",
        id="schema that is not JSON Schema",
    ),
    pytest.param(
        lambda f: f.set(
            "attribute_schema", '{"type": "object", "properties": {"a": {"$ref": "#/nope"}}}'
        ),
        "attribute_schema",
        "does not point inside the schema",
        id="schema with a dangling reference",
    ),
    pytest.param(
        lambda f: f.set("code_prefix", "MAT"),
        "code_prefix",
        "Code prefix 'MAT' is taken",
        id="prefix another type has",
    ),
    pytest.param(
        lambda f: f.set("code_prefix", "M"),
        "code_prefix",
        "2 to 8 letters or digits",
        id="prefix too short",
    ),
    pytest.param(
        lambda f: f.set("low_stock_threshold", "-1"),
        "low_stock_threshold",
        "greater than or equal to 0",
        id="negative threshold",
    ),
    pytest.param(
        lambda f: f.set("low_stock_threshold", "lots"),
        "low_stock_threshold",
        "A number",
        id="threshold that is not a number",
    ),
    pytest.param(
        lambda f: f.set("workflow", "ghost"),
        "workflow",
        "No workflow 'ghost'",
        id="unknown workflow",
    ),
    pytest.param(lambda f: f.set("name", "  "), "name", "Required", id="blank name"),
    pytest.param(
        lambda f: f.set("label_template", "ghost"),
        "label_template",
        "no such template",
        id="unknown label template",
    ),
]


@pytest.mark.parametrize(("change", "field", "problem"), _BAD_EDITS)
async def test_a_refused_edit_is_shown_on_its_field_and_writes_nothing(
    web_admin: httpx.AsyncClient, db: Database, change: Change, field: str, problem: str
) -> None:
    before = await row_of(db, "supply")
    form = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    form.set("name", "Renamed too")  # a good change alongside: it must not be kept either
    change(form)
    response = await web_admin.post("/admin/item-types/supply", data=form.data())
    assert response.status_code == 422, response.text
    page = Page(response.text)
    assert problem in page.text[f"e-{field}"]
    assert page.by_id[f"f-{field}"]["aria-invalid"] == "true"
    assert page.by_id[f"f-{field}"]["aria-describedby"] == f"e-{field}"
    assert f'href="#f-{field}"' in response.text  # the summary links to the field
    # What was typed is shown again.
    shown = Form(page.forms["/admin/item-types/supply"]).get(field)
    assert shown == [v.strip() for v in form.get(field)]
    assert await row_of(db, "supply") == before


async def test_what_items_depend_on_stays(web_admin: httpx.AsyncClient, db: Database) -> None:
    await insert_item_row(db, "bag", "sealed", "BAG-900001")
    before = await row_of(db, "bag")
    form = await form_of(web_admin, "/admin/item-types/bag", "/admin/item-types/bag")
    prefix = await web_admin.post(
        "/admin/item-types/bag", data=form.set("code_prefix", "BG").data()
    )
    assert prefix.status_code == 422
    assert "has items" in Page(prefix.text).text["e-code_prefix"]
    form.set("code_prefix", "BAG").set("workflow", "supply")
    stranded = await web_admin.post("/admin/item-types/bag", data=form.data())
    assert stranded.status_code == 422
    assert "sealed" in Page(stranded.text).text["e-workflow"]
    assert await row_of(db, "bag") == before


@pytest.mark.parametrize(
    ("key", "problem"),
    [("bag", "already exists"), ("new", "choose another key"), ("Big Bag", "Lower-case")],
)
async def test_a_new_type_needs_a_free_valid_key(
    web_admin: httpx.AsyncClient, db: Database, key: str, problem: str
) -> None:
    form = await form_of(web_admin, "/admin/item-types/new", "/admin/item-types/new")
    form.set("key", key).set("name", "Big bag").set("code_prefix", "BIG").set("workflow", "bag")
    response = await web_admin.post("/admin/item-types/new", data=form.data())
    assert response.status_code == 422, response.text
    assert problem in Page(response.text).text["e-key"]
    assert await row_of(db, "big") is None
    async with db.session_scope("read") as session:
        prefixes = set((await session.scalars(select(ItemType.code_prefix))).all())
    assert "BIG" not in prefixes


async def test_a_new_type_with_a_bad_schema_is_not_created(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await form_of(web_admin, "/admin/item-types/new", "/admin/item-types/new")
    form.set("key", "sample").set("name", "Sample").set("code_prefix", "SMP")
    form.set("workflow", "").set("attribute_schema", "{")
    response = await web_admin.post("/admin/item-types/new", data=form.data())
    assert response.status_code == 422
    page = Page(response.text)
    assert "Not valid JSON" in page.text["e-attribute_schema"]
    assert page.text["e-workflow"]  # both problems at once
    assert await row_of(db, "sample") is None


async def test_an_operator_is_turned_away(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "op", "operator")
    before = await row_of(db, "bag")
    await web_login(client, "op")
    for path in ("/admin/item-types", "/admin/item-types/bag", "/admin/item-types/new"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf_of((await client.get("/")).text)
    fields = {"csrf_token": token, "name": "Mine", "code_prefix": "BAG", "workflow": "bag"}
    assert (await client.post("/admin/item-types/bag", data=fields)).status_code == 403
    new = {**fields, "key": "mine", "code_prefix": "MINE"}
    assert (await client.post("/admin/item-types/new", data=new)).status_code == 403
    assert await row_of(db, "bag") == before
    assert await row_of(db, "mine") is None


@pytest.mark.parametrize("token", ["0" * 64, None])
async def test_a_forged_or_missing_csrf_token_changes_nothing(
    web_admin: httpx.AsyncClient, db: Database, token: str | None
) -> None:
    before = await row_of(db, "bag")
    form = await form_of(web_admin, "/admin/item-types/bag", "/admin/item-types/bag")
    form.set("name", "Sack")
    form.set("csrf_token", *([token] if token else []))
    response = await web_admin.post("/admin/item-types/bag", data=form.data())
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert await row_of(db, "bag") == before


async def test_unknown_type_and_empty_posts(web_admin: httpx.AsyncClient, db: Database) -> None:
    assert (await web_admin.get("/admin/item-types/ghost")).status_code == 404
    token = csrf_of((await web_admin.get("/admin/item-types")).text)
    assert (
        await web_admin.post("/admin/item-types/ghost", data={"csrf_token": token})
    ).status_code == 404
    before = await row_of(db, "bag")
    empty = await web_admin.post("/admin/item-types/bag", data={"csrf_token": token})
    assert empty.status_code == 422
    assert await row_of(db, "bag") == before
    nothing = await web_admin.post("/admin/item-types/new", data={"csrf_token": token})
    assert nothing.status_code == 422


async def test_an_admin_sets_the_category_criticality_and_expiry_window(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    async with db.session_scope() as session:
        category_id = (
            await categories_service.create_category(session, key="syringes", name="Syringes")
        ).id
    form = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    form.set("category", "syringes").set("critical", "1").set("expiry_window_days", "14")
    saved = await web_admin.post("/admin/item-types/supply", data=form.data())
    assert saved.status_code == 303, saved.text
    row = await row_of(db, "supply")
    assert row is not None
    assert (row["critical"], row["expiry_window_days"]) == (True, 14)
    assert row["category_id"] == category_id
    again = await form_of(web_admin, "/admin/item-types/supply", "/admin/item-types/supply")
    assert again.get("category") == ["syringes"]
    refused = await web_admin.post(
        "/admin/item-types/supply", data=again.set("category", "nope").data()
    )
    assert refused.status_code == 422
    assert "nope" in refused.text
    bad_window = await web_admin.post(
        "/admin/item-types/supply",
        data=again.set("category", "syringes").set("expiry_window_days", "soon").data(),
    )
    assert bad_window.status_code == 422
    assert "A whole number, e.g. 30" in bad_window.text
    row = await row_of(db, "supply")
    assert row is not None
    assert row["expiry_window_days"] == 14
