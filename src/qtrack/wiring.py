"""What lower packages ask of higher ones, answered from the higher ones.

Imports go one way (see docs/architecture.md), so a package cannot call one above it. Where
a lower package needs what only a higher one knows, it declares a hook (`qtrack.core.hooks`)
with the shape it needs, and `provide` below gives every hook its answer when the app is
built. Each answer is a few lines composed from the higher packages' services.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from qtrack.categories import service as categories_service
from qtrack.containers import service as containers_service
from qtrack.dashboard.pages import NAV
from qtrack.inventory import service as inventory_service
from qtrack.item_types import service as item_types
from qtrack.items import service as items_service
from qtrack.items.models import Item
from qtrack.locations.deps import Holdings, Stock, holdings
from qtrack.locations.models import Location
from qtrack.web.render import navigation
from qtrack.workflow import service as workflow_service
from qtrack.workflow.deps import Follower, Usage, usage
from qtrack.workflow.models import Workflow


async def item_states(session: AsyncSession, workflow: Workflow) -> set[str]:
    """The states that items of any type following this workflow are in (archived too)."""
    found: set[str] = set()
    for item_type in await item_types.list_item_types(session):
        if item_type.workflow_id == workflow.id:
            found |= await item_types.statuses_in_use(session, item_type)
    return found


async def followers(session: AsyncSession) -> Sequence[Follower]:
    """Every item type with its workflow and its live items by state (maintained counts)."""
    counts: dict[str, dict[str, int]] = {}
    for row in (await inventory_service.stats(session))["by_type_status"]:
        counts.setdefault(row["type"], {})[row["status"]] = row["count"]
    return [
        Follower(key=t.key, name=t.name, workflow_id=t.workflow_id, in_state=counts.get(t.key, {}))
        for t in await item_types.list_item_types(session)
    ]


async def items_at(session: AsyncSession, location: Location) -> int:
    """Live items directly at this location, counted from the items themselves."""
    count = await session.scalar(
        select(func.count())
        .select_from(Item)
        .where(Item.location_id == location.id, Item.archived.is_(False))
    )
    return int(count or 0)


async def location_counts(session: AsyncSession) -> Mapping[str, int]:
    """Live items directly at each location, by code, from the maintained counts."""
    stats = await inventory_service.stats(session)
    return {row["location"]: row["count"] for row in stats["by_location"]}


async def stock_at(
    session: AsyncSession, code: str, below: bool, after: Any, limit: int, category: str | None
) -> Stock:
    """A page of the items at a location (or anywhere below it), of a category if given,
    with what their rows show: the state styles, how many things each container holds, and
    the categories to filter by."""
    items, next_key = await items_service.list_items(
        session,
        filters=items_service.ItemFilter(location=code, directly_at=not below, category=category),
        sort="code",
        cursor=after,
        limit=limit,
    )
    types = await item_types.list_item_types(session)
    containers = {t.key for t in types if t.can_contain}
    held = await containers_service.held_counts(
        session, [item.id for item in items if item.type in containers]
    )
    styles = workflow_service.state_styles(types)
    return Stock(
        items=items,
        next_key=next_key,
        rows={
            "held": held,
            "containers": containers,
            "styles": styles,
            "categories": await categories_service.reads(
                session, await categories_service.list_categories(session)
            ),
        },
    )


def provide(app: Starlette) -> None:
    """Give every hook of the lower packages its answer, for this app."""
    navigation.provide(app, NAV)
    usage.provide(app, Usage(item_states=item_states, followers=followers))
    holdings.provide(app, Holdings(items_at=items_at, counts=location_counts, stock_at=stock_at))
