"""One transaction per request: committed before a 2xx leaves, rolled back on any error."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import JSON, Column, MetaData, Table, Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import Role, User
from qtrack.config import Settings
from qtrack.core.db import Database, json_text
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict
from tests.conftest import start_app


async def _viewer(session: AsyncSession, name: str) -> User:
    """A bare user row (no password rules), enough to test transactions."""
    role_id = await session.scalar(select(Role.id).where(Role.key == "viewer"))
    assert role_id is not None
    return User(username=name, password_hash="x", role_id=role_id)


def add_write_routes(app: FastAPI) -> None:
    @app.post("/api/v1/_probe/users/{name}")
    async def create(name: str, session: SessionDep) -> dict[str, str]:
        session.add(await _viewer(session, name))
        await session.flush()
        return {"created": name}

    @app.post("/api/v1/_probe/users/{name}/then-fail")
    async def create_then_fail(name: str, session: SessionDep) -> None:
        session.add(await _viewer(session, name))
        await session.flush()
        raise Conflict("changed my mind")

    @app.post("/api/v1/_probe/users/{name}/then-crash")
    async def create_then_crash(name: str, session: SessionDep) -> None:
        session.add(await _viewer(session, name))
        await session.flush()
        raise RuntimeError("bug")


@pytest.fixture
async def writer(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    app, lifespan = await start_app(settings)
    add_write_routes(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, app.state.qtrack.db
    await lifespan.__aexit__(None, None, None)


async def _usernames(db: Database) -> set[str]:
    async with db.session_scope("read") as session:
        return set((await session.scalars(select(User.username))).all())


async def test_success_is_committed(writer: tuple[httpx.AsyncClient, Database]) -> None:
    client, db = writer
    response = await client.post("/api/v1/_probe/users/ann")
    assert response.status_code == 200
    assert await _usernames(db) == {"ann"}


@pytest.mark.parametrize(("suffix", "status"), [("then-fail", 409), ("then-crash", 500)])
async def test_error_rolls_back(
    writer: tuple[httpx.AsyncClient, Database], suffix: str, status: int
) -> None:
    client, db = writer
    response = await client.post(f"/api/v1/_probe/users/bob/{suffix}")
    assert response.status_code == status
    assert await _usernames(db) == set()


async def test_database_error_is_an_error_not_a_2xx(
    writer: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = writer
    assert (await client.post("/api/v1/_probe/users/cy")).status_code == 200
    duplicate = await client.post("/api/v1/_probe/users/cy")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    assert await _usernames(db) == {"cy"}


async def test_concurrent_writes_all_land(writer: tuple[httpx.AsyncClient, Database]) -> None:
    """On SQLite, writers queue on BEGIN IMMEDIATE instead of failing with 'database is locked'."""
    client, db = writer
    names = [f"user{i}" for i in range(25)]
    responses = await asyncio.gather(*(client.post(f"/api/v1/_probe/users/{n}") for n in names))
    assert [r.status_code for r in responses] == [200] * len(names)
    assert await _usernames(db) == set(names)


async def test_session_scope_rolls_back_on_error(db: Database) -> None:
    async def add_then_fail() -> None:
        async with db.session_scope() as session:
            session.add(await _viewer(session, "dora"))
            await session.flush()
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await add_then_fail()
    async with db.session_scope("read") as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_sqlite_runs_wal_with_foreign_keys(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite pragmas")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000


async def test_timestamps_come_back_in_utc(db: Database) -> None:
    async with db.session_scope() as session:
        user = await _viewer(session, "eve")
        session.add(user)
    async with db.session_scope("read") as session:
        loaded = await session.scalar(select(User).where(User.username == "eve"))
        assert loaded is not None
        assert loaded.created_at.utcoffset() is not None
        assert loaded.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


async def test_a_json_column_keeps_its_value_written_by_orjson(db: Database) -> None:
    """JSON columns are written by `json_text` (orjson) on both databases: the value read
    back is the one written, keys that are not strings become strings as the standard
    library's encoder makes them, and text outside ASCII is kept as it is."""
    probe = Table("json_probe", MetaData(), Column("value", JSON), prefixes=["TEMPORARY"])
    value = {1: "one", "name": "Grüße, 東京", "list": [1.5, None, True, 2**63 - 1], "nested": {}}
    async with db.engine.connect() as conn:
        await conn.run_sync(probe.create)
        await conn.execute(probe.insert(), {"value": value})
        read = (await conn.execute(select(probe.c.value))).scalar_one()
        as_text = (await conn.execute(select(cast(probe.c.value, Text)))).scalar_one()
    assert db.engine.dialect._json_serializer is json_text
    assert read == {**{k: v for k, v in value.items() if k != 1}, "1": "one"}
    assert "Grüße, 東京" in as_text
    assert read == json.loads(json.dumps(value))  # the value the default encoder wrote


def test_json_text_refuses_what_json_cannot_hold() -> None:
    """An integer beyond 64 bits is refused before it is sent, as the answers and the event
    hash refuse it (`core.jsonvalues` keeps it out of what a client sends)."""
    with pytest.raises(TypeError):
        json_text({"n": 2**64})
    assert json_text({"b": False, 2: [None]}) == '{"b":false,"2":[null]}'
