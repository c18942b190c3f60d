"""`qtrack expiry list` (what has expired, what expires soon) and `qtrack expiry sweep`
(move items past their expiry date to the expired state now)."""

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import fail, print_table, run_in_session
from qtrack.config import get_settings
from qtrack.core.digits import ascii_digits
from qtrack.expiry import service
from qtrack.expiry.schemas import FefoRead, SweepRead
from qtrack.items.schemas import ItemRead

app = typer.Typer(
    help="Expiry: the expired and expiring lists, the sweep to the expired state.",
    no_args_is_help=True,
)


def _print_items(title: str, rows: list[ItemRead], limit: int) -> None:
    more = "+" if len(rows) == limit else ""
    typer.echo(f"{title} ({len(rows)}{more}):")
    if not rows:
        typer.echo("  none")
        return
    print_table(
        ["CODE", "TYPE", "EXPIRES", "STATUS", "BATCH", "LOCATION", "QUANTITY"],
        [
            [
                r.code, r.type, r.expiry_on.isoformat() if r.expiry_on else "", r.status,
                r.batch or "", r.location or "",
                f"{r.quantity.normalize():f} {r.unit or ''}".strip() if r.quantity is not None
                else "",
            ]
            for r in rows
        ],
    )  # fmt: skip


@app.command("list")
def list_(
    category: Annotated[
        str | None, typer.Option(metavar="KEY", help="Only this category and those under it.")
    ] = None,
    within_days: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=3650,
            metavar="DAYS",
            help="Expiring within N days, instead of each item type's own window.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many of each.")] = 200,
) -> None:
    """What has expired and what expires soon (each type's window), soonest first."""
    settings = get_settings()

    async def work(session: AsyncSession) -> tuple[list[ItemRead], list[ItemRead]]:
        return await service.panels(
            session, settings, category=category, within_days=within_days, limit=limit
        )

    expiring, expired = run_in_session(settings, work, mode="read")
    _print_items("expired", expired, limit)
    typer.echo()
    soon = "expiring soon" if within_days is None else f"expiring within {within_days} days"
    _print_items(soon, expiring, limit)


@app.command("fefo")
def fefo(
    item_type: Annotated[str | None, typer.Option("--type", help="Item type key.")] = None,
    gtin: Annotated[str | None, typer.Option(help="GTIN (8 to 14 digits).")] = None,
    location: Annotated[
        str | None, typer.Option(metavar="CODE", help="At this location and below it.")
    ] = None,
) -> None:
    """First expired, first out: the live lot of a type or GTIN to use first, and the next."""
    if gtin is not None and not (ascii_digits(gtin) and 8 <= len(gtin) <= 14):
        fail("validation_error", "a GTIN is 8 to 14 digits")
    settings = get_settings()

    async def work(session: AsyncSession) -> FefoRead:
        return await service.fefo(
            session, settings, type_key=item_type, gtin=gtin, location=location
        )

    found = run_in_session(settings, work, mode="read")
    if found.suggestion is None:
        typer.echo("no live lot")
        return
    rows = [found.suggestion, *found.next]
    print_table(
        ["", "CODE", "EXPIRES", "BATCH", "LOCATION", "QUANTITY"],
        [
            [
                "first" if i == 0 else "then", r.code,
                r.expiry_on.isoformat() if r.expiry_on else "", r.batch or "", r.location or "",
                f"{r.quantity.normalize():f}" if r.quantity is not None else "",
            ]
            for i, r in enumerate(rows)
        ],
    )  # fmt: skip


@app.command("sweep")
def sweep(
    background: Annotated[
        bool,
        typer.Option(
            help="Queue the durable expiry.sweep job for the server's runners instead of "
            "sweeping here."
        ),
    ] = False,
) -> None:
    """Expire every live item past its expiry date now, as the daily job does."""
    settings = get_settings()
    if background:
        queued = run_in_session(settings, service.queue_sweep)
        typer.echo(f"queued job {queued.job_id} ({queued.job})")
        return

    async def work(session: AsyncSession) -> SweepRead:
        return await service.sweep(session, settings)

    done = run_in_session(settings, work)
    if done.expired:
        print_table(
            ["CODE", "TYPE", "EXPIRED ON", "FROM", "TO"],
            [[e.code, e.type, e.expiry_on.isoformat(), e.before, e.after] for e in done.expired],
        )
    if done.left:
        typer.echo()
        typer.echo("left as they are:")
        print_table(
            ["CODE", "TYPE", "EXPIRED ON", "STATUS", "WHY"],
            [[e.code, e.type, e.expiry_on.isoformat(), e.status, e.why] for e in done.left],
        )
    typer.echo(f"{done.today.isoformat()}: {len(done.expired)} expired, {len(done.left)} left")
