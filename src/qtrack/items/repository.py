"""Select builders for items and events, and turning rows into read models."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import aliased

from qtrack.accounts.models import User
from qtrack.events.models import Event
from qtrack.events.service import Recorded
from qtrack.items.models import Item, ItemType
from qtrack.items.schemas import EventRead, ItemRead, SignatureRead
from qtrack.locations.models import Location
from qtrack.workflow.models import Workflow

Container = aliased(Item, name="container")
Signer = aliased(User, name="signer")


def item_rows() -> Select[Item, str, str, str]:
    """Items with what their read model shows: type key, location code, container code."""
    return (
        select(Item, ItemType.key, Location.code, Container.code)
        .join(ItemType, Item.type_id == ItemType.id)
        .outerjoin(Location, Item.location_id == Location.id)
        .outerjoin(Container, Item.parent_id == Container.id)
    )


def to_item_read(row: Any) -> ItemRead:
    """An item row from `item_rows()` as the API shows it."""
    item, type_key, location_code, container_code = row
    return ItemRead(
        id=item.id,
        code=item.code,
        type=type_key,
        name=item.name,
        status=item.status,
        location=location_code,
        container=container_code,
        quantity=item.quantity,
        unit=item.unit,
        batch=item.batch,
        serial=item.serial,
        gtin=item.gtin,
        expiry_on=item.expiry_on,
        expiry_raw=item.expiry_raw,
        weight_kg=item.weight_kg,
        attributes=item.attributes,
        version=item.version,
        archived=item.archived,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def event_rows() -> Select[Event, str, str, str, str]:
    """Events with who did them, who signed, where, and for which item."""
    return (
        select(Event, Item.code, User.username, Signer.username, Location.code)
        .join(Item, Event.item_id == Item.id)
        .outerjoin(User, Event.actor_id == User.id)
        .outerjoin(Signer, Event.signed_by_id == Signer.id)
        .outerjoin(Location, Event.location_id == Location.id)
    )


def to_event_read(row: Any) -> EventRead:
    """An event row from `event_rows()` as the API shows it."""
    event, item_code, actor, signer, location_code = row
    signature = None
    if event.signature_meaning and event.signed_at:
        signature = SignatureRead(by=signer, meaning=event.signature_meaning, at=event.signed_at)
    return EventRead(
        id=event.id,
        item=item_code,
        seq=event.seq,
        type=event.type,
        actor=actor,
        recorded_at=event.recorded_at,
        occurred_at=event.occurred_at,
        location=location_code,
        before=event.before,
        after=event.after,
        reason=event.reason,
        signature=signature,
        client_event_id=event.client_event_id,
        hash=event.hash,
        prev_hash=event.prev_hash,
    )


def like_pattern(text: str) -> str:
    """A LIKE pattern matching the text anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_search(q: str) -> Any:
    """Code, name or batch contains the text (case-insensitive)."""
    pattern = like_pattern(q)
    return or_(
        Item.code.ilike(pattern, escape="\\"),
        Item.name.ilike(pattern, escape="\\"),
        Item.batch.ilike(pattern, escape="\\"),
    )


SORTS = {
    "code": (Item.code, False),
    "-code": (Item.code, True),
    "created": (Item.id, False),
    "-created": (Item.id, True),
    "name": (Item.name, False),
    "-name": (Item.name, True),
}


def keyset(sort: str, cursor: list[Any] | None) -> tuple[list[Any], Any]:
    """ORDER BY and the WHERE that continues after a cursor, for a sort key."""
    column, descending = SORTS[sort]
    order = [column.desc(), Item.id.desc()] if descending else [column.asc(), Item.id.asc()]
    if cursor is None:
        return order, None
    value, last_id = cursor
    if column is Item.id:
        return order, (Item.id < last_id) if descending else (Item.id > last_id)
    if descending:
        after = or_(column < value, and_(column == value, Item.id < last_id))
    else:
        after = or_(column > value, and_(column == value, Item.id > last_id))
    return order, after


def cursor_value(sort: str, item: Item) -> list[Any]:
    """What the next page's cursor must remember of the last item."""
    column, _ = SORTS[sort]
    return [getattr(item, column.key), item.id]


# The scan paths' statements, built once: a statement object caches its own cache key, so
# executing one costs no building, coercion or key generation per request (about a third of
# a lookup's CPU when rebuilt every time). Plain table columns keep them Core: rows come back
# as tuples, no ORM objects, no identity map.
_item = Item.__table__
_type = ItemType.__table__
_location = Location.__table__
_container = Item.__table__.alias("container")
_workflow = Workflow.__table__

LOOKUP_COLUMNS = (
    _item.c.id,
    _item.c.code,
    _type.c.key.label("type_key"),
    _item.c.name,
    _item.c.status,
    _location.c.code.label("location_code"),
    _container.c.code.label("container_code"),
    _item.c.quantity,
    _item.c.unit,
    _item.c.batch,
    _item.c.serial,
    _item.c.gtin,
    _item.c.expiry_on,
    _item.c.expiry_raw,
    _item.c.weight_kg,
    _item.c.attributes,
    _item.c.version,
    _item.c.archived,
    _item.c.created_at,
    _item.c.updated_at,
    # Not shown, but needed to answer: the workflow (by id and version) and the type's rules.
    _item.c.type_id,
    _item.c.location_id,
    _item.c.event_count,
    _item.c.last_event_hash,
    _type.c.workflow_id,
    _workflow.c.updated_at.label("workflow_updated_at"),
    _type.c.tracks_quantity,
)
_LOOKUP_FROM = (
    _item.join(_type, _item.c.type_id == _type.c.id)
    .join(_workflow, _type.c.workflow_id == _workflow.c.id)
    .outerjoin(_location, _item.c.location_id == _location.c.id)
    .outerjoin(_container, _item.c.parent_id == _container.c.id)
)
_LOOKUP = select(*LOOKUP_COLUMNS).select_from(_LOOKUP_FROM)
LOOKUP_BY_CODE = _LOOKUP.where(_item.c.code == bindparam("code"))
LOOKUP_BY_ID = _LOOKUP.where(_item.c.id == bindparam("id"))
# The write paths: the same row, locked (only the item's row: the joined ones stay free).
LOCK_BY_CODE = LOOKUP_BY_CODE.with_for_update(of=_item)
_child = Item.__table__.alias("child")
# A move also needs to know whether anything is packed inside (then its contents go along).
LOCK_FOR_MOVE = (
    select(
        *LOOKUP_COLUMNS,
        exists()
        .where(_child.c.parent_id == _item.c.id)
        .correlate_except(_child)
        .label("has_contents"),
    )
    .select_from(_LOOKUP_FROM)
    .where(_item.c.code == bindparam("code"))
    .with_for_update(of=_item)
)


def _text(value: Any) -> Any:
    # What pydantic's JSON mode makes of the read model's field types.
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    return value


def item_json(row: Any) -> dict[str, Any]:
    """A lookup row (`LOOKUP_COLUMNS`) as `ItemRead` shows it in JSON, without building it:
    the same keys in the same order and the same text for decimals, dates and times."""
    return {
        "id": row.id,
        "code": row.code,
        "type": row.type_key,
        "name": row.name,
        "status": row.status,
        "location": row.location_code,
        "container": row.container_code,
        "quantity": _text(row.quantity),
        "unit": row.unit,
        "batch": row.batch,
        "serial": row.serial,
        "gtin": row.gtin,
        "expiry_on": _text(row.expiry_on),
        "expiry_raw": row.expiry_raw,
        "weight_kg": _text(row.weight_kg),
        "attributes": row.attributes if row.attributes is not None else {},
        "version": row.version,
        "archived": row.archived,
        "created_at": _text(row.created_at),
        "updated_at": _text(row.updated_at),
    }


def item_read_of(row: Any, **changed: Any) -> ItemRead:
    """A lookup row (`LOOKUP_COLUMNS`) as `ItemRead`, with `changed` fields replaced;
    unvalidated: the values already have the model's types (the columns guarantee them)."""
    values = {
        "id": row.id,
        "code": row.code,
        "type": row.type_key,
        "name": row.name,
        "status": row.status,
        "location": row.location_code,
        "container": row.container_code,
        "quantity": row.quantity,
        "unit": row.unit,
        "batch": row.batch,
        "serial": row.serial,
        "gtin": row.gtin,
        "expiry_on": row.expiry_on,
        "expiry_raw": row.expiry_raw,
        "weight_kg": row.weight_kg,
        "attributes": row.attributes if row.attributes is not None else {},
        "version": row.version,
        "archived": row.archived,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    values.update(changed)
    return ItemRead.model_construct(**values)


_item_table: Table = Item.__table__  # type: ignore[assignment]
# A change of state on the hot path: the row is locked and its head was read under the lock.
SET_STATUS = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        status=bindparam("new_status"),
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)


SET_PLACE = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        location_id=bindparam("new_location_id"),
        parent_id=None,
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)


def event_read_of(
    recorded: Recorded, *, item_code: str, actor: str | None, location: str | None
) -> EventRead:
    """An event just written by `events.service.record` as `EventRead` (no re-read)."""
    signature = recorded.signature
    return EventRead.model_construct(
        id=recorded.id,
        item=item_code,
        seq=recorded.seq,
        type=recorded.kind,
        actor=actor,
        recorded_at=recorded.recorded_at,
        occurred_at=recorded.occurred_at,
        location=location,
        before=recorded.before,
        after=recorded.after,
        reason=recorded.reason,
        # The signer is always the actor: an e-signature is given by whoever makes the change.
        signature=SignatureRead.model_construct(
            by=actor, meaning=signature.meaning, at=signature.signed_at
        )
        if signature
        else None,
        client_event_id=recorded.client_event_id,
        hash=recorded.hash,
        prev_hash=recorded.prev_hash,
    )
