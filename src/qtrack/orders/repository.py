"""Reading orders: the order with its lines and receipts, the list, and the history, each in
a fixed number of queries whatever the size."""

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import User
from qtrack.item_types.models import ItemType
from qtrack.orders.models import RestockOrder, RestockOrderEvent, RestockOrderLine, RestockReceipt
from qtrack.orders.schemas import HistoryRead, LineRead, OrderRead, OrderSummary, ReceiptRead

ZERO = Decimal(0)


def line_read(line: RestockOrderLine, item_type: ItemType) -> LineRead:
    """A line as the API shows it."""
    return LineRead(
        position=line.position,
        type=item_type.key,
        type_name=item_type.name,
        unit=item_type.unit if item_type.tracks_quantity else "items",
        counts_quantity=item_type.tracks_quantity,
        quantity=line.quantity,
        supplier_ref=line.supplier_ref,
        received_quantity=line.received_quantity,
        remaining=max(ZERO, line.quantity - line.received_quantity),
    )


async def lines_of(session: AsyncSession, order_id: int) -> list[tuple[RestockOrderLine, ItemType]]:
    """The order's lines with their item types, in position order (one query)."""
    return (await _lines(session, [order_id])).get(order_id, [])


async def _lines(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[tuple[RestockOrderLine, ItemType]]]:
    rows = await session.execute(
        select(RestockOrderLine, ItemType)
        .join(ItemType, ItemType.id == RestockOrderLine.type_id)
        .where(RestockOrderLine.order_id.in_(order_ids))
        .order_by(RestockOrderLine.order_id, RestockOrderLine.position)
    )
    found: dict[int, list[tuple[RestockOrderLine, ItemType]]] = defaultdict(list)
    for line, item_type in rows:
        found[line.order_id].append((line, item_type))
    return found


async def read(session: AsyncSession, order: RestockOrder) -> OrderRead:
    """The order with its lines and receipts (three queries)."""
    return (await read_many(session, [order]))[0]


async def read_many(session: AsyncSession, orders: Sequence[RestockOrder]) -> list[OrderRead]:
    """Orders with their lines and receipts, in three queries however many (sync pages)."""
    ids = [o.id for o in orders]
    lines = await _lines(session, ids)
    position_of = {line.id: line.position for found in lines.values() for line, _ in found}
    receipts: dict[int, list[ReceiptRead]] = defaultdict(list)
    for r, username in await session.execute(
        select(RestockReceipt, User.username)
        .outerjoin(User, User.id == RestockReceipt.received_by_id)
        .where(RestockReceipt.order_id.in_(ids))
        .order_by(RestockReceipt.id)
    ):
        receipts[r.order_id].append(
            ReceiptRead(
                line=position_of.get(r.line_id, 0),
                quantity=r.quantity,
                gtin=r.gtin,
                batch=r.batch,
                expiry_on=r.expiry_on,
                items=list(r.item_codes),
                reason=r.reason,
                received_by=username,
                received_at=r.received_at,
            )
        )
    creators = {o.created_by_id for o in orders} - {None}
    names: dict[int, str] = {}
    if creators:
        found = await session.execute(select(User.id, User.username).where(User.id.in_(creators)))
        names = dict(found.all())
    return [
        OrderRead(
            id=order.id,
            code=order.code,
            status=order.status,
            supplier=order.supplier,
            notes=order.notes,
            created_by=names.get(order.created_by_id or 0),
            created_at=order.created_at,
            submitted_at=order.submitted_at,
            approved_at=order.approved_at,
            received_at=order.received_at,
            cancelled_at=order.cancelled_at,
            version=order.version,
            lines=[line_read(line, item_type) for line, item_type in lines.get(order.id, [])],
            receipts=receipts.get(order.id, []),
        )
        for order in orders
    ]


def list_conditions(*, status: str | None, q: str | None) -> list[Any]:
    """The WHERE conditions of the orders list's filters (the list and the export share them)."""
    conditions: list[Any] = []
    if status:
        conditions.append(RestockOrder.status == status)
    if q:
        like = f"%{q.strip()}%"
        conditions.append(or_(RestockOrder.code.ilike(like), RestockOrder.supplier.ilike(like)))
    return conditions


def line_count() -> Any:
    """The number of an order's lines, as a scalar subquery correlated with the order."""
    return (
        select(func.count())
        .where(RestockOrderLine.order_id == RestockOrder.id)
        .correlate(RestockOrder)
        .scalar_subquery()
    )


def list_query(*, status: str | None, q: str | None) -> Select[Any]:
    """Orders newest first, with their number of lines, by status and text."""
    return (
        select(RestockOrder, line_count())
        .where(*list_conditions(status=status, q=q))
        .order_by(RestockOrder.id.desc())
    )


def summary_of(order: RestockOrder, lines: int) -> OrderSummary:
    """A row of the list."""
    return OrderSummary(
        id=order.id,
        code=order.code,
        status=order.status,
        supplier=order.supplier,
        lines=lines,
        created_at=order.created_at,
        submitted_at=order.submitted_at,
    )


async def history(session: AsyncSession, order_id: int) -> list[HistoryRead]:
    """The order's own events, oldest first."""
    rows = await session.execute(
        select(RestockOrderEvent, User.username)
        .outerjoin(User, User.id == RestockOrderEvent.actor_id)
        .where(RestockOrderEvent.order_id == order_id)
        .order_by(RestockOrderEvent.id)
    )
    return [
        HistoryRead(type=e.type, actor=name, recorded_at=e.recorded_at, data=e.data)
        for e, name in rows
    ]
