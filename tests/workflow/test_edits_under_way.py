"""A workflow that loses a state, or an item type that moves to another workflow, while items
are being moved into that state: the edit waits for the changes under way and then sees them
(refused), or the changes wait for the edit and then find the state gone (refused); never
an item left in a state its workflow does not have."""

import asyncio
import copy
from typing import Any

import httpx
import pytest

from qtrack.workflow.defaults import SUPPLY
from tests.factories.accounts import AppLogin
from tests.factories.items import codes_of
from tests.factories.locations import create_location

pytestmark = pytest.mark.postgres_only  # SQLite runs one writer at a time

WORKFLOWS, TYPES = "/api/v1/workflows", "/api/v1/item-types"


def _without_low(definition: dict[str, Any]) -> dict[str, Any]:
    cut = copy.deepcopy(definition)
    cut["states"] = [s for s in cut["states"] if s["key"] != "low"]
    for t in cut["transitions"]:
        t["from"] = [f for f in t["from"] if f != "low"]
    cut["transitions"] = [t for t in cut["transitions"] if t["to"] != "low" and t["from"]]
    return cut


async def _made(client: httpx.AsyncClient, who: AppLogin, url: str, body: Any) -> None:
    response = await client.post(url, json=body, headers=who.headers)
    assert response.status_code == 201, response.text


async def _lowered_at_once(
    client: httpx.AsyncClient, who: AppLogin, codes: list[str], edit: Any
) -> tuple[httpx.Response, list[httpx.Response]]:
    edited, *moved = await asyncio.gather(
        edit,
        *(
            client.post(
                f"/api/v1/items/{code}/transitions",
                json={"transition": "mark_low"},
                headers=who.headers,
            )
            for code in codes
        ),
    )
    return edited, moved


async def _states(client: httpx.AsyncClient, who: AppLogin, codes: list[str]) -> list[str]:
    found = [await client.get(f"/api/v1/items/{code}", headers=who.headers) for code in codes]
    return [item.json()["status"] for item in found]


def _settled(
    edited: httpx.Response, moved: list[httpx.Response], states: list[str], refusal: str
) -> None:
    """One of the two went first: the edit (the changes found no "low" and were refused) or
    the changes (the edit found items in "low" and was refused)."""
    if edited.status_code == 200:
        assert "low" not in states, states
        assert all(m.status_code == 409 for m in moved), [m.text for m in moved]
    else:
        assert edited.status_code == 409, edited.text
        assert edited.json()["error"]["code"] == refusal
        assert "low" in states


async def test_a_workflow_losing_a_state_and_changes_into_it_at_once(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "WH1")
    for n in range(5):
        workflow, kind = f"wf{n}", f"kind{n}"
        await _made(client, admin, WORKFLOWS, {"key": workflow, "name": "W", "definition": SUPPLY})
        await _made(client, admin, TYPES, {
            "key": kind, "name": "K", "code_prefix": f"KA{n}", "workflow": workflow,
            "tracks_quantity": True, "unit": "pcs",
        })  # fmt: skip
        codes = await codes_of(client, operator, 3, type=kind, quantity="1", location="WH1")
        edit = client.put(
            f"{WORKFLOWS}/{workflow}",
            json={"definition": _without_low(SUPPLY)},
            headers=admin.headers,
        )
        edited, moved = await _lowered_at_once(client, operator, codes, edit)
        _settled(edited, moved, await _states(client, operator, codes), "states_in_use")


async def test_a_type_moving_to_a_workflow_without_a_state_and_changes_into_it_at_once(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "WH1")
    await _made(
        client, admin, WORKFLOWS, {"key": "nolow", "name": "W", "definition": _without_low(SUPPLY)}
    )
    for n in range(5):
        kind = f"kind{n}"
        await _made(client, admin, TYPES, {
            "key": kind, "name": "K", "code_prefix": f"KB{n}", "workflow": "supply",
            "tracks_quantity": True, "unit": "pcs",
        })  # fmt: skip
        codes = await codes_of(client, operator, 3, type=kind, quantity="1", location="WH1")
        edit = client.patch(f"{TYPES}/{kind}", json={"workflow": "nolow"}, headers=admin.headers)
        edited, moved = await _lowered_at_once(client, operator, codes, edit)
        _settled(edited, moved, await _states(client, operator, codes), "item_type_in_use")
