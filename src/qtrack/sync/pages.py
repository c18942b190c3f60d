"""The refused offline changes page: the person's own, or everyone's for supervisors."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.sync import service
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]


@router.get("/sync/refused")
async def refused_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    everyone: bool = False,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Pushed changes that were rejected or conflicted, newest first."""
    reviewer = service.may_review(principal)
    rows, next_before = await service.refused(
        session, principal, everyone=everyone and reviewer, before=before, limit=50
    )
    return page(
        request,
        "sync/refused.html",
        principal=principal,
        settings=state.settings,
        context={
            "rows": rows,
            "next_before": next_before,
            "reviewer": reviewer,
            "everyone": everyone and reviewer,
        },
    )
