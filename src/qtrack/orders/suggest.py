"""Suggest an order: a draft with a line for every item type below its reorder level.

The low-stock list (`stock.service.list_stock(low=True)`, maintained rows only, never a count
of items) says what is low or out, overall and at each location with levels. A type's need
is what brings it back up to its level: the reorder level (the minimum where only that is
set) less what is on hand, overall, or summed over its locations when those need more. What
is still to come on open orders (draft to partly received) is taken off, so suggesting twice
does not order twice, even at once (suggestions take turns on the order numbering's lock).
Types counted by piece are ordered in whole items, rounded up. Critical types come first;
each line keeps the supplier reference last used for its type.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.item_types.models import ItemType
from qtrack.orders.errors import NothingToOrder
from qtrack.orders.models import RestockOrder, RestockOrderLine
from qtrack.orders.schemas import LineCreate, SuggestBody
from qtrack.orders.service import add_lines, lock_numbering, need, new_order
from qtrack.stock import service as stock_service
from qtrack.stock.schemas import StockRead

OPEN = ("draft", "submitted", "approved", "partly_received")
_ZERO = Decimal(0)


@dataclass
class Need:
    """What one item type lacks: overall, and summed over the locations that lack some."""

    critical: bool
    overall: Decimal = _ZERO
    local: Decimal = _ZERO

    @property
    def amount(self) -> Decimal:
        return max(self.overall, self.local)


def shortfall(row: StockRead) -> Decimal:
    """How much brings a low or out row back up to its level (0 when it is at it)."""
    target = row.reorder_level if row.reorder_level is not None else row.minimum_level
    if target is None:
        return _ZERO
    return max(target - row.on_hand, _ZERO)


async def _outstanding(session: AsyncSession, type_keys: list[str]) -> dict[str, Decimal]:
    """Per type: what open orders still wait for (ordered less received, never below 0)."""
    left = RestockOrderLine.quantity - RestockOrderLine.received_quantity
    rows = await session.execute(
        select(ItemType.key, func.sum(left))
        .join(RestockOrderLine, RestockOrderLine.type_id == ItemType.id)
        .join(RestockOrder, RestockOrder.id == RestockOrderLine.order_id)
        .where(
            RestockOrder.status.in_(OPEN),
            ItemType.key.in_(type_keys),
            RestockOrderLine.quantity > RestockOrderLine.received_quantity,
        )
        .group_by(ItemType.key)
    )
    return {key: Decimal(total or 0) for key, total in rows}


async def _last_refs(session: AsyncSession, type_keys: list[str]) -> dict[str, str]:
    """Per type: the supplier reference of its newest order line that has one."""
    newest = (
        select(func.max(RestockOrderLine.id))
        .join(ItemType, ItemType.id == RestockOrderLine.type_id)
        .where(ItemType.key.in_(type_keys), RestockOrderLine.supplier_ref != "")
        .group_by(RestockOrderLine.type_id)
    )
    rows = await session.execute(
        select(ItemType.key, RestockOrderLine.supplier_ref)
        .join(ItemType, ItemType.id == RestockOrderLine.type_id)
        .where(RestockOrderLine.id.in_(newest))
    )
    return {str(key): str(ref) for key, ref in rows}


async def suggested_lines(
    session: AsyncSession, *, category: str | None = None
) -> list[LineCreate]:
    """The lines a suggested order would have: critical types first, then by key."""
    needs: dict[str, Need] = {}
    for row in await stock_service.list_stock(session, low=True, category=category):
        lack = shortfall(row)
        if not lack:
            continue
        need_of = needs.setdefault(row.type, Need(critical=row.critical))
        if row.location is None:
            need_of.overall = lack
        else:
            need_of.local += lack
    if not needs:
        return []
    keys = sorted(needs)
    outstanding = await _outstanding(session, keys)
    refs = await _last_refs(session, keys)
    counted = set(
        await session.scalars(
            select(ItemType.key).where(ItemType.key.in_(keys), ItemType.tracks_quantity)
        )
    )
    lines: list[tuple[bool, str, LineCreate]] = []
    for key in keys:
        amount = needs[key].amount - outstanding.get(key, _ZERO)
        if key not in counted:
            amount = amount.to_integral_value(rounding=ROUND_CEILING)
        if amount <= 0:
            continue
        line = LineCreate(type=key, quantity=amount, supplier_ref=refs.get(key, ""))
        lines.append((not needs[key].critical, key, line))
    lines.sort(key=lambda t: (t[0], t[1]))
    return [line for _, _, line in lines]


async def suggest_order(
    session: AsyncSession, *, body: SuggestBody, actor: Principal
) -> RestockOrder:
    """Draft an order for everything below its reorder level, up to its level; 409
    nothing_to_order when nothing is (or all of it is already on order)."""
    need(actor, Permission.ORDER_CREATE)
    # Twin suggestions take turns, so the second sees the first's draft as on order and
    # does not order the same again.
    await lock_numbering(session)
    lines = await suggested_lines(session, category=body.category)
    if not lines:
        where = f" in category {body.category}" if body.category else ""
        raise NothingToOrder(
            f"Nothing{where} is below its reorder level that is not already on order",
            details={"category": body.category},
        )
    order = await new_order(
        session,
        actor=actor,
        supplier=body.supplier,
        notes=body.notes,
        suggested=True,
        category=body.category,
    )
    await add_lines(session, order, lines, actor)
    return order
