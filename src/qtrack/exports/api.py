"""Exports JSON API: `GET /api/v1/exports/{kind}?format=csv|xlsx|jsonl` with the filters of
that kind's list, streamed as a download. Each kind needs the permission to read it."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import StreamingResponse

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories.service import CategoryNotFound
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.openapi import Responses, binary, errors
from qtrack.exports import service, sources
from qtrack.exports.formats import FORMATS, MEDIA_TYPES, Format, filename
from qtrack.items.deps import ItemFilterQuery
from qtrack.items.errors import ItemNotFound
from qtrack.locations.schemas import LocationKind
from qtrack.locations.service import LocationNotFound
from qtrack.orders.schemas import Status as OrderStatus
from qtrack.shipments.schemas import Status as ShipmentStatus

router = APIRouter(prefix="/api/v1/exports", tags=["exports"], responses=AUTHENTICATED)

FormatQuery = Annotated[
    Format, Query(alias="format", description="csv, xlsx (Excel) or jsonl (JSON Lines)")
]


def _download(description: str) -> Responses:
    return binary(*(MEDIA_TYPES[f] for f in FORMATS), description=description)


def _response(state: StateDep, source: sources.Keyset, fmt: Format) -> StreamingResponse:
    name = filename(source.kind, fmt, utcnow())
    return StreamingResponse(
        service.stream(state.db, source, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _utc(moment: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, as everywhere in qtrack.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get(
    "/items",
    response_class=StreamingResponse,
    responses=_download("The items, every field")
    | errors(ItemNotFound, LocationNotFound, CategoryNotFound),
)
async def export_items(
    _: Annotated[Principal, Depends(require(Permission.ITEM_READ))],
    session: SessionDep,
    state: StateDep,
    filters: ItemFilterQuery,
    sort: Annotated[str, Query(pattern="^-?(code|created|name)$")] = "code",
    fmt: FormatQuery = "csv",
) -> StreamingResponse:
    """Every item the items list shows for these filters, in its order."""
    source = await sources.items(session, filters, sort=sort)
    return _response(state, source, fmt)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses=_download("The events, oldest first") | errors(ItemNotFound, sources.ExportBadRange),
)
async def export_events(
    _: Annotated[Principal, Depends(require(Permission.EVENT_READ))],
    session: SessionDep,
    state: StateDep,
    since: Annotated[
        datetime | None, Query(description="Recorded at or after (ISO 8601; UTC if no offset)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Recorded before (ISO 8601; UTC if no offset)")
    ] = None,
    item: Annotated[str | None, Query(max_length=64, description="Only this item's")] = None,
    event_type: Annotated[
        str | None, Query(alias="type", max_length=32, description="Only this type")
    ] = None,
    fmt: FormatQuery = "csv",
) -> StreamingResponse:
    """The events recorded in [since, until), in the order they were recorded."""
    source = await sources.events(
        session, since=_utc(since), until=_utc(until), item=item, event_type=event_type
    )
    return _response(state, source, fmt)


@router.get(
    "/locations",
    response_class=StreamingResponse,
    responses=_download("The locations, oldest first") | errors(LocationNotFound),
)
async def export_locations(
    _: Annotated[Principal, Depends(require(Permission.ITEM_READ))],
    session: SessionDep,
    state: StateDep,
    parent: Annotated[str | None, Query(max_length=64, description="Only its children")] = None,
    kind: LocationKind | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the code or name, any case")
    ] = None,
    include_archived: bool = False,
    fmt: FormatQuery = "csv",
) -> StreamingResponse:
    """The locations the locations list shows for these filters."""
    source = await sources.locations(
        session, parent=parent, kind=kind, q=q, include_archived=include_archived
    )
    return _response(state, source, fmt)


@router.get(
    "/shipments",
    response_class=StreamingResponse,
    responses=_download("The bills, newest first"),
)
async def export_shipments(
    _: Annotated[Principal, Depends(require(Permission.SHIPMENT_READ))],
    session: SessionDep,
    state: StateDep,
    status: ShipmentStatus | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    fmt: FormatQuery = "csv",
) -> StreamingResponse:
    """The bills the bills list shows for these filters, with their number of containers."""
    source = await sources.shipments(session, status=status, q=q)
    return _response(state, source, fmt)


@router.get(
    "/orders",
    response_class=StreamingResponse,
    responses=_download("The restock orders, newest first"),
)
async def export_orders(
    _: Annotated[Principal, Depends(require(Permission.ORDER_READ))],
    session: SessionDep,
    state: StateDep,
    status: OrderStatus | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    fmt: FormatQuery = "csv",
) -> StreamingResponse:
    """The restock orders the orders list shows for these filters, with their number of lines."""
    source = await sources.orders(session, status=status, q=q)
    return _response(state, source, fmt)
