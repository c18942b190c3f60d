"""An order's steps: submit, approve, cancel, close (receiving is in `receiving.py`).

draft -> submitted -> approved -> partly_received -> received; draft, submitted or approved
-> cancelled; partly_received -> closed (the rest will not come). Each step needs its own
permission and holds the order's row lock, so two steps of one order take turns and the
second sees what the first did.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.orders.errors import CloseReasonRequired, OrderEmpty, OrderWrongStatus
from qtrack.orders.models import RestockOrder, RestockOrderLine
from qtrack.orders.service import get_order, need, record

CANCELLABLE = ("draft", "submitted", "approved")


def check_from(order: RestockOrder, *allowed: str, step: str) -> None:
    """Refuse (409 order_wrong_status) a step the order's status does not allow."""
    if order.status not in allowed:
        raise OrderWrongStatus(
            f"Order {order.code} is {order.status}; it cannot be {step}",
            details={"order": order.code, "status": order.status, "allowed": list(allowed)},
        )


async def _took(
    session: AsyncSession, order: RestockOrder, status: str, actor: Principal, **data: Any
) -> RestockOrder:
    """The order in its new status, its version bumped and the step in its history."""
    order.status = status
    order.version += 1
    record(session, order, status, actor, **data)
    await session.flush()
    return order


async def submit(
    session: AsyncSession, *, ref: str | int, actor: Principal, expected_version: int | None = None
) -> RestockOrder:
    """Draft -> submitted: the lines are final and wait for approval."""
    need(actor, Permission.ORDER_SUBMIT)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    check_from(order, "draft", step="submitted")
    has_lines = await session.scalar(
        select(RestockOrderLine.id).where(RestockOrderLine.order_id == order.id).limit(1)
    )
    if has_lines is None:
        raise OrderEmpty(f"Order {order.code} has no lines", details={"order": order.code})
    order.submitted_at = utcnow()
    return await _took(session, order, "submitted", actor)


async def approve(
    session: AsyncSession, *, ref: str | int, actor: Principal, expected_version: int | None = None
) -> RestockOrder:
    """Submitted -> approved: the goods may be received against it."""
    need(actor, Permission.ORDER_APPROVE)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    check_from(order, "submitted", step="approved")
    order.approved_at = utcnow()
    return await _took(session, order, "approved", actor)


async def cancel(
    session: AsyncSession,
    *,
    ref: str | int,
    actor: Principal,
    reason: str | None,
    expected_version: int | None = None,
) -> RestockOrder:
    """Draft, submitted or approved -> cancelled (once something arrived, it cannot be)."""
    need(actor, Permission.ORDER_CANCEL)
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    check_from(order, *CANCELLABLE, step="cancelled")
    order.cancelled_at = utcnow()
    return await _took(session, order, "cancelled", actor, reason=reason)


async def close(
    session: AsyncSession,
    *,
    ref: str | int,
    actor: Principal,
    reason: str | None,
    expected_version: int | None = None,
) -> RestockOrder:
    """Partly received -> closed: what has not come will not (the supplier cannot deliver
    it). The lots received stay, and the rest is no longer on order, so a suggestion orders
    it again. Needs `order.cancel` and a reason."""
    need(actor, Permission.ORDER_CANCEL)
    if reason is None or not reason.strip():
        raise CloseReasonRequired(details={"field": "reason"})
    order = await get_order(session, ref, lock=True, expected_version=expected_version)
    check_from(order, "partly_received", step="closed")
    return await _took(session, order, "closed", actor, reason=reason.strip())
