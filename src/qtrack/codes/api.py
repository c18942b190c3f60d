"""Codes JSON API: public keys, token verification, label (re)issue."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from starlette.responses import Response

from qtrack.accounts.deps import PERMISSION_ERRORS, OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import SignatureFailed, TooManyAttempts
from qtrack.codes import scan as scan_service
from qtrack.codes import service as codes_service
from qtrack.codes.scan import NothingToActOn, ScanInvalid
from qtrack.codes.scan_schemas import ScanRequest, ScanResult
from qtrack.codes.schemas import LabelRead, PublicKeyRead, VerifyRequest, VerifyResult
from qtrack.containers.errors import ContainerCycle, NotAContainer
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import NotFound
from qtrack.core.http import ORJSONResponse
from qtrack.core.idempotency import IdempotencyKeyReused, idempotent
from qtrack.core.openapi import errors
from qtrack.item_types.service import ItemTypeNotFound
from qtrack.items import changes
from qtrack.items import service as items_service
from qtrack.items.errors import (
    InsufficientQuantity,
    ItemArchived,
    ItemExpired,
    ItemNotFound,
    QuantityNotTracked,
    ReasonRequired,
    SamePerson,
    SignatureRequired,
    TransitionNotAllowed,
)
from qtrack.locations.service import LocationArchived, LocationNotFound
from qtrack.signing import tokens
from qtrack.signing.keys import KeyLocked

router = APIRouter(prefix="/api/v1", tags=["codes"])


class LabelNotIssued(NotFound):
    code, message = "label_not_issued", "This item has no label yet: issue one with POST .../labels"


@router.get("/keys")
async def public_keys(session: SessionDep) -> list[PublicKeyRead]:
    """The public keys that sign labels, so an app can verify them offline. Public."""
    return await codes_service.public_keys(session)


@router.post("/codes/verify", responses=errors(PERMISSION_ERRORS))
async def verify_code(
    body: VerifyRequest,
    _: Annotated[Principal, Depends(require(Permission.ITEM_READ))],
    session: SessionDep,
) -> VerifyResult:
    """Is this label genuine? The answer says valid, or which of five ways it is not."""
    verdict = await tokens.verify(session, codes_service.token_of(body.data))
    item = None
    if verdict.status == "valid" and verdict.item_id is not None:
        item = await items_service.read_item(session, verdict.item_id)
    return VerifyResult(
        status=verdict.status,
        message=verdict.message,
        key_id=verdict.key_id,
        serial=verdict.serial,
        item=item,
    )


@router.post(
    "/scan",
    tags=["scan"],
    response_model=ScanResult,
    # With an action, a scan is any change of an item, with all of their errors.
    responses=errors(
        PERMISSION_ERRORS,
        ScanInvalid,
        NothingToActOn,
        IdempotencyKeyReused,
        ItemNotFound,
        ItemTypeNotFound,
        LocationNotFound,
        LocationArchived,
        ItemArchived,
        ItemExpired,
        TransitionNotAllowed,
        SamePerson,
        ReasonRequired,
        SignatureRequired,
        SignatureFailed,
        TooManyAttempts,
        QuantityNotTracked,
        InsufficientQuantity,
        NotAContainer,
        ContainerCycle,
    ),
)
async def scan(
    body: ScanRequest,
    principal: Annotated[Principal, Depends(require(Permission.ITEM_READ))],
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    request: Request,
) -> Response:
    """Say what any scanned string is and what it matches; with an action, do it too
    (in one transaction, once per client event id)."""

    async def produce() -> tuple[int, ScanResult]:
        result = await scan_service.scan(
            session, state.settings, state.limiter, principal=principal, body=body, origin=origin
        )
        return 200, result

    if body.action is None:
        # The answer's JSON as the use case builds it: the same body the model gives
        # (`scan_service.resolve_json`), without validating and serializing it again.
        answer, _ = await scan_service.resolve_json(session, state.settings, principal, body)
        return ORJSONResponse(answer)
    return await idempotent(
        request,
        session,
        user_id=principal.user_id,
        client_key=body.client_event_id,
        produce=produce,
    )


@router.post(
    "/items/{code}/labels",
    status_code=status.HTTP_201_CREATED,
    responses=errors(PERMISSION_ERRORS, ItemNotFound, ItemArchived, KeyLocked),
)
async def issue_label(
    code: str,
    actor: Annotated[Principal, Depends(require(Permission.LABEL_PRINT))],
    session: SessionDep,
    state: StateDep,
) -> LabelRead:
    """Issue a new label for the item (a reprint): the previous label is revoked."""
    item_code, label = await changes.issue_label(session, state.settings, code=code, actor=actor)
    return await codes_service.label_read(session, state.settings, item_code, label)


@router.get(
    "/items/{code}/label",
    responses=errors(PERMISSION_ERRORS, ItemNotFound, LabelNotIssued, KeyLocked),
)
async def current_label(
    code: str,
    _: Annotated[Principal, Depends(require(Permission.ITEM_READ))],
    session: SessionDep,
    state: StateDep,
) -> LabelRead:
    """The item's current label: its token and the URL its QR code holds."""
    item = await items_service.find_item(session, code=code)
    label = await tokens.current_label(session, item.id)
    if label is None:
        raise LabelNotIssued(details={"item": item.code})
    return await codes_service.label_read(session, state.settings, item.code, label)
