"""Items JSON API: register, find, list, change, history, contents, counts."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from starlette.responses import Response as StarletteResponse

from qtrack.accounts.deps import AUTHENTICATED, PERMISSION_ERRORS, OriginDep, require, require_any
from qtrack.accounts.permissions import STATUS_CHANGES, Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import SignatureFailed, TooManyAttempts
from qtrack.containers import service as containers_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import BadRequest
from qtrack.core.http import ORJSONResponse, version_of_etag
from qtrack.core.idempotency import IdempotencyKeyReused, idempotent
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    decode_key_cursor,
    encode_cursor,
)
from qtrack.events.models import Event
from qtrack.inventory import service as inventory_service
from qtrack.items import changes, fastpath
from qtrack.items import service as items_service
from qtrack.items.errors import (
    ContainerCycle,
    IfMatchRequired,
    InsufficientQuantity,
    ItemArchived,
    ItemNotFound,
    NotAContainer,
    QuantityNotTracked,
    ReasonRequired,
    SamePerson,
    SignatureRequired,
    TransitionNotAllowed,
    VersionMismatch,
)
from qtrack.items.models import Item
from qtrack.items.schemas import (
    ArchiveRequest,
    ChangeContext,
    ChangeResult,
    ContentsRead,
    EventRead,
    ItemBatchCreate,
    ItemCreate,
    ItemDetail,
    ItemRead,
    ItemUpdate,
    MoveRequest,
    PackRequest,
    QuantityRequest,
    TransitionRequest,
    UnpackRequest,
)
from qtrack.items.types import ItemTypeNotFound
from qtrack.locations.service import LocationNotFound

router = APIRouter(prefix="/api/v1", tags=["items"], responses=AUTHENTICATED)
# What every change of one item can answer besides its own errors.
CHANGE_ERRORS = (ItemNotFound, ItemArchived, IdempotencyKeyReused)

Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
EventReader = Annotated[Principal, Depends(require(Permission.EVENT_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ITEM_CREATE))]
Editor = Annotated[Principal, Depends(require(Permission.ITEM_EDIT))]
Archiver = Annotated[Principal, Depends(require(Permission.ITEM_ARCHIVE))]
Mover = Annotated[Principal, Depends(require(Permission.ITEM_MOVE))]
Packer = Annotated[Principal, Depends(require(Permission.ITEM_PACK))]
# Which transition needs which permission is the workflow's business; the route only asks
# that the caller may make some change of state, and the use case checks the exact one.
Transitioner = Annotated[
    Principal,
    Depends(require_any(*STATUS_CHANGES)),
]
Counter = Annotated[
    Principal, Depends(require_any(Permission.ITEM_DISPENSE, Permission.ITEM_QUANTITY))
]


def etag(version: int) -> str:
    """The ETag of an item at a version."""
    return f'"v{version}"'


def parse_if_match(value: str | None) -> int:
    """The version an If-Match header names; 428 without one, 412 for one we never issued."""
    if not value:
        raise IfMatchRequired()
    version = version_of_etag(value)
    if version is None:
        raise VersionMismatch("If-Match does not name a version of this item")
    return version


async def _result(session: SessionDep, item: Item, events: list[Event]) -> ChangeResult:
    return ChangeResult(
        item=await items_service.read_item(session, item.id),
        events=await items_service.read_events(session, events),
    )


@router.post(
    "/items",
    status_code=status.HTTP_201_CREATED,
    response_model=Page[ItemRead],
    responses=errors(ItemTypeNotFound, LocationNotFound, IdempotencyKeyReused),
)
async def create_items(
    body: ItemCreate, actor: Creator, session: SessionDep, state: StateDep, request: Request
) -> StarletteResponse:
    """Register an item, or `count` identical ones (up to 1,000)."""

    async def produce() -> tuple[int, Page[ItemRead]]:
        created = await items_service.register_items(
            session, specs=[body], actor=actor, settings=state.settings
        )
        return 201, Page(
            items=await items_service.read_items(session, [i.id for i in created]), next_cursor=None
        )

    return await idempotent(
        request, session, user_id=actor.user.id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=Page[ItemRead],
    responses=errors(400, ItemTypeNotFound, LocationNotFound, IdempotencyKeyReused),
)
async def create_item_batch(
    body: ItemBatchCreate,
    actor: Creator,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> StarletteResponse:
    """Register up to 1,000 items of any types in one transaction: all or none."""
    if sum(spec.count for spec in body.items) > 1000:
        raise BadRequest("At most 1,000 items a request", details={"max_items": 1000})

    async def produce() -> tuple[int, Page[ItemRead]]:
        created = await items_service.register_items(
            session, specs=body.items, actor=actor, settings=state.settings
        )
        return 201, Page(
            items=await items_service.read_items(session, [i.id for i in created]), next_cursor=None
        )

    return await idempotent(
        request, session, user_id=actor.user.id, client_key=None, produce=produce
    )


@router.get("/items", responses=errors(InvalidCursor, ItemNotFound, LocationNotFound))
async def list_items(
    _: Reader,
    session: SessionDep,
    item_type: Annotated[str | None, Query(alias="type")] = None,
    status: str | None = None,
    location: Annotated[
        str | None, Query(description="A location code: items there or below")
    ] = None,
    container: Annotated[
        str | None, Query(description="An item code: what it directly holds")
    ] = None,
    batch: str | None = None,
    gtin: str | None = None,
    expiring_before: date | None = None,
    archived: bool = False,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Code, name or batch contains")
    ] = None,
    sort: Annotated[str, Query(pattern="^-?(code|created|name)$")] = "code",
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[ItemRead]:
    """Items, filtered and sorted, a page at a time."""
    after = decode_key_cursor(cursor)
    filters = items_service.ItemFilter(
        type=item_type,
        status=status,
        location=location,
        container=container,
        batch=batch,
        gtin=gtin,
        expiring_before=expiring_before,
        archived=archived,
        q=q,
    )
    items, next_key = await items_service.list_items(
        session, filters=filters, sort=sort, cursor=after, limit=limit
    )
    return Page(items=items, next_cursor=encode_cursor(next_key) if next_key else None)


async def _apply_once(
    request: Request,
    session: SessionDep,
    actor: Principal,
    body: ChangeContext,
    change: Callable[[], Awaitable[tuple[Item, list[Event]]]],
) -> StarletteResponse:
    """Make a change once per client event id; answer with the item and the events recorded."""

    async def produce() -> tuple[int, ChangeResult]:
        item, events = await change()
        return 200, await _result(session, item, events)

    return await idempotent(
        request, session, user_id=actor.user.id, client_key=body.client_event_id, produce=produce
    )


# The scan lookup's hot path: one Core statement, JSON straight from the row (the same body
# `ItemDetail` gives, which stays the documented response model).
@router.get("/items/by-id/{item_id}", response_model=ItemDetail, responses=errors(ItemNotFound))
async def get_item_by_id(item_id: int, principal: Reader, session: SessionDep) -> StarletteResponse:
    """One item by its numeric id."""
    row = await items_service.lookup_row(session, item_id=item_id)
    body = await items_service.detail_json(session, row, principal)
    return ORJSONResponse(body, headers={"ETag": etag(row.version)})


@router.get("/items/{code}", response_model=ItemDetail, responses=errors(ItemNotFound))
async def get_item(code: str, principal: Reader, session: SessionDep) -> StarletteResponse:
    """One item by code, with the actions the caller may take now (ETag: its version)."""
    row = await items_service.lookup_row(session, code=code)
    body = await items_service.detail_json(session, row, principal)
    return ORJSONResponse(body, headers={"ETag": etag(row.version)})


@router.patch(
    "/items/{code}",
    responses=errors(ItemNotFound, ItemArchived, VersionMismatch, IfMatchRequired),
)
async def edit_item(
    code: str,
    body: ItemUpdate,
    actor: Editor,
    session: SessionDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> ChangeResult:
    """Edit fields at the version you read (If-Match); if stale: 412, nothing changes."""
    version = parse_if_match(if_match)
    changes_ = body.model_dump(exclude_unset=True, exclude={"reason"})
    item, events = await items_service.edit_item(
        session,
        code=code,
        expected_version=version,
        changes=changes_,
        actor=actor,
        reason=body.reason,
        context=items_service.context_of(body),
    )
    response.headers["ETag"] = etag(item.version)
    return await _result(session, item, events)


@router.post(
    "/items/{code}/transitions",
    response_model=ChangeResult,
    responses=errors(
        PERMISSION_ERRORS,
        CHANGE_ERRORS,
        TransitionNotAllowed,
        SamePerson,
        ReasonRequired,
        SignatureRequired,
        SignatureFailed,
        TooManyAttempts,
    ),
)
async def transition_item(
    code: str,
    body: TransitionRequest,
    actor: Transitioner,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    request: Request,
) -> StarletteResponse:
    """Move the item to another state (with reason and e-signature where required)."""

    async def produce() -> tuple[int, ChangeResult]:
        return 200, await fastpath.change_status_read(
            session,
            state.settings,
            state.limiter,
            code=code,
            transition=body.transition,
            to=body.to,
            actor=actor,
            reason=body.reason,
            password=body.password,
            origin=origin,
            context=items_service.context_of(body),
        )

    return await idempotent(
        request, session, user_id=actor.user.id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/{code}/move",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, LocationNotFound),
)
async def move_item(
    code: str, body: MoveRequest, actor: Mover, session: SessionDep, request: Request
) -> StarletteResponse:
    """Put the item at a location; its contents go with it."""

    async def produce() -> tuple[int, ChangeResult]:
        return 200, await fastpath.move_read(
            session,
            code=code,
            location=body.location,
            actor=actor,
            reason=body.reason,
            context=items_service.context_of(body),
        )

    return await idempotent(
        request, session, user_id=actor.user.id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/{code}/pack",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, NotAContainer, ContainerCycle),
)
async def pack_item(
    code: str, body: PackRequest, actor: Packer, session: SessionDep, request: Request
) -> StarletteResponse:
    """Pack the item into a container item."""

    return await _apply_once(
        request,
        session,
        actor,
        body,
        lambda: containers_service.pack(
            session,
            code=code,
            container=body.container,
            actor=actor,
            context=items_service.context_of(body),
        ),
    )


@router.post("/items/{code}/unpack", response_model=ChangeResult, responses=errors(CHANGE_ERRORS))
async def unpack_item(
    code: str, body: UnpackRequest, actor: Packer, session: SessionDep, request: Request
) -> StarletteResponse:
    """Take the item out of its container."""

    return await _apply_once(
        request,
        session,
        actor,
        body,
        lambda: containers_service.unpack(
            session,
            code=code,
            actor=actor,
            reason=body.reason,
            context=items_service.context_of(body),
        ),
    )


@router.post(
    "/items/{code}/quantity",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, QuantityNotTracked, InsufficientQuantity, ReasonRequired),
)
async def change_quantity(
    code: str, body: QuantityRequest, actor: Counter, session: SessionDep, request: Request
) -> StarletteResponse:
    """Dispense, consume, receive, or adjust to a counted quantity (never below zero)."""

    return await _apply_once(
        request,
        session,
        actor,
        body,
        lambda: changes.change_quantity(
            session,
            code=code,
            kind=body.kind,
            amount=body.amount,
            actor=actor,
            reason=body.reason,
            context=items_service.context_of(body),
        ),
    )


@router.post("/items/{code}/archive", response_model=ChangeResult, responses=errors(CHANGE_ERRORS))
async def archive_item(
    code: str, body: ArchiveRequest, actor: Archiver, session: SessionDep, request: Request
) -> StarletteResponse:
    """Archive the item: it leaves lists and counts; its history stays."""

    return await _apply_once(
        request,
        session,
        actor,
        body,
        lambda: items_service.archive_item(
            session,
            code=code,
            actor=actor,
            reason=body.reason,
            context=items_service.context_of(body),
        ),
    )


@router.get("/items/{code}/contents", responses=errors(ItemNotFound))
async def item_contents(code: str, _: Reader, session: SessionDep) -> ContentsRead:
    """What a container holds directly, and its total weight with everything nested."""
    container = await items_service.find_item(session, code=code)
    ids = await containers_service.contents(session, container)
    return ContentsRead(
        container=container.code,
        items=await items_service.read_items(session, ids),
        total_weight_kg=await containers_service.total_weight(session, container),
    )


@router.get("/items/{code}/events", responses=errors(InvalidCursor, ItemNotFound))
async def item_history(
    code: str, _: EventReader, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[EventRead]:
    """The item's history, newest first: who, when, what changed, why, signature."""
    item = await items_service.find_item(session, code=code)
    events = await items_service.history(
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
    events = await items_service.feed(session, after_id=after_id, limit=limit)
    # Integrations poll: always hand back a cursor to continue from, even on the last page.
    last = events[-1].id if events else after_id
    return Page(items=events, next_cursor=encode_cursor(last) if last is not None else None)


@router.get("/stats", tags=["inventory"])
async def stats(_: Reader, session: SessionDep) -> dict[str, Any]:
    """Counts by type and status and by location, kept current with every change."""
    return await inventory_service.stats(session)
