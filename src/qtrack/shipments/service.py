"""Shipment use cases: create, edit, add and remove containers (by code or by scan), list.

A line is a container: an item whose type can contain (`item_type.can_contain`), in a state
its workflow can dispatch from (a transition named `dispatch` leaves it: a sealed bag).
Everything inside it travels with it and is counted in the totals; nothing inside is a line.
The status changes (issue, dispatch, deliver, cancel) are in `actions.py`.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import scan as codes_scan
from qtrack.codes.scan_schemas import ScanRequest
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.digits import id_or_code
from qtrack.core.errors import QtrackError
from qtrack.items import rules, writes
from qtrack.items.models import Item
from qtrack.locations import service as locations_service
from qtrack.shipments import repository
from qtrack.shipments.errors import (
    ContainerAlreadyOnShipment,
    ContainerOnOtherShipment,
    ContainerPacked,
    ContainerWrongState,
    LineNotFound,
    NotAContainer,
    ShipmentNotEditable,
    ShipmentNotFound,
    UnknownCode,
)
from qtrack.shipments.models import Shipment, ShipmentCounter, ShipmentEvent, ShipmentLine
from qtrack.shipments.schemas import (
    ScanBody,
    ScanOutcome,
    ShipmentCreate,
    ShipmentRead,
    ShipmentSummary,
    ShipmentUpdate,
)

NUMBER_PREFIX = "SHP-"
# The transition a line's container takes when the bill is dispatched, and when delivered.
DISPATCH = "dispatch"
DELIVER = "deliver"
OPEN = ("draft", "issued", "dispatched")


def record(
    session: AsyncSession, shipment: Shipment, kind: str, actor: Principal | None, **data: Any
) -> None:
    """Append one event to the bill's own history."""
    session.add(
        ShipmentEvent(
            shipment_id=shipment.id,
            type=kind,
            actor_id=actor.user_id if actor else None,
            recorded_at=utcnow(),
            data=data,
        )
    )


def need(actor: Principal, permission: Permission) -> None:
    """Refuse (403) a caller without the permission: every edge gets the same answer."""
    if not actor.can(permission):
        raise PermissionDenied(details={"missing": [permission.value]})


async def get_shipment(session: AsyncSession, ref: str | int, *, lock: bool = False) -> Shipment:
    """A bill by id, number or QR URL (404 shipment_not_found)."""
    shipment_id, number = id_or_code(ref)
    stmt = select(Shipment).where(
        Shipment.id == shipment_id if shipment_id is not None else Shipment.number == number
    )
    shipment = await session.scalar(stmt.with_for_update() if lock else stmt)
    if shipment is None:
        raise ShipmentNotFound(f"No shipment '{ref}'", details={"shipment": str(ref)})
    return shipment


async def read_shipment(session: AsyncSession, ref: str | int) -> ShipmentRead:
    """The bill with its lines and totals."""
    return await repository.read(session, await get_shipment(session, ref))


async def list_shipments(
    session: AsyncSession, *, status: str | None, q: str | None, limit: int, offset: int
) -> list[ShipmentSummary]:
    """Bills newest first, by status and text."""
    rows = await session.execute(
        repository.list_query(status=status, q=q).limit(limit).offset(offset)
    )
    return [repository.summary_of(s, int(n)) for s, n in rows]


async def _next_number(session: AsyncSession) -> str:
    seq = (
        await session.execute(
            update(ShipmentCounter)
            .where(ShipmentCounter.id == 1)
            .values(last_seq=ShipmentCounter.last_seq + 1)
            .returning(ShipmentCounter.last_seq)
        )
    ).scalar_one()
    return f"{NUMBER_PREFIX}{seq:06d}"


async def _apply(session: AsyncSession, shipment: Shipment, fields: dict[str, Any]) -> None:
    if "destination_location" in fields:
        code = fields.pop("destination_location")
        shipment.destination_location_id = (
            (await locations_service.get_by_code(session, code)).id if code else None
        )
    for name, value in fields.items():
        setattr(shipment, name, value if value is not None else "")


async def create_shipment(
    session: AsyncSession, *, body: ShipmentCreate, actor: Principal
) -> Shipment:
    """A new draft bill with the next number."""
    need(actor, Permission.SHIPMENT_CREATE)
    shipment = Shipment(
        number=await _next_number(session), status="draft", created_by_id=actor.user_id
    )
    await _apply(session, shipment, body.model_dump(exclude_unset=True))
    session.add(shipment)
    await session.flush()
    record(session, shipment, "created", actor, number=shipment.number)
    await session.flush()
    return shipment


def _editable(shipment: Shipment, allowed: tuple[str, ...] = ("draft",)) -> None:
    if shipment.status not in allowed:
        raise ShipmentNotEditable(
            f"Shipment {shipment.number} is {shipment.status}; it cannot be changed",
            details={"shipment": shipment.number, "status": shipment.status},
        )


async def update_shipment(
    session: AsyncSession, *, ref: str | int, body: ShipmentUpdate, actor: Principal
) -> Shipment:
    """Change what was typed on a draft or issued bill."""
    need(actor, Permission.SHIPMENT_CREATE)
    shipment = await get_shipment(session, ref, lock=True)
    _editable(shipment, ("draft", "issued"))
    fields = body.model_dump(exclude_unset=True)
    await _apply(session, shipment, dict(fields))
    shipment.version += 1
    record(session, shipment, "edited", actor, fields=sorted(fields))
    await session.flush()
    return shipment


async def _container(
    session: AsyncSession, settings: Settings, actor: Principal, code: str
) -> writes.Row:
    """The item a scanned code names, locked, checked to be a container that can ship."""
    result, hit = await codes_scan.resolve(session, settings, actor, ScanRequest(data=code))
    if hit is None:
        raise UnknownCode(
            f"'{code}' names no item: {result.message}",
            details={"code": code, "label_status": result.label_status},
        )
    # Locking the container makes two bills racing for it take turns: the second sees the
    # first's line once it commits (and the unique open line refuses it if it ever does not).
    item = await writes.lock(session, hit.code)
    if not item.can_contain:
        raise NotAContainer(
            f"{item.code} ({item.type_key}) is not a container", details={"code": item.code}
        )
    if item.parent_id is not None:
        # It travels in its container: as a line too, its contents would be on two bills.
        raise ContainerPacked(
            f"{item.code} is packed inside {item.container_code}: put that on the bill, "
            "or take it out first",
            details={"code": item.code, "container": item.container_code},
        )
    definition = await rules.definition_for(session, item)
    if not any(t.name == DISPATCH for t in definition.transitions_from(item.status)):
        raise ContainerWrongState(
            f"{item.code} is {item.status}; it cannot be shipped from that state",
            details={"code": item.code, "status": item.status},
        )
    return item


async def _open_line_of(session: AsyncSession, item_id: int) -> tuple[int, str] | None:
    row = (
        await session.execute(
            select(Shipment.id, Shipment.number)
            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .where(ShipmentLine.open_item_id == item_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _open_line_inside(session: AsyncSession, item_id: int) -> tuple[str, str] | None:
    """A container inside this one (at any depth) that is on an open bill: its code and the
    bill's number; None when there is none."""
    frontier = [item_id]
    while frontier:
        row = (
            await session.execute(
                select(Item.code, Shipment.number)
                .join(ShipmentLine, ShipmentLine.open_item_id == Item.id)
                .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                .where(Item.parent_id.in_(frontier))
                .limit(1)
            )
        ).first()
        if row is not None:
            return row[0], row[1]
        frontier = list(
            (await session.scalars(select(Item.id).where(Item.parent_id.in_(frontier)))).all()
        )
    return None


async def add_line(
    session: AsyncSession,
    settings: Settings,
    *,
    ref: str | int,
    code: str,
    expected_weight_kg: Decimal | None,
    actor: Principal,
) -> tuple[Shipment, str]:
    """Put a container (and so everything in it) on a draft bill."""
    need(actor, Permission.SHIPMENT_CREATE)
    shipment = await get_shipment(session, ref, lock=True)
    _editable(shipment)
    item = await _container(session, settings, actor, code)
    await rules.refuse_if_expired_inside(session, item, rules.site_today(settings), "shipped")
    taken = await _open_line_of(session, item.id)
    if taken is not None:
        if taken[0] == shipment.id:
            raise ContainerAlreadyOnShipment(
                f"{item.code} is already on {shipment.number}",
                details={"code": item.code, "shipment": shipment.number},
            )
        raise ContainerOnOtherShipment(
            f"{item.code} is already on shipment {taken[1]}",
            details={"code": item.code, "shipment": taken[1]},
        )
    inside = await _open_line_inside(session, item.id)
    if inside is not None:
        raise ContainerOnOtherShipment(
            f"{item.code} holds {inside[0]}, which is already on shipment {inside[1]}",
            details={"code": item.code, "inside": inside[0], "shipment": inside[1]},
        )
    position = (
        await session.scalar(
            select(func.coalesce(func.max(ShipmentLine.position), 0)).where(
                ShipmentLine.shipment_id == shipment.id
            )
        )
        or 0
    ) + 1
    try:
        async with session.begin_nested():
            session.add(
                ShipmentLine(
                    shipment_id=shipment.id,
                    item_id=item.id,
                    open_item_id=item.id,
                    position=position,
                    expected_weight_kg=expected_weight_kg,
                    added_by_id=actor.user_id,
                    added_at=utcnow(),
                )
            )
    except IntegrityError:
        raise ContainerOnOtherShipment(
            f"{item.code} was just put on another shipment", details={"code": item.code}
        ) from None
    shipment.version += 1
    record(session, shipment, "line_added", actor, code=item.code)
    await session.flush()
    return shipment, item.code


async def remove_line(
    session: AsyncSession, *, ref: str | int, code: str | None, actor: Principal
) -> tuple[Shipment, str]:
    """Take a container off a draft bill (None: the last one added)."""
    need(actor, Permission.SHIPMENT_CREATE)
    shipment = await get_shipment(session, ref, lock=True)
    _editable(shipment)
    stmt = (
        select(ShipmentLine, Item.code)
        .join(Item, Item.id == ShipmentLine.item_id)
        .where(ShipmentLine.shipment_id == shipment.id)
    )
    if code is None:
        stmt = stmt.order_by(ShipmentLine.position.desc()).limit(1)
    else:
        stmt = stmt.where(Item.code == code.strip().upper())
    row = (await session.execute(stmt)).first()
    if row is None:
        raise LineNotFound(
            f"{code or 'Nothing'} is not on {shipment.number}",
            details={"code": code, "shipment": shipment.number},
        )
    line, item_code = row
    await session.delete(line)
    shipment.version += 1
    record(session, shipment, "line_removed", actor, code=item_code)
    await session.flush()
    return shipment, item_code


async def scan(
    session: AsyncSession, settings: Settings, *, ref: str | int, body: ScanBody, actor: Principal
) -> ScanOutcome:
    """One scan on the bill's screen: add the container, or undo the last line. A refusal is
    an answer, not an error, and is kept in the bill's history (the daily summary counts it)."""
    shipment = await get_shipment(session, ref, lock=True)
    try:
        async with session.begin_nested():
            if body.undo or not body.data:
                _, code = await remove_line(session, ref=shipment.id, code=None, actor=actor)
                outcome, message = "removed", f"{code} taken off {shipment.number}"
            else:
                _, code = await add_line(
                    session,
                    settings,
                    ref=shipment.id,
                    code=body.data,
                    expected_weight_kg=None,
                    actor=actor,
                )
                outcome, message = "added", f"{code} added to {shipment.number}"
    except QtrackError as refused:
        if refused.status_code >= 500 or refused.status_code in (401, 403):
            raise
        data = body.data or ""
        record(session, shipment, "scan_refused", actor, data=data[:200], error=refused.code)
        await session.flush()
        return ScanOutcome(
            outcome="refused",
            code=(refused.details or {}).get("code") if isinstance(refused.details, dict) else None,
            error=refused.code,
            message=refused.message,
            details=refused.details,
            shipment=await repository.read(session, shipment),
        )
    return ScanOutcome(
        outcome=outcome,
        code=code,
        message=message,
        shipment=await repository.read(session, shipment),
    )
