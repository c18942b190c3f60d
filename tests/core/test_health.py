"""/healthz, /readyz and /metrics."""

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from qtrack import migrations
from qtrack.config import Settings
from tests.conftest import start_app

IN_PROCESS_FALLBACK = "degraded: in-process (redis unreachable; each worker counts alone)"


async def _get(settings: Settings, path: str) -> httpx.Response:
    app, lifespan = await start_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path)
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_healthz_says_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


QUEUE = {
    "ready": 0, "delayed": 0, "running": 0, "retrying": 0, "dead": 0, "oldest_ready_s": 0.0,
}  # fmt: skip


async def test_readyz_without_redis_is_degraded_but_ready(settings: Settings) -> None:
    response = await _get(settings.model_copy(update={"jobs_in_process": "on"}), "/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {
            "database": "ok",
            "schema": "ok",
            "redis": "degraded: no redis",
            "rate_limits": "in-process",
            "jobs": "ok",
            "job_queue": {**QUEUE, "runners": 1, "workers": 0},
        },
    }


async def test_readyz_with_redis_is_ok(settings: Settings, redis_url: str) -> None:
    update = {"redis_url": redis_url, "jobs_in_process": "on"}
    response = await _get(settings.model_copy(update=update), "/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "schema": "ok",
            "redis": "ok",
            "rate_limits": "redis",
            "jobs": "ok",
            "job_queue": {**QUEUE, "runners": 1, "workers": 0},
        },
    }


async def test_readyz_without_a_job_runner_is_degraded(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")  # the tests' settings run no jobs in-process
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["jobs"].startswith("degraded: no job runner alive")
    assert body["checks"]["job_queue"] == {**QUEUE, "runners": 0, "workers": 0}


async def test_readyz_with_unreachable_redis_is_degraded(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    response = await _get(unreachable, "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"].startswith("degraded: redis unreachable")
    # Counting falls back to each worker: say so, not "redis".
    assert body["checks"]["rate_limits"] == IN_PROCESS_FALLBACK


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        "sqlite+aiosqlite:////nonexistent-dir/qtrack.db",
    ],
)
async def test_readyz_without_database_is_503(url: str) -> None:
    settings = Settings(_env_file=None, env="test", database_url=url, log_level="ERROR")
    response = await _get(settings, "/readyz")
    # aiosqlite stops the thread of a failed connect without awaiting it; give that thread a
    # moment so it does not report to an event loop this test has already closed.
    await asyncio.sleep(0.1)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error: ")


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/api/v1/nothing/here")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'qtrack_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "qtrack_http_request_duration_seconds_bucket" in text
    assert 'qtrack_db_pool_connections{state="checked_out"}' in text


async def test_metrics_can_be_disabled(settings: Settings) -> None:
    response = await _get(settings.model_copy(update={"metrics_enabled": False}), "/metrics")
    assert response.status_code == 404


async def test_readyz_fails_while_the_schema_is_behind(settings: Settings) -> None:
    app, lifespan = await start_app(settings)
    try:
        async with app.state.qtrack.db.session_scope() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/readyz")
    finally:
        await lifespan.__aexit__(None, None, None)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    head = migrations.head_revision()
    assert body["checks"]["schema"] == (
        f"at 0005, this qtrack expects {head}: run `qtrack db upgrade`"
    )


async def test_readyz_serves_on_while_a_newer_release_has_migrated(settings: Settings) -> None:
    """A rolling upgrade: the new release migrated the database; the old servers stay in the
    load balancer until they are replaced."""
    app, lifespan = await start_app(settings)
    try:
        async with app.state.qtrack.db.session_scope() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = '9999_next'"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/readyz")
    finally:
        await lifespan.__aexit__(None, None, None)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    head = migrations.head_revision()
    assert body["checks"]["schema"] == (
        f"degraded: at 9999_next, newer than this qtrack ({head}): upgrade this server"
    )


async def test_readyz_fails_on_a_database_never_migrated(empty_database_url: str) -> None:
    settings = Settings(
        _env_file=None, env="test", database_url=empty_database_url, log_level="ERROR"
    )
    response = await _get(settings, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["schema"] == "not migrated: run `qtrack db upgrade`"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, so the test can make it go away."""
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_readyz_says_when_redis_went_away(
    settings: Settings, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = own_redis
    app, lifespan = await start_app(settings.model_copy(update={"redis_url": url}))
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            before = (await client.get("/readyz")).json()
            assert before["checks"]["rate_limits"] == "redis"

            server.kill()
            server.wait(timeout=10)
            guess = {"username": "nobody", "password": "wrong guess"}
            # Failed logins are still counted (in this process) while Redis is gone.
            statuses = [
                (await client.post("/api/v1/auth/login", json=guess)).status_code for _ in range(6)
            ]
            assert statuses == [401] * 5 + [429]
            after = await client.get("/readyz")
    finally:
        await lifespan.__aexit__(None, None, None)
    assert after.status_code == 200
    body = after.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"].startswith("degraded: redis unreachable")
    assert body["checks"]["rate_limits"] == IN_PROCESS_FALLBACK
