"""Shipment pages: the list with filters, one bill (lines, totals, history, steps), and the
forms that create a bill, add and remove containers and take its steps."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import OriginDep, require, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.shipments import actions, repository, service
from qtrack.shipments.schemas import STATUSES, ShipmentCreate
from qtrack.web.render import page, settle_refused

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.SHIPMENT_READ))]
Builder = Annotated[Principal, Depends(require(Permission.SHIPMENT_CREATE))]
Stepper = Annotated[
    Principal,
    Depends(
        require_any(
            Permission.SHIPMENT_ISSUE, Permission.SHIPMENT_DISPATCH, Permission.SHIPMENT_CANCEL
        )
    ),
]
Text = Annotated[str, Form(max_length=500)]


@router.get("/shipments")
async def shipments_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Bills, newest first, filtered by status and text."""
    rows = await service.list_shipments(
        session, status=status if status in STATUSES else None, q=q or None, limit=200, offset=0
    )
    return page(
        request,
        "web/shipments.html",
        principal=principal,
        settings=state.settings,
        context={"rows": rows, "statuses": STATUSES, "form": {"status": status, "q": q}},
    )


async def _bill_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    state: StateDep,
    ref: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    shipment = await service.get_shipment(session, ref)
    return page(
        request,
        "web/shipment.html",
        principal=principal,
        settings=state.settings,
        context={
            "bill": await repository.read(session, shipment),
            "history": await repository.history(session, shipment.id),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/shipments/{ref}")
async def shipment_page(
    ref: str, request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """One bill: containers with weights, totals, history, and its steps."""
    return await _bill_page(request, principal, session, state, ref)


@router.post("/shipments")
async def create_shipment(
    request: Request,
    principal: Builder,
    session: SessionDep,
    consignee: Text = "",
    destination: Text = "",
    carrier: Text = "",
    vehicle: Text = "",
) -> Response:
    """Create a draft bill, then open it."""
    body = ShipmentCreate(
        consignee=consignee, destination=destination, carrier=carrier, vehicle=vehicle[:100]
    )
    shipment = await service.create_shipment(session, body=body, actor=principal)
    return RedirectResponse(f"/shipments/{shipment.number}", status_code=303)


@router.post("/shipments/{ref}/lines")
async def add_line(
    ref: str,
    request: Request,
    principal: Builder,
    session: SessionDep,
    state: StateDep,
    code: Annotated[str, Form(min_length=1, max_length=4096)],
) -> Response:
    """Add a container from the bill's page; a refusal is shown on the page."""
    try:
        async with session.begin_nested():
            shipment, _ = await service.add_line(
                session,
                state.settings,
                ref=ref,
                code=code,
                expected_weight_kg=None,
                actor=principal,
            )
    except QtrackError as exc:
        if exc.status_code in (401, 403) or exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        return await _bill_page(
            request, principal, session, state, ref, error=exc.message, status_code=exc.status_code
        )
    return RedirectResponse(f"/shipments/{shipment.number}", status_code=303)


@router.post("/shipments/{ref}/lines/{code}/remove")
async def remove_line(ref: str, code: str, principal: Builder, session: SessionDep) -> Response:
    """Take a container off a draft bill."""
    shipment, _ = await service.remove_line(session, ref=ref, code=code, actor=principal)
    return RedirectResponse(f"/shipments/{shipment.number}", status_code=303)


@router.post("/shipments/{ref}/step")
async def take_step(
    ref: str,
    request: Request,
    principal: Stepper,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    step: Annotated[str, Form(pattern="^(issue|dispatch|deliver|cancel)$")],
) -> Response:
    """Issue, dispatch, deliver or cancel; a refusal (naming the blocking containers) is
    shown on the page."""
    try:
        async with session.begin_nested():
            if step == "issue":
                shipment = await actions.issue(session, ref=ref, actor=principal)
            elif step == "cancel":
                shipment = await actions.cancel(session, ref=ref, actor=principal, reason=None)
            else:
                move = actions.dispatch if step == "dispatch" else actions.deliver
                shipment = await move(
                    session, state.settings, state.limiter, ref=ref, actor=principal, origin=origin
                )
    except QtrackError as exc:
        if exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        blocking = exc.details.get("blocking") if isinstance(exc.details, dict) else None
        message = exc.message + (
            ": " + "; ".join(f"{b['code']} ({b['status']}, {b['problem']})" for b in blocking)
            if blocking
            else ""
        )
        return await _bill_page(
            request, principal, session, state, ref, error=message, status_code=exc.status_code
        )
    return RedirectResponse(f"/shipments/{shipment.number}", status_code=303)
