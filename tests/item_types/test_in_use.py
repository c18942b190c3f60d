"""What stays fixed while an item type has items (its code prefix, its quantity tracking),
also when the change and the type's first registrations arrive at the same moment."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from tests.factories.accounts import AppLogin
from tests.factories.locations import create_location

TYPES = "/api/v1/item-types"


async def _new_type(client: httpx.AsyncClient, admin: AppLogin, key: str, prefix: str) -> None:
    body = {
        "key": key, "name": key.title(), "code_prefix": prefix, "workflow": "supply",
        "tracks_quantity": True, "unit": "pcs",
    }  # fmt: skip
    response = await client.post(TYPES, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text


async def test_quantity_tracking_is_fixed_once_items_exist(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "WH1")
    await _new_type(client, admin, "gauze", "GZE")
    # No items yet: it may change, and back.
    for tracks in (False, True):
        changed = await client.patch(
            f"{TYPES}/gauze", json={"tracks_quantity": tracks}, headers=admin.headers
        )
        assert changed.status_code == 200, changed.text
    made = await client.post(
        "/api/v1/items",
        json={"type": "gauze", "quantity": "2", "location": "WH1"},
        headers=operator.headers,
    )
    assert made.status_code == 201, made.text
    refused = await client.patch(
        f"{TYPES}/gauze", json={"tracks_quantity": False}, headers=admin.headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "item_type_in_use"
    assert refused.json()["error"]["details"] == {"tracks_quantity": True}
    # The stock still counts what the item holds.
    stock = (await client.get("/api/v1/stock", headers=admin.headers)).json()
    rows = [row for row in stock if row["type"] == "gauze" and row["location"] is None]
    assert [Decimal(row["on_hand"]) for row in rows] == [Decimal(2)]


@pytest.mark.postgres_only
async def test_a_prefix_change_and_the_first_registrations_at_once_agree(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    """Either the change waits for the registrations and is refused (the type has items
    now), or they wait for it and carry the new prefix; never items under the old prefix
    of a type that has the new one."""
    for n in range(5):
        key = f"kit{n}"
        await _new_type(client, admin, key, f"OLD{n}")
        change, *made = await asyncio.gather(
            client.patch(f"{TYPES}/{key}", json={"code_prefix": f"NEW{n}"}, headers=admin.headers),
            *(
                client.post("/api/v1/items", json={"type": key}, headers=operator.headers)
                for _ in range(3)
            ),
        )
        assert all(m.status_code == 201 for m in made), [m.text for m in made]
        prefix = (await client.get(f"{TYPES}/{key}", headers=admin.headers)).json()["code_prefix"]
        codes = [item["code"] for m in made for item in m.json()["items"]]
        assert all(code.startswith(f"{prefix}-") for code in codes), (prefix, codes)
        if change.status_code == 409:
            assert change.json()["error"]["code"] == "item_type_in_use"
            assert prefix == f"OLD{n}"
        else:
            assert change.status_code == 200, change.text
            assert prefix == f"NEW{n}"
