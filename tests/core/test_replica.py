"""Read-only requests served by a read replica, with read-your-writes for whoever just wrote.

The replica here is a second PostgreSQL database cloned from the same migrated template and
set read-only like a standby; it never receives the primary's changes, so which database
answered shows in the answer itself: an item written to the primary is found there, and is
404 on the replica.
"""

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from qtrack.config import Settings
from qtrack.core.clock import FakeClock, utcnow
from qtrack.core.state import AppState
from tests.conftest import make_settings, start_app
from tests.databases import PostgresTemplates, _admin_execute, unavailable
from tests.factories.accounts import AppLogin, create_user, login, signed_in
from tests.factories.items import register

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def replica_url(
    backend: str, postgres_templates: PostgresTemplates | str
) -> AsyncIterator[str]:
    """A second database, like the primary was when the test began, refusing writes."""
    if isinstance(postgres_templates, str):
        unavailable("postgres", postgres_templates)
        return
    name, url = await postgres_templates.clone()
    await _admin_execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    yield url
    await postgres_templates.drop(name)


class Served:
    """An app on the primary and the replica, and which database served each read."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state: AppState = app.state.qtrack
        self.log: list[str] = []
        self.state.db.read_listeners.append(self.log.append)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def item(self, who: AppLogin, code: str) -> tuple[int, str]:
        """GET the item as `who`: the status, and the database that served it."""
        response = await self.client.get(f"/api/v1/items/{code}", headers=who.headers)
        return response.status_code, self.log[-1]


@pytest.fixture
async def served(database_url: str, replica_url: str) -> AsyncIterator[Served]:
    settings = make_settings(
        database_url, database_replica_url=replica_url, database_replica_sticky_s=30
    )
    app, lifespan = await start_app(settings)
    yield Served(app)
    await lifespan.__aexit__(None, None, None)


async def test_reads_go_to_the_replica_but_a_writer_reads_back_its_write(served: Served) -> None:
    db = served.state.db
    await create_user(db, "writer", "operator")
    await create_user(db, "other", "operator")
    writer = await login(served.client, "writer")
    other = await login(served.client, "other")
    code = (await register(served.client, writer))["code"]  # a write, on the primary

    # Its author reads it back at once: from the primary, for the sticky window.
    assert await served.item(writer, code) == (200, "primary")
    assert await served.item(writer, code) == (200, "primary")
    # Anyone else reads from the replica, which has not got it yet.
    assert await served.item(other, code) == (404, "replica")
    # Past the window the author reads from the replica too.
    with FakeClock(utcnow() + timedelta(seconds=31)):
        assert await served.item(writer, code) == (404, "replica")
    # Logging in needs no replica: a login made a moment ago authenticates on the primary.
    await create_user(db, "newcomer", "operator")
    newcomer = await login(served.client, "newcomer")
    assert await served.item(newcomer, code) == (404, "replica")
    # /readyz checks the replica too (this stand-in is no standby: no lag to report).
    ready = (await served.client.get("/readyz")).json()
    assert ready["checks"]["replica"] == "ok"
    # Which database served what is counted in /metrics too.
    metrics = (await served.client.get("/metrics")).text
    assert 'qtrack_db_read_requests_total{database="replica"} 3.0' in metrics
    assert 'qtrack_db_read_requests_total{database="primary"} 2.0' in metrics


async def test_a_write_is_remembered_for_every_process_through_redis(
    database_url: str, replica_url: str, redis_url: str
) -> None:
    settings: Settings = make_settings(
        database_url,
        database_replica_url=replica_url,
        database_replica_sticky_s=30,
        redis_url=redis_url,
    )
    first_app, first_life = await start_app(settings)
    second_app, second_life = await start_app(settings)
    try:
        first, second = Served(first_app), Served(second_app)
        await create_user(first.state.db, "writer", "operator")
        writer = await login(first.client, "writer")
        code = (await register(first.client, writer))["code"]  # written through one process
        # ... and read back through another, which only Redis told.
        assert await second.item(writer, code) == (200, "primary")
    finally:
        await first_life.__aexit__(None, None, None)
        await second_life.__aexit__(None, None, None)


async def test_a_replica_that_cannot_be_reached_fails_one_read_then_is_left_alone(
    database_url: str,
) -> None:
    # Nothing listens on port 1: connecting is refused at once.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/qtrack"
    app, lifespan = await start_app(make_settings(database_url, database_replica_url=unreachable))
    try:
        served = Served(app)
        await create_user(served.state.db, "reader", "operator")
        reader = await login(served.client, "reader")
        response = await served.client.get("/api/v1/items/MAT-000001", headers=reader.headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        assert "Retry-After" in response.headers
        # The retry is served by the primary (for 30 s, then the replica is tried again).
        assert await served.item(reader, "MAT-000001") == (404, "primary")
        # Ready, degraded: the primary serves everything meanwhile.
        ready = await served.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["replica"] == (
            "degraded: replica unreachable (ConnectionRefusedError); reads on the primary"
        )
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_a_replica_further_behind_than_the_window_degrades_readiness(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real standby's lag cannot be made on demand here: the one query that reads it is
    # replaced, the judgement on it is what is tested.
    async def behind() -> float:
        return 42.0

    monkeypatch.setattr(served.state.db, "replica_lag_s", behind)
    ready = (await served.client.get("/readyz")).json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["replica"] == (
        "degraded: replica 42.0 s behind, more than the 30 s read-your-writes window"
    )


async def test_the_web_ui_routes_the_same_way_for_the_same_user(served: Served) -> None:
    await signed_in(served.client, served.state.db, "boss", "admin")  # a session cookie
    app_login = await login(served.client, "boss")  # and an app login: another credential
    code = (await register(served.client, app_login))["code"]
    # The mark is the user's, not the credential's: their browser sees what their app wrote.
    page = await served.client.get(f"/items/{code}")
    assert (page.status_code, served.log[-1]) == (200, "primary")
    assert code in page.text
    with FakeClock(utcnow() + timedelta(seconds=31)):
        page = await served.client.get(f"/items/{code}")
    assert (page.status_code, served.log[-1]) == (404, "replica")
