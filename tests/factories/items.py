"""Items test data, registered through the API as a client would (events, counts, labels)."""

from typing import Any

import httpx
from sqlalchemy import select

from qtrack.core.db import Database
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from tests.factories.accounts import AppLogin


async def register_many(
    client: httpx.AsyncClient, who: AppLogin, count: int, **fields: Any
) -> list[dict[str, Any]]:
    """Register `count` items of one kind (a material lot unless `type` says otherwise)."""
    body = {"type": "material", **fields, "count": count}
    response = await client.post("/api/v1/items", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def register(client: httpx.AsyncClient, who: AppLogin, **fields: Any) -> dict[str, Any]:
    """Register one item (a material lot unless `type` says otherwise) and return it."""
    (item,) = await register_many(client, who, 1, **fields)
    return item


async def full_lot_in_bag(
    client: httpx.AsyncClient, who: AppLogin, *, bag_at: str, lot_at: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A material lot with every field set (decimals, a date, unicode, floats and nesting in
    its attributes), packed into a bag: the bag and the lot as registered."""
    bag = await register(client, who, type="bag", name="Bag", location=bag_at)
    lot = await register(
        client,
        who,
        type="material",
        name="Lactose \u00fc \u2028",
        batch="L-1",
        serial="S-9",
        gtin="04012345678901",
        quantity="25.125",
        weight_kg="1.5",
        expiry_raw="271100",
        location=lot_at,
        attributes={"grade": "A", "n": 3, "ratio": 0.25, "big": 1e300, "tags": ["x", None, {}]},
    )
    packed = await client.post(
        f"/api/v1/items/{lot['code']}/pack", json={"container": bag["code"]}, headers=who.headers
    )
    assert packed.status_code == 200, packed.text
    return bag, lot


async def codes_of(
    client: httpx.AsyncClient, who: AppLogin, count: int, **fields: Any
) -> list[str]:
    """Register `count` items and return their codes."""
    return [item["code"] for item in await register_many(client, who, count, **fields)]


async def insert_item_row(db: Database, type_key: str, status: str, code: str) -> None:
    """A bare item row straight into the database, bypassing the services (no event, no
    counts): for tests about types and workflows that only need an item to exist."""
    async with db.session_scope() as session:
        type_id = await session.scalar(select(ItemType.id).where(ItemType.key == type_key))
        assert type_id is not None
        session.add(Item(code=code, type_id=type_id, status=status, name="Lot"))
