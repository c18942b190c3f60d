"""What each kind of export reads: its columns, and its rows a keyset batch at a time.

Each source narrows by the same conditions as its list (the items list's `ItemFilter`, the
locations list's and the bills list's filters), resolved once before anything is sent, so
a filter naming a location that does not exist is a 404, not an empty file.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.accounts.models import User
from qtrack.core.errors import ValidationFailed
from qtrack.events.models import Event
from qtrack.exports.formats import Column
from qtrack.item_types.models import ItemType
from qtrack.items import repository as items_repository
from qtrack.items import service as items_service
from qtrack.items.models import Item
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.orders import repository as orders_repository
from qtrack.orders.models import RestockOrder
from qtrack.shipments import repository as shipments_repository
from qtrack.shipments.models import Shipment, ShipmentLine

BATCH = 2000  # rows a statement: enough to amortise a round trip, small enough to stay flat


class ExportBadRange(ValidationFailed):
    code, message = "export_bad_range", "The time range is not one events can have"


def _in_utc(name: str, moment: datetime | None) -> datetime | None:
    """A bound of a time range in UTC; one that has no UTC time (year 1 at +05:00) is 422."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ExportBadRange(
            f"{name} {moment.isoformat()} is outside the times there are",
            details={name: moment.isoformat()},
        ) from None


@dataclass(frozen=True)
class Keyset:
    """A source read in keyset order: a SELECT of the columns, its ORDER BY, and how to
    continue after a row (the WHERE for the next batch)."""

    kind: str
    columns: tuple[Column, ...]
    stmt: Select[*tuple[Any, ...]]
    order: tuple[Any, ...]
    after: Any = field(repr=False)  # (last row) -> the condition for the rows after it

    async def batches(self, session: AsyncSession, size: int) -> AsyncIterator[Sequence[Any]]:
        """The rows, `size` at a time, each a tuple in column order."""
        last: Any = None
        while True:
            stmt = self.stmt if last is None else self.stmt.where(self.after(last))
            rows = (await session.execute(stmt.order_by(*self.order).limit(size))).all()
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            last = rows[-1]


ITEM_COLUMNS = (
    Column("id", "int"),
    Column("code"),
    Column("type"),
    Column("name"),
    Column("status"),
    Column("location"),
    Column("container"),
    Column("quantity", "decimal"),
    Column("unit"),
    Column("batch"),
    Column("serial"),
    Column("gtin"),
    Column("expiry_on", "date"),
    Column("expiry_raw"),
    Column("weight_kg", "decimal"),
    Column("attributes", "json"),
    Column("version", "int"),
    Column("archived", "bool"),
    Column("created_at", "datetime"),
    Column("updated_at", "datetime"),
)


async def items(
    session: AsyncSession, filters: items_service.ItemFilter, *, sort: str = "code"
) -> Keyset:
    """Items as the items list shows them (same filters, same order), every field."""
    where = await items_service.item_conditions(session, filters)
    container = items_repository.Container
    stmt = (
        select(
            Item.id,
            Item.code,
            ItemType.key,
            Item.name,
            Item.status,
            Location.code,
            container.code,
            Item.quantity,
            Item.unit,
            Item.batch,
            Item.serial,
            Item.gtin,
            Item.expiry_on,
            Item.expiry_raw,
            Item.weight_kg,
            Item.attributes,
            Item.version,
            Item.archived,
            Item.created_at,
            Item.updated_at,
        )
        .join(ItemType, Item.type_id == ItemType.id)
        .outerjoin(Location, Item.location_id == Location.id)
        .outerjoin(container, Item.parent_id == container.id)
        .where(*where)
    )
    order, _ = items_repository.keyset(sort, None)
    position = {"id": 0, "code": 1, "name": 3}[items_repository.SORTS[sort][0].key]

    def after(row: Any) -> Any:
        return items_repository.keyset(sort, [row[position], row[0]])[1]

    return Keyset("items", ITEM_COLUMNS, stmt, tuple(order), after)


EVENT_COLUMNS = (
    Column("id", "int"),
    Column("item"),
    Column("seq", "int"),
    Column("type"),
    Column("actor"),
    Column("recorded_at", "datetime"),
    Column("occurred_at", "datetime"),
    Column("location"),
    Column("before", "json"),
    Column("after", "json"),
    Column("reason"),
    Column("signed_by"),
    Column("signature_meaning"),
    Column("signed_at", "datetime"),
    Column("latitude", "float"),
    Column("longitude", "float"),
    Column("client_event_id"),
    Column("hash"),
    Column("prev_hash"),
)


async def events(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    item: str | None = None,
    event_type: str | None = None,
) -> Keyset:
    """Events recorded in [since, until) in the order they were recorded, optionally of one
    item or one type; 404 for an item not found."""
    since, until = _in_utc("since", since), _in_utc("until", until)
    if since is not None and until is not None and until <= since:
        raise ExportBadRange(
            f"The time range ends ({until.isoformat()}) before it begins ({since.isoformat()})",
            details={"since": since.isoformat(), "until": until.isoformat()},
        )
    signer = aliased(User, name="signer")
    conditions: list[Any] = []
    if since is not None:
        conditions.append(Event.recorded_at >= since)
    if until is not None:
        conditions.append(Event.recorded_at < until)
    if item is not None:
        conditions.append(Event.item_id == (await items_service.find_item(session, code=item)).id)
    if event_type is not None:
        conditions.append(Event.type == event_type)
    stmt = (
        select(
            Event.id,
            Item.code,
            Event.seq,
            Event.type,
            User.username,
            Event.recorded_at,
            Event.occurred_at,
            Location.code,
            Event.before,
            Event.after,
            Event.reason,
            signer.username,
            Event.signature_meaning,
            Event.signed_at,
            Event.latitude,
            Event.longitude,
            Event.client_event_id,
            Event.hash,
            Event.prev_hash,
        )
        .join(Item, Event.item_id == Item.id)
        .outerjoin(User, Event.actor_id == User.id)
        .outerjoin(signer, Event.signed_by_id == signer.id)
        .outerjoin(Location, Event.location_id == Location.id)
        .where(*conditions)
    )
    return Keyset("events", EVENT_COLUMNS, stmt, (Event.id,), lambda row: Event.id > row[0])


LOCATION_COLUMNS = (
    Column("id", "int"),
    Column("code"),
    Column("name"),
    Column("kind"),
    Column("parent"),
    Column("latitude", "float"),
    Column("longitude", "float"),
    Column("radius_m", "float"),
    Column("archived", "bool"),
    Column("created_at", "datetime"),
    Column("updated_at", "datetime"),
)


async def locations(
    session: AsyncSession,
    *,
    parent: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    include_archived: bool = False,
) -> Keyset:
    """Locations as the locations list narrows them, oldest first."""
    where = await locations_service.location_conditions(
        session, parent=parent, kind=kind, q=q, include_archived=include_archived
    )
    up = aliased(Location, name="up")
    stmt = (
        select(
            Location.id,
            Location.code,
            Location.name,
            Location.kind,
            up.code,
            Location.latitude,
            Location.longitude,
            Location.radius_m,
            Location.archived,
            Location.created_at,
            Location.updated_at,
        )
        .outerjoin(up, Location.parent_id == up.id)
        .where(*where)
    )
    return Keyset("locations", LOCATION_COLUMNS, stmt, (Location.id,), lambda r: Location.id > r[0])


SHIPMENT_COLUMNS = (
    Column("id", "int"),
    Column("number"),
    Column("status"),
    Column("consignee"),
    Column("destination"),
    Column("carrier"),
    Column("vehicle"),
    Column("notes"),
    Column("containers", "int"),
    Column("created_at", "datetime"),
    Column("issued_at", "datetime"),
    Column("dispatched_at", "datetime"),
    Column("delivered_at", "datetime"),
    Column("cancelled_at", "datetime"),
)


async def shipments(
    session: AsyncSession, *, status: str | None = None, q: str | None = None
) -> Keyset:
    """Bills as the bills list narrows them, newest first, with their number of containers."""
    containers = (
        select(func.count())
        .select_from(ShipmentLine)
        .where(ShipmentLine.shipment_id == Shipment.id)
        .scalar_subquery()
    )
    stmt = select(
        Shipment.id,
        Shipment.number,
        Shipment.status,
        Shipment.consignee,
        Shipment.destination,
        Shipment.carrier,
        Shipment.vehicle,
        Shipment.notes,
        containers,
        Shipment.created_at,
        Shipment.issued_at,
        Shipment.dispatched_at,
        Shipment.delivered_at,
        Shipment.cancelled_at,
    ).where(*shipments_repository.list_conditions(status=status, q=q))
    return Keyset(
        "shipments", SHIPMENT_COLUMNS, stmt, (Shipment.id.desc(),), lambda r: Shipment.id < r[0]
    )


ORDER_COLUMNS = (
    Column("id", "int"),
    Column("code"),
    Column("status"),
    Column("supplier"),
    Column("notes"),
    Column("lines", "int"),
    Column("created_at", "datetime"),
    Column("submitted_at", "datetime"),
    Column("approved_at", "datetime"),
    Column("received_at", "datetime"),
    Column("cancelled_at", "datetime"),
)


async def orders(
    session: AsyncSession, *, status: str | None = None, q: str | None = None
) -> Keyset:
    """Restock orders as the orders list narrows them, newest first, with their number of
    lines."""
    stmt = select(
        RestockOrder.id,
        RestockOrder.code,
        RestockOrder.status,
        RestockOrder.supplier,
        RestockOrder.notes,
        orders_repository.line_count(),
        RestockOrder.created_at,
        RestockOrder.submitted_at,
        RestockOrder.approved_at,
        RestockOrder.received_at,
        RestockOrder.cancelled_at,
    ).where(*orders_repository.list_conditions(status=status, q=q))
    return Keyset(
        "orders", ORDER_COLUMNS, stmt, (RestockOrder.id.desc(),), lambda r: RestockOrder.id < r[0]
    )
