"""Locations JSON API: the location tree, each location with its own scannable code."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)
from qtrack.locations import service as locations_service
from qtrack.locations.deps import HoldingsDep
from qtrack.locations.models import Location
from qtrack.locations.schemas import (
    LocationCreate,
    LocationKind,
    LocationNode,
    LocationRead,
    LocationUpdate,
)
from qtrack.locations.service import (
    LocationArchived,
    LocationCycle,
    LocationNotEmpty,
    LocationNotFound,
    LocationTooDeep,
)

router = APIRouter(prefix="/api/v1", tags=["locations"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Manager = Annotated[Principal, Depends(require(Permission.LOCATION_MANAGE))]


async def _reads(session: AsyncSession, locations: Sequence[Location]) -> list[LocationRead]:
    codes = await locations_service.path_codes(session, locations)
    return [LocationRead.of(location, codes[location.id]) for location in locations]


async def _read(session: AsyncSession, location: Location) -> LocationRead:
    return (await _reads(session, [location]))[0]


@router.get("/locations", responses=errors(InvalidCursor, LocationNotFound))
async def list_locations(
    _: Reader,
    session: SessionDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    parent: Annotated[str | None, Query(max_length=64, description="Only its children")] = None,
    kind: LocationKind | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the code or name, any case")
    ] = None,
    include_archived: bool = False,
) -> Page[LocationRead]:
    """Locations, oldest first."""
    rows = await locations_service.list_locations(
        session,
        after_id=decode_int_cursor(cursor),
        limit=limit,
        parent=parent,
        kind=kind,
        q=q,
        include_archived=include_archived,
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page(items=await _reads(session, rows), next_cursor=next_cursor)


@router.post(
    "/locations",
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        LocationNotFound, Conflict, LocationArchived, LocationTooDeep, ValidationFailed
    ),
)
async def create_location(body: LocationCreate, _: Manager, session: SessionDep) -> LocationRead:
    """Create a location, at the top or under a parent."""
    location = await locations_service.create_location(session, **body.model_dump())
    return await _read(session, location)


# Declared before /locations/{code}, which would otherwise take "tree" for a code.
@router.get("/locations/tree")
async def location_tree(_: Reader, session: SessionDep) -> list[LocationNode]:
    """Every location that is not archived, nested under its parent."""
    return await locations_service.tree(session)


@router.get("/locations/{code}", responses=errors(LocationNotFound))
async def get_location(code: str, _: Reader, session: SessionDep) -> LocationRead:
    """One location, archived or not."""
    return await _read(session, await locations_service.get_by_code(session, code))


@router.patch(
    "/locations/{code}",
    responses=errors(
        LocationNotFound, LocationArchived, LocationCycle, LocationTooDeep, ValidationFailed
    ),
)
async def update_location(
    code: str, body: LocationUpdate, _: Manager, session: SessionDep
) -> LocationRead:
    """Change a location; a new parent moves it with everything under it."""
    location = await locations_service.update_location(
        session, code=code, changes=body.model_dump(exclude_unset=True)
    )
    return await _read(session, location)


@router.post("/locations/{code}/archive", responses=errors(LocationNotFound, LocationNotEmpty))
async def archive_location(
    code: str, _: Manager, session: SessionDep, holdings: HoldingsDep
) -> LocationRead:
    """Archive a location that holds nothing any more."""
    location = await locations_service.archive_location(session, code, items_at=holdings.items_at)
    return await _read(session, location)
