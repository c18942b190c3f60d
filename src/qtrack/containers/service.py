"""Packing and unpacking, contents, and the weight of a container.

Pack and unpack are the one implementation of their change for every caller, on the scan
path's terms (`items.writes`): the item and its containers locked in one statement, containers
first (`items.moves.lock_with_containers`), the events through `events.service.record`, and the
answer built from what was read and written. Whether a container takes items in or lets them
out is its workflow state's `closed` flag (a sealed or dispatched bag: 409 container_closed).
A container's own history shows what was packed into it and taken out: each pack and unpack
also records `content_added` / `content_removed` on the container's chain.
"""

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.containers.errors import ContainerCycle, NotAContainer
from qtrack.events import service as events_service
from qtrack.events.service import EventContext
from qtrack.items import moves, statements, writes
from qtrack.items.errors import ItemArchived, ItemNotFound
from qtrack.items.models import Item
from qtrack.items.schemas import ChangeResult


async def held_counts(session: AsyncSession, item_ids: Collection[int]) -> dict[int, int]:
    """How many live items each of these containers directly holds (left out: none), in one
    query."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(Item.parent_id, func.count())
        .where(Item.parent_id.in_(item_ids), Item.archived.is_(False))
        .group_by(Item.parent_id)
    )
    return {int(parent): int(count) for parent, count in rows if parent is not None}


async def ancestors(session: AsyncSession, parent_id: int | None) -> list[int]:
    """The ids of the containers above a container (`parent_id`: the one it is in),
    innermost first."""
    chain: list[int] = []
    parent = parent_id
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = await session.scalar(select(Item.parent_id).where(Item.id == parent))
    return chain


def _need(actor: Principal) -> None:
    if not actor.can(Permission.ITEM_PACK):
        raise PermissionDenied(details={"missing": [Permission.ITEM_PACK.value]})


async def pack(
    session: AsyncSession, *, code: str, container: str, actor: Principal, context: EventContext
) -> ChangeResult:
    """Put an item into a container item; it and what it holds take the container's
    location. Taken out of another container first if it is in one."""
    _need(actor)
    item, by_id = await moves.lock_with_containers(session, code, container)
    box = next((r for r in by_id.values() if r.code == writes.normal(container)), None)
    if box is None:
        raise ItemNotFound(f"No item '{container}'")
    if box.archived:
        raise ItemArchived(details={"code": box.code})
    if not box.can_contain:
        raise NotAContainer(
            f"'{box.code}' ({box.type_key}) cannot hold items", details={"container": box.code}
        )
    if box.id == item.id or item.id in await ancestors(session, box.parent_id):
        raise ContainerCycle(details={"item": item.code, "container": box.code})
    if item.parent_id == box.id:
        return writes.unchanged(item)
    old = by_id.get(item.parent_id) if item.parent_id is not None else None
    await moves.refuse_if_closed(session, box, "packed into")
    if old is not None:
        await moves.refuse_if_closed(session, old, "taken out of")

    before: dict[str, object] = {"container": old.code if old else None}
    after: dict[str, object] = {"container": box.code}
    relocated = item.location_id != box.location_id
    if relocated:
        before["location"], after["location"] = item.location_code, box.location_code
    contents = await moves.lock_contents(session, item.id) if relocated else []
    entries = [
        writes.entry(item, "packed", before=before, after=after, location_id=box.location_id,
                     context=context),
        moves.content_entry(box, "content_added", item.code, None, context),
    ]  # fmt: skip
    if old is not None:
        entries.append(moves.content_entry(old, "content_removed", item.code, None, context))
    entries += moves.contents_entries(
        contents, box.location_id, box.location_code, item.code, context
    )
    recorded = await events_service.record(session, actor, entries)
    held = 2 if old is not None else 1  # the events of the box, and of the old container
    mine, containers, inner = recorded[0], recorded[1 : 1 + held], recorded[1 + held :]
    version = item.version + 1
    await session.execute(
        statements.SET_CONTAINER,
        {
            **writes.head(mine),
            "new_parent_id": box.id,
            "new_location_id": box.location_id,
            "new_version": version,
        },
    )
    await writes.move_heads(session, containers)
    rows = {row.id: row for row in contents}
    await moves.write_contents(session, inner, rows, box.location_id)
    if relocated:
        await moves.count_moves(
            session,
            [(item, box.location_id), *[(rows[r.item_id], box.location_id) for r in inner]],
        )
    events = [writes.read(mine, item.code, actor, box.location_code)]
    events += [
        writes.read(r, by_id[r.item_id].code, actor, by_id[r.item_id].location_code)
        for r in containers
    ]
    events += [writes.read(r, rows[r.item_id].code, actor, box.location_code) for r in inner]
    return writes.answer(
        item,
        events,
        container=box.code,
        location=box.location_code,
        version=version,
        updated_at=mine.recorded_at,
    )


async def unpack(
    session: AsyncSession, *, code: str, actor: Principal, reason: str | None, context: EventContext
) -> ChangeResult:
    """Take an item out of its container; it stays where the container is."""
    _need(actor)
    item, by_id = await moves.lock_with_containers(session, code)
    if item.parent_id is None:
        return writes.unchanged(item)
    old = by_id[item.parent_id]
    await moves.refuse_if_closed(session, old, "taken out of")
    mine, taken = await events_service.record(
        session,
        actor,
        [
            writes.entry(
                item,
                "unpacked",
                before={"container": old.code},
                after={"container": None},
                reason=reason,
                context=context,
            ),
            moves.content_entry(old, "content_removed", item.code, reason, context),
        ],
    )
    version = item.version + 1
    await session.execute(
        statements.SET_CONTAINER,
        {
            **writes.head(mine),
            "new_parent_id": None,
            "new_location_id": item.location_id,
            "new_version": version,
        },
    )
    await writes.move_heads(session, [taken])
    return writes.answer(
        item,
        [
            writes.read(mine, item.code, actor, item.location_code),
            writes.read(taken, old.code, actor, old.location_code),
        ],
        container=None,
        version=version,
        updated_at=mine.recorded_at,
    )


async def contents(session: AsyncSession, container_id: int) -> list[int]:
    """Ids of the items directly inside a container."""
    return list(
        (
            await session.scalars(
                select(Item.id)
                .where(Item.parent_id == container_id, Item.archived.is_(False))
                .order_by(Item.code)
            )
        ).all()
    )


async def total_weight(session: AsyncSession, container: Item) -> Decimal | None:
    """The container's own weight plus its contents at any depth (None: nothing weighed)."""
    weights = [container.weight_kg]
    frontier = [container.id]
    while frontier:
        rows = (
            await session.execute(
                select(Item.id, Item.weight_kg).where(
                    Item.parent_id.in_(frontier), Item.archived.is_(False)
                )
            )
        ).all()
        weights.extend(w for _, w in rows)
        frontier = [i for i, _ in rows]
    known = [w for w in weights if w is not None]
    return sum(known, Decimal(0)) if known else None
