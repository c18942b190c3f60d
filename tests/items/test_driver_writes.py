"""Changes whose every statement goes through the driver on PostgreSQL (core/prepared.py), the
item's row written with its event in one statement: a lone item's move (no container, nothing
inside; its place and the location counts) and a quantity change. They keep the counts and
the stock as every change does."""

from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from qtrack.core.db import Database
from qtrack.inventory.models import LocationCount
from qtrack.items.models import Item
from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.factories.locations import create_location
from tests.stock.recount import maintained, recount


async def _move(client: httpx.AsyncClient, who: AppLogin, code: str, place: str) -> None:
    moved = await client.post(
        f"/api/v1/items/{code}/move", json={"location": place}, headers=who.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["item"]["location"] == place


async def _counted(db: Database) -> dict[int, int]:
    """The location counts as kept, and as the live items say, (location id -> items)."""
    async with db.session_scope("read") as session:
        kept = await session.execute(
            select(LocationCount.location_id, func.sum(LocationCount.count)).group_by(
                LocationCount.location_id
            )
        )
        return {loc: int(n) for loc, n in kept if n}


async def _present(db: Database) -> dict[int, int]:
    async with db.session_scope("read") as session:
        found = await session.execute(
            select(Item.location_id, func.count())
            .where(Item.archived.is_(False), Item.location_id.is_not(None))
            .group_by(Item.location_id)
        )
        return {loc: int(n) for loc, n in found if loc is not None}


async def test_a_lone_items_moves_keep_the_counts_and_the_stock(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    for code in ("DOCK", "RACK-1", "RACK-2"):
        await create_location(client, admin, code)
    supply = await register(client, operator, type="supply", quantity="12.5", location="DOCK")
    nowhere = await register(client, operator)  # at no location yet
    for place in ("RACK-1", "RACK-2", "DOCK", "RACK-1"):
        await _move(client, operator, supply["code"], place)
    for place in ("RACK-2", "RACK-1"):
        await _move(client, operator, nowhere["code"], place)
    # A move to where the item is records nothing.
    again = await client.post(
        f"/api/v1/items/{supply['code']}/move", json={"location": "RACK-1"},
        headers=operator.headers,
    )  # fmt: skip
    assert again.json()["events"] == []
    assert await _counted(db) == await _present(db)
    async with db.session_scope("read") as session:
        assert await maintained(session) == await recount(session)
    history = await client.get(f"/api/v1/items/{supply['code']}/events", headers=operator.headers)
    moves = sorted(
        (e for e in history.json()["items"] if e["type"] == "moved"), key=lambda e: e["seq"]
    )
    assert [e["after"]["location"] for e in moves] == ["RACK-1", "RACK-2", "DOCK", "RACK-1"]
    shown = await client.get(f"/api/v1/items/{supply['code']}", headers=operator.headers)
    assert shown.json()["version"] == 5


@pytest.mark.postgres_only
async def test_a_lone_items_move_sends_nothing_through_the_session(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    """Its location's lock, the savepoint, the item's and its contents' locks, the event with
    the item's place and the counts, and the stock: every statement through the driver."""
    for code in ("RACK-1", "RACK-2"):
        await create_location(client, admin, code)
    supply = await register(client, operator, type="supply", quantity="3", location="RACK-1")
    await _move(client, operator, supply["code"], "RACK-2")  # the caller's principal cached
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await _move(client, operator, supply["code"], "RACK-1")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert statements == []
    assert await _counted(db) == await _present(db)


@pytest.mark.postgres_only
async def test_a_quantity_change_sends_nothing_through_the_session(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create_location(client, admin, "WARD")
    supply = await register(client, operator, type="supply", quantity="10", location="WARD")
    url = f"/api/v1/items/{supply['code']}/quantity"
    first = await client.post(url, json={"kind": "dispense", "amount": "1"},
                              headers=operator.headers)  # fmt: skip
    assert first.status_code == 200, first.text  # the caller's principal cached
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        for kind, amount in (("dispense", "2.5"), ("receive", "1")):
            changed = await client.post(url, json={"kind": kind, "amount": amount},
                                        headers=operator.headers)  # fmt: skip
            assert changed.status_code == 200, changed.text
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert statements == []
    assert changed.json()["item"]["quantity"] == "7.500000"
    async with db.session_scope("read") as session:
        assert await maintained(session) == await recount(session)
