"""`qtrack export KIND`: items, events, locations or bills as CSV, .xlsx or JSON Lines, with
the filters of the API's export (the same implementation), streamed to a file."""

import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import fail, run_with_db
from qtrack.cli.errors import describe
from qtrack.config import get_settings
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.core.logging import configure_logging
from qtrack.exports import service, sources
from qtrack.exports.formats import Format
from qtrack.integrations.epcis.query import parse_time
from qtrack.items import rules
from qtrack.items.service import ItemFilter

app = typer.Typer(
    help="Data out: items, events, locations, bills or orders as CSV, .xlsx or JSON Lines.",
    no_args_is_help=True,
)

FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="csv, xlsx (Excel) or jsonl (JSON Lines).")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", dir_okay=False, help="Write to this file (default: standard output)."
    ),
]
QOption = Annotated[str | None, typer.Option("--q", help="Part of the code or name.")]
_TIME_HELP = "RFC 3339 with its offset (2026-12-04T08:00:00+01:00), or a date (midnight UTC)."


def _export(
    prepare: Callable[[AsyncSession], Awaitable[sources.Keyset]], fmt: Format, out: Path | None
) -> None:
    """Resolve the filters, then stream the rows to the file (written aside and renamed when
    complete, so a failed export never leaves half a file under the name asked for)."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    rows = 0

    def count(n: int) -> None:
        nonlocal rows
        rows += n

    async def work(db: Database) -> str:
        async with db.session_scope("read") as session:
            source = await prepare(session)
        # Closed here, not left to the event loop's end, when writing fails (a reader that
        # went away, a full disk): its snapshot's transaction ends in this task.
        if out is None:
            async with aclosing(service.stream(db, source, fmt, counted=count)) as chunks:
                async for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return source.kind
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("wb") as target:
                async with aclosing(service.stream(db, source, fmt, counted=count)) as chunks:
                    async for chunk in chunks:
                        target.write(chunk)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        return source.kind

    try:
        kind = run_with_db(settings, work)
    except QtrackError as exc:
        typer.echo(f"error: {describe(exc)}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"{rows} {kind} exported" + (f" to {out}" if out else ""), err=True)


@app.command("items")
def export_items(
    fmt: FormatOption = "csv",
    out: OutOption = None,
    item_type: Annotated[str | None, typer.Option("--type", help="Item type key.")] = None,
    status: Annotated[str | None, typer.Option(help="State.")] = None,
    location: Annotated[
        str | None, typer.Option(help="Location code: items there or below.")
    ] = None,
    container: Annotated[str | None, typer.Option(help="What this item directly holds.")] = None,
    batch: Annotated[str | None, typer.Option(help="Batch / lot.")] = None,
    gtin: Annotated[str | None, typer.Option(help="GTIN.")] = None,
    expiring_before: Annotated[
        str | None, typer.Option(help="Expiring before this date (YYYY-MM-DD).")
    ] = None,
    expiring_soon: Annotated[
        bool, typer.Option(help="Live items expiring within their item type's window.")
    ] = False,
    expired: Annotated[
        bool, typer.Option(help="Items past their expiry date or in the expired state.")
    ] = False,
    category: Annotated[
        str | None, typer.Option(metavar="KEY", help="Item types in this category or under it.")
    ] = None,
    archived: Annotated[bool, typer.Option(help="Archived items instead of live ones.")] = False,
    q: QOption = None,
    sort: Annotated[str, typer.Option(help="code, created or name; -code etc. reversed.")] = "code",
) -> None:
    """Items, with the items list's filters, in its order."""
    if sort.lstrip("-") not in ("code", "created", "name"):
        fail("invalid_sort", "sort by code, created or name (with - for reversed)")
    try:
        before = date.fromisoformat(expiring_before) if expiring_before else None
    except ValueError:
        fail("invalid_date", f"not a date (YYYY-MM-DD): {expiring_before}")
    filters = ItemFilter(
        type=item_type,
        status=status,
        location=location,
        container=container,
        batch=batch,
        gtin=gtin,
        expiring_before=before,
        expiring_soon=expiring_soon,
        expired=True if expired else None,
        today=rules.site_today(get_settings()),
        category=category,
        archived=archived,
        q=q,
    )
    _export(lambda session: sources.items(session, filters, sort=sort), fmt, out)


@app.command("events")
def export_events(
    fmt: FormatOption = "csv",
    out: OutOption = None,
    since: Annotated[
        str | None, typer.Option(help=f"Recorded at or after this time. {_TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Recorded before this time. {_TIME_HELP}")
    ] = None,
    item: Annotated[str | None, typer.Option(help="Only this item's events.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
) -> None:
    """Events recorded in [since, until), in the order they were recorded."""
    try:
        start = parse_time(since, date_is_midnight=True) if since else None
        end = parse_time(until, date_is_midnight=True) if until else None
    except ValueError as exc:
        fail("invalid_time", str(exc))
    _export(
        lambda session: sources.events(
            session, since=start, until=end, item=item, event_type=event_type
        ),
        fmt,
        out,
    )


@app.command("locations")
def export_locations(
    fmt: FormatOption = "csv",
    out: OutOption = None,
    parent: Annotated[str | None, typer.Option(help="Only this location's children.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (site, rack...).")] = None,
    q: QOption = None,
    include_archived: Annotated[bool, typer.Option(help="Archived ones too.")] = False,
) -> None:
    """Locations, oldest first."""
    _export(
        lambda session: sources.locations(
            session, parent=parent, kind=kind, q=q, include_archived=include_archived
        ),
        fmt,
        out,
    )


@app.command("shipments")
def export_shipments(
    fmt: FormatOption = "csv",
    out: OutOption = None,
    status: Annotated[str | None, typer.Option(help="draft, issued, dispatched...")] = None,
    q: QOption = None,
) -> None:
    """Bills, newest first, with their number of containers."""
    _export(lambda session: sources.shipments(session, status=status, q=q), fmt, out)


@app.command("orders")
def export_orders(
    fmt: FormatOption = "csv",
    out: OutOption = None,
    status: Annotated[str | None, typer.Option(help="draft, submitted, approved...")] = None,
    q: QOption = None,
) -> None:
    """Restock orders, newest first, with their number of lines."""
    _export(lambda session: sources.orders(session, status=status, q=q), fmt, out)
