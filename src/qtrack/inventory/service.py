"""Counts by type and status and by location, kept in step inside every changing transaction.

Each change is an upsert that adds a delta, so reading the counts costs the same at two
million items as at ten. A count is spread over shard rows (see `models`); readers add them
up. `recount` computes the same figures with GROUP BY, for checks.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.inventory.models import SHARDS, LocationCount, StatusCount
from qtrack.items.models import Item, ItemType
from qtrack.locations.models import Location

# The upserts as text: the same SQL on PostgreSQL and SQLite, compiled once. (A multi-row
# `insert().values([...])` is compiled again on every execution, which cost more than running
# it; these run on every change of state or place.)
_STATUS_UPSERT = {
    1: text(
        "INSERT INTO status_count (type_id, status, shard, count)"
        " VALUES (:type_id_0, :status_0, :shard, :count_0)"
        " ON CONFLICT (type_id, status, shard)"
        " DO UPDATE SET count = status_count.count + excluded.count"
    ),
    2: text(
        "INSERT INTO status_count (type_id, status, shard, count)"
        " VALUES (:type_id_0, :status_0, :shard, :count_0),"
        " (:type_id_1, :status_1, :shard, :count_1)"
        " ON CONFLICT (type_id, status, shard)"
        " DO UPDATE SET count = status_count.count + excluded.count"
    ),
}
_LOCATION_UPSERT = {
    1: text(
        "INSERT INTO location_count (location_id, shard, count)"
        " VALUES (:location_id_0, :shard, :count_0)"
        " ON CONFLICT (location_id, shard)"
        " DO UPDATE SET count = location_count.count + excluded.count"
    ),
    2: text(
        "INSERT INTO location_count (location_id, shard, count)"
        " VALUES (:location_id_0, :shard, :count_0), (:location_id_1, :shard, :count_1)"
        " ON CONFLICT (location_id, shard)"
        " DO UPDATE SET count = location_count.count + excluded.count"
    ),
}


def shard_of(item_id: int) -> int:
    """The counter shard a change of this item goes to."""
    return item_id % SHARDS


async def bump_status(
    session: AsyncSession, type_id: int, status: str, delta: int, *, shard: int = 0
) -> None:
    """Add `delta` live items of a type in a state."""
    if delta == 0:
        return
    await session.execute(
        _STATUS_UPSERT[1],
        {"type_id_0": type_id, "status_0": status, "shard": shard, "count_0": delta},
    )


async def bump_location(
    session: AsyncSession, location_id: int | None, delta: int, *, shard: int = 0
) -> None:
    """Add `delta` live items directly at a location (None: nowhere in particular)."""
    if delta == 0 or location_id is None:
        return
    await session.execute(
        _LOCATION_UPSERT[1], {"location_id_0": location_id, "shard": shard, "count_0": delta}
    )


async def status_changed(
    session: AsyncSession, type_id: int, old: str, new: str, *, shard: int = 0
) -> None:
    """One item of a type went from one state to another: both counter rows in one statement,
    in the order of their keys, so that concurrent changes lock shared rows in one order."""
    if old == new:
        return
    (first, d1), (second, d2) = sorted([(old, -1), (new, +1)])
    await session.execute(
        _STATUS_UPSERT[2],
        {
            "type_id_0": type_id,
            "status_0": first,
            "count_0": d1,
            "type_id_1": type_id,
            "status_1": second,
            "count_1": d2,
            "shard": shard,
        },
    )


async def location_changed(
    session: AsyncSession, old: int | None, new: int | None, *, shard: int = 0
) -> None:
    """One item moved between locations: both counter rows in one statement, in key order."""
    if old == new:
        return
    if old is None or new is None:
        await bump_location(session, old, -1, shard=shard)
        await bump_location(session, new, +1, shard=shard)
        return
    (first, d1), (second, d2) = sorted([(old, -1), (new, +1)])
    await session.execute(
        _LOCATION_UPSERT[2],
        {
            "location_id_0": first,
            "count_0": d1,
            "location_id_1": second,
            "count_1": d2,
            "shard": shard,
        },
    )


async def items_added(
    session: AsyncSession, added: Mapping[tuple[int, str], Iterable[int | None]]
) -> None:
    """Count freshly registered items: (type id, state) -> the location of each new item.

    One upsert per counter row touched, in a fixed order (so concurrent batches take the
    rows' locks in the same order and cannot deadlock)."""
    per_location: dict[int, int] = {}
    for (type_id, status), locations in sorted(added.items()):
        placed = list(locations)
        await bump_status(session, type_id, status, len(placed))
        for loc in placed:
            if loc is not None:
                per_location[loc] = per_location.get(loc, 0) + 1
    for loc, n in sorted(per_location.items()):
        await bump_location(session, loc, n)


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
