"""Reading chain heads for checkpoints: small queries over the event and item tables.

A checkpoint speaks about a *cutoff*: an event id such that every event up to it was
committed when the checkpoint was made, and no later event is counted. An item's head at the
cutoff is its last event with an id up to it. Ids grow in the order events are inserted and
an item's events are inserted one at a time under its row lock, so within one item ids grow
with seq, and "the last event up to the cutoff" is well defined and the same whenever it is
asked.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, select, text, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.core.errors import ServiceUnavailable
from qtrack.events.models import Event
from qtrack.items.models import Item

# How long a checkpoint waits for writes in flight on PostgreSQL (their events must be
# counted or excluded for good) before giving up; new writes queue behind it meanwhile.
SETTLE_TIMEOUT_MS = 2000


class HistoryBusy(ServiceUnavailable):
    code, message = (
        "history_busy",
        "A transaction that writes events has stayed open too long; try again shortly",
    )


@dataclass(frozen=True)
class Head:
    """An item's chain head: how many events, and the hash of the last."""

    item_id: int
    seq: int
    hash: str


async def settled_last_event_id(session: AsyncSession) -> int:
    """The highest event id such that every event up to it is committed for good (0: none).

    On PostgreSQL a sequence hands out ids before their transactions commit, so an event with
    a lower id may still be in flight. A SHARE lock on `event` waits for every transaction
    that inserted an event to end (and holds new inserts back meanwhile); the lock is taken
    inside a savepoint and released at once by rolling back to it, so writers wait only for
    the writes that were already in flight. SQLite has one writer at a time: the caller's
    write transaction already excludes the rest.
    """
    last = select(func.coalesce(func.max(Event.id), 0))
    if session.get_bind().dialect.name != "postgresql":
        return int(await session.scalar(last) or 0)
    savepoint = await session.begin_nested()
    try:
        await session.execute(text(f"SET LOCAL lock_timeout = {int(SETTLE_TIMEOUT_MS)}"))
        await session.execute(text("LOCK TABLE event IN SHARE MODE"))
        return int(await session.scalar(last) or 0)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise HistoryBusy() from exc
        raise
    finally:
        await savepoint.rollback()


async def heads_at(
    session: AsyncSession, cutoff: int, *, after_item: int, limit: int
) -> tuple[list[Head], int | None]:
    """The heads at `cutoff` of the next `limit` items after `after_item`, in id order, and
    the last item id read (None past the last item).

    Read from the item rows, corrected for items that moved after the cutoff: for those the
    head is the event before their first later event. Both come from one statement, so one
    snapshot, whatever commits meanwhile. Items whose first event came after the cutoff
    are left out (they did not exist yet).
    """
    later = (
        select(Event.item_id, func.min(Event.seq).label("seq"))
        .where(Event.id > cutoff)
        .group_by(Event.item_id)
        .subquery()
    )
    first_later = aliased(Event)
    stmt = (
        select(Item.id, Item.event_count, Item.last_event_hash, later.c.seq, first_later.prev_hash)
        .outerjoin(later, later.c.item_id == Item.id)
        .outerjoin(
            first_later,
            and_(first_later.item_id == later.c.item_id, first_later.seq == later.c.seq),
        )
        .where(Item.id > after_item)
        .order_by(Item.id)
        .limit(limit)
    )
    heads = []
    last_item: int | None = None
    for item_id, count, last_hash, later_seq, prev_hash in await session.execute(stmt):
        last_item = item_id
        if later_seq is None:
            if count:
                heads.append(Head(item_id, count, last_hash))
        elif later_seq > 1:
            heads.append(Head(item_id, later_seq - 1, prev_hash))
    return heads, last_item


async def moved_between(session: AsyncSession, after: int, upto: int) -> set[int]:
    """The items with an event whose id is in (after, upto]: their heads moved in between."""
    stmt = select(Event.item_id).where(Event.id > after, Event.id <= upto).distinct()
    return set((await session.scalars(stmt)).all())


async def recomputed_heads(
    session: AsyncSession, cutoff: int, *, after_item: int, limit: int
) -> list[Head]:
    """The heads at `cutoff` computed from the events alone (not the item rows), for the next
    `limit` items after `after_item`: what verification compares with a checkpoint."""
    last = (
        select(Event.item_id, func.max(Event.seq).label("seq"))
        .where(Event.id <= cutoff, Event.item_id > after_item)
        .group_by(Event.item_id)
        .order_by(Event.item_id)
        .limit(limit)
        .subquery()
    )
    stmt = (
        select(Event.item_id, Event.seq, Event.hash)
        .join(last, and_(Event.item_id == last.c.item_id, Event.seq == last.c.seq))
        .order_by(Event.item_id)
    )
    return [Head(*row) for row in await session.execute(stmt)]


async def hashes_at(
    session: AsyncSession, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """The hash of the event at each (item_id, seq) that still exists."""
    if not positions:
        return {}
    stmt = select(Event.item_id, Event.seq, Event.hash).where(
        tuple_(Event.item_id, Event.seq).in_(positions)
    )
    return {(item_id, seq): digest for item_id, seq, digest in await session.execute(stmt)}


async def chain_lengths(session: AsyncSession, item_ids: Iterable[int]) -> dict[int, int]:
    """How many events each item's chain holds now (items with none are left out)."""
    ids = list(item_ids)
    if not ids:
        return {}
    stmt = (
        select(Event.item_id, func.max(Event.seq))
        .where(Event.item_id.in_(ids))
        .group_by(Event.item_id)
    )
    return {item_id: int(seq) for item_id, seq in await session.execute(stmt)}


async def item_codes(session: AsyncSession, item_ids: Iterable[int]) -> dict[int, str]:
    """The code of each item that still exists."""
    ids = list(item_ids)
    if not ids:
        return {}
    stmt = select(Item.id, Item.code).where(Item.id.in_(ids))
    return {row.id: row.code for row in await session.execute(stmt)}
