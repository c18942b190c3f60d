"""Counts by type and status and by location: reading them, and recounting them for checks.

The item write path keeps them in step (`items.counts`: an upsert that adds a delta in the
same transaction as each change), so reading them costs the same at two million items as at
ten. A count is spread over shard rows (see `models`); readers add them up. `recount`
computes the same figures with GROUP BY, for checks.
"""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.inventory.models import LocationCount, StatusCount
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.locations.models import Location


async def stats(session: AsyncSession) -> dict[str, Any]:
    """The counts, as the dashboard shows them (each the sum of its shards)."""
    status_total = func.sum(StatusCount.count)
    by_status = await session.execute(
        select(ItemType.key, StatusCount.status, status_total)
        .join(ItemType, ItemType.id == StatusCount.type_id)
        .group_by(ItemType.key, StatusCount.status)
        .having(status_total != 0)
        .order_by(ItemType.key, StatusCount.status)
    )
    location_total = func.sum(LocationCount.count)
    by_location = await session.execute(
        select(Location.code, location_total)
        .join(Location, Location.id == LocationCount.location_id)
        .group_by(Location.code)
        .having(location_total != 0)
        .order_by(Location.code)
    )
    status_rows = [{"type": t, "status": s, "count": int(c)} for t, s, c in by_status]
    return {
        "total": sum(r["count"] for r in status_rows),
        "by_type_status": status_rows,
        "by_location": [{"location": code, "count": int(c)} for code, c in by_location],
    }


async def recount(session: AsyncSession) -> tuple[dict[tuple[int, str], int], dict[int, int]]:
    """The same counts computed from the items themselves (slow; for checks and repair)."""
    live = Item.archived.is_(False)
    statuses = await session.execute(
        select(Item.type_id, Item.status, func.count())
        .where(live)
        .group_by(Item.type_id, Item.status)
    )
    locations = await session.execute(
        select(Item.location_id, func.count())
        .where(live, Item.location_id.is_not(None))
        .group_by(Item.location_id)
    )
    return (
        {(t, s): int(c) for t, s, c in statuses},
        {int(loc): int(c) for loc, c in locations if loc is not None},
    )


async def maintained(session: AsyncSession) -> tuple[dict[tuple[int, str], int], dict[int, int]]:
    """The maintained counts, in the shape `recount` gives (shards added up, zeros left out)."""
    statuses: dict[tuple[int, str], int] = {}
    for t, s, c in await session.execute(
        select(StatusCount.type_id, StatusCount.status, StatusCount.count)
    ):
        statuses[(t, s)] = statuses.get((t, s), 0) + int(c)
    locations: dict[int, int] = {}
    for loc, c in await session.execute(select(LocationCount.location_id, LocationCount.count)):
        locations[int(loc)] = locations.get(int(loc), 0) + int(c)
    return (
        {k: c for k, c in statuses.items() if c},
        {k: c for k, c in locations.items() if c},
    )
