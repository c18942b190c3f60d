"""Fixtures for the webhook tests: a real receiver, short timeouts (long enough for a busy
machine: the receiver answers from the tests' own event loop), private addresses allowed
(the receiver is on 127.0.0.1), and helpers that run the feed consumer and delivery jobs."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from qtrack.config import Settings
from qtrack.core.state import AppState
from qtrack.jobs.runner import Runner
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.integrations.webhooks.receiver import Receiver


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        webhooks_allow_private=True,
        webhooks_connect_timeout_s=1.0,
        webhooks_read_timeout_s=5.0,
        jobs_poll_s=0.05,
    )


@pytest.fixture
def state(app: FastAPI) -> AppState:
    value: AppState = app.state.qtrack
    return value


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def register(
    client: httpx.AsyncClient, who: AppLogin, url: str, **fields: Any
) -> dict[str, Any]:
    """Register an endpoint through the API; returns the answer (with the secret)."""
    body = {"url": url, "event_types": ["*"], **fields}
    response = await client.post("/api/v1/webhooks", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def new_item(client: httpx.AsyncClient, who: AppLogin, type_key: str = "material") -> str:
    """Register an item through the API; returns its code."""
    response = await client.post("/api/v1/items", json={"type": type_key}, headers=who.headers)
    assert response.status_code == 201, response.text
    code: str = response.json()["items"][0]["code"]
    return code


async def move(client: httpx.AsyncClient, who: AppLogin, code: str, location: str) -> None:
    """Move an item through the API."""
    response = await client.post(
        f"/api/v1/items/{code}/move", json={"location": location}, headers=who.headers
    )
    assert response.status_code == 200, response.text


async def location(
    client: httpx.AsyncClient, who: AppLogin, code: str, parent: str | None = None
) -> None:
    """Create a location through the API."""
    body = {"code": code, "name": code, "kind": "zone", "parent": parent}
    response = await client.post("/api/v1/locations", json=body, headers=who.headers)
    assert response.status_code == 201, response.text


async def pump(
    state: AppState,
    until: Callable[[], bool | Awaitable[bool]] | None = None,
    *,
    seconds: float = 60.0,
) -> None:
    """Run the feed consumers and due jobs until `until()` holds and nothing is left to do
    (on PostgreSQL a change reaches the feed only once older transactions have ended, in
    any of the cluster's databases: another test's long migration holds it back);
    without `until`, until nothing is left to do now."""
    runner = Runner(state, kind="worker", concurrency=4)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await runner.run_until_idle()
        if until is None or loop.time() > deadline:
            return
        done = until()
        if done if isinstance(done, bool) else await done:
            return
        await asyncio.sleep(0.05)


@pytest.fixture
async def started(state: AppState) -> AppState:
    """The webhooks feed consumer has taken its starting position ("now")."""
    await pump(state)
    return state
