"""`qtrack stats`: counts by type and status, and by location; `qtrack reports daily`."""

from datetime import date, datetime
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import (
    print_table,
    run_in_session,
)
from qtrack.config import get_settings
from qtrack.inventory import service as inventory_service
from qtrack.reports import files, mail
from qtrack.reports import service as reports_service

app = typer.Typer(help="Reports: the end-of-day summary.", no_args_is_help=True)


def stats() -> None:
    """Print how many items there are by type and status, and by location."""
    counts = run_in_session(get_settings(), inventory_service.stats, mode="read")
    if not counts["total"]:
        typer.echo("no items")
        return
    print_table(
        ["TYPE", "STATUS", "ITEMS"],
        [[row["type"], row["status"], str(row["count"])] for row in counts["by_type_status"]],
    )
    if counts["by_location"]:
        typer.echo()
        print_table(
            ["LOCATION", "ITEMS"],
            [[row["location"], str(row["count"])] for row in counts["by_location"]],
        )
    typer.echo()
    typer.echo(f"total: {counts['total']} items")


@app.command("daily")
def daily(
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Local day (default: today)"),
    ] = None,
    site: Annotated[str | None, typer.Option(help="Only this location's subtree")] = None,
    send: Annotated[bool, typer.Option("--send", help="E-mail it to the recipients")] = False,
) -> None:
    """Print one day's summary; with --send, e-mail it as the daily job does."""
    settings = get_settings()
    when: date = day.date() if day else datetime.now(settings.zone).date()

    async def work(session: AsyncSession) -> str:
        summary = await reports_service.daily_summary(session, settings, day=when, site=site)
        if send:
            sent_to = await mail.send_summary(summary, settings)
            return f"sent to {', '.join(sent_to)}\n"
        return files.render_text(summary)

    typer.echo(run_in_session(settings, work, mode="read"), nl=False)
