"""Location pages for people: the tree of places, and what each one holds."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.inventory import service as inventory_service
from qtrack.locations import service as locations_service
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]


@router.get("/locations")
async def locations_page(
    request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """The location tree, with how many items each place holds directly."""
    stats = await inventory_service.stats(session)
    return page(
        request,
        "web/locations.html",
        principal=principal,
        settings=state.settings,
        context={
            "tree": await locations_service.tree(session),
            "counts": {row["location"]: row["count"] for row in stats["by_location"]},
            "can_print": principal.can(Permission.LABEL_PRINT),
        },
    )
