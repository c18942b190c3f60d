"""/admin/jobs: what waits, runs and died, with retry for dead jobs; admins only."""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from qtrack.jobs import registry, service
from qtrack.jobs.models import DEAD, RUNNING, WAITING
from qtrack.jobs.registry import JobContext, job
from tests.factories.accounts import create_user, csrf_of, web_login

BASE = "/admin/jobs"


@pytest.fixture(autouse=True)
def sample_job() -> Iterator[None]:
    saved = registry.snapshot()

    @job("test.page", max_attempts=4)
    async def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    yield
    registry.restore(saved)


async def _arrange(db: Database) -> dict[str, int]:
    async with db.session_scope() as session:
        ids = {s: await service.enqueue(session, "test.page", {"s": s}) for s in ("w", "r", "d")}
        running = await service.get_job(session, ids["r"])
        running.status, running.attempts, running.locked_by = RUNNING, 2, "host-1-abc"
        dead = await service.get_job(session, ids["d"])
        dead.status, dead.attempts, dead.last_error = DEAD, 4, "ConnectError: <refused>"
    return ids


def _row(html: str, table: str, job_id: int) -> str:
    section = html[html.index(f'id="{table}"') :]
    found = re.search(rf'<tr data-job-id="{job_id}">(.*?)</tr>', section, re.S)
    assert found, f"job {job_id} is not in {table}"
    return found.group(1)


async def test_the_page_shows_each_state_the_schedules_and_retries_a_dead_job(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    ids = await _arrange(db)
    page = await web_admin.get(BASE)
    assert page.status_code == 200
    html = page.text
    assert '<dd data-stat="ready">1</dd>' in html
    assert '<dd data-stat="dead">1</dd>' in html
    assert "test.page" in _row(html, "waiting-jobs", ids["w"])
    assert "2 of 4" in _row(html, "running-jobs", ids["r"])
    dead_row = _row(html, "dead-jobs", ids["d"])
    assert "ConnectError: &lt;refused&gt;" in dead_row  # escaped
    assert f'action="/admin/jobs/{ids["d"]}/retry"' in dead_row
    assert 'data-schedule="jobs.prune"' in html
    assert "<code>30 3 * * *</code>" in html
    assert 'id="no-runner"' in html  # the tests run no job runner
    assert 'id="no-consumers"' in html

    done = await web_admin.post(
        f"{BASE}/{ids['d']}/retry", data={"csrf_token": csrf_of(html)}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, f"{BASE}?retried={ids['d']}")
    after = await web_admin.get(done.headers["location"])
    assert f"Job {ids['d']} is waiting again" in after.text
    assert 'id="no-dead"' in after.text
    async with db.session_scope("read") as session:
        retried = await service.get_job(session, ids["d"])
    assert (retried.status, retried.attempts) == (WAITING, 0)


async def test_retrying_a_job_that_is_not_dead_is_refused_on_the_page(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    ids = await _arrange(db)
    token = csrf_of((await web_admin.get(BASE)).text)
    for job_id, status, words in [
        (ids["w"], 409, f"Job {ids['w']} is waiting; only a dead job can be retried"),
        (999, 404, "There is no job 999"),
    ]:
        refused = await web_admin.post(f"{BASE}/{job_id}/retry", data={"csrf_token": token})
        assert refused.status_code == status
        assert words in refused.text
    async with db.session_scope("read") as session:
        assert (await service.get_job(session, ids["w"])).status == WAITING


async def test_only_configuring_admins_see_the_page_and_retry_needs_csrf(
    client: httpx.AsyncClient, db: Database
) -> None:
    ids = await _arrange(db)
    await create_user(db, "vic", "supervisor")
    await web_login(client, "vic")
    assert (await client.get(BASE)).status_code == 403
    await create_user(db, "boss", "admin")
    await web_login(client, "boss")
    no_token = await client.post(f"{BASE}/{ids['d']}/retry", data={})
    assert no_token.status_code == 403
    async with db.session_scope("read") as session:
        assert (await service.get_job(session, ids["d"])).status == DEAD
    start = await client.get("/admin")
    assert 'href="/admin/jobs"' in start.text
