"""Item use cases: register, find, list, edit, archive. Each change is one event."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts.principal import Principal
from qtrack.codes import tokens
from qtrack.config import Settings
from qtrack.core.errors import ValidationFailed
from qtrack.events import service as events_service
from qtrack.events.models import Event
from qtrack.events.service import EventContext
from qtrack.inventory import service as inventory_service
from qtrack.items import repository
from qtrack.items import types as item_types
from qtrack.items.errors import ItemArchived, ItemNotFound, VersionMismatch
from qtrack.items.models import Item, ItemType
from qtrack.items.schemas import EventRead, ItemCreate, ItemRead
from qtrack.locations import service as locations_service
from qtrack.workflow import service as workflow_service
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import Transition, WorkflowDefinition


def context_of(body: Any) -> EventContext:
    """The event context a request body carries."""
    return EventContext(
        client_event_id=getattr(body, "client_event_id", None),
        occurred_at=getattr(body, "occurred_at", None),
        latitude=getattr(body, "latitude", None),
        longitude=getattr(body, "longitude", None),
    )


async def lock_item(session: AsyncSession, code: str, *, allow_archived: bool = False) -> Item:
    """An item with its type and workflow, locked for this transaction (404 if unknown)."""
    item = await session.scalar(
        select(Item)
        .options(joinedload(Item.type).joinedload(ItemType.workflow))
        .where(Item.code == code.strip().upper())
        .with_for_update(of=Item)
    )
    if item is None:
        raise ItemNotFound(f"No item '{code}'")
    if item.archived and not allow_archived:
        raise ItemArchived(details={"code": item.code})
    return item


async def read_item(session: AsyncSession, item_id: int) -> ItemRead:
    """The read model of one item."""
    row = (await session.execute(repository.item_rows().where(Item.id == item_id))).one()
    return repository.to_item_read(row)


async def find_item_read(
    session: AsyncSession, *, code: str | None = None, item_id: int | None = None
) -> tuple[Item, ItemRead]:
    """An item with its type and workflow, and its read model, in one query (the scan
    lookup's path); 404 item_not_found."""
    stmt = repository.item_rows().options(joinedload(Item.type).joinedload(ItemType.workflow))
    if code is not None:
        stmt = stmt.where(Item.code == code.strip().upper())
    else:
        stmt = stmt.where(Item.id == item_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise ItemNotFound(f"No item '{code or item_id}'")
    return row[0], repository.to_item_read(row)


def transitions_open(
    definition: WorkflowDefinition, status: str, archived: bool, principal: Principal
) -> list[Transition]:
    """The transitions this caller may take from a state (none from an archived item)."""
    if archived:
        return []
    return [t for t in definition.transitions_from(status) if principal.can(t.permission)]


def action_json(t: Transition) -> dict[str, Any]:
    """A transition as `ActionRead` shows it in JSON."""
    return {
        "name": t.name,
        "label": t.display,
        "to": t.to,
        "reason_required": t.reason_required,
        "signature_required": t.signature_required,
        "signature_meaning": t.signature_meaning,
    }


# Parsed workflow definitions by (id, updated_at): the lookup reads only the workflow's id and
# version with the item, and the definition's JSON is loaded and parsed once per version.
_definitions: dict[tuple[int, Any], WorkflowDefinition] = {}


async def definition_for(session: AsyncSession, row: Any) -> WorkflowDefinition:
    """The workflow definition of a lookup row's item type (`repository.LOOKUP_COLUMNS`)."""
    key = (row.workflow_id, row.workflow_updated_at)
    definition = _definitions.get(key)
    if definition is None:
        workflow = await session.get(Workflow, row.workflow_id)
        if workflow is None:  # deleted between the two statements: read it as it is now
            raise ItemNotFound(f"No item '{row.code}'")
        definition = workflow_service.definition_of(workflow)
        if len(_definitions) > 256:
            _definitions.clear()
        _definitions[key] = definition
    return definition


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
    definition = await definition_for(session, row)
    state = definition.state(row.status)
    detail = repository.item_json(row)
    detail["status_label"] = state.label if state else row.status
    detail["status_colour"] = state.colour if state else "#6e7781"
    detail["actions"] = [
        action_json(t) for t in transitions_open(definition, row.status, row.archived, principal)
    ]
    return detail


async def read_items(session: AsyncSession, ids: Sequence[int]) -> list[ItemRead]:
    """Read models of several items, in the order given."""
    rows = (await session.execute(repository.item_rows().where(Item.id.in_(ids)))).all()
    by_id = {row[0].id: repository.to_item_read(row) for row in rows}
    return [by_id[i] for i in ids]


async def read_events(session: AsyncSession, events: Sequence[Event]) -> list[Any]:
    """Read models of freshly recorded events (flushed), in the order given."""
    ids = [e.id for e in events]
    rows = (await session.execute(repository.event_rows().where(Event.id.in_(ids)))).all()
    by_id = {row[0].id: repository.to_event_read(row) for row in rows}
    return [by_id[i] for i in ids]


async def history(
    session: AsyncSession, item_id: int, *, before_seq: int | None = None, limit: int
) -> list[EventRead]:
    """An item's events, newest first, as read models."""
    stmt = (
        repository.event_rows()
        .where(Event.item_id == item_id)
        .order_by(Event.seq.desc())
        .limit(limit)
    )
    if before_seq is not None:
        stmt = stmt.where(Event.seq < before_seq)
    return [repository.to_event_read(r) for r in (await session.execute(stmt)).all()]


async def feed(session: AsyncSession, *, after_id: int | None, limit: int) -> list[EventRead]:
    """Every item's events in the order they were recorded, as read models."""
    stmt = repository.event_rows().order_by(Event.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Event.id > after_id)
    return [repository.to_event_read(r) for r in (await session.execute(stmt)).all()]


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


async def register_items(
    session: AsyncSession,
    *,
    specs: Sequence[ItemCreate],
    actor: Principal,
    settings: Settings,
) -> list[Item]:
    """Register items: codes from each type's sequence, one `created` event and a first
    signed label each (the settings hold the secret that unlocks the signing key)."""
    types: dict[str, ItemType] = {}
    locations: dict[str, int] = {}
    for spec in specs:
        if spec.type not in types:
            types[spec.type] = await item_types.get_item_type(session, spec.type)
        if spec.location and spec.location not in locations:
            locations[spec.location] = (
                await locations_service.get_by_code(session, spec.location)
            ).id

    for index, spec in enumerate(specs):
        check_fields(
            types[spec.type],
            spec.model_dump(),
            loc=["body", "items", str(index)] if len(specs) > 1 else ["body"],
        )
    # One counter bump per type for the whole batch, types in id order: two batches that
    # both hold several types take the counter rows' locks in the same order.
    needed: dict[int, int] = {}
    for spec in specs:
        type_id = types[spec.type].id
        needed[type_id] = needed.get(type_id, 0) + spec.count
    by_id = {t.id: t for t in types.values()}
    pools = {
        type_id: iter(await item_types.reserve_codes(session, by_id[type_id], count))
        for type_id, count in sorted(needed.items())
    }

    created: list[Item] = []
    added: dict[tuple[int, str], list[int | None]] = {}
    for spec in specs:
        item_type = types[spec.type]
        initial = workflow_service.definition_of(item_type.workflow).initial
        fields = spec.model_dump(
            include={
                "name",
                "quantity",
                "batch",
                "serial",
                "gtin",
                "expiry_on",
                "expiry_raw",
                "weight_kg",
                "attributes",
            }
        )
        location_id = locations.get(spec.location or "")
        batch = [
            Item(
                code=next(pools[item_type.id]),
                type_id=item_type.id,
                type=item_type,
                status=initial,
                location_id=location_id,
                unit=item_type.unit,
                **fields,
            )
            for _ in range(spec.count)
        ]
        session.add_all(batch)
        created.extend(batch)
        added.setdefault((item_type.id, initial), []).extend([location_id] * spec.count)
    await inventory_service.items_added(session, added)
    await session.flush()  # ids for the events

    for item, spec in zip(created, _expand(specs), strict=True):
        events_service.append(
            session,
            item=item,
            kind="created",
            actor=actor,
            after=_snapshot(item, spec.location),
            context=context_of(spec)
            if spec.count == 1
            else EventContext(occurred_at=spec.occurred_at),
        )
    await tokens.issue_first_labels(session, settings, items=created, issued_by=actor.user.id)
    await session.flush()
    return created


def _expand(specs: Sequence[ItemCreate]) -> list[ItemCreate]:
    return [spec for spec in specs for _ in range(spec.count)]


def _snapshot(item: Item, location_code: str | None) -> dict[str, Any]:
    values = {
        "code": item.code,
        "status": item.status,
        "name": item.name,
        "location": location_code,
        "quantity": item.quantity,
        "unit": item.unit,
        "batch": item.batch,
        "serial": item.serial,
        "gtin": item.gtin,
        "expiry_on": item.expiry_on,
        "weight_kg": item.weight_kg,
        "attributes": item.attributes or None,
    }
    return {k: v for k, v in values.items() if v is not None and v != ""}


def check_fields(item_type: ItemType, fields: Mapping[str, Any], loc: list[str]) -> None:
    """Type rules the schema cannot know: quantity, expiry, attributes."""
    problems = []
    if fields.get("quantity") is not None and not item_type.tracks_quantity:
        problems.append(
            {
                "loc": [*loc, "quantity"],
                "msg": f"'{item_type.key}' does not track quantity",
                "type": "not_tracked",
            }
        )
    if fields.get("expiry_on") is not None and not item_type.tracks_expiry:
        problems.append(
            {
                "loc": [*loc, "expiry_on"],
                "msg": f"'{item_type.key}' does not track expiry",
                "type": "not_tracked",
            }
        )
    if problems:
        raise ValidationFailed("Fields do not fit the item type", details=problems)
    attributes = fields.get("attributes")
    if attributes is not None:
        item_types.validate_attributes(item_type, attributes, [*loc, "attributes"])


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


async def list_items(
    session: AsyncSession, *, filters: ItemFilter, sort: str, cursor: list[Any] | None, limit: int
) -> tuple[list[ItemRead], list[Any] | None]:
    """A page of items and the cursor of the next page."""
    stmt = repository.item_rows().where(Item.archived.is_(filters.archived))
    if filters.type:
        stmt = stmt.where(ItemType.key == filters.type)
    if filters.status:
        stmt = stmt.where(Item.status == filters.status)
    if filters.location and filters.directly_at:
        place = await locations_service.get_by_code(session, filters.location)
        stmt = stmt.where(Item.location_id == place.id)
    elif filters.location:
        subtree = await locations_service.subtree_ids_select(session, filters.location)
        stmt = stmt.where(Item.location_id.in_(subtree))
    if filters.container:
        container = await find_item(session, code=filters.container)
        stmt = stmt.where(Item.parent_id == container.id)
    if filters.batch:
        stmt = stmt.where(Item.batch == filters.batch)
    if filters.gtin:
        stmt = stmt.where(Item.gtin == filters.gtin)
    if filters.expiring_before:
        stmt = stmt.where(Item.expiry_on < filters.expiring_before)
    if filters.q:
        stmt = stmt.where(repository.text_search(filters.q))
    if filters.not_in_states:
        stmt = stmt.where(tuple_(ItemType.key, Item.status).not_in(sorted(filters.not_in_states)))
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


async def edit_item(
    session: AsyncSession,
    *,
    code: str,
    expected_version: int,
    changes: dict[str, Any],
    actor: Principal,
    reason: str | None,
    context: EventContext,
) -> tuple[Item, list[Event]]:
    """Change fields of an item at the version the caller saw; 412 if it has moved on."""
    item = await lock_item(session, code)
    if item.version != expected_version:
        raise VersionMismatch(
            details={"current_version": item.version, "expected_version": expected_version}
        )
    check_fields(item.type, changes, ["body"])

    before, after = {}, {}
    for key, value in changes.items():
        if getattr(item, key) != value:
            before[key], after[key] = getattr(item, key), value
            setattr(item, key, value)
    if not after:
        return item, []
    item.version += 1
    event = events_service.append(
        session,
        item=item,
        kind="edited",
        actor=actor,
        before=before,
        after=after,
        reason=reason,
        context=context,
    )
    await session.flush()
    return item, [event]


async def archive_item(
    session: AsyncSession, *, code: str, actor: Principal, reason: str, context: EventContext
) -> tuple[Item, list[Event]]:
    """Archive an item (soft delete): it leaves the counts, its history stays."""
    item = await lock_item(session, code)
    item.archived = True
    item.version += 1
    await inventory_service.bump_status(session, item.type_id, item.status, -1)
    await inventory_service.bump_location(session, item.location_id, -1)
    event = events_service.append(
        session,
        item=item,
        kind="archived",
        actor=actor,
        before={"archived": False},
        after={"archived": True},
        reason=reason,
        context=context,
    )
    await session.flush()
    return item, [event]
