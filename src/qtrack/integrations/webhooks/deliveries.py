"""The delivery log as use cases: list, look at one with its attempts, redeliver."""

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict, NotFound
from qtrack.integrations.webhooks.dispatch import wake
from qtrack.integrations.webhooks.models import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
)  # fmt: skip
from qtrack.integrations.webhooks.schemas import RedeliverRange
from qtrack.integrations.webhooks.service import WebhookDisabled, get_endpoint

# One call redelivers at most this many; a longer outage is recovered range by range.
MAX_REDELIVER = 10_000


class DeliveryNotFound(NotFound):
    code, message = "delivery_not_found", "No such delivery of this webhook"


class DeliveryUnfinished(Conflict):
    code, message = "delivery_unfinished", "The delivery is still pending; it will be retried"


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: int,
    *,
    before_id: int | None,
    limit: int,
    status: str | None = None,
) -> list[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    await get_endpoint(session, endpoint_id)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    return list((await session.scalars(stmt)).all())


async def get_delivery(
    session: AsyncSession, endpoint_id: int, delivery_id: int
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """One delivery with its attempts, oldest first; 404 delivery_not_found."""
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
        )
    )
    if delivery is None:
        await get_endpoint(session, endpoint_id)  # 404 for the webhook first, if it is that
        raise DeliveryNotFound(f"Webhook {endpoint_id} has no delivery {delivery_id}")
    attempts = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.id)
    )
    return delivery, list(attempts.all())


def _again() -> dict[str, object]:
    now = utcnow()
    return {
        "status": PENDING, "attempts": 0, "next_attempt_at": now, "locked_until": None,
        "finished_at": None, "redelivered_at": now,
    }  # fmt: skip


async def redeliver(session: AsyncSession, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a finished delivery again, with the same webhook-id and body and a fresh set of
    attempts (receivers that saw it already drop it by its id)."""
    endpoint = await get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookDisabled()
    delivery, _ = await get_delivery(session, endpoint_id, delivery_id)
    if delivery.status not in FINISHED:
        raise DeliveryUnfinished(details={"status": delivery.status})
    for name, value in _again().items():
        setattr(delivery, name, value)
    await session.flush()
    await wake(session, endpoint_id)
    return delivery


async def redeliver_range(session: AsyncSession, endpoint_id: int, spec: RedeliverRange) -> int:
    """Send finished deliveries in an id or time range again (by default only those that
    failed or were cancelled); returns how many. Each item's go out in event order."""
    endpoint = await get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookDisabled()
    d = WebhookDelivery
    conditions = [
        d.endpoint_id == endpoint_id,
        d.status.in_((FAILED, CANCELLED) if spec.only_failed else FINISHED),
    ]
    if spec.from_id is not None:
        conditions.append(d.id >= spec.from_id)
    if spec.to_id is not None:
        conditions.append(d.id <= spec.to_id)
    if spec.since is not None:
        conditions.append(d.created_at >= spec.since)
    if spec.until is not None:
        conditions.append(d.created_at < spec.until)
    ids = select(d.id).where(and_(*conditions)).order_by(d.id).limit(MAX_REDELIVER)
    result = await session.execute(
        update(d)
        .where(d.id.in_(ids.scalar_subquery()), or_(*(d.status == s for s in FINISHED)))
        .values(**_again())
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        await wake(session, endpoint_id)
    return count
