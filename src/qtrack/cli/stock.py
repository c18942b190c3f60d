"""`qtrack stock` and `qtrack alerts`: on-hand, levels, and the alerts they raise."""

from decimal import Decimal
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.alerts import service as alerts_service
from qtrack.alerts.service import AlertRow, AlertState
from qtrack.cli.common import ActingAs, acting_as, print_table, run_in_session, validated, when
from qtrack.config import get_settings
from qtrack.stock import service as stock_service
from qtrack.stock.schemas import LevelsSet, StockRead

app = typer.Typer(help="On-hand stock and its levels.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts (stock low or out, items expired).", no_args_is_help=True)


def _amount(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _show(rows: list[StockRead]) -> None:
    if not rows:
        typer.echo("nothing to show")
        return
    print_table(
        ["TYPE", "WHERE", "ON HAND", "MINIMUM", "REORDER AT", "STATE", "CRITICAL"],
        [
            [
                r.type, r.location or "everywhere", f"{r.on_hand} {r.unit}",
                _amount(r.minimum_level), _amount(r.reorder_level), r.state or "-",
                "yes" if r.critical else "",
            ]
            for r in rows
        ],
    )  # fmt: skip


@app.command("list")
def stock_list(
    low: Annotated[bool, typer.Option("--low", help="Only what is low or out.")] = False,
    category: Annotated[
        str | None, typer.Option(metavar="KEY", help="Only this category and those under it.")
    ] = None,
) -> None:
    """On-hand, levels and state of every item type (and where levels are set), critical
    first, then out, low, ok."""

    async def _list(session: AsyncSession) -> list[StockRead]:
        return await stock_service.list_stock(session, low=low, category=category)

    _show(run_in_session(get_settings(), _list, mode="read"))


@app.command("levels")
def stock_levels(
    type_key: Annotated[str, typer.Argument(metavar="TYPE", help="The item type's key.")],
    location: Annotated[
        str | None, typer.Option(metavar="CODE", help="At this location and below it.")
    ] = None,
    minimum: Annotated[
        Decimal | None, typer.Option(help="Below this the type counts as out.")
    ] = None,
    reorder: Annotated[
        Decimal | None, typer.Option(help="At or below this the type counts as low.")
    ] = None,
) -> None:
    """Set the levels of an item type (both left out: remove them); a state that changes
    raises or clears alerts."""
    body = validated(
        LevelsSet, type=type_key, location=location, minimum_level=minimum, reorder_level=reorder
    )

    async def _set(session: AsyncSession) -> StockRead:
        return await stock_service.set_levels(
            session, type_key=body.type, location=body.location,
            minimum_level=body.minimum_level, reorder_level=body.reorder_level,
        )  # fmt: skip

    _show([run_in_session(get_settings(), _set)])


def _show_alerts(rows: list[AlertRow]) -> None:
    if not rows:
        typer.echo("no alerts")
        return
    print_table(
        ["ID", "RAISED", "KIND", "MESSAGE", "SEEN BY", "CLEARED"],
        [
            [
                str(r.alert.id), when(r.alert.raised_at), r.alert.kind, r.alert.message,
                r.acknowledged_by or "-", when(r.alert.cleared_at),
            ]
            for r in rows
        ],
    )  # fmt: skip


@alerts_app.command("list")
def alerts_list(
    state: Annotated[
        str, typer.Option(help="open, pending (not acknowledged), cleared or all.")
    ] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Alerts, newest first."""
    if state not in ("open", "pending", "cleared", "all"):
        raise typer.BadParameter("open, pending, cleared or all", param_hint="--state")
    chosen: AlertState = state  # type: ignore[assignment]

    async def _list(session: AsyncSession) -> list[AlertRow]:
        return await alerts_service.list_alerts(session, state=chosen, limit=limit)

    _show_alerts(run_in_session(get_settings(), _list, mode="read"))


@alerts_app.command("ack")
def alerts_ack(alert_id: Annotated[int, typer.Argument(metavar="ID")], as_user: ActingAs) -> None:
    """Acknowledge an alert as a user who may (alert.acknowledge)."""

    async def _ack(session: AsyncSession) -> AlertRow:
        actor = await acting_as(session, as_user)
        return await alerts_service.acknowledge(session, alert_id, actor=actor)

    _show_alerts([run_in_session(get_settings(), _ack)])
