"""Item pages for people: the item with its state and history, and where a label's QR leads."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import OriginDep, require, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import tokens
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.core.templating import templates
from qtrack.events.service import EventContext
from qtrack.items import changes
from qtrack.items import service as items_service
from qtrack.web.render import page
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
# As on the API: the route asks for some change-of-state permission, the use case for the
# transition's own.
Transitioner = Annotated[
    Principal,
    Depends(
        require_any(
            Permission.ITEM_TRANSITION,
            Permission.ITEM_RELEASE,
            Permission.ITEM_DISPENSE,
            Permission.ITEM_PACK,
            Permission.SHIPMENT_MANAGE,
        )
    ),
]

# What a person is told when a scanned label is not a current, genuine one.
_LABEL_STATUS = {
    "malformed": (404, "This QR code is not a qtrack label, or it is damaged."),
    "unknown_key": (404, "This label was signed with a key this server does not know."),
    "bad_signature": (404, "This label is not genuine: its signature does not match."),
    "retired_key": (410, "This label was signed with a key that has been retired. Reprint it."),
    "revoked": (410, "This label has been replaced by a newer one. Use the new label."),
}


@router.get("/Q/{token}")
async def scanned_label(token: str, request: Request, _: Reader, session: SessionDep) -> Response:
    """Where a phone goes when its camera reads a label: the item page, if the label is good."""
    verdict = await tokens.verify(session, token)
    if verdict.status == "valid" and verdict.item_id is not None:
        item = await items_service.find_item(session, item_id=verdict.item_id)
        return RedirectResponse(f"/items/{item.code}", status_code=303)
    status, message = _LABEL_STATUS[verdict.status]
    return templates.TemplateResponse(
        request,
        "label_problem.html",
        {"status": verdict.status, "message": message},
        status_code=status,
    )


async def _item_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    code: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    item = await items_service.find_item(session, code=code)
    read = await items_service.read_item(session, item.id)
    definition = workflow_service.definition_of(item.type.workflow)
    state = definition.state(item.status)
    events = await items_service.history(session, item.id, limit=100)
    contents = []
    if item.type.can_contain:
        contents = await items_service.read_items(
            session, await containers_service.contents(session, item)
        )
    return page(
        request,
        "item.html",
        principal=principal,
        settings=settings,
        context={
            "item": read,
            "state": state,
            "actions": changes.allowed_transitions(item, principal),
            "events": events,
            "contents": contents,
            "can_contain": item.type.can_contain,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/items/{code}")
async def item_page(
    code: str, request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """One item: fields, state, what may be done now, contents, and its history."""
    return await _item_page(request, session, state.settings, principal, code)


@router.post("/items/{code}/transitions")
async def item_transition(
    code: str,
    request: Request,
    actor: Transitioner,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    transition: Annotated[str, Form(min_length=1, max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """The item page's action buttons: make the transition, then show the item again."""
    try:
        await changes.change_status(
            session,
            state.settings,
            state.limiter,
            code=code,
            transition=transition,
            to=None,
            actor=actor,
            reason=reason.strip() or None,
            password=password or None,
            origin=origin,
            context=EventContext(),
        )
    except QtrackError as exc:
        # Shown on the page, with the buttons, rather than on a bare error page; as in
        # SessionDep, only what an error marks as kept (a failed signature) is committed.
        await (session.commit() if exc.keep_changes else session.rollback())
        return await _item_page(
            request,
            session,
            state.settings,
            actor,
            code,
            error=exc.message,
            status_code=exc.status_code,
        )
    # Post/redirect/get: a reload shows the page, it does not send the form again.
    return RedirectResponse(f"/items/{code.strip().upper()}", status_code=303)
