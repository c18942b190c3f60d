"""/admin/system: the installation at a glance, from the figures /metrics exposes."""

import re

import httpx
import pytest

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.jobs import service
from qtrack.jobs.models import DEAD
from tests.conftest import start_app
from tests.factories.accounts import signed_in

BASE = "/admin/system"


def _stat(html: str, name: str) -> str:
    found = re.search(rf'<dd data-stat="{name}">(.*?)</dd>', html, re.S)
    assert found, f"{name} is not on the page"
    return found.group(1).strip()


async def _dead_job(db: Database) -> None:
    async with db.session_scope() as session:
        job_id = await service.enqueue(session, "webhooks.deliver", {"x": 1})
        job = await service.get_job(session, job_id)
        job.status, job.attempts = DEAD, 10


async def test_the_page_shows_database_jobs_errors_workers_and_disks(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    await _dead_job(db)
    before = await web_admin.get(BASE)
    assert before.status_code == 200
    await web_admin.get("/api/v1/nothing/here")  # one more refusal in the last hour
    html = (await web_admin.get(BASE)).text

    dialect = db.engine.dialect.name
    assert _stat(html, "db-engine").startswith(dialect)
    assert re.fullmatch(r"[0-9.]+ (KiB|MiB|GiB)", _stat(html, "db-size"))
    if dialect == "postgresql":
        assert re.match(r"\d+ of \d+", _stat(html, "db-connections"))
        assert _stat(html, "db-cache-hit").endswith("%")
    assert _stat(html, "jobs-dead") == "1"
    assert _stat(html, "jobs-ready") == "0"
    assert int(_stat(html, "errors-4xx")) == int(_stat(before.text, "errors-4xx")) + 1
    assert _stat(html, "errors-5xx") == "0"
    # This process, with its version; the disk of the working folder.
    assert re.search(r'<tr data-kind="web"><td>web</td><td>this</td><td>[\w.+-]+</td></tr>', html)
    assert "mixed-versions" not in html
    assert re.search(r"<table class=\"list\" id=\"disks\">.*?<code>/", html, re.S)
    assert 'id="redis-none"' in html


async def test_the_page_reads_what_metrics_exposes(web_admin: httpx.AsyncClient) -> None:
    exposition = (await web_admin.get("/metrics")).text
    for series in (
        "qtrack_db_info{",
        "qtrack_db_size_bytes ",
        "qtrack_disk_free_bytes{",
        "qtrack_process_info{",
        "qtrack_jobs{",
        "qtrack_http_errors_last_hour{",
        "qtrack_db_slow_queries_total ",
    ):
        assert series in exposition, series
    assert "qtrack_redis_up" not in exposition  # no Redis configured: nothing to be down


@pytest.mark.parametrize("reachable", [True, False], ids=["redis-up", "redis-down"])
async def test_the_page_says_how_redis_stands(
    settings: Settings, redis_url: str, reachable: bool
) -> None:
    url = redis_url if reachable else "redis://127.0.0.1:1/0"
    app, lifespan = await start_app(settings.model_copy(update={"redis_url": url}))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await signed_in(client, app.state.qtrack.db, "boss", "admin")
            html = (await client.get(BASE)).text
            exposition = (await client.get("/metrics")).text
    finally:
        await lifespan.__aexit__(None, None, None)
    if reachable:
        assert _stat(html, "redis-state").startswith("up, version ")
        assert int(_stat(html, "redis-clients")) >= 1
        assert "qtrack_redis_up 1.0" in exposition
    else:
        assert 'id="redis-down"' in html
        assert "qtrack_redis_up 0.0" in exposition


async def test_only_configuration_admins_see_it(client: httpx.AsyncClient, db: Database) -> None:
    await signed_in(client, db, "olga", "operator")
    assert (await client.get(BASE)).status_code == 403
