"""Items JSON API: register, find, list, and change items (each change through its one
implementation, once per client event id)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from starlette.responses import Response as StarletteResponse

from qtrack.accounts.deps import AUTHENTICATED, PERMISSION_ERRORS, OriginDep, require, require_any
from qtrack.accounts.permissions import STATUS_CHANGES, Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import SignatureFailed, TooManyAttempts
from qtrack.categories.service import CategoryNotFound
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
    decode_key_cursor,
    encode_cursor,
)
from qtrack.item_types.service import ItemTypeNotFound
from qtrack.items import changes, create, moves, writes
from qtrack.items import service as items_service
from qtrack.items.deps import ItemFilterQuery
from qtrack.items.errors import (
    ContainerClosed,
    IfMatchRequired,
    InsufficientQuantity,
    ItemArchived,
    ItemExpired,
    ItemNotFound,
    QuantityNotTracked,
    ReasonRequired,
    SamePerson,
    SignatureRequired,
    TransitionNotAllowed,
    VersionMismatch,
)
from qtrack.items.schemas import (
    ArchiveRequest,
    ChangeContext,
    ChangeResult,
    ItemBatchCreate,
    ItemCreate,
    ItemDetail,
    ItemRead,
    ItemUpdate,
    MoveRequest,
    QuantityRequest,
    TransitionRequest,
)
from qtrack.locations.service import LocationArchived, LocationNotFound

router = APIRouter(prefix="/api/v1", tags=["items"], responses=AUTHENTICATED)
# What every change of one item can answer besides its own errors.
CHANGE_ERRORS = (ItemNotFound, ItemArchived, IdempotencyKeyReused)

Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ITEM_CREATE))]
Editor = Annotated[Principal, Depends(require(Permission.ITEM_EDIT))]
Archiver = Annotated[Principal, Depends(require(Permission.ITEM_ARCHIVE))]
Mover = Annotated[Principal, Depends(require(Permission.ITEM_MOVE))]
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


@router.post(
    "/items",
    status_code=status.HTTP_201_CREATED,
    response_model=Page[ItemRead],
    responses=errors(ItemTypeNotFound, LocationNotFound, LocationArchived, IdempotencyKeyReused),
)
async def create_items(
    body: ItemCreate, actor: Creator, session: SessionDep, state: StateDep, request: Request
) -> StarletteResponse:
    """Register an item, or `count` identical ones (up to 1,000)."""

    async def produce() -> tuple[int, Page[ItemRead]]:
        created = await create.register_items(
            session, specs=[body], actor=actor, settings=state.settings
        )
        return 201, Page(
            items=await items_service.read_items(session, [i.id for i in created]), next_cursor=None
        )

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=Page[ItemRead],
    responses=errors(
        400, ItemTypeNotFound, LocationNotFound, LocationArchived, IdempotencyKeyReused
    ),
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
        created = await create.register_items(
            session, specs=body.items, actor=actor, settings=state.settings
        )
        return 201, Page(
            items=await items_service.read_items(session, [i.id for i in created]), next_cursor=None
        )

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=None, produce=produce
    )


@router.get(
    "/items", responses=errors(InvalidCursor, ItemNotFound, LocationNotFound, CategoryNotFound)
)
async def list_items(
    _: Reader,
    session: SessionDep,
    filters: ItemFilterQuery,
    sort: Annotated[
        str | None,
        Query(
            pattern="^-?(code|created|name)$",
            description="By code unless given; newest first (-created) when searching (q)",
        ),
    ] = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[ItemRead]:
    """Items, filtered and sorted, a page at a time."""
    after = decode_key_cursor(cursor)
    items, next_key = await items_service.list_items(
        session, filters=filters, sort=sort, cursor=after, limit=limit
    )
    return Page(items=items, next_cursor=encode_cursor(next_key) if next_key else None)


async def apply_once(
    request: Request,
    session: SessionDep,
    actor: Principal,
    body: ChangeContext,
    change: Callable[[], Awaitable[ChangeResult]],
) -> StarletteResponse:
    """Make a change once per client event id; answer with the item and the events recorded."""

    async def produce() -> tuple[int, ChangeResult]:
        return 200, await change()

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=body.client_event_id, produce=produce
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
    responses=errors(ItemNotFound, ItemArchived, VersionMismatch, IfMatchRequired, ContainerClosed),
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
    result = await changes.edit_item(
        session,
        code=code,
        expected_version=version,
        changes=body.model_dump(exclude_unset=True, exclude={"reason"}),
        actor=actor,
        reason=body.reason,
        context=writes.context_of(body),
    )
    response.headers["ETag"] = etag(result.item.version)
    return result


@router.post(
    "/items/{code}/transitions",
    response_model=ChangeResult,
    responses=errors(
        PERMISSION_ERRORS,
        CHANGE_ERRORS,
        TransitionNotAllowed,
        ItemExpired,
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
        return 200, await changes.change_status(
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
            context=writes.context_of(body),
        )

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/{code}/move",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, LocationNotFound, LocationArchived, ContainerClosed),
)
async def move_item(
    code: str, body: MoveRequest, actor: Mover, session: SessionDep, request: Request
) -> StarletteResponse:
    """Put the item at a location; its contents go with it."""

    async def produce() -> tuple[int, ChangeResult]:
        return 200, await moves.move(
            session,
            code=code,
            location=body.location,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
        )

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=body.client_event_id, produce=produce
    )


@router.post(
    "/items/{code}/quantity",
    response_model=ChangeResult,
    responses=errors(
        CHANGE_ERRORS, QuantityNotTracked, InsufficientQuantity, ItemExpired, ReasonRequired
    ),
)
async def change_quantity(
    code: str,
    body: QuantityRequest,
    actor: Counter,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> StarletteResponse:
    """Dispense, consume, receive, or adjust to a counted quantity (never below zero); an
    expired item is not dispensed or consumed."""

    return await apply_once(
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
            context=writes.context_of(body),
            settings=state.settings,
        ),
    )


@router.post(
    "/items/{code}/archive",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, ContainerClosed),
)
async def archive_item(
    code: str, body: ArchiveRequest, actor: Archiver, session: SessionDep, request: Request
) -> StarletteResponse:
    """Archive the item: it leaves lists and counts; its history stays."""

    return await apply_once(
        request,
        session,
        actor,
        body,
        lambda: changes.archive_item(
            session,
            code=code,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
        ),
    )
