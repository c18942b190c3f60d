"""Moving an item: to a location, out of its container, with everything packed inside it.

Rows are locked containers first, then what they hold: the item together with its container
in one statement (`statements.LOCK_WITH_CONTAINERS`, the container first), then its contents
level by level. Packing and unpacking (`qtrack.containers`) take the same order, so two
changes of one container and its contents wait for each other instead of deadlocking.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core import prepared
from qtrack.core.deferred import dialect_name
from qtrack.events import service as events_service
from qtrack.events.service import Entry, EventContext, Recorded
from qtrack.items import counts, on_hand, rules, statements, writes
from qtrack.items.errors import Busy, ContainerClosed, ItemArchived, ItemNotFound
from qtrack.items.schemas import ChangeResult
from qtrack.locations import service as locations_service

# PostgreSQL's "deadlock detected": a change that took its rows out of the usual order (a
# container packed into what it holds, at the same moment) was chosen to give way.
_DEADLOCK = "40P01"
_SAVEPOINT = text("SAVEPOINT qtrack_containers")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT qtrack_containers")
# Each attempt follows an item that someone else packed elsewhere in the meantime.
_ATTEMPTS = 5


async def lock_with_containers(
    session: AsyncSession, code: str, container: str | None = None
) -> tuple[writes.Row, dict[int, writes.Row]]:
    """The item and the containers a change of it involves (the one it is in, and
    `container`), locked containers first: the item's row, and every row locked by id.

    The statement learns which container the item is in from its snapshot, taken before it
    waits for any lock; if the item was packed elsewhere meanwhile, the container it is in now
    was not locked, and locking it after the item could deadlock against a change of that
    container and its contents. So on PostgreSQL the locks are taken inside a savepoint, and
    in that case given back and taken again, in order, from a fresh snapshot."""
    params = {"code": writes.normal(code), "container": writes.normal(container or code)}
    if dialect_name(session) == "postgresql":
        await prepared.execute_locked(session, _SAVEPOINT)
    for _ in range(_ATTEMPTS):
        try:
            rows = await statements.LOCK_WITH_CONTAINERS_PREPARED.all_locked(session, params)
        except DBAPIError as exc:
            raise _busy_or(exc) from exc
        by_id = {row.id: row for row in rows}
        item = next((row for row in rows if row.code == params["code"]), None)
        if item is None:
            raise ItemNotFound(f"No item '{code}'")
        if item.archived:
            raise ItemArchived(details={"code": item.code})
        if item.parent_id is None or item.parent_id in by_id:
            return item, by_id
        # SQLite runs one writer at a time: only PostgreSQL gets here.
        await prepared.execute_locked(session, _ROLLBACK_TO_SAVEPOINT)
    raise Busy()


def _busy_or(exc: DBAPIError) -> Exception:
    if getattr(exc.orig, "sqlstate", None) == _DEADLOCK:
        return Busy()
    return exc


async def lock_contents(session: AsyncSession, item_id: int) -> list[writes.Row]:
    """Everything packed inside an item, at any depth, locked level by level (a container
    before what it holds)."""
    found: list[writes.Row] = []
    frontier = [item_id]
    while frontier:
        try:
            if len(frontier) == 1:  # through the driver (core/prepared.py)
                params = {"parent": frontier[0]}
                level = await statements.LOCK_CHILDREN_OF.all_locked(session, params)
            else:
                level = list(await session.execute(statements.LOCK_CHILDREN, {"ids": frontier}))
        except DBAPIError as exc:
            raise _busy_or(exc) from exc
        found.extend(level)
        frontier = [row.id for row in level]
    return found


async def refuse_if_closed(session: AsyncSession, container: writes.Row, verb: str) -> None:
    """409 container_closed when the container's state fixes its contents."""
    if await rules.is_closed(session, container):
        raise ContainerClosed(
            f"{container.code} is {container.status.replace('_', ' ')}: nothing may be {verb} it",
            details={"container": container.code, "status": container.status},
        )


def content_entry(
    container: writes.Row, kind: str, item_code: str, reason: str | None, context: EventContext
) -> Entry:
    """The container's own event for an item packed into it or taken out of it."""
    return writes.entry(
        container,
        kind,
        after={"item": item_code},
        reason=reason,
        context=EventContext(occurred_at=context.occurred_at),
    )


def contents_entries(
    contents: Sequence[writes.Row], target_id: int | None, target_code: str | None, with_: str,
    context: EventContext,
) -> list[Entry]:  # fmt: skip
    """A `moved` event for each thing inside that is not already at the target."""
    return [
        writes.entry(
            inner,
            "moved",
            before={"location": inner.location_code},
            after={"location": target_code, "with": with_},
            location_id=target_id,
            reason=f"moved with {with_}",
            context=EventContext(occurred_at=context.occurred_at),
        )
        for inner in contents
        if inner.location_id != target_id
    ]


async def write_contents(
    session: AsyncSession,
    recorded: Sequence[Recorded],
    by_id: dict[int, writes.Row],
    target_id: int | None,
) -> None:
    """Put each moved content at the target (its container stays) and move its head."""
    if recorded:
        await session.execute(
            statements.SET_LOCATION,
            [
                {
                    **writes.head(r),
                    "new_location_id": target_id,
                    "new_version": by_id[r.item_id].version + 1,
                }
                for r in recorded
            ],
        )


async def count_moves(session: AsyncSession, moved: Sequence[tuple[Any, int | None]]) -> None:
    """The location counts of every (row, new location) moved; last, before the commit. An
    archived item left in a container goes where the container goes, but it is in no count."""
    live = [(row, new) for row, new in moved if not row.archived]
    if len(live) == 1:
        ((row, new),) = live
        shard = counts.shard_of(row.id)
        await counts.location_changed(session, row.location_id, new, shard=shard)
    elif live:
        await counts.locations_changed(session, [(r.location_id, new, r.id) for r, new in live])
    await on_hand.moved(session, moved)


async def move(
    session: AsyncSession,
    *,
    code: str,
    location: str,
    actor: Principal,
    reason: str | None,
    context: EventContext,
) -> ChangeResult:
    """Put an item at a location; what it contains goes with it. A packed item taken
    elsewhere leaves its container (409 container_closed if that is closed). A move to where
    the item already is records nothing."""
    if not actor.can(Permission.ITEM_MOVE):
        raise PermissionDenied(details={"missing": [Permission.ITEM_MOVE.value]})
    target = await locations_service.open_by_code(session, location)
    item, by_id = await lock_with_containers(session, code)
    before: dict[str, object] = {"location": item.location_code}
    after: dict[str, object] = {"location": target.code}
    container = by_id.get(item.parent_id) if item.parent_id is not None else None
    if container is not None:
        before["container"], after["container"] = container.code, None
    if before == after:
        return writes.unchanged(item)
    if container is not None:
        await refuse_if_closed(session, container, "taken out of")
    contents = await lock_contents(session, item.id)
    entries = [
        writes.entry(
            item, "moved", before=before, after=after, location_id=target.id, reason=reason,
            context=context,
        )
    ]  # fmt: skip
    if container is not None:
        entries.append(content_entry(container, "content_removed", item.code, reason, context))
    entries += contents_entries(contents, target.id, target.code, item.code, context)
    version = item.version + 1
    if len(entries) == 1:
        # The item alone (no container, nothing inside; never archived: `lock_with_containers`
        # refuses that): its head and place, and the location counts when it leaves one
        # location for another, with the event, in one statement on PostgreSQL.
        shard = counts.shard_of(item.id)
        counted = counts.location_change(session, item.location_id, target.id, shard=shard)

        def placed(recorded: Recorded) -> list[events_service.Along]:
            head = {**writes.head(recorded), "new_location_id": target.id, "new_version": version}
            return [(statements.SET_PLACE, head), *([counted] if counted else [])]

        (mine,) = await events_service.record(session, actor, entries, along=placed)
        if counted is None:  # from no location
            await counts.location_changed(session, item.location_id, target.id, shard=shard)
        await on_hand.moved(session, [(item, target.id)])
        return writes.answer(
            item,
            [writes.read(mine, item.code, actor, target.code)],
            location=target.code,
            container=None,
            version=version,
            updated_at=mine.recorded_at,
        )
    recorded = await events_service.record(session, actor, entries)
    mine, rest = recorded[0], recorded[1:]
    await session.execute(
        statements.SET_PLACE,
        {**writes.head(mine), "new_location_id": target.id, "new_version": version},
    )
    events = [writes.read(mine, item.code, actor, target.code)]
    if container is not None:
        taken, rest = rest[0], rest[1:]
        await writes.move_heads(session, [taken])
        events.append(writes.read(taken, container.code, actor, container.location_code))
    rows = {row.id: row for row in contents}
    await write_contents(session, rest, rows, target.id)
    events += [writes.read(r, rows[r.item_id].code, actor, target.code) for r in rest]
    # Last, right before the commit: the shared counter rows stay locked as briefly as can be.
    await count_moves(session, [(item, target.id), *[(rows[r.item_id], target.id) for r in rest]])
    return writes.answer(
        item,
        events,
        location=target.code,
        container=None,
        version=version,
        updated_at=mine.recorded_at,
    )
