"""Changes an item goes through on the floor: transitions, moves, quantities.

Every function locks the item, applies the rules, changes the row, keeps the counts in step
and appends one event per changed item, all in the caller's transaction.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.quantities import format_quantity
from qtrack.core.ratelimit import RateLimiter
from qtrack.events import service as events_service
from qtrack.events.models import Event
from qtrack.events.service import EventContext, Signature
from qtrack.inventory import service as inventory_service
from qtrack.items.errors import (
    InsufficientQuantity,
    QuantityNotTracked,
    ReasonRequired,
    SamePerson,
    SignatureRequired,
    TransitionNotAllowed,
)
from qtrack.items.models import Item
from qtrack.items.service import lock_item, transitions_open
from qtrack.locations import service as locations_service
from qtrack.workflow import service as workflow_service
from qtrack.workflow.schemas import Transition, WorkflowDefinition


def allowed_transitions(item: Item, principal: Principal) -> list[Transition]:
    """The transitions this caller may take from the item's current state."""
    definition = workflow_service.definition_of(item.type.workflow)
    return transitions_open(definition, item.status, item.archived, principal)


async def check_transition(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    definition: WorkflowDefinition,
    item_id: int,
    status: str,
    transition: str | None,
    to: str | None,
    actor: Principal,
    reason: str | None,
    password: str | None,
    origin: Origin,
) -> tuple[Transition, Signature | None]:
    """The transition asked for from this state, checked against every rule (permission,
    reason, four eyes, e-signature), and the signature given for it."""
    possible = definition.transitions_from(status)
    chosen = next(
        (t for t in possible if (transition and t.name == transition) or (to and t.to == to)), None
    )
    if chosen is None:
        raise TransitionNotAllowed(
            f"'{transition or to}' is not possible from '{status}'",
            details={
                "status": status,
                "allowed": [
                    {"name": t.name, "to": t.to} for t in possible if actor.can(t.permission)
                ],
            },
        )
    if not actor.can(chosen.permission):
        raise PermissionDenied(
            f"'{chosen.name}' needs the permission {chosen.permission}",
            details={"missing": [chosen.permission]},
        )
    if chosen.reason_required and not reason:
        raise ReasonRequired(
            f"'{chosen.name}' needs a reason",
            details=[{"loc": ["body", "reason"], "msg": "required", "type": "reason_required"}],
        )
    if chosen.distinct_actor:
        previous = await events_service.last_status_actor(session, item_id)
        if previous == actor.user.id:
            raise SamePerson(f"You made the previous step; '{chosen.name}' needs someone else")
    signature = None
    if chosen.signature_required:
        if not password:
            raise SignatureRequired(
                details=[
                    {
                        "loc": ["body", "password"],
                        "msg": "required to sign",
                        "type": "signature_required",
                    }
                ]
            )
        meaning = chosen.signature_meaning or chosen.display
        signed_at = await accounts_service.verify_signature(
            session,
            user=actor.user,
            password=password,
            meaning=meaning,
            limiter=limiter,
            settings=settings,
            origin=origin,
        )
        signature = Signature(user_id=actor.user.id, meaning=meaning, signed_at=signed_at)
    return chosen, signature


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
) -> tuple[Item, list[Event]]:
    """Move an item to another state of its workflow and record the event."""
    item = await lock_item(session, code)
    chosen, signature = await check_transition(
        session,
        settings,
        limiter,
        definition=workflow_service.definition_of(item.type.workflow),
        item_id=item.id,
        status=item.status,
        transition=transition,
        to=to,
        actor=actor,
        reason=reason,
        password=password,
        origin=origin,
    )
    before = item.status
    item.status = chosen.to
    item.version += 1
    event = events_service.append(
        session,
        item=item,
        kind="status_changed",
        actor=actor,
        before={"status": before},
        after={"status": chosen.to, "transition": chosen.name},
        reason=reason,
        signature=signature,
        context=context,
    )
    await session.flush()
    # Last, right before the commit: the shared counter rows stay locked as briefly as can be.
    await inventory_service.status_changed(
        session, item.type_id, before, chosen.to, shard=inventory_service.shard_of(item.id)
    )
    return item, [event]


async def descendants(session: AsyncSession, item_id: int) -> list[Item]:
    """Everything packed inside an item, at any depth, locked for this transaction."""
    found: list[Item] = []
    frontier = [item_id]
    while frontier:
        children = (
            await session.scalars(
                select(Item).where(Item.parent_id.in_(frontier)).order_by(Item.id).with_for_update()
            )
        ).all()
        found.extend(children)
        frontier = [c.id for c in children]
    return found


async def move(
    session: AsyncSession,
    *,
    code: str,
    location: str,
    actor: Principal,
    reason: str | None,
    context: EventContext,
) -> tuple[Item, list[Event]]:
    """Put an item at a location; what it contains goes with it. A packed item taken
    elsewhere leaves its container."""
    if not actor.can(Permission.ITEM_MOVE):
        raise PermissionDenied(details={"missing": [Permission.ITEM_MOVE.value]})
    item = await lock_item(session, code)
    target = await locations_service.get_by_code(session, location)
    events: list[Event] = []
    old_codes = await locations_service.codes_by_id(
        session, [item.location_id] if item.location_id else []
    )

    before: dict[str, object] = {"location": old_codes.get(item.location_id or 0)}
    after: dict[str, object] = {"location": target.code}
    if item.parent_id is not None:
        parent_code = await session.scalar(select(Item.code).where(Item.id == item.parent_id))
        before["container"], after["container"] = parent_code, None
        item.parent_id = None
    if before == after:
        return item, []
    moved: list[tuple[int | None, int, int]] = [(item.location_id, target.id, item.id)]
    item.location_id = target.id
    item.version += 1
    events.append(
        events_service.append(
            session,
            item=item,
            kind="moved",
            actor=actor,
            before=before,
            after=after,
            reason=reason,
            context=context,
        )
    )
    events += await move_contents(
        session,
        item_id=item.id,
        item_code=item.code,
        target_id=target.id,
        target_code=target.code,
        actor=actor,
        context=context,
        moved=moved,
    )
    # Last: the shared counter rows stay locked as briefly as can be.
    for old, new, moved_id in moved:
        await inventory_service.location_changed(
            session, old, new, shard=inventory_service.shard_of(moved_id)
        )
    return item, events


async def move_contents(
    session: AsyncSession,
    *,
    item_id: int,
    item_code: str,
    target_id: int,
    target_code: str,
    actor: Principal,
    context: EventContext,
    moved: list[tuple[int | None, int, int]],
) -> list[Event]:
    """Take everything packed inside an item to the item's new place, one event each; notes
    each (old location, new location, item id) in `moved` for the counts."""
    inner_items = [i for i in await descendants(session, item_id) if i.location_id != target_id]
    inner_codes = await locations_service.codes_by_id(
        session, {i.location_id for i in inner_items if i.location_id is not None}
    )
    events = []
    for inner in inner_items:
        inner_before = {"location": inner_codes.get(inner.location_id or 0)}
        moved.append((inner.location_id, target_id, inner.id))
        inner.location_id = target_id
        inner.version += 1
        events.append(
            events_service.append(
                session,
                item=inner,
                kind="moved",
                actor=actor,
                before=inner_before,
                after={"location": target_code, "with": item_code},
                reason=f"moved with {item_code}",
                context=EventContext(occurred_at=context.occurred_at),
            )
        )
    await session.flush()
    return events


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
) -> tuple[Item, list[Event]]:
    """Dispense, consume, receive or adjust (recount) an item's quantity; never below zero."""
    permission = _QUANTITY_PERMISSION[kind]
    if not actor.can(permission):
        raise PermissionDenied(details={"missing": [permission.value]})
    if kind == "adjust" and not reason:
        raise ReasonRequired(
            "An adjustment needs a reason",
            details=[{"loc": ["body", "reason"], "msg": "required", "type": "reason_required"}],
        )
    item = await lock_item(session, code)
    if not item.type.tracks_quantity:
        raise QuantityNotTracked(details={"type": item.type.key})
    current = item.quantity or Decimal(0)
    if kind in ("dispense", "consume"):
        new = current - amount
    elif kind == "receive":
        new = current + amount
    else:
        new = amount
    if new < 0:
        raise InsufficientQuantity(
            f"Only {format_quantity(current, item.unit)} left",
            details={"available": str(current), "requested": str(amount)},
        )
    # A plain UPDATE with the new value: the row is locked, so no other writer raced us.
    await session.execute(update(Item).where(Item.id == item.id).values(quantity=new))
    item.quantity = new
    item.version += 1
    event = events_service.append(
        session,
        item=item,
        kind="quantity_changed",
        actor=actor,
        before={"quantity": current, "unit": item.unit},
        after={"quantity": new, "unit": item.unit, "kind": kind, "amount": amount},
        reason=reason,
        context=context,
    )
    await session.flush()
    return item, [event]


async def observe(
    session: AsyncSession,
    *,
    code: str,
    actor: Principal,
    observation: dict[str, Any],
    context: EventContext,
) -> tuple[Item, list[Event]]:
    """Record that an item was seen (by a reader, a partner's system...) without changing it.

    Idempotent by the context's client event id: an observation this item already has is not
    recorded twice (no event is returned then). The caller checks the permission.
    """
    item = await lock_item(session, code)
    if context.client_event_id is not None:
        seen = await session.scalar(
            select(Event.id)
            .where(Event.item_id == item.id, Event.client_event_id == context.client_event_id)
            .limit(1)
        )
        if seen is not None:
            return item, []
    event = events_service.append(
        session, item=item, kind="observed", actor=actor, after=observation, context=context
    )
    await session.flush()
    return item, [event]
