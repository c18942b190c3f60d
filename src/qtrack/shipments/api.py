"""Shipments JSON API: bills, their lines, scans, steps, and the printable bill."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.responses import Response as StarletteResponse

from qtrack.accounts.deps import PERMISSION_ERRORS, OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.idempotency import IdempotencyKeyReused, idempotent
from qtrack.core.openapi import binary, errors
from qtrack.items.errors import ItemExpired
from qtrack.locations.service import LocationNotFound
from qtrack.shipments import actions, bill, repository, service
from qtrack.shipments import errors as shipment_errors
from qtrack.shipments.schemas import (
    HistoryRead,
    LineAdd,
    ScanBody,
    ScanOutcome,
    ShipmentCreate,
    ShipmentRead,
    ShipmentSummary,
    ShipmentUpdate,
    Status,
)

# Every refusal a bill's routes can give, said once for the router: the bill's own, and an
# unknown code or location named in a line or a destination.
router = APIRouter(
    prefix="/api/v1/shipments",
    tags=["shipments"],
    responses=errors(
        PERMISSION_ERRORS,
        shipment_errors.ShipmentNotFound,
        shipment_errors.ShipmentNotEditable,
        shipment_errors.ShipmentStatusConflict,
        shipment_errors.ShipmentEmpty,
        shipment_errors.ContainerOnOtherShipment,
        shipment_errors.ContainerAlreadyOnShipment,
        shipment_errors.ContainerWrongState,
        shipment_errors.ContainerPacked,
        shipment_errors.NotAContainer,
        shipment_errors.UnknownCode,
        shipment_errors.ContainersBlocked,
        shipment_errors.LineNotFound,
        shipment_errors.InvalidScan,
        ItemExpired,
        LocationNotFound,
        IdempotencyKeyReused,
    ),
)

Reader = Annotated[Principal, Depends(require(Permission.SHIPMENT_READ))]
Builder = Annotated[Principal, Depends(require(Permission.SHIPMENT_CREATE))]
Issuer = Annotated[Principal, Depends(require(Permission.SHIPMENT_ISSUE))]
Dispatcher = Annotated[Principal, Depends(require(Permission.SHIPMENT_DISPATCH))]
Canceller = Annotated[Principal, Depends(require(Permission.SHIPMENT_CANCEL))]


@router.get("")
async def list_shipments(
    _: Reader,
    session: SessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ShipmentSummary]:
    """Bills newest first, filtered by status and text."""
    return await service.list_shipments(session, status=status_, q=q, limit=limit, offset=offset)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ShipmentRead,
    responses=errors(IdempotencyKeyReused),
)
async def create_shipment(
    body: ShipmentCreate, actor: Builder, session: SessionDep, request: Request
) -> StarletteResponse:
    """A new draft bill with the next number. Sent again with the same `Idempotency-Key`, it
    answers the first bill."""

    async def produce() -> tuple[int, ShipmentRead]:
        shipment = await service.create_shipment(session, body=body, actor=actor)
        return 201, await repository.read(session, shipment)

    return await idempotent(
        request, session, user_id=actor.user_id, client_key=None, produce=produce
    )


@router.get("/{ref}")
async def get_shipment(ref: str, _: Reader, session: SessionDep) -> ShipmentRead:
    """A bill (by id or number) with its lines and totals."""
    return await service.read_shipment(session, ref)


@router.patch("/{ref}")
async def update_shipment(
    ref: str, body: ShipmentUpdate, actor: Builder, session: SessionDep
) -> ShipmentRead:
    """Change what was typed on a draft or issued bill."""
    shipment = await service.update_shipment(session, ref=ref, body=body, actor=actor)
    return await repository.read(session, shipment)


@router.get("/{ref}/history")
async def shipment_history(ref: str, _: Reader, session: SessionDep) -> list[HistoryRead]:
    """The bill's own events, oldest first."""
    shipment = await service.get_shipment(session, ref)
    return await repository.history(session, shipment.id)


@router.post("/{ref}/lines", status_code=status.HTTP_201_CREATED)
async def add_line(
    ref: str, body: LineAdd, actor: Builder, session: SessionDep, state: StateDep
) -> ShipmentRead:
    """Put a container (by any code form) and everything in it on a draft bill."""
    shipment, _ = await service.add_line(
        session,
        state.settings,
        ref=ref,
        code=body.code,
        expected_weight_kg=body.expected_weight_kg,
        actor=actor,
    )
    return await repository.read(session, shipment)


@router.delete("/{ref}/lines/{code}")
async def remove_line(ref: str, code: str, actor: Builder, session: SessionDep) -> ShipmentRead:
    """Take a container off a draft bill."""
    shipment, _ = await service.remove_line(session, ref=ref, code=code, actor=actor)
    return await repository.read(session, shipment)


@router.post("/{ref}/scan")
async def scan(
    ref: str, body: ScanBody, actor: Builder, session: SessionDep, state: StateDep
) -> ScanOutcome:
    """A scan on the bill's screen: adds the container or says why not; `undo` removes the
    last line."""
    return await service.scan(session, state.settings, ref=ref, body=body, actor=actor)


@router.post("/{ref}/issue")
async def issue(ref: str, actor: Issuer, session: SessionDep) -> ShipmentRead:
    """Draft -> issued."""
    return await repository.read(session, await actions.issue(session, ref=ref, actor=actor))


@router.post("/{ref}/dispatch")
async def dispatch(
    ref: str, actor: Dispatcher, session: SessionDep, state: StateDep, origin: OriginDep
) -> ShipmentRead:
    """Issued -> dispatched, with every container and its contents; all or nothing."""
    shipment = await actions.dispatch(
        session, state.settings, state.limiter, ref=ref, actor=actor, origin=origin
    )
    return await repository.read(session, shipment)


@router.post("/{ref}/deliver")
async def deliver(
    ref: str, actor: Dispatcher, session: SessionDep, state: StateDep, origin: OriginDep
) -> ShipmentRead:
    """Dispatched -> delivered, likewise."""
    shipment = await actions.deliver(
        session, state.settings, state.limiter, ref=ref, actor=actor, origin=origin
    )
    return await repository.read(session, shipment)


@router.post("/{ref}/cancel")
async def cancel(ref: str, actor: Canceller, session: SessionDep) -> ShipmentRead:
    """Draft or issued -> cancelled; the containers are released."""
    shipment = await actions.cancel(session, ref=ref, actor=actor, reason=None)
    return await repository.read(session, shipment)


@router.get(
    "/{ref}/bill.pdf",
    response_class=Response,
    responses=binary("application/pdf", description="The printable bill"),
)
async def bill_pdf(ref: str, _: Reader, session: SessionDep, state: StateDep) -> Response:
    """The printable bill."""
    read = await service.read_shipment(session, ref)
    return Response(
        bill.render_pdf(read, public_url=state.settings.public_url),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{read.number}.pdf"'},
    )


@router.get(
    "/{ref}/bill.csv",
    response_class=Response,
    responses=binary("text/csv", description="The bill's lines and totals"),
)
async def bill_csv(ref: str, _: Reader, session: SessionDep) -> Response:
    """The bill's lines and totals as CSV."""
    read = await service.read_shipment(session, ref)
    return Response(
        bill.render_csv(read),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{read.number}.csv"'},
    )
