"""Pages load what they render in a fixed number of queries, however many rows they show."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from tests.factories.accounts import create_user, login, web_login

from qtrack.core.db import Database


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """Collect every SQL statement the app sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def queries(client: httpx.AsyncClient, db: Database, path: str) -> int:
    """How many statements one GET of the page takes (it must succeed)."""
    with counting(db) as statements:
        response = await client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return len(statements)


async def _grow(client: httpx.AsyncClient, headers: dict[str, str], bag: str, n: int) -> None:
    """n more items, each moved (an extra event) and packed into the bag."""
    created = await client.post(
        "/api/v1/items",
        json={"type": "material", "count": n, "location": "WH-A", "batch": "B-1"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    for item in created.json()["items"]:
        moved = await client.post(
            f"/api/v1/items/{item['code']}/move", json={"location": "WH-B"}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        packed = await client.post(
            f"/api/v1/items/{item['code']}/pack", json={"container": bag}, headers=headers
        )
        assert packed.status_code == 200, packed.text


async def test_no_page_costs_a_query_per_row(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "boss", "admin")
    headers = (await login(client, "boss")).headers
    for code in ("WH-A", "WH-B"):
        response = await client.post(
            "/api/v1/locations",
            json={"code": code, "name": code, "kind": "building"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
    bag = (
        await client.post(
            "/api/v1/items", json={"type": "bag", "location": "WH-B"}, headers=headers
        )
    ).json()["items"][0]["code"]
    await web_login(client, "boss")
    pages = ["/", "/items", "/items?q=B-1", f"/items/{bag}", "/locations", "/scan"]

    await _grow(client, headers, bag, 2)
    few = {path: await queries(client, db, path) for path in pages}
    await _grow(client, headers, bag, 8)
    many = {path: await queries(client, db, path) for path in pages}

    assert all(n >= 2 for n in few.values()), few  # the counter sees the page's queries
    assert many == few
