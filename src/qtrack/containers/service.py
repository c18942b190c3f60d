"""Packing and unpacking, contents, and the weight of a container."""

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.events import service as events_service
from qtrack.events.models import Event
from qtrack.events.service import EventContext
from qtrack.inventory import service as inventory_service
from qtrack.items.changes import descendants
from qtrack.items.errors import ContainerCycle, NotAContainer
from qtrack.items.models import Item
from qtrack.items.service import lock_item


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


async def ancestors(session: AsyncSession, item: Item) -> list[int]:
    """The ids of the containers an item is in, innermost first."""
    chain: list[int] = []
    parent = item.parent_id
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = await session.scalar(select(Item.parent_id).where(Item.id == parent))
    return chain


async def pack(
    session: AsyncSession, *, code: str, container: str, actor: Principal, context: EventContext
) -> tuple[Item, list[Event]]:
    """Put an item into a container item; it takes the container's location."""
    if not actor.can(Permission.ITEM_PACK):
        raise PermissionDenied(details={"missing": [Permission.ITEM_PACK.value]})
    # Lock in code order, so two packers working on the same pair cannot deadlock.
    first, second = sorted([code.strip().upper(), container.strip().upper()])
    locked = {first: await lock_item(session, first)}
    if second != first:
        locked[second] = await lock_item(session, second)
    item, box = locked[code.strip().upper()], locked[container.strip().upper()]
    if not box.type.can_contain:
        raise NotAContainer(
            f"'{box.code}' ({box.type.key}) cannot hold items", details={"container": box.code}
        )
    if box.id == item.id or item.id in await ancestors(session, box):
        raise ContainerCycle(details={"item": item.code, "container": box.code})
    if item.parent_id == box.id:
        return item, []
    old_parent = (
        await session.scalar(select(Item.code).where(Item.id == item.parent_id))
        if item.parent_id
        else None
    )
    before = {"container": old_parent}
    after: dict[str, object] = {"container": box.code}
    item.parent_id = box.id
    if item.location_id != box.location_id:
        await inventory_service.location_changed(session, item.location_id, box.location_id)
        item.location_id = box.location_id
        after["location_follows_container"] = True
        for inner in await descendants(session, item.id):
            await inventory_service.location_changed(session, inner.location_id, box.location_id)
            inner.location_id = box.location_id
    item.version += 1
    event = events_service.append(
        session, item=item, kind="packed", actor=actor, before=before, after=after, context=context
    )
    await session.flush()
    return item, [event]


async def unpack(
    session: AsyncSession, *, code: str, actor: Principal, reason: str | None, context: EventContext
) -> tuple[Item, list[Event]]:
    """Take an item out of its container; it stays where the container is."""
    if not actor.can(Permission.ITEM_PACK):
        raise PermissionDenied(details={"missing": [Permission.ITEM_PACK.value]})
    item = await lock_item(session, code)
    if item.parent_id is None:
        return item, []
    old_parent = await session.scalar(select(Item.code).where(Item.id == item.parent_id))
    item.parent_id = None
    item.version += 1
    event = events_service.append(
        session,
        item=item,
        kind="unpacked",
        actor=actor,
        before={"container": old_parent},
        after={"container": None},
        reason=reason,
        context=context,
    )
    await session.flush()
    return item, [event]


async def contents(session: AsyncSession, container: Item) -> list[int]:
    """Ids of the items directly inside a container."""
    return list(
        (
            await session.scalars(
                select(Item.id)
                .where(Item.parent_id == container.id, Item.archived.is_(False))
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
