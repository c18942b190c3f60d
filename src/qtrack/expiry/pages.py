"""The expiry page: what has expired and what expires soon, the lot to use first, and the
sweep run on demand."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.expiry import service
from qtrack.expiry.schemas import SweepRead
from qtrack.item_types import service as item_types
from qtrack.web.render import page
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Sweeper = Annotated[Principal, Depends(require(Permission.ITEM_RELEASE))]
LIMIT = 200


async def _expiry_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    settings: Settings,
    *,
    swept: SweepRead | None = None,
    category: str = "",
) -> Response:
    expiring, expired = await service.panels(
        session, settings, category=category or None, limit=LIMIT
    )
    categories = await categories_service.list_categories(session)
    styles = workflow_service.state_styles(await item_types.list_item_types(session))
    return page(
        request,
        "web/expiry.html",
        principal=principal,
        settings=settings,
        context={
            "expiring": expiring,
            "expired": expired,
            "limit": LIMIT,
            "styles": styles,
            "swept": swept,
            "categories": await categories_service.reads(session, categories),
            "category": category,
        },
    )


@router.get("/expiry")
async def expiry_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """What has expired and what expires soon, soonest first (of one category, if chosen)."""
    return await _expiry_page(request, principal, session, state.settings, category=category)


@router.post("/expiry/sweep")
async def sweep(
    request: Request, principal: Sweeper, session: SessionDep, state: StateDep
) -> Response:
    """Run the sweep now, and show what it did above the lists."""
    swept = await service.sweep(session, state.settings)
    return await _expiry_page(request, principal, session, state.settings, swept=swept)
