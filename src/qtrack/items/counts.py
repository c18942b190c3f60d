"""Keeping the maintained counts in step with every change of an item.

The counts by type and status and by location (`status_count`, `location_count`: tables of
`qtrack.inventory`, which reads them) change in the same transaction as the item, by upserts
that add a delta. Each count is spread over `SHARDS` rows, the shard taken from the changed
item's id: one row per count would make every change of a busy state wait for the previous
one's commit on that row's lock. The upserts run last, right before the commit (a change of
state sends its upsert with its event, `status_change`), and a change's two rows are written
by one statement in key order (concurrent changes cannot deadlock on them).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    SmallInteger,
    String,
    bindparam,
    column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.deferred import dialect_name
from qtrack.events.service import Along

SHARDS = 64

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


def _pg_two_rows(name: str, keys: list[tuple[str, Any]]) -> Any:
    """A counter table's two-row upsert as a statement PostgreSQL can run as a part of a
    larger one (a data-modifying CTE, `events.service.record`'s `along`): the same SQL as the
    text upserts' two-row forms. The rows are a SELECT of parameters, not a multi-row VALUES:
    SQLAlchemy compiles a multi-row VALUES construct again on every execution; this one, once."""
    counter = table(
        name,
        *[column(key, type_) for key, type_ in keys],
        column("shard", SmallInteger),
        column("count", BigInteger),
    )
    rows = union_all(
        *[
            select(
                *[bindparam(f"{key}_{i}", type_=type_) for key, type_ in keys],
                bindparam("shard", type_=SmallInteger),
                bindparam(f"count_{i}", type_=BigInteger),
            )
            for i in (0, 1)
        ]
    )
    names = [key for key, _ in keys]
    inserted = pg_insert(counter).from_select([*names, "shard", "count"], rows)
    return inserted.on_conflict_do_update(
        index_elements=[*names, "shard"],
        set_={"count": counter.c["count"] + inserted.excluded["count"]},
    )


_PG_STATUS_UPSERT = _pg_two_rows("status_count", [("type_id", Integer), ("status", String)])
_PG_LOCATION_UPSERT = _pg_two_rows("location_count", [("location_id", Integer)])


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


def _leaving(name: str, old: Any, new: Any) -> dict[str, Any]:
    """The two counter rows of one item leaving `old` for `new` (-1 and +1), as the two-row
    upserts' parameters, in the order of their keys (so that concurrent changes lock shared
    rows in one order)."""
    (first, d1), (second, d2) = sorted([(old, -1), (new, +1)])
    return {f"{name}_0": first, "count_0": d1, f"{name}_1": second, "count_1": d2}


def status_change(
    session: AsyncSession, type_id: int, old: str, new: str, *, shard: int = 0
) -> Along | None:
    """One item of a type going from one state to another: the statement that moves both
    counter rows (in the order of their keys, so that concurrent changes lock shared rows in
    one order), to run along the change's event; None when the state stays."""
    if old == new:
        return None
    params = {**_leaving("status", old, new), "type_id_0": type_id, "type_id_1": type_id}
    params["shard"] = shard
    postgres = dialect_name(session) == "postgresql"
    return (_PG_STATUS_UPSERT if postgres else _STATUS_UPSERT[2]), params


def location_change(
    session: AsyncSession, old: int | None, new: int | None, *, shard: int = 0
) -> Along | None:
    """One item moved from one location to another: the statement that moves both counter
    rows (in the order of their keys), to run along the move's event; None when it stays, or
    comes from or goes to no location (`location_changed` counts those)."""
    if old == new or old is None or new is None:
        return None
    params = {**_leaving("location_id", old, new), "shard": shard}
    postgres = dialect_name(session) == "postgresql"
    return (_PG_LOCATION_UPSERT if postgres else _LOCATION_UPSERT[2]), params


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
    await session.execute(
        _LOCATION_UPSERT[2], {**_leaving("location_id", old, new), "shard": shard}
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


async def locations_changed(
    session: AsyncSession, moved: Iterable[tuple[int | None, int | None, int]]
) -> None:
    """Several items moved in one change, each (old location, new location, item id): the
    deltas added up per counter row, and the rows written in the order of their keys, as
    every change writes them, so that two changes of several items cannot deadlock."""
    deltas: dict[tuple[int, int], int] = {}
    for old, new, item_id in moved:
        if old == new:
            continue
        shard = shard_of(item_id)
        for loc, delta in ((old, -1), (new, +1)):
            if loc is not None:
                deltas[(loc, shard)] = deltas.get((loc, shard), 0) + delta
    for (loc, shard), delta in sorted(deltas.items()):
        await bump_location(session, loc, delta, shard=shard)
