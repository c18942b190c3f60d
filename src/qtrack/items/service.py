"""Finding and listing items, and the scan lookup's answer.

The changes are elsewhere, one implementation each: `create` (register), `changes`
(transition, quantity, edit, archive, label), `moves` (move), and `qtrack.containers` (pack,
unpack).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, false, not_, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.core.clock import utcnow
from qtrack.item_types import service as item_types_service
from qtrack.item_types.models import ItemType
from qtrack.items import repository, rules
from qtrack.items.errors import ItemNotFound
from qtrack.items.models import Item
from qtrack.items.schemas import ItemRead
from qtrack.locations import service as locations_service
from qtrack.workflow import service as workflow_service
from qtrack.workflow.schemas import WorkflowDefinition


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
        stmt, params = repository.PREPARED_LOOKUP_BY_CODE, {"code": code.strip().upper()}
    else:
        stmt, params = repository.PREPARED_LOOKUP_BY_ID, {"id": item_id}
    row = await stmt.first(session, params)
    if row is None:
        raise ItemNotFound(f"No item '{code if code is not None else item_id}'")
    return row


async def detail_json(session: AsyncSession, row: Any, principal: Principal) -> dict[str, Any]:
    """`ItemDetail` in JSON for a lookup row: the item, its state's label and colour, and the
    transitions this caller may take now."""
    definition = await rules.definition_for(session, row)
    detail = repository.item_json(row)
    detail.update(
        rules.for_caller("detail", row, principal, lambda: _status_json(definition, row, principal))
    )
    return detail


def _status_json(definition: WorkflowDefinition, row: Any, principal: Principal) -> dict[str, Any]:
    state = definition.state(row.status)
    return {
        "status_label": state.label if state else row.status,
        "status_colour": state.colour if state else "#6e7781",
        "actions": tuple(
            rules.action_json(t)
            for t in rules.transitions_open(definition, row.status, row.archived, principal)
        ),
    }


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
        raise ItemNotFound(f"No item '{code if code is not None else item_id}'")
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
    # Live items expiring from today to today + N days (not yet expired).
    expiring_within_days: int | None = None
    # Live items expiring within their own type's window (`item_type.expiry_window_days`).
    expiring_soon: bool = False
    # True: past their expiry date or in their workflow's expired state (and not used up);
    # False: neither.
    expired: bool | None = None
    # The day the expiry filters count from (None: today in UTC); the callers pass the site's.
    today: date | None = None
    archived: bool = False
    q: str | None = None
    # (item type key, state) pairs left out, e.g. lots that are done with.
    not_in_states: frozenset[tuple[str, str]] = frozenset()
    # A category key: items whose type is in it or in a category under it.
    category: str | None = None


async def item_conditions(session: AsyncSession, filters: ItemFilter) -> list[Any]:
    """The WHERE conditions of a filter, over `Item` and its `ItemType` (the items list and
    the items export narrow by the same ones); 404 for a location or container not found."""
    conditions: list[Any] = [Item.archived.is_(filters.archived)]
    if filters.type:
        conditions.append(ItemType.key == filters.type)
    if filters.category:
        categories = await categories_service.subtree_select(session, filters.category)
        conditions.append(ItemType.category_id.in_(categories))
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
    if (
        filters.expired is not None
        or filters.expiring_within_days is not None
        or filters.expiring_soon
    ):
        conditions += await _expiry_conditions(session, filters)
    if filters.q:
        conditions.append(repository.text_search(filters.q))
    if filters.not_in_states:
        conditions.append(tuple_(ItemType.key, Item.status).not_in(sorted(filters.not_in_states)))
    return conditions


def default_sort(filters: ItemFilter) -> str:
    """By code; newest first when searching text. A common word ("stearate") matches a third
    of a large table, and in code order PostgreSQL walks the code index past every code that
    sorts before the first match (200,000 `BAG-…` rows at two million items: half a second);
    newest first finds a page of matches at once, and a rare text takes the trigram indexes
    whichever the order."""
    return "-created" if filters.q else "code"


async def list_items(
    session: AsyncSession,
    *,
    filters: ItemFilter,
    sort: str | None,
    cursor: list[Any] | None,
    limit: int,
) -> tuple[list[ItemRead], list[Any] | None]:
    """A page of items and the cursor of the next page (`sort` None: `default_sort`)."""
    sort = sort or default_sort(filters)
    stmt = repository.item_rows().where(*await item_conditions(session, filters))
    order, after = repository.keyset(sort, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(*order).limit(limit))).all()
    items = [repository.to_item_read(r) for r in rows]
    next_cursor = repository.cursor_value(sort, rows[-1][0]) if len(rows) == limit else None
    return items, next_cursor


async def soonest_to_expire(
    session: AsyncSession, *, filters: ItemFilter, limit: int
) -> list[ItemRead]:
    """The first items of a filter by expiry date, soonest (or longest expired) first: a
    short list for a panel, not paged."""
    stmt = repository.item_rows().where(*await item_conditions(session, filters))
    stmt = stmt.order_by(Item.expiry_on.is_(None), Item.expiry_on, Item.id).limit(limit)
    return [repository.to_item_read(r) for r in (await session.execute(stmt)).all()]


@dataclass(frozen=True)
class ExpiryStates:
    """What the expiry filters need of the item types: (type id, state) pairs of each
    workflow's expired state, of the terminal states that are not it (used up: dispensed,
    consumed, destroyed), and each type's "expiring soon" window in days."""

    expired: frozenset[tuple[int, str]]
    done: frozenset[tuple[int, str]]
    windows: dict[int, int]
    # States an item may be used (dispensed, consumed) from: those a using-up transition
    # leaves; in a workflow without one (supplies are counted out), every live state.
    usable: frozenset[tuple[int, str]] = frozenset()


async def expiry_states(session: AsyncSession) -> ExpiryStates:
    """The expired and used-up states and the windows of every item type (one query)."""
    expired: set[tuple[int, str]] = set()
    done: set[tuple[int, str]] = set()
    windows: dict[int, int] = {}
    usable: set[tuple[int, str]] = set()
    for item_type in await item_types_service.list_item_types(session):
        windows[item_type.id] = item_type.expiry_window_days
        definition = workflow_service.definition_of(item_type.workflow)
        using = {s for t in definition.transitions if rules.uses_up(t) for s in t.from_}
        for state in definition.states:
            if state.expired:
                expired.add((item_type.id, state.key))
            elif state.terminal:
                done.add((item_type.id, state.key))
            elif state.key in using or not using:
                usable.add((item_type.id, state.key))
    return ExpiryStates(frozenset(expired), frozenset(done), windows, frozenset(usable))


def expiry_conditions(filters: ItemFilter, states: ExpiryStates, today: date) -> list[Any]:
    """The WHERE conditions of a filter's expiry parts."""
    pair = tuple_(Item.type_id, Item.status)
    in_expired = pair.in_(sorted(states.expired)) if states.expired else false()
    live = pair.not_in(sorted(states.done)) if states.done else true()
    past = Item.expiry_on < today
    conditions: list[Any] = []
    if filters.expired is True:
        conditions += [or_(past, in_expired), live]
    elif filters.expired is False:
        conditions += [or_(Item.expiry_on.is_(None), Item.expiry_on >= today), not_(in_expired)]
    if filters.expiring_within_days is not None or filters.expiring_soon:
        conditions += [Item.expiry_on >= today, not_(in_expired), live]
    if filters.expiring_within_days is not None:
        conditions.append(Item.expiry_on <= today + timedelta(days=filters.expiring_within_days))
    if filters.expiring_soon:
        by_window: dict[int, list[int]] = {}
        for type_id, days in states.windows.items():
            by_window.setdefault(days, []).append(type_id)
        conditions.append(
            or_(
                false(),
                *(
                    and_(
                        Item.type_id.in_(sorted(type_ids)),
                        Item.expiry_on <= today + timedelta(days=days),
                    )
                    for days, type_ids in sorted(by_window.items())
                ),
            )
        )
    return conditions


async def _expiry_conditions(session: AsyncSession, filters: ItemFilter) -> list[Any]:
    today = filters.today or utcnow().date()
    return expiry_conditions(filters, await expiry_states(session), today)


async def low_stock(
    session: AsyncSession, *, limit: int, done_with: frozenset[tuple[str, str]] = frozenset()
) -> list[ItemRead]:
    """Items at or below their type's low-stock threshold, fewest first, leaving out the
    (type, state) pairs `done_with` (an expired or used-up lot is no stock, low or not)."""
    stmt = (
        repository.item_rows()
        .where(
            Item.archived.is_(False),
            ItemType.tracks_quantity.is_(True),
            ItemType.low_stock_threshold.is_not(None),
            Item.quantity <= ItemType.low_stock_threshold,
            tuple_(ItemType.key, Item.status).not_in(sorted(done_with)) if done_with else true(),
        )
        .order_by(Item.quantity, Item.id)
        .limit(limit)
    )
    return [repository.to_item_read(r) for r in (await session.execute(stmt)).all()]
