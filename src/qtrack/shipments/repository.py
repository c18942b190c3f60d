"""Reading shipments: their lines with what is inside each container, the derived totals,
the list, and the history. Everything in a fixed number of queries, whatever the size."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.accounts.models import User
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.locations.models import Location
from qtrack.shipments.models import Shipment, ShipmentEvent, ShipmentLine
from qtrack.shipments.schemas import (
    HistoryRead,
    LineRead,
    ShipmentRead,
    ShipmentSummary,
    Totals,
    TypeTotal,
)

# Ids per IN list: well under SQLite's and asyncpg's parameter limits.
CHUNK = 2000
ZERO = Decimal(0)


@dataclass
class _Load:
    """What one container carries: its items at any depth, their weight, by type."""

    items: int = 0
    net: Decimal | None = None
    by_type: dict[str, list[Any]] = field(default_factory=dict)


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return total
    return value if total is None else total + value


async def _contents(session: AsyncSession, roots: Sequence[int]) -> dict[int, _Load]:
    """For each container, what is inside it at any depth: one query per level of nesting."""
    loads = {root: _Load() for root in roots}
    root_of = {root: root for root in roots}
    frontier = list(roots)
    while frontier:
        next_frontier: list[int] = []
        for start in range(0, len(frontier), CHUNK):
            rows = await session.execute(
                select(Item.id, Item.parent_id, Item.weight_kg, ItemType.key)
                .join(ItemType, ItemType.id == Item.type_id)
                .where(
                    Item.parent_id.in_(frontier[start : start + CHUNK]), Item.archived.is_(False)
                )
            )
            for item_id, parent_id, weight, type_key in rows:
                if item_id in root_of:  # a cycle cannot be packed, but never loop on one
                    continue
                root = root_of[parent_id or 0]
                root_of[item_id] = root
                load = loads[root]
                load.items += 1
                load.net = _add(load.net, weight)
                entry = load.by_type.setdefault(type_key, [0, None])
                entry[0] += 1
                entry[1] = _add(entry[1], weight)
                next_frontier.append(item_id)
        frontier = next_frontier
    return loads


async def lines_and_totals(
    session: AsyncSession, shipment_id: int
) -> tuple[list[LineRead], Totals]:
    """The bill's lines with their weights, and the totals derived from them."""
    rows = (
        await session.execute(
            select(
                ShipmentLine.position,
                ShipmentLine.expected_weight_kg,
                ShipmentLine.added_at,
                Item.id,
                Item.code,
                Item.status,
                Item.weight_kg,
                ItemType.key,
            )
            .join(Item, Item.id == ShipmentLine.item_id)
            .join(ItemType, ItemType.id == Item.type_id)
            .where(ShipmentLine.shipment_id == shipment_id)
            .order_by(ShipmentLine.position)
        )
    ).all()
    loads = await _contents(session, [r.id for r in rows])
    lines: list[LineRead] = []
    by_type: dict[str, list[Any]] = defaultdict(lambda: [0, None])
    items, net, gross = 0, ZERO, ZERO
    expected_sum: Decimal | None = None
    difference: Decimal | None = None
    for r in rows:
        load = loads[r.id]
        line_gross = _add(load.net, r.weight_kg)
        diff = (
            line_gross - r.expected_weight_kg
            if line_gross is not None and r.expected_weight_kg is not None
            else None
        )
        lines.append(
            LineRead(
                position=r.position,
                code=r.code,
                type=r.key,
                status=r.status,
                items=load.items,
                tare_kg=r.weight_kg,
                net_kg=load.net,
                gross_kg=line_gross,
                expected_weight_kg=r.expected_weight_kg,
                difference_kg=diff,
                added_at=r.added_at,
            )
        )
        items += load.items
        net += load.net or ZERO
        gross += line_gross or ZERO
        expected_sum = _add(expected_sum, r.expected_weight_kg)
        difference = _add(difference, diff)
        for key, (count, weight) in load.by_type.items():
            by_type[key][0] += count
            by_type[key][1] = _add(by_type[key][1], weight)
    totals = Totals(
        containers=len(rows),
        items=items,
        net_kg=net,
        gross_kg=gross,
        by_type=[
            TypeTotal(type=key, items=count, net_kg=weight)
            for key, (count, weight) in sorted(by_type.items())
        ],
        expected_kg=expected_sum,
        difference_kg=difference,
    )
    return lines, totals


async def read(session: AsyncSession, shipment: Shipment) -> ShipmentRead:
    """The whole bill as the API shows it."""
    lines, totals = await lines_and_totals(session, shipment.id)
    location = (
        await session.scalar(
            select(Location.code).where(Location.id == shipment.destination_location_id)
        )
        if shipment.destination_location_id
        else None
    )
    creator = (
        await session.scalar(select(User.username).where(User.id == shipment.created_by_id))
        if shipment.created_by_id
        else None
    )
    return ShipmentRead(
        id=shipment.id,
        number=shipment.number,
        status=shipment.status,
        consignee=shipment.consignee,
        destination=shipment.destination,
        destination_location=location,
        carrier=shipment.carrier,
        vehicle=shipment.vehicle,
        notes=shipment.notes,
        created_by=creator,
        created_at=shipment.created_at,
        issued_at=shipment.issued_at,
        dispatched_at=shipment.dispatched_at,
        delivered_at=shipment.delivered_at,
        cancelled_at=shipment.cancelled_at,
        version=shipment.version,
        lines=lines,
        totals=totals,
    )


def list_conditions(*, status: str | None, q: str | None) -> list[Any]:
    """The WHERE conditions of the bills list's filters (the list and the export share them)."""
    conditions: list[Any] = []
    if status:
        conditions.append(Shipment.status == status)
    if q:
        pattern = f"%{q.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(Shipment.number).like(pattern),
                func.lower(Shipment.consignee).like(pattern),
                func.lower(Shipment.destination).like(pattern),
                func.lower(Shipment.carrier).like(pattern),
                func.lower(Shipment.vehicle).like(pattern),
            )
        )
    return conditions


def list_query(*, status: str | None, q: str | None) -> Select[Shipment, Any]:
    """Shipments newest first, with their number of containers, filtered."""
    counts = (
        select(ShipmentLine.shipment_id, func.count().label("n"))
        .group_by(ShipmentLine.shipment_id)
        .subquery()
    )
    return (
        select(Shipment, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.shipment_id == Shipment.id)
        .where(*list_conditions(status=status, q=q))
        .order_by(Shipment.id.desc())
    )


def summary_of(shipment: Shipment, containers: int) -> ShipmentSummary:
    """One row of the list."""
    return ShipmentSummary(
        id=shipment.id,
        number=shipment.number,
        status=shipment.status,
        consignee=shipment.consignee,
        destination=shipment.destination,
        carrier=shipment.carrier,
        vehicle=shipment.vehicle,
        containers=containers,
        created_at=shipment.created_at,
        issued_at=shipment.issued_at,
        dispatched_at=shipment.dispatched_at,
    )


async def history(session: AsyncSession, shipment_id: int) -> list[HistoryRead]:
    """The bill's own events, oldest first."""
    actor = aliased(User)
    rows = await session.execute(
        select(ShipmentEvent, actor.username)
        .outerjoin(actor, actor.id == ShipmentEvent.actor_id)
        .where(ShipmentEvent.shipment_id == shipment_id)
        .order_by(ShipmentEvent.id)
    )
    return [
        HistoryRead(type=e.type, actor=name, recorded_at=e.recorded_at, data=e.data)
        for e, name in rows
    ]
