"""`qtrack shipments`: create bills, add containers, take the steps, print the bill.

Changes act as a named user (`--as`), with that user's permissions, through the same use
cases as the API.
"""

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.cli.common import (
    CLI_ORIGIN,
    ActingAs,
    acting_as,
    print_table,
    run_in_session,
    validated,
)
from qtrack.config import get_settings
from qtrack.core.ratelimit import MemoryRateLimiter
from qtrack.shipments import actions, bill, repository, service
from qtrack.shipments.models import Shipment
from qtrack.shipments.schemas import ShipmentCreate, ShipmentRead

app = typer.Typer(help="Shipments (bills): build, dispatch, print.", no_args_is_help=True)

RefArg = Annotated[str, typer.Argument(help="The shipment's number (SHP-000001) or id")]
Step = Callable[[AsyncSession, Principal], Awaitable[Shipment]]


def _show(read: ShipmentRead) -> None:
    t = read.totals
    typer.echo(f"{read.number}  {read.status}  {read.consignee}  {read.destination}")
    if read.lines:
        print_table(
            ["#", "CONTAINER", "TYPE", "STATUS", "ITEMS", "GROSS KG"],
            [
                [str(x.position), x.code, x.type, x.status, str(x.items), bill.kg(x.gross_kg)]
                for x in read.lines
            ],
        )
    typer.echo(
        f"containers: {t.containers}  items: {t.items}  "
        f"net: {bill.kg(t.net_kg)} kg  gross: {bill.kg(t.gross_kg)} kg"
    )


def _run(username: str, step: Step) -> None:
    async def _work(session: AsyncSession) -> ShipmentRead:
        return await repository.read(
            session, await step(session, await acting_as(session, username))
        )

    _show(run_in_session(get_settings(), _work))


@app.command("create")
def create(
    as_user: ActingAs,
    consignee: Annotated[str, typer.Option(help="Who receives it")] = "",
    destination: Annotated[str, typer.Option(help="Where it goes (free text)")] = "",
    carrier: Annotated[str, typer.Option()] = "",
    vehicle: Annotated[str, typer.Option()] = "",
    notes: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a draft bill."""
    body = validated(
        ShipmentCreate,
        consignee=consignee,
        destination=destination,
        carrier=carrier,
        vehicle=vehicle,
        notes=notes,
    )
    _run(as_user, lambda s, p: service.create_shipment(s, body=body, actor=p))


@app.command("add")
def add(
    ref: RefArg,
    codes: Annotated[list[str], typer.Argument(help="Containers, by any code form")],
    as_user: ActingAs,
    expected_kg: Annotated[Decimal | None, typer.Option(help="Expected weight (one code)")] = None,
) -> None:
    """Add containers to a draft bill (all or none)."""
    settings = get_settings()

    async def step(session: AsyncSession, actor: Principal) -> Shipment:
        shipment = await service.get_shipment(session, ref)
        for code in codes:
            shipment, _ = await service.add_line(
                session, settings, ref=ref, code=code, expected_weight_kg=expected_kg, actor=actor
            )
        return shipment

    _run(as_user, step)


@app.command("remove")
def remove(ref: RefArg, code: Annotated[str, typer.Argument()], as_user: ActingAs) -> None:
    """Take a container off a draft bill."""

    async def step(session: AsyncSession, actor: Principal) -> Shipment:
        return (await service.remove_line(session, ref=ref, code=code, actor=actor))[0]

    _run(as_user, step)


@app.command("issue")
def issue(ref: RefArg, as_user: ActingAs) -> None:
    """Draft -> issued."""
    _run(as_user, lambda s, p: actions.issue(s, ref=ref, actor=p))


@app.command("dispatch")
def dispatch(ref: RefArg, as_user: ActingAs) -> None:
    """Issued -> dispatched, with every container and its contents."""
    settings = get_settings()
    _run(
        as_user,
        lambda s, p: actions.dispatch(
            s, settings, MemoryRateLimiter(), ref=ref, actor=p, origin=CLI_ORIGIN
        ),
    )


@app.command("deliver")
def deliver(ref: RefArg, as_user: ActingAs) -> None:
    """Dispatched -> delivered."""
    settings = get_settings()
    _run(
        as_user,
        lambda s, p: actions.deliver(
            s, settings, MemoryRateLimiter(), ref=ref, actor=p, origin=CLI_ORIGIN
        ),
    )


@app.command("cancel")
def cancel(ref: RefArg, as_user: ActingAs) -> None:
    """Cancel a draft or issued bill; its containers are released."""
    _run(as_user, lambda s, p: actions.cancel(s, ref=ref, actor=p, reason=None))


@app.command("show")
def show(ref: RefArg) -> None:
    """A bill's lines and totals."""
    _show(run_in_session(get_settings(), lambda s: service.read_shipment(s, ref), mode="read"))


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="draft, issued, dispatched...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Bills, newest first."""
    rows = run_in_session(
        get_settings(),
        lambda s: service.list_shipments(s, status=status, q=None, limit=limit, offset=0),
        mode="read",
    )
    print_table(
        ["NUMBER", "STATUS", "CONSIGNEE", "DESTINATION", "CONTAINERS"],
        [[r.number, r.status, r.consignee, r.destination, str(r.containers)] for r in rows],
    )


@app.command("bill")
def bill_file(
    ref: RefArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.pdf or .csv)")],
) -> None:
    """Write the bill as PDF or CSV."""
    settings = get_settings()
    read = run_in_session(settings, lambda s: service.read_shipment(s, ref), mode="read")
    if out.suffix.lower() == ".csv":
        out.write_text(bill.render_csv(read), encoding="utf-8")
    else:
        out.write_bytes(bill.render_pdf(read, public_url=settings.public_url))
    typer.echo(f"wrote {out}")
