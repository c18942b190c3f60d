"""`alert.raised`: each alert raised becomes one delivery to every endpoint asking for it.

`alerts.service.raise_alert` enqueues the job `alerts.raised` in the transaction that raised
the alert (the outbox; alerts are not item events, so they are not on the change feed), and
this handler makes the deliveries, then wakes the endpoints' delivery jobs, as the feed's
fan-out does. A job may run twice (a crash after its commit): the message id is the alert's,
so a second run finds the deliveries made and adds none.
"""

from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.alerts.models import Alert
from qtrack.alerts.service import RAISED_JOB
from qtrack.core.clock import utcnow
from qtrack.integrations.webhooks import types
from qtrack.integrations.webhooks.consumer import enabled_endpoints
from qtrack.integrations.webhooks.dispatch import wake
from qtrack.integrations.webhooks.models import PENDING, WebhookDelivery
from qtrack.item_types.models import ItemType
from qtrack.jobs.registry import JobContext, job
from qtrack.locations.models import Location

EVENT_TYPE = "alert.raised"
types.register(EVENT_TYPE, "An alert was raised (stock low or out, an item expired...)")


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def _payload(session: AsyncSession, alert: Alert) -> tuple[dict[str, Any], str | None, str]:
    """The delivery's JSON, the alert's item type key and its location's path ("" if none)."""
    type_key = (
        await session.scalar(select(ItemType.key).where(ItemType.id == alert.type_id))
        if alert.type_id is not None
        else None
    )
    place = (
        (await session.execute(
            select(Location.code, Location.path).where(Location.id == alert.location_id)
        )).first()
        if alert.location_id is not None
        else None
    )  # fmt: skip
    body = {
        "type": EVENT_TYPE,
        "timestamp": _time(alert.raised_at),
        "data": {
            "id": alert.id,
            "kind": alert.kind,
            "subject": alert.subject,
            "message": alert.message,
            "item_type": type_key,
            "location": place.code if place is not None else None,
            "details": alert.data,
            "raised_at": _time(alert.raised_at),
        },
    }
    return body, type_key, place.path if place is not None else ""


@job(RAISED_JOB, max_attempts=5, timeout=60)
async def alert_raised(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Make the `alert.raised` deliveries of one alert and wake their endpoints."""
    async with ctx.session() as session:
        alert = await session.get(Alert, int(payload["alert_id"]))
        if alert is None:
            return
        msg_id = f"msg_alert_{alert.id}"
        made = await session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.msg_id == msg_id).limit(1)
        )
        if made is not None:
            return
        endpoints = [
            e for e in await enabled_endpoints(session) if types.wanted(e.event_types, EVENT_TYPE)
        ]
        if not endpoints:
            return
        body_json, type_key, path = await _payload(session, alert)
        body = orjson.dumps(body_json).decode()
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "endpoint_id": e.id, "msg_id": msg_id, "event_type": EVENT_TYPE,
                "event_id": None, "item_id": None, "seq": None, "body": body,
                "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
            }
            for e in endpoints
            if (not e.item_types or type_key in e.item_types)
            and (e.path is None or path.startswith(e.path))
        ]  # fmt: skip
        if not rows:
            return
        await session.execute(insert(WebhookDelivery), rows)
        for endpoint_id in sorted({int(row["endpoint_id"]) for row in rows}):
            await wake(session, endpoint_id)
