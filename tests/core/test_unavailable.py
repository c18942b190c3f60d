"""Errors that used to be 500s: versions too big to be ours, and a database that cannot serve
(refused, exhausted or lost connections) is a 503 with Retry-After, for the API and pages."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict, DatabaseUnavailable
from qtrack.core.http import version_of_etag
from tests.conftest import make_settings, start_app
from tests.databases import POSTGRES_ADMIN_URL
from tests.factories.accounts import create_user, login


async def _client_for(settings: Settings) -> tuple[FastAPI, Any, httpx.AsyncClient]:
    app, lifespan = await start_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 5000))
    return app, lifespan, httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def app_and_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app, lifespan, client = await _client_for(settings)
    async with client:
        yield app, client
    await lifespan.__aexit__(None, None, None)


# --- If-Match versions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ('"v7"', 7),
        ('W/"v7"', 7),
        ("v7", 7),
        ('"v999999999999999999"', 999_999_999_999_999_999),
        ('"v18446744073709551616"', None),  # 2^64: no version of ours
        ('"v9223372036854775808"', None),  # 2^63
        ('"v²"', None),  # str.isdigit() says yes, int() says no
        ('"v\u0661\u0662"', None),  # Arabic-Indic digits: int() would read 12
        ('"v-1"', None),
        ('"v"', None),
        ('"7"', None),
        ("*", None),
    ],
)
def test_version_of_etag_takes_only_versions_we_issue(tag: str, version: int | None) -> None:
    assert version_of_etag(tag) == version


# Header bytes are read as Latin-1: "²" arrives as itself, and str.isdigit() says yes to it.
@pytest.mark.parametrize(
    "tag", [b'"v18446744073709551616"', b'"v' + b"9" * 40 + b'"', b'"v\xb2"', b'W/"v-0"']
)
async def test_if_match_beyond_any_version_is_a_clean_412(
    app_and_client: tuple[FastAPI, httpx.AsyncClient], tag: bytes
) -> None:
    app, client = app_and_client
    await create_user(app.state.qtrack.db, "qa", "supervisor")
    qa = await login(client, "qa")
    made = await client.post(
        "/api/v1/items", json={"type": "material", "name": "Lactose"}, headers=qa.headers
    )
    assert made.status_code == 201, made.text
    path = f"/api/v1/items/{made.json()['items'][0]['code']}"
    refused = await client.patch(
        path,
        json={"name": "Changed"},
        headers=[(k.encode(), v.encode()) for k, v in qa.headers.items()] + [(b"If-Match", tag)],
    )
    assert refused.status_code == 412, refused.text
    assert refused.json()["error"]["code"] == "version_mismatch"
    assert (await client.get(path, headers=qa.headers)).json()["name"] == "Lactose"


async def test_error_details_that_json_cannot_hold_still_give_the_error(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_and_client

    @app.get("/api/v1/_probe/huge")
    async def huge() -> None:
        raise Conflict("Too big to echo", details={"expected_version": 2**70})

    response = await client.get("/api/v1/_probe/huge")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "Too big to echo",
        "details": None,
    }


# --- the database cannot serve -------------------------------------------------------------


def _assert_unavailable_json(response: httpx.Response, code: str = "database_unavailable") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]


def _assert_unavailable_page(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["retry-after"]) >= 1
    assert "database_unavailable" in response.text
    assert "Traceback" not in response.text


async def _both_edges(settings: Settings) -> None:
    """An API login and a signed-in page, each needing the database, against this one."""
    _, lifespan, client = await _client_for(settings)
    try:
        async with client:
            api = await client.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "whatever it is"}
            )
            _assert_unavailable_json(api)
            page = await client.get("/items", headers={"Cookie": "qtrack_session=some-session"})
            _assert_unavailable_page(page)
    finally:
        await lifespan.__aexit__(None, None, None)
        # aiosqlite stops the thread of a failed connect without awaiting it; give that
        # thread a moment so it does not report to an event loop this test has closed.
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",  # nothing listens on port 1
        "sqlite+aiosqlite:////nonexistent-dir/qtrack.db",
    ],
)
async def test_refused_connection_is_503_with_retry_after(url: str) -> None:
    await _both_edges(make_settings(url, log_level="ERROR"))


@pytest.mark.postgres_only
async def test_too_many_clients_is_503(database_url: str) -> None:
    """A role whose CONNECTION LIMIT is used up gets "too many connections" from PostgreSQL."""
    role = f"qtrack_limited_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        limited = make_url(database_url).set(username=role, password=None)
        await _both_edges(
            make_settings(limited.render_as_string(hide_password=False), log_level="ERROR")
        )
    finally:
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        await conn.close()


@pytest.mark.postgres_only
async def test_exhausted_pool_is_503(database_url: str) -> None:
    settings = make_settings(
        database_url,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout_s=0.05,
        log_level="ERROR",
    )
    app, lifespan, client = await _client_for(settings)
    db: Database = app.state.qtrack.db
    try:
        async with client, db.engine.connect() as held:  # the one connection, taken
            await held.execute(text("SELECT 1"))
            api = await client.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "whatever it is"}
            )
            _assert_unavailable_json(api)
            page = await client.get("/items", headers={"Cookie": "qtrack_session=some-session"})
            _assert_unavailable_page(page)
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_sqlite_writer_locked_out_past_the_busy_timeout_is_503(
    database_url: str, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's write lock")
    settings = make_settings(database_url, sqlite_busy_timeout_ms=50, log_level="ERROR")
    app, lifespan, client = await _client_for(settings)
    db: Database = app.state.qtrack.db
    await create_user(db, "ann")
    try:
        async with client, db.session_scope("write") as holder:
            await holder.execute(text("UPDATE user SET full_name = 'x' WHERE 1 = 0"))
            locked = await client.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "whatever it is"}
            )
            _assert_unavailable_json(locked)
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_lost_connection_is_503(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_and_client

    @app.get("/api/v1/_probe/lost")
    async def lost() -> None:
        raise DatabaseUnavailable() from ConnectionResetError("server closed the connection")

    _assert_unavailable_json(await client.get("/api/v1/_probe/lost"))


@pytest.mark.postgres_only
async def test_a_deadlock_is_503_database_busy(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Two requests that take the same two locks in opposite orders: PostgreSQL stops one to
    end the deadlock. That one is rolled back whole and answered 503 `database_busy` with
    `Retry-After: 1` (it was a 500), the other goes on."""
    app, client = app_and_client
    held = {1: asyncio.Event(), 2: asyncio.Event()}

    @app.post("/api/v1/_probe/crossing/{first}")
    async def crossing(first: int, session: SessionDep) -> dict[str, int]:
        second = 3 - first
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": first})
        held[first].set()
        await held[second].wait()
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": second})
        return {"done": first}

    answers = await asyncio.gather(
        client.post("/api/v1/_probe/crossing/1"), client.post("/api/v1/_probe/crossing/2")
    )
    assert sorted(a.status_code for a in answers) == [200, 503]
    busy = next(a for a in answers if a.status_code == 503)
    _assert_unavailable_json(busy, "database_busy")
    assert busy.headers["retry-after"] == "1"


async def test_a_database_without_tables_is_503_not_migrated(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url, log_level="ERROR")
    _, lifespan, client = await _client_for(settings)
    try:
        async with client:
            api = await client.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "whatever it is"}
            )
            _assert_unavailable_json(api, "database_not_migrated")
            assert "qtrack db upgrade" in api.json()["error"]["message"]
    finally:
        await lifespan.__aexit__(None, None, None)
