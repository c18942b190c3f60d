"""Select builders for items, the scan paths' prebuilt statements, and rows as read models."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import aliased

from qtrack.core.clock import json_time
from qtrack.core.prepared import PreparedSelect
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.items.schemas import ItemRead
from qtrack.locations.models import Location
from qtrack.workflow.models import Workflow

Container = aliased(Item, name="container")


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
    # The redundant bound on the column alone is what an index on it can seek to; without
    # it PostgreSQL walks the index from the start and filters (an export's last batch of
    # two million items read them all).
    if descending:
        after = and_(column <= value, or_(column < value, Item.id < last_id))
    else:
        after = and_(column >= value, or_(column > value, Item.id > last_id))
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
# The same two, read through the driver on PostgreSQL (core/prepared.py).
PREPARED_LOOKUP_BY_CODE = PreparedSelect(LOOKUP_BY_CODE)
PREPARED_LOOKUP_BY_ID = PreparedSelect(LOOKUP_BY_ID)


# What pydantic's JSON mode makes of the read model's field types, one function a type: the
# lookup's columns always have their type (or are None), so no value's type is asked.
def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time_text(value: date | datetime | None) -> str | None:
    return None if value is None else json_time(value)


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
        "quantity": _decimal_text(row.quantity),
        "unit": row.unit,
        "batch": row.batch,
        "serial": row.serial,
        "gtin": row.gtin,
        "expiry_on": _time_text(row.expiry_on),
        "expiry_raw": row.expiry_raw,
        "weight_kg": _decimal_text(row.weight_kg),
        "attributes": row.attributes if row.attributes is not None else {},
        "version": row.version,
        "archived": row.archived,
        "created_at": _time_text(row.created_at),
        "updated_at": _time_text(row.updated_at),
    }


def item_values(row: Any, **changed: Any) -> dict[str, Any]:
    """A lookup row (`LOOKUP_COLUMNS`) as `ItemRead`'s fields, with `changed` fields replaced,
    to validate inside the answer that holds the item (`ScanResult`, `ChangeResult`), in one
    call with the rest. Validated from a dict, in pydantic-core: the values already have the
    model's types, so that checks and keeps them, and costs a third of `model_construct`,
    which fills the model's fields one by one in Python (docs/benchmarks.md)."""
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
    if changed:
        values.update(changed)
    return values
