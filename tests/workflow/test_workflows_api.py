"""Admins define workflows over the API; an incoherent one is refused with the problem named."""

import copy
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.core.db import Database
from qtrack.workflow.defaults import MATERIAL
from qtrack.workflow.models import Workflow
from tests.factories.accounts import AppLogin
from tests.factories.items import insert_item_row as insert_item

SAMPLE: dict[str, Any] = {
    "initial": "drawn",
    "states": [
        {"key": "drawn", "label": "Drawn", "colour": "#0969da"},
        {"key": "tested", "label": "Tested"},
        {"key": "discarded", "label": "Discarded", "terminal": True},
    ],
    "transitions": [
        {"name": "test", "from": ["drawn"], "to": "tested"},
        {
            "name": "discard",
            "from": ["drawn", "tested"],
            "to": "discarded",
            "permission": "item.release",
            "reason_required": True,
            "signature_required": True,
            "signature_meaning": "Disposal",
        },
    ],
}


def _without_state(definition: dict[str, Any], key: str) -> dict[str, Any]:
    """A definition minus one state and every transition into it or only out of it."""
    changed = copy.deepcopy(definition)
    changed["states"] = [s for s in changed["states"] if s["key"] != key]
    transitions = []
    for t in changed["transitions"]:
        t["from"] = [s for s in t["from"] if s != key]
        if t["to"] != key and t["from"]:
            transitions.append(t)
    changed["transitions"] = transitions
    return changed


async def test_shipped_workflows_are_readable(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    listed = await client.get("/api/v1/workflows", headers=operator.headers)
    assert listed.status_code == 200
    assert [w["key"] for w in listed.json()] == ["bag", "material", "supply"]
    assert all(w["builtin"] for w in listed.json())

    material = (await client.get("/api/v1/workflows/material", headers=operator.headers)).json()
    definition = material["definition"]
    assert definition["initial"] == "received"
    assert [s["key"] for s in definition["states"]] == [s["key"] for s in MATERIAL["states"]]
    release = next(t for t in definition["transitions"] if t["name"] == "release")
    assert release["from"] == ["under_test"]
    assert release["permission"] == "item.release"
    assert release["signature_meaning"] == "QA release"
    assert release["distinct_actor"] is True


async def test_unknown_workflow_is_404(client: httpx.AsyncClient, operator: AppLogin) -> None:
    response = await client.get("/api/v1/workflows/ghost", headers=operator.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "workflow_not_found"
    put = await client.put("/api/v1/workflows/ghost", headers=operator.headers, json={})
    assert put.status_code == 403  # the operator is turned away before anything is looked up


async def test_create_and_read_back(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    created = await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "sample", "name": "Lab sample", "definition": SAMPLE},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"] == "sample"
    assert body["builtin"] is False
    assert body["definition"]["states"][1] == {
        "key": "tested",
        "label": "Tested",
        "colour": "#6e7781",
        "terminal": False,
        "closed": False,
    }
    assert body["definition"]["transitions"][0]["permission"] == "item.transition"

    shown = await client.get("/api/v1/workflows/sample", headers=admin.headers)
    assert shown.json() == body
    async with db.session_scope("read") as session:
        row = await session.scalar(select(Workflow).where(Workflow.key == "sample"))
    assert row is not None
    assert row.name == "Lab sample"
    assert row.definition["initial"] == "drawn"


def _bad(**changes: Any) -> dict[str, Any]:
    definition = copy.deepcopy(SAMPLE)
    definition.update(changes)
    return definition


_TERMINAL_LEFT = _bad(
    transitions=[
        *SAMPLE["transitions"],
        {"name": "revive", "from": ["discarded"], "to": "drawn"},
    ]
)


@pytest.mark.parametrize(
    ("definition", "loc", "problem"),
    [
        pytest.param(
            _bad(transitions=[{"name": "test", "from": ["drawn"], "to": "shipped"}]),
            ["body", "definition"],
            "transition 'test' names unknown state 'shipped'",
            id="unknown state in a transition",
        ),
        pytest.param(
            _bad(initial="nowhere"),
            ["body", "definition"],
            "initial state 'nowhere' is not one of the states",
            id="unknown initial state",
        ),
        pytest.param(
            _bad(transitions=SAMPLE["transitions"][:1]),
            ["body", "definition"],
            "unreachable states: discarded",
            id="unreachable state",
        ),
        pytest.param(
            _bad(states=[*SAMPLE["states"], {"key": "tested", "label": "Again"}]),
            ["body", "definition"],
            "duplicate states: tested",
            id="duplicate state keys",
        ),
        pytest.param(
            _TERMINAL_LEFT,
            ["body", "definition"],
            "transition 'revive' leaves terminal state 'discarded'",
            id="transition from a terminal state",
        ),
        pytest.param(
            _bad(
                transitions=[
                    {"name": "test", "from": ["drawn"], "to": "tested"},
                    {"name": "discard", "from": ["tested"], "to": "discarded", "permission": "x.y"},
                ]
            ),
            ["body", "definition"],
            "transition 'discard' needs unknown permission 'x.y'",
            id="unknown permission",
        ),
        pytest.param(
            _bad(
                transitions=[
                    {"name": "test", "from": ["drawn"], "to": "tested"},
                    {
                        "name": "discard",
                        "from": ["tested"],
                        "to": "discarded",
                        "signature_required": True,
                    },
                ]
            ),
            ["body", "definition"],
            "transition 'discard' requires a signature but gives no meaning",
            id="signature required without meaning",
        ),
        pytest.param(
            _bad(
                transitions=[
                    *SAMPLE["transitions"],
                    {"name": "test", "from": ["drawn"], "to": "discarded"},
                ]
            ),
            ["body", "definition"],
            "transition 'test' is defined twice from 'drawn'",
            id="duplicate transition",
        ),
        pytest.param(
            {"states": SAMPLE["states"], "transitions": SAMPLE["transitions"]},
            ["body", "definition", "initial"],
            "Field required",
            id="no initial state",
        ),
        pytest.param(
            _bad(states=[]),
            ["body", "definition", "states"],
            "at least 1",
            id="no states",
        ),
        pytest.param(
            _bad(states=[{"key": "Drawn Up", "label": "Drawn"}]),
            ["body", "definition", "states", "0", "key"],
            "should match pattern",
            id="bad state key",
        ),
        pytest.param(
            _bad(states=[{"key": "drawn", "label": "Drawn", "colour": "red"}]),
            ["body", "definition", "states", "0", "colour"],
            "should match pattern",
            id="bad colour",
        ),
    ],
)
async def test_incoherent_workflows_are_refused(
    client: httpx.AsyncClient,
    admin: AppLogin,
    db: Database,
    definition: dict[str, Any],
    loc: list[str],
    problem: str,
) -> None:
    response = await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "broken", "name": "Broken", "definition": definition},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["details"]] == [loc]
    assert problem in error["details"][0]["msg"]
    # The same definition is refused when it replaces an existing one, and nothing is kept.
    replaced = await client.put(
        "/api/v1/workflows/supply", headers=admin.headers, json={"definition": definition}
    )
    assert replaced.status_code == 422
    assert problem in replaced.json()["error"]["details"][0]["msg"]
    async with db.session_scope("read") as session:
        keys = set((await session.scalars(select(Workflow.key))).all())
    assert keys == {"bag", "material", "supply"}


async def test_duplicate_key_is_409(client: httpx.AsyncClient, admin: AppLogin) -> None:
    response = await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "material", "name": "Mine", "definition": SAMPLE},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


async def test_replace_name_and_definition(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "sample", "name": "Lab sample", "definition": SAMPLE},
    )
    renamed = await client.put(
        "/api/v1/workflows/sample", headers=admin.headers, json={"name": "Sample"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Sample"
    assert renamed.json()["definition"]["initial"] == "drawn"

    grown = copy.deepcopy(SAMPLE)
    grown["states"].append({"key": "archived", "label": "Archived", "terminal": True})
    grown["transitions"].append({"name": "archive", "from": ["tested"], "to": "archived"})
    replaced = await client.put(
        "/api/v1/workflows/sample", headers=admin.headers, json={"definition": grown}
    )
    assert replaced.status_code == 200, replaced.text
    shown = (await client.get("/api/v1/workflows/sample", headers=admin.headers)).json()
    assert shown["name"] == "Sample"
    assert [s["key"] for s in shown["definition"]["states"]][-1] == "archived"


async def test_shipped_workflow_edits_reach_its_item_types(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    relabelled = copy.deepcopy(MATERIAL)
    relabelled["states"][0]["label"] = "Goods in"
    response = await client.put(
        "/api/v1/workflows/material", headers=admin.headers, json={"definition": relabelled}
    )
    assert response.status_code == 200
    assert response.json()["builtin"] is True
    item_type = (await client.get("/api/v1/item-types/material", headers=admin.headers)).json()
    assert item_type["states"][0]["label"] == "Goods in"


async def test_a_state_items_are_in_cannot_be_removed(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await insert_item(db, "material", "expired", "MAT-900001")
    refused = await client.put(
        "/api/v1/workflows/material",
        headers=admin.headers,
        json={"definition": _without_state(MATERIAL, "expired")},
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "states_in_use"
    assert error["details"] == {"states_in_use": ["expired"]}
    assert "expired" in error["message"]
    shown = (await client.get("/api/v1/workflows/material", headers=admin.headers)).json()
    assert "expired" in [s["key"] for s in shown["definition"]["states"]]

    # A state nobody is in may go.
    allowed = await client.put(
        "/api/v1/workflows/material",
        headers=admin.headers,
        json={"definition": _without_state(MATERIAL, "consumed")},
    )
    assert allowed.status_code == 200, allowed.text
    assert "consumed" not in [s["key"] for s in allowed.json()["definition"]["states"]]


async def test_items_of_another_workflow_do_not_block(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    # A supply sits in "expired" too, but supplies follow their own workflow.
    await insert_item(db, "supply", "expired", "SUP-900001")
    response = await client.put(
        "/api/v1/workflows/material",
        headers=admin.headers,
        json={"definition": _without_state(MATERIAL, "expired")},
    )
    assert response.status_code == 200, response.text


async def test_operators_read_but_do_not_define(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    create = await client.post(
        "/api/v1/workflows",
        headers=operator.headers,
        json={"key": "sample", "name": "Sample", "definition": SAMPLE},
    )
    assert create.status_code == 403
    assert create.json()["error"]["code"] == "permission_denied"
    replace = await client.put(
        "/api/v1/workflows/material", headers=operator.headers, json={"name": "Mine"}
    )
    assert replace.status_code == 403
    assert (await client.get("/api/v1/workflows", headers=operator.headers)).status_code == 200
