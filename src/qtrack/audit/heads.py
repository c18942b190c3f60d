"""Reading chain heads for checkpoints: small queries over the event and item tables.

A checkpoint speaks about a *cutoff*: an event id such that every event up to it was
committed when the checkpoint was made, and no later event is counted. An item's head at the
cutoff is its last event with an id up to it. Ids grow in the order events are inserted and
an item's events are inserted one at a time under its row lock, so within one item ids grow
with seq, and "the last event up to the cutoff" is well defined and the same whenever it is
asked.
"""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.errors import ServiceUnavailable
from qtrack.events.models import Event, EventArchive, EventArchiveHead
from qtrack.items.models import Item

# How long a checkpoint waits for writes in flight on PostgreSQL (their events must be
# counted or excluded for good) before giving up; new writes queue behind it meanwhile, so
# this is also the longest a checkpoint can hold scans back. A scan's write takes
# milliseconds; what takes longer is an import, and the checkpoint yields to it.
SETTLE_TIMEOUT_MS = 1000


class HistoryBusy(ServiceUnavailable):
    code, message = (
        "history_busy",
        "A transaction that writes events has stayed open too long; try again shortly",
    )


class Head(NamedTuple):
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


_event: Table = Event.__table__  # type: ignore[assignment]
_archived: Table = EventArchiveHead.__table__  # type: ignore[assignment]
_item: Table = Item.__table__  # type: ignore[assignment]


def _heads_at_statement() -> Select[Any]:
    later = (
        select(_event.c.item_id, func.min(_event.c.seq).label("seq"))
        .where(_event.c.id > bindparam("cutoff"))
        .group_by(_event.c.item_id)
        .subquery()
    )
    first_later = _event.alias("first_later")
    return (
        select(
            _item.c.id,
            _item.c.event_count,
            _item.c.last_event_hash,
            later.c.seq,
            first_later.c.prev_hash,
        )
        .outerjoin(later, later.c.item_id == _item.c.id)
        .outerjoin(
            first_later,
            and_(first_later.c.item_id == later.c.item_id, first_later.c.seq == later.c.seq),
        )
        .where(_item.c.id > bindparam("after_item"))
        .order_by(_item.c.id)
        .limit(bindparam("limit"))
    )


def _recomputed_heads_statement() -> Select[Any]:
    # The last event up to the cutoff is the one with the highest id (ids grow with seq
    # within an item), which the (item_id, id) index answers alone; its seq and hash come
    # by primary key, one probe per row (as a join, PostgreSQL hashed the whole table).
    last = (
        select(_event.c.item_id, func.max(_event.c.id).label("id"))
        .where(_event.c.id <= bindparam("cutoff"), _event.c.item_id > bindparam("after_item"))
        .group_by(_event.c.item_id)
        .order_by(_event.c.item_id)
        .limit(bindparam("limit"))
        .subquery()
    )

    def of_last(column: Any) -> Any:
        return select(column).where(_event.c.id == last.c.id).scalar_subquery()

    return select(last.c.item_id, of_last(_event.c.seq), of_last(_event.c.hash)).order_by(
        last.c.item_id
    )


def _archived_heads_statement() -> Select[Any]:
    archive = EventArchive.__table__
    retained = (
        select(_event.c.id)
        .where(_event.c.item_id == _archived.c.item_id, _event.c.id <= bindparam("cutoff"))
        .exists()
    )
    return (
        select(_archived.c.item_id, _archived.c.last_seq, _archived.c.last_hash)
        .join(archive, archive.c.name == _archived.c.archive)
        .where(
            archive.c.last_id <= bindparam("cutoff"),
            _archived.c.item_id > bindparam("after_item"),
            _archived.c.item_id <= bindparam("upto"),
            ~retained,
        )
        .order_by(_archived.c.item_id)
    )


# Core statements built once: a checkpoint runs one per 10,000 items, and through the ORM
# each row cost ~20 µs of Python where the database spent ~1 µs.
_HEADS_AT = _heads_at_statement()
_RECOMPUTED_HEADS = _recomputed_heads_statement()
_ARCHIVED_HEADS = _archived_heads_statement()


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
    params = {"cutoff": cutoff, "after_item": after_item, "limit": limit}
    rows = (await session.execute(_HEADS_AT, params)).all()
    heads = [
        Head(item_id, count, last_hash)
        if later_seq is None
        else Head(item_id, later_seq - 1, prev_hash)
        for item_id, count, last_hash, later_seq, prev_hash in rows
        if (count if later_seq is None else later_seq > 1)
    ]
    return heads, rows[-1][0] if rows else None


async def moved_between(session: AsyncSession, after: int, upto: int) -> set[int]:
    """The items with an event whose id is in (after, upto]: their heads moved in between."""
    stmt = select(_event.c.item_id).where(_event.c.id > after, _event.c.id <= upto).distinct()
    return set((await session.scalars(stmt)).all())


async def recomputed_heads(
    session: AsyncSession, cutoff: int, *, after_item: int, limit: int
) -> list[Head]:
    """The heads at `cutoff` computed from the events alone (not the item rows), for the next
    `limit` items after `after_item`: what verification compares with a checkpoint."""
    params = {"cutoff": cutoff, "after_item": after_item, "limit": limit}
    found = [Head(*row) for row in (await session.execute(_RECOMPUTED_HEADS, params)).all()]
    # Items whose events up to the cutoff were all detached: their head is the end of their
    # last archived stretch (of an archive the cutoff covers), merged in item order up to
    # where this page of events ends.
    upto = found[-1].item_id if len(found) == limit else None
    archived = await session.execute(
        _ARCHIVED_HEADS, {**params, "upto": upto if upto is not None else 2**62}
    )
    latest: dict[int, Head] = {}
    for item_id, seq, digest in archived:
        if item_id not in latest or latest[item_id].seq < seq:
            latest[item_id] = Head(item_id, seq, digest)
    if not latest:
        return found
    return sorted([*found, *latest.values()], key=lambda head: head.item_id)


def with_hash_now(positions: Subquery) -> Select[Any]:
    """The rows of `positions` (which has `item_id` and `seq`), each with `now`: the hash of
    the event at that position today, NULL when there is none."""
    # A correlated lookup, one unique-index probe per row: as a join, PostgreSQL hashed the
    # whole event table for every page of positions.
    in_event = (
        select(_event.c.hash)
        .where(_event.c.item_id == positions.c.item_id, _event.c.seq == positions.c.seq)
        .scalar_subquery()
    )
    # A position in a detached partition: the archive summary knows the hash of each item's
    # last archived event; one inside an archived stretch is gone with its partition and
    # taken as it was recorded (the stretch's ends are checked).
    archived = (
        select(
            case(
                (_archived.c.last_seq == positions.c.seq, _archived.c.last_hash),
                else_=positions.c.hash,
            )
        )
        .where(
            _archived.c.item_id == positions.c.item_id,
            _archived.c.first_seq <= positions.c.seq,
            _archived.c.last_seq >= positions.c.seq,
        )
        .scalar_subquery()
    )
    return select(positions, func.coalesce(in_event, archived).label("now"))


async def hashes_at(
    session: AsyncSession, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], str | None]:
    """The hash of the event at each (item_id, seq) that still exists; for one in a detached
    partition, its hash if the archive summary has it, else None (archived, not lost)."""
    if not positions:
        return {}
    # Not a row-value IN list: PostgreSQL plans one OR arm per pair. Two plain IN lists
    # use the (item_id, seq) key and fetch at most the items' events; the pairs are
    # picked out here.
    items = sorted({item_id for item_id, _ in positions})
    seqs = sorted({seq for _, seq in positions})
    stmt = select(_event.c.item_id, _event.c.seq, _event.c.hash).where(
        _event.c.item_id.in_(items), _event.c.seq.in_(seqs)
    )
    wanted = set(positions)
    found = {
        (item_id, seq): digest
        for item_id, seq, digest in await session.execute(stmt)
        if (item_id, seq) in wanted
    }
    missing = wanted - found.keys()
    if missing:
        found.update(await _archived_hashes(session, missing))
    return found


async def _archived_hashes(
    session: AsyncSession, positions: set[tuple[int, int]]
) -> dict[tuple[int, int], str | None]:
    """Positions that are in a detached partition: the hash of an item's last archived event,
    None for one inside an archived stretch (gone with its partition; see with_hash_now)."""
    stmt = select(
        _archived.c.item_id, _archived.c.first_seq, _archived.c.last_seq, _archived.c.last_hash
    ).where(_archived.c.item_id.in_(sorted({item_id for item_id, _ in positions})))
    found: dict[tuple[int, int], str | None] = {}
    for item_id, first_seq, last_seq, last_hash in await session.execute(stmt):
        for wanted_item, seq in positions:
            if wanted_item == item_id and first_seq <= seq <= last_seq:
                found[(item_id, seq)] = last_hash if seq == last_seq else None
    return found


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
