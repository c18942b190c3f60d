"""An import's size limit (413), and a large import run by a background job with progress."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.state import AppState
from qtrack.imports import jobs as imports_jobs
from qtrack.imports import progress, service
from qtrack.imports.models import DataImport
from qtrack.items import bulk_load
from qtrack.jobs.registry import JobContext
from qtrack.jobs.runner import Runner
from tests.conftest import make_settings
from tests.factories.accounts import csrf_of
from tests.imports.conftest import Floor, upload


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Imports over 4 KiB refused; over 1 KiB run in the background."""
    return make_settings(database_url, import_max_bytes=4096, import_inline_max_bytes=1024)


def rows(count: int) -> bytes:
    return b"type,name\n" + b"".join(f"material,Lot {n}\n".encode() for n in range(count))


async def test_a_file_over_the_limit_is_413(client: httpx.AsyncClient, floor: Floor) -> None:
    too_big = rows(400)
    assert len(too_big) > 4096

    response = await upload(client, floor.operator, too_big)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "import_too_large"
    assert error["details"]["max_bytes"] == 4096


async def test_a_body_far_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, floor: Floor
) -> None:
    response = await upload(client, floor.operator, b"x" * (4096 + 70_000))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.fixture
def seen_progress(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every (status, checked, written) an import's live progress showed."""
    seen: list[tuple[str, int, int]] = []

    class Watched(progress.Live):
        def __setattr__(self, name: str, value: Any) -> None:
            super().__setattr__(name, value)
            if name in ("checked", "written", "status") and "written" in self.__dict__:
                seen.append((self.status, self.checked, self.written))

    def start(import_id: int, status: str) -> progress.Live:
        live = progress._running[import_id] = Watched(status)
        return live

    monkeypatch.setattr(progress, "start", start)
    return seen


async def test_a_large_file_is_run_by_a_job_and_its_progress_can_be_followed(
    client: httpx.AsyncClient,
    app: FastAPI,
    floor: Floor,
    seen_progress: list[tuple[str, int, int]],
) -> None:
    content = rows(150)
    assert 1024 < len(content) < 4096

    queued = await upload(client, floor.operator, content)

    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["status"], body["rows_total"], body["rows_written"]) == ("queued", 150, 0)
    state: AppState = app.state.qtrack
    assert await Runner(state, kind="worker", concurrency=1).run_until_idle() >= 1

    done = (
        await client.get(f"/api/v1/imports/{body['id']}", headers=floor.operator.headers)
    ).json()
    assert (done["status"], done["rows_checked"], done["rows_written"]) == ("done", 150, 150)
    assert done["created"][0]["last"] == "MAT-000150"
    assert done["time_left_s"] is None
    assert ("writing", 150, 150) in seen_progress
    item = await client.get("/api/v1/items/MAT-000150", headers=floor.operator.headers)
    assert item.json()["name"] == "Lot 149"


async def test_a_dry_run_in_the_background_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI, floor: Floor
) -> None:
    body = (await upload(client, floor.operator, rows(150), dry_run=True)).json()
    state: AppState = app.state.qtrack
    await Runner(state, kind="worker", concurrency=1).run_until_idle()

    done = (
        await client.get(f"/api/v1/imports/{body['id']}", headers=floor.operator.headers)
    ).json()
    assert (done["status"], done["rows_checked"], done["rows_written"]) == ("checked", 150, 0)
    missing = await client.get("/api/v1/items/MAT-000001", headers=floor.operator.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(("attempt", "status"), [(1, "queued"), (3, "failed")])
async def test_a_run_that_breaks_off_is_tried_again_then_failed(
    client: httpx.AsyncClient,
    app: FastAPI,
    floor: Floor,
    monkeypatch: pytest.MonkeyPatch,
    attempt: int,
    status: str,
) -> None:
    body = (await upload(client, floor.operator, rows(150))).json()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is gone")

    monkeypatch.setattr(service, "run", broken)
    state: AppState = app.state.qtrack
    context = JobContext(state=state, name=service.JOB, attempt=attempt)
    with pytest.raises(RuntimeError):
        await imports_jobs.run_import(context, {"import_id": body["id"], "dry_run": False})

    url = f"/api/v1/imports/{body['id']}"
    after = (await client.get(url, headers=floor.operator.headers)).json()
    assert after["status"] == status
    if status == "failed":
        assert after["error"]["code"] == "import_broke_off"
    missing = await client.get("/api/v1/items/MAT-000001", headers=floor.operator.headers)
    assert missing.status_code == 404


async def test_the_upload_page_refuses_a_file_over_the_limit_with_a_page(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await web_admin.get("/imports")
    token = csrf_of(form.text)
    assert "at most 4.0 KiB" in form.text  # the limit, as the form states it
    cases = [
        (rows(400), "imports take at most 4,096"),  # refused by the page, by its size
        (b"x" * 80_000, "larger than"),  # refused before the page reads the body
    ]
    for content, says in cases:
        response = await web_admin.post(
            "/imports",
            data={"csrf_token": token, "kind": "items"},
            files={"file": ("big.csv", content)},
        )
        assert response.status_code == 413, says
        assert response.headers["content-type"].startswith("text/html")
        assert says in response.text
    async with db.session_scope("read") as session:
        assert await session.scalar(select(func.count()).select_from(DataImport)) == 0


@pytest.mark.postgres_only
async def test_another_process_sees_the_progress_of_a_run_in_a_worker(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: Database,
    floor: Floor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `qtrack worker` runs the import; a web worker (here: another connection, with no
    live progress in its process) reads how far it is from the import's row."""
    body = (await upload(client, floor.operator, rows(150))).json()
    monkeypatch.setattr(imports_jobs, "PROGRESS_EVERY_S", 0.05)
    real = bulk_load.import_items
    seen: list[tuple[str, int, int]] = []

    async def watched(*args: Any, **kwargs: Any) -> Any:
        kwargs["progress"]("checked", 60)  # as the loader reports a chunk checked
        await asyncio.sleep(0.5)  # the worker writes it to the row meanwhile
        async with db.session_scope("read") as other:
            row = await other.get(DataImport, body["id"])
            assert row is not None
            seen.append((row.status, row.rows_checked, row.rows_written))
        shown = progress.get(body["id"])
        progress.stop(body["id"])  # as if this were another process
        answer = await client.get(f"/api/v1/imports/{body['id']}", headers=floor.operator.headers)
        seen.append((answer.json()["status"], answer.json()["rows_checked"], 0))
        assert answer.json()["time_left_s"] is not None
        assert shown is not None
        progress._running[body["id"]] = shown
        return await real(*args, **kwargs)

    monkeypatch.setattr(bulk_load, "import_items", watched)
    state: AppState = app.state.qtrack
    await imports_jobs.run_import(
        JobContext(state=state, name=service.JOB, attempt=1),
        {"import_id": body["id"], "dry_run": False},
    )

    assert seen == [("checking", 60, 0), ("checking", 60, 0)]
    done = await client.get(f"/api/v1/imports/{body['id']}", headers=floor.operator.headers)
    assert (done.json()["status"], done.json()["rows_written"]) == ("done", 150)


async def test_a_queued_import_cannot_be_run_again_meanwhile(
    client: httpx.AsyncClient, floor: Floor
) -> None:
    body = (await upload(client, floor.operator, rows(150))).json()
    assert body["status"] == "queued"

    again = await client.post(
        f"/api/v1/imports/{body['id']}/run", json={"dry_run": False}, headers=floor.operator.headers
    )

    assert (again.status_code, again.json()["error"]["code"]) == (409, "import_not_runnable")
