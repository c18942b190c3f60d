"""A bill's steps: issue, dispatch, deliver, cancel.

Dispatch and deliver change every container on the bill in the caller's one transaction:
each container takes its workflow's transition (a bag: sealed -> dispatched) with the bill
named as the reason, and everything inside it gets a `shipment` event naming the bill. All
containers are checked first, so a refusal names every blocking one and changes nothing.
"""

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.ratelimit import RateLimiter
from qtrack.events import service as events_service
from qtrack.events.service import EventContext
from qtrack.items import changes, moves, rules, writes
from qtrack.items.models import Item
from qtrack.shipments.errors import ContainersBlocked, ShipmentEmpty, ShipmentStatusConflict
from qtrack.shipments.models import Shipment, ShipmentLine
from qtrack.shipments.service import DELIVER, DISPATCH, get_shipment, need, record


def _from(shipment: Shipment, *allowed: str, step: str) -> None:
    if shipment.status not in allowed:
        raise ShipmentStatusConflict(
            f"Shipment {shipment.number} is {shipment.status}; it cannot be {step}",
            details={"shipment": shipment.number, "status": shipment.status, "allowed": allowed},
        )


async def _line_codes(session: AsyncSession, shipment: Shipment) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Item.code)
                .join(ShipmentLine, ShipmentLine.item_id == Item.id)
                .where(ShipmentLine.shipment_id == shipment.id)
                .order_by(Item.code)
            )
        ).all()
    )


async def issue(session: AsyncSession, *, ref: str | int, actor: Principal) -> Shipment:
    """Draft -> issued: the bill is complete and may be printed and dispatched."""
    need(actor, Permission.SHIPMENT_ISSUE)
    shipment = await get_shipment(session, ref, lock=True)
    _from(shipment, "draft", step="issued")
    if not await _line_codes(session, shipment):
        raise ShipmentEmpty(f"Shipment {shipment.number} has no containers")
    shipment.status, shipment.issued_at = "issued", utcnow()
    shipment.version += 1
    record(session, shipment, "issued", actor)
    await session.flush()
    return shipment


async def cancel(
    session: AsyncSession, *, ref: str | int, actor: Principal, reason: str | None
) -> Shipment:
    """Draft or issued -> cancelled; its containers are free for another bill."""
    need(actor, Permission.SHIPMENT_CANCEL)
    shipment = await get_shipment(session, ref, lock=True)
    _from(shipment, "draft", "issued", step="cancelled")
    await _release(session, shipment)
    shipment.status, shipment.cancelled_at = "cancelled", utcnow()
    shipment.version += 1
    record(session, shipment, "cancelled", actor, reason=reason)
    await session.flush()
    return shipment


async def _release(session: AsyncSession, shipment: Shipment) -> None:
    await session.execute(
        update(ShipmentLine)
        .where(ShipmentLine.shipment_id == shipment.id)
        .values(open_item_id=None)
        .execution_options(synchronize_session=False)
    )


async def _move_all(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    shipment: Shipment,
    transition: str,
    step: str,
    actor: Principal,
    origin: Origin,
) -> int:
    """Every container takes `transition`, its contents get an event; all or nothing."""
    codes = await _line_codes(session, shipment)
    if not codes:
        raise ShipmentEmpty(f"Shipment {shipment.number} has no containers")
    # Lock in code order (as packing does), then check every one before changing any.
    items = [await writes.lock(session, code) for code in codes]
    if transition == DISPATCH:  # nothing expired leaves, even if it expired on the bill
        today = rules.site_today(settings)
        for item in items:
            await rules.refuse_if_expired_inside(session, item, today, "shipped")
    blocking = []
    for item in items:
        definition = await rules.definition_for(session, item)
        chosen = next(
            (t for t in definition.transitions_from(item.status) if t.name == transition), None
        )
        problem = None
        if transition == DISPATCH and item.parent_id is not None:
            # Packed into another bag since it went on the bill: it travels in that one.
            problem = f"packed inside {item.container_code}"
        elif chosen is None:
            problem = "wrong_state"
        elif not actor.can(chosen.permission):
            problem = f"needs {chosen.permission}"
        elif chosen.signature_required or chosen.distinct_actor:
            problem = "needs a signature or a second person; take that step on the item itself"
        if problem:
            blocking.append({"code": item.code, "status": item.status, "problem": problem})
    if blocking:
        raise ContainersBlocked(
            f"{len(blocking)} container(s) cannot be {step}: "
            + ", ".join(b["code"] for b in blocking),
            details={"shipment": shipment.number, "blocking": blocking},
        )
    reason = f"Shipment {shipment.number} {step}"
    moved = 0
    for item in items:
        await changes.change_status(
            session,
            settings,
            limiter,
            code=item.code,
            transition=transition,
            to=None,
            actor=actor,
            reason=reason,
            password=None,
            origin=origin,
            context=EventContext(),
        )
        inner = await moves.lock_contents(session, item.id)
        after = {"shipment": shipment.number, "step": step, "container": item.code}
        recorded = await events_service.record(
            session,
            actor,
            [writes.entry(row, "shipment", after=after, reason=reason) for row in inner],
        )
        await writes.move_heads(session, recorded)
        moved += len(recorded)
    return moved


async def dispatch(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    ref: str | int,
    actor: Principal,
    origin: Origin,
) -> Shipment:
    """Issued -> dispatched, with every container and its contents, in one transaction."""
    need(actor, Permission.SHIPMENT_DISPATCH)
    shipment = await get_shipment(session, ref, lock=True)
    _from(shipment, "issued", step="dispatched")
    inside = await _move_all(
        session,
        settings,
        limiter,
        shipment=shipment,
        transition=DISPATCH,
        step="dispatched",
        actor=actor,
        origin=origin,
    )
    shipment.status, shipment.dispatched_at = "dispatched", utcnow()
    shipment.version += 1
    record(session, shipment, "dispatched", actor, contents=inside)
    await session.flush()
    return shipment


async def deliver(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    ref: str | int,
    actor: Principal,
    origin: Origin,
) -> Shipment:
    """Dispatched -> delivered, likewise; the containers leave the open bills."""
    need(actor, Permission.SHIPMENT_DISPATCH)
    shipment = await get_shipment(session, ref, lock=True)
    _from(shipment, "dispatched", step="delivered")
    inside = await _move_all(
        session,
        settings,
        limiter,
        shipment=shipment,
        transition=DELIVER,
        step="delivered",
        actor=actor,
        origin=origin,
    )
    await _release(session, shipment)
    shipment.status, shipment.delivered_at = "delivered", utcnow()
    shipment.version += 1
    record(session, shipment, "delivered", actor, contents=inside)
    await session.flush()
    return shipment
