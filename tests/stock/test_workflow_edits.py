"""Whether an item counts as stock depends on its state being terminal: a workflow edit, or a
type moved to another workflow, may not change that for a state items are in, or on-hand
would go on counting (or leave out) what the items no longer say."""

import copy
from decimal import Decimal
from typing import Any

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin
from tests.stock import recount as stock_recount

LAB: dict[str, Any] = {
    "initial": "drawn",
    "states": [
        {"key": "drawn", "label": "Drawn"},
        {"key": "tested", "label": "Tested"},
        {"key": "discarded", "label": "Discarded", "terminal": True},
    ],
    "transitions": [
        {"name": "test", "from": ["drawn"], "to": "tested"},
        {"name": "discard", "from": ["drawn", "tested"], "to": "discarded"},
    ],
}


def _tested_terminal() -> dict[str, Any]:
    """LAB where "tested" is final: nothing leaves it any more."""
    changed = copy.deepcopy(LAB)
    changed["states"][1]["terminal"] = True
    changed["transitions"][1]["from"] = ["drawn"]
    return changed


async def _lab_stock(client: httpx.AsyncClient, admin: AppLogin) -> str:
    """A "lab" type on the LAB workflow with two samples of 5, one of them tested."""
    for url, body in [
        ("/api/v1/workflows", {"key": "lab", "name": "Lab", "definition": LAB}),
        (
            "/api/v1/item-types",
            {"key": "sample", "name": "Sample", "code_prefix": "SMP", "workflow": "lab",
             "tracks_quantity": True},
        ),
    ]:  # fmt: skip
        made = await client.post(url, headers=admin.headers, json=body)
        assert made.status_code == 201, made.text
    registered = await client.post(
        "/api/v1/items", headers=admin.headers, json={"type": "sample", "quantity": "5", "count": 2}
    )
    assert registered.status_code == 201, registered.text
    code = registered.json()["items"][0]["code"]
    tested = await client.post(
        f"/api/v1/items/{code}/transitions", headers=admin.headers, json={"transition": "test"}
    )
    assert tested.status_code == 200, tested.text
    return str(code)


async def _on_hand(client: httpx.AsyncClient, admin: AppLogin) -> Decimal:
    rows = (await client.get("/api/v1/stock", headers=admin.headers)).json()
    return Decimal(next(r["on_hand"] for r in rows if r["type"] == "sample" and not r["location"]))


async def _consistent(db: Database) -> None:
    async with db.session_scope("read") as session:
        assert await stock_recount.recount(session) == await stock_recount.maintained(session)


async def test_a_state_items_are_in_keeps_whether_it_is_terminal(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _lab_stock(client, admin)
    assert await _on_hand(client, admin) == 10
    refused = await client.put(
        "/api/v1/workflows/lab", headers=admin.headers, json={"definition": _tested_terminal()}
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == ("states_in_use", {"terminal_changed": ["tested"]})
    await _consistent(db)
    assert await _on_hand(client, admin) == 10
    shown = (await client.get("/api/v1/workflows/lab", headers=admin.headers)).json()
    assert shown["definition"]["states"][1]["terminal"] is False
    # A state nobody is in may change: "discarded" is final and empty.
    freed = copy.deepcopy(LAB)
    freed["states"][2]["terminal"] = False
    allowed = await client.put(
        "/api/v1/workflows/lab", headers=admin.headers, json={"definition": freed}
    )
    assert allowed.status_code == 200, allowed.text
    await _consistent(db)


async def test_a_type_moves_only_to_a_workflow_that_ends_its_items_states_alike(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _lab_stock(client, admin)
    made = await client.post(
        "/api/v1/workflows",
        headers=admin.headers,
        json={"key": "lab_final", "name": "Lab, tested is final", "definition": _tested_terminal()},
    )
    assert made.status_code == 201, made.text
    refused = await client.patch(
        "/api/v1/item-types/sample", headers=admin.headers, json={"workflow": "lab_final"}
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == (
        "item_type_in_use",
        {"terminal_changed": ["tested"]},
    )
    await _consistent(db)
    assert await _on_hand(client, admin) == 10
