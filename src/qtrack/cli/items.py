"""`qtrack items`: register, list, show, history, and change items as a named user (`--as`).

Every change to an item is an event with an actor, so changing commands act on behalf of a
named user, with that user's permissions; the services apply the same rules as the API.
"""

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.cli.common import (
    CLI_ORIGIN,
    ActingAs,
    CodeArg,
    ReasonOption,
    acting_as,
    password_from,
    print_table,
    run_in_session,
    text,
    validated,
)
from qtrack.config import get_settings
from qtrack.containers import service as containers_service
from qtrack.containers.schemas import PackRequest, UnpackRequest
from qtrack.core.quantities import format_quantity
from qtrack.core.ratelimit import MemoryRateLimiter
from qtrack.events.schemas import EventRead
from qtrack.history import service as history_service
from qtrack.items import changes, create, moves, rules, writes
from qtrack.items import service as items_service
from qtrack.items.schemas import (
    ChangeResult,
    ItemCreate,
    ItemRead,
    MoveRequest,
    QuantityRequest,
    TransitionRequest,
)
from qtrack.workflow import service as workflow_service

app = typer.Typer(
    help="Items: register, list, show, history, and change them.", no_args_is_help=True
)


class QuantityKind(StrEnum):
    dispense = "dispense"
    consume = "consume"
    receive = "receive"
    adjust = "adjust"


Change = Callable[[AsyncSession, Principal], Awaitable[ChangeResult]]


def run_change(username: str, change: Change) -> None:
    """Make one change as a user in one transaction, then print the events it recorded."""

    async def _work(session: AsyncSession) -> tuple[str, list[EventRead]]:
        result = await change(session, await acting_as(session, username))
        return result.item.code, result.events

    code, events = run_in_session(get_settings(), _work)
    if not events:
        typer.echo(f"{code}: nothing to change")
    for event in events:
        typer.echo(event_summary(event))


def change_text(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What an event changed: `key: old→new` for changed values, `key=value` for the rest."""
    parts = [
        f"{key}: {text(old)}→{text(after.get(key))}"
        for key, old in before.items()
        if old != after.get(key)
    ]
    parts += [f"{key}={text(value)}" for key, value in after.items() if key not in before]
    return ", ".join(parts) or "-"


def signature_text(event: EventRead) -> str:
    """Who signed, meaning what, when; '-' when unsigned."""
    if event.signature is None:
        return "-"
    sig = event.signature
    return f"{sig.by or '?'} ({sig.meaning}) {sig.at:%Y-%m-%d %H:%M:%S}"


def event_summary(event: EventRead) -> str:
    """One line for an event a command just recorded."""
    line = f"{event.item} #{event.seq} {event.type}: {change_text(event.before, event.after)}"
    if event.reason:
        line += f"; reason: {event.reason}"
    if event.signature:
        line += f"; signed by {signature_text(event)}"
    return line


# --- items: registering and reading ----------------------------------------------------------


@app.command("register")
def items_register(
    item_type: Annotated[str, typer.Option("--type", help="Item type key, e.g. material.")],
    as_user: ActingAs,
    name: Annotated[str, typer.Option(help="What it is.")] = "",
    batch: Annotated[str | None, typer.Option(help="Batch or lot number.")] = None,
    quantity: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="Quantity, in the type's unit.")
    ] = None,
    location: Annotated[str | None, typer.Option(metavar="CODE", help="Where it is.")] = None,
    count: Annotated[int, typer.Option(help="How many identical items (up to 1,000).")] = 1,
    expiry: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="Expiry date.")] = None,
) -> None:
    """Register items and print their new codes, one per line."""
    spec = validated(
        ItemCreate,
        type=item_type,
        name=name,
        batch=batch,
        quantity=quantity,
        location=location,
        count=count,
        expiry_on=expiry,
    )

    async def _register(session: AsyncSession) -> list[str]:
        actor = await acting_as(session, as_user)
        created = await create.register_items(
            session, specs=[spec], actor=actor, settings=get_settings()
        )
        return [item.code for item in created]

    for code in run_in_session(get_settings(), _register):
        typer.echo(code)


@app.command("list")
def items_list(
    item_type: Annotated[
        str | None, typer.Option("--type", metavar="KEY", help="Item type.")
    ] = None,
    category: Annotated[
        str | None, typer.Option(metavar="KEY", help="Item types in this category or under it.")
    ] = None,
    status: Annotated[str | None, typer.Option(metavar="STATE", help="Workflow state.")] = None,
    location: Annotated[
        str | None, typer.Option(metavar="CODE", help="At this location or below it.")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Batch / lot.")] = None,
    expired: Annotated[
        bool, typer.Option(help="Past their expiry date or in the expired state, not used up.")
    ] = False,
    expiring_soon: Annotated[
        bool, typer.Option(help="Live items expiring within their item type's window.")
    ] = False,
    expiring_within: Annotated[
        int | None,
        typer.Option(min=0, max=3650, metavar="DAYS", help="Live items expiring within N days."),
    ] = None,
    search: Annotated[str | None, typer.Option("--q", help="Code, name or batch text.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
) -> None:
    """List items by the filters of the items list (`GET /api/v1/items`), by code."""
    settings = get_settings()
    filters = items_service.ItemFilter(
        type=item_type, category=category, status=status, location=location, batch=batch,
        expired=True if expired else None, expiring_soon=expiring_soon,
        expiring_within_days=expiring_within, q=search, today=rules.site_today(settings),
    )  # fmt: skip

    async def _list(session: AsyncSession) -> list[ItemRead]:
        found, _ = await items_service.list_items(
            session, filters=filters, sort=None, cursor=None, limit=limit
        )
        return found

    rows = run_in_session(settings, _list, mode="read")
    if not rows:
        typer.echo("no items")
        return
    print_table(
        ["CODE", "TYPE", "STATUS", "LOCATION", "QUANTITY", "BATCH", "EXPIRES"],
        [
            [
                r.code, r.type, r.status, text(r.location),
                text(format_quantity(r.quantity, r.unit) or None), text(r.batch),
                text(r.expiry_on),
            ]
            for r in rows
        ],
    )  # fmt: skip
    if len(rows) == limit:
        typer.echo(f"(the first {limit}; --limit shows more)")


@app.command("show")
def items_show(code: CodeArg) -> None:
    """Print an item's fields, status and location."""

    async def _read(session: AsyncSession) -> list[tuple[str, str]]:
        item = await items_service.find_item(session, code=code)
        state = workflow_service.definition_of(item.type.workflow).state(item.status)
        read = await items_service.read_item(session, item.id)
        status = f"{read.status} ({state.label})" if state else read.status
        quantity = format_quantity(read.quantity, read.unit) or None
        return [
            ("code", read.code),
            ("type", read.type),
            ("name", text(read.name)),
            ("status", status),
            ("location", text(read.location)),
            ("container", text(read.container)),
            ("quantity", text(quantity)),
            ("batch", text(read.batch)),
            ("serial", text(read.serial)),
            ("gtin", text(read.gtin)),
            ("expiry", text(read.expiry_on)),
            ("weight_kg", text(read.weight_kg)),
            ("attributes", text(read.attributes or None)),
            ("version", str(read.version)),
            ("archived", "yes" if read.archived else "no"),
            ("created", f"{read.created_at:%Y-%m-%d %H:%M:%S}"),
            ("updated", f"{read.updated_at:%Y-%m-%d %H:%M:%S}"),
        ]

    fields = run_in_session(get_settings(), _read, mode="read")
    width = max(len(key) for key, _ in fields) + 1
    for key, value in fields:
        typer.echo(f"{key + ':':<{width}} {value}")


@app.command("history")
def items_history(
    code: CodeArg,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many events.")] = 50,
) -> None:
    """Print an item's events, newest first."""

    async def _read(session: AsyncSession) -> list[EventRead]:
        item = await items_service.find_item(session, code=code)
        return await history_service.item_history(session, item.id, limit=limit)

    events = run_in_session(get_settings(), _read, mode="read")
    print_table(
        ["SEQ", "TIME (UTC)", "TYPE", "ACTOR", "CHANGE", "REASON", "SIGNATURE"],
        [
            [
                str(e.seq),
                f"{e.recorded_at:%Y-%m-%d %H:%M:%S}",
                e.type,
                text(e.actor),
                change_text(e.before, e.after),
                text(e.reason),
                signature_text(e),
            ]
            for e in events
        ],
    )


# --- items: changing -------------------------------------------------------------------------


@app.command("transition")
def items_transition(
    code: CodeArg,
    transition: Annotated[str, typer.Argument(metavar="NAME", help="e.g. quarantine, release.")],
    as_user: ActingAs,
    reason: ReasonOption = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password to sign with from standard input."
        ),
    ] = False,
) -> None:
    """Move an item along its workflow (e-signature transitions need --password-stdin)."""
    password = password_from(None, password_stdin)
    body = validated(TransitionRequest, transition=transition, reason=reason, password=password)
    settings = get_settings()

    async def _change(session: AsyncSession, actor: Principal) -> ChangeResult:
        return await changes.change_status(
            session,
            settings,
            MemoryRateLimiter(),
            code=code,
            transition=body.transition,
            to=None,
            actor=actor,
            reason=body.reason,
            password=body.password,
            origin=CLI_ORIGIN,
            context=writes.context_of(body),
        )

    run_change(as_user, _change)


@app.command("move")
def items_move(
    code: CodeArg,
    location: Annotated[str, typer.Argument(metavar="LOCATION", help="The location's code.")],
    as_user: ActingAs,
    reason: ReasonOption = None,
) -> None:
    """Put an item at a location; what it contains goes with it."""
    body = validated(MoveRequest, location=location, reason=reason)
    run_change(
        as_user,
        lambda session, actor: moves.move(
            session,
            code=code,
            location=body.location,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
        ),
    )


@app.command("pack")
def items_pack(
    code: CodeArg,
    container: Annotated[str, typer.Argument(metavar="CONTAINER", help="The container's code.")],
    as_user: ActingAs,
) -> None:
    """Pack an item into a container item; it takes the container's location."""
    body = validated(PackRequest, container=container)
    run_change(
        as_user,
        lambda session, actor: containers_service.pack(
            session,
            code=code,
            container=body.container,
            actor=actor,
            context=writes.context_of(body),
        ),
    )


@app.command("unpack")
def items_unpack(code: CodeArg, as_user: ActingAs, reason: ReasonOption = None) -> None:
    """Take an item out of its container; it stays where the container is."""
    body = validated(UnpackRequest, reason=reason)
    run_change(
        as_user,
        lambda session, actor: containers_service.unpack(
            session,
            code=code,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
        ),
    )


@app.command("quantity")
def items_quantity(
    code: CodeArg,
    kind: Annotated[QuantityKind, typer.Argument(help="What happened to the quantity.")],
    amount: Annotated[
        str, typer.Argument(metavar="AMOUNT", help="How much (for adjust: the counted quantity).")
    ],
    as_user: ActingAs,
    reason: ReasonOption = None,
) -> None:
    """Dispense, consume, receive, or adjust to a counted quantity (never below zero)."""
    body = validated(QuantityRequest, kind=kind.value, amount=amount, reason=reason)
    run_change(
        as_user,
        lambda session, actor: changes.change_quantity(
            session,
            code=code,
            kind=body.kind,
            amount=body.amount,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
            settings=get_settings(),
        ),
    )
