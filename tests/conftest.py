"""Fixtures shared by the whole suite: databases on both backends, an app, a client, a CLI."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from typer.testing import CliRunner

from qtrack.app import create_app
from qtrack.config import Settings
from qtrack.core import security
from qtrack.core.db import Database
from qtrack.core.state import AppState
from tests.databases import (
    REDIS_TEST_URL,
    PostgresTemplates,
    SqliteTemplates,
    postgres_problem,
    unavailable,
)
from tests.factories.accounts import AppLogin, logged_in, signed_in

# Commands' output is compared exactly, and a loaded CI machine can make any query take 200 ms:
# the slow-query warning (QTRACK_SLOW_QUERY_MS) would then land in a command's stderr.
os.environ.setdefault("QTRACK_SLOW_QUERY_MS", "60000")

# A property's example that a busy machine makes slow is no failure: no deadline for any
# (what a property test sets itself still applies).
hypothesis_settings.register_profile("qtrack", deadline=None)
hypothesis_settings.load_profile("qtrack")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id with the smallest cost parameters: still argon2id, a hundred times faster, so
    tests that create and log in many users stay quick. Production keeps the library's
    RFC 9106 defaults."""
    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    # The hash an unknown username is checked against carries its own cost: made again.
    security._dummy_hash.cache_clear()
    yield
    security._hasher = original
    security._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplates:
    return SqliteTemplates(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[PostgresTemplates | str]:
    """The PostgreSQL template, or the reason there is none."""
    problem = postgres_problem()
    if problem is not None:
        yield problem
        return
    templates = PostgresTemplates()
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on; every database test runs on both."""
    name: str = request.param
    if name == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("needs PostgreSQL")
    return name


@pytest.fixture
async def database_url(
    backend: str,
    tmp_path: Path,
    sqlite_templates: SqliteTemplates,
    postgres_templates: PostgresTemplates | str,
) -> AsyncIterator[str]:
    """A freshly migrated database of its own for this test."""
    if backend == "sqlite":
        yield sqlite_templates.clone(tmp_path)
        return
    if isinstance(postgres_templates, str):
        unavailable("postgres", postgres_templates)
        return
    name, url = await postgres_templates.clone()
    yield url
    await postgres_templates.release(name)


@pytest.fixture
async def empty_database_url(
    backend: str,
    tmp_path: Path,
    postgres_templates: PostgresTemplates | str,
) -> AsyncIterator[str]:
    """An empty database (no tables at all), for migration tests."""
    if backend == "sqlite":
        yield SqliteTemplates.empty(tmp_path)
        return
    if isinstance(postgres_templates, str):
        unavailable("postgres", postgres_templates)
        return
    name, url = await postgres_templates.empty()
    yield url
    await postgres_templates.drop(name)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: no .env file, no Redis unless asked, quiet logs."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": None,
        "log_level": "WARNING",
        "log_format": "console",
        # No background runner polling beside a test's own queries; tests/jobs turns it on.
        "jobs_in_process": "off",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def redis_url() -> str:
    """The test Redis, flushed; skipped (or failed, when required) if it is not there."""
    import redis as sync_redis

    if not REDIS_TEST_URL:
        unavailable("redis", "QTRACK_TEST_REDIS_URL is empty")
    client = sync_redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except sync_redis.RedisError as exc:
        unavailable("redis", f"cannot reach {REDIS_TEST_URL}: {exc}")
    finally:
        client.close()
    return REDIS_TEST_URL


async def start_app(settings: Settings) -> tuple[FastAPI, Any]:
    """Create an app and run its startup; returns the app and the lifespan to close."""
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    return app, lifespan


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application, lifespan = await start_app(settings)
    yield application
    await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: FastAPI) -> Database:
    """The app's database, for arranging data and checking rows directly."""
    state: AppState = app.state.qtrack
    return state.db


@pytest.fixture
async def web_admin(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    """The client, signed in to the web UI as the administrator "boss"."""
    await signed_in(client, db, "boss", "admin")
    return client


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(params=["in-process", "redis"])
def limiter_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings whose rate limits live in this process, or in the real Redis: tested on both."""
    if request.param == "redis":
        return settings.model_copy(update={"redis_url": request.getfixturevalue("redis_url")})
    return settings


@pytest.fixture
async def limited_app(limiter_settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with each kind of rate limiter."""
    application, lifespan = await start_app(limiter_settings)
    yield application
    await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def limited_client(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: Database) -> AppLogin:
    """An administrator, logged in through the API."""
    return await logged_in(client, db, "boss", "admin")


@pytest.fixture
async def operator(client: httpx.AsyncClient, db: Database) -> AppLogin:
    """An operator, logged in through the API."""
    return await logged_in(client, db, "olga", "operator")
