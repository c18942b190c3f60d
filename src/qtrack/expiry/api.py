"""Expiry JSON API: run the sweep now; FEFO (the lot to use first). The expiring and expired
lists are the items list's filters (`GET /api/v1/items?expiring_within_days=N`,
`?expiring_soon=true`, `?expired=true`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import ValidationFailed
from qtrack.core.openapi import errors
from qtrack.expiry import service
from qtrack.expiry.schemas import FefoRead, SweepQueued, SweepRead
from qtrack.item_types.service import ItemTypeNotFound
from qtrack.locations.service import LocationNotFound

router = APIRouter(prefix="/api/v1", tags=["expiry"], responses=AUTHENTICATED)

Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
# Expiring a lot is a QA step in the shipped material workflow (item.release), so running
# the sweep on demand asks for the same.
Sweeper = Annotated[Principal, Depends(require(Permission.ITEM_RELEASE))]


@router.post(
    "/expiry/sweep",
    responses={202: {"model": SweepQueued, "description": "Queued as the background job"}},
)
async def sweep(
    _: Sweeper,
    session: SessionDep,
    state: StateDep,
    response: Response,
    background: Annotated[
        bool,
        Query(
            description="true: queue the durable job the daily schedule runs (202), "
            "in batches of their own transactions, instead of sweeping in this request"
        ),
    ] = False,
) -> SweepRead | SweepQueued:
    """Move every live item past its expiry date to its workflow's expired state now (as the
    daily job does); those that cannot be moved are listed with the reason."""
    if background:
        response.status_code = status.HTTP_202_ACCEPTED
        return await service.queue_sweep(session)
    return await service.sweep(session, state.settings)


@router.get("/items/fefo", responses=errors(ValidationFailed, ItemTypeNotFound, LocationNotFound))
async def fefo(
    _: Reader,
    session: SessionDep,
    state: StateDep,
    item_type: Annotated[
        str | None, Query(alias="type", min_length=1, max_length=64, description="An item type")
    ] = None,
    gtin: Annotated[str | None, Query(pattern=r"^[0-9]{8,14}$", description="A GTIN")] = None,
    location: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="A location code: lots there or below"),
    ] = None,
) -> FefoRead:
    """First expired, first out: the live lot of a type or GTIN that expires first (at a
    location and below it), and the next ones in line."""
    return await service.fefo(
        session, state.settings, type_key=item_type, gtin=gtin, location=location
    )
