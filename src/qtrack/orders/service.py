"""Order use cases: create, read, list, and change a draft's lines.

Every edge (API, pages, CLI) calls these; each checks its permission itself, so all of them
get the same refusals. The steps (submit, approve, cancel) are in `actions.py`, receiving
in `receiving.py`.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.digits import id_or_code
from qtrack.item_types import service as item_types
from qtrack.orders import repository
from qtrack.orders.errors import (
    OrderLineNotFound,
    OrderNotEditable,
    OrderNotFound,
    OrderVersionMismatch,
)
from qtrack.orders.models import (
    RestockOrder,
    RestockOrderCounter,
    RestockOrderEvent,
    RestockOrderLine,
)
from qtrack.orders.schemas import LineCreate, LineUpdate, OrderCreate, OrderRead, OrderSummary

CODE_PREFIX = "ORD-"


def record(
    session: AsyncSession, order: RestockOrder, kind: str, actor: Principal | None, **data: Any
) -> None:
    """Append one event to the order's own history."""
    session.add(
        RestockOrderEvent(
            order_id=order.id,
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


async def get_order(
    session: AsyncSession,
    ref: str | int,
    *,
    lock: bool = False,
    expected_version: int | None = None,
) -> RestockOrder:
    """An order by id, code or QR URL (404 order_not_found); `lock` takes its row lock,
    which every change holds, so two changes of one order take turns; `expected_version`
    (an If-Match) refuses with 412 an order changed since the caller read it."""
    order_id, code = id_or_code(ref)
    stmt = select(RestockOrder).where(
        RestockOrder.id == order_id if order_id is not None else RestockOrder.code == code
    )
    order = await session.scalar(stmt.with_for_update() if lock else stmt)
    if order is None:
        raise OrderNotFound(f"No order '{ref}'", details={"order": str(ref)})
    check_version(order, expected_version)
    return order


def check_version(order: RestockOrder, expected_version: int | None) -> None:
    """Refuse (412 version_mismatch) when the caller read an earlier version of the order."""
    if expected_version is not None and expected_version != order.version:
        raise OrderVersionMismatch(
            f"Order {order.code} is at version {order.version}, not {expected_version}: "
            "read it again",
            details={"order": order.code, "version": order.version, "expected": expected_version},
        )


async def read_order(session: AsyncSession, ref: str | int, *, actor: Principal) -> OrderRead:
    """The order with its lines and receipts."""
    need(actor, Permission.ORDER_READ)
    return await repository.read(session, await get_order(session, ref))


async def list_orders(
    session: AsyncSession,
    *,
    actor: Principal,
    status: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OrderSummary]:
    """Orders newest first, by status and text."""
    need(actor, Permission.ORDER_READ)
    rows = await session.execute(
        repository.list_query(status=status, q=q).limit(limit).offset(offset)
    )
    return [repository.summary_of(order, int(n)) for order, n in rows]


async def lock_numbering(session: AsyncSession) -> None:
    """Take the order number series' row lock until the transaction ends: whoever must see
    every order drafted before it (a suggestion, which orders what open orders do not yet
    cover) takes turns with the others that way. SQLite's BEGIN IMMEDIATE already does."""
    await session.execute(
        select(RestockOrderCounter.id).where(RestockOrderCounter.id == 1).with_for_update()
    )


async def _next_code(session: AsyncSession) -> str:
    seq = (
        await session.execute(
            update(RestockOrderCounter)
            .where(RestockOrderCounter.id == 1)
            .values(last_seq=RestockOrderCounter.last_seq + 1)
            .returning(RestockOrderCounter.last_seq)
        )
    ).scalar_one()
    return f"{CODE_PREFIX}{seq:06d}"


async def new_order(
    session: AsyncSession, *, actor: Principal, supplier: str = "", notes: str = "", **data: Any
) -> RestockOrder:
    """A new empty draft with the next code (the caller checked the permission)."""
    order = RestockOrder(
        code=await _next_code(session),
        status="draft",
        supplier=supplier,
        notes=notes,
        created_by_id=actor.user_id,
    )
    session.add(order)
    await session.flush()
    record(session, order, "created", actor, code=order.code, **data)
    return order


async def create_order(
    session: AsyncSession, *, body: OrderCreate, actor: Principal
) -> RestockOrder:
    """A new draft order with the next code, and the lines given."""
    need(actor, Permission.ORDER_CREATE)
    order = await new_order(session, actor=actor, supplier=body.supplier, notes=body.notes)
    await add_lines(session, order, body.lines, actor)
    return order


async def add_lines(
    session: AsyncSession, order: RestockOrder, lines: list[LineCreate], actor: Principal
) -> None:
    """Add lines to a new draft, in order (the caller checked the permission)."""
    for line in lines:
        await _add(session, order, line, actor)
    await session.flush()


def editable(order: RestockOrder) -> None:
    """Refuse (409 order_not_editable) unless the order is a draft."""
    if order.status != "draft":
        raise OrderNotEditable(
            f"Order {order.code} is {order.status}; its lines can no longer be changed",
            details={"order": order.code, "status": order.status},
        )


async def _add(
    session: AsyncSession, order: RestockOrder, body: LineCreate, actor: Principal
) -> RestockOrderLine:
    item_type = await item_types.get_item_type(session, body.type)
    position = (
        await session.scalar(
            select(func.coalesce(func.max(RestockOrderLine.position), 0)).where(
                RestockOrderLine.order_id == order.id
            )
        )
        or 0
    ) + 1
    line = RestockOrderLine(
        order_id=order.id,
        position=position,
        type_id=item_type.id,
        quantity=body.quantity,
        supplier_ref=body.supplier_ref,
        received_quantity=Decimal(0),
    )
    session.add(line)
    await session.flush()
    record(
        session,
        order,
        "line_added",
        actor,
        line=position,
        type=item_type.key,
        quantity=str(body.quantity),
        supplier_ref=body.supplier_ref,
    )
    return line


async def add_line(
    session: AsyncSession,
    *,
    ref: str | int,
    body: LineCreate,
    actor: Principal,
    expected_version: int | None = None,
) -> RestockOrder:
    """Add a line to a draft."""
    need(actor, Permission.ORDER_CREATE)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    editable(order)
    await _add(session, order, body, actor)
    order.version += 1
    await session.flush()
    return order


async def _line(session: AsyncSession, order: RestockOrder, position: int) -> RestockOrderLine:
    line = await session.scalar(
        select(RestockOrderLine).where(
            RestockOrderLine.order_id == order.id, RestockOrderLine.position == position
        )
    )
    if line is None:
        raise OrderLineNotFound(
            f"Order {order.code} has no line {position}",
            details={"order": order.code, "line": position},
        )
    return line


async def update_line(
    session: AsyncSession,
    *,
    ref: str | int,
    position: int,
    body: LineUpdate,
    actor: Principal,
    expected_version: int | None = None,
) -> RestockOrder:
    """Change a draft's line (only the fields sent)."""
    need(actor, Permission.ORDER_CREATE)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    editable(order)
    line = await _line(session, order, position)
    changed: dict[str, str] = {}
    if body.type is not None:
        line.type_id = (await item_types.get_item_type(session, body.type)).id
        changed["type"] = body.type
    if body.quantity is not None:
        line.quantity = body.quantity
        changed["quantity"] = str(body.quantity)
    if body.supplier_ref is not None:
        line.supplier_ref = body.supplier_ref
        changed["supplier_ref"] = body.supplier_ref
    order.version += 1
    record(session, order, "line_changed", actor, line=position, **changed)
    await session.flush()
    return order


async def remove_line(
    session: AsyncSession,
    *,
    ref: str | int,
    position: int,
    actor: Principal,
    expected_version: int | None = None,
) -> RestockOrder:
    """Delete a draft's line (the others keep their positions)."""
    need(actor, Permission.ORDER_CREATE)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    editable(order)
    line = await _line(session, order, position)
    await session.delete(line)
    order.version += 1
    record(session, order, "line_removed", actor, line=position)
    await session.flush()
    return order
