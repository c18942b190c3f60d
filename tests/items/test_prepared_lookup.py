"""The scan lookup read through the driver (core/prepared.py) gives the row the session gives."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.db import Database
from qtrack.items import repository
from tests.items.conftest import Crew


async def _rows(db: Database, mode: str, code: str) -> tuple[Any, Any]:
    async with db.session_scope(mode) as session:  # type: ignore[arg-type]
        plain = (await session.execute(repository.LOOKUP_BY_CODE, {"code": code})).first()
        prepared = await repository.PREPARED_LOOKUP_BY_CODE.first(session, {"code": code})
    return plain, prepared


async def test_same_keys_values_and_types(
    client: httpx.AsyncClient, crew: Crew, site: list[str], db: Database
) -> None:
    full = await client.post(
        "/api/v1/items",
        json={
            "type": "material",
            "name": "Lactose",
            "quantity": "25.5",
            "location": "RACK-1",
            "expiry_raw": "271100",
            "attributes": {"grade": "A", "n": [1, 2]},
        },
        headers=crew.operator.headers,
    )
    bare = await client.post(
        "/api/v1/items", json={"type": "supply", "name": "Gloves"}, headers=crew.operator.headers
    )
    assert full.status_code == bare.status_code == 201, (full.text, bare.text)
    for created in (full, bare):
        code = created.json()["items"][0]["code"]
        for mode in ("read", "write"):
            plain, prepared = await _rows(db, mode, code)
            assert plain is not None
            assert prepared._fields == plain._fields
            assert tuple(prepared) == tuple(plain)
            assert [type(v) for v in prepared] == [type(v) for v in plain]
            assert prepared.created_at.tzinfo is not None
    for mode in ("read", "write"):
        assert await _rows(db, mode, "MAT-NOPE") == (None, None)


async def test_a_driver_failure_goes_through_the_session(
    client: httpx.AsyncClient, crew: Crew, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await client.post(
        "/api/v1/items", json={"type": "supply", "name": "Gloves"}, headers=crew.operator.headers
    )
    code = created.json()["items"][0]["code"]
    calls = []

    async def broken(*args: Any) -> Any:
        calls.append(args)
        raise ConnectionError("gone")

    async with db.session_scope("read") as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if connection.dialect.name == "postgresql":
            monkeypatch.setattr(type(driver), "fetchrow", broken)
        row = await repository.PREPARED_LOOKUP_BY_CODE.first(session, {"code": code})
    assert row is not None
    assert row.code == code
    assert len(calls) == (1 if connection.dialect.name == "postgresql" else 0)


@pytest.mark.postgres_only  # the driver path is PostgreSQL's
async def test_a_read_before_the_session_connects_borrows_a_pooled_connection(
    client: httpx.AsyncClient, crew: Crew, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read runs on a connection of the pool, given back right after; a driver failure
    discards that connection and the session answers instead; a read cancelled mid-statement
    discards its connection too, and none stays checked out."""
    created = await client.post(
        "/api/v1/items", json={"type": "supply", "name": "Gloves"}, headers=crew.operator.headers
    )
    code = created.json()["items"][0]["code"]
    pool = db.engine.sync_engine.pool
    lookup = repository.PREPARED_LOOKUP_BY_CODE

    async with db.session_scope("read") as session:
        row = await lookup.first(session, {"code": code})
        assert not session.in_transaction()  # the session never took a connection
    assert row is not None
    assert row.code == code
    assert pool.checkedout() == 0  # type: ignore[attr-defined]

    invalidated: list[object] = []

    def listener(conn: Any, record: Any, error: Any) -> None:
        invalidated.append(conn)

    event.listen(pool, "invalidate", listener)
    try:
        driver_type = asyncpg.Connection
        original = driver_type.fetchrow
        calls = []

        async def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 1:
                raise ConnectionError("gone")
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(driver_type, "fetchrow", broken)
        async with db.session_scope("read") as session:
            row = await lookup.first(session, {"code": code})
        assert row is not None
        assert row.code == code
        assert len(calls) == 2  # the pooled read failed; then the session's connection read it
        assert len(invalidated) == 1

        started = asyncio.Event()

        async def hangs(self: Any, *args: Any, **kwargs: Any) -> Any:
            started.set()
            await asyncio.sleep(3600)

        monkeypatch.setattr(driver_type, "fetchrow", hangs)
        async with db.session_scope("read") as session:
            task = asyncio.create_task(lookup.first(session, {"code": code}))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(invalidated) == 2
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        event.remove(pool, "invalidate", listener)


async def test_a_lookup_answered_from_caches_never_makes_its_session(
    client: httpx.AsyncClient, crew: Crew, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a lookup (or a scan) whose caller and workflow are cached reads on a
    borrowed connection and never makes its request's session (core/deferred.py); a change
    makes it and commits. On SQLite the read goes through the session."""
    created = await client.post(
        "/api/v1/items", json={"type": "material", "name": "Lactose"}, headers=crew.qa.headers
    )
    assert created.status_code == 201, created.text
    code = created.json()["items"][0]["code"]
    headers = crew.operator.headers
    assert (await client.get(f"/api/v1/items/{code}", headers=headers)).status_code == 200

    made: list[object] = []
    original = AsyncSession.__init__

    def counted(self: AsyncSession, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncSession, "__init__", counted)
    postgres = db.engine.dialect.name == "postgresql"

    found = await client.get(f"/api/v1/items/{code}", headers=headers)
    assert found.status_code == 200
    assert found.json()["code"] == code
    scanned = await client.post("/api/v1/scan", json={"data": code}, headers=headers)
    assert scanned.status_code == 200
    assert scanned.json()["item"]["code"] == code
    missing = await client.get("/api/v1/items/MAT-NOPE", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "item_not_found"
    assert len(made) == (0 if postgres else 3)

    made.clear()
    changed = await client.post(
        f"/api/v1/items/{code}/transitions", json={"transition": "quarantine"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert len(made) == 1
    again = await client.get(f"/api/v1/items/{code}", headers=headers)
    assert again.json()["status"] == "quarantine"  # committed
