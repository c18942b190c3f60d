"""Order pages: the list (with a new order and a "scan an order to receive it" form), one
order (lines, steps, receipts, history), and the receive screen a scanner types into."""

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.digits import ascii_digits
from qtrack.core.errors import QtrackError
from qtrack.item_types import service as item_types
from qtrack.orders import actions, receiving, repository, service, suggest
from qtrack.orders.errors import OrderVersionMismatch, OverReceiveReasonRequired
from qtrack.orders.schemas import (
    STATUSES,
    LineCreate,
    LineUpdate,
    OrderCreate,
    ReceiveBody,
    SuggestBody,
)
from qtrack.web import forms
from qtrack.web.render import page, settle_refused

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ORDER_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ORDER_CREATE))]
Receiver = Annotated[Principal, Depends(require(Permission.ORDER_RECEIVE))]
Stepper = Annotated[
    Principal,
    Depends(
        require_any(Permission.ORDER_SUBMIT, Permission.ORDER_APPROVE, Permission.ORDER_CANCEL)
    ),
]
# The fields of the receive form, as ReceiveBody names them.
RECEIVE_FIELDS = (
    "data", "symbology", "line", "quantity", "batch", "expiry_on", "location", "name", "reason",
    "client_event_id",
)  # fmt: skip


def _refusal(exc: QtrackError) -> dict[str, str]:
    """Field -> message for a use case's refusal that names its field, else nothing."""
    details = exc.details if isinstance(exc.details, dict) else {}
    if isinstance(exc, OverReceiveReasonRequired):
        return {"reason": exc.message}  # the field that lets it through
    field = details.get("field")
    if isinstance(field, str):
        return {field: exc.message}
    if "line" in details and exc.code != "order_wrong_status":
        return {"line": exc.message}
    return {}


async def _orders_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    state: StateDep,
    *,
    status: str = "",
    q: str = "",
    error: str | None = None,
    suggest_form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = await service.list_orders(
        session,
        actor=principal,
        status=status if status in STATUSES else None,
        q=q or None,
        limit=200,
    )
    categories = await categories_service.list_categories(session)
    return page(
        request,
        "web/orders.html",
        principal=principal,
        settings=state.settings,
        context={
            "rows": rows,
            "statuses": STATUSES,
            "form": {"status": status, "q": q},
            "categories": await categories_service.reads(session, categories),
            "suggest": suggest_form or {},
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/orders")
async def orders_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Orders, newest first, filtered by status and text."""
    return await _orders_page(request, principal, session, state, status=status, q=q)


@router.post("/orders/suggest")
async def suggest_order(
    request: Request, principal: Creator, session: SessionDep, state: StateDep
) -> Response:
    """Draft an order for everything below its reorder level, then open it; when nothing
    is short, the list says so."""
    form = await request.form()
    values = {n: forms.text(form, n) for n in ("supplier", "category")}
    body = SuggestBody(supplier=values["supplier"][:200], category=values["category"][:64] or None)
    try:
        async with session.begin_nested():
            order = await suggest.suggest_order(session, body=body, actor=principal)
    except QtrackError as exc:
        if exc.status_code in (401, 403) or exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        return await _orders_page(
            request, principal, session, state, error=exc.message, suggest_form=values,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.post("/orders")
async def create_order(request: Request, principal: Creator, session: SessionDep) -> Response:
    """Create a draft order, then open it."""
    form = await request.form()
    body = OrderCreate(supplier=forms.text(form, "supplier")[:200])
    order = await service.create_order(session, body=body, actor=principal)
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.get("/orders/receive")
async def find_to_receive(
    principal: Receiver,
    session: SessionDep,
    order: Annotated[str, Query(min_length=1, max_length=4096)],
) -> Response:
    """The scanned order (its code, or the URL its QR holds): open its receive screen."""
    found = await service.get_order(session, order)
    return RedirectResponse(f"/orders/{found.code}/receive", status_code=303)


async def _order_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    state: StateDep,
    ref: str,
    *,
    template: str = "web/order.html",
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    order = await service.get_order(session, ref)
    return page(
        request,
        template,
        principal=principal,
        settings=state.settings,
        context={
            "order": await repository.read(session, order),
            "history": await repository.history(session, order.id),
            "types": await item_types.list_item_types(session),
            "error": error,
            "errors": errors or {},
            "values": values or {},
            "attempt": secrets.token_hex(8),
        },
        status_code=status_code,
    )


@router.get("/orders/{code}")
async def order_page(
    code: str, request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """One order: its lines, steps, receipts and history."""
    return await _order_page(request, principal, session, state, code)


@router.post("/orders/{code}/lines")
async def add_line(
    code: str, request: Request, principal: Creator, session: SessionDep, state: StateDep
) -> Response:
    """Add a line to a draft; a refused line is shown on the page next to its field."""
    form = await request.form()
    values = {n: forms.text(form, n) for n in ("type", "quantity", "supplier_ref")}
    body, errors = forms.checked(LineCreate, values)
    if body is None:
        return await _order_page(
            request, principal, session, state, code, errors=errors, values=values,
            status_code=422,
        )  # fmt: skip
    try:
        async with session.begin_nested():
            order = await service.add_line(session, ref=code, body=body, actor=principal)
    except QtrackError as exc:
        if exc.status_code in (401, 403) or exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        return await _order_page(
            request, principal, session, state, code, error=exc.message, values=values,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.post("/orders/{code}/lines/{position}")
async def change_line(
    code: str,
    position: int,
    request: Request,
    principal: Creator,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Change a draft's line quantity at the version the page showed: if the order changed
    since (another person's edit, a step), nothing changes and the page says so. A version
    that is not a number is no version the page showed (412); none at all is not checked,
    as the API's If-Match is optional."""
    form = await request.form()
    values = {n: forms.text(form, n) for n in ("quantity", "version")}
    body, errors = forms.checked(LineUpdate, {"quantity": values["quantity"]})
    version = int(values["version"]) if ascii_digits(values["version"]) else None
    if body is None:
        message = errors.get("quantity", "Check the quantity")
        return await _order_page(
            request, principal, session, state, code,
            error=f"Line {position}: {message}", status_code=422,
        )  # fmt: skip
    try:
        if values["version"] and version is None:
            raise OrderVersionMismatch("The form does not say which version of the order it edits")
        async with session.begin_nested():
            order = await service.update_line(
                session, ref=code, position=position, body=body, actor=principal,
                expected_version=version,
            )  # fmt: skip
    except QtrackError as exc:
        if exc.status_code in (401, 403) or exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        message = exc.message
        if exc.status_code == 412:
            message = (
                "The order changed since this page was shown; nothing was changed. Here it is now."
            )
        return await _order_page(
            request, principal, session, state, code, error=message,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.post("/orders/{code}/lines/{position}/remove")
async def remove_line(
    code: str, position: int, principal: Creator, session: SessionDep
) -> Response:
    """Delete a draft's line."""
    order = await service.remove_line(session, ref=code, position=position, actor=principal)
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.post("/orders/{code}/step")
async def take_step(
    code: str, request: Request, principal: Stepper, session: SessionDep, state: StateDep
) -> Response:
    """Submit, approve, cancel or close; a refusal is shown on the page."""
    form = await request.form()
    step = forms.text(form, "step")
    try:
        async with session.begin_nested():
            if step == "submit":
                order = await actions.submit(session, ref=code, actor=principal)
            elif step == "approve":
                order = await actions.approve(session, ref=code, actor=principal)
            elif step == "cancel":
                reason = forms.text(form, "reason")[:500] or None
                order = await actions.cancel(session, ref=code, actor=principal, reason=reason)
            elif step == "close":
                reason = forms.text(form, "reason")[:500] or None
                order = await actions.close(session, ref=code, actor=principal, reason=reason)
            else:
                return await _order_page(
                    request, principal, session, state, code, error=f"No step '{step[:20]}'",
                    status_code=422,
                )  # fmt: skip
    except QtrackError as exc:
        if exc.status_code >= 500:
            raise
        await settle_refused(session, principal, exc)
        return await _order_page(
            request, principal, session, state, code, error=exc.message,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order.code}", status_code=303)


@router.get("/orders/{code}/receive")
async def receive_page(
    code: str, request: Request, principal: Receiver, session: SessionDep, state: StateDep
) -> Response:
    """The receive screen: scan (or type) what arrived, one receipt at a time."""
    return await _order_page(
        request, principal, session, state, code, template="web/order_receive.html"
    )


@router.post("/orders/{code}/receive")
async def receive(
    code: str, request: Request, principal: Receiver, session: SessionDep, state: StateDep
) -> Response:
    """Record one receipt; the screen comes back with the order as it now is, or with the
    problem next to its field and nothing written."""
    form = await request.form()
    values = {n: forms.text(form, n) for n in RECEIVE_FIELDS}
    body, errors = forms.checked(ReceiveBody, {k: v for k, v in values.items() if v})
    refused: QtrackError | None = None
    if body is not None:
        try:
            async with session.begin_nested():
                done = await receiving.receive(
                    session, state.settings, ref=code, body=body, actor=principal
                )
        except QtrackError as exc:
            if exc.status_code in (401, 403) or exc.status_code >= 500:
                raise
            await settle_refused(session, principal, exc)
            refused, errors = exc, _refusal(exc)
    if body is None or refused is not None:
        return await _order_page(
            request, principal, session, state, code, template="web/order_receive.html",
            error=refused.message if refused else "Check the fields marked below",
            errors=errors, values=values,
            status_code=refused.status_code if refused else 422,
        )  # fmt: skip
    return RedirectResponse(f"/orders/{done.order.code}/receive", status_code=303)
