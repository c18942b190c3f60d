"""Stock JSON API: on-hand, levels and states; setting levels."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories.service import CategoryNotFound
from qtrack.core.deps import SessionDep
from qtrack.core.errors import ValidationFailed
from qtrack.core.openapi import errors
from qtrack.item_types.service import ItemTypeNotFound
from qtrack.locations.service import LocationNotFound
from qtrack.stock import service as stock_service
from qtrack.stock.schemas import LevelsSet, StockRead

router = APIRouter(prefix="/api/v1", tags=["stock"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.STOCK_READ))]
Manager = Annotated[Principal, Depends(require(Permission.STOCK_MANAGE))]


@router.get("/stock", responses=errors(CategoryNotFound))
async def list_stock(
    _: Reader,
    session: SessionDep,
    low: Annotated[bool, Query(description="Only what is low or out")] = False,
    category: Annotated[
        str | None, Query(max_length=64, description="Only this category and those under it")
    ] = None,
) -> list[StockRead]:
    """On-hand, levels and state of every item type, and of each location where levels are
    set; critical types first, then out, low, ok."""
    return await stock_service.list_stock(session, low=low, category=category)


@router.put(
    "/stock/levels",
    responses=errors(ItemTypeNotFound, LocationNotFound, ValidationFailed),
)
async def set_levels(body: LevelsSet, _: Manager, session: SessionDep) -> StockRead:
    """Set the minimum and reorder levels of an item type, overall or at a location (and
    everything under it); both null removes them. A state that changes raises or clears
    alerts."""
    return await stock_service.set_levels(
        session,
        type_key=body.type,
        location=body.location,
        minimum_level=body.minimum_level,
        reorder_level=body.reorder_level,
    )
