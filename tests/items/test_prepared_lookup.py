"""The scan lookup read through the driver (core/prepared.py) gives the row the session gives."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core import readlane
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
    lane = readlane.lane_of(db.engine.sync_engine)
    assert lane is not None
    await lane.close()  # no lookup connections kept: every read borrows from the pool

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
    borrowed connection and never makes its request's session (core/deferred.py); nor does a
    change whose statements all run through the driver, in its driver transaction
    (core/writetx.py), which commits. On SQLite both go through the session."""
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
    assert len(made) == (0 if postgres else 1)
    again = await client.get(f"/api/v1/items/{code}", headers=headers)
    assert again.json()["status"] == "quarantine"  # committed


async def _lookup(db: Database, code: str) -> Any:
    async with db.session_scope("read") as session:
        return await repository.PREPARED_LOOKUP_BY_CODE.first(session, {"code": code})


@pytest.mark.postgres_only  # the lookup connections are PostgreSQL's
async def test_lookups_read_on_kept_connections_without_the_pool(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    """A borrowed read's connection is kept beside the pool (core/readlane.py), up to the
    lane's size; later reads run on it with no pool checkout, and /metrics counts it."""
    created = await client.post(
        "/api/v1/items", json={"type": "supply", "name": "Gloves"}, headers=crew.operator.headers
    )
    code = created.json()["items"][0]["code"]
    engine = db.engine.sync_engine
    lane = readlane.lane_of(engine)
    assert lane is not None
    assert lane.size == db.settings.database_lookup_connections == 10
    held = lane.held
    assert (await _lookup(db, code)).code == code
    assert lane.held == max(held, 1)

    checkouts: list[object] = []

    def counted(*args: Any) -> None:
        checkouts.append(args)

    event.listen(engine.pool, "checkout", counted)
    try:
        for _ in range(5):
            assert (await _lookup(db, code)).code == code
        assert checkouts == []
        # More reads at once than the lane holds: the rest borrow from the pool, and the lane
        # fills up to its size, no further.
        rows = await asyncio.gather(*(_lookup(db, code) for _ in range(lane.size + 8)))
        assert {row.code for row in rows} == {code}
        assert checkouts
        assert lane.held == lane.size
    finally:
        event.remove(engine.pool, "checkout", counted)
    assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert db.pool_stats()["lookup"] == lane.size


async def _kept(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> tuple[str, readlane.ReadLane]:
    """An item's code, and the lane beside the app's pool after one lookup of it (so the lane
    holds at least one connection)."""
    created = await client.post(
        "/api/v1/items", json={"type": "supply", "name": "Gloves"}, headers=crew.operator.headers
    )
    code = created.json()["items"][0]["code"]
    lane = readlane.lane_of(db.engine.sync_engine)
    assert lane is not None
    await _lookup(db, code)
    return code, lane


async def _closed(driver: Any, within_s: float = 10.0) -> bool:
    """Whether the driver's connection is closed, waiting for it a while: the server ends a
    backend, or the lane closes one, some time after it was asked to, on a busy machine
    later than a fixed pause would allow."""
    for _ in range(int(within_s / 0.02)):
        if driver.is_closed():
            return True
        await asyncio.sleep(0.02)
    return bool(driver.is_closed())


async def _kept_driver(lane: readlane.ReadLane) -> Any:
    kept = lane.take()
    assert kept is not None
    lane.give_back(kept)
    return kept.connection.driver_connection


@pytest.mark.postgres_only
async def test_a_kept_connection_that_failed_is_cut_and_the_read_still_answered(
    client: httpx.AsyncClient, crew: Crew, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends a kept connection (a restart, an idle timeout): it is dropped from the
    lane, and the read borrows another. A read whose connection fails under it is answered by
    the session, and that connection is cut. A read cancelled mid-statement on a kept
    connection cuts that connection too."""
    code, lane = await _kept(client, crew, db)
    held = lane.held
    driver = await _kept_driver(lane)
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql(f"SELECT pg_terminate_backend({driver.get_server_pid()})")
    assert await _closed(driver)
    row = await _lookup(db, code)
    assert row is not None
    assert row.code == code
    assert lane.held == held  # a fresh one in its place
    assert await _kept_driver(lane) is not driver

    driver = await _kept_driver(lane)
    original = asyncpg.Connection.fetchrow
    failed: list[object] = []

    async def lost(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self is driver:
            failed.append(self)
            raise ConnectionResetError("gone")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", lost)
    row = await _lookup(db, code)
    assert row is not None
    assert row.code == code
    assert failed == [driver]
    assert driver.is_closed()
    assert lane.held == held - 1
    monkeypatch.setattr(asyncpg.Connection, "fetchrow", original)

    await _lookup(db, code)  # borrowed from the pool, and kept
    assert lane.held == held
    driver = await _kept_driver(lane)
    held = lane.held
    started = asyncio.Event()

    async def hangs(self: Any, *args: Any, **kwargs: Any) -> Any:
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", hangs)
    task = asyncio.create_task(_lookup(db, code))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.is_closed()
    assert lane.held == held - 1


@pytest.mark.postgres_only
async def test_kept_connections_are_closed_with_the_database_and_when_too_old(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    code, lane = await _kept(client, crew, db)

    # Older than the pool's recycle time: closed when next taken, and the read borrows.
    old = await _kept_driver(lane)
    lane.recycle_s = 0.0
    assert (await _lookup(db, code)).code == code
    assert await _closed(old)
    lane.recycle_s = 1800.0
    assert (await _lookup(db, code)).code == code  # adopted a fresh one

    # Idle too long, or opened before the pool was invalidated (the server went away):
    # closed when found, and the read borrows.
    for make_stale in ("idle", "invalidated"):
        stale = await _kept_driver(lane)
        if make_stale == "idle":
            lane._idle[-1].used -= readlane.IDLE_S
        else:
            lane._idle[-1].opened = db.engine.sync_engine.pool._invalidate_time - 1
        assert (await _lookup(db, code)).code == code
        assert await _closed(stale)

    # The database closed while one is in use: the idle ones are closed at once, and closing
    # waits for the one in use to come back.
    assert (await _lookup(db, code)).code == code
    in_use = lane.take()
    assert in_use is not None
    idle = [kept.connection.driver_connection for kept in lane._idle]
    closing = asyncio.create_task(db.dispose())
    assert all([await _closed(driver) for driver in idle])
    assert not in_use.connection.driver_connection.is_closed()
    assert not closing.done()
    lane.give_back(in_use)
    await closing
    assert in_use.connection.driver_connection.is_closed()
    assert lane.held == 0
    assert lane.take() is None


@pytest.mark.postgres_only
async def test_a_read_the_server_refuses_keeps_its_connection(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    """A statement that fails without harming its connection (a value asyncpg cannot send, an
    error the server answers) gives the connection back; the session then says what is
    wrong, as for any statement."""
    code, lane = await _kept(client, crew, db)
    driver = await _kept_driver(lane)
    held = lane.held
    with pytest.raises(DBAPIError):
        async with db.session_scope("read") as session:
            await repository.PREPARED_LOOKUP_BY_ID.first(session, {"id": 2**70})
    assert lane.held == held
    assert not driver.is_closed()
    assert await _kept_driver(lane) is driver
    assert (await _lookup(db, code)).code == code


def test_no_lookup_connections_when_none_are_asked_for(db: Database) -> None:
    assert readlane.attach(db.engine.sync_engine, 0, 1800) is None
