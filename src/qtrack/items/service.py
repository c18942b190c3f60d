"""Finding and listing items, and the scan lookup's answer.

The changes are elsewhere, one implementation each: `create` (register), `changes`
(transition, quantity, edit, archive, label), `moves` (move), and `qtrack.containers` (pack,
unpack).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts.principal import Principal
from qtrack.item_types.models import ItemType
from qtrack.items import repository, rules
from qtrack.items.errors import ItemNotFound
from qtrack.items.models import Item
from qtrack.items.schemas import ItemRead
from qtrack.locations import service as locations_service


async def read_item(session: AsyncSession, item_id: int) -> ItemRead:
    """The read model of one item."""
    row = (await session.execute(repository.item_rows().where(Item.id == item_id))).one()
    return repository.to_item_read(row)


async def lookup_row(
    session: AsyncSession, *, code: str | None = None, item_id: int | None = None
) -> Any:
    """The scan lookup: an item's read model, its type's rules and its chain head, as one
    Core row of one statement; 404 item_not_found."""
    params: dict[str, Any]
    if code is not None:
        stmt, params = repository.LOOKUP_BY_CODE, {"code": code.strip().upper()}
    else:
        stmt, params = repository.LOOKUP_BY_ID, {"id": item_id}
    row = (await session.execute(stmt, params)).first()
    if row is None:
        raise ItemNotFound(f"No item '{code or item_id}'")
    return row


async def detail_json(session: AsyncSession, row: Any, principal: Principal) -> dict[str, Any]:
    """`ItemDetail` in JSON for a lookup row: the item, its state's label and colour, and the
    transitions this caller may take now."""
    definition = await rules.definition_for(session, row)
    state = definition.state(row.status)
    detail = repository.item_json(row)
    detail["status_label"] = state.label if state else row.status
    detail["status_colour"] = state.colour if state else "#6e7781"
    detail["actions"] = [
        rules.action_json(t)
        for t in rules.transitions_open(definition, row.status, row.archived, principal)
    ]
    return detail


async def read_items(session: AsyncSession, ids: Sequence[int]) -> list[ItemRead]:
    """Read models of several items, in the order given."""
    rows = (await session.execute(repository.item_rows().where(Item.id.in_(ids)))).all()
    by_id = {row[0].id: repository.to_item_read(row) for row in rows}
    return [by_id[i] for i in ids]


async def find_item(
    session: AsyncSession, *, code: str | None = None, item_id: int | None = None
) -> Item:
    """An item (with type and workflow) by code or id; 404 item_not_found."""
    stmt = select(Item).options(joinedload(Item.type).joinedload(ItemType.workflow))
    if code is not None:
        stmt = stmt.where(Item.code == code.strip().upper())
    else:
        stmt = stmt.where(Item.id == item_id)
    item = await session.scalar(stmt)
    if item is None:
        raise ItemNotFound(f"No item '{code or item_id}'")
    return item


@dataclass(frozen=True)
class ItemFilter:
    """What a list of items may be narrowed by."""

    type: str | None = None
    status: str | None = None
    location: str | None = None
    # With a location: only the items directly at it, not those anywhere below it.
    directly_at: bool = False
    container: str | None = None
    batch: str | None = None
    gtin: str | None = None
    expiring_before: date | None = None
    archived: bool = False
    q: str | None = None
    # (item type key, state) pairs left out, e.g. lots that are done with.
    not_in_states: frozenset[tuple[str, str]] = frozenset()


async def item_conditions(session: AsyncSession, filters: ItemFilter) -> list[Any]:
    """The WHERE conditions of a filter, over `Item` and its `ItemType` (the items list and
    the items export narrow by the same ones); 404 for a location or container not found."""
    conditions: list[Any] = [Item.archived.is_(filters.archived)]
    if filters.type:
        conditions.append(ItemType.key == filters.type)
    if filters.status:
        conditions.append(Item.status == filters.status)
    if filters.location and filters.directly_at:
        place = await locations_service.get_by_code(session, filters.location)
        conditions.append(Item.location_id == place.id)
    elif filters.location:
        subtree = await locations_service.subtree_ids_select(session, filters.location)
        conditions.append(Item.location_id.in_(subtree))
    if filters.container:
        container = await find_item(session, code=filters.container)
        conditions.append(Item.parent_id == container.id)
    if filters.batch:
        conditions.append(Item.batch == filters.batch)
    if filters.gtin:
        conditions.append(Item.gtin == filters.gtin)
    if filters.expiring_before:
        conditions.append(Item.expiry_on < filters.expiring_before)
    if filters.q:
        conditions.append(repository.text_search(filters.q))
    if filters.not_in_states:
        conditions.append(tuple_(ItemType.key, Item.status).not_in(sorted(filters.not_in_states)))
    return conditions


async def list_items(
    session: AsyncSession, *, filters: ItemFilter, sort: str, cursor: list[Any] | None, limit: int
) -> tuple[list[ItemRead], list[Any] | None]:
    """A page of items and the cursor of the next page."""
    stmt = repository.item_rows().where(*await item_conditions(session, filters))
    order, after = repository.keyset(sort, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(*order).limit(limit))).all()
    items = [repository.to_item_read(r) for r in rows]
    next_cursor = repository.cursor_value(sort, rows[-1][0]) if len(rows) == limit else None
    return items, next_cursor


async def low_stock(session: AsyncSession, *, limit: int) -> list[ItemRead]:
    """Items at or below their type's low-stock threshold, fewest first."""
    stmt = (
        repository.item_rows()
        .where(
            Item.archived.is_(False),
            ItemType.tracks_quantity.is_(True),
            ItemType.low_stock_threshold.is_not(None),
            Item.quantity <= ItemType.low_stock_threshold,
        )
        .order_by(Item.quantity, Item.id)
        .limit(limit)
    )
    return [repository.to_item_read(r) for r in (await session.execute(stmt)).all()]
