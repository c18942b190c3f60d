"""Select builders for items and events, and turning rows into read models."""

from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import aliased

from qtrack.accounts.models import User
from qtrack.events.models import Event
from qtrack.items.models import Item, ItemType
from qtrack.items.schemas import EventRead, ItemRead, SignatureRead
from qtrack.locations.models import Location

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
