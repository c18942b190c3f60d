"""Counts by type and status and by location, kept in step inside every changing transaction.

Each change is an upsert that adds a delta, so reading the counts costs the same at two
million items as at ten. `recount` computes the same figures with GROUP BY, for checks.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.inventory.models import LocationCount, StatusCount
from qtrack.items.models import Item, ItemType
from qtrack.locations.models import Location


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def bump_status(session: AsyncSession, type_id: int, status: str, delta: int) -> None:
    """Add `delta` live items of a type in a state."""
    if delta == 0:
        return
    stmt = _insert(session, StatusCount).values(type_id=type_id, status=status, count=delta)
    stmt = stmt.on_conflict_do_update(
        index_elements=[StatusCount.type_id, StatusCount.status],
        set_={"count": StatusCount.count + stmt.excluded.count},
    )
    await session.execute(stmt)


async def bump_location(session: AsyncSession, location_id: int | None, delta: int) -> None:
    """Add `delta` live items directly at a location (None: nowhere in particular)."""
    if delta == 0 or location_id is None:
        return
    stmt = _insert(session, LocationCount).values(location_id=location_id, count=delta)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LocationCount.location_id],
        set_={"count": LocationCount.count + stmt.excluded.count},
    )
    await session.execute(stmt)


async def status_changed(session: AsyncSession, type_id: int, old: str, new: str) -> None:
    """One item of a type went from one state to another."""
    if old != new:
        await bump_status(session, type_id, old, -1)
        await bump_status(session, type_id, new, +1)


async def location_changed(session: AsyncSession, old: int | None, new: int | None) -> None:
    """One item moved between locations."""
    if old != new:
        await bump_location(session, old, -1)
        await bump_location(session, new, +1)


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
    """The counts, as the dashboard shows them."""
    by_status = await session.execute(
        select(ItemType.key, StatusCount.status, StatusCount.count)
        .join(ItemType, ItemType.id == StatusCount.type_id)
        .where(StatusCount.count != 0)
        .order_by(ItemType.key, StatusCount.status)
    )
    by_location = await session.execute(
        select(Location.code, LocationCount.count)
        .join(Location, Location.id == LocationCount.location_id)
        .where(LocationCount.count != 0)
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
    """The maintained counts, in the shape `recount` gives (zeros left out)."""
    statuses = await session.execute(
        select(StatusCount.type_id, StatusCount.status, StatusCount.count)
    )
    locations = await session.execute(select(LocationCount.location_id, LocationCount.count))
    return (
        {(t, s): int(c) for t, s, c in statuses if c},
        {int(loc): int(c) for loc, c in locations if c},
    )
