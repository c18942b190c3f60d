"""Pull: what changed since a device's cursor, a page at a time (GET /api/v1/sync/changes).

A first sync (no cursor) notes where the change feed and the clock stand, then sends every
live record of every kind the caller may see, kind by kind in sync order and by id: the
snapshot. After that, and on every later pull, it sends the changes after the cursor:

- table kinds: rows whose `(updated_at, id)` is past the kind's mark, archived ones as
  tombstones. A transaction may commit after a pull read past the time it stamped on a row
  (PostgreSQL runs writers side by side), so the last page of a pull moves each mark back
  to at most `QTRACK_SYNC_OVERLAP_S` ago: the next pull sends those recent rows again. A
  client applies records by version, so a repeat costs nothing;
- items: the change feed after the cursor's position (every change of an item is an event,
  in an order that never changes once read; see events/feed.py). The items named are sent
  as they are now, once per page, archived ones as tombstones.

Changes made while a snapshot is read are sent again afterwards (the feed position and the
marks were taken before it started), so a device that has read to the end is up to date
with everything committed before its last page.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.events import feed
from qtrack.events.models import Event
from qtrack.sync import kinds as _kinds  # noqa: F401  (registers the kinds)
from qtrack.sync import registry, repository
from qtrack.sync.cursor import (
    Cursor,
    SyncResyncRequired,
    decode,
    from_micros,
    micros,
)
from qtrack.sync.registry import Kind, Record

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


@dataclass
class SyncPage:
    """One page of changes, the cursor to send next time, and whether more wait now."""

    changes: list[dict[str, Any]]
    next_cursor: str
    has_more: bool
    snapshot: bool  # part of a first sync

    def as_json(self) -> dict[str, Any]:
        """The page as the API sends it."""
        return {
            "changes": self.changes,
            "next_cursor": self.next_cursor,
            "has_more": self.has_more,
            "snapshot": self.snapshot,
        }


def change(kind: Kind, row_id: int, key: str, record: Record | None) -> dict[str, Any]:
    """One entry of a page: an upsert with the record, or a tombstone (record null)."""
    return {
        "kind": kind.name,
        "id": row_id,
        "key": key,
        "op": "upsert" if record is not None else "delete",
        "record": record,
    }


async def start(session: AsyncSession, settings: Settings, principal: Principal) -> Cursor:
    """The cursor of a first sync: the feed's position and the time now, snapshot to do."""
    visible = registry.visible(principal.permissions)
    since = micros(utcnow() - timedelta(seconds=settings.sync_overlap_s))
    return Cursor(
        issued_at=int(utcnow().timestamp()),
        kinds=tuple(k.name for k in visible),
        feed=feed.decode_position(await feed.latest_cursor(session)),
        marks={k.name: (since, 0) for k in visible if not k.feed},
        snapshot=(0, 0) if visible else None,
    )


async def check(
    session: AsyncSession, settings: Settings, principal: Principal, cursor: Cursor
) -> list[Kind]:
    """The cursor's kinds if it can be read on; 410 sync_resync_required otherwise."""
    if cursor.issued_at + settings.sync_cursor_max_age_s < utcnow().timestamp():
        raise SyncResyncRequired(
            "The sync cursor is too old: sync again from the start", details={"reason": "expired"}
        )
    visible = registry.visible(principal.permissions)
    if tuple(k.name for k in visible) != cursor.kinds:
        raise SyncResyncRequired(
            "What you may see has changed: sync again from the start",
            details={"reason": "scope_changed"},
        )
    if set(cursor.marks) != {k.name for k in visible if not k.feed}:
        raise SyncResyncRequired(details={"reason": "protocol"})
    if cursor.feed[1] > (await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0):
        # The server's history is behind the cursor (restored from a backup): start again.
        raise SyncResyncRequired(
            "The server does not know this position: sync again from the start",
            details={"reason": "unknown_position"},
        )
    return visible


async def read_changes(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    since: str | None,
    limit: int = DEFAULT_LIMIT,
) -> SyncPage:
    """The changes after `since` (None: a first sync) that the caller may see."""
    limit = max(1, min(limit, MAX_LIMIT))
    if since is None:
        cursor = await start(session, settings, principal)
        visible = registry.visible(principal.permissions)
    else:
        cursor = decode(since)
        visible = await check(session, settings, principal, cursor)
    changes: list[dict[str, Any]] = []
    in_snapshot = cursor.snapshot is not None
    more = False
    if in_snapshot:
        # A page of the snapshot holds only snapshot records; what changed meanwhile follows.
        cursor, _ = await _snapshot(session, visible, cursor, changes, limit)
        more = True
    else:
        cursor, more = await _incremental(session, visible, cursor, changes, limit)
    if not more:
        # The last page of this pull: re-read the recent past next time (late commits).
        floor = micros(utcnow() - timedelta(seconds=settings.sync_overlap_s))
        cursor = cursor.but(marks={n: min(m, (floor, 0)) for n, m in cursor.marks.items()})
    cursor = cursor.but(issued_at=int(utcnow().timestamp()))
    return SyncPage(changes, cursor.encode(), has_more=more, snapshot=in_snapshot)


async def _snapshot(
    session: AsyncSession,
    visible: list[Kind],
    cursor: Cursor,
    out: list[dict[str, Any]],
    limit: int,
) -> tuple[Cursor, bool]:
    assert cursor.snapshot is not None
    index, after = cursor.snapshot
    while index < len(visible):
        room = limit - len(out)
        if room == 0:
            return cursor.but(snapshot=(index, after)), True
        kind = visible[index]
        if kind.feed:
            rows: list[Any] = list(
                await session.execute(repository.ITEMS_AFTER, {"after": after, "limit": room})
            )
        else:
            rows = list((await session.scalars(repository.snapshot(kind, after, room))).all())
        records = await kind.serialize(session, rows)
        out.extend(
            change(kind, row.id, getattr(row, kind.key), record)
            for row, record in zip(rows, records, strict=True)
        )
        if len(rows) == room:
            after = rows[-1].id
        else:
            index, after = index + 1, 0
    return cursor.but(snapshot=None), False


async def _incremental(
    session: AsyncSession,
    visible: list[Kind],
    cursor: Cursor,
    out: list[dict[str, Any]],
    limit: int,
) -> tuple[Cursor, bool]:
    marks = dict(cursor.marks)
    for kind in visible:
        if kind.feed:
            continue
        room = limit - len(out)
        if room == 0:
            return cursor.but(marks=marks), True
        at, row_id = marks[kind.name]
        rows = list(
            (await session.scalars(repository.changed(kind, (from_micros(at), row_id), room))).all()
        )
        if not rows:
            continue
        live = [row for row in rows if not _gone(kind, row)]
        records = dict(
            zip([row.id for row in live], await kind.serialize(session, live), strict=True)
        )
        out.extend(
            change(kind, row.id, getattr(row, kind.key), records.get(row.id)) for row in rows
        )
        marks[kind.name] = (micros(rows[-1].updated_at), rows[-1].id)
        if len(rows) == room:
            return cursor.but(marks=marks), True
    cursor = cursor.but(marks=marks)
    item_kind = next((k for k in visible if k.feed), None)
    room = limit - len(out)
    if item_kind is None:
        return cursor, False
    if room == 0:
        return cursor, True
    page = await feed.read_changes(session, feed.encode_position(cursor.feed), room)
    # Each item once, where its last change of the page puts it.
    order: dict[int, None] = {}
    for item_change in page.changes:
        order.pop(item_change.item_id, None)
        order[item_change.item_id] = None
    if order:
        found = {
            row.id: row
            for row in await session.execute(repository.ITEMS_BY_ID, {"ids": list(order)})
        }
        ordered = [found[i] for i in order if i in found]
        live = [row for row in ordered if not row.archived]
        records = dict(
            zip([row.id for row in live], await item_kind.serialize(session, live), strict=True)
        )
        out.extend(change(item_kind, row.id, row.code, records.get(row.id)) for row in ordered)
    return cursor.but(feed=feed.decode_position(page.next_cursor)), page.has_more


def _gone(kind: Kind, row: Any) -> bool:
    return bool(kind.archived and getattr(row, kind.archived))
