"""Item pages for people: the item with its state and history, and where a label's QR leads."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import OriginDep, PermissionDenied, require, require_any
from qtrack.accounts.permissions import STATUS_CHANGES, Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import tokens
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError, ValidationFailed
from qtrack.core.templating import templates
from qtrack.events import service as events_service
from qtrack.events.service import EventContext
from qtrack.items import bulk, changes
from qtrack.items import service as items_service
from qtrack.items import types as item_types
from qtrack.locations import service as locations_service
from qtrack.web.render import page, settle_refused
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
# As on the API: the route asks for some change-of-state permission, the use case for the
# transition's own.
Transitioner = Annotated[
    Principal,
    Depends(require_any(*STATUS_CHANGES)),
]
# The items list's bulk form: any of the change permissions, moving, or printing labels.
Bulker = Annotated[
    Principal,
    Depends(require_any(*STATUS_CHANGES, Permission.ITEM_MOVE, Permission.LABEL_PRINT)),
]
_BULK_FIELDS = ("action", "transition", "location", "reason", "back")
_MAX_REASON = 500

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
    chain = await events_service.verify_item_chain(session, item.id)
    contents = []
    styles: dict[tuple[str, str], dict[str, str]] = {}
    if item.type.can_contain:
        contents = await items_service.read_items(
            session, await containers_service.contents(session, item)
        )
        styles = workflow_service.state_styles(await item_types.list_item_types(session))
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
            "chain": chain,
            "item_event_count": item.event_count,
            "contents": contents,
            "can_contain": item.type.can_contain,
            "styles": styles,
            "type_name": item.type.name,
            # The timeline and the buttons name states as people know them, not by key.
            "state_labels": {s.key: s.label for s in definition.states},
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
        await settle_refused(session, actor, exc)
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


@router.post("/items/bulk")
async def items_bulk(
    request: Request, actor: Bulker, session: SessionDep, state: StateDep, origin: OriginDep
) -> Response:
    """The items list's bulk actions: print the labels, or change or move each selected item
    on its own, then list what happened to each."""
    form = await request.form()
    raw_codes = [v for v in form.getlist("code") if isinstance(v, str)]
    values = {k: str(form.get(k) or "").strip() for k in _BULK_FIELDS}
    try:
        codes = bulk.clean_codes(raw_codes)
        if form.get("print"):
            if not actor.can(Permission.LABEL_PRINT):
                raise PermissionDenied(details={"missing": [Permission.LABEL_PRINT.value]})
            query = urlencode({"items": ",".join(codes)})
            return RedirectResponse(f"/api/v1/labels.pdf?{query}", status_code=303)
        change = _bulk_change(values)
        result = await bulk.apply(
            session,
            state.settings,
            state.limiter,
            codes=codes,
            change=change,
            actor=actor,
            origin=origin,
        )
    except ValidationFailed as exc:
        # Raised before any item was touched: there is nothing to roll back.
        return await _bulk_form(request, session, state.settings, actor, raw_codes, values, exc)
    done = result.done
    return page(
        request,
        "web/items_bulk_result.html",
        principal=actor,
        settings=state.settings,
        context={
            "outcomes": result.outcomes,
            "done": len(done),
            "refused": len(result.outcomes) - len(done),
            "what": result.what,
            "back": values["back"],
            "labels_query": {"items": ",".join(done)} if done else None,
            "can_print": actor.can(Permission.LABEL_PRINT),
        },
    )


def _bulk_change(values: dict[str, str]) -> bulk.BulkChange:
    """The change the form asks for; 422 next to the field that is wrong."""
    if values["action"] not in bulk.ACTIONS:
        raise ValidationFailed(
            "Choose what to do with the selected items",
            details=[{"loc": ["body", "action"], "msg": "required", "type": "missing"}],
        )
    if len(values["reason"]) > _MAX_REASON:
        raise ValidationFailed(
            f"A reason has at most {_MAX_REASON} characters",
            details=[{"loc": ["body", "reason"], "msg": "too long", "type": "too_long"}],
        )
    moving = values["action"] == "move"
    return bulk.BulkChange(
        action="move" if moving else "transition",
        transition=None if moving else values["transition"] or None,
        location=values["location"] or None if moving else None,
        reason=values["reason"] or None,
    )


async def _bulk_form(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    raw_codes: list[str],
    values: dict[str, str],
    exc: QtrackError,
) -> Response:
    """The bulk form again, with the selection kept and each problem next to its field."""
    errors: dict[str, str] = {}
    if isinstance(exc.details, list):
        for problem in exc.details:
            loc = problem.get("loc") if isinstance(problem, dict) else None
            if loc:
                errors[str(loc[-1])] = exc.message
    return page(
        request,
        "web/items_bulk.html",
        principal=actor,
        settings=settings,
        context={
            "codes": bulk.unique_codes(raw_codes)[: bulk.MAX_CODES * 5],
            "values": values,
            "errors": errors,
            "message": exc.message,
            **await bulk_form_context(session, actor),
        },
        status_code=exc.status_code,
    )


async def bulk_form_context(session: AsyncSession, actor: Principal) -> dict[str, Any]:
    """What the bulk actions form offers this person (the items list shows it too)."""
    choices = await bulk.transition_choices(session, actor)
    can_move = actor.can(Permission.ITEM_MOVE)
    return {
        "bulk_transitions": [c for c in choices if not c.signature_required],
        "signed_transitions": [c for c in choices if c.signature_required],
        "can_move": can_move,
        "can_print": actor.can(Permission.LABEL_PRINT),
        "can_bulk": bool(choices) or can_move or actor.can(Permission.LABEL_PRINT),
        "locations": (
            await locations_service.list_locations(session, after_id=None, limit=500)
            if can_move
            else []
        ),
    }
