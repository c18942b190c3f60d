"""Sync JSON API: pull the changes since a cursor, push what a device did offline, and read
the pushed changes that were refused."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from qtrack.accounts.deps import AUTHENTICATED, PERMISSION_ERRORS, OriginDep, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Forbidden
from qtrack.core.http import ORJSONResponse
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)
from qtrack.sync import pull, push, registry, service
from qtrack.sync.cursor import SyncCursorInvalid, SyncResyncRequired
from qtrack.sync.schemas import PushAnswer, PushRequest, RefusedRead, SyncPageRead

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], responses=AUTHENTICATED)
# Pulling needs the right to see some kind (each kind is then filtered by its own); pushing,
# the right to make some change (each change is then checked by its own use case).
Puller = Annotated[
    Principal, Depends(require_any(*sorted({k.permission for k in registry.kinds()})))
]
Pusher = Annotated[
    Principal, Depends(require_any(*sorted({p for needs in push.WRITES for p in needs})))
]
Reader = Annotated[Principal, Depends(require_any(Permission.ITEM_READ))]


class NotAReviewer(Forbidden):
    code, message = "permission_denied", "Only reviewers see everyone's refused changes"


@router.get(
    "/changes",
    response_model=SyncPageRead,
    responses=errors(PERMISSION_ERRORS, SyncCursorInvalid, SyncResyncRequired),
)
async def changes(
    principal: Puller,
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


@router.post("/push", response_model=PushAnswer, responses=errors(PERMISSION_ERRORS, 422))
async def push_changes(
    body: PushRequest,
    principal: Pusher,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
) -> Response:
    """Apply a device's offline changes, each once, each with its own answer (docs/sync.md)."""
    answer = await push.push(
        session, state.settings, state.limiter, principal=principal, origin=origin, batch=body
    )
    if state.metrics is not None:
        for change, result in zip(body.changes, answer["results"], strict=True):
            kind = change.get("type")
            kind = kind if isinstance(kind, str) and kind in push.NEEDS else "unknown"
            state.metrics.pushed_changes.labels(kind, result["outcome"]).inc()
    return ORJSONResponse(answer)


@router.get("/refused", responses=errors(PERMISSION_ERRORS, InvalidCursor, NotAReviewer))
async def refused_changes(
    principal: Reader,
    session: SessionDep,
    everyone: Annotated[
        bool, Query(description="Everyone's, not only yours (supervisors and admins)")
    ] = False,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[RefusedRead]:
    """Pushed changes that were rejected or conflicted, newest first, with why."""
    if everyone and not service.may_review(principal):
        raise NotAReviewer()
    reads, before = await service.refused(
        session, principal, everyone=everyone, before=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=reads, next_cursor=encode_cursor(before) if before else None)
