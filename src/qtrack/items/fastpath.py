"""The scan paths' changes: a transition or a move answered with what the API shows.

The same rules and the same events as `changes.change_status` and `changes.move`, in a few
prebuilt Core statements on the item's locked row, and with the answer built from what those
statements read and wrote instead of reading the item and its events again (the re-read cost
as much as the change). Edges that answer with `ChangeResult` (the JSON API and the scan
endpoint) call these; pages, bulk actions and the CLI keep the ORM versions.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.ratelimit import RateLimiter
from qtrack.events import service as events_service
from qtrack.events.service import EventContext
from qtrack.inventory import service as inventory_service
from qtrack.items import repository
from qtrack.items.changes import check_transition, move_contents
from qtrack.items.errors import ItemArchived, ItemNotFound
from qtrack.items.schemas import ChangeResult
from qtrack.items.service import definition_for, read_events
from qtrack.locations import service as locations_service


async def change_status_read(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    code: str,
    transition: str | None,
    to: str | None,
    actor: Principal,
    reason: str | None,
    password: str | None,
    origin: Origin,
    context: EventContext,
) -> ChangeResult:
    """`change_status` on the scan path, answering with what the API shows: the same rules and
    the same event, in four Core statements (lock and read, event, item, counts) and with the
    answer built from what they read and wrote instead of reading it again."""
    row = (await session.execute(repository.LOCK_BY_CODE, {"code": code.strip().upper()})).first()
    if row is None:
        raise ItemNotFound(f"No item '{code}'")
    if row.archived:
        raise ItemArchived(details={"code": row.code})
    chosen, signature = await check_transition(
        session,
        settings,
        limiter,
        definition=await definition_for(session, row),
        item_id=row.id,
        status=row.status,
        transition=transition,
        to=to,
        actor=actor,
        reason=reason,
        password=password,
        origin=origin,
    )
    recorded = await events_service.record(
        session,
        item_id=row.id,
        head=(row.event_count, row.last_event_hash),
        location_id=row.location_id,
        kind="status_changed",
        actor=actor,
        before={"status": row.status},
        after={"status": chosen.to, "transition": chosen.name},
        reason=reason,
        signature=signature,
        context=context,
    )
    await session.execute(
        repository.SET_STATUS,
        {
            "item_id": row.id,
            "new_status": chosen.to,
            "new_version": row.version + 1,
            "new_event_count": recorded.seq,
            "new_last_event_hash": recorded.hash,
            "new_updated_at": recorded.recorded_at,
        },
    )
    # Last, right before the commit: the shared counter rows stay locked as briefly as can be.
    await inventory_service.status_changed(
        session, row.type_id, row.status, chosen.to, shard=inventory_service.shard_of(row.id)
    )
    return ChangeResult.model_construct(
        item=repository.item_read_of(
            row, status=chosen.to, version=row.version + 1, updated_at=recorded.recorded_at
        ),
        events=[
            repository.event_read_of(
                recorded, item_code=row.code, actor=actor.username, location=row.location_code
            )
        ],
    )


async def move_read(
    session: AsyncSession,
    *,
    code: str,
    location: str,
    actor: Principal,
    reason: str | None,
    context: EventContext,
) -> ChangeResult:
    """`move` on the scan path, answering with what the API shows: the item's own change in
    Core statements, the answer built from them; contents (rare) go along as in `move`."""
    if not actor.can(Permission.ITEM_MOVE):
        raise PermissionDenied(details={"missing": [Permission.ITEM_MOVE.value]})
    row = (await session.execute(repository.LOCK_FOR_MOVE, {"code": code.strip().upper()})).first()
    if row is None:
        raise ItemNotFound(f"No item '{code}'")
    if row.archived:
        raise ItemArchived(details={"code": row.code})
    target = await locations_service.get_by_code(session, location)
    before: dict[str, object] = {"location": row.location_code}
    after: dict[str, object] = {"location": target.code}
    if row.container_code is not None:
        before["container"], after["container"] = row.container_code, None
    if before == after:
        return ChangeResult.model_construct(item=repository.item_read_of(row), events=[])
    recorded = await events_service.record(
        session,
        item_id=row.id,
        head=(row.event_count, row.last_event_hash),
        location_id=target.id,
        kind="moved",
        actor=actor,
        before=before,
        after=after,
        reason=reason,
        context=context,
    )
    await session.execute(
        repository.SET_PLACE,
        {
            "item_id": row.id,
            "new_location_id": target.id,
            "new_version": row.version + 1,
            "new_event_count": recorded.seq,
            "new_last_event_hash": recorded.hash,
            "new_updated_at": recorded.recorded_at,
        },
    )
    events = [
        repository.event_read_of(
            recorded, item_code=row.code, actor=actor.username, location=target.code
        )
    ]
    moved: list[tuple[int | None, int, int]] = [(row.location_id, target.id, row.id)]
    if row.has_contents:
        inner_events = await move_contents(
            session,
            item_id=row.id,
            item_code=row.code,
            target_id=target.id,
            target_code=target.code,
            actor=actor,
            context=context,
            moved=moved,
        )
        events.extend(await read_events(session, inner_events))
    # Last, right before the commit: the shared counter rows stay locked as briefly as can be.
    for old, new, item_id in moved:
        await inventory_service.location_changed(
            session, old, new, shard=inventory_service.shard_of(item_id)
        )
    return ChangeResult.model_construct(
        item=repository.item_read_of(
            row,
            location=target.code,
            container=None,
            version=row.version + 1,
            updated_at=recorded.recorded_at,
        ),
        events=events,
    )
