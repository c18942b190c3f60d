"""From the change feed to deliveries: each change an endpoint asks for becomes one delivery
row (the signed body fixed once), and the endpoint's delivery job is woken.

The feed consumer `webhooks` writes its deliveries and wake-up jobs in the same transaction
as its new feed position, so each change is fanned out exactly once, and nothing of it is
sent before that commits. It starts "now": changes made before webhooks were first set up
are not sent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import User
from qtrack.core.clock import utcnow
from qtrack.events import feed
from qtrack.events.feed import Change
from qtrack.integrations.webhooks import signing, types
from qtrack.integrations.webhooks.dispatch import wake
from qtrack.integrations.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.jobs.registry import JobContext
from qtrack.locations.models import Location

NAME = "webhooks"
_INSERT = insert(WebhookDelivery)


@dataclass(frozen=True)
class Wanted:
    """What one enabled endpoint asks for."""

    id: int
    event_types: list[str]
    item_types: frozenset[str]
    path: str | None  # the location filter's materialized path: a subtree is a prefix

    def matches(self, event_type: str, item_type: str | None, paths: Sequence[str]) -> bool:
        """Whether a change of this type, item type and locations goes to this endpoint."""
        if not types.wanted(self.event_types, event_type):
            return False
        if self.item_types and item_type not in self.item_types:
            return False
        return self.path is None or any(p.startswith(self.path) for p in paths)


@dataclass
class Facts:
    """What the payloads and filters need besides the changes: items, locations, actors."""

    items: dict[int, tuple[str, str]]  # id -> (code, type key)
    locations: dict[int, tuple[str, str]]  # id -> (code, path)
    paths_by_code: dict[str, str]
    users: dict[int, str]


async def enabled_endpoints(session: AsyncSession) -> list[Wanted]:
    """Every enabled endpoint and its filters, in one query."""
    rows = await session.execute(
        select(
            WebhookEndpoint.id, WebhookEndpoint.event_types, WebhookEndpoint.item_types,
            Location.path,
        )
        .outerjoin(Location, Location.id == WebhookEndpoint.location_id)
        .where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    )  # fmt: skip
    return [
        Wanted(row.id, list(row.event_types), frozenset(row.item_types), row.path) for row in rows
    ]


@feed.consumer(NAME, start="now", batch=200)
async def fan_out(ctx: JobContext, session: AsyncSession, changes: list[Change]) -> None:
    """Make the deliveries for a batch of changes and wake the endpoints' delivery jobs."""
    endpoints = await enabled_endpoints(session)
    if not endpoints:
        return
    typed = [(change, name) for change in changes if (name := types.of_kind(change.kind))]
    typed = [(c, name) for c, name in typed if any(types.wanted(e.event_types, name)
                                                   for e in endpoints)]  # fmt: skip
    if not typed:
        return
    facts = await _facts(session, [change for change, _ in typed])
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for change, name in typed:
        item_type = facts.items.get(change.item_id, ("", None))[1]
        paths = _paths(change, facts)
        body: str | None = None
        for endpoint in endpoints:
            if not endpoint.matches(name, item_type, paths):
                continue
            body = body or orjson.dumps(payload(change, name, facts)).decode()
            rows.append(
                {
                    "endpoint_id": endpoint.id, "msg_id": signing.new_msg_id(),
                    "event_type": name, "event_id": change.event_id, "item_id": change.item_id,
                    "seq": change.seq, "body": body, "status": PENDING, "attempts": 0,
                    "next_attempt_at": now, "created_at": now,
                }
            )  # fmt: skip
    if not rows:
        return
    await session.execute(_INSERT, rows)
    for endpoint_id in sorted({row["endpoint_id"] for row in rows}):
        await wake(session, endpoint_id)


def _paths(change: Change, facts: Facts) -> list[str]:
    """The materialized paths of the places a change happened: where the item is, and for a
    move also where it came from (so a subtree hears of things leaving it)."""
    paths = []
    if change.location_id is not None and change.location_id in facts.locations:
        paths.append(facts.locations[change.location_id][1])
    before = change.before.get("location") if isinstance(change.before, dict) else None
    if isinstance(before, str) and before in facts.paths_by_code:
        paths.append(facts.paths_by_code[before])
    return paths


async def _facts(session: AsyncSession, changes: list[Change]) -> Facts:
    item_ids = {c.item_id for c in changes}
    location_ids = {c.location_id for c in changes if c.location_id is not None}
    codes = {
        c.before["location"]
        for c in changes
        if isinstance(c.before, dict) and isinstance(c.before.get("location"), str)
    }
    user_ids = {c.actor_id for c in changes if c.actor_id is not None}
    items = await session.execute(
        select(Item.id, Item.code, ItemType.key)
        .join(ItemType, ItemType.id == Item.type_id)
        .where(Item.id.in_(item_ids))
    )
    places = await session.execute(
        select(Location.id, Location.code, Location.path).where(
            or_(Location.id.in_(location_ids), Location.code.in_(codes))
        )
    )
    place_rows = places.all()
    users = await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return Facts(
        items={row.id: (row.code, row.key) for row in items},
        locations={row.id: (row.code, row.path) for row in place_rows},
        paths_by_code={row.code: row.path for row in place_rows},
        users={row.id: row.username for row in users},
    )


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def payload(change: Change, event_type: str, facts: Facts) -> dict[str, Any]:
    """The JSON a delivery carries: the Standard Webhooks envelope (type, timestamp, data)
    around the event as the feed has it, with the item's code and type and the names of
    the place and the actor."""
    code, item_type = facts.items.get(change.item_id, (None, None))
    location = facts.locations.get(change.location_id or 0)
    return {
        "type": event_type,
        "timestamp": _time(change.recorded_at),
        "data": {
            "event_id": change.event_id,
            "seq": change.seq,
            "kind": change.kind,
            "item": {"id": change.item_id, "code": code, "type": item_type},
            "location": {"id": change.location_id, "code": location[0]} if location else None,
            "actor": (
                {"id": change.actor_id, "username": facts.users.get(change.actor_id)}
                if change.actor_id is not None
                else None
            ),
            "token_id": change.token_id,
            "client_event_id": change.client_event_id,
            "occurred_at": _time(change.occurred_at),
            "recorded_at": _time(change.recorded_at),
            "before": change.before,
            "after": change.after,
            "reason": change.reason,
            "signature": (
                {"signed_by_id": change.signed_by_id, "meaning": change.signature_meaning}
                if change.signed_by_id is not None
                else None
            ),
            "hash": change.hash,
        },
    }
