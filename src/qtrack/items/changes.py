"""Changes of one item on its own: transition, quantity, edit, archive, a new label.

Each is the one implementation of its change, for every caller (API, scan, pages, bulk
actions, CLI): the item's row locked and read in one statement, the rules, the event through
`events.service.record`, one prebuilt UPDATE, the counts last, and the answer built from what
was read and written (`writes`).
"""

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.errors import ValidationFailed
from qtrack.core.quantities import format_quantity
from qtrack.core.ratelimit import RateLimiter
from qtrack.events import service as events_service
from qtrack.events.models import Event
from qtrack.events.service import EventContext
from qtrack.item_types.models import ItemType
from qtrack.items import counts, moves, on_hand, repository, rules, statements, writes
from qtrack.items.errors import (
    ContainerClosed,
    InsufficientQuantity,
    QuantityNotTracked,
    ReasonRequired,
    VersionMismatch,
)
from qtrack.items.schemas import ChangeResult
from qtrack.signing import tokens
from qtrack.signing.models import ItemLabel


async def _refuse_opening_inside_closed(session: AsyncSession, row: writes.Row, to: Any) -> None:
    """409 container_closed for a container packed in a closed one (a sealed bag in a
    dispatched bag) going to a state that is not closed: opened, what it holds could be taken
    out of the closed one's bill. Its container is read, not locked: it is locked before what
    it holds, never after."""
    if to is not None and to.closed:
        return
    container = await repository.PREPARED_LOOKUP_BY_ID.first(session, {"id": row.parent_id})
    if container is not None and await rules.is_closed(session, container):
        raise ContainerClosed(
            f"{row.code} is inside {container.code}, which is "
            f"{container.status.replace('_', ' ')}: it stays closed while it is in there",
            details={"container": container.code, "status": container.status},
        )


async def change_status(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    code: str,
    transition: str | None,
    to: str | None,
    actor: Principal,
    reason: str | None,
    password: str | None,
    origin: Origin,
    context: EventContext,
) -> ChangeResult:
    """Move an item to another state of its workflow and record the event."""
    row = await writes.lock(session, code)
    definition = await rules.definition_for(session, row)
    chosen, signature = await rules.check_transition(
        session,
        settings,
        limiter,
        definition=definition,
        item_id=row.id,
        status=row.status,
        transition=transition,
        to=to,
        actor=actor,
        reason=reason,
        password=password,
        origin=origin,
    )
    if row.can_contain and row.parent_id is not None:
        await _refuse_opening_inside_closed(session, row, definition.state(chosen.to))
    if rules.uses_up(chosen):
        rules.refuse_if_expired(row, definition, rules.site_today(settings), _VERBS[chosen.name])
    elif rules.ships(chosen):  # a bag of supplies leaves whole: nothing expired in it may
        await rules.refuse_if_expired_inside(session, row, rules.site_today(settings), "shipped")
    version = row.version + 1

    def along(recorded: events_service.Recorded) -> list[events_service.Along]:
        # The item's head and state, and its counts: with the event, in one statement on
        # PostgreSQL; the counter rows last, so they stay locked as briefly as can be.
        moved = (
            statements.SET_STATUS,
            {**writes.head(recorded), "new_status": chosen.to, "new_version": version},
        )
        counted = counts.status_change(
            session, row.type_id, row.status, chosen.to, shard=counts.shard_of(row.id)
        )
        return [moved] if counted is None else [moved, counted]

    (recorded,) = await events_service.record(
        session,
        actor,
        [
            writes.entry(
                row,
                "status_changed",
                before={"status": row.status},
                after={"status": chosen.to, "transition": chosen.name},
                reason=reason,
                signature=signature,
                context=context,
            )
        ],
        along=along,
    )
    before = await on_hand.counted(session, row)
    after = await on_hand.counted(session, row, chosen.to)
    await on_hand.one(session, row.type_id, row.location_id, after - before)
    return writes.answer(
        row,
        [writes.read(recorded, row.code, actor, row.location_code)],
        status=chosen.to,
        version=version,
        updated_at=recorded.recorded_at,
    )


# How a refusal names what an expired item may not be (by transition or quantity change).
_VERBS: defaultdict[str, str] = defaultdict(
    lambda: "used", {"dispense": "dispensed", "consume": "consumed"}
)
_QUANTITY_PERMISSION = {
    "dispense": Permission.ITEM_DISPENSE,
    "consume": Permission.ITEM_DISPENSE,
    "receive": Permission.ITEM_QUANTITY,
    "adjust": Permission.ITEM_QUANTITY,
}


async def change_quantity(
    session: AsyncSession,
    *,
    code: str,
    kind: str,
    amount: Decimal,
    actor: Principal,
    reason: str | None,
    context: EventContext,
    settings: Settings | None = None,
) -> ChangeResult:
    """Dispense, consume, receive (each more than 0) or adjust to a counted quantity (0 or
    more); never below zero. An adjustment to what is already there records nothing. An
    expired item is not dispensed or consumed (409 item_expired); `settings` say where the
    site is, for today's date (UTC without them)."""
    permission = _QUANTITY_PERMISSION[kind]
    if not actor.can(permission):
        raise PermissionDenied(details={"missing": [permission.value]})
    if kind != "adjust" and amount <= 0:
        raise ValidationFailed(
            f"The amount to {kind} must be more than 0",
            details=[
                {"loc": ["body", "amount"], "msg": "must be more than 0", "type": "greater_than"}
            ],
        )
    if kind == "adjust" and not reason:
        raise ReasonRequired(
            "An adjustment needs a reason",
            details=[{"loc": ["body", "reason"], "msg": "required", "type": "reason_required"}],
        )
    row = await writes.lock(session, code)
    if not row.tracks_quantity:
        raise QuantityNotTracked(details={"type": row.type_key})
    if kind in ("dispense", "consume"):
        definition = await rules.definition_for(session, row)
        rules.refuse_if_expired(row, definition, rules.site_today(settings), _VERBS[kind])
    current = row.quantity or Decimal(0)
    if kind in ("dispense", "consume"):
        new = current - amount
    elif kind == "receive":
        new = current + amount
    else:
        new = amount
    if new < 0:
        raise InsufficientQuantity(
            f"Only {format_quantity(current, row.unit)} left",
            details={"available": str(current), "requested": str(amount)},
        )
    if new == current and row.quantity is not None:
        return writes.unchanged(row)
    version = row.version + 1

    def counted(recorded: events_service.Recorded) -> list[events_service.Along]:
        # The item's head and quantity with the event, in one statement on PostgreSQL.
        head = {**writes.head(recorded), "new_quantity": new, "new_version": version}
        return [(statements.SET_QUANTITY, head)]

    (recorded,) = await events_service.record(
        session,
        actor,
        [
            writes.entry(
                row,
                "quantity_changed",
                # Only what changed: the unit is the item's and stays as it is.
                before={"quantity": current},
                after={"quantity": new, "kind": kind, "amount": amount},
                reason=reason,
                context=context,
            )
        ],
        along=counted,
    )
    if await on_hand.live(session, row):
        await on_hand.one(session, row.type_id, row.location_id, new - current)
    return writes.answer(
        row,
        [writes.read(recorded, row.code, actor, row.location_code)],
        quantity=new,
        version=version,
        updated_at=recorded.recorded_at,
    )


async def _refuse_if_weighed(
    session: AsyncSession, row: writes.Row, container: writes.Row | None
) -> None:
    """409 container_closed when the item is a closed container, or is in one."""
    for closed in (row, container):
        if closed is not None and await rules.is_closed(session, closed):
            raise ContainerClosed(
                f"{closed.code} is {closed.status.replace('_', ' ')}: the weights of it and "
                "of what it holds stay as they were when it was closed",
                details={"container": closed.code, "status": closed.status},
            )


async def edit_item(
    session: AsyncSession,
    *,
    code: str,
    expected_version: int,
    changes: dict[str, Any],
    actor: Principal,
    reason: str | None,
    context: EventContext,
) -> ChangeResult:
    """Change fields of an item at the version the caller saw; 412 if it has moved on. Only
    fields whose value changes are recorded; an edit that changes nothing records nothing.
    A weight is fixed once it is closed up (409 container_closed): a sealed, dispatched or
    delivered bag's tare, and the weight of what such a bag holds, are its bill's totals."""
    if "weight_kg" in changes:  # the container too, locked first (as a move takes them)
        row, by_id = await moves.lock_with_containers(session, code)
    else:
        row, by_id = await writes.lock(session, code), {}
    if row.version != expected_version:
        raise VersionMismatch(
            details={"current_version": row.version, "expected_version": expected_version}
        )
    item_type = await session.get(ItemType, row.type_id)
    assert item_type is not None  # the row's foreign key
    rules.check_fields(item_type, changes, ["body"])
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(row, key)
        if key == "attributes" and old is None:
            old = {}
        if old != value:
            before[key], after[key] = old, value
    if not after:
        return writes.unchanged(row)
    if "weight_kg" in after:
        await _refuse_if_weighed(session, row, by_id.get(row.parent_id))
    (recorded,) = await events_service.record(
        session,
        actor,
        [writes.entry(row, "edited", before=before, after=after, reason=reason, context=context)],
    )
    version = row.version + 1
    await session.execute(
        statements.set_fields(after),
        {
            **writes.head(recorded),
            **{f"new_{key}": value for key, value in after.items()},
            "new_version": version,
        },
    )
    return writes.answer(
        row,
        [writes.read(recorded, row.code, actor, row.location_code)],
        **after,
        version=version,
        updated_at=recorded.recorded_at,
    )


async def archive_item(
    session: AsyncSession, *, code: str, actor: Principal, reason: str, context: EventContext
) -> ChangeResult:
    """Archive an item (soft delete): it leaves the counts, its history stays. Not while it is
    in a closed container (409 container_closed): what a sealed or dispatched bag holds, and
    so its bill's totals, stay as they are."""
    row, by_id = await moves.lock_with_containers(session, code)
    if row.parent_id is not None:
        await moves.refuse_if_closed(session, by_id[row.parent_id], "archived in")
    (recorded,) = await events_service.record(
        session,
        actor,
        [
            writes.entry(
                row,
                "archived",
                before={"archived": False},
                after={"archived": True},
                reason=reason,
                context=context,
            )
        ],
    )
    version = row.version + 1
    await session.execute(
        statements.SET_ARCHIVED, {**writes.head(recorded), "new_version": version}
    )
    shard = counts.shard_of(row.id)
    await counts.bump_status(session, row.type_id, row.status, -1, shard=shard)
    await counts.bump_location(session, row.location_id, -1, shard=shard)
    await on_hand.one(session, row.type_id, row.location_id, -(await on_hand.counted(session, row)))
    return writes.answer(
        row,
        [writes.read(recorded, row.code, actor, row.location_code)],
        archived=True,
        version=version,
        updated_at=recorded.recorded_at,
    )


async def issue_label(
    session: AsyncSession, settings: Settings, *, code: str, actor: Principal | None
) -> tuple[str, ItemLabel]:
    """Sign a new label for an item (a reprint): its earlier label is revoked. The item's
    code and the label."""
    row = await writes.lock(session, code)
    label = await tokens.issue_label(
        session, settings, item_id=row.id, issued_by=actor.user_id if actor else None
    )
    return row.code, label


async def observe(
    session: AsyncSession,
    *,
    code: str,
    actor: Principal,
    observation: dict[str, Any],
    context: EventContext,
) -> ChangeResult:
    """Record that an item was seen (by a reader, a partner's system...) without changing it.

    Idempotent by the context's client event id: an observation this item already has is not
    recorded twice (no event in the answer then). The caller checks the permission."""
    row = await writes.lock(session, code)
    if context.client_event_id is not None:
        seen = await session.scalar(
            select(Event.id)
            .where(Event.item_id == row.id, Event.client_event_id == context.client_event_id)
            .limit(1)
        )
        if seen is not None:
            return writes.unchanged(row)
    (recorded,) = await events_service.record(
        session, actor, [writes.entry(row, "observed", after=observation, context=context)]
    )
    await writes.move_heads(session, [recorded])
    return writes.answer(
        row,
        [writes.read(recorded, row.code, actor, row.location_code)],
        updated_at=recorded.recorded_at,
    )
