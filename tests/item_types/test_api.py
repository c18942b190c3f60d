"""Admins define item types over the API: code prefix, workflow, unit and attribute schema."""

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.core.db import Database
from qtrack.item_types.models import ItemType
from qtrack.workflow.defaults import MATERIAL
from tests.factories.accounts import AppLogin
from tests.factories.items import insert_item_row as insert_item

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "supplier": {"type": "string", "maxLength": 100},
        "purity": {"$ref": "#/$defs/percent"},
    },
    "required": ["supplier"],
    "$defs": {"percent": {"type": "number", "minimum": 0, "maximum": 100}},
}
SAMPLE_WORKFLOW: dict[str, Any] = {
    "initial": "drawn",
    "states": [
        {"key": "drawn", "label": "Drawn", "colour": "#0969da"},
        {"key": "tested", "label": "Tested", "terminal": True},
    ],
    "transitions": [{"name": "test", "from": ["drawn"], "to": "tested"}],
}


def _new_type(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"key": "reagent", "name": "Reagent", "code_prefix": "RGT"}
    body["workflow"] = "material"
    body.update(changes)
    return body


async def test_shipped_types_exist(client: httpx.AsyncClient, operator: AppLogin) -> None:
    response = await client.get("/api/v1/item-types", headers=operator.headers)
    assert response.status_code == 200
    types = {t["key"]: t for t in response.json()}
    assert {k: t["code_prefix"] for k, t in types.items()} == {
        "bag": "BAG",
        "material": "MAT",
        "supply": "SUP",
    }
    assert {k: t["workflow"] for k, t in types.items()} == {
        "bag": "bag",
        "material": "material",
        "supply": "supply",
    }
    material = types["material"]
    assert material["initial_state"] == "received"
    assert material["states"] == [
        {
            "key": s["key"],
            "label": s["label"],
            "colour": s["colour"],
            "terminal": bool(s.get("terminal")),
            "closed": False,
            # Only the state expired lots are in says so (left out elsewhere).
            **({"expired": True} if s.get("expired") else {}),
        }
        for s in MATERIAL["states"]
    ]
    assert material["tracks_quantity"] is True
    assert material["unit"] == "kg"
    assert types["bag"]["can_contain"] is True
    assert types["bag"]["initial_state"] == "open"
    # Decimals travel as strings, without the database's trailing zeros.
    assert types["supply"]["low_stock_threshold"] == "10"
    assert types["material"]["low_stock_threshold"] is None

    one = await client.get("/api/v1/item-types/supply", headers=operator.headers)
    assert one.json() == types["supply"]


async def test_unknown_item_type_is_404(client: httpx.AsyncClient, admin: AppLogin) -> None:
    for method in ("GET", "PATCH"):
        response = await client.request(
            method, "/api/v1/item-types/ghost", headers=admin.headers, json={}
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "item_type_not_found"


async def test_create_type_on_a_new_workflow(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    workflow = await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "sample", "name": "Lab sample", "definition": SAMPLE_WORKFLOW},
    )
    assert workflow.status_code == 201
    created = await client.post(
        "/api/v1/item-types",
        headers=admin.headers,
        json={
            "key": "sample",
            "name": "Lab sample",
            "code_prefix": " smp ",
            "workflow": "sample",
            "unit": "ml",
            "tracks_quantity": True,
            "tracks_expiry": True,
            "low_stock_threshold": "2.50",
            "attribute_schema": SCHEMA,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "key": "sample",
        "name": "Lab sample",
        "code_prefix": "SMP",
        "workflow": "sample",
        "unit": "ml",
        "tracks_quantity": True,
        "tracks_expiry": True,
        "can_contain": False,
        "low_stock_threshold": "2.5",
        "expiry_window_days": 30,
        "attribute_schema": SCHEMA,
        "label_template": None,
        "category": None,
        "critical": False,
        "initial_state": "drawn",
        "states": [
            {
                "key": "drawn",
                "label": "Drawn",
                "colour": "#0969da",
                "terminal": False,
                "closed": False,
            },
            {
                "key": "tested",
                "label": "Tested",
                "colour": "#6e7781",
                "terminal": True,
                "closed": False,
            },
        ],
    }
    shown = await client.get("/api/v1/item-types/sample", headers=admin.headers)
    assert shown.json() == body
    listed = await client.get("/api/v1/item-types", headers=admin.headers)
    assert [t["key"] for t in listed.json()] == ["bag", "material", "sample", "supply"]

    async with db.session_scope("read") as session:
        row = await session.scalar(select(ItemType).where(ItemType.key == "sample"))
    assert row is not None
    assert row.code_prefix == "SMP"
    assert row.low_stock_threshold == Decimal("2.5")
    assert row.attribute_schema == SCHEMA
    assert row.last_seq == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"key": "Reagent"}, "key", id="key not lowercase"),
        pytest.param({"key": "r" * 65}, "key", id="key too long"),
        pytest.param({"name": " "}, "name", id="empty name"),
        pytest.param({"code_prefix": "R"}, "code_prefix", id="prefix too short"),
        pytest.param({"code_prefix": "REAGENTS1"}, "code_prefix", id="prefix too long"),
        pytest.param({"code_prefix": "RG-T"}, "code_prefix", id="prefix with a dash"),
        pytest.param({"unit": "u" * 17}, "unit", id="unit too long"),
        pytest.param({"low_stock_threshold": -1}, "low_stock_threshold", id="negative threshold"),
        pytest.param(
            {"low_stock_threshold": "0.0000001"}, "low_stock_threshold", id="threshold too precise"
        ),
        pytest.param({"attribute_schema": []}, "attribute_schema", id="schema not an object"),
        pytest.param({"colour": "red"}, "colour", id="unknown field"),
    ],
)
async def test_bad_fields_are_422(
    client: httpx.AsyncClient, admin: AppLogin, changes: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/api/v1/item-types", headers=admin.headers, json=_new_type(**changes)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"][:2] for d in error["details"]] == [["body", field]]


@pytest.mark.parametrize(
    ("schema", "loc", "problem"),
    [
        pytest.param(
            {"type": "object", "properties": {"supplier": {"type": "text"}}},
            ["body", "attribute_schema", "properties", "supplier", "type"],
            "'text' is not valid",
            id="unknown type",
        ),
        pytest.param(
            {"properties": {"lot": {"pattern": "("}}},
            ["body", "attribute_schema", "properties", "lot", "pattern"],
            "'(' is not a 'regex'",
            id="broken regex",
        ),
        pytest.param(
            {"required": "supplier"},
            ["body", "attribute_schema", "required"],
            "is not of type 'array'",
            id="required not a list",
        ),
        pytest.param(
            {"type": "string"},
            ["body", "attribute_schema"],
            "type must be 'object'",
            id="not an object schema",
        ),
        pytest.param(
            {"properties": {"a": {"$ref": "https://example.com/a.json"}}},
            ["body", "attribute_schema", "properties", "a"],
            "does not point inside the schema",
            id="remote reference",
        ),
        pytest.param(
            {"properties": {"a": {"$ref": "#/$defs/missing"}}},
            ["body", "attribute_schema", "properties", "a"],
            "does not point inside the schema",
            id="dangling reference",
        ),
        pytest.param(
            {"allOf": [{"type": "object"}], "properties": {"a": {"$ref": "#/allOf/\u00b9"}}},
            ["body", "attribute_schema", "properties", "a"],
            "does not point inside the schema",
            id="reference into a list by a superscript digit",
        ),
    ],
)
async def test_invalid_attribute_schema_is_422(
    client: httpx.AsyncClient,
    admin: AppLogin,
    schema: dict[str, Any],
    loc: list[str],
    problem: str,
) -> None:
    response = await client.post(
        "/api/v1/item-types", headers=admin.headers, json=_new_type(attribute_schema=schema)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert problem in error["message"]
    assert [d["loc"] for d in error["details"]] == [loc]
    # Editing an existing type to such a schema is refused the same way.
    patched = await client.patch(
        "/api/v1/item-types/material", headers=admin.headers, json={"attribute_schema": schema}
    )
    assert patched.status_code == 422
    assert problem in patched.json()["error"]["message"]


async def test_a_schema_with_nan_infinity_or_a_huge_integer_is_422(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    """Python's JSON reader takes NaN, Infinity and integers of any size, which PostgreSQL's
    json (NaN) or the answers (beyond 64 bits) refuse: a 422 naming the field, where it was
    a 500."""
    headers = {**admin.headers, "content-type": "application/json"}
    for number in (b"NaN", b"Infinity", b"-Infinity", str(2**64).encode()):
        schema = b'{"properties": {"n": {"type": "number", "maximum": ' + number + b"}}}"
        created = await client.post(
            "/api/v1/item-types",
            content=b'{"key": "reagent", "name": "Reagent", "code_prefix": "RGT", '
            b'"workflow": "material", "attribute_schema": ' + schema + b"}",
            headers=headers,
        )
        assert created.status_code == 422, created.text
        (detail,) = created.json()["error"]["details"]
        assert detail["loc"] == ["body", "attribute_schema"]
        assert "64 bits" in detail["msg"] or "finite" in detail["msg"]
        patched = await client.patch(
            "/api/v1/item-types/material",
            content=b'{"attribute_schema": ' + schema + b"}",
            headers=headers,
        )
        assert patched.status_code == 422, patched.text
    missing = await client.get("/api/v1/item-types/reagent", headers=admin.headers)
    assert missing.status_code == 404


async def test_schema_data_may_mention_ref(client: httpx.AsyncClient, admin: AppLogin) -> None:
    # "$ref" as a property name or inside an enum is data, not a reference.
    schema = {
        "properties": {"$ref": {"type": "string"}, "kind": {"enum": [{"$ref": "elsewhere"}]}},
    }
    response = await client.post(
        "/api/v1/item-types", headers=admin.headers, json=_new_type(attribute_schema=schema)
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("changes", "conflict"),
    [
        pytest.param({"key": "material"}, "material", id="key taken"),
        pytest.param({"code_prefix": "mat"}, "MAT", id="prefix taken"),
    ],
)
async def test_duplicates_are_409(
    client: httpx.AsyncClient, admin: AppLogin, changes: dict[str, Any], conflict: str
) -> None:
    response = await client.post(
        "/api/v1/item-types", headers=admin.headers, json=_new_type(**changes)
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"
    assert conflict in response.json()["error"]["message"]


async def test_unknown_workflow_is_404(client: httpx.AsyncClient, admin: AppLogin) -> None:
    response = await client.post(
        "/api/v1/item-types", headers=admin.headers, json=_new_type(workflow="nope")
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "workflow_not_found"


async def test_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    response = await client.patch(
        "/api/v1/item-types/supply",
        headers=admin.headers,
        json={"name": "Medical supply", "unit": "box", "low_stock_threshold": None},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Medical supply"
    assert body["unit"] == "box"
    assert body["low_stock_threshold"] is None
    assert body["code_prefix"] == "SUP"
    assert body["tracks_expiry"] is True

    # With no items yet, the prefix and the workflow may still change.
    moved = await client.patch(
        "/api/v1/item-types/supply",
        headers=admin.headers,
        json={"code_prefix": "MED", "workflow": "bag", "low_stock_threshold": 4},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["code_prefix"] == "MED"
    assert moved.json()["initial_state"] == "open"
    assert moved.json()["low_stock_threshold"] == "4"
    async with db.session_scope("read") as session:
        row = await session.scalar(select(ItemType).where(ItemType.key == "supply"))
    assert row is not None
    assert (row.name, row.code_prefix, row.unit) == ("Medical supply", "MED", "box")

    taken = await client.patch(
        "/api/v1/item-types/supply", headers=admin.headers, json={"code_prefix": "BAG"}
    )
    assert taken.status_code == 409


@pytest.mark.parametrize("field", ["name", "code_prefix", "workflow", "unit", "tracks_quantity"])
async def test_patch_refuses_null_for_required_fields(
    client: httpx.AsyncClient, admin: AppLogin, field: str
) -> None:
    response = await client.patch(
        "/api/v1/item-types/supply", headers=admin.headers, json={field: None}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["body", field]


async def test_prefix_is_fixed_once_items_exist(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await insert_item(db, "material", "received", "MAT-000001")
    response = await client.patch(
        "/api/v1/item-types/material", headers=admin.headers, json={"code_prefix": "LOT"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "item_type_in_use"
    # Sending the prefix it already has is no change.
    same = await client.patch(
        "/api/v1/item-types/material",
        headers=admin.headers,
        json={"code_prefix": "MAT", "name": "Raw material"},
    )
    assert same.status_code == 200
    assert same.json()["name"] == "Raw material"


async def test_workflow_changes_only_when_every_item_state_survives(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await insert_item(db, "supply", "expired", "SUP-000001")
    # The material workflow has an "expired" state too: the item keeps a valid state.
    moved = await client.patch(
        "/api/v1/item-types/supply", headers=admin.headers, json={"workflow": "material"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["workflow"] == "material"
    assert moved.json()["initial_state"] == "received"

    await insert_item(db, "bag", "sealed", "BAG-000001")
    refused = await client.patch(
        "/api/v1/item-types/bag", headers=admin.headers, json={"workflow": "supply"}
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "item_type_in_use"
    assert error["details"] == {"states_in_use": ["sealed"]}
    shown = (await client.get("/api/v1/item-types/bag", headers=admin.headers)).json()
    assert shown["workflow"] == "bag"

    unknown = await client.patch(
        "/api/v1/item-types/bag", headers=admin.headers, json={"workflow": "nope"}
    )
    assert unknown.status_code == 404


async def test_operators_read_but_do_not_define(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    create = await client.post("/api/v1/item-types", headers=operator.headers, json=_new_type())
    assert create.status_code == 403
    assert create.json()["error"]["code"] == "permission_denied"
    patch = await client.patch(
        "/api/v1/item-types/material", headers=operator.headers, json={"name": "Mine"}
    )
    assert patch.status_code == 403
