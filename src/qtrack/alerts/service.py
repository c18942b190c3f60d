"""Alert use cases: raise one (once while it is open), clear, list, acknowledge, count.

`raise_alert` is the one way anything raises an alert (stock levels, the expiry sweep). It
writes the row in the caller's transaction and enqueues `alerts.raised` there too (the
outbox: a rolled-back change raises nothing, a committed one cannot lose its notification);
the webhooks package answers that job with `alert.raised` deliveries. At most one alert of a
kind about a subject is open at a time (a partial unique index backs this up), so raising it
again while it is open is a no-op: a crossing alerts once, not on every scan.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.models import User
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.alerts.models import Alert
from qtrack.core.clock import utcnow
from qtrack.core.errors import NotFound
from qtrack.jobs import service as jobs_service

RAISED_JOB = "alerts.raised"  # payload {"alert_id": id}; the webhooks package handles it

AlertState = Literal["open", "pending", "cleared", "all"]


class AlertNotFound(NotFound):
    code, message = "alert_not_found", "No such alert"


@dataclass(frozen=True)
class AlertRow:
    """An alert with the names a list shows (who acknowledged it)."""

    alert: Alert
    acknowledged_by: str | None


async def raise_alert(
    session: AsyncSession,
    kind: str,
    subject: str,
    message: str,
    *,
    type_id: int | None = None,
    location_id: int | None = None,
    item_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Alert | None:
    """Raise an alert of `kind` about `subject` ("stock:GAUZE", "item:MAT-000001"), unless
    one is already open: the new alert, or None when one was open."""
    open_id = await session.scalar(
        select(Alert.id).where(
            Alert.kind == kind, Alert.subject == subject, Alert.cleared_at.is_(None)
        )
    )
    if open_id is not None:
        return None
    alert = Alert(
        kind=kind, subject=subject, message=message[:500], type_id=type_id,
        location_id=location_id, item_id=item_id, data=data or {}, raised_at=utcnow(),
    )  # fmt: skip
    try:
        async with session.begin_nested():
            session.add(alert)
            await session.flush()
    except IntegrityError:  # a concurrent twin raised it first: that one stands
        return None
    await jobs_service.enqueue(session, RAISED_JOB, {"alert_id": alert.id})
    return alert


async def clear_alerts(
    session: AsyncSession, subject: str, kinds: Sequence[str] | None = None
) -> int:
    """Clear the open alerts about a subject (of these kinds): the cause went away. How many."""
    stmt = (
        update(Alert)
        .where(Alert.subject == subject, Alert.cleared_at.is_(None))
        .values(cleared_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if kinds is not None:
        stmt = stmt.where(Alert.kind.in_(list(kinds)))
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _state_filter(state: AlertState) -> list[Any]:
    if state == "open":
        return [Alert.cleared_at.is_(None)]
    if state == "pending":
        return [Alert.cleared_at.is_(None), Alert.acknowledged_at.is_(None)]
    if state == "cleared":
        return [Alert.cleared_at.is_not(None)]
    return []


async def list_alerts(
    session: AsyncSession,
    *,
    state: AlertState = "open",
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AlertRow]:
    """Alerts, newest first: open (not cleared), pending (open and not acknowledged),
    cleared, or all."""
    stmt = (
        select(Alert, User.username)
        .outerjoin(User, User.id == Alert.acknowledged_by_id)
        .where(*_state_filter(state))
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if before_id is not None:
        stmt = stmt.where(Alert.id < before_id)
    return [AlertRow(alert, username) for alert, username in await session.execute(stmt)]


async def get_alert(session: AsyncSession, alert_id: int) -> AlertRow:
    """One alert; 404 alert_not_found."""
    row = (
        await session.execute(
            select(Alert, User.username)
            .outerjoin(User, User.id == Alert.acknowledged_by_id)
            .where(Alert.id == alert_id)
        )
    ).first()
    if row is None:
        raise AlertNotFound(f"No alert {alert_id}", details={"id": alert_id})
    return AlertRow(row[0], row[1])


async def acknowledge(session: AsyncSession, alert_id: int, *, actor: Principal) -> AlertRow:
    """Say that someone has seen an alert; acknowledging it again changes nothing."""
    if not actor.can(Permission.ALERT_ACKNOWLEDGE):
        raise PermissionDenied(details={"missing": [Permission.ALERT_ACKNOWLEDGE.value]})
    row = await get_alert(session, alert_id)
    if row.alert.acknowledged_at is not None:
        return row
    row.alert.acknowledged_at = utcnow()
    row.alert.acknowledged_by_id = actor.user_id
    await session.flush()
    return AlertRow(row.alert, actor.username)


async def pending_count(session: AsyncSession) -> int:
    """How many open alerts nobody has acknowledged yet (the dashboard's badge)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.cleared_at.is_(None), Alert.acknowledged_at.is_(None))
    )
    return int(count or 0)
