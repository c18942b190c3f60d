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
from qtrack.core.digits import ascii_digits
from qtrack.core.errors import QtrackError
from qtrack.expiry import service
from qtrack.expiry.schemas import FefoRead, SweepQueued, SweepRead
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
    queued: SweepQueued | None = None,
    category: str = "",
    pick: dict[str, str] | None = None,
) -> Response:
    expiring, expired = await service.panels(
        session, settings, category=category or None, limit=LIMIT
    )
    pick = pick or {}
    first: FefoRead | None = None
    pick_error: str | None = None
    gtin = pick.get("gtin") or ""
    if gtin and not (ascii_digits(gtin) and 8 <= len(gtin) <= 14):
        pick_error = "A GTIN is 8 to 14 digits"
    elif any(pick.values()):
        try:
            first = await service.fefo(
                session, settings, type_key=pick.get("type") or None,
                gtin=pick.get("gtin") or None, location=pick.get("location") or None,
            )  # fmt: skip
        except QtrackError as exc:  # an unknown type or place: said next to the form
            if exc.status_code >= 500:
                raise
            pick_error = exc.message
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
            "queued": queued,
            "categories": await categories_service.reads(session, categories),
            "category": category,
            "pick": pick,
            "first": first,
            "pick_error": pick_error,
            "types": await item_types.list_item_types(session),
        },
    )


@router.get("/expiry")
async def expiry_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    category: Annotated[str, Query(max_length=64)] = "",
    pick_type: Annotated[str, Query(max_length=64)] = "",
    pick_gtin: Annotated[str, Query(max_length=14)] = "",
    pick_location: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """What has expired and what expires soon, soonest first (of one category, if chosen);
    and, asked for a type or GTIN (at a location), the lot to use first."""
    pick = {"type": pick_type, "gtin": pick_gtin.strip(), "location": pick_location.strip()}
    return await _expiry_page(
        request, principal, session, state.settings, category=category, pick=pick
    )


@router.post("/expiry/sweep")
async def sweep(
    request: Request, principal: Sweeper, session: SessionDep, state: StateDep
) -> Response:
    """Run the sweep now, and show what it did above the lists; or queue it as the durable
    background job (for a backlog too large to wait for)."""
    if (await request.form()).get("background"):
        queued = await service.queue_sweep(session)
        return await _expiry_page(request, principal, session, state.settings, queued=queued)
    swept = await service.sweep(session, state.settings)
    return await _expiry_page(request, principal, session, state.settings, swept=swept)
