"""The write paths' prebuilt statements: an item's row locked (alone, with its containers,
its contents) and the UPDATEs a change makes.

Built once, as the lookups in `repository` are: a statement object keeps its own cache key,
so executing one costs no building, coercion or key generation per request.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, bindparam, null, or_, select, update

from qtrack.core.prepared import PreparedSelect
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.items.repository import LOOKUP_COLUMNS
from qtrack.locations.models import Location
from qtrack.workflow.models import Workflow

_item = Item.__table__
_type = ItemType.__table__
_location = Location.__table__
_container = Item.__table__.alias("container")
_workflow = Workflow.__table__

# The write paths read the item's row locked, with what a change needs. The location's and
# the container's codes come from scalar subqueries, not outer joins: when the row was locked
# only after a concurrent change committed, PostgreSQL re-reads the locked row but keeps the
# joined rows it had found, so a joined location no longer matched and read as NULL (a
# concurrent move then recorded `before.location = null`). A subquery is evaluated on the row
# as it is now. The type and its workflow may stay joined: an item never changes its type.
_item_table: Table = Item.__table__  # type: ignore[assignment]
_location_code = (
    select(_location.c.code).where(_location.c.id == _item.c.location_id).scalar_subquery()
)
_container_code = (
    select(_container.c.code).where(_container.c.id == _item.c.parent_id).scalar_subquery()
)
LOCK_COLUMNS = (
    *[c for c in LOOKUP_COLUMNS if c.name not in ("location_code", "container_code")],
    _location_code.label("location_code"),
    _container_code.label("container_code"),
    _item.c.parent_id,
    _type.c.can_contain,
)
_LOCK = (
    select(*LOCK_COLUMNS)
    .select_from(
        _item.join(_type, _item.c.type_id == _type.c.id).join(
            _workflow, _type.c.workflow_id == _workflow.c.id
        )
    )
    .with_for_update(of=_item)
)
LOCK_BY_CODE = _LOCK.where(_item.c.code == bindparam("code"))
LOCK_BY_CODE_PREPARED = PreparedSelect(LOCK_BY_CODE)  # through the driver (core/prepared.py)
# Several rows at once, locked in id order.
LOCK_BY_IDS = _LOCK.where(_item.c.id.in_(bindparam("ids", expanding=True))).order_by(_item.c.id)
# An item with the containers a change of it involves: the one it is in, and `container` (its
# own code when there is none), the containers first (by id), then the item. Rows are locked
# in the order they are returned, so containers are always locked before what they hold.
_named = Item.__table__.alias("named")
LOCK_WITH_CONTAINERS = _LOCK.where(
    or_(
        _item.c.code.in_([bindparam("code"), bindparam("container")]),
        _item.c.id
        == select(_named.c.parent_id).where(_named.c.code == bindparam("code")).scalar_subquery(),
    )
).order_by(_item.c.code == bindparam("code"), _item.c.id)
LOCK_WITH_CONTAINERS_PREPARED = PreparedSelect(LOCK_WITH_CONTAINERS)
# One level of a container's contents, locked (after the container).
LOCK_CHILDREN = _LOCK.where(_item.c.parent_id.in_(bindparam("ids", expanding=True))).order_by(
    _item.c.id
)
# The same for one container (the first level, and every level below a single container):
# no list to expand, so it goes through the driver.
LOCK_CHILDREN_OF = PreparedSelect(
    _LOCK.where(_item.c.parent_id == bindparam("parent")).order_by(_item.c.id)
)


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
        parent_id=null(),  # in the SQL: no parameter the driver path would not know
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)


# Moves the chain head of a row whose own fields did not change (a container whose contents
# did: its content_added / content_removed events).
SET_HEAD = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)
SET_QUANTITY = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        quantity=bindparam("new_quantity"),
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)
SET_ARCHIVED = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        archived=True,
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)
# Packing and unpacking: the container (None: out of any) and the location that goes with it.
SET_CONTAINER = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        parent_id=bindparam("new_parent_id"),
        location_id=bindparam("new_location_id"),
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)


def set_fields(names: Iterable[str]) -> Any:
    """An edit's UPDATE for these fields (edits are rare: built per call)."""
    return (
        update(_item_table)
        .where(_item_table.c.id == bindparam("item_id"))
        .values(
            {
                **{name: bindparam(f"new_{name}") for name in names},
                "version": bindparam("new_version"),
                "event_count": bindparam("new_event_count"),
                "last_event_hash": bindparam("new_last_event_hash"),
                "updated_at": bindparam("new_updated_at"),
            }
        )
    )


# Contents moved along with their container: a new place, the same container.
SET_LOCATION = (
    update(_item_table)
    .where(_item_table.c.id == bindparam("item_id"))
    .values(
        location_id=bindparam("new_location_id"),
        version=bindparam("new_version"),
        event_count=bindparam("new_event_count"),
        last_event_hash=bindparam("new_last_event_hash"),
        updated_at=bindparam("new_updated_at"),
    )
)
