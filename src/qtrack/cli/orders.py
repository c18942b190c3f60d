"""`qtrack orders`: draft restock orders, take their steps, receive goods, print them.

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
from qtrack.cli.common import ActingAs, acting_as, fail, print_table, run_in_session, validated
from qtrack.config import get_settings
from qtrack.core.quantities import format_amount
from qtrack.orders import actions, document, receiving, repository, service, suggest
from qtrack.orders.models import RestockOrder
from qtrack.orders.schemas import (
    LineCreate,
    LineUpdate,
    OrderCreate,
    OrderRead,
    ReceiveBody,
    SuggestBody,
)

app = typer.Typer(
    help="Restock orders: draft, submit, approve, receive, print.", no_args_is_help=True
)

RefArg = Annotated[str, typer.Argument(help="The order's code (ORD-000001) or id")]
Step = Callable[[AsyncSession, Principal], Awaitable[RestockOrder]]


def _show(read: OrderRead) -> None:
    typer.echo(f"{read.code}  {read.status}  {read.supplier}")
    if read.lines:
        print_table(
            ["#", "TYPE", "SUPPLIER REF", "UNIT", "ORDERED", "RECEIVED", "REMAINING"],
            [
                [str(x.position), x.type, x.supplier_ref, x.unit]
                + [format_amount(v) for v in (x.quantity, x.received_quantity, x.remaining)]
                for x in read.lines
            ],
        )


def _run(username: str, step: Step) -> None:
    async def _work(session: AsyncSession) -> OrderRead:
        return await repository.read(
            session, await step(session, await acting_as(session, username))
        )

    _show(run_in_session(get_settings(), _work))


def _line(text: str) -> LineCreate:
    """TYPE:QUANTITY[:SUPPLIER_REF] as a line."""
    parts = text.split(":", 2)
    if len(parts) < 2:
        fail("validation_error", f"line '{text}': write TYPE:QUANTITY[:SUPPLIER_REF]")
    return validated(
        LineCreate,
        type=parts[0],
        quantity=parts[1],
        supplier_ref=parts[2] if len(parts) > 2 else "",
    )


LineOption = Annotated[
    list[str] | None,
    typer.Option("--line", help="TYPE:QUANTITY[:SUPPLIER_REF], e.g. supply:100:SYR-5ML"),
]


@app.command("create")
def create(
    as_user: ActingAs,
    supplier: Annotated[str, typer.Option(help="Who supplies it")] = "",
    notes: Annotated[str, typer.Option()] = "",
    line: LineOption = None,
) -> None:
    """Create a draft order, with lines if given."""
    body = validated(
        OrderCreate, supplier=supplier, notes=notes, lines=[_line(x) for x in line or []]
    )
    _run(as_user, lambda s, p: service.create_order(s, body=body, actor=p))


@app.command("suggest")
def suggest_(
    as_user: ActingAs,
    supplier: Annotated[str, typer.Option(help="Who supplies it")] = "",
    category: Annotated[
        str | None, typer.Option(metavar="KEY", help="Only this category and those under it")
    ] = None,
) -> None:
    """Draft an order for everything below its reorder level, up to its level."""
    body = validated(SuggestBody, supplier=supplier, category=category)
    _run(as_user, lambda s, p: suggest.suggest_order(s, body=body, actor=p))


@app.command("add-line")
def add_line(
    ref: RefArg,
    item_type: Annotated[str, typer.Argument(metavar="TYPE", help="The item type's key")],
    quantity: Annotated[Decimal, typer.Argument()],
    as_user: ActingAs,
    supplier_ref: Annotated[str, typer.Option(help="Supplier's article number or GTIN")] = "",
) -> None:
    """Add a line to a draft."""
    body = validated(LineCreate, type=item_type, quantity=quantity, supplier_ref=supplier_ref)
    _run(as_user, lambda s, p: service.add_line(s, ref=ref, body=body, actor=p))


@app.command("change-line")
def change_line(
    ref: RefArg,
    position: Annotated[int, typer.Argument(help="The line's number")],
    as_user: ActingAs,
    quantity: Annotated[Decimal | None, typer.Option(help="The quantity to order")] = None,
    item_type: Annotated[
        str | None, typer.Option("--type", metavar="TYPE", help="Another item type")
    ] = None,
    supplier_ref: Annotated[
        str | None, typer.Option(help="Supplier's article number or GTIN")
    ] = None,
) -> None:
    """Change a draft's line (only what is given)."""
    fields = {"quantity": quantity, "type": item_type, "supplier_ref": supplier_ref}
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        fail("validation_error", "nothing to change: give --quantity, --type or --supplier-ref")
    body = validated(LineUpdate, **given)
    _run(
        as_user,
        lambda s, p: service.update_line(s, ref=ref, position=position, body=body, actor=p),
    )


@app.command("remove-line")
def remove_line(
    ref: RefArg,
    position: Annotated[int, typer.Argument(help="The line's number")],
    as_user: ActingAs,
) -> None:
    """Delete a draft's line."""
    _run(as_user, lambda s, p: service.remove_line(s, ref=ref, position=position, actor=p))


@app.command("submit")
def submit(ref: RefArg, as_user: ActingAs) -> None:
    """Draft -> submitted."""
    _run(as_user, lambda s, p: actions.submit(s, ref=ref, actor=p))


@app.command("approve")
def approve(ref: RefArg, as_user: ActingAs) -> None:
    """Submitted -> approved."""
    _run(as_user, lambda s, p: actions.approve(s, ref=ref, actor=p))


@app.command("cancel")
def cancel(
    ref: RefArg,
    as_user: ActingAs,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history)")] = None,
) -> None:
    """Cancel an order before anything arrived."""
    _run(as_user, lambda s, p: actions.cancel(s, ref=ref, actor=p, reason=reason))


@app.command("close")
def close(
    ref: RefArg,
    as_user: ActingAs,
    reason: Annotated[str, typer.Option(help="Why the rest will not come (kept in the history)")],
) -> None:
    """Close a partly received order: the rest will not come, and is no longer on order."""
    _run(as_user, lambda s, p: actions.close(s, ref=ref, actor=p, reason=reason))


@app.command("receive")
def receive(
    ref: RefArg,
    as_user: ActingAs,
    data: Annotated[str | None, typer.Option(help="A scanned GS1 barcode")] = None,
    line: Annotated[int | None, typer.Option(help="The line's number")] = None,
    item_type: Annotated[str | None, typer.Option("--type", help="The line's item type")] = None,
    quantity: Annotated[Decimal | None, typer.Option(help="How much arrived")] = None,
    batch: Annotated[str | None, typer.Option()] = None,
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    location: Annotated[str | None, typer.Option(help="Where to put it (code)")] = None,
    reason: Annotated[str | None, typer.Option(help="Needed to take in more than ordered")] = None,
) -> None:
    """Record what arrived: new lots on one line of an approved order."""
    body = validated(
        ReceiveBody,
        data=data, line=line, type=item_type, quantity=quantity, batch=batch,
        expiry_on=expiry or None, location=location,
        reason=reason,
    )  # fmt: skip
    settings = get_settings()

    async def _work(session: AsyncSession) -> tuple[list[str], OrderRead]:
        actor = await acting_as(session, as_user)
        done = await receiving.receive(session, settings, ref=ref, body=body, actor=actor)
        return done.items, done.order

    items, read = run_in_session(settings, _work)
    typer.echo(f"received: {' '.join(items)}")
    _show(read)


@app.command("show")
def show(ref: RefArg) -> None:
    """An order's lines and what has arrived."""

    async def _read(session: AsyncSession) -> OrderRead:
        return await repository.read(session, await service.get_order(session, ref))

    _show(run_in_session(get_settings(), _read, mode="read"))


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="draft, submitted, approved...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Orders, newest first."""

    async def _list(session: AsyncSession) -> list[list[str]]:
        rows = await session.execute(repository.list_query(status=status, q=None).limit(limit))
        return [[o.code, o.status, o.supplier, str(n)] for o, n in rows]

    print_table(
        ["CODE", "STATUS", "SUPPLIER", "LINES"],
        run_in_session(get_settings(), _list, mode="read"),
    )


@app.command("print")
def print_order(
    ref: RefArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.pdf or .csv)")],
) -> None:
    """Write the order as PDF or CSV."""
    settings = get_settings()

    async def _read(session: AsyncSession) -> OrderRead:
        return await repository.read(session, await service.get_order(session, ref))

    read = run_in_session(settings, _read, mode="read")
    if out.suffix.lower() == ".csv":
        out.write_text(document.render_csv(read), encoding="utf-8")
    else:
        out.write_bytes(document.render_pdf(read, public_url=settings.public_url))
    typer.echo(f"wrote {out}")
