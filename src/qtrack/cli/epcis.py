"""`qtrack epcis`: the history as EPCIS 2.0 events, for partners and regulators."""

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from qtrack.cli.common import fail, run_in_session
from qtrack.config import get_settings
from qtrack.integrations.epcis import service as epcis_service
from qtrack.integrations.epcis.query import parse_time

app = typer.Typer(help="EPCIS 2.0: qtrack's events in GS1's standard.", no_args_is_help=True)

_TIME_HELP = "RFC 3339 with its offset (2026-12-04T08:00:00+01:00), or a date (midnight UTC)."


@app.command("export")
def epcis_export(
    since: Annotated[
        str | None, typer.Option(help=f"Only events at or after this time. {_TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Only events before this time. {_TIME_HELP}")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write to this file (default: standard output).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Write the events (eventTime in [since, until)) as one EPCISDocument, streamed."""
    try:
        start = parse_time(since, date_is_midnight=True) if since else None
        end = parse_time(until, date_is_midnight=True) if until else None
    except ValueError as exc:
        fail("invalid_time", str(exc))
    settings = get_settings()

    def export(target: BinaryIO) -> int:
        return run_in_session(
            settings,
            lambda session: epcis_service.export_document(
                session, settings, since=start, until=end, write=target.write
            ),
            mode="read",
        )

    if out is None:
        count = export(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with out.open("wb") as target:
            count = export(target)
    typer.echo(f"{count} events exported", err=True)
