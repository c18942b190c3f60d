"""`qtrack jobs`: see the queue, retry dead jobs, run a job now."""

from typing import Annotated, Any

import orjson
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack import handlers
from qtrack.cli.common import fail, print_table, run_in_session, run_with_db, text, when
from qtrack.config import get_settings
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.core.logging import configure_logging
from qtrack.core.ratelimit import create_rate_limiter
from qtrack.core.state import AppState
from qtrack.jobs import scheduler, service
from qtrack.jobs.models import DEAD, DONE, RUNNING, WAITING, Job
from qtrack.jobs.registry import schedules
from qtrack.jobs.runner import Runner

app = typer.Typer(help="Background jobs: the queue, dead jobs, schedules.", no_args_is_help=True)


def _row(job: Job) -> list[str]:
    moment = job.finished_at if job.status == DEAD else job.run_at
    error = (job.last_error or "").replace("\n", " ")
    return [
        str(job.id), job.name, job.status, str(job.attempts), when(moment), text(error[:60]),
    ]  # fmt: skip


@app.command("list")
def jobs_list(
    dead: Annotated[
        bool, typer.Option("--dead", help="Dead jobs instead of pending ones.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
) -> None:
    """Jobs waiting or running (by when they are due), or with --dead the dead ones."""
    statuses = (DEAD,) if dead else (WAITING, RUNNING)
    rows = run_in_session(
        get_settings(), lambda s: service.list_jobs(s, statuses=statuses, limit=limit), mode="read"
    )
    if not rows:
        typer.echo("no dead jobs" if dead else "no waiting or running jobs")
        return
    when_header = "DIED (UTC)" if dead else "DUE (UTC)"
    print_table(
        ["ID", "NAME", "STATUS", "ATTEMPTS", when_header, "LAST ERROR"], [_row(j) for j in rows]
    )


@app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(metavar="ID", help="The dead job's id.")],
) -> None:
    """Give a dead job another full set of attempts, starting now."""

    async def _retry(session: AsyncSession) -> str:
        return (await service.retry(session, job_id)).name

    name = run_in_session(get_settings(), _retry)
    typer.echo(f"job {job_id} ({name}) is waiting again")


@app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A registered job, e.g. jobs.prune.")],
    payload: Annotated[str, typer.Option(help="The job's payload, a JSON object.")] = "{}",
) -> None:
    """Run a registered job now, in this process, and say how it went (exit 1 if it failed)."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        fail("invalid_payload", f"--payload is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("invalid_payload", "--payload must be a JSON object")

    async def _run(db: Database) -> Job:
        state = AppState(settings, db, None, None, create_rate_limiter(None))
        async with db.session_scope() as session:
            job_id = await service.enqueue(session, name, data)
        runner = Runner(state, kind="worker", concurrency=1)
        for claimed in await runner.claim(1, job_id=job_id):
            await runner.execute(claimed)
        async with db.session_scope("read") as session:
            return await service.get_job(session, job_id)

    try:
        job = run_with_db(settings, _run)
    except QtrackError as exc:
        fail(exc.code, exc.message)
    if job.status == DONE:
        typer.echo(f"job {job.id} ({job.name}) done")
        return
    retry = f"; it will be retried at {when(job.run_at)} UTC" if job.status == WAITING else ""
    typer.echo(f"job {job.id} ({job.name}) failed: {job.last_error}{retry}", err=True)
    raise typer.Exit(code=1)


@app.command("schedules")
def jobs_schedules() -> None:
    """Every schedule: its cron expression, the last due time enqueued and the next."""
    settings = get_settings()
    last = run_in_session(settings, scheduler.schedule_rows, mode="read")
    now, zone = utcnow(), settings.zone
    rows: list[list[Any]] = [
        [spec.name, spec.cron.text, spec.job, when(last.get(spec.name)),
         when(spec.cron.next_after(now, zone))]
        for spec in schedules()
    ]  # fmt: skip
    typer.echo(f"times in UTC; cron expressions read in {settings.timezone}")
    print_table(["SCHEDULE", "CRON", "JOB", "LAST DUE", "NEXT DUE"], rows)


__all__ = ["app", "handlers"]
