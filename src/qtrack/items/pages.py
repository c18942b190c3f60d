"""Item pages for people: the item with its state and history, and where a label's QR leads."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import tokens
from qtrack.core.deps import SessionDep
from qtrack.core.templating import templates
from qtrack.events.models import Event
from qtrack.items import changes, repository
from qtrack.items import service as items_service
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]

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


@router.get("/items/{code}")
async def item_page(
    code: str, request: Request, principal: Reader, session: SessionDep
) -> Response:
    """One item: fields, state, what may be done now, and its history."""
    item = await items_service.find_item(session, code=code)
    read = await items_service.read_item(session, item.id)
    definition = workflow_service.definition_of(item.type.workflow)
    state = definition.state(item.status)
    rows = (
        await session.execute(
            repository.event_rows()
            .where(Event.item_id == item.id)
            .order_by(Event.seq.desc())
            .limit(100)
        )
    ).all()
    return templates.TemplateResponse(
        request,
        "item.html",
        {
            "item": read,
            "state": state,
            "actions": changes.allowed_transitions(item, principal),
            "events": [repository.to_event_read(r) for r in rows],
            "principal": principal,
        },
    )
