"""The kinds devices sync, in the order a client applies them: one registration each.

Each record is what the kind's own API shows for one row (`GET /api/v1/<kind>/{key}`'s
body), plus its numeric `id` and its `updated_at`, so a client needs to learn one shape per
kind. A new kind is one `registry.register(Kind(...))` here, with its serializer.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts.permissions import Permission
from qtrack.item_types.models import ItemType
from qtrack.item_types.schemas import ItemTypeRead
from qtrack.items.models import Item
from qtrack.items.repository import item_json
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.locations.schemas import LocationRead
from qtrack.orders import repository as orders_repository
from qtrack.orders.models import RestockOrder
from qtrack.shipments.models import Shipment, ShipmentLine
from qtrack.sync.registry import Kind, Record, register
from qtrack.workflow import service as workflow_service
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import WorkflowRead


def stamp(record: dict[str, Any], row: Any) -> Record:
    """A record with the row's id first and its last change time."""
    return {"id": row.id, **record, "updated_at": _time(row.updated_at)}


def _time(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value.isoformat())
    return text[:-6] + "Z" if text.endswith("+00:00") else text


async def _workflows(session: AsyncSession, rows: Sequence[Workflow]) -> list[Record]:
    return [
        stamp(
            WorkflowRead(
                key=row.key,
                name=row.name,
                builtin=row.builtin,
                definition=workflow_service.definition_of(row),
            ).model_dump(mode="json"),
            row,
        )
        for row in rows
    ]


async def _item_types(session: AsyncSession, rows: Sequence[ItemType]) -> list[Record]:
    return [stamp(ItemTypeRead.of(row).model_dump(mode="json"), row) for row in rows]


async def _locations(session: AsyncSession, rows: Sequence[Location]) -> list[Record]:
    codes = await locations_service.path_codes(session, rows)
    return [stamp(LocationRead.of(row, codes[row.id]).model_dump(mode="json"), row) for row in rows]


async def _items(session: AsyncSession, rows: Sequence[Any]) -> list[Record]:
    # Core rows of `repository.ITEM_COLUMNS`: the same JSON as GET /api/v1/items/{code}.
    return [item_json(row) for row in rows]


async def _shipments(session: AsyncSession, rows: Sequence[Shipment]) -> list[Record]:
    ids = [row.id for row in rows]
    lines: dict[int, list[str]] = {i: [] for i in ids}
    places: dict[int, str] = {}
    if ids:
        found = await session.execute(
            select(ShipmentLine.shipment_id, Item.code)
            .join(Item, ShipmentLine.item_id == Item.id)
            .where(ShipmentLine.shipment_id.in_(ids))
            .order_by(ShipmentLine.shipment_id, ShipmentLine.position)
        )
        for shipment_id, code in found:
            lines[shipment_id].append(code)
        wanted = {row.destination_location_id for row in rows} - {None}
        if wanted:
            named = select(Location.id, Location.code).where(Location.id.in_(wanted))
            places = {row.id: row.code for row in await session.execute(named)}
    return [
        stamp(
            {
                "number": row.number,
                "status": row.status,
                "consignee": row.consignee,
                "destination": row.destination,
                "destination_location": places.get(row.destination_location_id or 0),
                "carrier": row.carrier,
                "vehicle": row.vehicle,
                "notes": row.notes,
                "containers": lines[row.id],
                "version": row.version,
                "created_at": _time(row.created_at),
                "issued_at": _time(row.issued_at),
                "dispatched_at": _time(row.dispatched_at),
                "delivered_at": _time(row.delivered_at),
                "cancelled_at": _time(row.cancelled_at),
            },
            row,
        )
        for row in rows
    ]


async def _orders(session: AsyncSession, rows: Sequence[RestockOrder]) -> list[Record]:
    # The order API's own read (lines and receipts), in three queries for the whole page.
    reads = await orders_repository.read_many(session, rows)
    return [stamp(read.model_dump(mode="json"), row) for read, row in zip(reads, rows, strict=True)]


WORKFLOW = register(Kind("workflow", Workflow, Permission.ITEM_READ, "key", _workflows))
ITEM_TYPE = register(
    Kind(
        "item_type",
        ItemType,
        Permission.ITEM_READ,
        "key",
        _item_types,
        options=(joinedload(ItemType.workflow), joinedload(ItemType.category)),
    )
)
LOCATION = register(
    Kind("location", Location, Permission.ITEM_READ, "code", _locations, archived="archived")
)
ITEM = register(
    Kind("item", Item, Permission.ITEM_READ, "code", _items, archived="archived", feed=True)
)
SHIPMENT = register(Kind("shipment", Shipment, Permission.SHIPMENT_READ, "number", _shipments))
ORDER = register(Kind("order", RestockOrder, Permission.ORDER_READ, "code", _orders))
