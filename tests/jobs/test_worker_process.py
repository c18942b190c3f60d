"""A real `qtrack worker` process: it runs jobs, stops cleanly on SIGTERM, and a job it was
running when killed with SIGKILL runs again once its lease has expired."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.jobs import service
from qtrack.jobs.models import DONE, RUNNING
from qtrack.jobs.runner import Runner
from tests.jobs import sample_jobs

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`qtrack worker` in a process of its own, knowing the sample jobs."""
    env = {
        **os.environ,
        "QTRACK_DATABASE_URL": settings.database_url,
        "QTRACK_ENV": "test",
        "QTRACK_LOG_FORMAT": "console",
        "QTRACK_JOBS_POLL_S": "0.05",
        "QTRACK_JOBS_LEASE_GRACE_S": "1",
        "QTRACK_REDIS_URL": "",
    }
    code = f"import {sample_jobs.__name__}; from qtrack.cli import main; main()"
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-c", code, "worker", "--concurrency", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


async def wait_until(check: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


async def test_a_job_whose_worker_is_killed_runs_again_after_its_lease(
    db: Database, state: object, make_runner: object, tmp_path: Path
) -> None:
    marker = tmp_path / "starts.txt"
    async with db.session_scope() as session:
        job_id = await service.enqueue(session, "test.sleepy", {"marker": str(marker)})

    async def started() -> bool:
        return marker.exists() and marker.read_text().count("\n") >= 1

    worker = start_worker(db.settings, tmp_path / "worker.log")
    try:
        await wait_until(started)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    async with db.session_scope("read") as session:
        held = await service.get_job(session, job_id)
    assert (held.status, held.attempts) == (RUNNING, 1)
    killed_at = time.monotonic()

    # The lease (timeout 3 s + grace 1 s) still holds: nobody takes the job yet.
    runner: Runner = make_runner()  # type: ignore[operator]
    assert await runner.claim(1) == []

    second = start_worker(db.settings, tmp_path / "worker.log")
    try:

        async def done() -> bool:
            async with db.session_scope("read") as session:
                return (await service.get_job(session, job_id)).status == DONE

        await wait_until(done)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()
    assert time.monotonic() - killed_at >= 2.0, "run again before its lease expired"
    starts = [line.split() for line in marker.read_text().splitlines()]
    assert [attempt for attempt, _ in starts] == ["1", "2"]
    assert starts[0][1] != starts[1][1], "the second attempt ran in another process"
    async with db.session_scope("read") as session:
        finished = await service.get_job(session, job_id)
        assert finished.attempts == 2
        # A worker stopped with SIGTERM says goodbye; the killed one could not.
        assert [r.pid for r in await service.live_runners(session)] == [worker.pid]
