"""The sync's own selects: items as Core rows (the same JSON as the item API, without the
ORM), and table kinds by id or by last change."""

from typing import Any

from sqlalchemy import Select, and_, bindparam, false, or_, select
from sqlalchemy.orm import aliased

from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.locations.models import Location
from qtrack.sync.registry import Kind

_item = Item.__table__
_type = ItemType.__table__
_location = Location.__table__
_container = aliased(_item, name="container")

# What `items.repository.item_json` reads from a row.
_ITEM_COLUMNS = (
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
)
_ITEMS = select(*_ITEM_COLUMNS).select_from(
    _item.join(_type, _item.c.type_id == _type.c.id)
    .outerjoin(_location, _item.c.location_id == _location.c.id)
    .outerjoin(_container, _item.c.parent_id == _container.c.id)
)
# A first sync: live items after an id, in id order.
ITEMS_AFTER = (
    _ITEMS.where(_item.c.id > bindparam("after"), _item.c.archived == false())
    .order_by(_item.c.id)
    .limit(bindparam("limit"))
)
# One item by code (a pushed change's current record).
ITEM_BY_CODE = _ITEMS.where(_item.c.code == bindparam("code"))
# The items the change feed named.
ITEMS_BY_ID = _ITEMS.where(_item.c.id.in_(bindparam("ids", expanding=True)))


def snapshot(kind: Kind, after: int, limit: int) -> Select[Any]:
    """Live rows of a table kind after an id, in id order."""
    model = kind.model
    stmt = select(model).options(*kind.options).where(model.id > after)
    if kind.archived:
        stmt = stmt.where(getattr(model, kind.archived).is_(False))
    return stmt.order_by(model.id).limit(limit)


def changed(kind: Kind, mark: tuple[Any, int], limit: int) -> Select[Any]:
    """Rows of a table kind changed after a mark (updated_at, id), in that order, archived
    ones included (they become tombstones)."""
    model = kind.model
    at, row_id = mark
    return (
        select(model)
        .options(*kind.options)
        .where(
            or_(model.updated_at > at, and_(model.updated_at == at, model.id > row_id)),
        )
        .order_by(model.updated_at, model.id)
        .limit(limit)
    )
