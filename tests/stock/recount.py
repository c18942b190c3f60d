"""On-hand computed from the items themselves (slow; for checks), and as maintained."""

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.item_types.models import ItemType
from qtrack.items import on_hand
from qtrack.items.models import Item
from qtrack.stock.models import EVERYWHERE, StockOnHand
from qtrack.workflow import service as workflow_service
from qtrack.workflow.models import Workflow

OnHand = dict[tuple[int, int], Decimal]


async def recount(session: AsyncSession) -> OnHand:
    """(type id, location id or 0 for the total) -> on-hand, from the live items."""
    definitions = {
        w.id: workflow_service.definition_of(w) for w in await session.scalars(select(Workflow))
    }
    rows = await session.execute(
        select(
            Item.type_id, Item.location_id, Item.status, Item.quantity,
            ItemType.tracks_quantity, ItemType.workflow_id,
        )
        .join(ItemType, ItemType.id == Item.type_id)
        .where(Item.archived.is_(False))
    )  # fmt: skip
    found: OnHand = {}
    for type_id, location_id, status, quantity, tracks, workflow_id in rows:
        if not on_hand.stocked(definitions[workflow_id], status):
            continue
        amount = on_hand.amount(tracks, quantity)
        places = [EVERYWHERE] if location_id is None else [EVERYWHERE, location_id]
        for place in places:
            found[(type_id, place)] = found.get((type_id, place), Decimal(0)) + amount
    return {k: v for k, v in found.items() if v}


async def maintained(session: AsyncSession) -> OnHand:
    """The same from `stock_on_hand` (zeros left out)."""
    rows = await session.execute(
        select(StockOnHand.type_id, StockOnHand.location_id, StockOnHand.on_hand)
    )
    return {(t, loc): Decimal(v) for t, loc, v in rows if v}
