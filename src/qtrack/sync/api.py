"""Sync JSON API: pull the changes since a cursor."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from qtrack.accounts.deps import AUTHENTICATED, CurrentPrincipal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.http import ORJSONResponse
from qtrack.core.openapi import errors
from qtrack.sync import pull
from qtrack.sync.cursor import SyncCursorInvalid, SyncResyncRequired
from qtrack.sync.schemas import SyncPageRead

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], responses=AUTHENTICATED)


@router.get(
    "/changes",
    response_model=SyncPageRead,
    responses=errors(SyncCursorInvalid, SyncResyncRequired),
)
async def changes(
    principal: CurrentPrincipal,
    session: SessionDep,
    state: StateDep,
    since: Annotated[
        str | None,
        Query(max_length=4096, description="`next_cursor` of the last page; none: a first sync"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=pull.MAX_LIMIT, description="Changes per page")
    ] = pull.DEFAULT_LIMIT,
) -> Response:
    """Every record you may see that changed since the cursor, in order (docs/sync.md)."""
    page = await pull.read_changes(session, state.settings, principal, since, limit)
    return ORJSONResponse(page.as_json())
