"""Orders JSON API: orders, a draft's lines, the steps, receiving, and the order on paper."""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from starlette.responses import Response as StarletteResponse

from qtrack.accounts.deps import PERMISSION_ERRORS, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories.service import CategoryNotFound
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import ValidationFailed
from qtrack.core.http import version_of_etag
from qtrack.core.idempotency import IdempotencyKeyReused, idempotent
from qtrack.core.openapi import binary, errors
from qtrack.item_types.service import ItemTypeNotFound
from qtrack.locations.service import LocationArchived, LocationNotFound
from qtrack.orders import actions, document, receiving, repository, service, suggest
from qtrack.orders import errors as order_errors
from qtrack.orders.schemas import (
    CancelBody,
    CloseBody,
    HistoryRead,
    LineCreate,
    LineUpdate,
    OrderCreate,
    OrderRead,
    OrderSummary,
    ReceiveBody,
    ReceiveOutcome,
    Status,
    SuggestBody,
)

# Every refusal an order's routes can give, said once for the router.
router = APIRouter(
    prefix="/api/v1/orders",
    tags=["orders"],
    responses=errors(
        PERMISSION_ERRORS,
        order_errors.OrderNotFound,
        order_errors.OrderLineNotFound,
        order_errors.OrderNotEditable,
        order_errors.OrderWrongStatus,
        order_errors.OrderEmpty,
        order_errors.ReceiptLineUnknown,
        order_errors.OverReceiveReasonRequired,
        order_errors.ReceiptInvalid,
        order_errors.OrderVersionMismatch,
        ItemTypeNotFound,
        LocationNotFound,
        LocationArchived,
        ValidationFailed,
    ),
)

Reader = Annotated[Principal, Depends(require(Permission.ORDER_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ORDER_CREATE))]
Submitter = Annotated[Principal, Depends(require(Permission.ORDER_SUBMIT))]
Approver = Annotated[Principal, Depends(require(Permission.ORDER_APPROVE))]
Receiver = Annotated[Principal, Depends(require(Permission.ORDER_RECEIVE))]
Canceller = Annotated[Principal, Depends(require(Permission.ORDER_CANCEL))]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=200,
        description="The order's ETag as you read it: if it changed since, 412 and nothing "
        "changes (optional)",
    ),
]


def etag(version: int) -> str:
    """The ETag of an order at a version."""
    return f'"v{version}"'


def expected(if_match: str | None) -> int | None:
    """The version an If-Match names (None without one); 412 for a tag never issued."""
    if not if_match or if_match.strip() == "*":
        return None
    version = version_of_etag(if_match.removeprefix("W/"))
    if version is None:
        raise order_errors.OrderVersionMismatch("If-Match does not name a version of an order")
    return version


def tagged(response: Response, read: OrderRead) -> OrderRead:
    """The order, with its version as the response's ETag."""
    response.headers["ETag"] = etag(read.version)
    return read


@router.get("")
async def list_orders(
    actor: Reader,
    session: SessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OrderSummary]:
    """Orders newest first, filtered by status and text (code, supplier)."""
    return await service.list_orders(
        session, actor=actor, status=status_, q=q, limit=limit, offset=offset
    )


def _etag_of(body: Mapping[str, Any]) -> dict[str, str]:
    return {"ETag": etag(body["version"])}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    responses=errors(IdempotencyKeyReused),
)
async def create_order(
    body: OrderCreate, actor: Creator, session: SessionDep, request: Request
) -> StarletteResponse:
    """A new draft order with the next code, and its first lines if given (ETag: its
    version). Sent again with the same `Idempotency-Key`, it answers the first order."""

    async def produce() -> tuple[int, OrderRead]:
        order = await service.create_order(session, body=body, actor=actor)
        return 201, await repository.read(session, order)

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=None, produce=produce,
        headers_of=_etag_of,
    )  # fmt: skip


@router.post(
    "/suggest",
    status_code=status.HTTP_201_CREATED,
    responses=errors(order_errors.NothingToOrder, CategoryNotFound),
)
async def suggest_order(
    actor: Creator, session: SessionDep, response: Response, body: SuggestBody | None = None
) -> OrderRead:
    """Draft an order with a line for every item type below its reorder level, up to its
    level, less what open orders still wait for; critical types first. 409 when nothing is
    short."""
    order = await suggest.suggest_order(session, body=body or SuggestBody(), actor=actor)
    return tagged(response, await repository.read(session, order))


@router.get("/{code}")
async def get_order(code: str, actor: Reader, session: SessionDep, response: Response) -> OrderRead:
    """An order (by code or id) with its lines and receipts (ETag: its version, for
    If-Match on the writes)."""
    return tagged(response, await service.read_order(session, code, actor=actor))


@router.get("/{code}/history")
async def order_history(code: str, _: Reader, session: SessionDep) -> list[HistoryRead]:
    """The order's own events, oldest first."""
    order = await service.get_order(session, code)
    return await repository.history(session, order.id)


@router.post("/{code}/lines", status_code=status.HTTP_201_CREATED)
async def add_line(
    code: str,
    body: LineCreate,
    actor: Creator,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OrderRead:
    """Add a line to a draft."""
    order = await service.add_line(
        session, ref=code, body=body, actor=actor, expected_version=expected(if_match)
    )
    return tagged(response, await repository.read(session, order))


@router.patch("/{code}/lines/{position}")
async def update_line(
    code: str,
    position: int,
    body: LineUpdate,
    actor: Creator,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OrderRead:
    """Change a draft's line (only the fields sent)."""
    order = await service.update_line(
        session, ref=code, position=position, body=body, actor=actor,
        expected_version=expected(if_match),
    )  # fmt: skip
    return tagged(response, await repository.read(session, order))


@router.delete("/{code}/lines/{position}")
async def remove_line(
    code: str,
    position: int,
    actor: Creator,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OrderRead:
    """Delete a draft's line."""
    order = await service.remove_line(
        session, ref=code, position=position, actor=actor, expected_version=expected(if_match)
    )
    return tagged(response, await repository.read(session, order))


@router.post("/{code}/submit")
async def submit(
    code: str, actor: Submitter, session: SessionDep, response: Response, if_match: IfMatch = None
) -> OrderRead:
    """Draft -> submitted."""
    order = await actions.submit(
        session, ref=code, actor=actor, expected_version=expected(if_match)
    )
    return tagged(response, await repository.read(session, order))


@router.post("/{code}/approve")
async def approve(
    code: str, actor: Approver, session: SessionDep, response: Response, if_match: IfMatch = None
) -> OrderRead:
    """Submitted -> approved."""
    order = await actions.approve(
        session, ref=code, actor=actor, expected_version=expected(if_match)
    )
    return tagged(response, await repository.read(session, order))


@router.post("/{code}/cancel")
async def cancel(
    code: str,
    actor: Canceller,
    session: SessionDep,
    response: Response,
    body: CancelBody | None = None,
    if_match: IfMatch = None,
) -> OrderRead:
    """Draft, submitted or approved -> cancelled."""
    order = await actions.cancel(
        session, ref=code, actor=actor, reason=body.reason if body else None,
        expected_version=expected(if_match),
    )  # fmt: skip
    return tagged(response, await repository.read(session, order))


@router.post("/{code}/close", responses=errors(order_errors.CloseReasonRequired))
async def close(
    code: str,
    body: CloseBody,
    actor: Canceller,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OrderRead:
    """Partly received -> closed: the rest will not come (a reason is kept in the history);
    it is no longer on order."""
    order = await actions.close(
        session, ref=code, actor=actor, reason=body.reason, expected_version=expected(if_match)
    )
    return tagged(response, await repository.read(session, order))


def _order_etag_of(body: Mapping[str, Any]) -> dict[str, str]:
    return {"ETag": etag(body["order"]["version"])}


@router.post(
    "/{code}/receive", response_model=ReceiveOutcome, responses=errors(IdempotencyKeyReused)
)
async def receive(
    code: str,
    body: ReceiveBody,
    actor: Receiver,
    session: SessionDep,
    state: StateDep,
    request: Request,
    if_match: IfMatch = None,
) -> StarletteResponse:
    """Record what arrived (scanned GS1 data and/or typed fields): new lots on one line. Sent
    again with the same `Idempotency-Key`, or the same `client_event_id`, it answers the first
    receipt."""

    async def produce() -> tuple[int, ReceiveOutcome]:
        outcome = await receiving.receive(
            session, state.settings, ref=code, body=body, actor=actor,
            expected_version=expected(if_match),
        )  # fmt: skip
        return 200, outcome

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=None, produce=produce,
        headers_of=_order_etag_of,
    )  # fmt: skip


@router.get(
    "/{code}/order.pdf",
    response_class=Response,
    responses=binary("application/pdf", description="The printable order"),
)
async def order_pdf(code: str, actor: Reader, session: SessionDep, state: StateDep) -> Response:
    """The printable order, with a QR that opens it (and starts receiving)."""
    read = await service.read_order(session, code, actor=actor)
    return Response(
        document.render_pdf(read, public_url=state.settings.public_url),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{read.code}.pdf"'},
    )


@router.get(
    "/{code}/order.csv",
    response_class=Response,
    responses=binary("text/csv", description="The order's lines"),
)
async def order_csv(code: str, actor: Reader, session: SessionDep) -> Response:
    """The order's lines as CSV."""
    read = await service.read_order(session, code, actor=actor)
    return Response(
        document.render_csv(read),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{read.code}.csv"'},
    )
