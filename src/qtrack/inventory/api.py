"""Inventory JSON API: the maintained counts."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep
from qtrack.inventory import service as inventory_service

router = APIRouter(prefix="/api/v1", tags=["inventory"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]


@router.get("/stats")
async def stats(_: Reader, session: SessionDep) -> dict[str, Any]:
    """Counts by type and status and by location, kept current with every change."""
    return await inventory_service.stats(session)
