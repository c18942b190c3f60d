"""`qtrack jobs list|retry|run|schedules`, as an administrator at a terminal uses them."""

import asyncio
from typing import Any

from typer.testing import CliRunner, Result

from qtrack.cli import app
from qtrack.config import get_settings
from qtrack.core.db import Database
from qtrack.jobs import service
from qtrack.jobs.models import DEAD, DONE, WAITING
from qtrack.jobs.registry import JobContext, job
from tests.conftest import make_settings


def invoke(cli: CliRunner, url: str, args: list[str]) -> Result:
    get_settings.cache_clear()
    try:
        return cli.invoke(app, ["jobs", *args], env={"QTRACK_DATABASE_URL": url})
    finally:
        get_settings.cache_clear()


def _in_db(url: str, work: Any) -> Any:
    async def run() -> Any:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _register() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    @job("test.report", max_attempts=1)
    async def report(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append(payload)
        if payload.get("fail"):
            raise RuntimeError("the printer is on fire")

    return calls


def test_list_shows_pending_jobs_and_dead_ones(cli: CliRunner, database_url: str) -> None:
    _register()
    assert invoke(cli, database_url, ["list"]).output.strip() == "no waiting or running jobs"
    assert invoke(cli, database_url, ["list", "--dead"]).output.strip() == "no dead jobs"

    async def arrange(session: Any) -> tuple[int, int]:
        waiting = await service.enqueue(session, "test.report", {"day": 1})
        dead = await service.enqueue(session, "test.report", {"day": 2})
        row = await service.get_job(session, dead)
        row.status, row.attempts, row.last_error = DEAD, 1, "RuntimeError: out of paper"
        return waiting, dead

    waiting, dead = _in_db(database_url, arrange)
    listed = invoke(cli, database_url, ["list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "ATTEMPTS", "DUE", "(UTC)", "LAST", "ERROR"]
    assert [line.split()[:4] for line in lines[1:]] == [[str(waiting), "test.report", WAITING, "0"]]
    dead_list = invoke(cli, database_url, ["list", "--dead"]).output
    assert [line.split()[:4] for line in dead_list.splitlines()[1:]] == [
        [str(dead), "test.report", DEAD, "1"]
    ]
    assert "RuntimeError: out of paper" in dead_list

    retried = invoke(cli, database_url, ["retry", str(dead)])
    assert (retried.exit_code, retried.output.strip()) == (
        0,
        f"job {dead} (test.report) is waiting again",
    )
    assert invoke(cli, database_url, ["list", "--dead"]).output.strip() == "no dead jobs"
    again = invoke(cli, database_url, ["retry", str(dead)])
    assert again.exit_code == 1
    assert "error: job_not_dead:" in again.output
    missing = invoke(cli, database_url, ["retry", "999"])
    assert (missing.exit_code, "error: job_not_found:" in missing.output) == (1, True)


def test_run_runs_a_job_now_and_says_how_it_went(cli: CliRunner, database_url: str) -> None:
    calls = _register()
    done = invoke(cli, database_url, ["run", "test.report", "--payload", '{"day": 3}'])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "job 1 (test.report) done"
    assert calls == [{"day": 3}]
    failed = invoke(cli, database_url, ["run", "test.report", "--payload", '{"fail": true}'])
    assert failed.exit_code == 1
    assert "job 2 (test.report) failed: RuntimeError: the printer is on fire" in failed.output

    async def statuses(session: Any) -> list[str]:
        return [(await service.get_job(session, n)).status for n in (1, 2)]

    assert _in_db(database_url, statuses) == [DONE, DEAD]


def test_run_refuses_unknown_jobs_and_bad_payloads(cli: CliRunner, database_url: str) -> None:
    _register()
    for args, code in [
        (["run", "test.nobody"], "unknown_job"),
        (["run", "test.report", "--payload", "{nope"], "invalid_payload"),
        (["run", "test.report", "--payload", "[1, 2]"], "invalid_payload"),
    ]:
        result = invoke(cli, database_url, args)
        assert result.exit_code == 1
        assert f"error: {code}:" in result.output

    async def count(session: Any) -> int:
        return len(await service.list_jobs(session, statuses=(WAITING, DONE, DEAD)))

    assert _in_db(database_url, count) == 0


def test_schedules_lists_every_schedule_with_its_next_due_time(
    cli: CliRunner, database_url: str
) -> None:
    result = invoke(cli, database_url, ["schedules"])
    assert result.exit_code == 0
    assert "cron expressions read in UTC" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("jobs.prune"))
    assert row.split()[:7] == ["jobs.prune", "30", "3", "*", "*", "*", "jobs.prune"]
