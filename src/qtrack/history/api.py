"""History JSON API: an item's events, and every event in recorded order."""

from typing import Annotated

from fastapi import APIRouter, Depends

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)
from qtrack.events.schemas import EventRead
from qtrack.history import service as history_service
from qtrack.items import service as items_service
from qtrack.items.errors import ItemNotFound

router = APIRouter(prefix="/api/v1", tags=["items"], responses=AUTHENTICATED)
EventReader = Annotated[Principal, Depends(require(Permission.EVENT_READ))]


@router.get("/items/{code}/events", responses=errors(InvalidCursor, ItemNotFound))
async def item_history(
    code: str, _: EventReader, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[EventRead]:
    """The item's history, newest first: who, when, what changed, why, signature. A
    container's history includes what was packed into it and taken out."""
    item = await items_service.find_item(session, code=code)
    events = await history_service.item_history(
        session, item.id, before_seq=decode_int_cursor(cursor), limit=limit
    )
    return Page(
        items=events, next_cursor=encode_cursor(events[-1].seq) if len(events) == limit else None
    )


@router.get("/events", tags=["events"], responses=errors(InvalidCursor))
async def event_feed(
    _: EventReader, session: SessionDep, after: PageCursor = None, limit: PageLimit = 100
) -> Page[EventRead]:
    """Every event in recorded order, for integrations: pass `next_cursor` back as `after`."""
    after_id = decode_int_cursor(after)
    events = await history_service.feed(session, after_id=after_id, limit=limit)
    # Integrations poll: always hand back a cursor to continue from, even on the last page.
    last = events[-1].id if events else after_id
    return Page(items=events, next_cursor=encode_cursor(last) if last is not None else None)
