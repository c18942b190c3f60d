"""Nothing is put into an archived location: not by registering, moving or importing an item,
and not by doing so at the moment the location is archived."""

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.items.models import Item
from qtrack.locations.models import Location
from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.factories.locations import create_location

URL = "/api/v1/locations"


def _archived(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "location_archived"


async def test_an_archived_location_takes_no_item(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "OLD")
    await create_location(client, admin, "NEW")
    lot = await register(client, operator, location="NEW")
    assert (await client.post(f"{URL}/OLD/archive", headers=admin.headers)).status_code == 200

    body = {"type": "material", "location": "old"}
    _archived(await client.post("/api/v1/items", json=body, headers=operator.headers))
    batch = {"items": [body]}
    _archived(await client.post("/api/v1/items/batch", json=batch, headers=operator.headers))
    moved = await client.post(
        f"/api/v1/items/{lot['code']}/move", json={"location": "OLD"}, headers=operator.headers
    )
    _archived(moved)
    scanned = await client.post(
        "/api/v1/scan",
        json={"data": lot["code"], "action": {"kind": "move", "location": "OLD"}},
        headers=operator.headers,
    )
    _archived(scanned)
    csv = "type,location\nmaterial,OLD\n"
    imported = await client.post(
        "/api/v1/imports",
        files={"file": ("lots.csv", csv.encode(), "text/csv")},
        params={"kind": "items"},
        headers=admin.headers,
    )
    # In the words of POST /api/v1/items.
    assert "Location 'OLD' is archived; nothing can be put there" in imported.text, imported.text
    item = await client.get(f"/api/v1/items/{lot['code']}", headers=operator.headers)
    assert item.json()["location"] == "NEW"


@pytest.mark.postgres_only
async def test_archiving_while_items_are_put_in_leaves_none_inside(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin, db: Database
) -> None:
    """The archive and a registration and a move into the same location, at once, five times:
    either the archive is refused (the items got in first) or the items are (it came first);
    never an archived location with items in it."""
    await create_location(client, admin, "HOME")
    for n in range(5):
        code = f"GOING-{n}"
        await create_location(client, admin, code)
        lot = await register(client, operator, location="HOME")
        archive, created, moved = await asyncio.gather(
            client.post(f"{URL}/{code}/archive", headers=admin.headers),
            client.post(
                "/api/v1/items",
                json={"type": "material", "location": code},
                headers=operator.headers,
            ),
            client.post(
                f"/api/v1/items/{lot['code']}/move",
                json={"location": code},
                headers=operator.headers,
            ),
        )
        assert archive.status_code in (200, 409), archive.text
        assert created.status_code in (201, 409), created.text
        assert moved.status_code in (200, 409), moved.text
        async with db.session_scope("read") as session:
            archived, inside = (
                await session.execute(
                    select(
                        Location.archived,
                        select(func.count())
                        .where(Item.location_id == Location.id, Item.archived.is_(False))
                        .scalar_subquery(),
                    ).where(Location.code == code)
                )
            ).one()
        assert not (archived and inside), (archive.json(), created.json(), moved.json())
        if archived:
            _archived(created)
            _archived(moved)
        else:
            assert archive.json()["error"]["code"] == "location_not_empty"
