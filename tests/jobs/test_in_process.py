"""`qtrack serve` runs jobs itself when no worker does, steps aside for workers in `auto`,
stops its runner with the app, and shows the queue in /readyz and /metrics."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.state import AppState
from qtrack.jobs import service
from qtrack.jobs.models import DONE, WAITING, JobRunner
from qtrack.jobs.registry import JobContext, job
from qtrack.jobs.runner import Runner
from tests.conftest import start_app


def _register() -> list[int | None]:
    calls: list[int | None] = []

    @job("test.inline")
    async def inline(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append(ctx.job_id)

    return calls


async def _status(state: AppState, job_id: int) -> str:
    async with state.db.session_scope("read") as session:
        return (await service.get_job(session, job_id)).status


async def _until(check: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


def _active(runner: Runner) -> bool:
    return runner.active  # read afresh: a heartbeat changes it


def _runner_tasks() -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("qtrack-job")]


async def test_the_server_runs_jobs_in_process_and_stops_its_runner(settings: Settings) -> None:
    calls = _register()
    app, lifespan = await start_app(settings.model_copy(update={"jobs_in_process": "on"}))
    try:
        state: AppState = app.state.qtrack
        assert _runner_tasks() == ["qtrack-jobs-in-process"]
        async with state.db.session_scope() as session:
            job_id = await service.enqueue(session, "test.inline")

        async def done() -> bool:
            return await _status(state, job_id) == DONE

        await _until(done)
        assert calls == [job_id]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            metrics = (await client.get("/metrics")).text
        assert 'qtrack_job_runs_total{job="test.inline",outcome="done"} 1.0' in metrics
    finally:
        await lifespan.__aexit__(None, None, None)
    assert _runner_tasks() == []


async def test_auto_steps_aside_while_a_worker_is_alive_and_takes_over_after(
    settings: Settings,
) -> None:
    calls = _register()
    app, lifespan = await start_app(settings.model_copy(update={"jobs_in_process": "auto"}))
    try:
        state: AppState = app.state.qtrack
        async with state.db.session_scope() as session:
            session.add(JobRunner(id="w1", kind="worker", host="elsewhere", pid=1))
        runner: Runner = app.state.job_runner
        await runner.heartbeat()
        assert not _active(runner)
        async with state.db.session_scope() as session:
            job_id = await service.enqueue(session, "test.inline")
        await asyncio.sleep(0.3)
        assert await _status(state, job_id) == WAITING, "ran beside a live worker"

        async with state.db.session_scope() as session:  # the worker stops saying it is alive
            gone = await session.get(JobRunner, "w1")
            assert gone is not None
            gone.seen_at = utcnow() - timedelta(minutes=1)
        await runner.heartbeat()
        assert _active(runner)

        async def done() -> bool:
            return await _status(state, job_id) == DONE

        await _until(done)
        assert calls == [job_id]
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_off_runs_nothing_in_process(settings: Settings) -> None:
    app, lifespan = await start_app(settings.model_copy(update={"jobs_in_process": "off"}))
    try:
        assert app.state.job_runner is None
        assert _runner_tasks() == []
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_readyz_and_metrics_show_the_queue(settings: Settings) -> None:
    _register()
    app, lifespan = await start_app(settings)  # off: nothing runs the jobs below
    try:
        state: AppState = app.state.qtrack
        now = utcnow()
        async with state.db.session_scope() as session:
            session.add(JobRunner(id="w1", kind="worker", host="elsewhere", pid=1))
            await service.enqueue(session, "test.inline", run_at=now - timedelta(seconds=400))
            await service.enqueue(session, "test.inline", run_at=now + timedelta(hours=1))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = (await client.get("/readyz")).json()
            metrics = (await client.get("/metrics")).text
    finally:
        await lifespan.__aexit__(None, None, None)
    assert ready["status"] == "degraded"
    assert ready["checks"]["jobs"].startswith("degraded: the oldest due job has waited 40")
    queue = ready["checks"]["job_queue"]
    assert (queue["ready"], queue["delayed"], queue["runners"], queue["workers"]) == (1, 1, 1, 1)
    assert queue["oldest_ready_s"] >= 400
    assert 'qtrack_jobs{state="ready"} 1.0' in metrics
    assert 'qtrack_jobs{state="delayed"} 1.0' in metrics
    assert 'qtrack_jobs{state="dead"} 0.0' in metrics
    assert "qtrack_jobs_oldest_ready_seconds 4" in metrics
    assert "qtrack_job_runners 1.0" in metrics
