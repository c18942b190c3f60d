"""Checks that an item's history tells one continuous story (shared by several tests)."""

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.events.models import Event
from qtrack.items.models import Item
from qtrack.locations.models import Location

# What an item's events say about where and how it is; each key's `before` must be what the
# previous event that named it left as `after`.
TRACKED = ("location", "container", "status")


def broken_links(events: list[Any], now: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with one item's events (oldest first): a `before` that is not the
    previous `after`, a change that changed nothing, or an end that is not the item as it is
    now (`now`: its location, container and status codes)."""
    problems = []
    state: dict[str, Any] = {"location": None, "container": None, "status": None}
    for event in events:
        where = f"{event.type} #{event.seq}"
        for key in TRACKED:
            if key in event.before and event.before[key] != state[key]:
                problems.append(f"{where}: before.{key}={event.before[key]!r}, was {state[key]!r}")
        changed = [k for k in TRACKED if k in event.after and event.after[k] != state[k]]
        if event.type in ("moved", "packed", "unpacked", "status_changed") and not changed:
            problems.append(f"{where} changed nothing: {event.before} -> {event.after}")
        for key in TRACKED:
            if key in event.after:
                state[key] = event.after[key]
    if now is not None and state != now:
        problems.append(f"the events end at {state}, the item is at {now}")
    return problems


async def discontinuities(session: AsyncSession) -> list[str]:
    """Every item's broken links, as `item: problem`."""
    container = aliased(Item)
    rows = await session.execute(
        select(Item.id, Item.code, Location.code, container.code, Item.status)
        .outerjoin(Location, Item.location_id == Location.id)
        .outerjoin(container, Item.parent_id == container.id)
    )
    now = {
        item_id: (code, {"location": loc, "container": box, "status": status})
        for item_id, code, loc, box, status in rows
    }
    events: dict[int, list[Any]] = defaultdict(list)
    for event in await session.scalars(select(Event).order_by(Event.item_id, Event.seq)):
        events[event.item_id].append(event)
    return [
        f"{code}: {problem}"
        for item_id, (code, state) in now.items()
        for problem in broken_links(events[item_id], state)
    ]
